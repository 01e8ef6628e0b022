"""The sandbox's planted region and delivery truths, recovered by livekit.analysis.regions and
livekit.analysis.delivery on one world (one seed) and one window.

Shared by ``tests/test_analysis_regions.py`` / ``tests/test_analysis_delivery.py`` (one seed)
and ``bench/coverage.py`` (many seeds, for interval coverage). The world is built in-process;
the viewer export is read the way a user's file is read (``livekit.viewers``), and the orders
are the ``orders`` dataset's columns built from the world's ``Order`` objects with the
sandbox's own status rules (``livekit.sandbox.doudian``), as a sync would store them: an event
after ``now`` has not happened.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from livekit.analysis.delivery import delivery_curves, delivery_times, refund_by_delay
from livekit.analysis.regions import region_table
from livekit.sandbox import doudian
from livekit.sandbox.delivery import CARRIERS
from livekit.sandbox.export import to_parquet, viewer_columns
from livekit.sandbox.world import CHINA_TZ, World
from livekit.store.datasets import ORDERS
from livekit.viewers import read_viewer_bytes

ALPHA = 0.05
ORDER_COLUMNS = (
    "order_id",
    "order_status",
    "main_status",
    "pay_time",
    "exp_ship_time",
    "ship_time",
    "receipt_time",
    "finish_time",
    "pay_amount",
    "post_addr_province",
    "logistics_company",
)


def covers(interval: tuple[float, float] | None, value: float) -> bool:
    return interval is not None and interval[0] <= value <= interval[1]


def day_start(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), CHINA_TZ)


def viewers_frame(world: World, first: date, last: date, now: datetime) -> pl.DataFrame:
    """The viewer export of the shows of [first, last], read as a user's Parquet file."""
    columns = viewer_columns(world, first, last, now.timestamp())
    return read_viewer_bytes(to_parquet(columns), "parquet")


def orders_frame(world: World, first: date, last: date, now: datetime) -> pl.DataFrame:
    """The ``orders`` columns delivery needs, for every order paid (China date) in
    [first, last], as seen at ``now``: the sandbox's order_status/main_status
    (``doudian._status``), times that have not happened yet null, the receiver's province
    in the long form 抖店 uses ("广东省"; the analysis normalises it)."""
    t0, t1 = day_start(first).timestamp(), day_start(last + timedelta(days=1)).timestamp()
    at = now.timestamp()
    rows: list[dict[str, Any]] = []
    # repurchases are paid up to 7 days after their show (as truth_delivery reads them)
    for s in world.iter_sessions(first - timedelta(days=8), last):
        for o in s.orders:
            if not (o.pay_ts and t0 <= o.pay_ts < t1 and o.pay_ts <= at):
                continue
            status, main, _ = doudian._status(o, at)
            province = world.province_names[int(world.population.province[o.buyer])]

            def seen(ts: int) -> datetime | None:
                t = doudian.seen(ts, at)
                return datetime.fromtimestamp(t, CHINA_TZ) if t else None

            rows.append(
                {
                    "order_id": o.order_id,
                    "order_status": status,
                    "main_status": main,
                    "pay_time": seen(o.pay_ts),
                    "exp_ship_time": seen(o.exp_ship_ts),
                    "ship_time": seen(o.ship_ts),
                    "receipt_time": seen(o.receipt_ts),
                    "finish_time": seen(o.confirm_ts),
                    "pay_amount": o.amount_fen / 100,
                    "post_addr_province": _long_name(province),
                    "logistics_company": CARRIERS[o.carrier].name
                    if doudian.seen(o.ship_ts, at)
                    else None,
                }
            )
    schema = {c: ORDERS.schema[c] for c in ORDER_COLUMNS}
    return pl.DataFrame(rows, schema=schema)


_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
_REGIONS = {
    "内蒙古": "内蒙古自治区",
    "广西": "广西壮族自治区",
    "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区",
    "新疆": "新疆维吾尔自治区",
}


def _long_name(short: str) -> str:
    """The official long name 抖店's post_addr uses for a catalog province."""
    if short in _MUNICIPALITIES:
        return short + "市"
    return _REGIONS.get(short, short + "省")


def region_coverage(world: World, first: date, last: date, now: datetime) -> dict[str, Any]:
    """Per province: does the region index's interval cover the planted expected index?"""
    from livekit.sandbox import truth_products

    table = region_table(viewers_frame(world, first, last, now), alpha=ALPHA)
    truth = truth_products.regions(world, first, last)
    expected = {
        r["province"]: r["expected_index"]
        for r in truth["provinces"]
        if r["expected_index"] is not None
    }
    out: dict[str, bool] = {}
    for row in table.iter_rows(named=True):
        if row["province"] in expected and row["ci_low"] is not None:
            out[row["province"]] = covers(
                (row["ci_low"], row["ci_high"]), expected[row["province"]]
            )
    return {"covered": out, "table": table, "expected": expected}


def median_coverage(world: World, first: date, last: date, now: datetime) -> dict[str, Any]:
    """Per province: does the Kaplan–Meier interval of median pay→receipt days cover the
    planted median? ``[first, last]`` must hold ordinary days only (after the festival)."""
    from livekit.sandbox import truth_delivery

    times = delivery_times(orders_frame(world, first, last, now), now)
    curves = delivery_curves(times.filter(~pl.col("festival")), alpha=ALPHA).summary
    planted = {p: v["median_days"] for p, v in truth_delivery.provinces().items()}
    out: dict[str, bool | None] = {}
    for row in curves.iter_rows(named=True):
        if row["group"] not in planted:
            continue
        ci = None if row["median_ci_low"] is None else (row["median_ci_low"], row["median_ci_high"])
        out[row["group"]] = None if ci is None else covers(ci, planted[row["group"]])
    return {"covered": out, "curves": curves, "planted": planted}


def late_refund_coverage(
    world: World, first: date, last: date, received_by: datetime, now: datetime
) -> dict[str, Any]:
    """Late (> 4 days) minus on-time refund rate of parcels paid in [first, last] and received
    by ``received_by``: does Newcombe's interval cover the expected difference, and exclude 0?"""
    from livekit.sandbox import truth_delivery

    times = delivery_times(orders_frame(world, first, last, now), now)
    # both count the parcels received strictly before received_by
    result = refund_by_delay(times, settled_before=received_by, alpha=ALPHA)
    truth = truth_delivery.late_refund(world, first, last, int(received_by.timestamp()))
    expected = float(truth["difference"])
    return {
        "covered": covers(result.difference_ci, expected),
        "detected": result.detected,
        "result": result,
        "truth": truth,
    }


def ordinary_window(today: date, days: int = 14) -> tuple[date, date]:
    """The ``days`` days before ``today`` (yesterday last), started after the 双11 backlog
    (orders paid 11-01..11-13) when the window would reach into it: the planted median
    delivery days hold on ordinary days only."""
    last = today - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    start, end = date(last.year, 11, 1), date(last.year, 11, 13)
    if first <= end and last >= start:  # overlaps the backlog
        if last > end:
            first = end + timedelta(days=1)
        else:  # ends inside it: the same length just before it
            last = start - timedelta(days=1)
            first = last - timedelta(days=days - 1)
    return first, last


def one_seed(world: World, now: datetime) -> dict[str, Any]:
    """Everything bench/coverage.py counts for one world, with the truths' default windows:
    the region index over the 30 days before today, median delivery days on the ordinary days
    of :func:`ordinary_window`, and the late-refund difference of parcels paid
    today-40..today-10 and received before today-7 (``truth_delivery.truth``'s window).

    Returns lists of booleans (one per province with an interval), the count of provinces
    whose median had no interval (fewer than 10 orders, or too few deliveries), and two booleans for the refunds."""
    today = world.today
    regions = region_coverage(world, today - timedelta(days=30), today - timedelta(days=1), now)
    first, last = ordinary_window(today)
    medians = median_coverage(world, first, last, now)
    late = late_refund_coverage(
        world,
        today - timedelta(days=40),
        today - timedelta(days=10),
        day_start(today - timedelta(days=7)),
        now,
    )
    judged = [v for v in medians["covered"].values() if v is not None]
    return {
        "region_index": list(regions["covered"].values()),
        "median_days": judged,
        "median_days_undefined": len(medians["covered"]) - len(judged),
        "late_refund_covered": bool(late["covered"]),
        "late_refund_detected": bool(late["detected"]),
    }
