"""Coverage of the analyses' intervals over many sandbox worlds (seeds).

Run:  .venv/bin/python bench/coverage.py [--seeds N] [--scale X] [--first-seed 1000]
      [--workers N] [--checks ab,products,regions,peeking,cuped]

Seeds and scale default per check (``DEFAULT_SEEDS``, ``DEFAULT_SCALE``: 50 seeds at scale 0.3
for ab, products and regions; 200 seeds at the sandbox's own scale 1 for peeking and cuped);
``--seeds``/``--scale`` set them for every check (``--checks peeking --seeds 20`` for a quick
look).

For each seed a world is built in-process (no HTTP) and the analyses run on its data as the
reports run them; every check is compared with the truth the sandbox publishes for the same
window. Nothing here asserts. Printed, per group of ``--checks``:

* ``ab`` — the viewer export of the two planted experiments' windows is turned into a frame of
  ``VIEWERS_SCHEMA`` and the same analyses as ``tests/test_analysis_truths.py`` run on it
  (tests/helpers/truths.py, imported, not copied): how often each 95% interval covers the
  published truth (goal 93-97%), how often the null metrics are declared significant (goal
  near 5%), and, for contrast, the switchback's numbers with GrowthBook's large-sample delta
  method instead of the session jackknife (the default of ``compare_sessions``) and the
  coverage of its click-rate lift when visits are (wrongly) pooled as if they were independent.
* ``products`` (issue 12) — tests/helpers/products_truths.py on the 30 days before today (the
  window ``truth(world)`` publishes): how often the explanation-lift interval covers the
  expected lift (pooled over products and seeds; goal 93-97%); how often the recommended top
  three (``recommended_order``) contain the truly best product by click-to-pay (truth
  ``best_by_click_to_pay``) against the top three by the raw click-to-pay rate (goal: at least
  as often) and, for contrast, by the 95% Wilson lower bounds; the same order comparison on the
  7 days before today (the report's default period); and the violations of the data threshold
  (a product with fewer than ``min_clicks`` clicks ranked, or listed above a ranked one; goal 0).
* ``regions`` (issue 12) — tests/helpers/regions_truths.py with the truths' default windows:
  the region-index interval per province (30 days), the Kaplan-Meier interval of the median
  pay->receipt days per province on ordinary days (clear of the 11-01..11-13 backlog) against
  the planted median, and Newcombe's interval of the late (> 4 days) minus on-time refund rate
  against the expected difference (and how often it excludes 0: the detection rate).
* ``peeking`` (issue 13, "peeking is safe") — the sandbox's null experiment (viewer-randomized,
  24..11 days back, no effect) looked at after every show of the main account in time order,
  on the cumulative per-viewer data (conversion = paid in any visit so far; watch seconds so
  far), stopping at the first p < 0.05: the false-positive rate of peeking with fixed-horizon
  p-values (``compare_proportions``/``compare_means``; expected well above 5%), with sequential
  ones (``sequential=True, sequential_tuning=5000``; goal <= 5%) and of one look at the end
  (~5%); then the planted experiment (40..27 days back): how often sequential peeking decides
  B > A on conversion, beside fixed-horizon peeking and one look at the end.
* ``cuped`` (issue 13, "CUPED pays") — the planted viewer experiment through ``viewer_units``
  and ``with_pre_period`` (covariate: the same metric over the 28 days before it, every
  account's shows, 0 for viewers not seen then): for conversion (truth: the expected lift
  computed from P(pay) as ``truth.py`` does) and watch seconds (truth: 0), the coverage of the
  plain and the CUPED ``compare_means`` lift intervals (goal 93-97%), the mean width ratio
  CUPED/plain against sqrt(1 - rho^2) (rho: the pooled correlation of metric and covariate)
  and the variance reduction; for contrast, conversion adjusted by the pre-period visits.
  Both groups use the simulation's visit arrays (no viewer export strings), so a seed takes
  about 1-2 CPU seconds at scale 1.

With 50 seeds one per-seed rate has a binomial standard error of about 3 points, so 90-100%
is consistent with 95%; the pooled rates (per product, per province) rest on more intervals,
but those of one world are not independent. The run is bounded: all checks on 50 seeds at scale
0.3 took 166 s with ``--workers 2`` on two otherwise idle cores (about 3 CPU seconds per seed
per group of checks, most of it building the viewer export's strings), and 17 minutes on the
same two cores shared with other jobs. ``--checks peeking,cuped`` (200 seeds each, scale 1) took
10 minutes with ``--workers 2`` on two cores shared with other jobs (375 CPU seconds; cuped
alone 160 s). It printed (seeds 1000..1199): on the null experiment, false positives of
conversion 34.5% with fixed-horizon peeking after every show (23..35 looks), 4.0% with
sequential peeking, 7.5% for one fixed look at the end; of watch seconds 30.5%, 0.5% and 8.0%;
the planted conversion effect found by sequential peeking in 71.5% of the seeds (84.5% with N* =
the final number of viewers; fixed-horizon peeking 99%, one fixed look 98%); CUPED on the
planted experiment: coverage 93.0% (conversion, plain 93.0%) and 95.0% (watch seconds, plain
97.0%); rho 0.03 and 0.27, width ratio CUPED/plain 0.9996 and 0.9628, equal to sqrt(1 - rho^2)
within 1.4e-4 (conversion adjusted by the pre-period visits instead: rho 0.12, ratio 0.9929).
The sandbox has no per-viewer traits, so only engagement carries over from the pre-period:
having paid before (rare) says almost nothing about paying now. With ``--first-seed 2000``:
false positives 31.0% / 3.5% / 3.5% (conversion) and 25.5% / 1.0% / 3.5% (watch seconds), the
planted effect found by sequential peeking in 67.0% of the seeds (75.5% tuned); conversion
coverage 92.0% plain and 92.5% CUPED, watch seconds 95.5% and 94.0%. Over both sets the
conversion lift's z-scores (estimate minus truth over the standard error) have a standard
deviation of about 1.08, plain or CUPED alike: the per-viewer intervals are a little narrow on
the sandbox's conversion, which is not CUPED's doing.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from livekit.analysis.abtest import (  # noqa: E402
    DEFAULT_SEQUENTIAL_TUNING,
    Comparison,
    compare_means,
    compare_proportions,
)
from livekit.analysis.dwell import dwell_conversion  # noqa: E402
from livekit.analysis.experiment import viewer_units, with_pre_period  # noqa: E402
from livekit.analysis.products import recommended_order  # noqa: E402
from livekit.sandbox.export import to_parquet, viewer_columns  # noqa: E402
from livekit.sandbox.truth import truth as world_truth  # noqa: E402
from livekit.sandbox.truth import viewer_experiment as viewer_experiment_truth  # noqa: E402
from livekit.sandbox.world import (  # noqa: E402
    CHINA_TZ,
    NULL_EXPERIMENT_DAYS,
    VIEWER_EXPERIMENT_DAYS,
    Session,
    World,
)
from livekit.viewers import read_viewer_bytes  # noqa: E402
from tests.helpers import regions_truths  # noqa: E402
from tests.helpers.products_truths import recover_products  # noqa: E402
from tests.helpers.truths import covers, switchback, viewer_experiment  # noqa: E402

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 21, 0, 0, tzinfo=CHINA_TZ)
FIRST_SEED = 1000  # seeds FIRST_SEED .. FIRST_SEED + n - 1 (seed 7 is the tests' own)
CHECKS = ("ab", "products", "regions", "peeking", "cuped")
# Per check: seeds and world scale unless --seeds / --scale say otherwise. Peeking and CUPED run
# on the sandbox's own size (SandboxConfig.scale = 1), from the simulation's arrays (no export):
# 200 seeds, the minimum for peeking, and for coverage a binomial error of +-3 points.
DEFAULT_SEEDS = {"ab": 50, "products": 50, "regions": 50, "peeking": 200, "cuped": 200}
DEFAULT_SCALE = {"ab": 0.3, "products": 0.3, "regions": 0.3, "peeking": 1.0, "cuped": 1.0}
MIN_CLICKS = 30  # recommended_order's default data threshold
FEW_CLICKS = 100  # lift intervals of products with fewer clicks are also counted apart
ALPHA = 0.05


def viewers_frame(world: World, start: date, end: date) -> pl.DataFrame:
    """The viewer export of [start, end], read the way a user's export file is read."""
    columns = viewer_columns(world, start, end, NOW.timestamp())
    return read_viewer_bytes(to_parquet(columns), "parquet")


def ab_seed(world: World) -> dict[str, Any]:
    tr = world_truth(world)
    vx, sb = tr["viewer_experiment"], tr["switchback_experiment"]
    vx_start, vx_end = date.fromisoformat(vx["start_date"]), date.fromisoformat(vx["end_date"])
    sb_start, sb_end = date.fromisoformat(sb["start_date"]), date.fromisoformat(sb["end_date"])
    frame = viewers_frame(world, vx_start, sb_end)
    day = pl.col("enter_time").dt.date()
    vx_rows = frame.filter(day.is_between(vx_start, vx_end))
    sb_rows = frame.filter(day.is_between(sb_start, sb_end))

    v = viewer_experiment(vx_rows)
    s = switchback(sb_rows, sb["sessions"])
    s_delta = switchback(sb_rows, sb["sessions"], method="delta")
    d = dwell_conversion(frame, threshold_s=tr["dwell_conversion"]["threshold_seconds"])

    # the wrong unit, for contrast: every visit as an independent Bernoulli trial
    arm = {r["room_id"]: r["variant"] for r in sb["sessions"]}
    visits = sb_rows.filter(pl.col("room_id").is_in(list(arm))).with_columns(
        arm=pl.col("room_id").replace_strict(arm, return_dtype=pl.String),
        clicked=pl.col("clicked_product_id").is_not_null(),
    )
    counts = [
        x
        for a in "AB"
        for g in [visits.filter(pl.col("arm") == a)]
        for x in (int(g.get_column("clicked").sum()), g.height)
    ]
    pooled = compare_proportions(*counts)

    conv, secs = v["conversion"], v["watch_seconds"]
    click, sconv = s["click_rate"], s["conversion_rate"]
    click_d, sconv_d = s_delta["click_rate"], s_delta["conversion_rate"]
    return {
        "visits": frame.height,
        "sessions": (click.n_a, click.n_b),
        "conversion_lift": covers(conv.lift_ci, vx["metrics"]["conversion"]["expected_lift"]),
        "conversion_detected": conv.lift_ci[0] > 0,
        "watch_seconds_fp_ci": not covers(secs.lift_ci, 0.0),
        "watch_seconds_fp_p": secs.p_value < secs.alpha,
        "srm_alarm": v["srm"].warning,
        "click_lift": covers(click.lift_ci, sb["metrics"]["click_rate"]["expected_lift"]),
        "click_detected": click.lift_ci[0] > 0,
        "click_lift_pooled_visits": covers(
            pooled.lift_ci, sb["metrics"]["click_rate"]["expected_lift"]
        ),
        "switchback_conversion_fp_ci": not covers(sconv.lift_ci, 0.0),
        "switchback_conversion_fp_p": sconv.p_value < sconv.alpha,
        "few_units_warning": bool(click.warnings),
        "click_lift_delta": covers(click_d.lift_ci, sb["metrics"]["click_rate"]["expected_lift"]),
        "switchback_conversion_fp_delta": sconv_d.p_value < sconv_d.alpha,
        "dwell_rr": covers(d.risk_ratio_ci, tr["dwell_conversion"]["expected_risk_ratio"]),
        "dwell_detected": d.risk_ratio_ci[0] > 1.0,
    }


def threshold_violations(order: pl.DataFrame, min_clicks: int = MIN_CLICKS) -> int:
    """Products of ``recommended_order`` that break the data threshold: one with fewer than
    ``min_clicks`` clicks that is ranked or not flagged ``too_little_data``, or a flagged one
    listed above a ranked product."""
    rows = order.with_row_index("_pos")
    ranked = rows.filter(pl.col("rank").is_not_null())
    last_ranked = int(ranked["_pos"].max()) if ranked.height else -1  # type: ignore[arg-type]
    bad = rows.filter(
        (
            (pl.col("clicks") < min_clicks)
            & (pl.col("rank").is_not_null() | ~pl.col("too_little_data"))
        )
        | (
            pl.col("too_little_data")
            & (pl.col("rank").is_not_null() | (pl.col("_pos") < last_ranked))
        )
    )
    return bad.height


def products_seed(world: World) -> dict[str, Any]:
    """The products report's analyses on the 30 days before today (truth(world)'s window)."""
    r = recover_products(world, TODAY - timedelta(days=30), TODAY - timedelta(days=1), NOW)
    lifts = r.lifts.filter(pl.col("covers").is_not_null())
    eligible = r.order.filter(~pl.col("too_little_data"))["product_id"].to_list()
    return {
        "lift_covers": lifts["covers"].to_list(),
        "lift_undefined": r.lifts.height - lifts.height,
        "lift_few_clicks": lifts.filter(pl.col("clicks") < FEW_CLICKS)["covers"].to_list(),
        "top_has_best": r.top_has_best,
        "top95_has_best": r.best
        in recommended_order(r.order, rank_alpha=ALPHA).head(3)["product_id"],
        "raw_top_has_best": r.raw_top_has_best,
        "raw_top_threshold_has_best": r.best in r.raw_top_threshold,
        "best_eligible": r.best in eligible,
        "threshold_violations": threshold_violations(r.order),
        "products_ranked": len(eligible),
        "products_listed": r.order.height,
        **order_seed(world, 7),
    }


def order_seed(world: World, days: int) -> dict[str, Any]:
    """The product order on the ``days`` days before today (7: the report's default period,
    where thin data separates the bounds from the raw rate; 30 days give most products plenty of
    clicks, and the two agree)."""
    r = recover_products(world, TODAY - timedelta(days=days), TODAY - timedelta(days=1), NOW)
    return {
        f"top_has_best_{days}d": r.top_has_best,
        f"raw_top_has_best_{days}d": r.raw_top_has_best,
        f"raw_top_threshold_has_best_{days}d": r.best in r.raw_top_threshold,
        f"threshold_violations_{days}d": threshold_violations(r.order),
    }


def regions_seed(world: World) -> dict[str, Any]:
    """Region index, median delivery days and late refunds with the truths' default windows."""
    return regions_truths.one_seed(world, NOW)


def one_seed(seed: int, scale: float, checks: tuple[str, ...]) -> dict[str, Any]:
    world = World(seed, TODAY, scale=scale)
    out: dict[str, Any] = {"seed": seed, "checks": checks}
    if "ab" in checks:
        out.update(ab_seed(world))
    if "products" in checks:
        out.update(products_seed(world))
    if "regions" in checks:
        out.update(regions_seed(world))
    if "peeking" in checks:
        out.update(peeking_seed(world))
    if "cuped" in checks:
        out.update(cuped_seed(world))
    return out


# ---- peeking (issue 13, must-show 2) ---------------------------------------------------------
def window_sessions(
    world: World, window: tuple[int, int], account: int | None = 0
) -> list[Session]:
    """The sessions of ``account`` (every account when None) on the days ``window`` = (hi, lo)
    before today, inclusive, in the order they started."""
    hi, lo = window
    days = [TODAY - timedelta(days=k) for k in range(hi, lo - 1, -1)]
    accounts = world.accounts if account is None else (world.accounts[account],)
    out = [s for d in days for acc in accounts for s in world.account_sessions(acc, d)]
    return sorted(out, key=lambda s: (s.start_ts, s.room_id))


@dataclass(frozen=True)
class Looks:
    """Cumulative per-viewer data of a viewer experiment after each of its shows: ``arm`` (0 A,
    1 B) per viewer, the show after which each viewer was first seen and first paid (``K``:
    never), and the viewer's watch seconds up to each show (K x viewers)."""

    arm: np.ndarray
    first_seen: np.ndarray
    first_paid: np.ndarray
    watch: np.ndarray

    @property
    def shows(self) -> int:
        return int(self.watch.shape[0])


def looks(sessions: list[Session]) -> Looks:
    # numpy straight from the simulation's visit arrays, for speed (hundreds of worlds); the
    # per-viewer definitions are viewer_units' (converted = paid in any visit so far, watch
    # seconds summed); every statistic below goes through livekit.analysis
    k_shows = len(sessions)
    viewer = np.concatenate([s.visits.viewer for s in sessions])
    show = np.concatenate([np.full(len(s.visits), k) for k, s in enumerate(sessions)])
    paid = np.concatenate([s.visits.paid for s in sessions])
    secs = np.concatenate([s.visits.leave_s - s.visits.enter_s for s in sessions])
    variant = np.concatenate([s.visits.variant for s in sessions])
    uniq, inv = np.unique(viewer, return_inverse=True)
    arm = np.full(uniq.size, -1, dtype=np.int64)
    arm[inv] = variant
    if (arm < 0).any() or not np.array_equal(arm[inv], variant):
        raise ValueError("every viewer of the window must keep one arm")
    first_seen = np.full(uniq.size, k_shows)
    np.minimum.at(first_seen, inv, show)
    first_paid = np.full(uniq.size, k_shows)
    np.minimum.at(first_paid, inv[paid], show[paid])
    per_show = np.zeros((k_shows, uniq.size))
    np.add.at(per_show, (show, inv), secs)
    return Looks(arm, first_seen, first_paid, np.cumsum(per_show, axis=0))


def conversion_at(lk: Looks, k: int, **kw: Any) -> Comparison:
    """compare_proportions on the viewers seen up to show ``k`` (0-based)."""
    seen = lk.first_seen <= k
    conv = lk.first_paid <= k
    counts = [
        int(x) for a in (0, 1) for x in ((conv & (lk.arm == a)).sum(), (seen & (lk.arm == a)).sum())
    ]
    return compare_proportions(*counts, **kw)


def watch_at(lk: Looks, k: int, **kw: Any) -> Comparison:
    """compare_means of the watch seconds so far of the viewers seen up to show ``k``."""
    seen = lk.first_seen <= k
    values = lk.watch[k]
    return compare_means(values[seen & (lk.arm == 0)], values[seen & (lk.arm == 1)], **kw)


def peek(lk: Looks, compare: Any, **kw: Any) -> tuple[int, float]:
    """(the first look, 1-based, at which the comparison is significant, 0 when none; its lift)."""
    for k in range(lk.shows):
        c = compare(lk, k, **kw)
        if c.significant:
            return k + 1, c.lift
    return 0, math.nan


SEQUENTIAL = {"sequential": True, "sequential_tuning": DEFAULT_SEQUENTIAL_TUNING}


def peeking_seed(world: World) -> dict[str, Any]:
    """Peeking after every show: on the null experiment (any stop is a false positive) and on
    the planted one (a stop with B > A finds the planted effect)."""
    out: dict[str, Any] = {}
    null = looks(window_sessions(world, NULL_EXPERIMENT_DAYS))
    last = null.shows - 1
    out["null_shows"] = null.shows
    out["null_viewers"] = int((null.first_seen <= last).sum())
    for metric, compare in (("conversion", conversion_at), ("watch", watch_at)):
        out[f"null_{metric}_fixed_peek"] = peek(null, compare)[0]
        out[f"null_{metric}_seq_peek"] = peek(null, compare, **SEQUENTIAL)[0]
        out[f"null_{metric}_fixed_end"] = compare(null, last).significant
        out[f"null_{metric}_seq_end"] = compare(null, last, **SEQUENTIAL).significant
    planted = looks(window_sessions(world, VIEWER_EXPERIMENT_DAYS))
    last = planted.shows - 1
    n_end = int((planted.first_seen <= last).sum())
    out["planted_viewers"] = n_end
    tuned = {"sequential": True, "sequential_tuning": float(n_end)}
    for key, kw in (("fixed", {}), ("seq", SEQUENTIAL), ("seq_tuned", tuned)):
        look, lift = peek(planted, conversion_at, **kw)
        out[f"planted_{key}_look"] = look
        out[f"planted_{key}_up"] = look > 0 and lift > 0
        out[f"planted_{key}_down"] = look > 0 and lift < 0
        end = conversion_at(planted, last, **kw)
        out[f"planted_{key}_end_up"] = end.significant and end.lift > 0
    out["planted_watch_seq_peek"] = peek(planted, watch_at, **SEQUENTIAL)[0]
    out["planted_watch_fixed_peek"] = peek(planted, watch_at)[0]
    return out


def print_peeking(results: list[dict[str, Any]]) -> None:
    n = len(results)
    shows = sorted(r["null_shows"] for r in results)
    viewers = sorted(r["null_viewers"] for r in results)
    print(
        f"\npeeking after every show (issue 13): the null experiment ({NULL_EXPERIMENT_DAYS[0]}.."
        f"{NULL_EXPERIMENT_DAYS[1]} days back) and the planted one ({VIEWER_EXPERIMENT_DAYS[0]}.."
        f"{VIEWER_EXPERIMENT_DAYS[1]}), main account; {shows[0]}..{shows[-1]} shows (looks), "
        f"median {viewers[n // 2]:,} viewers at the last look; stop at the first p < {ALPHA}; "
        f"sequential: N* = {DEFAULT_SEQUENTIAL_TUNING:g}"
    )
    print(f"{'false positives on the null experiment':62s} {'rate':>7s}  {'goal':>9s}")
    for metric, name in (("conversion", "conversion"), ("watch", "watch seconds")):
        rows = (
            (f"{name}: fixed-horizon p, peeking after every show", "fixed_peek", "> 5%"),
            (f"{name}: sequential p, peeking after every show", "seq_peek", "<= 5%"),
            (f"{name}: fixed-horizon p, one look at the end", "fixed_end", "~5%"),
            (f"{name}: sequential p, one look at the end", "seq_end", "<= 5%"),
        )
        for label, key, goal in rows:
            k = sum(bool(r[f"null_{metric}_{key}"]) for r in results)
            print(rate_line(label, k, n, goal, n))
    fired = sorted(
        r["null_conversion_fixed_peek"] for r in results if r["null_conversion_fixed_peek"]
    )
    if fired:
        print(
            f"  fixed-horizon peeking on conversion stopped at looks {fired[0]}..{fired[-1]} "
            f"(median {fired[len(fired) // 2]})"
        )
    print(f"{'the planted experiment (conversion, B > A decided)':62s} {'rate':>7s}")
    for label, key in (
        ("fixed-horizon p, peeking after every show", "fixed"),
        (f"sequential p (N* = {DEFAULT_SEQUENTIAL_TUNING:g}), peeking after every show", "seq"),
        ("sequential p, N* = the viewers at the end, peeking", "seq_tuned"),
    ):
        k = sum(bool(r[f"planted_{key}_up"]) for r in results)
        down = sum(bool(r[f"planted_{key}_down"]) for r in results)
        end = sum(bool(r[f"planted_{key}_end_up"]) for r in results)
        stops = sorted(r[f"planted_{key}_look"] for r in results if r[f"planted_{key}_up"])
        when = f"; median stop at look {stops[len(stops) // 2]}" if stops else ""
        print(rate_line(label, k, n) + f"  (B < A: {down}; one look at the end: {end}/{n}{when})")
    for label, key in (
        ("planted exp.: watch seconds (null), fixed-horizon peeking", "planted_watch_fixed_peek"),
        ("planted exp.: watch seconds (null), sequential peeking", "planted_watch_seq_peek"),
    ):
        print(rate_line(label, sum(bool(r[key]) for r in results), n))


# ---- CUPED (issue 13, must-show 3) -----------------------------------------------------------
PRE_PERIOD_DAYS = 28  # the ab_test report's default pre_period_days
# (name, metric, covariate): the units columns of viewer_units / with_pre_period. GrowthBook
# adjusts a metric by its own pre-period value; the pre-period visits on conversion are a
# contrast (a stronger predictor of paying than having paid before, which is rare).
CUPED_CASES = (
    ("conversion", "converted", "pre_converted"),
    ("conversion_by_visits", "converted", "pre_visits"),
    ("watch_seconds", "watch_seconds", "pre_watch_seconds"),
)


def visits_frame(sessions: list[Session]) -> pl.DataFrame:
    """The visits of ``sessions`` with the columns ``viewer_units``/``per_viewer`` read, built
    from the simulation's arrays for speed (the population index as the viewer id, exact
    seconds) instead of the export's strings; otherwise the viewer export's values."""

    def cat(f: Any) -> np.ndarray:
        return np.concatenate([f(s) for s in sessions])

    clicked = cat(lambda s: s.visits.clicked)
    us = 1_000_000
    return pl.DataFrame(
        {
            "viewer_id": cat(lambda s: s.visits.viewer),
            "variant": cat(lambda s: s.visits.variant),
            "paid": cat(lambda s: s.visits.paid),
            "clicked_product_id": np.where(clicked, cat(lambda s: s.visits.product), -1),
            "enter_time": cat(lambda s: (s.start_ts + s.visits.enter_s) * us).astype(np.int64),
            "leave_time": cat(lambda s: (s.start_ts + s.visits.leave_s) * us).astype(np.int64),
            "pay_amount": cat(lambda s: s.visits.amount_fen) / 100.0,
        }
    ).with_columns(
        pl.when(pl.col("variant") == 0)
        .then(pl.lit("A"))
        .when(pl.col("variant") == 1)
        .then(pl.lit("B"))
        .alias("variant"),
        pl.when(pl.col("clicked_product_id") >= 0).then(pl.col("clicked_product_id")),
        pl.from_epoch("enter_time", time_unit="us"),
        pl.from_epoch("leave_time", time_unit="us"),
    )


def cuped_seed(world: World) -> dict[str, Any]:
    """Plain against CUPED compare_means on the planted viewer experiment, the covariate each
    viewer's same metric over the PRE_PERIOD_DAYS days before it (every account's shows, as
    the viewer export of those days holds them), through viewer_units and with_pre_period."""
    hi = VIEWER_EXPERIMENT_DAYS[0]
    sessions = window_sessions(world, VIEWER_EXPERIMENT_DAYS)
    pre = window_sessions(world, (hi + PRE_PERIOD_DAYS, hi + 1), account=None)
    units = with_pre_period(viewer_units(visits_frame(sessions)).units, visits_frame(pre))
    lift = viewer_experiment_truth(world, sessions)["metrics"]["conversion"]["expected_lift"]
    expected = {"converted": lift, "watch_seconds": 0.0}
    out: dict[str, Any] = {
        "cuped_viewers": units.height,
        "cuped_seen_before": float(np.mean(units.get_column("pre_visits").to_numpy() > 0)),
    }
    arms = [units.filter(pl.col("arm") == a) for a in "AB"]
    for metric, column, covariate in CUPED_CASES:
        y = [g.get_column(column).cast(pl.Float64).to_numpy() for g in arms]
        x = [g.get_column(covariate).to_numpy() for g in arms]
        plain = compare_means(y[0], y[1])
        cuped = compare_means(y[0], y[1], covariate_a=x[0], covariate_b=x[1])
        rho = float(np.corrcoef(np.concatenate(y), np.concatenate(x))[0, 1])
        out.update(
            {
                f"cuped_{metric}_plain_covers": covers(plain.lift_ci, expected[column]),
                f"cuped_{metric}_covers": covers(cuped.lift_ci, expected[column]),
                f"cuped_{metric}_plain_width": plain.lift_ci[1] - plain.lift_ci[0],
                f"cuped_{metric}_width": cuped.lift_ci[1] - cuped.lift_ci[0],
                f"cuped_{metric}_rho": rho,
                f"cuped_{metric}_variance_reduction": cuped.variance_reduction,
                f"cuped_{metric}_plain_detected": plain.significant and plain.lift > 0,
                f"cuped_{metric}_detected": cuped.significant and cuped.lift > 0,
            }
        )
    return out


def print_cuped(results: list[dict[str, Any]]) -> None:
    n = len(results)
    viewers = sorted(r["cuped_viewers"] for r in results)
    seen = float(np.mean([r["cuped_seen_before"] for r in results]))
    print(
        f"\nCUPED on the planted viewer experiment (issue 13): covariates over the "
        f"{PRE_PERIOD_DAYS} days before it (with_pre_period, 0 if unseen); median "
        f"{viewers[n // 2]:,} viewers, {seen:.0%} of them seen in the pre-period; truth: the "
        "expected lift of converted (truth.py), 0 for watch_seconds"
    )
    print(f"{'':62s} {'rate':>7s}  {'goal':>9s}")
    for metric, column, covariate in CUPED_CASES:
        for label, key in (("plain", "plain_covers"), (f"CUPED ({covariate})", "covers")):
            if label == "plain" and metric == "conversion_by_visits":
                continue  # the same plain comparison as conversion's
            k = sum(bool(r[f"cuped_{metric}_{key}"]) for r in results)
            text = f"{column}: {label} lift CI covers truth"
            print(rate_line(text, k, n, "93-97%", n))
        ratio = np.array(
            [r[f"cuped_{metric}_width"] / r[f"cuped_{metric}_plain_width"] for r in results]
        )
        rho = np.array([r[f"cuped_{metric}_rho"] for r in results])
        reduction = np.array([r[f"cuped_{metric}_variance_reduction"] for r in results])
        predicted = np.sqrt(1 - rho**2)
        print(
            f"  {column} ~ {covariate}: rho mean {rho.mean():.3f} "
            f"[{rho.min():.3f}..{rho.max():.3f}]; interval width CUPED/plain mean "
            f"{ratio.mean():.4f} [{ratio.min():.4f}..{ratio.max():.4f}], predicted "
            f"sqrt(1 - rho^2) mean {predicted.mean():.4f}; variance reduction mean "
            f"{reduction.mean():.1%} (rho^2 mean {(rho**2).mean():.1%}); "
            f"per seed |ratio - predicted| <= {np.abs(ratio - predicted).max():.1e}"
        )
        if column == "converted":
            plain = sum(bool(r[f"cuped_{metric}_plain_detected"]) for r in results)
            cuped = sum(bool(r[f"cuped_{metric}_detected"]) for r in results)
            print(f"  conversion effect detected (power): plain {plain}/{n}, CUPED {cuped}/{n}")


ROWS = [
    ("viewer exp.: conversion lift CI covers truth", "conversion_lift", "cover"),
    ("switchback: click-rate lift CI covers truth (unit = session)", "click_lift", "cover"),
    ("dwell > 3 min: risk-ratio CI covers truth (unit = visit)", "dwell_rr", "cover"),
    ("viewer exp.: watch seconds, lift CI excludes 0 (null)", "watch_seconds_fp_ci", "fp"),
    ("viewer exp.: watch seconds, Welch p < 0.05 (null)", "watch_seconds_fp_p", "fp"),
    ("switchback: conversion, lift CI excludes 0 (null)", "switchback_conversion_fp_ci", "fp"),
    ("switchback: conversion, p < 0.05 (null)", "switchback_conversion_fp_p", "fp"),
    ("viewer exp.: conversion effect detected (power)", "conversion_detected", "info"),
    ("switchback: click effect detected (power)", "click_detected", "info"),
    ("dwell: risk ratio > 1 detected (power)", "dwell_detected", "info"),
    ("viewer exp.: SRM alarm (p < 0.001)", "srm_alarm", "info"),
    ("switchback: few-units warning (< 10 sessions in an arm)", "few_units_warning", "info"),
    ("contrast: click lift CI by the delta method covers truth", "click_lift_delta", "info"),
    (
        "contrast: conversion, delta-method p < 0.05 (null)",
        "switchback_conversion_fp_delta",
        "info",
    ),
    ("contrast: click lift CI with visits pooled covers truth", "click_lift_pooled_visits", "info"),
]


def rate_line(label: str, k: int, n: int, goal: str = "", se_n: int | None = None) -> str:
    note = ""
    if se_n:
        note = f"  (±{1.96 * math.sqrt(0.95 * 0.05 / se_n):.0%} at n={se_n})"
    rate = k / n if n else float("nan")
    return f"{label:62s} {rate:7.1%}  {goal:>9s}{note}  [{k}/{n}]"


def print_ab(results: list[dict[str, Any]]) -> None:
    n = len(results)
    visits = sorted(r["visits"] for r in results)
    sessions = [min(r["sessions"]) for r in results]
    print(
        f"visits per world (viewer-experiment + switchback windows): median {visits[n // 2]:,}; "
        f"switchback sessions in the smaller arm: {min(sessions)}..{max(sessions)}"
    )
    print(f"{'':62s} {'rate':>7s}  {'goal':>9s}")
    for label, key, kind in ROWS:
        k = sum(bool(r[key]) for r in results)
        goal = {"cover": "93-97%", "fp": "~5%", "info": ""}[kind]
        print(rate_line(label, k, n, goal, n if kind != "info" else None))
    misses = {
        key: [r["seed"] for r in results if not r[key]] for _, key, kind in ROWS if kind == "cover"
    }
    for key, seeds_missed in misses.items():
        if seeds_missed:
            print(f"  {key} missed at seeds {seeds_missed}")


def pooled(results: list[dict[str, Any]], key: str) -> tuple[int, int]:
    flags = [bool(x) for r in results for x in r[key]]
    return sum(flags), len(flags)


def print_products(results: list[dict[str, Any]]) -> None:
    n = len(results)
    ranked = sorted(r["products_ranked"] for r in results)
    print(
        f"\nproducts (30 days before {TODAY}): products listed per world "
        f"{min(r['products_listed'] for r in results)}..{max(r['products_listed'] for r in results)}"
        f", ranked (>= {MIN_CLICKS} clicks) {ranked[0]}..{ranked[-1]}"
    )
    k, m = pooled(results, "lift_covers")
    print(rate_line("explanation lift CI covers expected lift (all products)", k, m, "93-97%", m))
    k, m = pooled(results, "lift_few_clicks")
    print(rate_line(f"  of which products with < {FEW_CLICKS} clicks", k, m, "", m))
    undefined = sum(r["lift_undefined"] for r in results)
    missed = sum(not all(r["lift_covers"]) for r in results)
    print(f"  lift intervals undefined: {undefined}; worlds with a lift missed: {missed}/{n}")
    for label, key in (
        ("recommended top 3 (recommended_order) contain the truly best", "top_has_best"),
        ("contrast: top 3 by the 95% Wilson lower bounds contain it", "top95_has_best"),
        ("raw click-to-pay top 3 (every clicked product) contain it", "raw_top_has_best"),
        (
            f"raw click-to-pay top 3 (>= {MIN_CLICKS} clicks) contain it",
            "raw_top_threshold_has_best",
        ),
        (f"the truly best has >= {MIN_CLICKS} clicks (can be ranked)", "best_eligible"),
    ):
        print(rate_line(label, sum(bool(r[key]) for r in results), n))
    top = sum(bool(r["top_has_best"]) for r in results)
    raw = sum(bool(r["raw_top_has_best"]) for r in results)
    print(f"  recommended vs raw rate: {top} vs {raw} seeds (goal: at least as often)")
    only_top = [r["seed"] for r in results if r["top_has_best"] and not r["raw_top_has_best"]]
    only_raw = [r["seed"] for r in results if r["raw_top_has_best"] and not r["top_has_best"]]
    print(f"  paired: only the recommended top 3 at seeds {only_top}; only the raw at {only_raw}")
    print(f"the same on the 7 days before {TODAY} (the report's default period):")
    for label, key in (
        ("recommended top 3 contain the truly best (7 days)", "top_has_best_7d"),
        ("raw click-to-pay top 3 (every clicked product) (7 days)", "raw_top_has_best_7d"),
        (f"raw top 3 (>= {MIN_CLICKS} clicks) (7 days)", "raw_top_threshold_has_best_7d"),
    ):
        print(rate_line(label, sum(bool(r[key]) for r in results), n))
    for key in ("threshold_violations", "threshold_violations_7d"):
        violations = sum(r[key] for r in results)
        bad = [r["seed"] for r in results if r[key]]
        label = f"data threshold violations{' (7 days)' if key.endswith('7d') else ''} (goal 0)"
        print(f"{label:62s} {violations:7d}" + (f"  at seeds {bad}" if bad else ""))


def print_regions(results: list[dict[str, Any]]) -> None:
    n = len(results)
    print(f"\nregions and delivery (truths' default windows, today {TODAY})")
    k, m = pooled(results, "region_index")
    print(rate_line("region index CI covers expected index (all provinces)", k, m, "93-97%", m))
    k, m = pooled(results, "median_days")
    print(
        rate_line("KM median delivery days CI covers planted median (provinces)", k, m, "93-97%", m)
    )
    undefined = sum(r["median_days_undefined"] for r in results)
    print(f"  provinces without a median interval (too few deliveries): {undefined}")
    k = sum(bool(r["late_refund_covered"]) for r in results)
    print(rate_line("late-refund difference CI covers expected difference", k, n, "93-97%", n))
    k = sum(bool(r["late_refund_detected"]) for r in results)
    print(rate_line("late-refund difference CI excludes 0 (detection rate)", k, n))
    missed = [r["seed"] for r in results if not r["late_refund_covered"]]
    if missed:
        print(f"  late_refund_covered missed at seeds {missed}")


def jobs(
    checks: tuple[str, ...], seeds: int | None, scale: float | None, first: int = FIRST_SEED
) -> list[tuple[int, float, tuple[str, ...]]]:
    """(seed, scale, checks) per world to build: the checks of one seed and scale share it."""
    grouped: dict[tuple[int, float], list[str]] = {}
    for check in checks:
        n = DEFAULT_SEEDS[check] if seeds is None else seeds
        for seed in range(first, first + n):
            key = (seed, DEFAULT_SCALE[check] if scale is None else scale)
            grouped.setdefault(key, []).append(check)
    return [(seed, sc, tuple(cs)) for (seed, sc), cs in sorted(grouped.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds per check (default: "
        + ", ".join(f"{c} {n}" for c, n in DEFAULT_SEEDS.items())
        + ")",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="world scale (default: "
        + ", ".join(f"{c} {x:g}" for c, x in DEFAULT_SCALE.items())
        + ")",
    )
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--checks", default=",".join(CHECKS), help=f"comma-separated, of {', '.join(CHECKS)}"
    )
    args = parser.parse_args()
    checks = tuple(c.strip() for c in args.checks.split(",") if c.strip())
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown or not checks:
        parser.error(f"--checks: unknown {unknown}; choose from {', '.join(CHECKS)}")
    todo = jobs(checks, args.seeds, args.scale, args.first_seed)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        results = list(pool.map(one_seed, *zip(*todo, strict=True)))
    elapsed = time.perf_counter() - t0

    print(f"today {TODAY}; seeds from {args.first_seed}")
    for check, show in (
        ("ab", print_ab),
        ("products", print_products),
        ("regions", print_regions),
        ("peeking", print_peeking),
        ("cuped", print_cuped),
    ):
        if check in checks:
            mine = [r for r in results if check in r["checks"]]
            scales = sorted({sc for seed, sc, cs in todo if check in cs})
            print(f"\n[{check}] seeds: {len(mine)}, scale {', '.join(map(str, scales))}")
            show(mine)
    print(f"elapsed: {elapsed:.1f} s with {args.workers} worker(s), checks {','.join(checks)}")


if __name__ == "__main__":
    main()
