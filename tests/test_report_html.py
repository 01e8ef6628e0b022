"""Each HTML report, opened in headless Chromium with the network cut off, draws every chart.

Chromium is Debian's (``/usr/bin/chromium``; ``.ci/run`` installs it), driven by Python
playwright, which never downloads a browser of its own. Every request that is not the
``file://`` page itself is aborted and recorded: a report that tries one fails. So does a page
that logs an error, a chart (inline ``<svg>`` from vl-convert) without drawn marks, a count
of drawn charts that differs from the chart outputs of the executed notebook, or a page
without Chinese text. Without Chromium the test is skipped, except under ``CI=true``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from livekit.reports import Project, RunResult, run
from livekit.reports.html import chart_outputs
from tests.report_helpers import load_nb, make_project, real_reports, rendered_real_reports

pytestmark = pytest.mark.slow

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


@dataclass
class Visit:
    """What happened when a page was opened."""

    charts: list[dict[str, Any]]
    text: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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
        return Visit(page.evaluate(MEASURE), page.inner_text("body"), unique, errors)
    finally:
        context.close()


def assert_report_draws(browser: Any, result: RunResult) -> None:
    assert result.ok, result.error
    assert result.html is not None
    assert result.notebook is not None
    seen = visit(browser, result.html)
    assert seen.requests == [], f"{result.name}: 试图联网 {seen.requests}"
    assert seen.errors == [], f"{result.name}: 页面报错 {seen.errors}"
    assert len(CJK.findall(seen.text)) >= 20, f"{result.name}: 页面中几乎没有中文"
    expected = chart_outputs(load_nb(result.notebook))
    assert len(seen.charts) == expected, f"{result.name}: {len(seen.charts)} 张图，应为 {expected}"
    for i, chart in enumerate(seen.charts, start=1):
        where = f"{result.name} 第 {i} 张图"
        assert chart["width"] > 50, where
        assert chart["height"] > 50, where
        assert chart["marks"] > 0, f"{where}没有数据图形"
        assert chart["drawn"] > 0, f"{where}的数据图形都是空的"


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    tmp = tmp_path_factory.mktemp("html")
    root = make_project(tmp, ["ok"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEKIT_HOME", str(tmp / "home"))
        [result] = run("ok", project=Project(root))
    return result


def test_the_fixture_report_draws_offline(browser: Any, fixture_report: RunResult) -> None:
    assert_report_draws(browser, fixture_report)
    assert chart_outputs(load_nb(fixture_report.notebook or Path())) == 2


def test_the_index_opens_offline(browser: Any, fixture_report: RunResult) -> None:
    assert fixture_report.html is not None
    seen = visit(browser, fixture_report.html.parents[2] / "index.html")
    assert seen.requests == []
    assert seen.errors == []
    assert "测试报告：成交概览" in seen.text
    assert "成功" in seen.text


def test_a_page_that_reaches_out_is_caught(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body>中文<img src="https://example.com/a.png">'
        '<script src="https://cdn.example.com/x.js"></script></body></html>',
        encoding="utf-8",
    )
    seen = visit(browser, page)
    assert sorted(seen.requests) == ["https://cdn.example.com/x.js", "https://example.com/a.png"]


@pytest.mark.skipif(not real_reports(), reason="notebooks/ 中还没有报告")
@pytest.mark.parametrize("name", real_reports())
def test_each_report_draws_offline(browser: Any, name: str) -> None:
    _, results = rendered_real_reports()
    assert_report_draws(browser, next(r for r in results if r.name == name))
