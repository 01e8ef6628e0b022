"""Upstream text in alert messages: inert in every format the notification channels send.

Room titles, product titles and 抖音号 names are written by people we do not know, and an alert
message carries them to places that read markup: 飞书 text messages (``<at user_id="all">``
mentions everyone; 飞书's message-content guide also lists style tags such as ``<b>`` and
``[text](url)`` links; ``post`` text elements are literal), 钉钉 and 企业微信 Markdown (links,
images, ``<font>``, ``<@userid>`` mentions), the HTML part of an e-mail, the console (rich
markup, terminal escape sequences), and IM clients and mail readers that turn anything looking
like an address into a link.

The message template (``message:`` in the rules file) is the user's own and may use markup; only
the values filled into it are upstream text. So the template environments of
:mod:`livekit.monitor.rules` pass every ``{{ … }}`` output (never the template's own text)
through :func:`message_text` or :func:`message_markdown`:

- both start from :func:`livekit.text.plain_text`: no control, zero-width or bidi characters,
  one line, at most ``DISPLAY_LIMIT`` characters (a 10 kB title cannot fill a robot's body);
- both *defang* addresses: ``://`` → ``：//``, ``www.`` and ``name.tld`` dots → ``．``,
  ``@`` → ``＠`` — the clients' link detectors no longer see a URL, a domain or an e-mail
  address, so nothing clickable reaches the group, and the words are still all there;
- :func:`message_text` (飞书 text/post, e-mail plain part, console, webhook ``text``) also
  replaces ``< > [ ]`` — the characters 飞书's text messages read tags and links from;
- :func:`message_markdown` (钉钉, 企业微信, e-mail HTML part, webhook ``markdown``) replaces every
  character the robots' Markdown reads as syntax.

Why look-alike characters rather than backslash escapes (as :func:`livekit.text.escape_markdown`
does for the reports, whose renderer is a known CommonMark one): the robots' Markdown is rendered
by closed clients whose documented syntax is a small subset with no mention of escapes, so a
backslash may be shown as is, or ignored by a pattern that still sees ``[x](y)``. A character that
is simply not Markdown is inert in every renderer. The replacements are the full-width forms
Chinese text uses anyway (``（`` ``［`` ``＊`` …), so the text reads the same; NFKC folds them back.
This is hand-written because it is a fixed character table, not a parser.
"""

from __future__ import annotations

import re

from livekit.text import plain_text

__all__ = ["message_markdown", "message_text"]

# Look-alikes (full-width forms, U+FF01..U+FF5E) for the characters that carry markup.
_TEXT_MARKUP = str.maketrans({"<": "＜", ">": "＞", "[": "［", "]": "］", "@": "＠"})
_MARKDOWN_MARKUP = str.maketrans(
    {
        "<": "＜",
        ">": "＞",
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "@": "＠",
        "*": "＊",
        "_": "＿",
        "`": "｀",
        "~": "～",
        "#": "＃",
        "|": "｜",
        "!": "！",
        "&": "＆",
        "\\": "＼",
        "$": "＄",
        "^": "＾",
    }
)
# Markers that mean something only at the start of a line and before a space or the end (list
# items, setext underlines, rules); a value may start a line when the template puts it there.
# "3.5折" or "-50%" are not markers and keep their characters.
_LINE_START = re.compile(r"^(?:[-+=]+|\d{1,9}[.)])(?=\s|$)")
_LINE_START_FORMS = str.maketrans({"-": "－", "+": "＋", "=": "＝", ".": "．", ")": "）"})

_SCHEME = re.compile(r"://")
# A dot between a letter or digit and a letter: the shape of a host name (outside.invalid,
# www.example.com, shop.tmall.com). Decimal numbers (3.5, 12.5%) keep their dot.
_HOST_DOT = re.compile(r"(?<=[A-Za-z0-9\-])\.(?=[A-Za-z])")


def _defang(text: str) -> str:
    """Addresses that no link detector recognises, with every word still readable."""
    text = _SCHEME.sub("：//", text)
    return _HOST_DOT.sub("．", text)


def message_text(value: object) -> str:
    """An upstream value for a plain-text message (飞书 text, e-mail text, console, webhook)."""
    if value is None:
        return ""
    return _defang(plain_text(value)).translate(_TEXT_MARKUP)


def message_markdown(value: object) -> str:
    """An upstream value for a Markdown message (钉钉, 企业微信, e-mail HTML part)."""
    if value is None:
        return ""
    text = _defang(plain_text(value)).translate(_MARKDOWN_MARKUP)
    start = _LINE_START.match(text)
    if start:
        text = start.group().translate(_LINE_START_FORMS) + text[start.end() :]
    return text
