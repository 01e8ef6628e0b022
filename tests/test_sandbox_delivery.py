"""Delivery in the sandbox (issue 12): the 抖店 order fields over real HTTP, the planted
delivery times by province, and the extra refunds of late parcels.

* Protocol: every order of three weeks through signed ``order.searchList`` calls on loopback:
  the new shop and sku fields are int64 Unix seconds with 0 = not yet (equal to the world's
  own times where they are in the past, 0 where they are not), events in order (pay <= ship
  <= receipt <= confirm = finish), ``exp_ship_time`` = pay + 48 h, statuses that agree with the
  times, ``logistics_info`` only once shipped, and refunds before shipping that never ship.
* Truths: the realized payment -> receipt days per province (uncensored, from the model) sit
  at the published median and 90th percentile; a large draw from the model itself does too.
* Late parcels are refunded more, at the rates the truth expects, read from the wire; and
  the refunds reach the room aggregates (7-day refunds) consistently with the orders.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from scipy import stats

from livekit.sandbox import catalog
from livekit.sandbox import delivery as dv
from livekit.sandbox.server import RunningSandbox
from livekit.sandbox.truth import truth
from livekit.sandbox.truth_delivery import late_refund, provinces, ship_late_share
from livekit.sandbox.world import Order, SkuLine, World
from tests.helpers.sandbox import NOW, TODAY
from tests.helpers.shop import Shop, day_start, fen

NOW_TS = int(NOW.timestamp())
DAY = 86400
WEEKS = 3  # orders created in the last three weeks are read over HTTP
SHOP_TIMES = ("exp_ship_time", "ship_time", "finish_time")
SKU_TIMES = (
    "exp_ship_time",
    "ship_time",
    "logistics_receipt_time",
    "confirm_receipt_time",
    "finish_time",
)
PARCEL_KEYS = {"tracking_no", "company", "company_name", "ship_time", "delivery_id", "product_info"}
PRODUCT_INFO_KEYS = {
    "product_id",
    "product_id_str",
    "sku_order_id",
    "product_count",
    "price",
    "product_name",
}
REFUNDED = 3


@pytest.fixture(scope="module")
def shop(server: RunningSandbox) -> Iterator[Shop]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield Shop.open(server, http)


@pytest.fixture(scope="module")
def world(server: RunningSandbox) -> World:
    w: World = server.sandbox.world
    return w


@pytest.fixture(scope="module")
def published(world: World) -> dict[str, Any]:
    """What ``livekit sandbox truth`` publishes about delivery."""
    out: dict[str, Any] = truth(world)["delivery"]
    return out


@pytest.fixture(scope="module")
def wire(shop: Shop) -> list[dict[str, Any]]:
    """Every order created in the last WEEKS weeks, as order.searchList serves it at NOW."""
    out = shop.orders(NOW_TS - WEEKS * 7 * DAY, NOW_TS)
    assert len(out) > 1000
    return out


@pytest.fixture(scope="module")
def by_id(world: World) -> dict[str, Order]:
    return {o.order_id: o for o in world.orders_between(NOW_TS - WEEKS * 7 * DAY, NOW_TS)}


def seen(ts: int) -> int:
    return ts if 0 < ts <= NOW_TS else 0


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# ---- protocol ----------------------------------------------------------------------------------
def test_times_are_int_seconds_and_zero_until_they_happen(
    wire: list[dict[str, Any]], by_id: dict[str, Order]
) -> None:
    moving = Counter()
    for so in wire:
        o = by_id[so["order_id"]]
        paid = seen(o.pay_ts) > 0
        for key in (*SHOP_TIMES, "update_time", "main_status"):
            assert is_int(so[key]), (key, so[key])
        assert so["exp_ship_time"] == (o.exp_ship_ts if paid else 0)
        assert so["ship_time"] == seen(o.ship_ts)
        assert so["finish_time"] == seen(o.confirm_ts)
        for sku in so["sku_order_list"]:
            assert all(is_int(sku[k]) for k in (*SKU_TIMES, "main_status"))
            assert sku["exp_ship_time"] == so["exp_ship_time"]
            assert sku["ship_time"] == so["ship_time"]
            assert sku["logistics_receipt_time"] == seen(o.receipt_ts)
            assert sku["confirm_receipt_time"] == sku["finish_time"] == so["finish_time"]
            assert sku["main_status"] == so["main_status"]
            assert sku["post_addr"] == so["post_addr"]
        assert all(so[k] >= 0 for k in SHOP_TIMES)
        assert so["update_time"] <= NOW_TS
        # the not-yet cases really occur: parcels on their way and orders not confirmed yet
        moving["in transit"] += o.ship_ts <= NOW_TS < o.receipt_ts
        moving["awaiting confirm"] += o.receipt_ts <= NOW_TS < o.confirm_ts
        moving["awaiting ship"] += o.pay_ts <= NOW_TS < o.ship_ts
    assert min(moving.values()) > 10, moving


def test_events_in_order_and_the_48_hour_promise(wire: list[dict[str, Any]]) -> None:
    for so in wire:
        sku = so["sku_order_list"][0]
        pay, ship = so["pay_time"], so["ship_time"]
        receipt, confirm = sku["logistics_receipt_time"], sku["confirm_receipt_time"]
        if not pay:
            assert so["exp_ship_time"] == ship == receipt == confirm == 0
            assert so["logistics_info"] == []
            continue
        assert so["exp_ship_time"] == pay + 48 * 3600
        if receipt:
            assert 0 < pay <= ship <= receipt
            assert receipt - pay <= dv.MAX_DELIVERY_DAYS * DAY
        if confirm:
            assert 0 < receipt <= confirm <= pay + dv.SETTLE_DAYS * DAY
        assert so["update_time"] >= max(pay, ship, confirm)


def test_logistics_info_once_shipped(wire: list[dict[str, Any]]) -> None:
    companies = Counter()
    for so in wire:
        parcels = so["logistics_info"]
        if not so["ship_time"]:
            assert parcels == []
            continue
        assert len(parcels) == 1
        (parcel,) = parcels
        assert set(parcel) == PARCEL_KEYS
        assert parcel["ship_time"] == so["ship_time"]
        assert isinstance(parcel["tracking_no"], str)
        assert parcel["tracking_no"]
        assert parcel["delivery_id"] == f"{parcel['company']}_{parcel['tracking_no']}"
        carrier = next(c for c in dv.CARRIERS if c.company == parcel["company"])
        assert parcel["company_name"] == carrier.name
        assert parcel["tracking_no"].startswith(carrier.prefix)
        companies[parcel["company"]] += 1
        lines = parcel["product_info"]
        assert [p["sku_order_id"] for p in lines] == [s["order_id"] for s in so["sku_order_list"]]
        for p, sku in zip(lines, so["sku_order_list"], strict=True):
            assert set(p) == PRODUCT_INFO_KEYS
            assert p["product_id"] == sku["product_id"]
            assert p["product_id_str"] == str(sku["product_id"])
            assert p["product_count"] == sku["item_num"]
            assert p["price"] * p["product_count"] == sku["pay_amount"]
            assert p["product_name"] == sku["product_name"]
    # every carrier carries parcels, in roughly its planted share
    total = sum(companies.values())
    for c in dv.CARRIERS:
        assert abs(companies[c.company] / total - c.share) < 4 * math.sqrt(c.share / total)


def test_status_codes_agree_with_the_times(wire: list[dict[str, Any]]) -> None:
    seen_codes: Counter[tuple[int, int]] = Counter()
    for so in wire:
        sku = so["sku_order_list"][0]
        after = sku["after_sale_info"]
        status, main = so["order_status"], so["main_status"]
        seen_codes[(status, main)] += 1
        assert all(s["order_status"] == status for s in so["sku_order_list"])
        if not so["pay_time"]:
            assert status == main
            assert status in (1, 4)
            continue
        refunded = after["refund_status"] == REFUNDED
        if refunded and not so["ship_time"]:  # refunded before shipping: cancelled
            assert (status, main, after["after_sale_type"]) == (4, 21, 2)
            continue
        expected = 5 if so["finish_time"] else 3 if so["ship_time"] else 2
        assert status == expected
        if not refunded:
            assert main == status
            assert after == {"after_sale_status": 0, "after_sale_type": 0, "refund_status": 0}
            assert so["update_time"] >= sku["logistics_receipt_time"]
            continue
        # a refunded order's update_time is its refund time (nothing updates it afterwards)
        refund_at = so["update_time"]
        receipt = sku["logistics_receipt_time"]
        assert so["ship_time"] <= refund_at
        if main == 22:  # 已发货仅退款: refunded while the parcel was on its way
            assert after["after_sale_type"] == 1
            assert receipt == 0 or receipt > refund_at
        else:
            assert (main, after["after_sale_type"]) == (39, 0)
            assert 0 < receipt <= refund_at
        assert so["finish_time"] == 0 or so["finish_time"] < refund_at
    for codes in ((1, 1), (2, 2), (3, 3), (5, 5), (4, 4), (4, 21), (3, 22), (3, 39)):
        assert seen_codes[codes] > 0, (codes, seen_codes)


def test_refunds_before_shipping_never_ship(
    wire: list[dict[str, Any]], by_id: dict[str, Order]
) -> None:
    cancelled = [so for so in wire if so["main_status"] == 21]
    assert cancelled
    for so in cancelled:
        o = by_id[so["order_id"]]
        assert o.ship_ts == o.receipt_ts == o.confirm_ts == 0  # not later either
        assert o.carrier == -1
        assert o.tracking_no == ""
        assert so["logistics_info"] == []
        assert so["update_time"] == o.refund_ts < o.pay_ts + 6 * DAY


# ---- truths: delivery days by province ----------------------------------------------------------
def ordinary_deliveries(world: World) -> dict[str, np.ndarray]:
    """Payment -> receipt days of every shipped order paid outside the festival backlog,
    by province (from the model: uncensored, whether or not the receipt is past yet)."""
    out: dict[str, list[float]] = defaultdict(list)
    for s in world.all_sessions():
        for o in s.orders:
            if o.ship_ts and not dv.is_festival(o.pay_ts):
                province = catalog.PROVINCES[int(world.population.province[o.buyer])][0]
                out[province].append((o.receipt_ts - o.pay_ts) / DAY)
    return {p: np.array(v) for p, v in out.items()}


def check_quantile(days: np.ndarray, published: float, q: float, tests: int) -> None:
    """The share of deliveries within the published q-quantile is Binomial(n, q)."""
    k = int((days <= published).sum())
    p = stats.binomtest(k, days.size, q).pvalue
    assert p > 0.001 / tests, (q, published, k, days.size, float(np.quantile(days, q)))


def test_realized_delivery_days_per_province_sit_at_the_published_ones(
    world: World, published: dict[str, Any]
) -> None:
    published = published["provinces"]
    assert set(published) == {p for p, _, _ in catalog.PROVINCES}
    realized = ordinary_deliveries(world)
    big = {p: d for p, d in realized.items() if d.size >= 40}
    assert len(big) >= 20
    for p, days in big.items():
        check_quantile(days, published[p]["median_days"], 0.5, 2 * len(big))
        check_quantile(days, published[p]["p90_days"], 0.9, 2 * len(big))
    # pooled by tier (its provinces share one distribution), with the power of thousands
    for _, tier_provinces in dv.TIERS.values():
        pooled = np.concatenate([realized[p] for p in tier_provinces if p in realized])
        p0 = tier_provinces[0]
        check_quantile(pooled, published[p0]["median_days"], 0.5, 2 * len(dv.TIERS))
        check_quantile(pooled, published[p0]["p90_days"], 0.9, 2 * len(dv.TIERS))
    # far from the warehouse takes longer: the tiers are ordered, 新疆/西藏 slowest
    medians = {t: published[ps[0]]["median_days"] for t, (_, ps) in dv.TIERS.items()}
    assert list(medians.values()) == sorted(medians.values())
    assert max(realized["新疆"]) > max(realized["浙江"])


@pytest.mark.parametrize("province", ["浙江", "四川", "新疆"])
def test_the_published_quantiles_match_a_large_draw_from_the_model(province: str) -> None:
    """The truth integrates the model numerically; 30 000 orders planted by the sandbox's own
    delivery.plan (ordinary days, no refunds) land on it."""
    pay = int(day_start(date(2026, 9, 1)))
    days = []
    for i in range(30_000):
        o = Order(
            str(6_900_000_000_000_000_000 + i), 0, pay, pay, 100, 0, 0, [SkuLine("1", 0, 1, 100)]
        )
        dv.plan(12345, o, province)
        days.append((o.receipt_ts - o.pay_ts) / DAY)
    arr = np.array(days)
    published = provinces()[province]
    check_quantile(arr, published["median_days"], 0.5, 2)
    check_quantile(arr, published["p90_days"], 0.9, 2)
    assert abs(float((arr > dv.LATE_DAYS).mean()) - published["late_share"]) < 0.015


def test_festival_backlog_slows_shipping(world: World) -> None:
    ship_h: dict[bool, list[float]] = defaultdict(list)
    for s in world.all_sessions():
        for o in s.orders:
            if o.ship_ts:
                ship_h[dv.is_festival(o.pay_ts)].append((o.ship_ts - o.pay_ts) / 3600)
    ordinary, festival = np.median(ship_h[False]), np.median(ship_h[True])
    assert len(ship_h[True]) > 200
    assert festival / ordinary == pytest.approx(dv.FESTIVAL_HANDLING, rel=0.15)


# ---- late parcels and refunds ------------------------------------------------------------------
def test_late_parcels_are_refunded_more_at_the_expected_rates(shop: Shop, world: World) -> None:
    """Read from the wire like an analysis would: orders paid in a month, received a week
    before now (their refunds are all in), late = payment -> receipt over LATE_DAYS days."""
    first, last = TODAY - timedelta(days=40), TODAY - timedelta(days=10)
    received_by = NOW_TS - 7 * DAY
    expected = late_refund(world, first, last, received_by)
    orders = shop.orders(day_start(first - timedelta(days=1)), day_start(last + timedelta(days=1)))
    lo, hi = day_start(first), day_start(last + timedelta(days=1))
    counts = {True: [0, 0], False: [0, 0]}  # late -> [orders, refunded]
    for so in orders:
        sku = so["sku_order_list"][0]
        receipt = sku["logistics_receipt_time"]
        if not (lo <= so["pay_time"] < hi) or not so["ship_time"] or not receipt:
            continue
        if receipt >= received_by:
            continue
        late = receipt - so["pay_time"] > dv.LATE_DAYS * DAY
        counts[late][0] += 1
        counts[late][1] += sku["after_sale_info"]["refund_status"] == REFUNDED
    assert counts[True][0] == expected["late"]["orders"]
    assert counts[False][0] == expected["on_time"]["orders"]
    rates = {}
    for late, key in ((True, "late"), (False, "on_time")):
        n, k = counts[late]
        p = expected[key]["expected_refund_rate"]
        assert abs(k - n * p) < 4 * math.sqrt(n * p * (1 - p)), (key, n, k, p)
        rates[late] = k / n
    # the difference is there, and well beyond noise
    n1, n0 = counts[True][0], counts[False][0]
    se = math.sqrt(rates[True] * (1 - rates[True]) / n1 + rates[False] * (1 - rates[False]) / n0)
    assert (rates[True] - rates[False]) / se > 3
    assert expected["difference"] > 0.05


def test_the_share_shipped_after_the_promise_is_the_expected_one(
    shop: Shop, world: World, published: dict[str, Any]
) -> None:
    """From the wire: ship_time > exp_ship_time among the orders paid in a month that shipped,
    against the truth's expected share (a third of the festival backlog's parcels ship late)."""
    first, last = TODAY - timedelta(days=40), TODAY - timedelta(days=10)
    expected = ship_late_share(world, first, last)
    lo, hi = day_start(first), day_start(last + timedelta(days=1))
    orders = shop.orders(lo - DAY, hi)
    shipped = [so for so in orders if lo <= so["pay_time"] < hi and so["ship_time"]]
    late = sum(so["ship_time"] > so["exp_ship_time"] for so in shipped)
    n, p = len(shipped), expected["expected_share"]
    assert n == expected["orders"]
    assert abs(late - n * p) < 4 * math.sqrt(n * p * (1 - p)), (n, late, p)
    assert p > published["planted"]["ship_late_probability"]["ordinary"]


def test_refunds_reach_the_room_seven_day_refunds(shop: Shop) -> None:
    """Each closed room's 7-day refunds are its live orders refunded within 7 days of payment
    (a refunded order's update_time is its refund time); late refunds after that do not count."""
    after_seven = 0
    checked = 0
    for back in (9, 12, 16, 20):
        d = TODAY - timedelta(days=back)
        rooms = shop.all_rooms(d)
        orders = shop.orders(day_start(d), day_start(d + timedelta(days=2)))
        fen_by_room: Counter[int] = Counter()
        n_by_room: Counter[int] = Counter()
        for so in orders:
            sku = so["sku_order_list"][0]
            if sku["theme_type"] != "1" or sku["after_sale_info"]["refund_status"] != REFUNDED:
                continue
            if so["update_time"] - so["pay_time"] > 7 * DAY:
                after_seven += 1
                continue
            fen_by_room[int(sku["room_id"])] += so["pay_amount"]
            n_by_room[int(sku["room_id"])] += 1
        for room in rooms:
            assert room["live_order_refund_count_7d"] == n_by_room[room["room_id"]]
            assert fen(room["live_order_refund_amount_7d"]) == fen_by_room[room["room_id"]]
            checked += room["live_order_refund_count_7d"] > 0
    assert checked >= 4
    assert after_seven > 0  # some late parcels are refunded after the 7-day window


def test_late_refunds_come_after_receipt(world: World) -> None:
    """On the world: a refund of a late parcel that was not refunded before comes 6 h..3 d after
    its receipt (退货退款), and late parcels' refunds are mostly of that kind."""
    after_receipt = 0
    for s in world.iter_sessions(TODAY - timedelta(days=60), TODAY - timedelta(days=20)):
        for o in s.orders:
            if o.refund_ts and o.receipt_ts and o.refund_ts > o.pay_ts + 6 * DAY:
                # beyond the base refund's reach: a late-delivery refund
                assert o.receipt_ts - o.pay_ts > dv.LATE_DAYS * DAY
                assert 6 * 3600 <= o.refund_ts - o.receipt_ts <= 3 * DAY
                after_receipt += 1
    assert after_receipt > 10
