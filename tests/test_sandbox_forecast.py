"""The sandbox's planted forecast structure: calendar, rest days, planned spend, and the series.

* the hard-coded 春节/七夕 table and the festival windows agree with the analysis's calendar
  (``livekit.analysis.events``, lunardate-derived): an independent check of both;
* ``truth_forecast.daily_series`` is what a real sync of the ``rooms`` dataset over loopback
  gives (through ``livekit.analysis.forecast.daily_sales``), on a rest day, an old festival
  peak (served from the bounded cache of old days) and recent days;
* rest days have no rooms at all; a day's spend is its planned budget up to the per-visit
  rounding; the 28-day plan is published;
* the realized log GMV responds to the planted structure: an OLS of log daily GMV on the
  planted features over 800 days of one seed (statsmodels, an independent fit) recovers the
  spend elasticity and the 双11 peak within their 99% intervals.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest

from livekit.analysis.events import default_events, event_features, lunar_to_solar
from livekit.analysis.forecast import daily_sales
from livekit.api.runner import run
from livekit.ingest.run import sync_async
from livekit.jobs import sandbox_session
from livekit.sandbox import calendar as cal
from livekit.sandbox import truth_forecast as tf
from livekit.sandbox import world as w
from livekit.sandbox.aggregates import PAID_IDX
from livekit.store import Store
from livekit.store.datasets import ROOMS
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import make_settings

SCALE = 0.3


# ---- the calendar ---------------------------------------------------------------------------
def test_lunar_tables_match_the_analysis_calendar() -> None:
    for year in range(cal.LUNAR_FIRST_YEAR, cal.LUNAR_LAST_YEAR + 1):
        assert cal.spring_festival(year) == lunar_to_solar(year, 1, 1), year
        assert cal.qixi(year) == lunar_to_solar(year, 7, 7), year
    # published dates (State Council holiday notices)
    assert cal.spring_festival(2024) == date(2024, 2, 10)
    assert cal.spring_festival(2025) == date(2025, 1, 29)
    assert cal.spring_festival(2026) == date(2026, 2, 17)
    assert cal.spring_festival(cal.LUNAR_LAST_YEAR + 1) is None


def test_windows_are_the_analysis_windows() -> None:
    first, last = date(2022, 12, 1), date(2028, 12, 31)
    mine = {(o.event, o.start, o.peak, o.end) for o in cal.occurrences(first, last)}
    theirs = {
        (r["event"], r["start"], r["date"], r["end"])
        for r in default_events(first, last).iter_rows(named=True)
        if r["start"] <= last and r["end"] >= first  # it lists whole calendar years
    }
    assert mine == theirs
    assert {f.event for f in cal.FESTIVALS} == {e for e, *_ in mine}


def test_log_lift_follows_the_phases() -> None:
    # 双11 2025: start 10-20, peak 11-11, end 11-13; the ramp is (d - S + 1) / (P - S + 1)
    f = cal.BY_EVENT["double11"]
    assert cal.log_lift(date(2025, 11, 11)) == pytest.approx(f.peak)
    assert cal.log_lift(date(2025, 10, 20)) == pytest.approx(f.presale * 1 / 23)
    assert cal.log_lift(date(2025, 11, 10)) == pytest.approx(f.presale * 22 / 23)
    assert cal.log_lift(date(2025, 11, 13)) == pytest.approx(f.after_lift)
    assert cal.log_lift(date(2025, 11, 14)) == 0.0
    # the same as the analysis's features times the planted lifts, every day of two years
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(730)]
    feats = event_features(days, default_events(days[0], days[-1]))
    expected = np.zeros(len(days))
    for name in feats.columns[1:]:
        event, phase = name.rsplit("_", 1)
        fest = cal.BY_EVENT[event]
        lift = {"presale": fest.presale, "peak": fest.peak, "after": fest.after_lift}[phase]
        expected += lift * feats[name].to_numpy()
    assert [cal.log_lift(d) for d in days] == pytest.approx(expected.tolist())


# ---- rest days, plan, spend -------------------------------------------------------------------
@pytest.fixture(scope="module")
def world() -> w.World:
    return w.World(7, TODAY, scale=SCALE)


def test_rest_days_have_no_show_and_follow_their_rule(world: w.World) -> None:
    truth = tf.truth(world)
    rest = [date.fromisoformat(d) for d in truth["rest_days"]]
    assert len(rest) >= 5  # 4% of about 600 eligible days
    for d in rest:
        assert world.sessions_on(d) == []
        assert world.planned_shows(d) == []
        assert world.planned_budget_fen(d) == 0.0
        assert not cal.in_window(d)
        assert not 0 <= (TODAY - d).days < w.REST_FREE_DAYS
    history = [world.first_day + timedelta(days=i) for i in range(world.history_days + 1)]
    # every other day has the main account on air (its 1-3 slots, never none)
    shown = [d for d in history if d not in set(rest)]
    assert all(world.slots(world.accounts[0], d) for d in shown)


def test_plan_is_published_for_28_days(world: w.World) -> None:
    plan = tf.truth(world)["plan"]
    assert [p["date"] for p in plan] == [
        (TODAY + timedelta(days=i)).isoformat() for i in range(1, 29)
    ]
    for p in plan:
        d = date.fromisoformat(p["date"])
        assert p["shows"] == len(world.slots(world.accounts[0], d)) + len(
            world.slots(world.accounts[1], d)
        )
        assert (p["spend"] == 0) == (p["shows"] == 0)


def test_spend_per_day_is_the_planned_budget(world: w.World) -> None:
    first, last = TODAY - timedelta(days=20), TODAY - timedelta(days=1)
    series = tf.daily_series(world, first, last)
    plan = tf.planned(world, first, last)
    for got, want in zip(series, plan, strict=True):
        d = got["date"]
        n_ad = sum(int((s.visits.source == PAID_IDX).sum()) for s in world.sessions_on(d))
        assert got["shows"] == want["shows"]
        # each room is charged a whole fen per ad visit: within half a fen per visit
        assert abs(got["spend"] - want["spend"]) * 100 <= n_ad / 2 + 1, (d, got, want)
    # the plan is exogenous: m_d comes from its own stream, the same whatever the scale
    other = w.World(7, TODAY, scale=1.0)
    assert [other.budget_multiplier(p["date"]) for p in plan] == [
        world.budget_multiplier(p["date"]) for p in plan
    ]


# ---- daily_series == a real sync -----------------------------------------------------------------
@pytest.fixture(scope="module")
def synced(
    tmp_path_factory: pytest.TempPathFactory, world: w.World
) -> Iterator[tuple[dict[str, Any], Path, list[tuple[date, date]]]]:
    home = tmp_path_factory.mktemp("forecast")
    with sandbox_session(make_settings(home), make_config(scale=SCALE)) as session:
        truth: dict[str, Any] = httpx.get(session.url + "/sandbox/truth", timeout=120).json()
        first_day = date.fromisoformat(truth["forecast"]["history_first_day"])
        rests = set(map(date.fromisoformat, truth["forecast"]["rest_days"]))
        one = timedelta(days=1)
        rest = min(d for d in rests if d - one > first_day and {d - one, d + one}.isdisjoint(rests))
        double11 = date(TODAY.year - 1, 11, 11)
        ranges = [
            (rest - timedelta(days=1), rest + timedelta(days=1)),
            (double11 - timedelta(days=1), double11 + timedelta(days=1)),
            (TODAY - timedelta(days=3), TODAY - timedelta(days=1)),
        ]
        for first, last in ranges:
            run(sync_async(session.settings, first, last, now=NOW, datasets=["rooms"]))
        yield truth, home / "sandbox" / "store", ranges


def test_daily_series_is_what_a_sync_of_rooms_gives(
    synced: tuple[dict[str, Any], Path, list[tuple[date, date]]], world: w.World
) -> None:
    truth, store_dir, ranges = synced
    assert truth["forecast"]["history_first_day"] == world.first_day.isoformat()
    rooms = Store(store_dir).read("rooms", ROOMS.schema)
    for first, last in ranges:
        served = daily_sales(rooms, first, last)
        mine = pl.DataFrame(tf.daily_series(world, first, last)).cast(
            {"shows": pl.Int64, "orders": pl.Int64}
        )
        assert served["date"].to_list() == mine["date"].to_list()
        assert served["shows"].to_list() == mine["shows"].to_list()
        assert served["orders"].cast(pl.Int64).to_list() == mine["orders"].to_list()
        for col in ("gmv", "spend"):
            assert served[col].to_list() == pytest.approx(mine[col].to_list(), abs=0.005)
    rest_day = ranges[0][0] + timedelta(days=1)
    assert rooms.filter(pl.col("date") == rest_day).height == 0  # no room at all
    assert rooms.filter(pl.col("date") == ranges[0][0]).height > 0


# ---- the realized series responds to the planted structure ---------------------------------------
@pytest.mark.slow
def test_log_gmv_regression_recovers_the_planted_effects() -> None:
    import statsmodels.api as sm

    world = w.World(7, TODAY, scale=SCALE)
    first, last = world.first_day, TODAY - timedelta(days=1)
    series = [r for r in tf.daily_series(world, first, last) if r["shows"] > 0]
    days = [r["date"] for r in series]
    feats = event_features(days, default_events(first, last))
    phases = [c for c in feats.columns[1:] if feats[c].to_numpy().any()]
    size = [sum(world.show_size(a, d, sl) for a, sl in world.planned_shows(d)) for d in days]
    x = np.column_stack(
        [
            np.array([(d - TODAY).days / 365.25 for d in days]),
            np.array([[d.weekday() == k for k in range(1, 7)] for d in days], dtype=float),
            np.log([r["spend"] for r in series]),
            np.log(size),
            feats.select(phases).to_numpy(),
        ]
    )
    names = ["trend", *(f"weekday{k}" for k in range(1, 7)), "log_spend", "log_size", *phases]
    y = np.log([r["gmv"] for r in series])
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    ci = dict(zip(["const", *names], fit.conf_int(alpha=0.01).tolist(), strict=True))
    lo, hi = ci["log_spend"]
    assert lo <= w.SPEND_ELASTICITY <= hi, ci["log_spend"]
    lo, hi = ci["double11_peak"]
    assert lo <= cal.BY_EVENT["double11"].peak <= hi, ci["double11_peak"]
    assert not lo <= 0.0 <= hi  # and it is a real lift, not noise
    # the trend: ln 1.3 a year on arrivals, of which log spend carries the elasticity's share
    lo, hi = ci["trend"]
    assert lo <= (1 - w.SPEND_ELASTICITY) * w.TREND_LOG_PER_YEAR <= hi, ci["trend"]


def test_old_days_are_cached_boundedly_and_regenerated_identically() -> None:
    world = w.World(7, TODAY, scale=0.05)
    old = next(
        d
        for d in (world.first_day + timedelta(days=k) for k in range(3, 30))
        if not world.is_rest_day(d)
    )
    assert old < world.detail_first_day == TODAY - timedelta(days=w.DETAIL_DAYS)
    before = world.sessions_on(old)
    signature = [(s.room_id, len(s.visits), int(s.visits.amount_fen.sum())) for s in before]
    orders = [o.order_id for o in world.orders_between(before[0].start_ts, before[-1].end_ts)]
    for i in range(w.OLD_DAY_CACHE):  # more (account, day) entries than the cache holds
        world.sessions_on(old + timedelta(days=10 + i))
        world.orders_between(before[0].start_ts + (10 + i) * 86400, before[0].end_ts + i * 86400)
    assert len(world._old_sessions) <= w.OLD_DAY_CACHE
    assert len(world._old_orders) <= w.OLD_DAY_CACHE
    again = world.sessions_on(old)
    assert all(a is not b for a, b in zip(before, again, strict=True))  # regenerated
    assert [(s.room_id, len(s.visits), int(s.visits.amount_fen.sum())) for s in again] == signature
    assert orders == [
        o.order_id for o in world.orders_between(before[0].start_ts, before[-1].end_ts)
    ]
    # the detail window is kept for good
    recent = world.sessions_on(TODAY - timedelta(days=5))
    assert all(
        a is b for a, b in zip(recent, world.sessions_on(TODAY - timedelta(days=5)), strict=True)
    )
