"""Delivery of the sandbox's orders: ship-by promise, handling, carriers, transit, receipt,
the buyer's confirmation, and the extra refunds of late parcels.

The model (planted; published by ``truth_delivery``):

* one warehouse in 浙江 (杭州); transit takes longer with distance: each province belongs to a
  tier with a median transit time (``TIERS``), a few remote provinces much slower;
* each parcel goes with one carrier, drawn independently of the province (``CARRIERS``), which
  multiplies the transit time;
* handling (payment -> ship) ~ lognormal(median ``HANDLING_MEDIAN_HOURS``, sigma
  ``HANDLING_SIGMA``); transit ~ lognormal(log(province median x carrier factor),
  ``TRANSIT_SIGMA``); receipt = ship + transit, at most ``MAX_DELIVERY_DAYS`` after payment;
* festival backlog: orders paid 11-01..11-13 (any year, China time) take ``FESTIVAL_HANDLING``
  times longer to ship and ``FESTIVAL_TRANSIT`` times longer in transit;
* the promise is the 抖店 standard ship-by time: ``exp_ship_time`` = payment + 48 h;
* the buyer confirms receipt ``CONFIRM_DAYS`` after it (the order finishes then);
* refunds: the world's base refund (drawn in ``world._make_orders``) is kept with its time; a
  refund before the ship time means the parcel never ships; otherwise the parcel ships and is
  received as planned. A completed refund closes the order: the buyer confirms nothing after it.
  A parcel that is not base-refunded and takes more than ``LATE_DAYS`` days from payment to
  receipt is refunded with probability ``LATE_REFUND_EXTRA``, ``LATE_REFUND_DELAY_S`` after
  the receipt (退货退款);
* every event of an order lies within ``SETTLE_DAYS`` (< the client's 15 days of settling for
  order partitions) after its payment.

Randomness: each order draws from its own counter-based generator, a keyed hash of the seed and
the order id (``draws``), so the sessions' streams are untouched and an order's delivery does
not depend on any other order. A hash rather than a numpy Generator per order: building one
costs ~15 µs, which is a quarter of a whole world's simulation time over ~50 000 orders.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from statistics import NormalDist
from typing import TYPE_CHECKING

from livekit.sandbox import catalog

if TYPE_CHECKING:
    from livekit.sandbox.world import Order, World

CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")
DAY_S = 86400
HOUR_S = 3600

WAREHOUSE = {"province": "浙江", "city": "杭州"}

# tier name -> (median transit days from the warehouse, provinces)
TIERS: dict[str, tuple[float, tuple[str, ...]]] = {
    "near": (1.2, ("浙江", "上海", "江苏", "安徽")),
    "east_central": (
        1.9,
        ("福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "北京", "天津", "河北"),
    ),
    "far": (
        2.7,
        (
            "广西",
            "重庆",
            "四川",
            "陕西",
            "山西",
            "辽宁",
            "吉林",
            "黑龙江",
            "贵州",
            "云南",
            "海南",
            "内蒙古",
        ),
    ),
    "remote": (4.0, ("甘肃", "宁夏", "青海")),
    "very_remote": (5.5, ("新疆", "西藏")),
}
TIER_OF: dict[str, str] = {p: tier for tier, (_, ps) in TIERS.items() for p in ps}
TRANSIT_MEDIAN_DAYS: dict[str, float] = {p: TIERS[t][0] for p, t in TIER_OF.items()}


@dataclass(frozen=True)
class Carrier:
    company: str  # 抖店 logistics company code
    name: str  # company_name
    share: float  # share of parcels
    factor: float  # multiplies the transit time
    prefix: str  # tracking number prefix
    digits: int  # tracking number digits after the prefix


CARRIERS: tuple[Carrier, ...] = (
    Carrier("zhongtong", "中通快递", 0.65, 1.0, "7", 14),
    Carrier("shunfeng", "顺丰速运", 0.25, 0.7, "SF", 13),
    Carrier("youzhengguonei", "中国邮政", 0.10, 1.3, "9", 12),
)
_CARRIER_CUM = tuple(sum(c.share for c in CARRIERS[: k + 1]) for k in range(len(CARRIERS)))

HANDLING_MEDIAN_HOURS = 16.0
HANDLING_SIGMA = 0.7
TRANSIT_SIGMA = 0.35
FESTIVAL_MONTH = 11
FESTIVAL_DAYS = (1, 13)  # inclusive, by the payment's China date
FESTIVAL_HANDLING = 2.2
FESTIVAL_TRANSIT = 1.4
PROMISE_HOURS = 48  # exp_ship_time = pay_time + 48 h
MAX_SHIP_DAYS = 12
MAX_DELIVERY_DAYS = 13
CONFIRM_DAYS = (0.5, 5.0)  # the buyer confirms receipt this long after it
LATE_DAYS = 4.0  # payment -> receipt longer than this is a late parcel
LATE_REFUND_EXTRA = 0.10
LATE_REFUND_DELAY_S = (6 * HOUR_S, 3 * DAY_S)
SETTLE_DAYS = 14  # no event of an order later than this after its payment
STREAM = "delivery"  # hash key of the per-order draws
_NORMAL = NormalDist()


def is_festival(pay_ts: int) -> bool:
    """Paid during the 双11 backlog (11-01..11-13, China time, any year)."""
    d = datetime.fromtimestamp(pay_ts, CHINA_TZ)
    lo, hi = FESTIVAL_DAYS
    return d.month == FESTIVAL_MONTH and lo <= d.day <= hi


def carrier_index(u: float) -> int:
    """The carrier of a parcel whose uniform draw is ``u`` (by the planted shares)."""
    x = u * _CARRIER_CUM[-1]
    return next((k for k, cum in enumerate(_CARRIER_CUM) if x < cum), len(CARRIERS) - 1)


def draws(seed: int, order_id: str) -> tuple[float, ...]:
    """Seven independent uniforms in (0, 1) of one order: a keyed BLAKE2b hash of the seed and
    the order id, 53 bits per uniform."""
    digest = hashlib.blake2b(f"{STREAM}|{seed}|{order_id}".encode(), digest_size=56).digest()
    return tuple(((x >> 11) + 0.5) * 2.0**-53 for x in struct.unpack("<7Q", digest))


def plan(seed: int, o: Order, province: str) -> None:
    """Decide the delivery of one order (in place): promise, carrier, ship, receipt, confirm,
    and a late-delivery refund. Unpaid orders get nothing."""
    if not o.pay_ts:
        return
    # a fixed set of draws per order, whatever happens to it
    u_carrier, u_confirm, u_late, u_late_delay, u_handling, u_transit, u_serial = draws(
        seed, o.order_id
    )
    z_handling, z_transit = _NORMAL.inv_cdf(u_handling), _NORMAL.inv_cdf(u_transit)
    serial = int(u_serial * 10**15)

    pay = o.pay_ts
    festival = is_festival(pay)
    k = carrier_index(u_carrier)
    carrier = CARRIERS[k]
    handling_h = HANDLING_MEDIAN_HOURS * math.exp(HANDLING_SIGMA * z_handling)
    transit_d = TRANSIT_MEDIAN_DAYS[province] * carrier.factor * math.exp(TRANSIT_SIGMA * z_transit)
    if festival:
        handling_h *= FESTIVAL_HANDLING
        transit_d *= FESTIVAL_TRANSIT
    ship = pay + min(round(handling_h * HOUR_S), MAX_SHIP_DAYS * DAY_S)
    receipt = min(ship + round(transit_d * DAY_S), pay + MAX_DELIVERY_DAYS * DAY_S)
    lo, hi = CONFIRM_DAYS
    confirm = min(receipt + round((lo + (hi - lo) * u_confirm) * DAY_S), pay + SETTLE_DAYS * DAY_S)

    o.exp_ship_ts = pay + PROMISE_HOURS * HOUR_S
    if o.refund_ts and o.refund_ts < ship:  # refunded before shipping: never ships
        return
    o.carrier = k
    o.tracking_no = f"{carrier.prefix}{serial % 10**carrier.digits:0{carrier.digits}d}"
    o.ship_ts = ship
    o.receipt_ts = receipt
    late = receipt - pay > LATE_DAYS * DAY_S
    if not o.refund_ts and late and u_late < LATE_REFUND_EXTRA:
        a, b = LATE_REFUND_DELAY_S
        delay = round(a + (b - a) * u_late_delay)
        o.refund_ts = min(receipt + delay, pay + SETTLE_DAYS * DAY_S)
    if not o.refund_ts or o.refund_ts > confirm:  # a completed refund closes the order
        o.confirm_ts = confirm


def plan_orders(world: World, orders: list[Order]) -> None:
    """``plan`` each of a session's orders (called once, when the session's orders are made)."""
    province = world.population.province
    for o in orders:
        plan(world.seed, o, catalog.PROVINCES[int(province[o.buyer])][0])
