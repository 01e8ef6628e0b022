"""Planted truths of products, regions and click surges, published through truth.py.

As everywhere in the sandbox's truths (see truth.py), each effect is published twice: the
planted parameter, and the expected value of the metric *as the analysis defines it*, computed
from the model's own probabilities on the realized visits (never from the random outcomes).
The functions that depend on a window take it as arguments, so that a bench can ask for its
own; ``truth(world)`` publishes them for the default window (:func:`default_window`).

The model (world.py): a visit clicks with probability ``p_click`` (paying with ``p_pay``, so a
browsing click has ``p_click - p_pay``) at a time uniform on [enter, enter + 0.9 x dwell]; at
time t a paying click picks lineup product j with probability proportional to
a_j x L_j^[j explained at t] x c_j x S_j(t), a browsing one without c_j. On a show with a
planted surge, a visit that did not click gets an extra click on the surging product with
probability 1 - exp(-h x minutes online during the surge), at a time uniform in that overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from livekit.sandbox import catalog
from livekit.sandbox import world as w

WINDOW_DAYS = 30


def default_window(world: w.World) -> tuple[date, date]:
    """The window ``truth(world)`` publishes: the 30 days before today (today excluded)."""
    return world.today - timedelta(days=WINDOW_DAYS), world.today - timedelta(days=1)


def _sessions(world: w.World, first: date, last: date, aweme_id: int | None) -> list[w.Session]:
    return [
        s
        for s in world.iter_sessions(first, last)
        if aweme_id is None or s.account.aweme_id == aweme_id
    ]


def _window(first: date, last: date, aweme_id: int | None) -> dict[str, Any]:
    return {
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "aweme_id": aweme_id,
        "shows": "every show that started on a day in [first_day, last_day] (China time)"
        + ("" if aweme_id is None else " of aweme_id"),
    }


# ---- products ---------------------------------------------------------------------------------
@dataclass
class _Tally:
    """Expected counts of one product, summed over the shows listing it."""

    shows: int = 0
    visits: int = 0
    clicks_in: float = 0.0  # expected clicks while the product is explained
    clicks_out: float = 0.0  # ... while it is not (surge clicks included)
    paid: float = 0.0  # expected paying clicks
    minutes_in: float = 0.0
    minutes_out: float = 0.0
    rooms: list[int] = field(default_factory=list)


def session_product_expectations(
    world: w.World, s: w.Session
) -> dict[int, tuple[float, float, float, float, float]]:
    """Per lineup position explained at least once in the show: (expected clicks while it is
    explained, expected clicks while it is not, expected paying clicks, minutes explained,
    minutes not explained).

    Vectorized over visits x pieces of the show on which the choice probabilities are
    constant (segment, surge and stock-out boundaries): a visit's expected clicks in a piece
    are its click probability times the share of its click-time density in the piece.
    """
    v = s.visits
    dur = float(s.duration_s)
    stockout = s.stockout_pos >= 0 and math.isfinite(s.stockout_s)
    starts, explained, w_browse, w_pay = w.choice_pieces(
        world,
        s.lineup,
        s.segment_start_s,
        s.segment_product,
        dur,
        (s.surge_pos, s.surge_start_s, s.surge_end_s),
        (s.stockout_s,) if stockout else (),
    )
    bounds = np.append(starts, dur)
    span = np.maximum(0.9 * (v.leave_s - v.enter_s), 1e-9)
    cdf = np.clip((bounds[None, :] - v.enter_s[:, None]) / span[:, None], 0.0, 1.0)
    frac = np.diff(cdf, axis=1)  # visits x pieces: share of the click-time density
    phi_pay = v.p_pay @ frac
    phi_browse = (v.p_click - v.p_pay) @ frac
    share_pay = w_pay / w_pay.sum(axis=1, keepdims=True)
    share_browse = w_browse / w_browse.sum(axis=1, keepdims=True)
    paid = phi_pay[:, None] * share_pay
    clicks = paid + phi_browse[:, None] * share_browse
    if stockout:
        # No order of the sold-out product can be paid from the stock-out on; its paying
        # clicks after it become browsing ones (approximately: a payment follows its click
        # by 10-90 s, the cut is at the click).
        paid[starts >= s.stockout_s, s.stockout_pos] = 0.0
    surge_extra = 0.0
    if s.surge_pos >= 0:
        overlap = np.clip(
            np.minimum(v.leave_s, s.surge_end_s) - np.maximum(v.enter_s, s.surge_start_s), 0, None
        )
        p_extra = -np.expm1(-s.surge_hazard * overlap / 60.0)
        surge_extra = float(((1.0 - v.p_click) * p_extra).sum())
    minutes = np.diff(bounds) / 60.0
    out: dict[int, tuple[float, float, float, float, float]] = {}
    for pos in np.unique(s.segment_product).tolist():
        mine = explained == pos
        c_in = float(clicks[mine, pos].sum())
        c_out = float(clicks[~mine, pos].sum()) + (surge_extra if pos == s.surge_pos else 0.0)
        m_in = float(minutes[mine].sum())
        out[int(pos)] = (c_in, c_out, float(paid[:, pos].sum()), m_in, dur / 60.0 - m_in)
    return out


def products(
    world: w.World, first: date, last: date, aweme_id: int | None = None
) -> dict[str, Any]:
    """Per product: the planted a_j, L_j, c_j and, over the shows in [first, last] that list
    it, expected clicks, paying clicks, click-through, click-to-pay and explanation lift."""
    tallies: dict[int, _Tally] = {}
    for s in _sessions(world, first, last, aweme_id):
        n = len(s.visits)
        for pos, (c_in, c_out, paid, m_in, m_out) in session_product_expectations(world, s).items():
            t = tallies.setdefault(int(s.lineup[pos]), _Tally())
            t.shows += 1
            t.visits += n
            t.clicks_in += c_in
            t.clicks_out += c_out
            t.paid += paid
            t.minutes_in += m_in
            t.minutes_out += m_out
            t.rooms.append(s.room_id)
    items: list[dict[str, Any]] = []
    for j in sorted(tallies, key=lambda j: world.products[j].product_id):
        t = tallies[j]
        p = world.products[j]
        clicks = t.clicks_in + t.clicks_out
        rate_in = t.clicks_in / t.minutes_in if t.minutes_in else None
        rate_out = t.clicks_out / t.minutes_out if t.minutes_out else None
        items.append(
            {
                "product_id": p.product_id,
                "title": p.title,
                "attractiveness": p.attractiveness,
                "planted_explanation_lift": round(float(world.explain_lift[j]), 4),
                "planted_conversion_factor": round(float(world.conversion_factor[j]), 4),
                "shows": t.shows,
                "visits": t.visits,
                "expected_clicks": round(clicks, 3),
                "expected_paid_clicks": round(t.paid, 3),
                "click_through": round(clicks / t.visits, 6) if t.visits else None,
                "click_to_pay": round(t.paid / clicks, 6) if clicks else None,
                "explained_minutes": round(t.minutes_in, 2),
                "not_explained_minutes": round(t.minutes_out, 2),
                "expected_clicks_explained": round(t.clicks_in, 3),
                "expected_clicks_not_explained": round(t.clicks_out, 3),
                "explanation_lift": (
                    round(rate_in / rate_out, 4) if rate_in is not None and rate_out else None
                ),
            }
        )
    eligible = [
        x
        for x in items
        if x["click_to_pay"] is not None and x["expected_paid_clicks"] >= x["shows"]
    ]
    best = max(eligible, key=lambda x: x["click_to_pay"])["product_id"] if eligible else None
    return {
        "window": _window(first, last, aweme_id),
        "definitions": {
            "listed": "a product is listed in a show when it has at least one explanation "
            "window there (the sandbox's explanation schedule); only those shows count",
            "click_through": "expected clicks on the product / visits of the shows listing it",
            "click_to_pay": "expected paying clicks on the product / expected clicks on it",
            "explanation_lift": "(expected clicks on the product during its explanation "
            "windows / minutes explained) / (expected clicks on it outside them / minutes "
            "not explained), pooled over the shows listing it; surge clicks count as not "
            "explained",
            "best_by_click_to_pay": "the product with the highest click_to_pay among those "
            "with at least one expected paying click per show listing it",
        },
        "planted": {
            "click_weight": "attractiveness x explanation_lift while explained x "
            "conversion_factor for a paying click x surge factor",
            "explain_lift_median": w.EXPLAIN_LIFT_MEDIAN,
            "explain_lift_range": list(w.EXPLAIN_LIFT_RANGE),
            "conversion_factor_range": list(w.CONVERSION_FACTOR_RANGE),
            "surge_choice_factor": w.CLICK_SURGE_CHOICE_FACTOR,
        },
        "best_by_click_to_pay": best,
        "products": items,
    }


# ---- regions ----------------------------------------------------------------------------------
def regions(world: w.World, first: date, last: date, aweme_id: int | None = None) -> dict[str, Any]:
    """Per province: the planted conversion multiplier and the expected region index as the
    viewer export defines it (distinct viewers; buyers = viewers with a paid visit)."""
    sessions = _sessions(world, first, last, aweme_id)
    n_prov = len(world.province_names)
    viewers: np.ndarray
    buyers: np.ndarray
    if sessions:
        viewer = np.concatenate([s.visits.viewer for s in sessions])
        p_pay = np.concatenate([s.visits.p_pay for s in sessions])
        uniq, inv = np.unique(viewer, return_inverse=True)
        log_none = np.bincount(inv, weights=np.log1p(-p_pay), minlength=uniq.size)
        p_any = -np.expm1(log_none)
        prov = world.population.province[uniq]
        viewers = np.bincount(prov, minlength=n_prov)
        buyers = np.bincount(prov, weights=p_any, minlength=n_prov)
    else:
        viewers, buyers = np.zeros(n_prov, dtype=np.int64), np.zeros(n_prov)
    overall = buyers.sum() / viewers.sum() if viewers.sum() else None
    raw = [w.PROVINCE_CONVERSION.get(p, 1.0) for p, _, _ in catalog.PROVINCES]
    rows = []
    for i in range(n_prov):
        conv = buyers[i] / viewers[i] if viewers[i] else None
        rows.append(
            {
                "province": world.province_names[i],
                "planted_multiplier": round(float(world.province_conversion[i]), 4),
                "planted_multiplier_before_normalising": raw[i],
                "viewers": int(viewers[i]),
                "expected_buyers": round(float(buyers[i]), 3),
                "expected_conversion": None if conv is None else round(float(conv), 6),
                "expected_index": (
                    None if conv is None or not overall else round(float(conv / overall), 4)
                ),
            }
        )
    return {
        "window": _window(first, last, aweme_id),
        "definitions": {
            "viewers": "distinct viewers of the shows in the window from the province",
            "expected_buyers": "sum over those viewers of P(at least one paid visit in the "
            "window) = 1 - prod(1 - p_pay) over their visits",
            "expected_index": "(expected buyers / viewers of the province) / (expected "
            "buyers / viewers of all provinces) = buyer share / viewer share",
            "planted_multiplier": "multiplies each visit's P(pay) by the viewer's province; "
            "normalised so that the visit-weighted mean over provinces is 1",
        },
        "expected_overall_conversion": None if overall is None else round(float(overall), 6),
        "provinces": rows,
    }


# ---- click surges -----------------------------------------------------------------------------
def click_surges(world: w.World) -> list[dict[str, Any]]:
    """The planted click surges (minutes of the show, end exclusive), with the expected extra
    clicks per minute they bring. The product is not explained from CLICK_SURGE_MARGIN_MINUTES
    before a surge to as long after it; its click weight is also x CLICK_SURGE_CHOICE_FACTOR
    during it."""
    out = []
    for c in world.click_surges():
        s = world.session_by_room(c.room_id)
        assert s is not None
        v = s.visits
        overlap = np.clip(
            np.minimum(v.leave_s, s.surge_end_s) - np.maximum(v.enter_s, s.surge_start_s), 0, None
        )
        extra = float(((1.0 - v.p_click) * -np.expm1(-s.surge_hazard * overlap / 60.0)).sum())
        out.append(
            {
                "day": c.day.isoformat(),
                "room_id": c.room_id,
                "product_id": c.product_id,
                "start_minute": c.start_minute,
                "end_minute": c.end_minute,
                "expected_extra_clicks_per_minute": round(
                    extra / (c.end_minute - c.start_minute), 3
                ),
            }
        )
    return out
