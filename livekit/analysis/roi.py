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
  (a buyer of both) counts for each, and a buyer's order in another room is that room's live
  GMV and this room's repurchase. So ``gmv_repurchase`` summed over rooms is not the shop's:
  :func:`roi_summary` given the orders counts each order once (:func:`shop_repurchases`).

Net ROAS subtracts the refunds received so far; for 7 days after a show more arrive.
:func:`project_net_roas` projects each open room's final 7-day refunds from the refund
development seen in the store, with an interval, and bases the break-even verdict on it (the
method and its assumptions are in the comment above :class:`RefundDevelopment`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from livekit.analysis._stats import require_columns, safe_ratio
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ_NAME as CHINA_TZ

WINDOW_DAYS = 7  # 千川 "7日总支付ROI" and metrics.md
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
    paid, in_room = _paid_and_in_room(orders, order_items)
    room_paid = in_room.join(paid, on="order_id", how="inner")
    first = _first_pay(room_paid)
    repeat = (
        _in_window(first, paid, window_days)
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
    "repurchase_orders": pl.Int64(),
    "repurchase_share": pl.Float64(),
    "counted_once": pl.Boolean(),
    "gmv_repurchase_attributed": pl.Float64(),
    "repurchase_orders_attributed": pl.Int64(),
    "roas_7d": pl.Float64(),
    "net_roi_7d": pl.Float64(),
    "breakeven_roas": pl.Float64(),
}


def roi_summary(
    by_room: pl.DataFrame,
    *,
    gross_margin: float | None = None,
    include_open_windows: bool = False,
    orders: pl.DataFrame | None = None,
    order_items: pl.DataFrame | None = None,
    window_days: int = WINDOW_DAYS,
) -> pl.DataFrame:
    """One totals row over the rooms of :func:`roi_by_room` (sums first, then ratios).

    ``spend``, ``gmv``, ``refunds``, ``roas`` and ``net_roas`` cover every room. The 7-day
    columns (``rooms_7d``, ``spend_7d``, ``gmv_7d``, ``gmv_repurchase``, ``repurchase_share``,
    ``roas_7d``, ``net_roi_7d``) cover only the rooms whose window has closed, with their own
    spend, so that a partial week does not pull them down; ``include_open_windows=True`` uses
    every room instead.

    With ``orders`` and ``order_items`` (the frames given to :func:`roi_by_room`) the shop's
    7-day GMV counts **each order once** (:func:`shop_repurchases`): a repeat order inside the
    windows of two rooms, or one that is another room's own live GMV, enters once
    (``counted_once`` is true). ``gmv_repurchase_attributed`` / ``repurchase_orders_attributed``
    keep the per-room attribution summed over the rooms, for comparison. Without the orders the
    per-room sums are all there is (``counted_once`` false).
    """
    require_columns(
        by_room,
        ("spend", "gmv", "refunds", "gmv_7d", "gmv_repurchase", "window_closed"),
        "分场 ROI 表（roi_by_room 的结果）",
    )
    totals = by_room.select(pl.col("spend", "gmv", "refunds").sum()).row(0)
    week = by_room if include_open_windows else by_room.filter(pl.col("window_closed"))
    spend_7d, gmv_own, attributed = week.select(pl.col("spend", "gmv", "gmv_repurchase").sum()).row(
        0
    )
    attributed_orders: int | None = (
        int(week["repurchase_orders"].sum()) if "repurchase_orders" in week.columns else None
    )
    rep_orders: int | None = attributed_orders
    gmv_rep = attributed
    once = orders is not None and order_items is not None
    if orders is not None and order_items is not None:
        rep_orders, gmv_rep, attributed_orders, attributed = shop_repurchases(
            week, orders, order_items, window_days=window_days
        )
    gmv_7d = gmv_own + gmv_rep
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
        "repurchase_orders": rep_orders,
        "repurchase_share": gmv_rep / gmv_7d if gmv_7d > 0 else None,
        "counted_once": once,
        "gmv_repurchase_attributed": float(attributed),
        "repurchase_orders_attributed": attributed_orders,
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


# ---- shop 7-day GMV: each order once ---------------------------------------------------------


def shop_repurchases(
    rooms: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    *,
    window_days: int = WINDOW_DAYS,
) -> tuple[int, float, int, float]:
    """The repeat purchases of a set of rooms, each order counted once.

    ``rooms`` names the set (its ``room_id``). A repeat order of the set is a paid order of a
    buyer of any room in the set inside that room's window (:func:`repurchases`), unless it is
    one of the set's own live orders (it is in the set's GMV already). Returns
    ``(orders, gmv, attributed_orders, attributed_gmv)``: the distinct repeat orders and their
    amount, and the per-room attribution summed over the rooms (where an order inside two
    rooms' windows, or inside one room's window and another room's own GMV, counts again).
    """
    require_columns(rooms, ("room_id",), "直播场次数据（rooms）")
    ids = rooms.select(pl.col("room_id").unique())
    items = order_items.join(ids, on="room_id", how="semi")
    pairs = _repeat_pairs(orders, order_items, window_days=window_days).join(
        ids, on="room_id", how="semi"
    )
    own = items.select(pl.col("parent_order_id").alias("order_id")).unique()
    once = pairs.join(own, on="order_id", how="anti").unique("order_id")
    attributed = pairs.join(
        items.select(pl.col("parent_order_id").alias("order_id"), "room_id").unique(),
        on=["room_id", "order_id"],
        how="anti",
    )
    return (
        once.height,
        float(once["pay_amount"].sum()),
        attributed.height,
        float(attributed["pay_amount"].sum()),
    )


def _repeat_pairs(
    orders: pl.DataFrame, order_items: pl.DataFrame, *, window_days: int
) -> pl.DataFrame:
    """(room_id, order_id, pay_amount): every paid order of a room's buyer inside the room's
    window (the room's own orders included; :func:`repurchases` leaves them out)."""
    paid, in_room = _paid_and_in_room(orders, order_items)
    first = _first_pay(in_room.join(paid, on="order_id", how="inner"))
    return _in_window(first, paid, window_days).select("room_id", "order_id", "pay_amount")


def _paid_and_in_room(
    orders: pl.DataFrame, order_items: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The paid orders that name their buyer (each once), and which room each order came from."""
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
    return paid, in_room


def _first_pay(room_paid: pl.DataFrame) -> pl.DataFrame:
    """(room_id, doudian_open_id, t0): each buyer's first payment in each room."""
    return room_paid.group_by("room_id", "doudian_open_id").agg(
        pl.col("pay_time").min().alias("t0")
    )


def _in_window(first: pl.DataFrame, paid: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """Every paid order of a room's buyer after their first payment there, within the window."""
    window = timedelta(days=window_days)
    return first.join(paid, on="doudian_open_id", how="inner").filter(
        (pl.col("pay_time") > pl.col("t0")) & (pl.col("pay_time") <= pl.col("t0") + window)
    )


# ---- net ROAS with refund windows still open ---------------------------------------------------
#
# Method (project_net_roas). A room's 7-day refunds keep arriving for 7 days after its show
# (千川 counts a refund within 7 days of payment), so its net ROAS so far is too high until
# then. Each open room's final refunds are projected Bornhuetter-Ferguson style:
#
#     R_final = R_so_far + q' * GMV * (1 - F(age))
#
# * F, the **development curve** (share of the final 7-day refunds received ``k`` days after
#   payment), is a chain ladder on the 抖店 orders of live rooms paid in the last
#   ``window_days`` + 1 days: cohorts of orders by age, development factor from day k to k+1 =
#   refunds (by amount) within k+1 days / refunds within k days, over the orders at least k+1
#   days old. A refund's time is read as the order's ``update_time`` (its last change: in an
#   order's first week after a refund nothing else changes it, except shipping, which only
#   moves refunds made before shipping to the shipping time). The store keeps no refund times
#   for older orders, which is why the curve comes from the recent orders. Its uncertainty: a
#   bootstrap over those orders.
# * q, the **refund level** (final 7-day refunds per yuan of GMV), is fitted on the rooms
#   closed within ``reference_days`` (their refunds are final: E[R] = q GMV) together with the
#   open rooms (E[R] = q e^delta GMV F(age)), by quasi-Poisson likelihood (refunds as an
#   over-dispersed Poisson amount, Var = phi * mean, phi from Pearson residuals). delta lets
#   this week's level differ from the closed rooms' (festivals move it); it is penalized as
#   delta ~ N(0, level_sd^2) (open rooms enter once a quarter of their refunds is due),
#   level_sd being how far a week's level strayed from the level of
#   the ``reference_days`` before it in the history given, beyond sampling noise (a
#   credibility weighting: with little development seen, the closed rooms' level rules).
# * The interval is predictive, simulated: (log q, delta) from their asymptotic normal
#   distribution, F from the bootstrap, and each room's refunds still to come as a compound
#   Poisson amount: a Poisson number of refunds with mean m / (mean order amount), each the
#   amount of a recent live order drawn at random (the process variance).
#
# Assumptions: refunds arrive independently of each other; every room shares one development
# curve; a room's share of refunds due is F averaged over its orders' ages (by amount; by the
# room's age since its end when its orders are not at hand); a room on air is projected on its
# GMV so far.

VERDICTS = ("above", "below", "cannot_tell", "undefined")
REFUNDED = 3  # 抖店 after_sale_info.refund_status: refund completed
CURVE_BOOTSTRAP = 200  # bootstrap replicates of the development curve
MIN_SHARE = 0.25  # open rooms enter the level fit once this share of their refunds is due
PROJECTION_ROOM_SCHEMA: dict[str, pl.DataType] = {
    "room_id": pl.Int64(),
    "spend": pl.Float64(),
    "gmv": pl.Float64(),
    "refunds": pl.Float64(),
    "age_days": pl.Float64(),
    "provisional": pl.Boolean(),
    "final_at": pl.Datetime("us", CHINA_TZ),
    "refunds_projected": pl.Float64(),
    "refunds_low": pl.Float64(),
    "refunds_high": pl.Float64(),
    "net_roas": pl.Float64(),
    "net_roas_projected": pl.Float64(),
    "net_roas_low": pl.Float64(),
    "net_roas_high": pl.Float64(),
    "breakeven_roas": pl.Float64(),
    "verdict": pl.String(),
}
TIMING_ORDER_COLUMNS = ("order_id", "pay_time", "pay_amount", "update_time")
TIMING_ITEM_COLUMNS = ("parent_order_id", "room_id", "refund_status")


@dataclass(frozen=True)
class RefundDevelopment:
    """The fitted refund development of one snapshot (see the comment above)."""

    refund_ratio: float  # q: final 7-day refunds / GMV of the closed reference rooms
    open_level_shift: float  # e^delta: the open rooms' level is q times this
    dispersion: float  # phi, yuan: Var(refunds) = phi * mean
    level_sd: float  # the prior sd of delta (0: no history, delta fixed at 0)
    reference_rooms: int  # closed rooms in the fit
    open_rooms: int  # open rooms in the fit
    level_weeks: int  # weeks behind level_sd
    timing_orders: int  # orders behind the development curve
    timing_refunds: int  # of which refunded
    curve: pl.DataFrame = field(compare=False)  # age_days (0..window), share_received (F)

    def share_received(self, age_days: float) -> float:
        """F(age): the expected share of a room's final 7-day refunds received by then."""
        days = self.curve["age_days"].to_numpy()
        return float(np.interp(age_days, days, self.curve["share_received"].to_numpy()))


@dataclass(frozen=True)
class NetRoasProjection:
    """Net ROAS once every refund window has closed, projected (money in yuan).

    ``rooms``: one row per room (:data:`PROJECTION_ROOM_SCHEMA`); ``provisional`` rooms still
    have an open refund window (``final_at`` is when it closes); for closed rooms the projected
    values equal the observed ones. The shop totals are over ``rooms``; ``None`` where no
    projection could be made (no development to stand on) or no spend.
    """

    rooms: pl.DataFrame = field(compare=False)
    as_of: datetime
    level: float  # of the intervals, e.g. 0.9
    spend: float
    gmv: float
    refunds: float  # received so far
    refunds_projected: float | None
    refunds_low: float | None
    refunds_high: float | None
    net_roas: float | None  # with the refunds so far
    net_roas_projected: float | None
    net_roas_low: float | None
    net_roas_high: float | None
    breakeven_roas: float | None
    verdict: str  # one of VERDICTS, from the projected interval against break-even
    provisional_rooms: int
    final_at: datetime | None  # when the last provisional room's window closes
    development: RefundDevelopment | None  # None when nothing could be fitted

    @property
    def refund_ratio(self) -> float | None:
        """Refunds so far / GMV."""
        return self.refunds / self.gmv if self.gmv > 0 else None

    @property
    def refund_ratio_projected(self) -> float | None:
        """Projected final refunds / GMV."""
        if self.refunds_projected is None or self.gmv <= 0:
            return None
        return self.refunds_projected / self.gmv


def _latest(moments: pl.Series) -> datetime | None:
    """The latest moment, or None when there is none or one is unknown (a room on air)."""
    if moments.len() == 0 or moments.null_count():
        return None
    latest = moments.max()
    return latest if isinstance(latest, datetime) else None


def _verdict(low: float | None, high: float | None, breakeven: float | None) -> str:
    if low is None or high is None or breakeven is None:
        return "undefined"
    if low >= breakeven:
        return "above"
    if high < breakeven:
        return "below"
    return "cannot_tell"


def _as_china(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # a naive moment is China time, like every time in the store
        return moment.replace(tzinfo=ZoneInfo(CHINA_TZ))
    return moment.astimezone(ZoneInfo(CHINA_TZ))


def _room_ages(rooms: pl.DataFrame, as_of: datetime, window_days: int) -> pl.DataFrame:
    """room_id, spend, gmv, refunds, age_days (0 while on air), final_at, closed."""
    require_columns(rooms, (*ROOM_COLUMNS, "end_time"), "直播场次数据（rooms）")
    limit = pl.lit(as_of, dtype=pl.Datetime("us", CHINA_TZ))
    end = _china_time(pl.col("end_time"), rooms.schema["end_time"])
    age = ((limit - end).dt.total_seconds() / 86400.0).clip(lower_bound=0.0)
    return (
        rooms.unique("room_id", keep="last", maintain_order=True)
        .select(
            pl.col("room_id").cast(pl.Int64),
            pl.col("stat_cost").cast(pl.Float64).fill_null(0.0).alias("spend"),
            pl.col("live_pay_order_gmv_alias").cast(pl.Float64).fill_null(0.0).alias("gmv"),
            pl.col("live_order_refund_amount_7d").cast(pl.Float64).fill_null(0.0).alias("refunds"),
            age.fill_null(0.0).alias("age_days"),
            (end + timedelta(days=window_days)).alias("final_at"),
        )
        .with_columns(
            (pl.col("final_at").is_not_null() & (pl.col("final_at") <= limit)).alias("closed")
        )
    )


def refund_timing(
    orders: pl.DataFrame, order_items: pl.DataFrame, *, as_of: datetime, window_days: int
) -> pl.DataFrame:
    """The live-room orders paid within ``window_days`` + 1 days before ``as_of``: ``room_id``,
    ``age_days`` (since payment), ``amount``, ``delay_days`` (refund time - payment, null when not refunded
    by ``as_of``; see the comment above :class:`RefundDevelopment` for how it is read)."""
    require_columns(orders, TIMING_ORDER_COLUMNS, "抖店订单数据（orders）")
    require_columns(order_items, TIMING_ITEM_COLUMNS, "抖店子订单数据（order_items）")
    as_of = _as_china(as_of)
    limit = pl.lit(as_of, dtype=pl.Datetime("us", CHINA_TZ))
    live = (
        order_items.filter(pl.col("room_id").is_not_null() & (pl.col("room_id") != 0))
        .group_by("parent_order_id")
        .agg(
            (pl.col("refund_status") == REFUNDED).any().alias("refunded"),
            pl.col("room_id").first().cast(pl.Int64),
        )
        .rename({"parent_order_id": "order_id"})
    )
    pay = _china_time(pl.col("pay_time"), orders.schema["pay_time"])
    update = _china_time(pl.col("update_time"), orders.schema["update_time"])
    days = 86400.0
    return (
        orders.unique("order_id", keep="last")
        .join(live, on="order_id", how="inner")
        .filter(pl.col("pay_time").is_not_null())
        .sort("order_id")  # a fixed order: the bootstrap and the draws index into it
        .select(
            "room_id",
            ((limit - pay).dt.total_seconds() / days).alias("age_days"),
            pl.col("pay_amount").cast(pl.Float64).fill_null(0.0).alias("amount"),
            pl.when(pl.col("refunded").fill_null(False) & (update <= limit))
            .then(((update - pay).dt.total_seconds() / days).clip(lower_bound=0.0))
            .otherwise(None)
            .alias("delay_days"),
        )
        .filter((pl.col("age_days") >= 0) & (pl.col("age_days") < window_days + 1))
    )


def _due_shares(
    curves: np.ndarray, rooms: pl.DataFrame, timing: pl.DataFrame, window: int
) -> np.ndarray:
    """For each curve (row) and room of ``rooms`` (``room_id``, ``age_days``): the expected
    share of the room's final refunds received by now, averaged over its orders' ages by
    amount (its orders are older than its end); by the room's age when no order is known."""
    days = np.arange(window + 1, dtype=float)
    ids = rooms["room_id"].to_numpy()
    by_age = np.array([np.interp(rooms["age_days"].to_numpy(), days, c) for c in curves])
    index = {int(r): i for i, r in enumerate(ids)}
    known = timing.filter(pl.col("room_id").is_in(list(index)))
    if known.height == 0:
        return by_age
    where = np.array([index[int(r)] for r in known["room_id"].to_list()])
    amount = known["amount"].to_numpy()
    weight = np.bincount(where, weights=amount, minlength=len(ids))
    has = weight > 0
    out = by_age.copy()
    for row, c in enumerate(curves):
        due = np.bincount(
            where,
            weights=amount * np.interp(known["age_days"].to_numpy(), days, c),
            minlength=len(ids),
        )
        out[row, has] = due[has] / weight[has]
    return out


def _chain_ladder(
    age: np.ndarray, delay: np.ndarray, amount: np.ndarray, window: int
) -> np.ndarray:
    """F on days 0..window from orders' ages, refund delays (inf: none) and amounts.

    Development factor k -> k+1 over the orders at least k+1 days old (the chain ladder's
    column ratio); F(k) = 1 / (product of the factors from k on), F(window) = 1; no refund
    by day k over those orders gives F(k) = 0. Hand-written: the triangle is one weighted sum
    per day, and no package fits a chain ladder to order-level data.
    """
    curve = np.ones(window + 1)
    for k in range(window - 1, -1, -1):
        old = age >= k + 1
        by_next = float(np.sum(amount[old] * (delay[old] <= k + 1)))
        by_k = float(np.sum(amount[old] * (delay[old] <= k)))
        curve[k] = curve[k + 1] * (by_k / by_next) if by_next > 0 else curve[k + 1]
    return curve


def _level_sd(
    frame: pl.DataFrame, window_days: int, reference_days: int, phi: float
) -> tuple[float, int]:
    """How far a week's refund level strayed from the level of the ``reference_days`` before
    it (log scale, beyond the sampling noise phi / expected refunds of each side), over the
    closed weeks of ``frame``; (0, n) with fewer than two such weeks."""
    closed = frame.filter(pl.col("closed") & (pl.col("gmv") > 0)).with_columns(
        ((pl.col("age_days") - window_days) // 7).cast(pl.Int64).alias("week")
    )
    weeks = closed.group_by("week").agg(pl.col("gmv", "refunds").sum()).sort("week")
    per = {int(w): (float(g), float(r)) for w, g, r in weeks.iter_rows()}
    span = max(1, reference_days // 7)
    errors, noise = [], []
    for w, (g, r) in per.items():
        before = [per[w + k] for k in range(1, span + 1) if w + k in per]
        g_ref = sum(x[0] for x in before)
        r_ref = sum(x[1] for x in before)
        if len(before) < span or r <= 0 or r_ref <= 0:
            continue
        errors.append(math.log(r / g) - math.log(r_ref / g_ref))
        noise.append(phi / r + phi / r_ref)  # Var(log R) ~ phi / E[R] for each side
    if len(errors) < 2:
        return 0.0, len(errors)
    excess = float(np.mean(np.square(errors)) - np.mean(noise))
    return math.sqrt(max(excess, 0.0)), len(errors)


@dataclass(frozen=True)
class _Fit:
    development: RefundDevelopment
    theta: np.ndarray  # log q, delta
    cov: np.ndarray
    curves: np.ndarray  # bootstrap replicates of F, one row each
    timing: pl.DataFrame  # the orders behind the curve (refund_timing)
    amounts: np.ndarray  # order amounts a refund is drawn from


def _compound_poisson(
    rng: np.random.Generator, expected: np.ndarray, amounts: np.ndarray
) -> np.ndarray:
    """Refund amounts still to come: a Poisson number of refunds (mean: ``expected`` over the
    mean order amount), each the amount of an order drawn from ``amounts``. Discrete, so that
    "no more refunds" keeps its probability (a room with one refund due has a fair chance of
    none)."""
    mean_amount = float(amounts.mean())
    counts = rng.poisson(np.maximum(expected, 0.0) / mean_amount)
    flat = counts.ravel()
    picks = rng.choice(amounts, size=int(flat.sum()))
    cells = np.repeat(np.arange(flat.size), flat)
    out: np.ndarray = np.bincount(cells, weights=picks, minlength=flat.size).reshape(counts.shape)
    return out


def fit_refund_development(
    rooms: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    *,
    as_of: datetime,
    window_days: int = WINDOW_DAYS,
    reference_days: int = 14,
    seed: int = 0,
) -> _Fit | None:
    """Fit the development curve and the refund level (see the comment above
    :class:`RefundDevelopment`) on ``rooms`` (千川 rooms with ``end_time``) and the 抖店
    ``orders`` / ``order_items``, all as synced by ``as_of``. None when there is nothing to
    stand on: no closed room with GMV, or no refund among the recent orders."""
    from scipy import optimize

    as_of = _as_china(as_of)
    timing = refund_timing(orders, order_items, as_of=as_of, window_days=window_days)
    age_o = timing["age_days"].to_numpy()
    amount = timing["amount"].to_numpy()
    delay = timing["delay_days"].fill_null(np.inf).to_numpy()
    refunded = int(np.isfinite(delay).sum())
    frame = _room_ages(rooms, as_of, window_days)
    fit = frame.filter(
        (pl.col("gmv") > 0)
        & pl.col("final_at").is_not_null()
        & (pl.col("age_days") < window_days + reference_days)
    )
    closed = fit["closed"].to_numpy()
    if not closed.any() or refunded == 0 or fit.filter(pl.col("closed"))["refunds"].sum() <= 0:
        return None
    curve = _chain_ladder(age_o, delay, amount, window_days)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(amount), size=(CURVE_BOOTSTRAP, len(amount)))
    curves = np.array([_chain_ladder(age_o[i], delay[i], amount[i], window_days) for i in picks])
    days = np.arange(window_days + 1, dtype=float)
    share = np.where(closed, 1.0, _due_shares(curve[None, :], fit, timing, window_days)[0])
    # an open room with little of its refunds due yet says little about the level, and a refund
    # that came earlier than the curve expects would make its likelihood degenerate
    used = share >= MIN_SHARE
    closed = closed[used]
    gmv = fit["gmv"].to_numpy()[used]
    refunds = fit["refunds"].to_numpy()[used]
    is_open = ~closed
    exposure = gmv * share[used]
    # stage 1, one level for all: the Poisson estimate with offsets (Cape Cod), phi, level_sd
    q = float(refunds.sum() / exposure.sum())
    mu = np.maximum(q * exposure, 1e-9)
    phi = float(np.sum((refunds - mu) ** 2 / mu) / max(len(mu) - 1, 1))
    level_sd, weeks = _level_sd(frame, window_days, reference_days, phi)
    theta = np.array([math.log(q), 0.0])
    precision = 1.0 / level_sd**2 if level_sd > 0 and is_open.any() else 0.0
    if precision:
        # stage 2: the open rooms' level may differ by e^delta, delta ~ N(0, level_sd^2)
        def loss(t: np.ndarray) -> float:
            m = np.maximum(np.exp(t[0] + t[1] * is_open) * exposure, 1e-9)
            return float(np.sum(m - refunds * np.log(m)) / phi + 0.5 * precision * t[1] ** 2)

        theta = np.asarray(optimize.minimize(loss, theta, method="BFGS").x, dtype=float)
    mu = np.maximum(np.exp(theta[0] + theta[1] * is_open) * exposure, 1e-9)
    # Fisher information of (log q, delta): d mu / d log q = mu, d mu / d delta = mu * open
    m_all, m_open = float(mu.sum()), float(mu[is_open].sum())
    info = np.array([[m_all, m_open], [m_open, m_open]]) / phi
    if precision:
        cov = np.linalg.inv(info + np.diag([0.0, precision]))
    else:
        cov = np.array([[1.0 / info[0, 0], 0.0], [0.0, 0.0]])
    development = RefundDevelopment(
        refund_ratio=float(math.exp(theta[0])),
        open_level_shift=float(math.exp(theta[1])),
        dispersion=phi,
        level_sd=level_sd,
        reference_rooms=int(closed.sum()),
        open_rooms=int(is_open.sum()),
        level_weeks=weeks,
        timing_orders=len(amount),
        timing_refunds=refunded,
        curve=pl.DataFrame({"age_days": days, "share_received": curve}),
    )
    return _Fit(development, theta, cov, curves, timing, amount[amount > 0])


def project_net_roas(
    rooms: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    history: pl.DataFrame | None = None,
    *,
    as_of: datetime,
    gross_margin: float | None = None,
    level: float = 0.9,
    window_days: int = WINDOW_DAYS,
    reference_days: int = 14,
    draws: int = 4000,
    seed: int = 0,
) -> NetRoasProjection:
    """Net ROAS of ``rooms`` once their 7-day refund windows have closed, with an interval.

    ``rooms``: the period's 千川 rooms (``room_id``, ``stat_cost``,
    ``live_pay_order_gmv_alias``, ``live_order_refund_amount_7d``, ``end_time``);
    ``orders`` / ``order_items``: 抖店 orders reaching ``as_of`` (the refund timing of the
    last ``window_days`` + 1 days); ``history``: earlier rooms of the same store (e.g. eight
    weeks before the period) for the reference level and its week-to-week variation. All as
    synced by ``as_of`` (a naive moment is China time). A room is **provisional** while
    ``as_of`` < its end + ``window_days``.

    The method and its assumptions are in the comment above :class:`RefundDevelopment`; the
    interval (``level``, e.g. 0.9 for 5%-95%) is simulated with ``draws`` draws from
    ``seed``; the projected values are expectations (additive over rooms): a room with few
    refunds still due may have its expectation above its interval, its likeliest outcome
    being no more refunds. Closed rooms count exactly.

    ``verdict`` (shop and per room): ``above`` when the interval's low end is at or above the
    break-even ROAS (1 / ``gross_margin``), ``below`` when its high end is below it,
    ``cannot_tell`` when it straddles it, ``undefined`` without spend or margin.
    """
    if not 0.0 < level < 1.0:
        raise LivekitError(f"区间水平 level 须在 0 与 1 之间（如 0.9），收到 {level!r}")
    if window_days <= 0 or reference_days <= 0:
        raise LivekitError("窗口天数 window_days 与参考天数 reference_days 须为正整数")
    if draws < 100:
        raise LivekitError(f"模拟次数 draws 至少为 100，收到 {draws!r}")
    as_of = _as_china(as_of)
    breakeven = _breakeven(_margin(gross_margin))
    period = _room_ages(rooms, as_of, window_days)
    both = (
        pl.concat(
            [history.select(*ROOM_COLUMNS, "end_time"), rooms.select(*ROOM_COLUMNS, "end_time")],
            how="vertical_relaxed",
        )
        if history is not None
        else rooms
    )
    fitted = fit_refund_development(
        both,
        orders,
        order_items,
        as_of=as_of,
        window_days=window_days,
        reference_days=reference_days,
        seed=seed,
    )
    alpha = (1.0 - level) / 2.0
    spend = float(period["spend"].sum())
    gmv_all = float(period["gmv"].sum())
    refunds = float(period["refunds"].sum())
    gmv = period["gmv"].to_numpy()
    so_far = period["refunds"].to_numpy()
    provisional = ~period["closed"].to_numpy()
    total: tuple[float | None, float | None, float | None] = (None, None, None)
    if fitted is None and provisional.any():
        point = low = high = np.where(provisional, np.nan, so_far)
    else:
        point, low, high = so_far.copy(), so_far.copy(), so_far.copy()
        sims = np.zeros((draws, 0))
        if fitted is not None and provisional.any():
            dev = fitted.development
            rng = np.random.default_rng(seed + 1)
            params = rng.multivariate_normal(fitted.theta, fitted.cov, size=draws, method="svd")
            level_draws = np.exp(params[:, 0] + params[:, 1])
            open_rooms = period.filter(~pl.col("closed"))
            shares = _due_shares(fitted.curves, open_rooms, fitted.timing, window_days)
            rest = 1.0 - shares[np.arange(draws) % len(shares)]
            g = gmv[provisional]
            expected = level_draws[:, None] * g[None, :] * rest
            to_come = _compound_poisson(rng, expected, fitted.amounts)
            sims = np.minimum(so_far[provisional][None, :] + to_come, g[None, :])
            curve = dev.curve["share_received"].to_numpy()[None, :]
            rest_hat = 1.0 - _due_shares(curve, open_rooms, fitted.timing, window_days)[0]
            q_open = dev.refund_ratio * dev.open_level_shift
            point[provisional] = np.minimum(so_far[provisional] + q_open * g * rest_hat, g)
            low[provisional] = np.quantile(sims, alpha, axis=0)
            high[provisional] = np.quantile(sims, 1.0 - alpha, axis=0)
        closed_sum = float(so_far[~provisional].sum())
        shop = closed_sum + sims.sum(axis=1) if sims.shape[1] else np.array([closed_sum])
        total = (
            float(point.sum()),
            float(np.quantile(shop, alpha)),
            float(np.quantile(shop, 1.0 - alpha)),
        )

    def net(final: float | None) -> float | None:
        return None if final is None or spend <= 0 else (gmv_all - final) / spend

    per_room = period.with_columns(
        pl.Series("refunds_projected", point, pl.Float64).fill_nan(None),
        pl.Series("refunds_low", low, pl.Float64).fill_nan(None),
        pl.Series("refunds_high", high, pl.Float64).fill_nan(None),
    ).with_columns(
        pl.col("closed").not_().alias("provisional"),
        safe_ratio(pl.col("gmv") - pl.col("refunds"), pl.col("spend")).alias("net_roas"),
        safe_ratio(pl.col("gmv") - pl.col("refunds_projected"), pl.col("spend")).alias(
            "net_roas_projected"
        ),
        # more refunds, lower net ROAS: the interval's ends swap
        safe_ratio(pl.col("gmv") - pl.col("refunds_high"), pl.col("spend")).alias("net_roas_low"),
        safe_ratio(pl.col("gmv") - pl.col("refunds_low"), pl.col("spend")).alias("net_roas_high"),
        pl.lit(breakeven, pl.Float64).alias("breakeven_roas"),
    )
    verdicts = [
        _verdict(lo, hi, breakeven)
        for lo, hi in per_room.select("net_roas_low", "net_roas_high").iter_rows()
    ]
    per_room = per_room.with_columns(pl.Series("verdict", verdicts, pl.String)).select(
        list(PROJECTION_ROOM_SCHEMA)
    )
    keep = [c for c in ("date", "start_time", "aweme_name", "room_title") if c in rooms.columns]
    if keep:
        labels = rooms.unique("room_id", keep="last").select(
            pl.col("room_id").cast(pl.Int64), *keep
        )
        per_room = labels.join(per_room, on="room_id", how="right").select(
            "room_id", *keep, *[c for c in PROJECTION_ROOM_SCHEMA if c != "room_id"]
        )
    sort = [c for c in ("date", "start_time", "room_id") if c in per_room.columns]
    low_net, high_net = net(total[2]), net(total[1])
    return NetRoasProjection(
        rooms=per_room.sort(sort),
        as_of=as_of,
        level=level,
        spend=spend,
        gmv=gmv_all,
        refunds=refunds,
        refunds_projected=total[0],
        refunds_low=total[1],
        refunds_high=total[2],
        net_roas=net(refunds),
        net_roas_projected=net(total[0]),
        net_roas_low=low_net,
        net_roas_high=high_net,
        breakeven_roas=breakeven,
        verdict=_verdict(low_net, high_net, breakeven),
        provisional_rooms=int(provisional.sum()),
        final_at=_latest(per_room.filter(pl.col("provisional"))["final_at"]),
        development=None if fitted is None else fitted.development,
    )


def net_roas_by_day(projection: NetRoasProjection) -> pl.DataFrame:
    """Per day of the projection's rooms (they need ``date``), in date order: ``rooms``,
    ``provisional_rooms``, ``spend``, ``gmv``, ``refunds`` (so far), ``refunds_projected``,
    ``roas``, ``net_roas`` (with the refunds so far) and ``net_roas_projected``.

    The projected values are the rooms' expectations summed (they add up; null on a day with a
    room that has none). A day gets no interval: its rooms' intervals do not add up.
    """
    rooms = projection.rooms
    require_columns(rooms, ("date",), "净成交ROI 推算的分场结果（需有 date 列）")
    projected = pl.col("refunds_projected")
    return (
        rooms.group_by("date")
        .agg(
            pl.len().cast(pl.Int64).alias("rooms"),
            pl.col("provisional").sum().cast(pl.Int64).alias("provisional_rooms"),
            pl.col("spend", "gmv", "refunds").sum(),
            pl.when(projected.null_count() == 0).then(projected.sum()).alias("refunds_projected"),
        )
        .with_columns(
            safe_ratio(pl.col("gmv"), pl.col("spend")).alias("roas"),
            safe_ratio(pl.col("gmv") - pl.col("refunds"), pl.col("spend")).alias("net_roas"),
            safe_ratio(pl.col("gmv") - projected, pl.col("spend")).alias("net_roas_projected"),
        )
        .sort("date")
    )
