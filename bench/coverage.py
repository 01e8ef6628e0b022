"""Coverage of the A/B and dwell intervals over many sandbox worlds (seeds).

Run:  .venv/bin/python bench/coverage.py [--seeds 50] [--scale 0.3] [--workers N]

For each seed a world is built in-process (no HTTP), the viewer export of the two planted
experiments' windows is turned into a frame of ``VIEWERS_SCHEMA``, and the same analyses as
``tests/test_analysis_truths.py`` run on it (tests/helpers/truths.py, imported, not copied). Printed:
how often each 95% interval covers the published truth (goal 93-97%), how often the null
metrics are declared significant (goal near 5%), and, for contrast, the switchback's numbers
with GrowthBook's large-sample delta method instead of the session jackknife (the default of
``compare_sessions``) and the coverage of its click-rate lift when visits are (wrongly) pooled
as if they were independent.
With 50 seeds one coverage rate has a binomial standard error of about 3 points, so 90-100%
is consistent with 95%. Nothing here asserts; the run is bounded (about 2.5 minutes for 50
seeds at scale 0.3 on two cores; most of it is building the export's strings).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from livekit.analysis.abtest import compare_proportions  # noqa: E402
from livekit.analysis.dwell import dwell_conversion  # noqa: E402
from livekit.sandbox.export import to_parquet, viewer_columns  # noqa: E402
from livekit.sandbox.truth import truth as world_truth  # noqa: E402
from livekit.sandbox.world import CHINA_TZ, World  # noqa: E402
from livekit.viewers import read_viewer_bytes  # noqa: E402
from tests.helpers.truths import covers, switchback, viewer_experiment  # noqa: E402

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 21, 0, 0, tzinfo=CHINA_TZ)
FIRST_SEED = 1000  # seeds FIRST_SEED .. FIRST_SEED + n - 1 (seed 7 is the tests' own)


def viewers_frame(world: World, start: date, end: date) -> pl.DataFrame:
    """The viewer export of [start, end], read the way a user's export file is read."""
    columns = viewer_columns(world, start, end, NOW.timestamp())
    return read_viewer_bytes(to_parquet(columns), "parquet")


def one_seed(seed: int, scale: float) -> dict[str, Any]:
    world = World(seed, TODAY, scale=scale)
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
        "seed": seed,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        results = list(pool.map(one_seed, seeds, [args.scale] * len(seeds)))
    elapsed = time.perf_counter() - t0

    n = len(results)
    visits = sorted(r["visits"] for r in results)
    sessions = [min(r["sessions"]) for r in results]
    print(f"seeds: {n} ({seeds[0]}..{seeds[-1]}), scale {args.scale}, today {TODAY}")
    print(
        f"visits per world (viewer-experiment + switchback windows): median {visits[n // 2]:,}; "
        f"switchback sessions in the smaller arm: {min(sessions)}..{max(sessions)}"
    )
    print(f"{'':62s} {'rate':>7s}  {'goal':>9s}")
    for label, key, kind in ROWS:
        k = sum(bool(r[key]) for r in results)
        rate = k / n
        goal = {"cover": "93-97%", "fp": "~5%", "info": ""}[kind]
        se = math.sqrt(0.95 * 0.05 / n) if kind != "info" else float("nan")
        note = f"  (±{1.96 * se:.0%} at n={n})" if kind != "info" else ""
        print(f"{label:62s} {rate:7.1%}  {goal:>9s}{note}  [{k}/{n}]")
    misses = {
        key: [r["seed"] for r in results if not r[key]] for _, key, kind in ROWS if kind == "cover"
    }
    for key, seeds_missed in misses.items():
        if seeds_missed:
            print(f"  {key} missed at seeds {seeds_missed}")
    print(f"elapsed: {elapsed:.1f} s with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
