"""Documents over the size limit become `{id}-part{n}` documents, cut at section boundaries.

Each part repeats the headings above its content (as Dust repeats prefixes for its chunks), so a
part read alone still says where it belongs. Text is cut inside a section only when one section
alone is over the limit: at a blank line, else a line break, else anywhere.
"""

from __future__ import annotations

from dataclasses import replace

from .client import UPSERT_BODY_LIMIT_BYTES, encode_body
from .documents import MAX_TITLE_CHARS, PARTS_TAG, DustDocument, sanitize_id, tag
from .sections import Section

MIN_PART_CHARS = 1_000  # a character budget below this means the title and tags alone fill the body
BODY_MARGIN = 0.95  # aim a little under the body limit: a part is cut at section and line boundaries


class DocumentTooLarge(ValueError):
    """No split fits Dust's request limit (what every part repeats, title and tags, is itself near it)."""


def part_id(document_id: str, index: int) -> str:
    return sanitize_id(f"{document_id}-part{index}")


def body_bytes(document: DustDocument) -> int:
    return len(encode_body(document.body()))


def split_document(
    document: DustDocument, max_chars: int, max_body_bytes: int = UPSERT_BODY_LIMIT_BYTES
) -> list[DustDocument]:
    """Parts of at most `max_chars` characters of text whose upsert bodies fit Dust's request limit.

    Characters are not bytes: non-ASCII text takes up to 4 bytes a character, control characters
    6 when escaped, and many small sections carry JSON overhead. So the character budget shrinks
    until the largest body fits, or DocumentTooLarge says why it never can.
    """
    fixed = body_bytes(replace(document, section=Section()))  # title and tags: every part repeats them
    if fixed >= max_body_bytes * BODY_MARGIN:
        raise DocumentTooLarge(
            f"its title and tags alone take {fixed:,} bytes of an upsert body, over Dust's {max_body_bytes:,}-byte "
            "request limit; every part would repeat them, so no split fits"
        )
    budget = max_chars
    while True:
        parts = split_by_chars(document, budget)
        largest = max(body_bytes(part) for part in parts)
        if largest <= max_body_bytes:
            return parts
        shrunk = int(budget * (max_body_bytes - fixed) / max(largest - fixed, 1) * BODY_MARGIN)
        if shrunk < MIN_PART_CHARS:
            raise DocumentTooLarge(
                f"its parts' upsert bodies stay over Dust's {max_body_bytes:,}-byte request limit even at "
                f"{budget:,} characters a part"
            )
        budget = min(shrunk, budget - 1)


def split_by_chars(document: DustDocument, max_chars: int) -> list[DustDocument]:
    if document.section.size() <= max_chars:
        return [document]
    pieces = pack(document.section, max_chars)
    count = len(pieces)
    parts = []
    for index, piece in enumerate(pieces, 1):
        suffix = f" (Part {index} of {count})"
        parts.append(
            replace(
                document,
                document_id=part_id(document.document_id, index),
                title=document.title[: MAX_TITLE_CHARS - len(suffix)] + suffix,
                section=piece,
                tags=[*document.tags, tag(PARTS_TAG, count)],
            )
        )
    return parts


def pack(section: Section, budget: int) -> list[Section]:
    """Sections of at most `budget` characters that together hold all of `section`'s text."""
    if section.size() <= budget:
        return [section]
    prefix = (section.prefix or "")[: budget // 4]
    inner = budget - len(prefix)
    pieces: list[Section] = []
    if section.content:
        pieces.extend(Section(content=chunk) for chunk in split_text(section.content, inner))
    for child in section.sections:
        pieces.extend(pack(child, inner))
    groups: list[list[Section]] = []
    size = 0
    for piece in pieces:
        if groups and size + piece.size() <= inner:
            groups[-1].append(piece)
            size += piece.size()
        else:
            groups.append([piece])
            size = piece.size()
    return [Section(prefix=prefix or None, sections=group) for group in groups]


def split_text(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n\n", 0, limit)
        if cut <= 0:
            cut = text.rfind("\n", 0, limit)
        cut = cut + 1 if cut > 0 else limit
        chunks.append(text[:cut])
        text = text[cut:]
    if text:
        chunks.append(text)
    return chunks
