"""The forecast report rendered through the real runner with parameters of its own, as
``livekit report run forecast -p series orders -p planned_spend "{default: 3000}"`` runs it
(papermill in the project's kernel, the sandbox's two years of rooms synced on first use): the
page opens offline in Chromium with its chart drawn, states what the same page built in-process
says, and agrees with what the sandbox planted (``livekit sandbox truth`` → forecast): its rest
days are the days the page counts as without a show, its festival peaks are the ones marked on
the chart, and the spend elasticity and the 双11 peak lift are recovered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import livekit
from livekit.pages import forecast
from livekit.reports import Overrides, Project, RunResult, run
from livekit.vocab.units import format_count
from tests.helpers.browser import assert_report_draws, visit
from tests.helpers.reports import ROOT, cli, environment

# A kernel start and the sync of two years of rooms (about a minute in all).
pytestmark = pytest.mark.slow

OVERRIDES = {"series": "orders", "planned_spend": "{default: 3000}", "horizon": "21"}
Z_999 = 3.29  # a two-sided 99.9 % normal interval: a planted value outside it is a real miss


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home of its own: the rest days and peaks are checked against the sandbox as it is
    now, which a store synced from an older sandbox (final days are never fetched again)
    would not show."""
    home = tmp_path_factory.mktemp("forecast-render") / "home"
    with environment(LIVEKIT_HOME=str(home)):
        yield home


@pytest.fixture(scope="module")
def result(home: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    project = Project(ROOT, tmp_path_factory.mktemp("forecast-report") / "reports")
    [done] = run("forecast", project=project, overrides=Overrides(values=tuple(OVERRIDES.items())))
    assert done.ok, done.error
    return done


@pytest.fixture(scope="module")
def page(result: RunResult) -> forecast.ForecastPage:
    """The same report built in-process on the store the render synced."""
    return forecast.build(
        livekit.open("sandbox"), series="orders", planned_spend={"default": 3000}, horizon=21
    )


@pytest.fixture(scope="module")
def truth(home: Path) -> dict[str, Any]:
    done = cli("sandbox", "truth", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    planted: dict[str, Any] = json.loads(done.stdout)["forecast"]
    return planted


def test_the_report_draws_offline_and_says_what_the_page_says(
    browser: Any, result: RunResult, page: forecast.ForecastPage
) -> None:
    assert_report_draws(browser, result)  # no request, no script, every chart drawn
    assert result.html is not None
    text = unescape(result.html.read_text(encoding="utf-8"))
    fc = page.forecast
    total = format_count(float(fc.frame["mean"].sum()))
    assert f"成交单数合计约 {total} 单" in text
    assert "投放按参数" in text  # planned_spend given for every day
    assert (page.plan_.frame["spend"] == 3000.0).all()
    bt = fc.backtest
    assert bt is not None
    assert f"过去 {page.folds} 次预测（每次预测 21 天）" in text
    seen = visit(browser, result.html)
    visible = " ".join(seen.text.split())
    sentence = forecast.backtest_text(bt, chosen=fc.model, series="orders").split("。")[0]
    assert " ".join(sentence.replace("**", "").split()) in visible
    [chart] = [c for c in seen.charts if "成交单数预测" in c["text"]]
    assert "预测（均值）" in chart["text"]


def test_the_planted_rest_days_are_the_days_without_a_show(
    page: forecast.ForecastPage, truth: dict[str, Any]
) -> None:
    first, last = page.daily["date"].min(), page.daily["date"].max()
    planted = {
        d
        for d in map(date.fromisoformat, truth["rest_days"])
        if first <= d <= last  # type: ignore[operator]
    }
    seen = set(page.daily.filter(pl.col("shows") == 0)["date"].to_list())
    assert planted  # two years hold some
    assert seen == planted
    assert f"其中 {len(planted)} 天没有开播" in page.overview().markdown


def test_the_chart_marks_the_planted_festival_peaks(
    page: forecast.ForecastPage, truth: dict[str, Any]
) -> None:
    """The peaks on the chart (from livekit.analysis.events, lunar dates from lunardate) are
    the sandbox's own (its hard-coded table of published 春节 dates)."""
    start = page.forecast.frame["date"].min()
    end = page.forecast.frame["date"].max()
    assert isinstance(start, date)
    assert isinstance(end, date)
    first = start - timedelta(days=forecast.RECENT_DAYS - 1)
    planted = {
        (occ["peak"], row["label"])
        for row in truth["festivals"]
        for occ in row["occurrences"]
        if first.isoformat() <= occ["peak"] <= end.isoformat()
    }
    spec = page.chart().to_dict()
    marked = {
        (str(p["date"])[:10], p["name"])
        for rows in spec["datasets"].values()
        for p in rows
        if "name" in p
    }
    assert marked == planted


def test_the_planted_spend_elasticity_and_double11_lift_are_recovered(
    page: forecast.ForecastPage, truth: dict[str, Any]
) -> None:
    effects = (page.reference or page.forecast).effects
    spend = effects.filter(pl.col("term") == "spend").row(0, named=True)
    planted = truth["spend"]["elasticity"]
    print(f"spend elasticity {spend['coef']:.3f} ± {spend['se']:.3f}, planted {planted}")
    assert spend["transform"] == "log"
    assert abs(spend["coef"] - planted) <= Z_999 * spend["se"]
    peak = effects.filter(pl.col("term") == "double11_peak").row(0, named=True)
    [lift] = [
        r["log_lift"]
        for r in truth["festivals"]
        if r["event"] == "double11" and r["phase"] == "peak"
    ]
    print(f"双11 peak {peak['coef']:.3f} ± {peak['se']:.3f}, planted {lift}")
    assert abs(peak["coef"] - lift) <= Z_999 * peak["se"]
