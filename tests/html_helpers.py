"""Reading an HTML fragment the way a browser would, for tests of escaped text."""

from __future__ import annotations

from html.parser import HTMLParser


class ParsedHtml(HTMLParser):
    """Tags (with their attributes) and the visible text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(fragment: str) -> ParsedHtml:
    parsed = ParsedHtml()
    parsed.feed(fragment)
    parsed.close()
    return parsed
