"""Every number the sandbox serves is an aggregate of the same visits and orders.

All checks go through the real endpoints over HTTP (巨量千川 GETs, signed 抖店 POSTs and the
viewer export) and compare exact integers: money is converted to fen before it is summed, so
"to the cent" means equality, not a tolerance.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from livekit.sandbox.server import RunningSandbox, running_sandbox
from livekit.sandbox.world import CHINA_TZ
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.shop import (
    COUNT_FIELDS,
    MONEY_FIELDS,
    PAID_SOURCE,
    ROOM_FIELDS,
    ExportRow,
    Shop,
    day_start,
    fen,
    moment,
)


def live_paid_by_room(orders: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """(paid orders, pay_amount fen) per room, from 抖店 orders placed in a live room."""
    out: dict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for o in orders:
        sku = o["sku_order_list"][0]
        if sku["theme_type"] != "1" or not sku["room_id"] or o["pay_time"] <= 0:
            continue
        n, amount = out[int(sku["room_id"])]
        out[int(sku["room_id"])] = (n + 1, amount + o["pay_amount"])
    return out


# ---- fixtures -------------------------------------------------------------------------
DAYS = (TODAY, TODAY - timedelta(days=1), TODAY - timedelta(days=9))


@pytest.fixture(scope="module")
def shop(server: RunningSandbox) -> Iterator[Shop]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield Shop.open(server, http)


@pytest.fixture(scope="module")
def rooms(shop: Shop) -> dict[date, list[dict[str, Any]]]:
    out = {d: shop.all_rooms(d) for d in DAYS}
    assert all(out.values()), "every checked day has rooms"
    return out


@pytest.fixture(scope="module")
def exports(shop: Shop) -> dict[date, list[ExportRow]]:
    return {d: shop.export_rows(d, d) for d in DAYS}


@pytest.fixture(scope="module")
def orders(shop: Shop) -> dict[date, list[dict[str, Any]]]:
    return {d: shop.day_orders(d) for d in DAYS}


def test_the_checked_rooms_include_the_living_one(rooms: dict[date, list[dict[str, Any]]]) -> None:
    statuses = Counter(r["room_status"] for day in rooms.values() for r in day)
    assert statuses["LIVING"] == 1
    assert statuses["FINISH"] >= 4
    living = next(r for r in rooms[TODAY] if r["room_status"] == "LIVING")
    assert living["end_time"] == ""
    assert living["total_live_watch_cnt"] > 0


# ---- room = sum of its products --------------------------------------------------------
@pytest.mark.parametrize("d", DAYS, ids=str)
def test_room_totals_equal_the_sum_of_products(
    shop: Shop, rooms: dict[date, list[dict[str, Any]]], d: date
) -> None:
    for room in rooms[d]:
        products = shop.products(room["room_id"])
        assert products
        assert sum(fen(p["live_pay_order_gmv_alias"]) for p in products) == fen(
            room["live_pay_order_gmv_alias"]
        )
        assert (
            sum(p["live_pay_order_count_alias"] for p in products)
            == (room["live_pay_order_count_alias"])
        )
        assert sum(fen(p["luban_live_pay_order_gmv"]) for p in products) == fen(
            room["luban_live_pay_order_gmv"]
        )
        assert (
            sum(p["luban_live_pay_order_count"] for p in products)
            == (room["luban_live_pay_order_count"])
        )
        assert room["convert_cnt"] == room["luban_live_pay_order_count"]


# ---- room = its viewer export ----------------------------------------------------------
@pytest.mark.parametrize("d", DAYS, ids=str)
def test_room_totals_equal_the_viewer_export(
    rooms: dict[date, list[dict[str, Any]]], exports: dict[date, list[ExportRow]], d: date
) -> None:
    by_room: dict[int, list[ExportRow]] = defaultdict(list)
    for row in exports[d]:
        by_room[row.room_id].append(row)
    assert set(by_room) == {r["room_id"] for r in rooms[d]}
    for room in rooms[d]:
        rows = by_room[room["room_id"]]
        ad = [r for r in rows if r.traffic_source == PAID_SOURCE]
        assert len(rows) == room["total_live_watch_cnt"]
        assert sum(r.paid for r in rows) == room["live_pay_order_count_alias"]
        assert sum(r.pay_fen for r in rows) == fen(room["live_pay_order_gmv_alias"])
        assert (
            sum(r.clicked_product_id is not None for r in rows)
            == (room["live_click_product_count_alias"])
        )
        assert len(ad) == room["click_cnt"]
        assert sum(r.paid for r in ad) == room["luban_live_pay_order_count"]
        assert sum(r.pay_fen for r in ad) == fen(room["luban_live_pay_order_gmv"])
        # a payer always clicked a product, and only payers carry an amount
        assert all(r.clicked_product_id is not None for r in rows if r.paid)
        assert all(r.pay_fen == 0 for r in rows if not r.paid)


def test_csv_and_parquet_exports_hold_the_same_rows(
    shop: Shop, exports: dict[date, list[ExportRow]]
) -> None:
    import polars as pl

    frame = pl.read_parquet(io.BytesIO(shop.export_bytes(TODAY, TODAY, "parquet")))
    rows = exports[TODAY]
    assert frame.height == len(rows)
    assert frame["room_id"].to_list() == [r.room_id for r in rows]
    assert frame["viewer_id"].to_list() == [r.viewer_id for r in rows]
    assert frame["leave_time"].to_list() == [r.leave_time for r in rows]
    assert frame["clicked_product_id"].to_list() == [r.clicked_product_id for r in rows]
    assert frame["paid"].to_list() == [r.paid for r in rows]
    assert [fen(x) for x in frame["pay_amount"].to_list()] == [r.pay_fen for r in rows]


def test_living_room_export_is_cut_at_now(
    rooms: dict[date, list[dict[str, Any]]], exports: dict[date, list[ExportRow]]
) -> None:
    living = next(r for r in rooms[TODAY] if r["room_status"] == "LIVING")
    rows = [r for r in exports[TODAY] if r.room_id == living["room_id"]]
    now = NOW.strftime("%Y-%m-%d %H:%M:%S")
    assert max(r.enter_time for r in rows) <= now
    assert max(r.leave_time for r in rows) == now  # open visits are censored at now
    assert all(r.leave_time >= r.enter_time for r in rows)


# ---- traffic sources and audience --------------------------------------------------------
@pytest.mark.parametrize("d", DAYS, ids=str)
def test_flow_performance_and_audience_match(
    shop: Shop,
    rooms: dict[date, list[dict[str, Any]]],
    exports: dict[date, list[ExportRow]],
    d: date,
) -> None:
    for room in rooms[d]:
        rid = room["room_id"]
        rows = [r for r in exports[d] if r.room_id == rid]
        flow = shop.data("v1.0/qianchuan/today_live/room/flow_performance/get/", room_id=rid)
        assert sum(flow.values()) == room["total_live_watch_cnt"]
        assert flow[PAID_SOURCE] == room["click_cnt"]
        assert flow == {
            **dict.fromkeys(flow, 0),
            **Counter(r.traffic_source for r in rows),
        }
        for event, people in (
            ("ENTER", {r.viewer_id for r in rows}),
            ("PAY", {r.viewer_id for r in rows if r.paid}),
        ):
            split = shop.data(
                "v1.0/qianchuan/today_live/room/user/get/",
                room_id=rid,
                action_event=event,
                dimension=["CITY", "GENDER", "AGE"],
            )
            assert sum(x["value"] for x in split["gender"]) == len(people), event
            assert sum(x["value"] for x in split["age"]) == len(people), event
            assert sum(x["value"] for x in split["city"]) == len(people), event


# ---- day reports = sum of the day's rooms ------------------------------------------------
@pytest.mark.parametrize("d", DAYS, ids=str)
def test_report_live_equals_the_sum_of_the_days_rooms(
    shop: Shop, rooms: dict[date, list[dict[str, Any]]], d: date
) -> None:
    for aweme_id in shop.aweme_ids:
        mine = [r for r in rooms[d] if r["aweme_id"] == aweme_id]
        report = shop.data(
            "v1.0/qianchuan/report/live/get/",
            aweme_id=aweme_id,
            start_time=f"{d} 00:00:00",
            end_time=f"{d} 23:59:59",
            fields=ROOM_FIELDS,
        )
        for f in COUNT_FIELDS:
            assert report[f] == sum(r[f] for r in mine), f
        for f in MONEY_FIELDS:
            assert fen(report[f]) == sum(fen(r[f]) for r in mine), f


def test_account_daily_report_equals_the_sum_of_the_days_rooms(shop: Shop) -> None:
    first = TODAY - timedelta(days=9)
    report = shop.data(
        "v1.0/qianchuan/report/advertiser/get/",
        start_date=first.isoformat(),
        end_date=TODAY.isoformat(),
        fields=["stat_cost", "click_cnt", "pay_order_count", "pay_order_amount"],
        filtering={"marketing_goal": "LIVE_PROM_GOODS"},
        time_granularity="TIME_GRANULARITY_DAILY",
    )
    by_day = {row["stat_datetime"][:10]: row for row in report["list"]}
    checked = 0
    for i in range(10):
        d = first + timedelta(days=i)
        day_rooms = shop.all_rooms(d)
        if not day_rooms:
            assert d.isoformat() not in by_day
            continue
        row = by_day[d.isoformat()]
        assert fen(row["stat_cost"]) == sum(fen(r["stat_cost"]) for r in day_rooms)
        assert row["click_cnt"] == sum(r["click_cnt"] for r in day_rooms)
        assert row["pay_order_count"] == sum(r["luban_live_pay_order_count"] for r in day_rooms)
        assert fen(row["pay_order_amount"]) == sum(
            fen(r["luban_live_pay_order_gmv"]) for r in day_rooms
        )
        checked += 1
    assert checked >= 8


# ---- 抖店 orders = room counters -------------------------------------------------------
@pytest.mark.parametrize("d", DAYS, ids=str)
def test_doudian_paid_live_orders_equal_room_totals(
    rooms: dict[date, list[dict[str, Any]]], orders: dict[date, list[dict[str, Any]]], d: date
) -> None:
    paid = live_paid_by_room(orders[d])
    assert set(paid) == {r["room_id"] for r in rooms[d]}
    for room in rooms[d]:
        n, amount = paid[room["room_id"]]
        assert n == room["live_pay_order_count_alias"]
        assert amount == fen(room["live_pay_order_gmv_alias"])
    created = Counter(
        int(o["sku_order_list"][0]["room_id"])
        for o in orders[d]
        if o["sku_order_list"][0]["theme_type"] == "1"
    )
    for room in rooms[d]:
        assert created[room["room_id"]] == room["live_create_order_count_alias"]


@pytest.mark.parametrize("d", DAYS, ids=str)
def test_orders_are_consistent_with_themselves(
    orders: dict[date, list[dict[str, Any]]], d: date
) -> None:
    for o in orders[d]:
        skus = o["sku_order_list"]
        assert o["pay_amount"] == sum(s["pay_amount"] for s in skus)
        assert all(s["parent_order_id"] == o["order_id"] for s in skus)
        assert all(s["order_status"] == o["order_status"] for s in skus)
        live = skus[0]["theme_type"] == "1"
        assert live == (skus[0]["room_id"] != 0)
        assert live == (skus[0]["author_id"] != 0)
        if o["pay_time"]:
            assert o["create_time"] <= o["pay_time"]


@pytest.mark.parametrize("d", DAYS, ids=str)
def test_abandoned_orders_are_pending_then_cancelled_and_not_in_gmv(
    rooms: dict[date, list[dict[str, Any]]], orders: dict[date, list[dict[str, Any]]], d: date
) -> None:
    now = int(NOW.timestamp())
    unpaid = [o for o in orders[d] if o["pay_time"] == 0]
    assert unpaid
    for o in unpaid:
        expected = 4 if o["create_time"] + 1800 <= now else 1
        assert o["order_status"] == expected, o["order_id"]
        assert o["order_status_desc"] == ("已取消" if expected == 4 else "待支付")
        assert o["cancel_reason"] == ("超时未支付" if expected == 4 else "")
        assert o["finish_time"] == 0
        assert o["sku_order_list"][0]["after_sale_info"]["refund_status"] == 0
    # unpaid orders were placed in the rooms; including them would overshoot GMV
    for room in rooms[d]:
        unpaid_fen = sum(
            o["pay_amount"]
            for o in unpaid
            if int(o["sku_order_list"][0]["room_id"]) == room["room_id"]
        )
        assert unpaid_fen > 0
        assert live_paid_by_room(orders[d])[room["room_id"]][1] == fen(
            room["live_pay_order_gmv_alias"]
        )
    if d == TODAY:  # the show on air has orders still waiting for payment
        assert any(o["order_status"] == 1 for o in unpaid)
    else:
        assert all(o["order_status"] == 4 for o in unpaid)


@pytest.mark.parametrize("d", DAYS, ids=str)
def test_refunds_stay_in_gmv_and_appear_in_the_room_refund_amount(
    rooms: dict[date, list[dict[str, Any]]], orders: dict[date, list[dict[str, Any]]], d: date
) -> None:
    refunded_fen: Counter[int] = Counter()
    refunded_n: Counter[int] = Counter()
    kinds: Counter[int] = Counter()
    for o in orders[d]:
        sku = o["sku_order_list"][0]
        after = sku["after_sale_info"]
        if after["refund_status"] == 0:
            assert after["after_sale_status"] == 0
            continue
        assert o["pay_time"] > 0  # only paid orders are refunded
        assert after["refund_status"] == 3
        assert after["after_sale_status"] == 12
        pre_shipment = after["after_sale_type"] == 2
        kinds[after["after_sale_type"]] += 1
        if pre_shipment:
            assert o["order_status"] == 4
        else:  # 1: refunded after shipping, before receipt; 0: returned after receipt
            assert after["after_sale_type"] in (0, 1)
            assert o["order_status"] in (3, 5)
        # the room counts refunds within 7 days of payment; a refunded order's update_time is
        # its refund time (late-delivery refunds can come later than that)
        if sku["theme_type"] == "1" and o["update_time"] <= o["pay_time"] + 7 * 86400:
            refunded_fen[int(sku["room_id"])] += o["pay_amount"]
            refunded_n[int(sku["room_id"])] += 1
    for room in rooms[d]:
        assert fen(room["live_order_refund_amount_7d"]) == refunded_fen[room["room_id"]]
        assert room["live_order_refund_count_7d"] == refunded_n[room["room_id"]]
    if d == TODAY - timedelta(days=9):
        # every refund of a room nine days old has happened, and the refunded orders are among
        # the paid orders that add up to the room GMV (test_doudian_paid_live_orders_...)
        assert sum(refunded_n.values()) > 0
        assert kinds[1] > 0
    if d == TODAY:
        assert sum(refunded_n.values()) == 0  # refunds come at least 12 hours after payment


def test_pre_shipment_refunds_cancel_the_order(shop: Shop) -> None:
    """Over ten days of orders every refund kind occurs (before shipping, after shipping, after
    receipt); only a pre-shipment one cancels."""
    orders = shop.orders(day_start(TODAY - timedelta(days=10)), int(NOW.timestamp()))
    statuses: dict[int, Counter[int]] = defaultdict(Counter)
    for o in orders:
        after = o["sku_order_list"][0]["after_sale_info"]
        if after["refund_status"] == 3:
            statuses[after["after_sale_type"]][o["order_status"]] += 1
    assert set(statuses) == {0, 1, 2}
    assert set(statuses[2]) == {4}
    assert set(statuses[1]) <= {3, 5}
    assert set(statuses[0]) <= {3, 5}
    assert sum(statuses[2].values()) > 0


def test_orders_follow_their_visit_in_time(server: RunningSandbox) -> None:
    """Not visible over HTTP (orders carry no visit), so checked on the world itself: an
    order is created after its buyer entered and clicked, and paid after it was created."""
    world = server.sandbox.world
    checked = 0
    for d in DAYS:
        for s in world.sessions_on(d):
            v = s.visits
            for o in s.orders:
                if o.kind == "repurchase":
                    continue
                click_ts = s.start_ts + float(v.click_s[o.visit])
                assert s.start_ts + v.enter_s[o.visit] <= click_ts <= o.create_ts, o.order_id
                if o.pay_ts:
                    assert o.create_ts <= o.pay_ts <= s.end_ts
                    assert o.pay_ts == s.start_ts + v.pay_s[o.visit]  # whole seconds
                checked += 1
    assert checked > 100


# ---- the living room, as the clock moves -----------------------------------------------
@pytest.fixture(scope="module")
def moving() -> Iterator[Shop]:
    """A second sandbox whose clock the tests move (the shared `server` stays frozen)."""
    with (
        running_sandbox(make_config()) as running,
        httpx.Client(base_url=running.url, timeout=60) as http,
    ):
        yield Shop.open(running, http)


def _main_evening(shop: Shop) -> dict[str, Any]:
    rooms = shop.rooms(shop.aweme_ids[0], TODAY)
    return max(rooms, key=lambda r: r["start_time"])


def test_living_room_counters_grow_and_stay_below_the_final_values(moving: Shop) -> None:
    moments = ["2026-11-28 20:00:00", "2026-11-28 21:00:00", "2026-11-28 22:15:00"]
    seen = []
    for now in moments:
        moving.set_clock(now)
        room = _main_evening(moving)
        assert room["room_status"] == "LIVING"
        seen.append(room)
    moving.set_clock("2026-11-28 23:59:00")
    final = _main_evening(moving)
    assert final["room_status"] == "FINISH"
    assert final["room_id"] == seen[0]["room_id"]
    grows = ["total_live_watch_cnt", "click_cnt", "live_click_product_count_alias"]
    for f in COUNT_FIELDS:
        values = [r[f] for r in seen] + [final[f]]
        assert values == sorted(values), f
        if f in grows:
            assert values[0] < values[1] < values[2] < values[3], f
    for f in MONEY_FIELDS - {"live_order_refund_amount_7d"}:
        values = [fen(r[f]) for r in seen] + [fen(final[f])]
        assert values == sorted(values), f
    assert fen(seen[0]["live_pay_order_gmv_alias"]) < fen(final["live_pay_order_gmv_alias"])


def test_living_room_products_inventory_only_falls(moving: Shop) -> None:
    moving.set_clock("2026-11-28 20:00:00")
    rid = _main_evening(moving)["room_id"]
    before = {p["productId"]: p for p in moving.products(rid)}
    moving.set_clock("2026-11-28 23:59:00")
    after = {p["productId"]: p for p in moving.products(rid)}
    assert before.keys() == after.keys()
    for pid, p in after.items():
        sold = p["live_pay_order_count_alias"] - before[pid]["live_pay_order_count_alias"]
        assert sold >= 0
        assert p["live_product_Inventory"] <= before[pid]["live_product_Inventory"]
        if sold:
            assert p["live_product_Inventory"] < before[pid]["live_product_Inventory"]


def test_orders_and_room_counters_agree_at_the_second_of_each_payment(moving: Shop) -> None:
    """抖店 pay_time is whole seconds: at that very second the room must count the payment."""
    moving.set_clock("2026-11-28 23:59:00")
    room = _main_evening(moving)
    rid = room["room_id"]
    start = int(
        datetime.strptime(room["start_time"], "%Y-%m-%d %H:%M:%S")
        .replace(tzinfo=CHINA_TZ)
        .timestamp()
    )
    day_orders = moving.day_orders(TODAY)
    pay_times = sorted(
        o["pay_time"]
        for o in day_orders
        if int(o["sku_order_list"][0]["room_id"]) == rid and o["pay_time"]
    )
    assert len(pay_times) == room["live_pay_order_count_alias"]
    for ts in pay_times[5:300:25]:
        for now in (ts - 1, ts):
            moving.set_clock(moment(now))
            current = _main_evening(moving)
            expected = live_paid_by_room(moving.orders(start - 3600, now))[rid]
            assert current["live_pay_order_count_alias"] == expected[0], moment(now)
            assert fen(current["live_pay_order_gmv_alias"]) == expected[1], moment(now)
