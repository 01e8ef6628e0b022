"""Planning is honest (issue 13, must-show 4): the power the planner promises is the power found.

Run:  .venv/bin/python bench/plan_power.py [--seeds 200] [--workers 2] [--scale 1.0]
      [--lift 0.15] [--fixed-days D] [--no-sessions]

For each seed a sandbox World (``today`` = 2027-03-20, far from 双11 and 618, so that the
history and the experiment are alike) is built in-process, and only the main account is
simulated (the planted experiments run on it):

* **viewer design.** The planner (:func:`livekit.analysis.plan.plan_viewers`, conversion,
  alpha 0.05, power 0.8, split 50/50) reads the main account's viewer export of the 28 days
  before the planted viewer experiment (today-68 .. today-41) and prints D, the days needed
  to find the planted lift (``--lift``, 15%; ``--fixed-days D`` instead takes a fixed D and
  its power). Then the first D days of the planted experiment (today-40 ..) are analysed as
  the A/B report does (:func:`viewer_units`, :func:`compare_proportions` on per-viewer
  conversion). The promised power is the planner's power for the *true* lift of those D days
  (computed from the model's P(pay) exactly as ``livekit.sandbox.truth`` does, over the
  sessions of those days); "found" is the relative-lift interval lying above 0 (the same
  delta-method lift variance the planner uses). The pooled z-test's p < alpha with B > A
  (the report's verdict) is shown beside it: it tests the difference, whose variance leaves
  out the control mean's own noise in the lift's denominator, so it finds a little more.
* **session design** (unless ``--no-sessions``): the planner
  (:func:`~livekit.analysis.plan.plan_sessions`, watch_click_rate) reads the same 28 days'
  shows; D is the days to find the switchback's published click-rate lift; the first D days
  of the switchback (today-24 ..) are analysed with the session jackknife the A/B report uses
  (:func:`compare_sessions`); the promised power is for the true lift of those shows.

Frames are built from the World's per-visit arrays the way ``livekit.sandbox.export`` writes
the viewer export (same columns, types, whole-second times); the first seed is checked
against the real export read back through ``livekit.viewers.read_viewer_bytes`` (the run
stops if they differ). A finished show's room counters are its visits (watch count) and
clicked visits (product clicks), as ``livekit.sandbox.aggregates`` counts them.

With 200 seeds a share near 0.8 has a binomial standard error of about 2.8 points; the goal is
the found share within ±5 points of the mean promised power. Nothing here asserts.

Measured (scale 1, two workers on the two shared cores, 330-345 s per 200 seeds):

=====================  ============  ========  =====  ============================
seeds                  design        promised  found  found by the report's p-value
=====================  ============  ========  =====  ============================
3000-3199              viewer        81.2%     83.5%  87.5%
3200-3399              viewer        81.2%     84.0%  86.0%
3000-3199              switchback    84.4%     88.0%
3200-3399              switchback    85.0%     87.0%
=====================  ============  ========  =====  ============================

The planner's D for the planted 15% was 8-10 days (median 9) for viewers and 5-11 (median 7)
for the switchback's ~29% click-rate lift. The experiment's viewers and baseline were within
2% of the plan's; (estimate - truth) / its standard error had sd 1.02-1.05. Before the planner
took the analysis's estimate-based variance at the critical value (GrowthBook's constant-se
power, 600 seeds) the viewer design promised 81.1% and found 86.3%; before the switchback's
power averaged over the coin flips of the arms, it promised 86% and found 65%.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from scipy import stats  # noqa: E402

from livekit.analysis.abtest import compare_proportions, compare_sessions  # noqa: E402
from livekit.analysis.experiment import viewer_units  # noqa: E402
from livekit.analysis.plan import delta_power, plan_sessions, plan_viewers  # noqa: E402
from livekit.sandbox import truth as sandbox_truth  # noqa: E402
from livekit.sandbox import world as w  # noqa: E402
from livekit.sandbox.export import to_parquet, viewer_columns  # noqa: E402
from livekit.viewers import read_viewer_bytes  # noqa: E402

TODAY = date(2027, 3, 20)
NOW = datetime(2027, 3, 20, 21, 0, 0, tzinfo=w.CHINA_TZ)
FIRST_SEED = 3000
HISTORY = (68, 41)  # days before today: the planner's history, just before the experiment
MAX_DAYS = 14  # the planted experiments last 14 days
ALPHA, POWER = 0.05, 0.8
USED = ("room_id", "viewer_id", "enter_time", "leave_time", "clicked_product_id", "paid")
USED += ("pay_amount", "variant")


def _day(offset: int) -> date:
    return TODAY - timedelta(days=offset)


def sessions_of(world: w.World, first: date, last: date) -> list[w.Session]:
    """The main account's shows of [first, last] (only that account is simulated)."""
    main = world.accounts[0]
    out: list[w.Session] = []
    d = first
    while d <= last:
        out.extend(world.account_sessions(main, d))
        d += timedelta(days=1)
    return out


def _seconds(ts: np.ndarray) -> np.ndarray:
    return np.floor(np.round(ts, 6)).astype(np.int64)


def visits_frame(world: w.World, sessions: list[w.Session], hashes: dict[int, str]) -> pl.DataFrame:
    """The viewer export's rows of ``sessions`` (all finished before NOW), vectorized: the
    columns and values ``export._session_columns`` writes, typed as ``read_viewer_bytes``
    reads them."""
    parts = []
    for s in sessions:
        v = s.visits
        sec = NOW.timestamp() - s.start_ts
        keep = np.flatnonzero(v.enter_s <= sec)
        viewers = v.viewer[keep]
        for vid in np.unique(viewers).tolist():
            if vid not in hashes:
                hashes[vid] = world.viewer_hash(vid)
        clicked = v.clicked[keep] & (np.nan_to_num(v.click_s[keep], nan=np.inf) <= sec)
        paid = v.paid[keep] & (np.nan_to_num(v.pay_s[keep], nan=np.inf) <= sec)
        pids = np.array([world.products[int(i)].product_id for i in s.lineup], dtype=np.int64)
        product = np.where(clicked, pids[np.maximum(v.product[keep], 0)], 0)
        amount = np.where(paid, np.round(v.amount_fen[keep] / 100, 2), 0.0)
        variant = v.variant[keep]
        parts.append(
            pl.DataFrame(
                {
                    "room_id": np.full(keep.size, s.room_id, dtype=np.int64),
                    "viewer_id": [hashes[i] for i in viewers.tolist()],
                    # fmt_time writes whole seconds of datetime.fromtimestamp, which first
                    # rounds to the microsecond: x.9999996 s is the next second
                    "enter_time": _seconds(s.start_ts + v.enter_s[keep]),
                    "leave_time": _seconds(s.start_ts + np.minimum(v.leave_s[keep], sec)),
                    "clicked_product_id": pl.Series(product).set(pl.Series(~clicked), None),
                    "paid": paid,
                    "pay_amount": amount,
                    "variant": np.where(variant == 1, "B", "A"),
                    "_arm": variant >= 0,
                }
            )
        )
    frame = pl.concat(parts)
    return frame.with_columns(
        pl.from_epoch("enter_time")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("Asia/Shanghai"),
        pl.from_epoch("leave_time")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("Asia/Shanghai"),
        pl.when(pl.col("_arm")).then(pl.col("variant")).alias("variant"),
    ).drop("_arm")


def check_frame(world: w.World, first: date, last: date) -> None:
    """The vectorized frame equals the real export read back (the columns planning uses)."""
    main = world.accounts[0]
    real = read_viewer_bytes(
        to_parquet(viewer_columns(world, first, last, NOW.timestamp(), main.aweme_id)), "parquet"
    ).select(USED)
    ours = visits_frame(world, sessions_of(world, first, last), {}).select(USED)
    key = ["room_id", "viewer_id", "enter_time", "leave_time"]
    if not real.sort(key).equals(ours.sort(key)):
        raise SystemExit("the bench's frame differs from the sandbox's viewer export")


def show_frame(sessions: list[w.Session], frame: pl.DataFrame) -> pl.DataFrame:
    """Room counters of finished shows: watch count = visits, product clicks = clicked visits."""
    starts = pl.DataFrame(
        {"room_id": [s.room_id for s in sessions], "start": [s.start_ts for s in sessions]},
        schema={"room_id": pl.Int64, "start": pl.Int64},
    )
    counts = frame.group_by("room_id").agg(
        pl.len().cast(pl.Int64).alias("total_live_watch_cnt"),
        pl.col("clicked_product_id")
        .is_not_null()
        .sum()
        .cast(pl.Int64)
        .alias("live_click_product_count_alias"),
    )
    return starts.join(counts, on="room_id", how="left").with_columns(
        pl.from_epoch("start")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("Asia/Shanghai")
        .alias("start_time")
    )


def one_seed(
    seed: int, scale: float, lift: float, fixed: int | None, sessions: bool
) -> dict[str, Any]:
    world = w.World(seed, TODAY, scale=scale)
    if seed % 200 == FIRST_SEED % 200:  # the first seed of a run of 200 (or of the default)
        check_frame(world, _day(HISTORY[0]), _day(HISTORY[0] - 1))
    hashes: dict[int, str] = {}
    start, end = _day(HISTORY[0]), _day(HISTORY[1])
    history_shows = sessions_of(world, start, end)
    history = visits_frame(world, history_shows, hashes)
    plan = plan_viewers(
        history,
        "conversion",
        start=start,
        end=end,
        max_days=MAX_DAYS,
        pre_period_days=0,
        alpha=ALPHA,
        power=POWER,
    )
    needed = plan.days_needed(lift)
    days = fixed if fixed is not None else (needed if needed is not None else MAX_DAYS)
    hi, _ = w.VIEWER_EXPERIMENT_DAYS
    exp_shows = sessions_of(world, _day(hi), _day(hi - days + 1))
    truth = sandbox_truth._viewer_experiment(world, world.accounts[0], exp_shows)
    true_lift = float(truth["metrics"]["conversion"]["expected_lift"])
    units = viewer_units(visits_frame(world, exp_shows, hashes)).units
    planned = plan.by_days.filter(pl.col("days") == days).row(0, named=True)
    a = units.filter(pl.col("arm") == "A")["converted"]
    b = units.filter(pl.col("arm") == "B")["converted"]
    c = compare_proportions(int(a.sum()), a.len(), int(b.sum()), b.len(), alpha=ALPHA)
    out: dict[str, Any] = {
        "seed": seed,
        "v_days": days,
        "v_needed": needed,
        "v_promised": plan.power_after(true_lift, days),
        "v_promised_nominal": plan.power_after(lift, days),
        "v_true_lift": true_lift,
        "v_found": bool(c.lift_ci[0] > 0),
        "v_found_p": bool(c.p_value < ALPHA and c.diff > 0),
        # the experiment's viewers and control conversion against what the planner expected
        "v_viewers_ratio": units.height / float(planned["viewers"]),
        "v_base_ratio": c.mean_a / float(planned["mean"]),
        # the power the planner's formula gives with the experiment's own viewers and baseline
        "v_promised_realized": delta_power(
            true_lift,
            mean=c.mean_a,
            variance=c.mean_a * (1 - c.mean_a),
            n_a=c.n_a,
            n_b=c.n_b,
            kind="proportion",
            alpha=ALPHA,
        ),
        # the estimate against the truth in units of its own standard error (sd 1 when the
        # delta-method variance is the estimate's sampling variance)
        "v_z": (c.lift - true_lift)
        / ((c.lift_ci[1] - c.lift_ci[0]) / (2 * stats.t.ppf(1 - ALPHA / 2, c.df))),
    }
    if sessions:
        out.update(session_seed(world, history_shows, history, fixed))
    return out


def session_seed(
    world: w.World, history_shows: list[w.Session], history: pl.DataFrame, fixed: int | None
) -> dict[str, Any]:
    start, end = _day(HISTORY[0]), _day(HISTORY[1])
    plan = plan_sessions(
        show_frame(history_shows, history),
        pl.DataFrame(),
        "watch_click_rate",
        start=start,
        end=end,
        max_days=MAX_DAYS,
        alpha=ALPHA,
        power=POWER,
    )
    hi, _ = w.SWITCHBACK_DAYS
    every = sessions_of(world, _day(hi), _day(hi - MAX_DAYS + 1))
    planted = float(
        sandbox_truth._switchback(world, world.accounts[0], every)["metrics"]["click_rate"][
            "expected_lift"
        ]
    )
    needed = plan.days_needed(planted)
    days = fixed if fixed is not None else (needed if needed is not None else MAX_DAYS)
    shows = sessions_of(world, _day(hi), _day(hi - days + 1))
    true_lift = float(
        sandbox_truth._switchback(world, world.accounts[0], shows)["metrics"]["click_rate"][
            "expected_lift"
        ]
    )
    arms = pl.DataFrame(
        {"room_id": [s.room_id for s in shows], "arm": ["AB"[s.switchback] for s in shows]},
        schema={"room_id": pl.Int64, "arm": pl.String},
    )
    rows = visits_frame(world, shows, {}).join(arms, on="room_id", how="inner")
    c = compare_sessions(
        rows,
        numerator=pl.col("clicked_product_id").is_not_null(),
        unit="room_id",
        variant="arm",
        alpha=ALPHA,
    )
    return {
        "s_days": days,
        "s_needed": needed,
        "s_planted": planted,
        "s_true_lift": true_lift,
        "s_promised": plan.power_after(true_lift, days),
        "s_found": bool(math.isfinite(c.lift_ci[0]) and c.lift_ci[0] > 0),
    }


def summary(rows: list[dict[str, Any]], prefix: str, label: str) -> None:
    if not rows or f"{prefix}_found" not in rows[0]:
        return
    n = len(rows)
    promised = statistics.fmean(r[f"{prefix}_promised"] for r in rows)
    found = sum(r[f"{prefix}_found"] for r in rows) / n
    se = math.sqrt(max(promised * (1 - promised), 1e-9) / n)
    days = [r[f"{prefix}_days"] for r in rows]
    print(f"\n{label}: {n} seeds")
    print(
        f"  days analysed (planner's D): min {min(days)}, median {statistics.median(days)}, max {max(days)}"
    )
    print(f"  {'D':>3} {'seeds':>6} {'promised':>9} {'found':>7}")
    for d in sorted(set(days)):
        mine = [r for r in rows if r[f"{prefix}_days"] == d]
        p = statistics.fmean(r[f"{prefix}_promised"] for r in mine)
        f = sum(r[f"{prefix}_found"] for r in mine) / len(mine)
        print(f"  {d:>3} {len(mine):>6} {p:>9.3f} {f:>7.3f}")
    print(f"  promised power (mean, at the true lift of the days analysed): {promised:.3f}")
    print(
        f"  found (lift interval above 0): {found:.3f}  difference {100 * (found - promised):+.1f} points (binomial s.e. {100 * se:.1f})"
    )
    if prefix == "v":
        found_p = sum(r["v_found_p"] for r in rows) / n
        nominal = statistics.fmean(r["v_promised_nominal"] for r in rows)
        lift = statistics.fmean(r["v_true_lift"] for r in rows)
        print(f"  found (pooled z p < alpha, B > A, the report's verdict): {found_p:.3f}")
        print(
            f"  true lift of the days analysed (mean): {lift:.4f}; power promised at the planned lift: {nominal:.3f}"
        )
        viewers = statistics.fmean(r["v_viewers_ratio"] for r in rows)
        base = statistics.fmean(r["v_base_ratio"] for r in rows)
        print(f"  experiment / plan (mean): viewers {viewers:.3f}, control conversion {base:.3f}")
        realized = statistics.fmean(r["v_promised_realized"] for r in rows)
        print(
            f"  power by the same formula with the experiment's viewers and baseline: {realized:.3f}"
        )
        z = [r["v_z"] for r in rows]
        print(
            f"  (lift - true lift) / its standard error: mean {statistics.fmean(z):+.3f}, "
            f"sd {statistics.stdev(z) if len(z) > 1 else math.nan:.3f} (1 when the variance is right)"
        )
    else:
        print(
            f"  published click-rate lift (mean): {statistics.fmean(r['s_planted'] for r in rows):.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--lift", type=float, default=w.VIEWER_EXPERIMENT_LIFT)
    parser.add_argument("--fixed-days", type=int, default=None)
    parser.add_argument("--no-sessions", action="store_true")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    began = time.perf_counter()
    job = (args.scale, args.lift, args.fixed_days, not args.no_sessions)
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(one_seed, seeds, *([x] * len(seeds) for x in job)))
    else:
        rows = [one_seed(s, *job) for s in seeds]
    print(
        f"today {TODAY}, history {_day(HISTORY[0])} .. {_day(HISTORY[1])}, scale {args.scale}, alpha {ALPHA}, power {POWER}"
    )
    summary(rows, "v", f"viewer design: conversion, planned lift {args.lift:.0%}")
    summary(rows, "s", "session design (switchback): watch_click_rate, the published lift")
    print(f"\nruntime {time.perf_counter() - began:.0f} s with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
