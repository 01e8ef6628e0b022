"""Cumulative counters → flows and rates (livekit.monitor.live), checked by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from livekit.monitor.live import History, LiveState
from livekit.monitor.poll import empty_products, empty_rooms
from livekit.sandbox.world import CHINA_TZ

START = datetime(2026, 11, 22, 19, 30, tzinfo=CHINA_TZ)


def room_rows(at: datetime, room_id: int = 1, **counters: float) -> pl.DataFrame:
    base = {c: 0 for c in empty_rooms().columns if c not in {"snapshot_time"}}
    base.update(
        room_id=room_id,
        advertiser_id=10,
        aweme_id=100,
        aweme_name="店铺号",
        room_title=f"直播间{room_id}",
        start_time=START,
        live_pay_order_gmv_alias=0.0,
        stat_cost=0.0,
    )
    base.update(counters)
    return pl.DataFrame([{**base, "snapshot_time": at}], schema=empty_rooms().schema)


def product_rows(at: datetime, orders: int, ratio: float, inventory: int) -> pl.DataFrame:
    row = {
        "snapshot_time": at,
        "room_id": 1,
        "productId": 555,
        "title": "保温杯",
        "explain_status": "BEINGEXPLAIN",
        "live_product_Inventory": inventory,
        "live_product_explain_cnt": 1,
        "live_pay_order_count_alias": orders,
        "live_pay_order_gmv_alias": orders * 59.0,
        "product_click_pay_ucnt_ratio": ratio,
    }
    return pl.DataFrame([row], schema=empty_products().schema)


def feed(state: LiveState, minute: float, prod: pl.DataFrame | None = None, **c: float) -> None:
    at = START + timedelta(minutes=minute)
    state.update(at, room_rows(at, **c), prod if prod is not None else empty_products())


def test_flows_and_rates_over_a_window() -> None:
    """Flows per minute; rates as fractions (12 clicks of 150 viewers is 0.08, not 8)."""
    s = LiveState()
    feed(
        s,
        10,
        total_live_watch_cnt=500,
        live_click_product_count_alias=40,
        live_pay_order_count_alias=8,
        live_pay_order_gmv_alias=800.0,
        total_live_comment_cnt=30,
        total_live_share_cnt=5,
    )
    feed(
        s,
        13,
        total_live_watch_cnt=650,
        live_click_product_count_alias=52,
        live_pay_order_count_alias=11,
        live_pay_order_gmv_alias=1130.0,
        total_live_comment_cnt=39,
        total_live_share_cnt=8,
    )
    (key,) = s.series("room")
    assert s.minute_of_show(key) == 13
    v = lambda m, w=3: s.value(m, key, w)  # noqa: E731
    assert v("new_viewers_per_min").value == pytest.approx(150 / 3)
    assert v("clicks_per_min").value == pytest.approx(12 / 3)
    assert v("orders_per_min").value == pytest.approx(3 / 3)
    assert v("gmv_per_min").value == pytest.approx(330 / 3)
    assert v("comments_per_min").value == pytest.approx(9 / 3)
    cr = v("click_rate")
    assert (cr.value, cr.denominator) == (pytest.approx(12 / 150), 150)
    conv = v("conversion_rate")
    assert (conv.value, conv.denominator) == (pytest.approx(3 / 12), 12)
    assert v("interaction_rate").value == pytest.approx((9 + 3) / 150)
    # a window longer than the data reaches back to the zero point at the start of the show
    assert v("new_viewers_per_min", 60).value == pytest.approx(650 / 13)


def test_first_poll_already_gives_a_flow_from_the_start_of_the_show() -> None:
    s = LiveState()
    feed(s, 4, total_live_watch_cnt=200)
    (key,) = s.series("room")
    assert s.value("new_viewers_per_min", key, 3).value == pytest.approx(200 / 4)


def test_zero_denominator_is_no_data_not_a_crash() -> None:
    s = LiveState()
    feed(s, 10, total_live_watch_cnt=100)
    feed(s, 12, total_live_watch_cnt=120)
    (key,) = s.series("room")
    conv = s.value("conversion_rate", key, 2)
    assert conv.value is None
    assert conv.denominator == 0


def test_minutes_since_order() -> None:
    s = LiveState()
    feed(s, 10, live_pay_order_count_alias=5)
    (key,) = s.series("room")
    # orders before our first look: counted from the start of the show's zero point
    assert s.value("minutes_since_order", key, 5).value == pytest.approx(0.0)
    feed(s, 12, live_pay_order_count_alias=5)
    feed(s, 17, live_pay_order_count_alias=5)
    assert s.value("minutes_since_order", key, 5).value == pytest.approx(7.0)
    feed(s, 18, live_pay_order_count_alias=6)
    feed(s, 20, live_pay_order_count_alias=6)
    assert s.value("minutes_since_order", key, 5).value == pytest.approx(2.0)


def test_product_clicks_are_estimated_from_orders_and_the_click_to_pay_ratio() -> None:
    s = LiveState()
    feed(s, 10, prod=product_rows(START + timedelta(minutes=10), 10, 20.0, 30))
    feed(s, 15, prod=product_rows(START + timedelta(minutes=15), 10, 12.5, 0))
    (key,) = s.series("product")
    assert key.product_id == 555
    assert key.labels["product_title"] == "保温杯"
    # clicks: 10 / 0.20 = 50 at minute 10, 10 / 0.125 = 80 at minute 15
    clicks = s.value("clicks_per_min", key, 5)
    assert clicks.value == pytest.approx(30 / 5)
    conv = s.value("conversion_rate", key, 5)
    assert (conv.value, conv.denominator) == (0.0, pytest.approx(30))
    assert s.value("inventory", key, 5).value == 0
    assert s.value("orders_per_min", key, 5).value == 0


def test_product_without_sales_has_no_click_estimate() -> None:
    s = LiveState()
    feed(s, 10, prod=product_rows(START + timedelta(minutes=10), 0, 0.0, 30))
    feed(s, 12, prod=product_rows(START + timedelta(minutes=12), 0, 0.0, 30))
    (key,) = s.series("product")
    assert s.value("clicks_per_min", key, 2).value is None
    assert s.value("orders_per_min", key, 2).value == 0


def test_rooms_missing_from_a_poll_are_off_air() -> None:
    s = LiveState()
    feed(s, 10, total_live_watch_cnt=10)
    at = START + timedelta(minutes=11)
    s.update(at, empty_rooms(), empty_products())
    assert s.series("room") == []
    assert s.series("product") == []


def test_replay_rebuilds_the_same_state() -> None:
    live, frames = LiveState(), []
    for m, w in ((5, 100), (8, 180), (11, 260)):
        at = START + timedelta(minutes=m)
        frames.append(room_rows(at, total_live_watch_cnt=w))
        live.update(at, frames[-1], empty_products())
    again = LiveState()
    again.replay(pl.concat(frames), empty_products())
    (k1,), (k2,) = live.series("room"), again.series("room")
    assert again.now() == live.now()
    for metric in ("new_viewers_per_min", "minutes_since_order"):
        assert again.value(metric, k2, 3) == live.value(metric, k1, 3)


def test_history_median_is_the_same_minute_of_earlier_shows() -> None:
    frames = []
    for day, rate in ((1, 40), (2, 60), (3, 80)):
        start = START - timedelta(days=day)
        for m in range(0, 31, 5):
            at = start + timedelta(minutes=m)
            row = room_rows(at, room_id=day, total_live_watch_cnt=rate * m)
            frames.append(row.with_columns(pl.lit(start).alias("start_time")))
    history = History(pl.concat(frames), empty_products(), START.date())
    assert history.shows == 3
    assert history.median("new_viewers_per_min", "room", "100", None, 20, 5) == pytest.approx(60)
    # no earlier show reached minute 90
    assert history.median("new_viewers_per_min", "room", "100", None, 90, 5) is None


def test_terminal_view_shows_rates_as_percent() -> None:
    from rich.console import Console

    from livekit.monitor.view import TickInfo, render

    s = LiveState()
    feed(s, 10, total_live_watch_cnt=500, live_click_product_count_alias=40)
    feed(s, 15, total_live_watch_cnt=650, live_click_product_count_alias=52)
    (key,) = s.series("room")
    assert s.value("click_rate", key, 5).value == pytest.approx(0.08)
    console = Console(record=True, width=250)
    console.print(render(s, [], TickInfo(s.now(), 2, 3, 60.0)))
    assert "8.0%" in console.export_text()  # 12 clicks of 150 new viewers


def test_a_product_value_says_whether_it_was_explained_in_the_window() -> None:
    """BEINGEXPLAIN at either end of the window, or a rise of the explanation count between
    them (an explanation that began and ended between two polls), is an explained window."""
    s = LiveState()

    def poll(minute: int, status: str, count: int, orders: int) -> None:
        at = START + timedelta(minutes=minute)
        rows = product_rows(at, orders, 10.0, 100).with_columns(
            pl.lit(status).alias("explain_status"),
            pl.lit(count).cast(pl.Int64).alias("live_product_explain_cnt"),
        )
        feed(s, minute, prod=rows)

    poll(1, "UNEXPLAIN", 0, 1)
    poll(2, "UNEXPLAIN", 0, 1)
    (key,) = s.series("product")
    assert s.value("clicks_per_min", key, 1).explained is False
    poll(3, "BEINGEXPLAIN", 1, 2)
    explained = s.value("clicks_per_min", key, 1)
    assert (explained.value, explained.explained) == (pytest.approx(10.0), True)
    poll(4, "HASEXPLAIN", 1, 2)
    assert s.value("clicks_per_min", key, 1).explained is True  # explained at the window's start
    poll(5, "HASEXPLAIN", 1, 2)
    assert s.value("clicks_per_min", key, 1).explained is False
    poll(6, "HASEXPLAIN", 2, 2)  # explained again, between two polls
    assert s.value("clicks_per_min", key, 1).explained is True
    assert s.value("clicks_per_min", key, 5).explained is True  # any poll inside the window
    assert s.value("inventory", key, 1).explained is False  # a level: at the poll read
    (room,) = s.series("room")
    assert s.value("new_viewers_per_min", room, 1).explained is None  # rooms are not explained
