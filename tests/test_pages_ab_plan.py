"""The A/B planning page: built on a sandbox kit, what it says is what the stored rows give;
the prose functions on hand-made plans; mistakes are one Chinese line before anything is read.

The report itself (the notebook through the real runner, offline HTML, in ``--all``) renders
with every report in tests/test_reports_notebooks.py and tests/test_report_html.py.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import altair as alt
import polars as pl
import pytest
from scipy import stats
from scipy.optimize import brentq

import livekit
from livekit.analysis.plan import SESSION_SCHEMA, VIEWER_SCHEMA, SessionPlan, ViewerPlan, lift_table
from livekit.pages import Section, ab_plan
from livekit.source import Kit
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import format_count

DAYS = 7  # a week of history, a week before it for CUPED: the sandbox syncs two weeks


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return livekit.open("sandbox", home=tmp_path_factory.mktemp("page-ab-plan") / "home")


@pytest.fixture(scope="module")
def page(kit: Kit) -> ab_plan.AbPlanPage:
    return ab_plan.build(
        kit, history_days=DAYS, max_days=DAYS, planned_days=DAYS, pre_period_days=DAYS
    )


@pytest.mark.slow  # the module's page syncs two weeks of a sandbox shop
def test_the_page_says_what_the_stored_rows_give(kit: Kit, page: ab_plan.AbPlanPage) -> None:
    first, last = page.history_period.first, page.history_period.last
    assert (last - first).days + 1 == DAYS
    assert page.viewer_period.first == first - timedelta(days=DAYS)
    parts = [page.history(), page.viewers(), page.sessions(), page.answer()]
    for part in parts:
        assert isinstance(part, Section)
        assert part.markdown
    assert f"{first} 至 {last}" in parts[0].markdown
    # viewers per day: distinct viewers of each stored day, averaged
    visits = kit.load("viewers", first, last)
    per_day = visits.group_by(pl.col("enter_time").dt.date()).agg(pl.col("viewer_id").n_unique())
    mean_viewers = float(per_day["viewer_id"].mean())  # type: ignore[arg-type]
    assert f"平均每天 {format_count(mean_viewers)} 位观众" in parts[0].markdown
    # shows in the history
    rooms = kit.load("rooms", first, last).filter(
        pl.col("start_time").dt.date().is_between(first, last)
    )
    assert f"共 {rooms['room_id'].n_unique()} 场直播" in parts[0].markdown
    # the week-long plan has one window: every viewer of the week, the share who paid, and
    # at its MDE the analysis's lift interval lies above 0 with 80% probability (by hand)
    plan = page.viewer_plan
    assert plan is not None
    week = plan.by_days.filter(pl.col("days") == DAYS).row(0, named=True)
    units = visits.group_by("viewer_id").agg(pl.col("paid").any())
    assert week["viewers"] == units.height
    p = float(units["paid"].mean())  # type: ignore[arg-type]
    assert week["mean"] == pytest.approx(p)
    n, lift = units.height / 2, week["mde"]

    def se(at: float) -> float:  # the delta-method lift's standard error at a true lift
        pb = p * (1 + at)
        return math.sqrt((pb * (1 - pb) + (1 + at) ** 2 * p * (1 - p)) / n) / p

    z = stats.norm.ppf(0.975)
    edge = brentq(lambda c: c - z * se(c), 0.0, 5.0)  # where the interval touches 0
    assert stats.norm.sf((edge - lift) / se(lift)) == pytest.approx(0.8, abs=1e-4)
    assert f"MDE **{week['mde']:.1%}**" in parts[1].markdown
    # the chart: MDE against days, one line per design, every title in Chinese
    [chart] = parts[3].charts
    assert isinstance(chart, alt.TopLevelMixin)
    spec = chart.to_dict()
    rows = spec["datasets"][spec["data"]["name"]]
    assert {r["design"] for r in rows} == set(ab_plan.DESIGN_LABELS.values())
    assert "实验做多少天" in str(spec["title"])
    assert "CUPED 不适用于按场次轮换" in parts[2].markdown


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"metric": "gmv"}, "未知的指标"),
        ({"session_metric": "nope"}, "未知的指标"),
        ({"history_days": 7, "max_days": 14}, "不能少于 max_days"),
        ({"planned_days": 30}, "不能超过 max_days"),
        ({"lifts": [0.1, 0]}, "lifts"),
        ({"alpha": 2}, "alpha"),
        ({"planned_split": [1]}, "planned_split"),
        ({"history_days": 0}, "history_days"),
        ({"history_end": "someday"}, "history_end"),
    ],
)
def test_mistakes_are_one_chinese_line_before_reading(
    tmp_path_factory: pytest.TempPathFactory, kwargs: dict[str, object], words: str
) -> None:
    kit = livekit.open("sandbox", home=tmp_path_factory.mktemp("plan-errors") / "home")
    with pytest.raises(LivekitError) as err:
        ab_plan.build(kit, **kwargs)  # type: ignore[arg-type]
    assert words in str(err.value)
    assert "\n" not in str(err.value)
    assert not kit.home.exists() or not any(kit.home.rglob("*.parquet"))  # nothing was synced


# ---- prose on hand-made plans ---------------------------------------------------------------------
def _viewer_plan(rho2: float) -> ViewerPlan:
    rows = [
        {
            "days": d,
            "windows": 8 - d,
            "viewers": 1000.0 * d**0.7,
            "n_a": 500.0 * d**0.7,
            "n_b": 500.0 * d**0.7,
            "mean": 0.02,
            "variance": 0.0196,
            "rho2": rho2,
            "mde": 0.6 / d**0.35,
            "mde_cuped": 0.6 / d**0.35 * math.sqrt(1 - rho2),
        }
        for d in range(1, 8)
    ]
    return ViewerPlan(
        metric="conversion",
        label="观众成交率",
        kind="proportion",
        start=date(2026, 3, 1),
        end=date(2026, 3, 7),
        pre_period_days=7,
        split=(0.5, 0.5),
        alpha=0.05,
        power=0.8,
        by_days=pl.DataFrame(rows, schema=VIEWER_SCHEMA),
    )


def _session_plan(reach: bool) -> SessionPlan:
    rows = [
        {
            "days": d,
            "shows": 2.0 * d,
            "n_a": d,
            "n_b": d,
            "mde": (0.9 / d) if reach and d > 1 else None,
        }
        for d in range(1, 8)
    ]
    return SessionPlan(
        metric="watch_click_rate",
        label="观看-点击率",
        start=date(2026, 3, 1),
        end=date(2026, 3, 7),
        history_days=7,
        shows=14,
        shows_per_day=2.0,
        mean=0.07,
        variance=0.01,
        split=(0.5, 0.5),
        alpha=0.05,
        power=0.8,
        by_days=pl.DataFrame(rows, schema=SESSION_SCHEMA),
    )


def test_viewer_text_growth_and_cuped() -> None:
    weak = ab_plan.viewer_text(_viewer_plan(0.001))
    assert f"只有一天的 {7**0.7:.1f} 倍而不是 7 倍" in weak
    assert "帮助有限" in weak
    strong = ab_plan.viewer_text(_viewer_plan(0.3))
    assert "消去约 **30.0%** 的方差" in strong
    assert "covariate: pre_period" in strong


def test_session_text_without_reach_and_answer_without_viewers() -> None:
    assert "无法估计：请加长 max_days" in ab_plan.session_text(_session_plan(False))
    sessions = _session_plan(True)
    table = lift_table(None, sessions, [0.1, 0.5], 7)
    text = ab_plan.answer_text(
        table, max_days=7, planned_days=7, power=0.8, viewer_label=None, session_label="观看-点击率"
    )
    assert "按观众随机" not in text
    assert "提升 **10%**：按场次轮换 超过 7 天。" in text
    assert "提升 **50%**：按场次轮换 2 天。" in text
    rows = ab_plan.mde_rows(None, sessions)
    assert set(rows["design"]) == {"按场次轮换"}
    assert rows.height == 6  # the day without an MDE is not drawn


def test_answer_advises_the_smallest_lift_cuped_reaches() -> None:
    plan = _viewer_plan(0.3)
    table = lift_table(plan, None, [0.05, 0.3, 0.5], 7)
    text = ab_plan.answer_text(
        table, max_days=7, planned_days=7, power=0.8, viewer_label=plan.label, session_label=None
    )
    days = plan.days_needed(0.3, cuped=True)
    assert days is not None
    assert f"至少提升 30%，按观众随机、用 CUPED 分析，至少做 **{days} 天**" in text
    assert "提升 **5%**：按观众随机 超过 7 天（CUPED 超过 7 天）。" in text


def test_answer_does_not_sell_cuped_when_it_saves_no_day() -> None:
    plan = _viewer_plan(0.0)
    table = lift_table(plan, None, [0.3, 0.5], 7)
    text = ab_plan.answer_text(
        table, max_days=7, planned_days=7, power=0.8, viewer_label=plan.label, session_label=None
    )
    assert "CUPED 在这里省不了天数" in text
    assert "用 CUPED 分析" not in text
