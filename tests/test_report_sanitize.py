"""The report page's two defences: the sanitizer of what cells produce and the offline check.

Fast tests without a kernel: the checker on each forbidden construct and on what real reports
contain, the sanitizer on every hostile payload, on a real chart (vl-convert) and on a table,
and :func:`export_html` on a notebook whose outputs carry the payloads. The same notebook run
by papermill and opened in Chromium is in test_report_html.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livekit.reports import ReportError
from livekit.reports.html import CELLS_END, export_html, offline_violations, sanitize
from livekit.sandbox.hostile import LONG, OUTSIDE, OUTSIDE_HOST, PAYLOADS


def markup(html: str) -> str:
    """The tags of ``html`` with their attributes, without the text between them."""
    parts: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            parts.append(f"<{tag} {attrs}>")

        handle_startendtag = handle_starttag

    Tags().feed(html)
    return "".join(parts)


# ---- the offline check: every forbidden construct is reported ---------------------------------

FORBIDDEN = [
    ("<script>window.x=1</script>", "<script>"),
    ("<SCRIPT SRC=//cdn.example/x.js></SCRIPT>", "<script>"),
    ('<img src="data:image/png;base64,AA" onerror="x()">', "onerror"),
    ("<body onload=x()>", "onload"),
    ('<svg onload="x()"></svg>', "onload"),
    ('<div ONMOUSEOVER="x()">', "onmouseover"),
    (f'<img srcset="{OUTSIDE}/a.png 1x">', "srcset"),
    ('<img srcset="a.png 1x">', "srcset"),  # srcset is never needed, even beside the page
    (f'<img src="{OUTSIDE}/a.png">', "src"),
    (f'<video poster="{OUTSIDE}/p.png"></video>', "poster"),
    (f'<a href="{OUTSIDE}/x">x</a>', "href"),
    ("<a href='//outside.invalid/x'>x</a>", "href"),
    ("<a href='\\\\outside.invalid\\x'>x</a>", "href"),
    ("<a href='https:outside.invalid'>x</a>", "href"),
    ("<a href=' java\nscript:x()'>x</a>", "href"),
    ("<a href='&#106;avascript:x()'>x</a>", "href"),
    ("<a href='data:text/html,<script>x()</script>'>x</a>", "href"),
    ("<a href='/etc/passwd'>x</a>", "href"),
    (f'<a ping="{OUTSIDE}/p" href="#a">x</a>', "ping"),
    (f'<meta http-equiv="Refresh" content="0;url={OUTSIDE}/r">', "refresh"),
    ('<meta http-equiv="refresh" content="5">', "refresh"),
    (f'<base href="{OUTSIDE}/">', "<base>"),
    (f'<iframe src="{OUTSIDE}/f"></iframe>', "<iframe>"),
    ('<iframe srcdoc="&lt;b&gt;"></iframe>', "<iframe>"),
    (f'<object data="{OUTSIDE}/o"></object>', "<object>"),
    (f'<embed src="{OUTSIDE}/e">', "<embed>"),
    ('<link rel="stylesheet" href="a.css">', "<link>"),
    (f'<svg><image xlink:href="{OUTSIDE}/i.png"/></svg>', "xlink:href"),
    (f'<svg><use href="{OUTSIDE}/s.svg#a"/></svg>', "href"),
    ('<svg><a><set attributeName="href" to="javascript:x()"/></a></svg>', "<set>"),
    ("<svg><animate attributeName='href' values='javascript:x()'/></svg>", "<animate>"),
    (f'<form action="{OUTSIDE}/f"><button formaction="{OUTSIDE}/b">b</button></form>', "action"),
    (f'<blockquote cite="{OUTSIDE}/c">q</blockquote>', "cite"),
    (f'<table background="{OUTSIDE}/t.png"></table>', "background"),
    (f'<div style="background:url({OUTSIDE}/a.png)">x</div>', OUTSIDE_HOST),
    (f"<div style='background:u\\72l({OUTSIDE}/b.png)'>x</div>", OUTSIDE_HOST),
    (f"<div style=\"background-image:image-set('{OUTSIDE}/c.png' 1x)\">x</div>", OUTSIDE_HOST),
    (f"<div style='background:url(&quot;//{OUTSIDE_HOST}/d.png&quot;)'>x</div>", OUTSIDE_HOST),
    (f'<svg><g fill="url({OUTSIDE}/g.svg#p)"></g></svg>', OUTSIDE_HOST),
    (f'<svg><path mask="url({OUTSIDE}/m.svg#m)"/></svg>', OUTSIDE_HOST),
    (f"<style>@import url({OUTSIDE}/i.css);</style>", "@import"),
    ("<style>@import 'beside.css';</style>", "@import"),
    (f"<style>.a {{ background: url('{OUTSIDE}/s.png') }}</style>", OUTSIDE_HOST),
    (f"<style>@font-face {{ src: url({OUTSIDE}/f.woff) }}</style>", OUTSIDE_HOST),
    # inside SVG a browser parses <style> as markup; this one would make an <img>
    ("<svg><style><img src=x onerror=y()></style></svg>", "<svg> 内的 <style>"),
    ("<svg><style>&#64;import url(x.css);</style></svg>", "<svg> 内的 <style>"),
    ("<style></style><img src=x onerror=y()></style>", "onerror"),
    ("<style>a{}<img src=x></style>", "内含标记"),
    (f"<style>.a {{ background: url({OUTSIDE}/open.png)", OUTSIDE_HOST),  # never closed
    # browsers keep the first of duplicate attributes
    (f'<a href="{OUTSIDE}/first" href="#second">x</a>', "href"),
    (f'<img src="{OUTSIDE}/first" src="data:image/png;base64,AA">', "src"),
]


@pytest.mark.parametrize(("page", "expected"), FORBIDDEN, ids=[f[0][:40] for f in FORBIDDEN])
def test_each_forbidden_construct_is_reported(page: str, expected: str) -> None:
    found = offline_violations(f"<html><body><p>中文</p>{page}</body></html>")
    assert found, page
    assert any(expected in line for line in found), found


def test_what_real_reports_contain_passes() -> None:
    page = """<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>报告</title>
<style>.jp-icon { background-image: url("data:image/svg+xml;base64,PHN2Zz4="); }
.x { clip-path: url(#c); } .y { background: url(beside.png) } .z { color: red }</style></head>
<body class="jp-Notebook" data-jp-theme-light="true"><main>
<div class="livekit-header">报告 · <a href="../../index.html">全部报告</a></div>
<h2 id="%E4%B8%80">一<a class="anchor-link" href="#%E4%B8%80" rel="noopener noreferrer">¶</a></h2>
<div class="jp-OutputArea-output" data-mime-type="text/html" tabindex="0">
<table class="livekit-table" style="border-collapse:collapse;font-family:&quot;Noto Sans&quot;">
<tr><td style="padding:4px 10px;border-bottom:1px solid #e6e6e6">1</td></tr></table></div>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
 class="marks" width="100" height="80" viewBox="0 0 100 80" version="1.1">
<defs><clipPath id="clip1"><rect x="0" y="0" width="10" height="10"></rect></clipPath>
<linearGradient id="g1"><stop offset="0" stop-color="#fff"></stop></linearGradient></defs>
<g clip-path="url(#clip1)" fill="url(#g1)"><path d="M0,0L1,1" role="graphics-symbol"
 aria-label="商品: http://outside.invalid/x &lt;script&gt;"></path>
<use href="#clip1"></use><text>onerror=x() &lt;img src=http://outside.invalid&gt;</text></g></svg>
<img src="data:image/png;base64,iVBORw0KGgo=" alt="图" width="10">
<a href="ok/2026-12-05/ok.html">查看报告</a>
<p>&lt;script&gt;window.__pwned=1&lt;/script&gt; url(http://outside.invalid) @import</p>
</main></body></html>"""
    assert offline_violations(page) == []


# ---- the sanitizer --------------------------------------------------------------------------

READABLE = {  # payload index -> text that must survive sanitizing
    4: "领取优惠",
    7: "背景",
    11: "点此领券",
    15: "{{ 7*7 }}",
    16: "所有人",
    18: "零\u200b宽",
    19: "右到左覆盖",
}


@pytest.mark.parametrize("payload", [*PAYLOADS, LONG], ids=[p[:30] for p in [*PAYLOADS, LONG]])
def test_every_payload_sanitized_passes_the_check(payload: str) -> None:
    cleaned = sanitize(f"<p>前缀</p>{payload}")
    assert offline_violations(cleaned) == []
    assert "<script" not in cleaned.lower()
    assert OUTSIDE_HOST not in markup(cleaned)
    assert "前缀" in cleaned


def test_payload_text_stays_readable() -> None:
    for index, text in READABLE.items():
        assert text in sanitize(PAYLOADS[index]), PAYLOADS[index]
    assert sanitize(LONG).count("长标题") == 500


def test_links_keep_only_places_in_the_page_or_beside_it() -> None:
    cleaned = sanitize(
        '<a href="#a">1</a><a href="../../index.html">2</a><a href="https://x.example/">3</a>'
        '<a href="//x.example/">4</a><a href="javascript:x()">5</a><a href="/etc/x">6</a>'
        '<a href="data:text/html,x">7</a>'
    )
    assert 'href="#a"' in cleaned
    assert 'href="../../index.html"' in cleaned
    assert cleaned.count("href=") == 2
    for text in "1234567":
        assert text in cleaned


def test_images_keep_only_embedded_data() -> None:
    cleaned = sanitize(
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="a">'
        '<img src="beside.png" alt="b"><img src="https://x.example/c.png" alt="c">'
        '<img src="data:text/html;base64,PHNjcmlwdD4=" alt="d">'
    )
    assert cleaned.count("src=") == 1
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned
    assert cleaned.count("<img") == 4


def test_style_keeps_table_properties_and_drops_urls() -> None:
    cleaned = sanitize(
        '<table><tr><td style="padding:4px 10px;text-align:right;position:fixed;top:0">1'
        "</td></tr></table>"
        '<p style="color:red;background:url(https://x.example/a.png)">2</p>'
        '<p style="color:red;fill:url(https://x.example/a.svg#p)">3</p>'
        '<svg><g clip-path="url(#c)" fill="url(https://x.example/g#p)"></g></svg>'
    )
    assert "padding:4px 10px" in cleaned
    assert "text-align:right" in cleaned
    assert "position" not in cleaned
    assert "x.example" not in cleaned
    assert 'clip-path="url(#c)"' in cleaned


def test_a_chart_and_a_table_survive_whole() -> None:
    import altair as alt
    import polars as pl
    import vl_convert as vlc

    from livekit import charts

    frame = pl.DataFrame({"商品": ["连衣裙<script>", "茶叶"], "成交额": [1200.0, 430.0]})
    spec = alt.Chart(frame).mark_bar().encode(x="成交额:Q", y="商品:N").to_dict()
    svg = vlc.vegalite_to_svg(spec)
    table = str(charts.table(frame))
    cleaned = sanitize(f"<div>{svg}</div>{table}")
    for tag in ("path", "text", "g", "td", "th", "rect"):
        before = len(re.findall(rf"<{tag}[\s>/]", f"{svg}{table}"))
        assert len(re.findall(rf"<{tag}[\s>/]", cleaned)) == before, tag
    assert "viewBox=" in cleaned
    assert "连衣裙&lt;script&gt;" in cleaned


# ---- the page: export_html on outputs that carry the payloads -----------------------------------


def hostile_notebook() -> Any:
    """A notebook as papermill leaves it, every payload in each kind of output (no kernel)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 敌意文本\n\n" + "\n\n".join(PAYLOADS))]
    outputs = []
    for payload in [*PAYLOADS, LONG, f"{CELLS_END}<script>window.__pwned=1</script>"]:
        outputs.append(nbformat.v4.new_output("display_data", data={"text/html": payload}))
        outputs.append(nbformat.v4.new_output("display_data", data={"text/markdown": payload}))
    outputs.append(nbformat.v4.new_output("stream", name="stdout", text="\n".join(PAYLOADS)))
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = outputs
    nb.cells.append(cell)
    return nb


def test_a_page_of_hostile_outputs_is_written_clean(tmp_path: Path) -> None:
    page_path = export_html(
        hostile_notebook(),
        tmp_path / "r.html",
        title="<script>标题</script>",
        day="2026-12-05",
        index_href="../../index.html",
    )
    page = page_path.read_text(encoding="utf-8")
    assert offline_violations(page) == []
    assert "<script" not in page.lower()
    assert 'href="../../index.html"' in page
    assert "&lt;script&gt;标题" in page
    for text in READABLE.values():
        assert text in page
    assert OUTSIDE_HOST not in markup(page)  # only ever as text


def test_a_page_that_fails_the_check_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import livekit.reports.html as html

    monkeypatch.setattr(html, "sanitize", lambda fragment: fragment)  # the sanitizer missed it
    with pytest.raises(ReportError, match="无法安全地离线打开"):
        export_html(hostile_notebook(), tmp_path / "r.html", title="t", day="2026-12-05")
    assert not (tmp_path / "r.html").exists()


def test_the_index_shows_hostile_titles_and_errors_as_text(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime

    from livekit.reports.index import render
    from livekit.reports.result import RunResult

    page_file = tmp_path / "r" / "2026-12-05" / "r.html"
    page_file.parent.mkdir(parents=True)
    page_file.write_text("x", encoding="utf-8")
    runs = [
        RunResult(
            f"r{i}",
            payload,
            date(2026, 12, 5),
            "failed" if i % 2 else "ok",
            datetime(2026, 12, 5, tzinfo=UTC),
            1.0,
            None,
            page_file,
            f"单元出错：{payload}" if i % 2 else None,
        )
        for i, payload in enumerate([*PAYLOADS, LONG])
    ]
    page = render(runs, tmp_path)
    assert offline_violations(page) == []
    assert OUTSIDE_HOST not in markup(page)
    assert 'href="r/2026-12-05/r.html"' in page
    assert "&lt;script&gt;window.__pwned=1" in page


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("urlimagesrcport:;'\"\\/ #.-_7564abcdef{}[]!%,\t\n\x00")),
        max_size=60,
    )
)
def test_css_without_a_paren_or_an_at_refers_to_nothing(css: str) -> None:
    """The offline check skips tokenizing CSS with neither "(" nor "@": tinycss2 agrees that such
    text refers to no URL (escapes such as ``u\\72 l`` included)."""
    from livekit.reports.html import _css_references, _css_references_parsed

    assert _css_references(css) == ()
    assert _css_references_parsed(css) == ()
