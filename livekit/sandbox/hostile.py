"""Hostile text: payloads the sandbox can put into every upstream text field on demand.

Real upstream text (product and room titles, 抖音号 nicknames, advertiser and shop names, city
names, columns of an imported export) is written by people we do not know. These payloads are
what such text may hold when someone tries to turn our reports or IM messages into markup:
script blocks, event handlers, URL-bearing attributes pointing outside the file, Markdown links
and images, template braces, mentions of everyone in an IM group, very long strings, zero-width
and right-to-left characters. Tests feed them through every path that shows upstream text and
check that it arrives as readable text, never as markup, and that nothing reaches the network.

Every payload that would make a request points at ``OUTSIDE_HOST``, a name under the reserved
``.invalid`` top-level domain (RFC 2606), so even a test that fails sends nothing anywhere.
"""

from __future__ import annotations

OUTSIDE_HOST = "outside.invalid"
OUTSIDE = f"http://{OUTSIDE_HOST}"

# Each payload is short enough to sit inside a title; LONG is the 10 kB one.
PAYLOADS: tuple[str, ...] = (
    "<script>window.__pwned=1;document.title='pwned'</script>",
    '<img src=x onerror="window.__pwned=1">',
    f'<img srcset="{OUTSIDE}/srcset.png 1x">',
    f'<video poster="{OUTSIDE}/poster.png"></video>',
    f'<a href="{OUTSIDE}/href">领取优惠</a>',
    f'<meta http-equiv="refresh" content="0;url={OUTSIDE}/refresh">',
    f'<svg><image xlink:href="{OUTSIDE}/xlink.png"/></svg>',
    f'<div style="background:url({OUTSIDE}/css.png)">背景</div>',
    f"<style>@import url({OUTSIDE}/import.css);</style>",
    f'<iframe src="{OUTSIDE}/frame"></iframe>',
    f'<link rel="stylesheet" href="{OUTSIDE}/link.css">',
    f"[点此领券]({OUTSIDE}/md-link)",
    f"![图]({OUTSIDE}/md-image.png)",
    "[脚本](javascript:window.__pwned=1)",
    f"<{OUTSIDE}/autolink>",
    "{{ 7*7 }} {0} {room_title} ${x} {% raw %}",
    '<at user_id="all">所有人</at> <@all> @所有人',
    "**加粗** _斜体_ `代码` | 管道 | \n# 标题\n> 引用",
    "零\u200b宽\u200c字\u200d符\ufeff",
    "\u202e右到左覆盖\u202c 与 \u2067隔离\u2069",
    "&lt;已转义&gt; &amp; &#60;script&#62;",
)

LONG = ("长标题" + "<b>x</b>" * 3) * 500  # about 10 kB of UTF-8 with markup inside


def hostile(base: str, index: int) -> str:
    """``base`` followed by payload ``index`` (cycling): the readable part stays findable."""
    return f"{base}{PAYLOADS[index % len(PAYLOADS)]}"
