"""Upstream text as data: escaping for Markdown and HTML, and plain text for charts.

Product and room titles, 抖音号 nicknames, advertiser and shop names, cities and the free-text
columns of an imported viewer export are written by people we do not know. Wherever such a
string enters Markdown or HTML it goes through :func:`escape_markdown` or :func:`escape_html`,
so it shows as the characters it holds and never becomes a tag, a link, an image, a heading or
a table cell of its own. :func:`plain_text` is the common first step (and what chart labels
get, which are SVG text, not markup): control characters that could reorder or hide the
sentence around the string are removed, line breaks become spaces, and very long strings are
shortened for display with an ellipsis.

This module sits at the bottom of the house (standard library only), so the analysis, charts,
reports and monitor layers can all import it.
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = ["DISPLAY_LIMIT", "ELLIPSIS", "escape_html", "escape_markdown", "plain_text"]

# Longest upstream string shown in full (characters). Real titles are well below it; a 10 kB
# string would drown the sentence, the table or the chart it sits in, so it is shortened.
DISPLAY_LIMIT = 120
ELLIPSIS = "…"

# Bidirectional embeddings, overrides and isolates, zero-width characters, the BOM: characters
# that render as nothing yet reorder or join the text around them. They are all of Unicode
# category Cf ("format"), which is removed as a whole (it also holds the soft hyphen and the
# invisible operators, which no title needs).
_FORMAT_CATEGORIES = frozenset({"Cf"})
# Controls and line/paragraph separators become spaces: a title never spans lines in a report.
_SPACE_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
_SPACES = re.compile(" {2,}")  # other spaces (the ideographic one) stay as written

# Markdown escaping is hand-written: there is no well-kept library for escaping text *into*
# Markdown (the renderers — markdown-it-py, mistune, marked — only parse). CommonMark lets a
# backslash escape any ASCII punctuation, so every ASCII punctuation character that means
# something to a Markdown renderer is escaped: emphasis, code spans, links and images, headings,
# quotes, lists, tables, math dollars, template braces, and the bare-URL autolinks of GFM
# (``http://``, ``www.``, e-mail), whose patterns no longer match once ``:``, ``.`` and ``@``
# are escaped. Only ``/ , ; ? %``, which mean nothing on their own, stay as they are. The
# HTML-special characters become character references instead, which read the same in
# Markdown and inside an HTML block.
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
_MARKDOWN_PUNCTUATION = frozenset("!#$()*+-.:=@[\\]^_`{|}~")


def plain_text(value: object, limit: int | None = DISPLAY_LIMIT) -> str:
    """``value`` as one line of plain text: no invisible or reordering characters, at most
    ``limit`` characters (shortened with an ellipsis; ``None``: no limit)."""
    text = "" if value is None else str(value)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in _FORMAT_CATEGORIES:
            continue
        kept.append(" " if category in _SPACE_CATEGORIES else ch)
    text = _SPACES.sub(" ", "".join(kept)).strip(" ")
    if limit is not None and len(text) > limit:
        # Shortened before escaping, so a cut never falls inside an escape sequence.
        text = text[: max(limit - len(ELLIPSIS), 0)].rstrip() + ELLIPSIS
    return text


def escape_markdown(value: object, limit: int | None = DISPLAY_LIMIT) -> str:
    """``value`` as Markdown that renders to exactly its (plain) text: no markup of any kind."""
    out = []
    for ch in plain_text(value, limit):
        if ch in _HTML_SPECIAL:
            out.append(_HTML_SPECIAL[ch])
        elif ch in _MARKDOWN_PUNCTUATION:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def escape_html(value: object, limit: int | None = DISPLAY_LIMIT) -> str:
    """``value`` as HTML text (element content or a quoted attribute value)."""
    return html.escape(plain_text(value, limit), quote=True)
