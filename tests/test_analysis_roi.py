"""ROI family: undefined values as None, repeat purchases by hand, and the sandbox's truths.

The truth test syncs a small sandbox shop through the real client (in-process, loopback) and
compares ``roi_by_room`` totals with the realized ROAS and repurchase share the sandbox
computes from its own orders (livekit/sandbox/truth.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from livekit.analysis import RoiResult, repurchases, roi, roi_by_room, roi_summary
from livekit.analysis.roi import (
    PROJECTION_ROOM_SCHEMA,
    NetRoasProjection,
    net_roas_by_day,
    repurchase_by_day,
)
from livekit.api.runner import run
from livekit.ingest.run import sync_async
from livekit.jobs import sandbox_session
from livekit.store import Store
from livekit.store.datasets import ORDER_ITEMS, ORDERS, ROOMS, get
from livekit.vocab.errors import LivekitError
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import make_settings

# The truth endpoint needs the viewer experiment's window (today-40 .. today-27) in the history.
HISTORY_DAYS = 41
SCALE = 0.1


def _finite_or_none(result: RoiResult) -> None:
    for name, value in asdict(result).items():
        assert value is None or math.isfinite(value), name


def test_roi_by_hand() -> None:
    r = roi(260.0, 100.0, refunds=20.0, gmv_7d=320.0, gross_margin=0.4)
    assert r.roas == pytest.approx(2.6)
    assert r.net_roas == pytest.approx(2.4)
    assert r.roas_7d == pytest.approx(3.2)
    assert r.net_roi_7d == pytest.approx(2.2)
    assert r.breakeven_roas == pytest.approx(2.5)
    assert r.above_breakeven is True


def test_roi_undefined_is_none() -> None:
    zero = roi(500.0, 0.0, refunds=10.0, gmv_7d=600.0, gross_margin=0.0)
    assert (zero.roas, zero.net_roas, zero.roas_7d, zero.net_roi_7d) == (None, None, None, None)
    assert zero.breakeven_roas is None
    assert zero.above_breakeven is None
    _finite_or_none(zero)
    no_margin = roi(100.0, 50.0)
    assert no_margin.breakeven_roas is None
    assert no_margin.roas_7d is None  # no 7-day GMV given
    _finite_or_none(no_margin)
    with pytest.raises(LivekitError, match="不能为负"):
        roi(100.0, -1.0)
    with pytest.raises(LivekitError, match="毛利率"):
        roi(100.0, 10.0, gross_margin=1.5)
    with pytest.raises(LivekitError, match="有限"):
        roi(float("nan"), 10.0)


T0 = datetime(2026, 11, 1, 20, 0)


def _orders(
    rows: list[tuple[str, str, int | None, float, int]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(order_id, buyer, pay hour offset or None, amount, room_id) -> orders, order_items."""
    orders = pl.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "doudian_open_id": [r[1] for r in rows],
            "create_time": [T0 + timedelta(hours=r[2] or 0) for r in rows],
            "pay_time": [None if r[2] is None else T0 + timedelta(hours=r[2]) for r in rows],
            "pay_amount": [r[3] for r in rows],
        }
    )
    items = pl.DataFrame({"parent_order_id": [r[0] for r in rows], "room_id": [r[4] for r in rows]})
    return orders, items


def test_repurchases_by_hand() -> None:
    orders, items = _orders(
        [
            ("o1", "A", 0, 100.0, 1),  # A buys in room 1
            ("o2", "A", 1, 30.0, 1),  # A again in room 1: own GMV, not a repurchase
            ("o3", "A", 48, 50.0, 0),  # 2 days later, not in a live room: repurchase of room 1
            ("o4", "A", 7 * 24, 20.0, 0),  # exactly 7 days after the first payment: counted
            ("o5", "A", 7 * 24 + 1, 999.0, 0),  # past the window
            ("o6", "B", 2, 80.0, 1),  # B buys in room 1 ...
            ("o7", "B", 26, 60.0, 2),  # ... and in room 2 a day later: room 1's repurchase
            ("o8", "B", 30, 15.0, 0),  # repurchase of room 1 and of room 2
            ("o9", "C", None, 70.0, 1),  # never paid: no buyer
            ("o10", "C", -5, 40.0, 0),  # before any room purchase
        ]
    )
    rep = repurchases(orders, items).sort("room_id")
    assert rep.select(
        "room_id", "buyers", "gmv_orders", "repurchase_orders", "gmv_repurchase"
    ).rows() == [
        (1, 2, 210.0, 4, 50.0 + 20.0 + 60.0 + 15.0),
        (2, 1, 60.0, 1, 15.0),
    ]
    rooms = pl.DataFrame(
        {
            "date": [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 2)],
            "room_id": [1, 2, 3],
            "end_time": [T0 + timedelta(hours=3), T0 + timedelta(hours=27), None],
            "stat_cost": [100.0, 40.0, 0.0],
            "live_pay_order_gmv_alias": [210.0, 60.0, 0.0],
            "live_order_refund_amount_7d": [30.0, 0.0, 0.0],
        }
    )
    as_of = T0 + timedelta(days=8)  # room 1's window (first payments at +0 h and +2 h) closed
    by_room = roi_by_room(rooms, orders, items, gross_margin=0.5, as_of=as_of)
    one, two, three = by_room.iter_rows(named=True)
    assert one["gmv_7d"] == pytest.approx(210.0 + 145.0)
    assert one["repurchase_share"] == pytest.approx(145.0 / 355.0)
    assert one["roas"] == pytest.approx(2.1)
    assert one["net_roas"] == pytest.approx(1.8)
    assert one["roas_7d"] == pytest.approx(3.55)
    assert one["net_roi_7d"] == pytest.approx(2.55)
    assert one["breakeven_roas"] == pytest.approx(2.0)
    assert [one["window_closed"], two["window_closed"], three["window_closed"]] == [
        True,
        False,  # ends at +27 h: its window closes at +27 h + 7 d
        False,  # still on air
    ]
    assert three["roas"] is None  # zero spend
    assert three["repurchase_share"] is None  # no GMV at all
    summary = roi_summary(by_room, gross_margin=0.5).row(0, named=True)
    assert summary["rooms"] == 3
    assert summary["roas"] == pytest.approx(270.0 / 140.0)
    assert summary["rooms_7d"] == 1  # only room 1's window has closed
    assert summary["roas_7d"] == pytest.approx(355.0 / 100.0)
    everything = roi_summary(by_room, include_open_windows=True).row(0, named=True)
    assert everything["gmv_7d"] == pytest.approx(270.0 + 145.0 + 15.0)


def test_repurchase_by_day_sums_each_day() -> None:
    by_room = pl.DataFrame(
        {
            "date": [date(2026, 11, 2), date(2026, 11, 1), date(2026, 11, 2)],
            "gmv": [100.0, 250.0, 40.0],
            "gmv_repurchase": [10.0, 30.0, 5.5],
        }
    )
    per_day = repurchase_by_day(by_room)
    assert per_day.rows() == [(date(2026, 11, 1), 250.0, 30.0), (date(2026, 11, 2), 140.0, 15.5)]


def _projection(
    rows: list[tuple[int, date, float, float, float, float | None, bool]],
) -> NetRoasProjection:
    """A projection with these rooms: (room_id, date, spend, gmv, refunds so far, refunds
    projected or None, provisional); the totals are not read by net_roas_by_day."""
    frame = pl.DataFrame(
        {
            "room_id": [r[0] for r in rows],
            "date": [r[1] for r in rows],
            "spend": [r[2] for r in rows],
            "gmv": [r[3] for r in rows],
            "refunds": [r[4] for r in rows],
            "refunds_projected": [r[5] for r in rows],
            "provisional": [r[6] for r in rows],
        },
        schema_overrides={"refunds_projected": pl.Float64},
    ).with_columns(
        pl.lit(None, dtype).alias(name)
        for name, dtype in PROJECTION_ROOM_SCHEMA.items()
        if name not in ("room_id", "spend", "gmv", "refunds", "refunds_projected", "provisional")
    )
    return NetRoasProjection(
        rooms=frame,
        as_of=datetime(2026, 11, 3, 8, 0),
        level=0.9,
        spend=0.0,
        gmv=0.0,
        refunds=0.0,
        refunds_projected=None,
        refunds_low=None,
        refunds_high=None,
        net_roas=None,
        net_roas_projected=None,
        net_roas_low=None,
        net_roas_high=None,
        breakeven_roas=None,
        verdict="undefined",
        provisional_rooms=0,
        final_at=None,
        development=None,
    )


def test_net_roas_by_day_adds_the_rooms_expectations() -> None:
    day1, day2, day3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
    projection = _projection(
        [
            (1, day2, 100.0, 300.0, 10.0, 25.0, True),
            (2, day1, 200.0, 500.0, 40.0, 40.0, False),
            (3, day2, 50.0, 100.0, 0.0, 8.0, True),
            (4, day3, 0.0, 20.0, 0.0, None, True),  # no projection: the day has none
        ]
    )
    daily = net_roas_by_day(projection)
    assert daily["date"].to_list() == [day1, day2, day3]
    one, two, three = daily.iter_rows(named=True)
    assert (one["rooms"], one["provisional_rooms"]) == (1, 0)
    assert one["net_roas_projected"] == one["net_roas"] == pytest.approx(460.0 / 200.0)
    assert (two["rooms"], two["provisional_rooms"]) == (2, 2)
    assert two["roas"] == pytest.approx(400.0 / 150.0)
    assert two["net_roas"] == pytest.approx(390.0 / 150.0)
    assert two["net_roas_projected"] == pytest.approx((400.0 - 33.0) / 150.0)
    assert three["refunds_projected"] is None
    assert three["roas"] is None  # no spend
    assert three["net_roas_projected"] is None


# ---- against the sandbox's truth ------------------------------------------------------------


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    home = tmp_path_factory.mktemp("roi")
    config = make_config(scale=SCALE, history_days=HISTORY_DAYS)
    with sandbox_session(make_settings(home), config) as session:
        truth: dict[str, Any] = httpx.get(session.url + "/sandbox/truth", timeout=60).json()
        start = date.fromisoformat(truth["history"]["first_day"])
        run(
            sync_async(
                session.settings,
                start,
                TODAY,
                now=NOW,
                datasets=["rooms", "orders", "order_items"],
                viewer_export_url=session.viewer_export_url,
            )
        )
        yield truth, home / "sandbox" / "store"


@pytest.fixture(scope="module")
def by_room(synced: tuple[dict[str, Any], Path]) -> pl.DataFrame:
    _, store_dir = synced
    store = Store(store_dir)
    frames = {d.name: store.read(d.name, get(d.name).schema) for d in (ROOMS, ORDERS, ORDER_ITEMS)}
    return roi_by_room(frames["rooms"], frames["orders"], frames["order_items"], as_of=NOW)


def test_realized_roas_matches_truth(
    synced: tuple[dict[str, Any], Path], by_room: pl.DataFrame
) -> None:
    truth = synced[0]["roas"]
    before_today = roi_summary(by_room.filter(pl.col("date") < TODAY)).row(0, named=True)
    assert before_today["gmv"] == pytest.approx(truth["gmv_yuan"], abs=0.005)
    assert before_today["spend"] == pytest.approx(truth["spend_yuan"], abs=0.005)
    assert before_today["roas"] == pytest.approx(truth["realized"], abs=5e-5 + 1e-9)


def test_repurchase_share_matches_truth(
    synced: tuple[dict[str, Any], Path], by_room: pl.DataFrame
) -> None:
    truth = synced[0]["repurchase"]
    assert truth["window_days"] == 7
    through = date.fromisoformat(truth["rooms_through"])
    closed = by_room.filter(pl.col("date") <= through)
    assert closed["window_closed"].all()
    summary = roi_summary(closed).row(0, named=True)
    assert summary["rooms_7d"] == closed.height > 0
    assert summary["gmv_repurchase"] > 0
    assert summary["repurchase_share"] == pytest.approx(
        truth["realized_share_of_7d_gmv"], abs=5e-5 + 1e-9
    )
    # 抖店's view of each room's GMV is 千川's (the same paid orders)
    assert by_room["gmv_orders"].to_list() == pytest.approx(by_room["gmv"].to_list(), abs=0.005)
