"""Readable plain text from message HTML, for `messages.body_text` (search, AI, previews).

The stdlib's html.parser: it tolerates broken markup, decodes every entity (convert_charrefs), and needs
no dependency. BeautifulSoup/lxml would give the same text for Pylon's simple HTML (paragraphs, lists,
links, line breaks) at the cost of a C extension in the image. Block elements become line breaks,
paragraphs stay separated by a blank line, list items get a "- ", script/style contents are dropped.

html.parser costs ~17 µs for a typical message, most of a message's mapping time. So markup made only of
plain tags with quoted attributes and text without a stray `<` (what Pylon sends) is tokenized by one regex
instead; it yields the tokens html.parser would, into the same `_TextBuilder`. Anything else — comments,
script/style, unquoted attributes, unknown tags, a lone `<` — goes to html.parser.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

BLOCKS = frozenset(
    "address article aside blockquote div dl dt dd fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tbody thead tfoot tr ul".split()
)
PARAGRAPHS = frozenset("p blockquote h1 h2 h3 h4 h5 h6 ul ol table pre".split())
SKIPPED = frozenset(["script", "style", "head", "title"])
CELLS = frozenset(["td", "th"])
# Tags the fast path accepts: those above that html.parser tokenizes like any other, and inline ones.
INLINE = frozenset(
    "a abbr b big cite code del em font i img ins kbd mark q s small span strike strong sub sup u".split()
)
SIMPLE_TAGS = BLOCKS | CELLS | INLINE | {"br"}
# Runs of [ \t\r\f\v] collapse to one space; a lone space (most matches of the plain pattern) is left alone.
_SPACES = re.compile(r"[\t\r\f\v][ \t\r\f\v]*| [ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# ASCII whitespace only: html.parser ends a tag name at these, but \s would also match \v and Unicode spaces.
_WS = r"[ \t\n\r\f]"
_SIMPLE_TAG = re.compile(
    rf"<(/?)([a-zA-Z][a-zA-Z0-9]*)"  # end-tag slash, name
    rf"((?:{_WS}+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:{_WS}*={_WS}*(?:\"[^\"<>]*\"|'[^'<>]*'))?)*)"  # quoted attributes
    rf"{_WS}*(/?)>"  # self-closing slash
)


class _TextBuilder:
    """The text kept from a stream of tags and (entity-decoded) text, whoever tokenizes the markup."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.skipping = 0
        self.in_pre = 0

    def start(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in PARAGRAPHS:
            self.parts.append("\n\n")
            self.in_pre += tag == "pre"
        elif tag in BLOCKS:
            self.parts.append("\n")
        elif tag in CELLS:
            self.parts.append("\t")

    def startend(self, tag: str) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in BLOCKS:
            self.parts.append("\n")

    def end(self, tag: str) -> None:
        if tag == "li":
            return
        if tag in SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in PARAGRAPHS:
            self.parts.append("\n\n")
            self.in_pre -= tag == "pre" and self.in_pre > 0
        elif tag in BLOCKS:
            self.parts.append("\n")

    def data(self, data: str) -> None:
        if self.skipping:
            return
        if self.in_pre:
            self.parts.append(data)
        else:
            self.parts.append(_SPACES.sub(" ", data.replace("\n", " ")))

    def text(self) -> str:
        lines = [line.strip(" ") for line in "".join(self.parts).split("\n")]
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


class _TextParser(HTMLParser):
    def __init__(self, builder: _TextBuilder) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = builder

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.builder.start(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.builder.startend(tag)

    def handle_endtag(self, tag: str) -> None:
        self.builder.end(tag)

    def handle_data(self, data: str) -> None:
        self.builder.data(data)


def _feed_simple(builder: _TextBuilder, html: str) -> bool:
    """Tokenize simple markup as html.parser would; False (builder half-fed) when the markup is not simple."""
    pos = 0
    for match in _SIMPLE_TAG.finditer(html):
        if match.start() > pos:
            text = html[pos : match.start()]
            if "<" in text:
                return False
            builder.data(unescape(text))
        closing, tag, attributes, self_closing = match.groups()
        tag = tag.lower()
        if tag not in SIMPLE_TAGS or (closing and (attributes or self_closing)):
            return False
        if closing:
            builder.end(tag)
        elif self_closing:
            builder.startend(tag)
        else:
            builder.start(tag)
        pos = match.end()
    tail = html[pos:]
    if "<" in tail:
        return False
    if tail:
        builder.data(unescape(tail))
    return True


def html_to_text(html: str | None) -> str | None:
    if html is None:
        return None
    if "<" not in html:
        # plain text (or text with entities only): nothing to parse
        return unescape(html).strip() if "&" in html else html.strip()
    builder = _TextBuilder()
    if not _feed_simple(builder, html):
        builder = _TextBuilder()
        parser = _TextParser(builder)
        parser.feed(html)
        parser.close()
    return builder.text()
