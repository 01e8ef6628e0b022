"""Coverage of the analyses' intervals over many sandbox worlds (seeds).

Run:  .venv/bin/python bench/coverage.py [--seeds 50] [--scale 0.3] [--workers N]
      [--checks ab,products,regions]

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

With 50 seeds one per-seed rate has a binomial standard error of about 3 points, so 90-100%
is consistent with 95%; the pooled rates (per product, per province) rest on more intervals,
but those of one world are not independent. The run is bounded: all checks on 50 seeds at scale
0.3 took 166 s with ``--workers 2`` on two otherwise idle cores (about 3 CPU seconds per seed
per group of checks, most of it building the viewer export's strings), and 17 minutes on the
same two cores shared with other jobs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from livekit.analysis.abtest import compare_proportions  # noqa: E402
from livekit.analysis.dwell import dwell_conversion  # noqa: E402
from livekit.analysis.products import recommended_order  # noqa: E402
from livekit.sandbox.export import to_parquet, viewer_columns  # noqa: E402
from livekit.sandbox.truth import truth as world_truth  # noqa: E402
from livekit.sandbox.world import CHINA_TZ, World  # noqa: E402
from livekit.viewers import read_viewer_bytes  # noqa: E402
from tests.helpers import regions_truths  # noqa: E402
from tests.helpers.products_truths import recover_products  # noqa: E402
from tests.helpers.truths import covers, switchback, viewer_experiment  # noqa: E402

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 21, 0, 0, tzinfo=CHINA_TZ)
FIRST_SEED = 1000  # seeds FIRST_SEED .. FIRST_SEED + n - 1 (seed 7 is the tests' own)
CHECKS = ("ab", "products", "regions")
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
    out: dict[str, Any] = {"seed": seed}
    if "ab" in checks:
        out.update(ab_seed(world))
    if "products" in checks:
        out.update(products_seed(world))
    if "regions" in checks:
        out.update(regions_seed(world))
    return out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--checks", default=",".join(CHECKS), help=f"comma-separated, of {', '.join(CHECKS)}"
    )
    args = parser.parse_args()
    checks = tuple(c.strip() for c in args.checks.split(",") if c.strip())
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown or not checks:
        parser.error(f"--checks: unknown {unknown}; choose from {', '.join(CHECKS)}")
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        n = len(seeds)
        results = list(pool.map(one_seed, seeds, [args.scale] * n, [checks] * n))
    elapsed = time.perf_counter() - t0

    print(f"seeds: {n} ({seeds[0]}..{seeds[-1]}), scale {args.scale}, today {TODAY}")
    if "ab" in checks:
        print_ab(results)
    if "products" in checks:
        print_products(results)
    if "regions" in checks:
        print_regions(results)
    print(f"elapsed: {elapsed:.1f} s with {args.workers} worker(s), checks {','.join(checks)}")


if __name__ == "__main__":
    main()
