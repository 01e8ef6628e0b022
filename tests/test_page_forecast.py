"""The forecast page: the plan parameters, the typical plan and the weekly totals by hand, the
prose on real forecasts of synthetic series (a model that wins, one that loses to "same weekday
last week"), upstream text escaped, the chart drawn offline with its bands and festival names,
mistakes as one Chinese line before anything is read; then the page built on a sandbox kit
says what the stored rooms give.

The report itself (the notebook through the real runner, offline HTML, drawn in Chromium, in
``--all``) renders with every report in tests/test_reports_notebooks.py and
tests/test_report_html.py; tests/test_page_forecast_render.py renders it with its own
parameters and checks it against the planted truth.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from pathlib import Path

import altair as alt
import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

import livekit
import livekit.analysis as la
from livekit.analysis.events import events_frame
from livekit.charts.forecast import forecast_chart, peak_rows
from livekit.charts.render import setup
from livekit.pages import Section
from livekit.pages import forecast as page_mod
from livekit.source import Kit
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import format_money, format_percent

FIRST = date(2025, 6, 2)  # a Monday
DAYS = [FIRST + timedelta(days=k) for k in range(14)]
HOSTILE = "<script>alert(1)</script>**品牌日**"


def one_line(exc: pytest.ExceptionInfo[LivekitError]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    assert re.search(r"[\u4e00-\u9fff]", text), text
    return text


# ---- the plan parameters ------------------------------------------------------------------------
def test_plan_values_none_a_number_or_a_mapping() -> None:
    assert page_mod.planned_values(None, "planned_shows", DAYS) == {}
    assert page_mod.planned_values(3, "planned_shows", DAYS) == dict.fromkeys(DAYS, 3.0)
    given = page_mod.planned_values(
        {"default": 2, "2025-06-04": 0, DAYS[5]: 4.0}, "planned_shows", DAYS, whole=True
    )
    assert given[DAYS[0]] == 2.0
    assert given[DAYS[2]] == 0.0
    assert given[DAYS[5]] == 4.0
    assert len(given) == len(DAYS)
    only_dated = page_mod.planned_values({"2025-06-10": 5000.5}, "planned_spend", DAYS)
    assert only_dated == {date(2025, 6, 10): 5000.5}  # the other days stay typical


@pytest.mark.parametrize(
    ("value", "whole", "words"),
    [
        (-1, False, "不小于 0"),
        (1.5, True, "整数"),
        (True, False, "planned_shows 可以是"),
        ("3", False, "planned_shows 可以是"),
        ({"2025-07-01": 1}, False, "不在预测期"),
        ({"tomorrow": 1}, False, "default 或日期"),
        ({"default": float("nan")}, False, "default"),
    ],
)
def test_plan_mistakes_are_one_chinese_line(value: object, whole: bool, words: str) -> None:
    with pytest.raises(LivekitError) as err:
        page_mod.planned_values(value, "planned_shows", DAYS, whole=whole)
    assert words in one_line(err)


def _history(weeks: int = 10) -> pl.DataFrame:
    """Daily rows where every weekday has its own shows and spend pattern."""
    rows = []
    start = FIRST - timedelta(days=7 * weeks)
    for k in range(7 * weeks):
        day = start + timedelta(days=k)
        week, wd = divmod(k, 7)
        shows = [1, 2, 2, 3, 3, 0, 1][wd] + (1 if wd == 1 and week % 2 else 0)
        spend = 0.0 if shows == 0 else 100.0 * (wd + 1) + week
        rows.append({"date": day, "shows": shows, "gmv": 1000.0 * shows, "spend": spend})
    return pl.DataFrame(rows)


def test_the_typical_plan_is_the_median_of_its_weekday_over_eight_weeks() -> None:
    history = _history()
    plan = page_mod.typical_plan(history, DAYS)
    last8 = history.tail(56)
    for row in plan.iter_rows(named=True):
        wd = row["date"].weekday()
        same = [r for r in last8.iter_rows(named=True) if r["date"].weekday() == wd]
        shows = sorted(r["shows"] for r in same)
        median = (shows[3] + shows[4]) / 2  # 8 values
        assert row["shows"] == math.floor(median + 0.5)
        paid = sorted(r["spend"] for r in same if r["shows"] > 0)
        expected = 0.0 if row["shows"] == 0 else (paid[3] + paid[4]) / 2
        assert row["spend"] == pytest.approx(expected)
    # Tuesdays alternate 2 and 3 shows: the median 2.5 rounds up to a whole show
    assert plan.filter(pl.col("date") == DAYS[1])["shows"].item() == 3.0
    assert plan.filter(pl.col("date") == DAYS[5])["spend"].item() == 0.0  # Saturday: rest


def test_a_show_planned_on_a_usual_rest_day_gets_a_show_days_spend() -> None:
    history = _history()
    saturday, next_saturday = DAYS[5], DAYS[12]
    plan = page_mod._plan(history, DAYS, {saturday: 2.0}, {DAYS[0]: 0.0}).frame
    paid = sorted(r["spend"] for r in history.tail(56).iter_rows(named=True) if r["shows"] > 0)
    middle = len(paid) // 2
    median = paid[middle] if len(paid) % 2 else (paid[middle - 1] + paid[middle]) / 2
    row = plan.filter(pl.col("date") == saturday).row(0, named=True)
    assert (row["shows"], row["spend"]) == (2.0, pytest.approx(median))
    row = plan.filter(pl.col("date") == next_saturday).row(0, named=True)
    assert (row["shows"], row["spend"]) == (0.0, 0.0)  # still a rest day: nothing spent
    assert plan.filter(pl.col("date") == DAYS[0])["spend"].item() == 0.0  # as the user set
    typical = page_mod.typical_plan(history, DAYS)
    assert plan.filter(pl.col("date") == DAYS[3])["spend"].item() == (
        typical.filter(pl.col("date") == DAYS[3])["spend"].item()
    )


def test_weekly_totals_add_the_days() -> None:
    fc = pl.DataFrame(
        {
            "date": DAYS,
            "mean": [float(k) for k in range(14)],
            "lo_80": [k - 0.5 for k in range(14)],
            "hi_80": [k + 2.0 for k in range(14)],
        }
    )
    plan = pl.DataFrame(
        {"date": DAYS, "shows": [1.0] * 6 + [0.0] + [2.0] * 7, "spend": [10.0] * 14}
    )
    weeks = page_mod.weekly_rows(fc, plan)
    assert weeks["mean"].to_list() == [sum(range(7)), sum(range(7, 14))]
    assert weeks["lo"].to_list() == [sum(range(7)) - 3.5, sum(range(7, 14)) - 3.5]
    assert weeks["show_days"].to_list() == [6, 7]
    assert weeks["shows"].to_list() == [6.0, 14.0]
    assert weeks["week"][0] == "第 1 周（06-02 至 06-08）"


# ---- prose on real forecasts of synthetic series ------------------------------------------------
def synthetic(seed: int, *, days: int = 280, random_walk: bool = False) -> pl.DataFrame:
    """Log-linear daily sales with weekday, log(shows), log(spend) and rest days; or, with
    ``random_walk``, a seasonal random walk that nothing beats (same weekday last week)."""
    rng = np.random.default_rng(seed)
    dates = [FIRST - timedelta(days=days - k) for k in range(days)]
    wd = np.array([d.weekday() for d in dates])
    shows = 1 + rng.poisson(1.2, days)
    shows[rng.random(days) < 0.06] = 0
    spend = np.where(shows > 0, np.exp(rng.normal(7.0, 0.35, days)), 0.0)
    if random_walk:
        shows[:] = 2
        spend = np.full(days, 1000.0)
        level = np.zeros(days)
        level[:7] = np.log(20_000.0) + 0.2 * np.arange(7)
        for t in range(7, days):
            level[t] = level[t - 7] + rng.normal(0.0, 0.12)
        gmv = np.exp(level)
    else:
        log_gmv = (
            8.5
            + np.array([0.0, -0.1, 0.0, 0.05, 0.1, 0.3, 0.2])[wd]
            + 0.3 * np.log(np.where(spend > 0, spend, 1.0))
            + 0.7 * np.log(np.maximum(shows, 1))
            + rng.normal(0.0, 0.2, days)
        )
        gmv = np.where(shows > 0, np.exp(log_gmv), 0.0)
    return pl.DataFrame(
        {"date": dates, "shows": shows.astype(np.int64), "gmv": gmv, "spend": spend}
    )


def _plan(history: pl.DataFrame, horizon: int = 28) -> page_mod.Plan:
    ahead = [FIRST + timedelta(days=k) for k in range(horizon)]
    return page_mod.Plan(page_mod.typical_plan(history, ahead), shows_given=0, spend_given=0)


def _forecast(history: pl.DataFrame, plan: page_mod.Plan, **kwargs: object) -> la.Forecast:
    return la.forecast(
        history,
        horizon=plan.frame.height,
        regressors=("shows", "spend"),
        future=plan.frame,
        events=events_frame(history["date"].min(), plan.frame["date"].max()),  # type: ignore[arg-type]
        folds=4,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def winner() -> tuple[pl.DataFrame, page_mod.Plan, la.Forecast]:
    history = synthetic(3)
    plan = _plan(history)
    return history, plan, _forecast(history, plan)


def test_the_backtest_says_how_wrong_and_how_much_better_than_last_week(
    winner: tuple[pl.DataFrame, page_mod.Plan, la.Forecast],
) -> None:
    _, _, fc = winner
    assert fc.model == "regression"
    bt = fc.backtest
    assert bt is not None
    text = page_mod.backtest_text(bt, chosen=fc.model, series="gmv")
    # the mean daily error of each model, from the folds' own rows, by hand
    folds = bt.folds
    mae = {}
    for m in ("regression", "seasonal_naive"):
        rows = folds.filter(pl.col("model") == m)
        mae[m] = float(np.mean(np.abs(rows["actual"].to_numpy() - rows["mean"].to_numpy())))
    mase = {m: bt.mase_of(m) for m in mae}
    gain = 1 - mase["regression"] / mase["seasonal_naive"]
    assert gain > 0
    assert (
        f"过去 4 次预测（每次预测 28 天），平均每天误差 {format_money(mae['regression'], compact=True)}，"
        f"比“上周同日”好 {format_percent(gain, 1)}" in text
    )
    assert f"“上周同日”平均每天误差 {format_money(mae['seasonal_naive'], compact=True)}" in text
    cover = folds.filter(pl.col("model") == "regression")
    share80 = float(cover["actual"].is_between(cover["lo_80"], cover["hi_80"]).mean())  # type: ignore[arg-type]
    assert f"80% 区间覆盖了 {format_percent(share80, 0)} 的日子" in text


def test_the_overview_and_the_plan_what_ifs_on_a_winning_model(
    winner: tuple[pl.DataFrame, page_mod.Plan, la.Forecast],
) -> None:
    history, plan, fc = winner
    text = page_mod.overview_text(fc, plan, series="gmv", missing_events=[HOSTILE])
    total = float(fc.frame["mean"].sum())
    assert f"成交金额合计约 {format_money(total, compact=True)}" in text
    assert "场次与投放都按近 8 周同一星期几的中位数" in text
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "\\*\\*品牌日\\*\\*" in text
    # spend +20 %: on every show day the same factor 1.2^elasticity (the log-normal mean moves
    # by the same factor, up to the change in the parameter uncertainty term)
    calendar = events_frame(history["date"].min(), plan.frame["date"].max())  # type: ignore[arg-type]
    whatifs = page_mod._whatifs(
        history, plan, fc, series="gmv", calendar=calendar, typical=plan.frame
    )
    assert whatifs["scenario"].to_list()[0] == page_mod.PLANNED
    assert len(whatifs) == 3  # no "typical" row when the plan is the typical one
    spend = fc.effects.filter(pl.col("term") == "spend").row(0, named=True)
    more = whatifs.filter(pl.col("scenario").str.starts_with("投放多")).row(0, named=True)
    assert more["share"] == pytest.approx(1.2 ** spend["coef"] - 1, abs=0.005)
    assert 0.15 < spend["coef"] < 0.45  # planted 0.3
    fewer = whatifs.filter(pl.col("scenario").str.starts_with("每天少播")).row(0, named=True)
    assert fewer["share"] < 0
    assert fewer["shows"] < more["shows"]
    words = page_mod.plan_text(whatifs, series="gmv", chosen=fc.model, spend_effect=None)
    assert f"比按计划 多 {format_money(more['change'], compact=True)}" in words
    assert "不看计划" not in words


def test_the_effects_read_as_lifts_with_intervals() -> None:
    effects = pl.DataFrame(
        {
            "term": ["brand_day_peak", "spend", "shows", "trend"],
            "kind": ["event", "regressor", "regressor", "trend"],
            "label": [HOSTILE + "当天", "投放", "场次", "年趋势"],
            "transform": ["", "log", "log", ""],
            "coef": [0.9, 0.3, 0.7, 0.1],
            "se": [0.1, 0.05, 0.1, 0.05],
            "lo": [0.7, 0.2, 0.5, 0.0],
            "hi": [1.1, 0.4, 0.9, 0.2],
        }
    ).with_columns(
        pl.when(pl.col("transform") == "log")
        .then(2.0 ** pl.col(c))
        .otherwise(pl.col(c).exp())
        .alias(name)
        for c, name in (("coef", "lift"), ("lo", "lift_lo"), ("hi", "lift_hi"))
    )
    text = page_mod.effects_text(effects, series="gmv", chosen="regression")
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert f"×{math.exp(0.9):.2f}（×{math.exp(0.7):.2f}–×{math.exp(1.1):.2f}）" in text
    assert f"投放翻倍时成交金额 ×{2**0.3:.2f}" in text
    assert f"投放每多 10%，成交金额约 {format_percent(1.1**0.3 - 1, 1, signed=True)}" in text
    assert "不是实验" in text
    rows = page_mod.effect_rows(effects)
    assert rows["kind_text"].to_list() == ["节日", "计划", "计划", "趋势"]
    table = str(page_mod.EFFECT_TABLE.render(rows))
    assert "&lt;script&gt;" in table
    assert "<script>" not in table
    assert "以下估计来自对数线性回归" in page_mod.effects_text(
        effects, series="gmv", chosen="seasonal_naive"
    )


def test_when_nothing_beats_last_week_the_page_says_so_and_uses_it() -> None:
    history = synthetic(5, random_walk=True)
    plan = _plan(history)
    fc = _forecast(history, plan)
    assert fc.model == "seasonal_naive"  # the analysis chose it: nothing beat it
    bt = fc.backtest
    assert bt is not None
    statement = page_mod.naive_statement(bt, folds=4)
    assert "**结论：模型没有比“上周同日”更准。**" in statement
    assert "季节朴素预测" in statement
    assert f"（{bt.mase_of('seasonal_naive'):.2f}）" in statement
    text = page_mod.backtest_text(bt, chosen=fc.model, series="gmv")
    regression, naive = bt.mase_of("regression"), bt.mase_of("seasonal_naive")
    assert f"比“上周同日”差 {format_percent(regression / naive - 1, 1)}" in text
    assert "预测采用“上周同日”" in text
    overview = page_mod.overview_text(fc, plan, series="gmv", missing_events=["双12"])
    assert "预测期内有 双12，“上周同日”不考虑节日：**预测没有计入这些节日**" in overview
    # the forecast shown is seasonal naive: each day equals the same weekday a week before
    last_week = history.tail(7)["gmv"].to_list()
    assert fc.frame["mean"].head(7).to_list() == pytest.approx(last_week)
    whatifs = pl.DataFrame(
        {
            "scenario": [page_mod.PLANNED, "投放多 20%"],
            "shows": [10.0, 10.0],
            "spend": [1.0, 1.2],
            "total": [100.0, 105.0],
            "change": [0.0, 5.0],
            "share": [0.0, 0.05],
        }
    )
    assert "不看计划" in page_mod.plan_text(
        whatifs, series="gmv", chosen=fc.model, spend_effect=None
    )


def test_coverage_far_from_nominal_is_called_out() -> None:
    row = {"coverage_80": 0.62, "coverage_95": 0.81}
    assert "偏窄" in page_mod._coverage_verdict(row, (80, 95))
    assert "可信" in page_mod._coverage_verdict(
        {"coverage_80": 0.83, "coverage_95": 0.93}, (80, 95)
    )
    assert "偏宽" in page_mod._coverage_verdict({"coverage_80": 0.97, "coverage_95": 1.0}, (80, 95))


def test_history_text_says_when_the_store_is_shorter_than_asked() -> None:
    history = _history(3)
    first = history["date"].min()
    assert isinstance(first, date)
    text = page_mod.history_text(
        history, asked_days=730, first_show=first, first_asked=first - timedelta(days=600)
    )
    assert "history_days 要求 730 天历史" in text
    assert f"从 {first} 起才有直播" in text
    assert f"其中 {int((history['shows'] == 0).sum())} 天没有开播" in text
    assert "要求" not in page_mod.history_text(
        history, asked_days=21, first_show=first, first_asked=first
    )


# ---- the chart ----------------------------------------------------------------------------------
def test_close_festival_names_go_on_different_lines() -> None:
    peaks = pl.DataFrame(
        {
            "date": [date(2026, 2, 6), date(2026, 2, 17), date(2026, 3, 8), date(2026, 2, 27)],
            "name": ["年货节", "春节", "38节", "x"],
        }
    )
    rows = peak_rows(peaks)
    assert rows["name"].to_list() == ["年货节", "春节", "x", "38节"]
    assert rows["row"].to_list() == [0, 1, 0, 1]


def test_the_chart_draws_bands_history_and_festival_names_offline() -> None:
    setup()
    history = pl.DataFrame({"date": DAYS, "value": [1000.0 + 10 * k for k in range(14)]})
    ahead = [DAYS[-1] + timedelta(days=k) for k in range(1, 15)]
    fc = pl.DataFrame({"date": ahead, "mean": [1200.0] * 14}).with_columns(
        (pl.col("mean") * 0.8).alias("lo_80"),
        (pl.col("mean") * 1.2).alias("hi_80"),
        (pl.col("mean") * 0.6).alias("lo_95"),
        (pl.col("mean") * 1.5).alias("hi_95"),
    )
    peaks = pl.DataFrame(
        {"date": [DAYS[3], ahead[5], date(2030, 1, 1)], "name": ["618", HOSTILE, "不画"]}
    )
    chart = forecast_chart(history, fc, peaks, title="未来 14 天的成交金额预测", y_title="元")
    assert isinstance(chart, alt.LayerChart)
    chart.to_dict()  # valid Vega-Lite
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert "未来 14 天的成交金额预测" in svg
    assert "618" in svg
    assert "不画" not in svg
    assert "&lt;script&gt;" in svg
    assert "<script>" not in svg
    assert svg.count('aria-roledescription="area mark"') == 2  # the 80 % and 95 % bands
    assert "实际" in svg
    assert "预测（均值）" in svg


# ---- mistakes, before anything is read ----------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"series": "roas"}, "series 只能是 gmv（成交金额）、orders（成交单数）"),
        ({"history_days": 10}, "history_days 须为 56 到 1500"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": True}, "horizon"),
        ({"folds": 20}, "folds"),
        ({"planned_shows": -1}, "planned_shows"),
        ({"planned_shows": 1.5}, "整数"),
        ({"planned_spend": {"2000-01-01": 5}}, "不在预测期"),
        ({"extra_events": {"event": "x", "date": "2026-01-01"}}, "extra_events 须为活动列表"),
        ({"extra_events": [{"event": "Brand Day", "date": "2026-01-01"}]}, "小写英文代码"),
        ({"extra_events": [{"event": "brand", "date": "someday"}]}, "不是日期"),
        ({"today": "someday"}, "today"),
    ],
)
def test_mistakes_are_one_chinese_line_before_reading(
    tmp_path: Path, kwargs: dict[str, object], words: str
) -> None:
    kit = livekit.open("sandbox", home=tmp_path / "home")
    with pytest.raises(LivekitError) as err:
        page_mod.build(kit, **kwargs)  # type: ignore[arg-type]
    assert words in one_line(err)
    assert kit.home == tmp_path / "home" / "sandbox"
    assert not kit.home.exists() or not any(kit.home.rglob("*.parquet"))


# ---- on a sandbox kit ---------------------------------------------------------------------------
HISTORY_DAYS, HORIZON = 120, 14


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return livekit.open("sandbox", home=tmp_path_factory.mktemp("page-forecast") / "home")


@pytest.fixture(scope="module")
def page(kit: Kit) -> page_mod.ForecastPage:
    return page_mod.build(
        kit, history_days=HISTORY_DAYS, horizon=HORIZON, folds=3, planned_shows={"default": 3}
    )


@pytest.mark.slow  # syncs 120 days of a sandbox shop's rooms
def test_the_page_says_what_the_stored_rooms_give(kit: Kit, page: page_mod.ForecastPage) -> None:
    from livekit.dates import today

    start = today()
    first, last = start - timedelta(days=HISTORY_DAYS), start - timedelta(days=1)
    assert (page.span.first, page.span.last) == (first, last)
    stored = {p.name for p in kit.settings.store_dir.iterdir() if not p.name.startswith(".")}
    assert stored == {"rooms"}  # the rooms alone were synced
    # the daily series by hand from the stored rooms (by the day each show started)
    rooms = kit.load("rooms", first, last)
    per_day = rooms.group_by(pl.col("start_time").dt.convert_time_zone("Asia/Shanghai").dt.date())
    sums = per_day.agg(pl.len().alias("n"), pl.col("live_pay_order_gmv_alias").sum().alias("g"))
    by_day = {r["start_time"]: (r["n"], r["g"]) for r in sums.iter_rows(named=True)}
    for row in page.daily.iter_rows(named=True):
        n, g = by_day.get(row["date"], (0, 0.0))
        assert row["shows"] == n
        assert row["gmv"] == pytest.approx(g)
    assert page.daily["date"].min() == min(by_day)  # the history starts at the first show
    # the plan: 3 shows every day (the parameter), spend the typical one of each weekday
    assert page.plan_.frame["shows"].to_list() == [3.0] * HORIZON
    assert page.plan_.shows_given == HORIZON
    assert page.plan_.spend_given == 0
    # the forecast: one row per horizon day from today, the total said in the overview
    fc = page.forecast
    assert fc.frame["date"].to_list() == [start + timedelta(days=k) for k in range(HORIZON)]
    parts = [page.overview(), page.backtest(), page.plan(), page.effects()]
    for part in parts:
        assert isinstance(part, Section)
        assert part.markdown
    total = format_money(float(fc.frame["mean"].sum()), compact=True)
    assert f"成交金额合计约 {total}" in parts[0].markdown
    assert "场次按参数" in parts[0].markdown
    assert "过去 3 次预测（每次预测 14 天）" in parts[1].markdown
    # the plan differs from the typical one: the what-ifs list the typical plan too
    assert page.whatifs["scenario"].to_list()[1].startswith("按近 8 周的常态")
    # the chart: the last 56 days and the forecast, the festival peaks of those days named
    [chart] = parts[0].charts
    spec = chart.to_dict()
    assert "未来 14 天的成交金额预测" in str(spec["title"])
    ahead = start + timedelta(days=HORIZON - 1)
    calendar = events_frame(first, ahead)
    drawn = calendar.filter(
        pl.col("date").is_between(start - timedelta(days=page_mod.RECENT_DAYS), ahead)
    )
    shown = {p["name"] for d in spec["datasets"].values() for p in d if "name" in p}
    assert shown == set(drawn["label"])


def test_when_no_model_could_be_fitted_the_page_says_why() -> None:
    history = synthetic(7)
    bt = la.backtest(history, horizon=14, folds=2, models=("seasonal_naive",))
    assert bt.summary["model"].to_list() == ["seasonal_naive"]
    why = "对数线性回归无法拟合：有销售的历史日只有 9 天"
    statement = page_mod.naive_statement(bt, folds=2, note=why)
    assert f"过去 2 次回测中，{why}。所以本报告的预测就是**季节朴素预测**" in statement
    text = page_mod.plan_text(
        pl.DataFrame(), series="gmv", chosen="seasonal_naive", spend_effect=None, reason=why
    )
    assert (
        text
        == f"无法估计计划的影响：对数线性回归模型无法拟合（{why}）。所用的“上周同日”预测不看计划。"
    )
    assert "“上周同日”平均每天误差" in page_mod.backtest_text(
        bt, chosen="seasonal_naive", series="gmv"
    )
