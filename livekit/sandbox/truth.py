"""The truths planted in the world, published so that tests can check analyses against them.

Effects are published twice: the planted parameter, and the expected effect on the metric as
defined (computed from the model's own probabilities, not from the random outcomes), which is
what an unbiased estimate should land near. Realized values (ROAS, repurchase share) are
computed here with a plain reference implementation of the definitions in metrics.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

from livekit.sandbox import truth_delivery, truth_forecast, truth_products
from livekit.sandbox import world as w
from livekit.sandbox.aggregates import PAID_IDX


def truth(world: w.World) -> dict[str, Any]:
    """Every published truth. The realized ones cover the detail window (``history``: the last
    DETAIL_DAYS days and today); the served history is longer (``forecast.history_first_day``)."""
    sessions = world.all_sessions()
    main = world.accounts[0]
    return {
        "seed": world.seed,
        "today": world.today.isoformat(),
        "history": {
            "first_day": world.detail_first_day.isoformat(),
            "last_day": world.today.isoformat(),
            "served_first_day": world.first_day.isoformat(),
            "definition": "the detail window the realized truths cover; the endpoints serve every "
            "day from served_first_day",
        },
        "advertiser_id": world.advertiser_id,
        "shop_id": world.shop_id,
        "aweme_ids": [a.aweme_id for a in world.accounts],
        "dwell_conversion": _dwell(sessions),
        "viewer_experiment": _viewer_experiment(world, main, sessions),
        "null_experiment": _null_experiment(world, main),
        "switchback_experiment": _switchback(world, main, sessions),
        "roas": _roas(world, sessions),
        "repurchase": _repurchase(world, sessions),
        "incidents": [
            {
                "kind": i.kind,
                "day": i.day.isoformat(),
                "room_id": i.room_id,
                "start_minute": i.start_minute,
                "end_minute": i.end_minute,
                "product_id": i.product_id,
                "description": _incident_text(i),
            }
            for i in world.incidents()
        ],
        "quiet_day": (world.today - timedelta(days=w.QUIET_DAY)).isoformat(),
        "delivery": truth_delivery.truth(world),
        # products and regions over the default window (truth_products.default_window)
        "products": truth_products.products(world, *truth_products.default_window(world)),
        "regions": truth_products.regions(world, *truth_products.default_window(world)),
        "click_surges": truth_products.click_surges(world),
        "forecast": truth_forecast.truth(world),
    }


def _incident_text(i: w.Incident) -> str:
    if i.kind == "viewer_drop":
        return (
            f"arrivals fall to {w.DROP_ARRIVAL_FACTOR:.0%} for {w.DROP_MINUTES} minutes and "
            f"{w.DROP_LEAVE_SHARE:.0%} of those online leave within 2 minutes"
        )
    return "the product sells out: clicks continue, no order can be paid until the show ends"


def _dwell(sessions: list[w.Session]) -> dict[str, Any]:
    long_p, short_p = [], []
    for s in sessions:
        v = s.visits
        long = (v.leave_s - v.enter_s) > w.DWELL_THRESHOLD_S
        long_p.append(v.p_pay[long])
        short_p.append(v.p_pay[~long])
    expected = float(np.concatenate(long_p).mean() / np.concatenate(short_p).mean())
    return {
        "threshold_seconds": w.DWELL_THRESHOLD_S,
        "metric": "paid visits / visits, dwell > threshold vs <= threshold, all rooms",
        "planted_risk_ratio": w.DWELL_RISK_RATIO,
        "expected_risk_ratio": round(expected, 4),
    }


def viewer_experiment(world: w.World, sessions: list[w.Session] | None = None) -> dict[str, Any]:
    """``truth(world)["viewer_experiment"]`` from ``sessions`` (default: every session; only
    the main account's in the window count), for callers that simulate just those days."""
    return _viewer_experiment(
        world, world.accounts[0], world.all_sessions() if sessions is None else sessions
    )


def _viewer_experiment(world: w.World, acc: w.Account, sessions: list[w.Session]) -> dict[str, Any]:
    hi, lo = w.VIEWER_EXPERIMENT_DAYS
    start, end = world.today - timedelta(days=hi), world.today - timedelta(days=lo)
    mult = 1.0 + w.VIEWER_EXPERIMENT_LIFT
    viewers, p_b, p_a, secs, variants = [], [], [], [], []
    for s in sessions:
        if s.account.index != acc.index or not (start <= s.day <= end):
            continue
        v = s.visits
        base = np.where(v.variant == 1, v.p_pay / mult, v.p_pay)
        viewers.append(v.viewer)
        p_b.append(np.minimum(base * mult, 0.95))
        p_a.append(base)
        secs.append(v.leave_s - v.enter_s)
        variants.append(v.variant)
    lift: float | None = None  # None: the world's history does not reach the window
    if viewers:
        vid = np.concatenate(viewers)
        uniq, inv = np.unique(vid, return_inverse=True)

        def p_any(p: list[np.ndarray]) -> np.ndarray:
            log_none = np.bincount(inv, weights=np.log1p(-np.concatenate(p)), minlength=uniq.size)
            return np.asarray(1.0 - np.exp(log_none))

        lift = float(p_any(p_b).mean() / p_any(p_a).mean() - 1.0)
    return {
        **_viewer_design(world, acc, start, end),
        "assignment": "stable hash of the viewer id; a viewer keeps the arm across visits",
        "metrics": {
            "conversion": {
                "definition": VIEWER_METRIC_DEFINITIONS["conversion"],
                "planted_multiplier_per_visit": mult,
                "expected_lift": None if lift is None else round(lift, 4),
            },
            "watch_seconds": {
                "definition": VIEWER_METRIC_DEFINITIONS["watch_seconds"],
                "expected_lift": 0.0,
            },
        },
    }


# The per-viewer metrics of a viewer-randomized test (livekit's viewer_units computes them).
VIEWER_METRIC_DEFINITIONS = {
    "conversion": "share of viewers with at least one paid visit in the window",
    "click": "share of viewers with at least one product click in the window",
    "watch_seconds": "total watch seconds per viewer in the window",
    "gmv_per_viewer": "total paid amount per viewer in the window (yuan)",
    "visits": "visits per viewer in the window",
}


def _viewer_design(world: w.World, acc: w.Account, start: date, end: date) -> dict[str, Any]:
    """What a viewer-randomized experiment of the main account in [start, end] shares: its
    unit, arms and split, and its pre-period (every earlier day of the detail window, where
    the same hashed viewers watched: the CUPED covariates; None when the window starts at or
    after ``start``)."""
    pre_end = start - timedelta(days=1)
    pre = (
        {"start_date": world.detail_first_day.isoformat(), "end_date": pre_end.isoformat()}
        if world.detail_first_day <= pre_end
        else None
    )
    return {
        "unit": "viewer",
        "aweme_id": acc.aweme_id,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "pre_period": pre,
        "variant_column": "variant",
        "arms": ["A", "B"],
        "planned_split": [0.5, 0.5],
    }


def _null_experiment(world: w.World, acc: w.Account) -> dict[str, Any]:
    """The viewer-randomized experiment with no effect: its arms change nothing in the model
    (World.null_variant_of), so every metric's expected lift is exactly 0."""
    hi, lo = w.NULL_EXPERIMENT_DAYS
    start, end = world.today - timedelta(days=hi), world.today - timedelta(days=lo)
    return {
        **_viewer_design(world, acc, start, end),
        "assignment": (
            "stable hash of the viewer id with its own salt (independent of the "
            "viewer_experiment's arms); a viewer keeps the arm across visits; the arms change "
            "nothing (a null experiment, for false-positive checks)"
        ),
        "metrics": {
            name: {"definition": text, "expected_lift": 0.0}
            for name, text in VIEWER_METRIC_DEFINITIONS.items()
        },
    }


def _switchback(world: w.World, acc: w.Account, sessions: list[w.Session]) -> dict[str, Any]:
    hi, lo = w.SWITCHBACK_DAYS
    start, end = world.today - timedelta(days=hi), world.today - timedelta(days=lo)
    rows = []
    num_b = num_a = 0.0
    for s in sessions:
        if s.account.index != acc.index or s.switchback < 0:
            continue
        v = s.visits
        p = v.p_pay
        num_b += float((p + (1 - p) * s.kappa * w.SWITCHBACK_CLICK_MULTIPLIER).sum())
        num_a += float((p + (1 - p) * s.kappa).sum())
        rows.append({"room_id": s.room_id, "day": s.day.isoformat(), "variant": "AB"[s.switchback]})
    return {
        "unit": "session",
        "aweme_id": acc.aweme_id,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "assignment": "each session of the main account flips a fair coin",
        "sessions": rows,
        "metrics": {
            "click_rate": {
                "definition": "live_click_product_count_alias / total_live_watch_cnt",
                "planted_multiplier_on_browse_clicks": w.SWITCHBACK_CLICK_MULTIPLIER,
                "expected_lift": round(num_b / num_a - 1.0, 4) if num_a else None,
            },
            "conversion_rate": {
                "definition": "live_pay_order_count_alias / total_live_watch_cnt",
                "expected_lift": 0.0,
            },
        },
    }


def _roas(world: w.World, sessions: list[w.Session]) -> dict[str, Any]:
    gmv = spend = 0
    for s in sessions:
        if s.day >= world.today:
            continue
        v = s.visits
        gmv += int(v.amount_fen.sum())
        spend += int((v.source == PAID_IDX).sum()) * s.cost_per_ad_visit_fen
    return {
        "definition": (
            "sum of live_pay_order_gmv_alias / sum of stat_cost over all rooms of the detail "
            "window before today"
        ),
        "planted_level": w.TARGET_ROAS,
        "planted_on": (
            "days outside every festival window: spend is planned (exogenous), so festival "
            "lifts raise the ROAS of their days above it and the spend multiplier m_d moves a "
            "day's ROAS by m_d ** (elasticity - 1)"
        ),
        "realized": round(gmv / spend, 4) if spend else None,
        "gmv_yuan": round(gmv / 100, 2),
        "spend_yuan": round(spend / 100, 2),
    }


def _repurchase(world: w.World, sessions: list[w.Session]) -> dict[str, Any]:
    """Share of 7-day GMV that is repeat purchase, by the reference definition in metrics.md.

    For each room, its buyers are the doudian_open_ids with a paid order in it; repeat
    purchases are the same buyers' other paid orders within 7 days after their first payment
    in that room (any channel, other rooms included). Rooms whose window is not closed yet
    (started within 8 days of today) are left out, and so are rooms before the detail window.
    """
    paid_by_buyer: dict[int, list[tuple[int, str, int]]] = {}
    # the buyers' other orders: any session's, the 8 days before the window's rooms included
    # (their repurchases are paid within the window)
    earlier = world.iter_sessions(
        world.detail_first_day - timedelta(days=8), world.detail_first_day - timedelta(days=1)
    )
    for s in [*earlier, *sessions]:
        for o in s.orders:
            if o.pay_ts:
                paid_by_buyer.setdefault(o.buyer, []).append((o.pay_ts, o.order_id, o.amount_fen))
    cutoff = world.today - timedelta(days=8)
    own = repeat = 0
    for s in sessions:
        if s.day > cutoff:
            continue
        first: dict[int, int] = {}
        mine = set()
        for o in s.orders:
            if o.kind == "live" and o.pay_ts:
                own += o.amount_fen
                mine.add(o.order_id)
                first[o.buyer] = min(first.get(o.buyer, o.pay_ts), o.pay_ts)
        for buyer, t0 in first.items():
            for pay_ts, oid, amount in paid_by_buyer[buyer]:
                if oid not in mine and t0 < pay_ts <= t0 + w.REPURCHASE_WINDOW_S:
                    repeat += amount
    return {
        "window_days": 7,
        "planted_probability_per_order": w.REPURCHASE_PROB,
        "realized_share_of_7d_gmv": round(repeat / (own + repeat), 4) if own + repeat else None,
        "rooms_through": cutoff.isoformat(),
        "definition": " ".join((_repurchase.__doc__ or "").split("\n\n")[1].split()),
    }
