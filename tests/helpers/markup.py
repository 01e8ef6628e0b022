"""Reading an HTML fragment the way a browser would, and the Markdown renderers reports and
notebook tools use, for tests of escaped text."""

from __future__ import annotations

import re
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


INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def render_nbconvert(source: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return str(markdown2html_mistune(source))


def render_markdown_it(source: str) -> str:
    """CommonMark (markdown-it-py); bare-URL autolinks are covered by mistune's url plugin."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark").enable("table").render(source))
