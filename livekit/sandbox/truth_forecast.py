"""The forecast truths: the daily series as served, the plan, and the planted structure.

* ``daily_series(world, first, last)``: one row per day with ``date``, ``shows``, ``gmv``,
  ``spend`` and ``orders``, exactly the sums of what the rooms endpoint serves for the shows that
  started that day (China time) once they are over (``live_pay_order_gmv_alias``, ``stat_cost``,
  ``live_pay_order_count_alias``; yuan to 2 decimals); days without a show are rows of zeros.
* ``planned(world, first, last)``: ``date``, ``shows`` and ``spend`` (the planned budget, yuan)
  for any days, future ones included: the world knows its slots and budgets in advance.
* ``expected_log_gmv_effects(world, first, last)``: per day the planted log components of the
  expected GMV (trend, weekday, festival, spend), for benches and tests.
* ``truth(world)``: the ``forecast`` block of ``livekit sandbox truth`` (parameters, festival
  occurrences, rest days and the 28-day plan; nothing is simulated here).

Plain lists of dicts (no polars): the sandbox stays light, like ``truth_products``.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from livekit.sandbox import calendar as cal
from livekit.sandbox import world as w
from livekit.sandbox.aggregates import PAID_IDX

PLAN_DAYS = 28

SERIES_DEFINITION = (
    "one row per China-time calendar day a show STARTS, days without a show included (zeros): "
    "shows = rooms started that day, gmv = sum of live_pay_order_gmv_alias (yuan), spend = sum "
    "of stat_cost (yuan), orders = sum of live_pay_order_count_alias, as the rooms endpoint "
    "serves them once the shows are over"
)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def daily_series(world: w.World, first: date, last: date) -> list[dict[str, Any]]:
    """The daily series of ``first .. last`` as served (days outside the history: zeros)."""
    out = []
    for d in _days(first, last):
        sessions = world.sessions_on(d)
        gmv = spend = orders = 0
        for s in sessions:
            v = s.visits
            gmv += int(v.amount_fen.sum())
            orders += int(v.paid.sum())
            spend += int((v.source == PAID_IDX).sum()) * s.cost_per_ad_visit_fen
        out.append(
            {
                "date": d,
                "shows": len(sessions),
                "gmv": round(gmv / 100, 2),
                "spend": round(spend / 100, 2),
                "orders": orders,
            }
        )
    return out


def planned(world: w.World, first: date, last: date) -> list[dict[str, Any]]:
    """Planned shows and spend (yuan) of ``first .. last``; rest days are rows of zeros."""
    return [
        {
            "date": d,
            "shows": len(world.planned_shows(d)),
            "spend": round(world.planned_budget_fen(d) / 100, 2),
        }
        for d in _days(first, last)
    ]


def expected_log_gmv_effects(world: w.World, first: date, last: date) -> list[dict[str, Any]]:
    """Per day the planted log components of expected GMV: ``trend``, ``weekday``,
    ``festival`` (the calendar's summed log lift), ``spend`` (elasticity x log m_d, m_d the
    budget's multiplier), and ``rest`` (no show at all)."""
    out = []
    for d in _days(first, last):
        out.append(
            {
                "date": d,
                "trend": math.log(w.trend_factor(d, world.today)),
                "weekday": math.log(w.weekday_factor(d)),
                "festival": cal.log_lift(d),
                "spend": w.SPEND_ELASTICITY * math.log(world.budget_multiplier(d)),
                "rest": world.is_rest_day(d),
            }
        )
    return out


def _festivals(first: date, last: date) -> list[dict[str, Any]]:
    found = cal.occurrences(first, last)
    rows = []
    for f in cal.FESTIVALS:
        occ = [
            {"start": o.start.isoformat(), "peak": o.peak.isoformat(), "end": o.end.isoformat()}
            for o in found
            if o.event == f.event
        ]
        phases = [("presale", f.presale)] if f.before else []
        phases.append(("peak", f.peak))
        if f.after:
            phases.append(("after", f.after_lift))
        for phase, lift in phases:
            rows.append(
                {
                    "event": f.event,
                    "label": f.label,
                    "phase": phase,
                    "log_lift": lift,
                    "lift": round(math.exp(lift), 4),
                    "occurrences": occ,
                }
            )
    return rows


def truth(world: w.World) -> dict[str, Any]:
    """The forecast block of the published truths (parameters and plans, nothing simulated)."""
    plan_first = world.today + timedelta(days=1)
    plan_last = world.today + timedelta(days=PLAN_DAYS)
    return {
        "series": SERIES_DEFINITION,
        "history_first_day": world.first_day.isoformat(),
        "detail_first_day": world.detail_first_day.isoformat(),
        "trend_log_per_year": w.TREND_LOG_PER_YEAR,
        "trend": "arrivals x exp(trend_log_per_year x (day - today) / 365.25)",
        "weekday_factors": [
            w.weekday_factor(date(2024, 1, 1) + timedelta(days=i)) for i in range(7)
        ],
        "festivals": _festivals(world.first_day, plan_last),
        "festival_lift": (
            "log lift L of a day: presale x (d - start + 1) / (peak - start + 1) before the peak, "
            "peak on it, after after it; overlapping windows add; arrivals x exp("
            f"{w.FESTIVAL_TRAFFIC_SHARE} L), P(pay) x exp({1 - w.FESTIVAL_TRAFFIC_SHARE:.1f} L)"
        ),
        "spend": {
            "elasticity": w.SPEND_ELASTICITY,
            "sigma_log_budget": w.SIGMA_LOG_BUDGET,
            "base_daily_budget_yuan": round(world.base_budget_fen / 100, 2),
            "definition": (
                "planned budget B_d = base x trend(d) x m_d (base: a day's budget at trend 1 and m_d 1, in proportion to the shop's typical order value), m_d = exp(N(0, sigma_log_budget)) "
                "independent of everything else; shared by the day's shows in proportion to "
                "their expected size (arrival rate x slot factor x duration) and charged per ad "
                "visit (whole fen); every session's arrivals x m_d ** elasticity; 0 on rest days"
            ),
        },
        "rest_days": [
            d.isoformat() for d in _days(world.first_day, plan_last) if world.is_rest_day(d)
        ],
        "rest_day_rule": (
            f"nobody goes live; a hash of (seed, day) below {w.REST_DAY_PROB}, never in the last "
            f"{w.REST_FREE_DAYS} days before today nor inside a festival window"
        ),
        "plan": [
            {"date": r["date"].isoformat(), "shows": r["shows"], "spend": r["spend"]}
            for r in planned(world, plan_first, plan_last)
        ],
    }
