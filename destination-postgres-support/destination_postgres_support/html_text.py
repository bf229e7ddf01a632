"""Readable plain text from message HTML, for `messages.body_text` (search, AI, previews).

The stdlib's html.parser: it tolerates broken markup, decodes every entity (convert_charrefs), and needs
no dependency. BeautifulSoup/lxml would give the same text for Pylon's simple HTML (paragraphs, lists,
links, line breaks) at the cost of a C extension in the image. Block elements become line breaks,
paragraphs stay separated by a blank line, list items get a "- ", script/style contents are dropped.
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
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            return
        if tag in SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in PARAGRAPHS:
            self.parts.append("\n\n")
            self.in_pre -= tag == "pre" and self.in_pre > 0
        elif tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.in_pre:
            self.parts.append(data)
        else:
            self.parts.append(_SPACES.sub(" ", data.replace("\n", " ")))


def html_to_text(html: str | None) -> str | None:
    if html is None:
        return None
    if "<" not in html:
        # plain text (or text with entities only): nothing to parse
        return unescape(html).strip() if "&" in html else html.strip()
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [line.strip(" ") for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
