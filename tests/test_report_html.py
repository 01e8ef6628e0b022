"""Each HTML report, opened in headless Chromium with the network cut off, draws every chart.

Chromium is Debian's (``/usr/bin/chromium``; ``.ci/run`` installs it), driven by Python
playwright, which never downloads a browser of its own. Every request that is not the
``file://`` page itself is aborted and recorded: a report that tries one fails. So does a page
that logs an error, a chart (inline ``<svg>`` from vl-convert) without drawn marks, a count
of drawn charts that differs from the chart outputs of the executed notebook, or a page
without Chinese text. Without Chromium the test is skipped, except under ``CI=true``.

A fixture report whose outputs carry every hostile payload (raw HTML, Markdown, tables, chart
labels) must open the same way, run no script, and still show the payloads' text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livekit.reports import Project, RunResult, run
from livekit.reports.html import chart_outputs
from livekit.sandbox.hostile import LONG, PAYLOADS
from tests.helpers.browser import assert_report_draws, visit
from tests.helpers.reports import load_nb, make_project, real_reports, rendered_real_reports


def _render_fixture(tmp_path_factory: pytest.TempPathFactory, name: str) -> RunResult:
    """Run the fixture notebook ``name`` through the real runner in a project of its own."""
    tmp = tmp_path_factory.mktemp(name)
    root = make_project(tmp, [name])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEKIT_HOME", str(tmp / "home"))
        [result] = run(name, project=Project(root))
    return result


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return _render_fixture(tmp_path_factory, "ok")


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


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return _render_fixture(tmp_path_factory, "hostile")


@pytest.mark.slow  # its fixture renders the hostile report (about 30 s)
def test_hostile_text_renders_as_text_offline_without_scripts(
    browser: Any, hostile_report: RunResult
) -> None:
    assert hostile_report.status == "ok", hostile_report.error
    assert hostile_report.html is not None
    assert_report_draws(browser, hostile_report)  # no request, no script, charts drawn
    seen = visit(browser, hostile_report.html)
    # Raw HTML and Markdown outputs: the markup is stripped (or rendered), the words stay.
    for words in ("领取优惠", "背景", "点此领券", "{{ 7*7 }}", "所有人", "右到左覆盖", "长标题x"):
        assert words in seen.texts["html"], words
        assert words in seen.texts["markdown"], words
    assert "加粗" in seen.texts["markdown"]
    # Tables (livekit.charts.table escapes): every payload's markup shown literally.
    for payload in PAYLOADS:
        if "<" in payload and "\n" not in payload:
            assert payload in seen.texts["tables"], payload
    assert LONG[:60] in seen.texts["tables"]
    # Chart labels and title: Vega writes them as SVG text, shown literally (labels clipped).
    [chart] = seen.charts
    assert "<script>window.__pwned=1" in chart["text"]
    assert '<a href="http://outside.invalid' in chart["text"]


def test_a_page_that_reaches_out_is_caught(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body>中文<img src="https://example.com/a.png">'
        '<script src="https://cdn.example.com/x.js"></script></body></html>',
        encoding="utf-8",
    )
    seen = visit(browser, page)
    assert sorted(seen.requests) == ["https://cdn.example.com/x.js", "https://example.com/a.png"]


@pytest.mark.slow  # the first renders every report of the project
@pytest.mark.skipif(not real_reports(), reason="notebooks/ 中还没有报告")
@pytest.mark.parametrize("name", real_reports())
def test_each_report_draws_offline(browser: Any, name: str) -> None:
    _, results = rendered_real_reports()
    assert_report_draws(browser, next(r for r in results if r.name == name))


@pytest.mark.slow  # reads the reports the first slow test rendered
def test_the_heat_map_and_the_china_map_are_drawn(browser: Any) -> None:
    """The products report's heat map (cells and explanation windows) and the regions report's
    tile map of China (every province a square) are drawn by Chromium, offline."""
    from livekit.charts.china import NO_DATA, TILES

    _, results = rendered_real_reports()
    pages = {r.name: r.html for r in results if r.html is not None}
    heat = [c for c in visit(browser, pages["products"]).charts if "商品点击热力图" in c["text"]]
    assert len(heat) == 1
    assert "开播后第几分钟" in heat[0]["text"]
    assert heat[0]["drawn"] > 100  # a cell per product and minute with clicks, and the windows
    tiles = [c for c in visit(browser, pages["regions"]).charts if "各省地域指数" in c["text"]]
    assert len(tiles) == 1
    for name in TILES:
        assert name in tiles[0]["text"], name
    assert NO_DATA in tiles[0]["text"]  # 台湾 香港 澳门 at least
    assert tiles[0]["drawn"] >= 2 * len(TILES)  # a square and a name per province


@pytest.mark.slow  # reads the reports the first slow test rendered
def test_the_forecast_chart_is_drawn(browser: Any) -> None:
    """The forecast report's chart, drawn by Chromium offline: the history and forecast lines,
    the 80 % and 95 % bands, and a line with its name for each festival peak of the drawn days
    (the last 56 days and the 28 ahead, the report's defaults)."""
    from datetime import timedelta

    import polars as pl

    from livekit.analysis.events import events_frame
    from livekit.dates import today

    _, results = rendered_real_reports()
    pages = {r.name: r.html for r in results if r.html is not None}
    [chart] = [c for c in visit(browser, pages["forecast"]).charts if "成交金额预测" in c["text"]]
    assert "实际" in chart["text"]
    assert "预测（均值）" in chart["text"]
    first, last = today() - timedelta(days=56), today() + timedelta(days=27)
    peaks = events_frame(first, last).filter(pl.col("date").is_between(first, last))
    for name in peaks["label"]:
        assert name in chart["text"], name
    assert chart["drawn"] >= 4 + 2 * peaks.height  # bands and lines, a rule and a name per peak
