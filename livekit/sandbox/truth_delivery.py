"""The delivery truths planted by ``livekit.sandbox.delivery``, for ``livekit sandbox truth``.

* ``planted``: the model's parameters (warehouse, tiers, carriers, handling and transit,
  promise, festival backlog, the late-refund rule).
* ``provinces``: per province, the median and the 90th percentile of payment -> receipt days
  on ordinary (non-festival) days under the model: the distribution of handling + transit,
  a mixture over the carriers, computed by numerical integration (no random draws).
* ``late_refund(world, first, last, received_by_ts)``: the expected refund rates of late and
  on-time parcels from the model's probabilities (see its docstring), and their difference.
* ``ship_late_share(world, first, last)``: the expected share shipped after the promise.

``truth(world)`` publishes the last two for orders paid today-40..today-10 (and received by
today-7 for the refunds), and says so under ``window``.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np

from livekit.sandbox import catalog
from livekit.sandbox import delivery as dv
from livekit.sandbox import world as w

BASE_REFUND_DELAY_S = (43200, 6 * 86400)  # world._make_orders: pay + integers(lo, hi)
QUADRATURE_POINTS = 4000
DELAY_BUCKETS = (2.0, 3.0, 4.0, 5.0, 6.0)  # delivery days, right-closed: (0, 2], (2, 3], ...


def planted() -> dict[str, Any]:
    return {
        "warehouse": dict(dv.WAREHOUSE),
        "tiers": {
            tier: {"transit_median_days": median, "provinces": list(provinces)}
            for tier, (median, provinces) in dv.TIERS.items()
        },
        "carriers": [
            {
                "company": c.company,
                "company_name": c.name,
                "share": c.share,
                "transit_factor": c.factor,
            }
            for c in dv.CARRIERS
        ],
        "handling": {
            "distribution": "lognormal, payment -> ship",
            "median_hours": dv.HANDLING_MEDIAN_HOURS,
            "sigma": dv.HANDLING_SIGMA,
        },
        "transit": {
            "distribution": "lognormal(log(tier median x carrier factor), sigma), ship -> receipt",
            "sigma": dv.TRANSIT_SIGMA,
        },
        "max_delivery_days": dv.MAX_DELIVERY_DAYS,
        "promise": {"field": "exp_ship_time", "hours_after_payment": dv.PROMISE_HOURS},
        "festival": {
            "paid_between": [
                f"{dv.FESTIVAL_MONTH:02d}-{dv.FESTIVAL_DAYS[0]:02d}",
                f"{dv.FESTIVAL_MONTH:02d}-{dv.FESTIVAL_DAYS[1]:02d}",
            ],
            "handling_factor": dv.FESTIVAL_HANDLING,
            "transit_factor": dv.FESTIVAL_TRANSIT,
        },
        "ship_late_probability": {
            "definition": "P(ship > exp_ship_time) of a parcel that ships",
            "ordinary": round(_p_handling_over(dv.PROMISE_HOURS, 1.0), 4),
            "festival": round(_p_handling_over(dv.PROMISE_HOURS, dv.FESTIVAL_HANDLING), 4),
        },
        "confirm_days_after_receipt": list(dv.CONFIRM_DAYS),
        "late_days": dv.LATE_DAYS,
        "late_refund_extra": dv.LATE_REFUND_EXTRA,
        "late_refund_delay_hours": [x / 3600 for x in dv.LATE_REFUND_DELAY_S],
        "base_refund": {
            "probability": w.REFUND_PROB,
            "probability_festival": w.REFUND_PROB_FESTIVAL,
            "festival": "orders of shows whose season traffic factor is >= 1.5 (11-01..11-11, 06-18)",
            "delay_hours": [x / 3600 for x in BASE_REFUND_DELAY_S],
            "before_ship": "never ships (main_status 21, after_sale_type 2)",
        },
    }


def _p_handling_over(hours: float, factor: float) -> float:
    from scipy.special import ndtr

    z = math.log(hours / (dv.HANDLING_MEDIAN_HOURS * factor)) / dv.HANDLING_SIGMA
    return float(1.0 - ndtr(z))


def delivery_cdf(province: str, days: float, festival: bool = False) -> float:
    """P(payment -> receipt <= ``days``) under the model (without the 13-day cap).

    Handling H is integrated on equal-probability nodes of its lognormal; the transit given H
    is a mixture over the carriers of lognormals, evaluated exactly."""
    from scipy.special import ndtr

    h = _handling_nodes_days(festival)
    rest = days - h
    ok = rest > 0
    log_rest = np.log(np.where(ok, rest, 1.0))
    transit = dv.TRANSIT_MEDIAN_DAYS[province] * (dv.FESTIVAL_TRANSIT if festival else 1.0)
    total = np.zeros_like(h)
    for c in dv.CARRIERS:
        z = (log_rest - math.log(transit * c.factor)) / dv.TRANSIT_SIGMA
        total += c.share * ndtr(z)
    return float(np.where(ok, total, 0.0).mean() / sum(c.share for c in dv.CARRIERS))


@cache
def _handling_nodes_days(festival: bool) -> np.ndarray:
    from scipy.special import ndtri

    q = (np.arange(QUADRATURE_POINTS) + 0.5) / QUADRATURE_POINTS
    median = dv.HANDLING_MEDIAN_HOURS * (dv.FESTIVAL_HANDLING if festival else 1.0) / 24.0
    out: np.ndarray = median * np.exp(dv.HANDLING_SIGMA * ndtri(q))
    return out


def delivery_quantile(province: str, q: float, festival: bool = False) -> float:
    """Days from payment to receipt by which a share ``q`` of parcels to ``province`` arrive."""
    from scipy.optimize import brentq

    root = brentq(lambda x: delivery_cdf(province, x, festival) - q, 1e-6, 60.0, xtol=1e-7)
    return float(root)


def provinces() -> dict[str, dict[str, Any]]:
    out = {}
    for name, _, _ in catalog.PROVINCES:
        out[name] = {
            "tier": dv.TIER_OF[name],
            "transit_median_days": dv.TRANSIT_MEDIAN_DAYS[name],
            "median_days": round(delivery_quantile(name, 0.5), 4),
            "p90_days": round(delivery_quantile(name, 0.9), 4),
            "late_share": round(1.0 - delivery_cdf(name, dv.LATE_DAYS), 4),
        }
    return out


def _ship_before_refund_cdf(ship_delay_s: np.ndarray) -> np.ndarray:
    """P(base refund delay < ship delay): the base refund delay is uniform on the integers
    [lo, hi) seconds after payment."""
    lo, hi = BASE_REFUND_DELAY_S
    out: np.ndarray = np.clip((ship_delay_s - lo) / (hi - lo), 0.0, 1.0)
    return out


def late_refund(
    world: w.World,
    first: date,
    last: date,
    received_by_ts: int,
    buckets: tuple[float, ...] = DELAY_BUCKETS,
) -> dict[str, Any]:
    """Expected refund rates of late and on-time parcels, from the model's probabilities.

    Orders: paid (China date) in [``first``, ``last``], any kind, that shipped and were
    received before ``received_by_ts`` (their shipping and receipt as realized). Late: payment ->
    receipt > LATE_DAYS days. An order of refund probability p (its show's) ships at delay s;
    given that it shipped (its base refund, if any, did not come before s), it is base-refunded
    with probability q = p (1 - F(s)) / (1 - p F(s)), F the refund delay's uniform CDF; a late
    one not base-refunded gets the extra refund with probability LATE_REFUND_EXTRA. Every
    refund of these orders has happened by ``received_by_ts`` + 6 days. Also by delivery
    days in right-closed ``buckets`` ((0, 2], (2, 3], ..., (6, inf) by default)."""
    t0 = w.to_epoch(datetime.combine(first, datetime.min.time(), w.CHINA_TZ))
    t1 = w.to_epoch(datetime.combine(last + timedelta(days=1), datetime.min.time(), w.CHINA_TZ))
    p: list[float] = []
    ship: list[int] = []
    days: list[float] = []
    # repurchases are paid up to 7 days after their show
    for s in world.iter_sessions(first - timedelta(days=8), last):
        refund_p = w.REFUND_PROB_FESTIVAL if w.is_festival(s.day) else w.REFUND_PROB
        for o in s.orders:
            if not (t0 <= o.pay_ts < t1) or not o.ship_ts or not (o.receipt_ts < received_by_ts):
                continue
            p.append(refund_p)
            ship.append(o.ship_ts - o.pay_ts)
            days.append((o.receipt_ts - o.pay_ts) / 86400)
    pa, sa, da = np.array(p), np.array(ship, dtype=float), np.array(days, dtype=float)
    la = da > dv.LATE_DAYS
    f = _ship_before_refund_cdf(sa)
    q = pa * (1.0 - f) / (1.0 - pa * f)
    rate = np.where(la, q + (1.0 - q) * dv.LATE_REFUND_EXTRA, q)

    def group(mask: np.ndarray) -> dict[str, Any]:
        n = int(mask.sum())
        return {
            "orders": n,
            "expected_refund_rate": round(float(rate[mask].mean()), 5) if n else None,
        }

    late_g, on_time = group(la), group(~la)
    edges = np.array(buckets, dtype=float)
    idx = np.searchsorted(edges, da, side="left")  # right-closed
    lowers, uppers = [0.0, *buckets], [*buckets, None]
    by_days = [
        {"lower_days": lowers[i], "upper_days": uppers[i], **group(idx == i)}
        for i in range(len(buckets) + 1)
    ]
    diff = (
        round(late_g["expected_refund_rate"] - on_time["expected_refund_rate"], 5)
        if late_g["orders"] and on_time["orders"]
        else None
    )
    return {
        "definition": " ".join((late_refund.__doc__ or "").split()),
        "first_pay_day": first.isoformat(),
        "last_pay_day": last.isoformat(),
        "received_by": w.fmt_time(received_by_ts),
        "late_days": dv.LATE_DAYS,
        "late": late_g,
        "on_time": on_time,
        "difference": diff,
        "by_delivery_days": by_days,
    }


def _ship_late_given_shipped(refund_p: float, festival: bool) -> float:
    """P(ship > exp_ship_time | the order ships) for an order of base refund probability
    ``refund_p``: an order ships unless its base refund comes before its handling time h, so
    shipped orders are weighted by 1 - refund_p F(h)."""
    h_s = _handling_nodes_days(festival) * 86400.0
    weight = 1.0 - refund_p * _ship_before_refund_cdf(h_s)
    late = h_s > dv.PROMISE_HOURS * 3600
    return float((weight * late).sum() / weight.sum())


def ship_late_share(world: w.World, first: date, last: date) -> dict[str, Any]:
    """Expected share of orders shipped after their promised ship time (exp_ship_time), from
    the model's probabilities, among the orders paid (China date) in [``first``, ``last``] that
    ship (those refunded before shipping never do), overall and by province. Each order's
    chance depends on its festival backlog and its base refund probability only."""
    t0 = w.to_epoch(datetime.combine(first, datetime.min.time(), w.CHINA_TZ))
    t1 = w.to_epoch(datetime.combine(last + timedelta(days=1), datetime.min.time(), w.CHINA_TZ))
    province = world.population.province
    sums: dict[str, list[float]] = {}
    total = [0.0, 0.0]
    for s in world.iter_sessions(first - timedelta(days=8), last):
        refund_p = w.REFUND_PROB_FESTIVAL if w.is_festival(s.day) else w.REFUND_PROB
        for o in s.orders:
            if not (t0 <= o.pay_ts < t1) or not o.ship_ts:
                continue
            p_late = _ship_late_given_shipped(refund_p, dv.is_festival(o.pay_ts))
            name = catalog.PROVINCES[int(province[o.buyer])][0]
            acc = sums.setdefault(name, [0.0, 0.0])
            acc[0] += 1
            acc[1] += p_late
            total[0] += 1
            total[1] += p_late
    return {
        "definition": " ".join((ship_late_share.__doc__ or "").split()),
        "first_pay_day": first.isoformat(),
        "last_pay_day": last.isoformat(),
        "orders": int(total[0]),
        "expected_share": round(total[1] / total[0], 5) if total[0] else None,
        "by_province": {
            name: {"orders": int(n), "expected_share": round(x / n, 5)}
            for name, (n, x) in sorted(sums.items(), key=lambda kv: -kv[1][0])
        },
    }


def truth(world: w.World) -> dict[str, Any]:
    """The delivery truths; ``late_refund`` for orders paid today-40..today-10 and received
    before the start of today-7 (China time)."""
    first, last = world.today - timedelta(days=40), world.today - timedelta(days=10)
    received_by = w.to_epoch(
        datetime.combine(world.today - timedelta(days=7), datetime.min.time(), w.CHINA_TZ)
    )
    return {
        "planted": planted(),
        "provinces": provinces(),
        "provinces_definition": (
            "days from payment to receipt on ordinary (non-festival) days under the model: "
            "median and 90th percentile (the natural promise), and the share later than "
            "late_days; numerical integration, no random draws"
        ),
        "late_refund": late_refund(world, first, last, received_by),
        "ship_late_share": ship_late_share(world, first, last),
        "window": {
            "late_refund": "orders paid today-40..today-10, received before today-7 00:00 (China time)",
            "ship_late_share": "orders paid today-40..today-10",
        },
    }
