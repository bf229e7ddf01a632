"""HTML fields (Pylon's body_html and message_html, Planhat's descriptions) as readable text."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

LOOKS_LIKE_HTML = re.compile(
    r"<(p|div|br|span|a|ul|ol|li|b|i|u|strong|em|h[1-6]|table|tr|td|img|pre|code|blockquote)\b[^>]*>", re.I
)
BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "blockquote",
    "pre",
    "table",
    "tr",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}
SKIP = {"script", "style", "head", "title"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.links: list[str | None] = []
        self.list_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIP:
            self.skipping += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n" + "  " * max(self.list_depth - 1, 0) + "- ")
        elif tag in BLOCKS:
            self.out.append("\n\n")
            if tag in ("ul", "ol"):
                self.list_depth += 1
        elif tag == "td":
            self.out.append(" | ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f"[image: {alt}]")
        if tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.link_start = len(self.out)

    def handle_endtag(self, tag):
        if tag in SKIP:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in BLOCKS:
            self.out.append("\n\n")
            if tag in ("ul", "ol"):
                self.list_depth = max(self.list_depth - 1, 0)
        if tag == "a" and self.links:
            href = self.links.pop()
            label = "".join(self.out[self.link_start :]).strip()
            if href and href.startswith(("http://", "https://", "mailto:")) and href.removeprefix("mailto:") != label:
                self.out.append(f" ({href})")

    def handle_data(self, data):
        if not self.skipping:
            self.out.append(re.sub(r"\s+", " ", data))


def is_html(value: str) -> bool:
    return bool(LOOKS_LIKE_HTML.search(value))


def html_to_text(html: str) -> str:
    """Paragraphs, line breaks and lists kept; tags, scripts and entities gone; links kept as (url)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = unescape("".join(parser.out))
    text = "\n".join(line.strip() for line in text.replace("\r", "").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def readable(value: str) -> str:
    """A string field as a person should read it: HTML converted, whitespace trimmed."""
    return html_to_text(value) if is_html(value) else value.strip()
