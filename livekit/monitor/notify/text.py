"""Text shaping shared by the channels: size limits, titles, a small markdown → HTML."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

TRUNCATION_NOTE = "\n…（已截断）"

_PREFER_LINE_BREAK_WITHIN = 200  # characters: cut at a line end when one is this close


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def fit(text: str, measure: Callable[[str], int], limit: int, note: str = TRUNCATION_NOTE) -> str:
    """``text`` unchanged if ``measure(text) <= limit``, else its longest prefix plus ``note``.

    ``measure`` is e.g. the byte size of the whole request body built around the text, so JSON
    escaping and the envelope are accounted for exactly. The cut falls between characters
    (never inside a UTF-8 sequence) and, when a line end is near, at the line end.
    """
    if measure(text) <= limit:
        return text
    lo, hi = 0, len(text)  # invariant: text[:lo] + note fits (or lo == 0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid] + note) <= limit:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0 and measure(note) > limit:
        return ""
    cut = text.rfind("\n", max(0, lo - _PREFER_LINE_BREAK_WITHIN), lo)
    if cut > 0:
        lo = cut
    return text[:lo].rstrip() + note


def with_title(title: str, body: str, *, markdown: bool) -> str:
    """The body, headed by the title unless its first line already carries it."""
    first = next((line for line in body.splitlines() if line.strip()), "")
    if title and title in first:
        return body
    head = f"### {title}" if markdown else title
    return f"{head}\n\n{body}" if body else head


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_ITEM = re.compile(r"^\s*[-*]\s+(.*)$")


def markdown_to_html(markdown: str, title: str = "") -> str:
    """A minimal, safe rendering of the alert markdown (headings, bold, lists, paragraphs).

    Everything is HTML-escaped first; only the handful of constructs the alert templates use
    are turned into tags, so a product title with ``<script>`` stays text.
    """
    out: list[str] = []
    in_list = False
    for raw in markdown.splitlines():
        line = html.escape(raw.rstrip())
        line = _BOLD.sub(r"<b>\1</b>", line)
        heading = _HEADING.match(line)
        item = _ITEM.match(line)
        if in_list and not item:
            out.append("</ul>")
            in_list = False
        if heading:
            level = min(len(heading.group(1)) + 1, 6)
            out.append(f"<h{level}>{heading.group(2)}</h{level}>")
        elif item:
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{item.group(1)}</li>")
        elif line.strip():
            out.append(f"<p>{line}</p>")
    if in_list:
        out.append("</ul>")
    head = f"<title>{html.escape(title)}</title>" if title else ""
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"{head}</head><body>{''.join(out)}</body></html>"
    )
