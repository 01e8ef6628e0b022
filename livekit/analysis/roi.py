"""Return on ad spend, named apart (metrics.md "ROI: name them apart").

On Douyin every "ROI" field is revenue over spend (ROAS). The merchant's profit view is
separate. Undefined values (spend of zero, no or zero gross margin) are ``None`` in results and
null in frames, never inf or NaN.

The 7-day view follows the sandbox's reference definition (``livekit/sandbox/truth.py``,
``_repurchase``) and metrics.md: a room's buyers are the 抖店 ``doudian_open_id`` of its paid
orders (orders with an item whose ``room_id`` is the room); their repeat purchases are the same
buyers' other paid orders, any channel (other rooms included), paid after their first payment
in the room and at most ``window_days`` × 24 h later. 7-day GMV = the room's own GMV plus those
repeat purchases.

Where this differs from, or adds to, the reference:

* The room's own GMV is 千川's ``live_pay_order_gmv_alias`` (the ROAS truth's definition);
  ``gmv_orders`` is the same GMV summed from 抖店 orders, kept to reconcile the two sources.
* "Paid" means the order has a ``pay_time``; orders refunded later still count (the reference
  counts every paid order too). Refunds enter only ``net_roas``.
* The reference leaves out rooms started within 8 days of today; here each room says whether
  its own window has closed (``window_closed``), and :func:`roi_summary` totals the 7-day
  columns over closed rooms only. The reference's rooms are a subset of the closed ones.
* Attribution is per room, as in the reference: a repeat order inside the windows of two rooms
  (a buyer of both) counts for each, so ``gmv_repurchase`` summed over rooms is not a count of
  distinct repeat orders of the shop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from livekit.analysis._stats import require_columns, safe_ratio
from livekit.config import LivekitError

WINDOW_DAYS = 7  # 千川 "7日总支付ROI" and metrics.md
CHINA_TZ = "Asia/Shanghai"
PAID = "pay_time"  # an 抖店 order counts as paid when it has a pay time (refunds are separate)


@dataclass(frozen=True)
class RoiResult:
    """The ROI family of one set of totals (money in yuan)."""

    gmv: float
    spend: float
    refunds: float
    gmv_7d: float | None
    gross_margin: float | None
    roas: float | None  # 支付ROI: GMV / spend
    net_roas: float | None  # ≈ 净成交ROI: (GMV − refunds) / spend
    roas_7d: float | None  # ≈ 7日总支付ROI: 7-day GMV / spend
    net_roi_7d: float | None  # (7-day GMV − spend) / spend = roas_7d − 1
    breakeven_roas: float | None  # 1 / gross margin: the ROAS at which ads pay for themselves

    @property
    def above_breakeven(self) -> bool | None:
        """Whether ``roas`` clears ``breakeven_roas`` (None when either is undefined)."""
        if self.roas is None or self.breakeven_roas is None:
            return None
        return self.roas >= self.breakeven_roas


def _money(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise LivekitError(f"{name} 须为有限数值，收到 {value!r}")
    if value < 0:
        raise LivekitError(f"{name} 不能为负数，收到 {value!r}")
    return float(value)


def _margin(gross_margin: float | None) -> float | None:
    if gross_margin is None:
        return None
    if not math.isfinite(gross_margin) or gross_margin > 1:
        raise LivekitError(
            f"毛利率 gross_margin 须为不超过 1 的小数（如 0.45），收到 {gross_margin!r}"
        )
    return float(gross_margin)


def _breakeven(gross_margin: float | None) -> float | None:
    """1 / margin; undefined (None) without a margin or when no ROAS can break even (≤ 0)."""
    return 1.0 / gross_margin if gross_margin is not None and gross_margin > 0 else None


def roi(
    gmv: float,
    spend: float,
    refunds: float = 0.0,
    gmv_7d: float | None = None,
    gross_margin: float | None = None,
) -> RoiResult:
    """The ROI family from totals (yuan). ``gross_margin`` is a fraction (0.45 = 45%)."""
    gmv = _money("成交金额 gmv", gmv)
    spend = _money("消耗 spend", spend)
    refunds = _money("退款金额 refunds", refunds)
    if gmv_7d is not None:
        gmv_7d = _money("7 日成交金额 gmv_7d", gmv_7d)
    margin = _margin(gross_margin)
    roas = gmv / spend if spend > 0 else None
    net_roas = (gmv - refunds) / spend if spend > 0 else None
    roas_7d = gmv_7d / spend if spend > 0 and gmv_7d is not None else None
    return RoiResult(
        gmv=gmv,
        spend=spend,
        refunds=refunds,
        gmv_7d=gmv_7d,
        gross_margin=margin,
        roas=roas,
        net_roas=net_roas,
        roas_7d=roas_7d,
        net_roi_7d=None if roas_7d is None else roas_7d - 1.0,
        breakeven_roas=_breakeven(margin),
    )


ROOM_COLUMNS = ("room_id", "stat_cost", "live_pay_order_gmv_alias", "live_order_refund_amount_7d")
ORDER_COLUMNS = ("order_id", "doudian_open_id", "pay_time", "pay_amount", "create_time")
ITEM_COLUMNS = ("parent_order_id", "room_id")
DESCRIPTIVE = ("date", "room_id", "aweme_id", "aweme_name", "room_title", "start_time", "end_time")


def _ratios(gross_margin: float | None) -> list[pl.Expr]:
    spend = pl.col("spend")
    breakeven = _breakeven(gross_margin)
    return [
        safe_ratio(pl.col("gmv"), spend).alias("roas"),
        safe_ratio(pl.col("gmv") - pl.col("refunds"), spend).alias("net_roas"),
        safe_ratio(pl.col("gmv_7d"), spend).alias("roas_7d"),
        (safe_ratio(pl.col("gmv_7d"), spend) - 1.0).alias("net_roi_7d"),
        pl.lit(breakeven, pl.Float64).alias("breakeven_roas"),
    ]


def repurchases(
    orders: pl.DataFrame, order_items: pl.DataFrame, *, window_days: int = WINDOW_DAYS
) -> pl.DataFrame:
    """Per room: its buyers and their repeat purchases within ``window_days`` (see the module).

    Columns: ``room_id``, ``buyers`` (distinct ``doudian_open_id``), ``gmv_orders`` (the room's
    paid orders' ``pay_amount``, for reconciling with 千川's GMV), ``last_first_pay`` (the
    latest first payment of a buyer in the room), ``repurchase_orders``, ``gmv_repurchase``.
    Orders without a buyer id cannot be followed and are left out.
    """
    if window_days <= 0:
        raise LivekitError(f"复购窗口 window_days 须为正整数（天），收到 {window_days!r}")
    require_columns(orders, ORDER_COLUMNS, "抖店订单数据（orders）")
    require_columns(order_items, ITEM_COLUMNS, "抖店子订单数据（order_items）")
    paid = (
        orders.filter(pl.col(PAID).is_not_null() & pl.col("doudian_open_id").is_not_null())
        .select("order_id", "doudian_open_id", "pay_time", "pay_amount")
        .unique("order_id", keep="last")
    )
    in_room = (
        order_items.filter(pl.col("room_id").is_not_null() & (pl.col("room_id") != 0))
        .select(pl.col("parent_order_id").alias("order_id"), "room_id")
        .unique()
    )
    room_paid = in_room.join(paid, on="order_id", how="inner")
    first = room_paid.group_by("room_id", "doudian_open_id").agg(
        pl.col("pay_time").min().alias("t0")
    )
    window = timedelta(days=window_days)
    repeat = (
        first.join(paid, on="doudian_open_id", how="inner")
        .filter((pl.col("pay_time") > pl.col("t0")) & (pl.col("pay_time") <= pl.col("t0") + window))
        .join(in_room, on=["room_id", "order_id"], how="anti")  # the room's own orders
        .group_by("room_id")
        .agg(
            pl.len().cast(pl.Int64).alias("repurchase_orders"),
            pl.col("pay_amount").sum().alias("gmv_repurchase"),
        )
    )
    own = room_paid.group_by("room_id").agg(
        pl.col("doudian_open_id").n_unique().cast(pl.Int64).alias("buyers"),
        pl.col("pay_amount").sum().alias("gmv_orders"),
    )
    last_first = first.group_by("room_id").agg(pl.col("t0").max().alias("last_first_pay"))
    return (
        own.join(last_first, on="room_id", how="left")
        .join(repeat, on="room_id", how="left")
        .with_columns(
            pl.col("repurchase_orders").fill_null(0),
            pl.col("gmv_repurchase").fill_null(0.0),
        )
        .sort("room_id")
    )


def roi_by_room(
    rooms: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    *,
    gross_margin: float | None = None,
    window_days: int = WINDOW_DAYS,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """The ROI family per room (one row per room, with its ``date`` when ``rooms`` has it).

    Money in yuan. From ``rooms`` (巨量千川): ``spend`` = ``stat_cost``, ``gmv`` =
    ``live_pay_order_gmv_alias`` (the ROAS truth's definition), ``refunds`` =
    ``live_order_refund_amount_7d``. From 抖店 ``orders`` / ``order_items``: ``buyers``,
    ``gmv_orders`` (the same GMV as 抖店 sees it, to reconcile), ``gmv_repurchase``
    (:func:`repurchases`), and ``gmv_7d = gmv + gmv_repurchase``, ``repurchase_share =
    gmv_repurchase / gmv_7d``. Then ``roas``, ``net_roas``, ``roas_7d``, ``net_roi_7d`` and
    ``breakeven_roas`` (null where undefined).

    ``window_closed``: whether every buyer's window has ended by ``as_of`` (default: the latest
    order ``create_time`` in ``orders``, i.e. how far the order data reaches), judged from the
    room's ``end_time`` (or its latest first payment, if later). Until then ``gmv_7d`` is a
    partial count. A room still on air (no ``end_time``) is never closed.
    """
    require_columns(rooms, ROOM_COLUMNS, "直播场次数据（rooms）")
    margin = _margin(gross_margin)
    rep = repurchases(orders, order_items, window_days=window_days)
    if as_of is None:
        latest = orders.select(pl.col("create_time").max()).item() if orders.height else None
    else:
        latest = as_of
    keep = [c for c in DESCRIPTIVE if c in rooms.columns]
    end = (
        _china_time(pl.col("end_time"), rooms.schema["end_time"])
        if "end_time" in rooms.columns
        else pl.lit(None, pl.Datetime("us", CHINA_TZ))
    )
    window = timedelta(days=window_days)
    frame = (
        rooms.select(
            *keep,
            pl.col("stat_cost").cast(pl.Float64).alias("spend"),
            pl.col("live_pay_order_gmv_alias").cast(pl.Float64).alias("gmv"),
            pl.col("live_order_refund_amount_7d").cast(pl.Float64).fill_null(0.0).alias("refunds"),
            end.alias("_end"),
        )
        .join(rep, on="room_id", how="left")
        .with_columns(
            pl.col("buyers").fill_null(0),
            pl.col("gmv_orders").fill_null(0.0),
            pl.col("repurchase_orders").fill_null(0),
            pl.col("gmv_repurchase").fill_null(0.0),
            _china_time(pl.col("last_first_pay"), rep.schema["last_first_pay"]),
        )
        .with_columns((pl.col("gmv") + pl.col("gmv_repurchase")).alias("gmv_7d"))
        .with_columns(
            safe_ratio(pl.col("gmv_repurchase"), pl.col("gmv_7d")).alias("repurchase_share"),
            _window_closed(latest, window),
            *_ratios(margin),
        )
        .drop("_end", "last_first_pay")
    )
    return frame.sort([c for c in ("date", "start_time", "room_id") if c in frame.columns])


def _china_time(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A datetime column in China time (a naive column is taken to be China time already)."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return expr.dt.convert_time_zone(CHINA_TZ)
    return expr.cast(pl.Datetime("us")).dt.replace_time_zone(CHINA_TZ)


def _window_closed(latest: datetime | None, window: timedelta) -> pl.Expr:
    if latest is None:
        return pl.lit(False).alias("window_closed")
    if latest.tzinfo is None:  # a naive moment is China time, like every time in the store
        latest = latest.replace(tzinfo=ZoneInfo(CHINA_TZ))
    last = pl.max_horizontal(pl.col("_end"), pl.col("last_first_pay"))
    limit = pl.lit(latest, dtype=pl.Datetime("us", CHINA_TZ))
    closed = pl.col("_end").is_not_null() & (last + window <= limit)
    return closed.fill_null(False).alias("window_closed")


SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "rooms": pl.Int64(),
    "spend": pl.Float64(),
    "gmv": pl.Float64(),
    "refunds": pl.Float64(),
    "roas": pl.Float64(),
    "net_roas": pl.Float64(),
    "rooms_7d": pl.Int64(),
    "spend_7d": pl.Float64(),
    "gmv_7d": pl.Float64(),
    "gmv_repurchase": pl.Float64(),
    "repurchase_share": pl.Float64(),
    "roas_7d": pl.Float64(),
    "net_roi_7d": pl.Float64(),
    "breakeven_roas": pl.Float64(),
}


def roi_summary(
    by_room: pl.DataFrame,
    *,
    gross_margin: float | None = None,
    include_open_windows: bool = False,
) -> pl.DataFrame:
    """One totals row over the rooms of :func:`roi_by_room` (sums first, then ratios).

    ``spend``, ``gmv``, ``refunds``, ``roas`` and ``net_roas`` cover every room. The 7-day
    columns (``rooms_7d``, ``spend_7d``, ``gmv_7d``, ``gmv_repurchase``, ``repurchase_share``,
    ``roas_7d``, ``net_roi_7d``) cover only the rooms whose window has closed, with their own
    spend, so that a partial week does not pull them down; ``include_open_windows=True`` uses
    every room instead.
    """
    require_columns(
        by_room,
        ("spend", "gmv", "refunds", "gmv_7d", "gmv_repurchase", "window_closed"),
        "分场 ROI 表（roi_by_room 的结果）",
    )
    totals = by_room.select(pl.col("spend", "gmv", "refunds").sum()).row(0)
    week = by_room if include_open_windows else by_room.filter(pl.col("window_closed"))
    spend_7d, gmv_7d, gmv_rep = week.select(pl.col("spend", "gmv_7d", "gmv_repurchase").sum()).row(
        0
    )
    all_rooms = roi(totals[1], totals[0], totals[2], gross_margin=gross_margin)
    week_roi = roi(totals[1], spend_7d, gmv_7d=gmv_7d)
    row = {
        "rooms": by_room.height,
        "spend": all_rooms.spend,
        "gmv": all_rooms.gmv,
        "refunds": all_rooms.refunds,
        "roas": all_rooms.roas,
        "net_roas": all_rooms.net_roas,
        "rooms_7d": week.height,
        "spend_7d": float(spend_7d),
        "gmv_7d": float(gmv_7d),
        "gmv_repurchase": float(gmv_rep),
        "repurchase_share": gmv_rep / gmv_7d if gmv_7d > 0 else None,
        "roas_7d": week_roi.roas_7d,
        "net_roi_7d": week_roi.net_roi_7d,
        "breakeven_roas": all_rooms.breakeven_roas,
    }
    return pl.DataFrame([row], schema=SUMMARY_SCHEMA)


def repurchase_by_day(by_room: pl.DataFrame) -> pl.DataFrame:
    """Per day of :func:`roi_by_room`: the rooms' own ``gmv`` and their buyers'
    ``gmv_repurchase`` (the two parts of 7-day GMV), in date order."""
    require_columns(by_room, ("date", "gmv", "gmv_repurchase"), "分场 ROI 表（roi_by_room 的结果）")
    return (
        by_room.group_by("date")
        .agg(pl.col("gmv").sum(), pl.col("gmv_repurchase").sum())
        .sort("date")
    )
