"""Opening a report in headless Chromium with the network cut off, and what a drawn report shows."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from livekit.reports import RunResult
from livekit.reports.html import chart_outputs, offline_violations
from tests.helpers.reports import load_nb

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CJK = re.compile(r"[\u4e00-\u9fff]")

# For each chart (an <svg> in an SVG output): its size, how many data-mark elements it has,
# and how many of those have a non-empty box (drawn), plus its text.
MEASURE = """
() => Array.from(document.querySelectorAll('.jp-RenderedSVG > svg')).map((svg) => {
  const box = svg.getBoundingClientRect();
  const marks = Array.from(svg.querySelectorAll('g.role-mark'))
    .flatMap((g) => Array.from(g.querySelectorAll('path, rect, line, circle, polygon, text')));
  const drawn = marks.filter((m) => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
  return {width: box.width, height: box.height, marks: marks.length, drawn: drawn.length,
          text: svg.textContent};
})
"""


# The visible text of each kind of output: raw HTML outputs (tables aside), Markdown outputs,
# and the tables of livekit.charts.table.
TEXTS = """
() => {
  const text = (sel) => Array.from(document.querySelectorAll(sel)).map((e) => e.innerText);
  return {
    html: text('.jp-RenderedHTML.jp-OutputArea-output:not(:has(table))').join('\\n'),
    markdown: text('.jp-RenderedMarkdown.jp-OutputArea-output').join('\\n'),
    tables: text('table.livekit-table').join('\\n'),
  };
}
"""


@dataclass
class Visit:
    """What happened when a page was opened."""

    charts: list[dict[str, Any]]
    text: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pwned: list[str] | None = None  # values hostile scripts gave window.__pwned, if any ran
    title: str = ""
    texts: dict[str, str] = field(default_factory=dict)  # visible text by kind of output


@contextmanager
def launched_browser() -> Iterator[Any]:
    """Debian's Chromium through playwright (which never downloads a browser of its own).

    Without it the calling test is skipped, except under ``CI=true``, where it fails.
    """
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} 不存在：请安装 Debian 的 chromium（apt-get install chromium）"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def visit(browser: Any, page_path: Path) -> Visit:
    context = browser.new_context(service_workers="block")
    requests: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    # A hostile script sets window.__pwned: record it even if the page then navigates away.
    ran: list[str] = []
    context.expose_function("__livekitScriptRan", lambda value: ran.append(str(value)))
    context.add_init_script(
        "Object.defineProperty(window, '__pwned', {get() { return undefined; },"
        " set(v) { window.__livekitScriptRan(String(v)); }});"
    )
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(("file://", "data:")) else requests.append(r.url),
    )
    try:
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_load_state("networkidle")
        unique = list(dict.fromkeys(requests))  # seen by the route and by the request event
        title = page.evaluate("() => document.title")
        charts, texts = page.evaluate(MEASURE), page.evaluate(TEXTS)
        pwned = ran or None
        return Visit(charts, page.inner_text("body"), unique, errors, pwned, title, texts)
    finally:
        context.close()


def assert_report_draws(browser: Any, result: RunResult) -> None:
    assert result.ok, result.error
    assert result.html is not None
    assert result.notebook is not None
    seen = visit(browser, result.html)
    assert seen.requests == [], f"{result.name}: 试图联网 {seen.requests}"
    assert seen.errors == [], f"{result.name}: 页面报错 {seen.errors}"
    assert seen.pwned is None, f"{result.name}: 页面中的脚本运行了"
    assert seen.title != "pwned", f"{result.name}: 页面中的脚本运行了"
    assert len(CJK.findall(seen.text)) >= 20, f"{result.name}: 页面中几乎没有中文"
    expected = chart_outputs(load_nb(result.notebook))
    assert len(seen.charts) == expected, f"{result.name}: {len(seen.charts)} 张图，应为 {expected}"
    assert offline_violations(result.html.read_text(encoding="utf-8")) == []
    for i, chart in enumerate(seen.charts, start=1):
        where = f"{result.name} 第 {i} 张图"
        assert chart["width"] > 50, where
        assert chart["height"] > 50, where
        assert chart["marks"] > 0, f"{where}没有数据图形"
        assert chart["drawn"] > 0, f"{where}的数据图形都是空的"
