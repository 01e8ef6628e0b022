"""What the analysis costs on a season of viewer visits, over a hand-written polars aggregation.

Run:  .venv/bin/python bench/scale.py [--visits 10000000] [--orders 10000000] [--repeat 5]
      [--parts dwell,heat,regions,delivery]

Issue 12 ("Scale"): on 10 million viewer visits the click heat map, the region counts and the
Kaplan-Meier curves (dwell and delivery) each run within 1.5× of a plain polars aggregation
computing the same numbers. The data are generated with numpy, untimed. It prints, best of
``--repeat`` with the runs of each part interleaved (a noisy neighbour hits every candidate):

* ``dwell`` — visits with dwell in whole seconds (log-normal; about 3% censored; five traffic
  sources of unequal size):
  (a) ``dwell.survival`` + ``dwell.median_survival`` (two calls, each aggregating the visits),
  and ``dwell.retention`` (curve, median and its interval from one aggregation), over the
  baseline: one polars group-by per dwell time (visits, departures), at-risk as a reverse
  cumulative sum, the cumulative product, Greenwood's variance, the log-log band and the median;
  (b) ``dwell.retention_by_group`` (a curve and median per source, the log-rank test) over the
  same baseline grouped by (source, dwell) with window functions; for reference, once:
  statsmodels ``SurvfuncRight`` and ``survdiff`` on the same visits, as the analysis ran before.
* ``heat`` — a viewer export of ``--visits`` rows (VIEWERS_SCHEMA with ``click_time``: 600
  four-hour shows over 60 days, 60 products, about 8% of visits clicked, a click time inside
  each clicked visit): ``explain.click_heat`` by minute of show and by minute of the hour over
  the baseline (the clicked rows, a join for the show starts, one group-by). For information
  also ``click_heat`` with explanation windows (its extra cost grows with shows, not visits).
* ``regions`` — the same export: ``regions.region_table`` (distinct viewers and buyers, GMV,
  shares, index and interval per province) over the baseline (one group-by of the provinces
  with two ``n_unique`` and a sum, then the shares and the index).
* ``delivery`` — ``--orders`` paid orders over 60 days (31 provinces, pay/ship/receipt times
  from log-normal handling and transit, 2% refunded before shipping, parcels not yet shipped or
  received at ``now`` censored): ``delivery.delivery_curves`` by province (receipt and ship)
  over the baseline (the same Kaplan-Meier group-by per (province, second), median and p90).
  ``delivery.delivery_times`` (orders -> times) is timed once for information.

Goal: each ratio ≤ 1.5. Nothing asserts (machines are noisy; ratios less so). Each part also
prints the largest difference between livekit's numbers and the baseline's (they must be the
same numbers). At the defaults the whole run took about 5 minutes on two idle cores, with a
peak of about 3.2 GB of memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livekit.analysis import delivery, dwell, explain, regions  # noqa: E402
from livekit.sandbox.catalog import PROVINCES  # noqa: E402
from livekit.vocab import CHINA_TZ  # noqa: E402

SOURCES = ("homepage_hot", "homepage_follow", "live_pc_qian_chuan", "video", "search")
Z = 1.959963984540054  # two-sided 95%
TIME = pl.Datetime("us", "Asia/Shanghai")
PARTS = ("dwell", "heat", "regions", "delivery")
T0 = int(datetime.fromisoformat("2026-09-01T00:00:00+08:00").timestamp())  # first day
DAYS = 60
DAY_S = 86400
SHOW_S = 4 * 3600
N_ROOMS = 600  # ten shows a day
N_PRODUCTS = 60
ROOM_BASE = 7_100_000_000_000_000_000
PRODUCT_BASE = 3_600_000_000_000_000_000


def visits(n: int, seed: int = 12) -> pl.DataFrame:
    """``n`` visits: ``dwell`` (whole seconds), ``left`` (False: censored), ``source``."""
    rng = np.random.default_rng(seed)
    code = rng.choice(len(SOURCES), n, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    scale = np.array([3.6, 4.4, 3.2, 4.0, 4.8])[code]  # log-seconds: about 35 s to 2 min
    dwell_s = np.minimum(np.round(rng.lognormal(scale, 1.2)), 4 * 3600.0)
    return pl.DataFrame({"dwell": dwell_s, "left": rng.random(n) >= 0.03, "code": code}).select(
        "dwell",
        "left",
        source=pl.col("code").replace_strict(dict(enumerate(SOURCES)), return_dtype=pl.String),
    )


def baseline_km(frame: pl.DataFrame, over: list[str]) -> pl.DataFrame:
    """The hand-written polars group-by: curve, Greenwood error, log-log band, per ``over``."""

    def cum(expr: pl.Expr) -> pl.Expr:
        return expr.over(over) if over else expr

    s = pl.col("survival")
    w = Z * pl.col("std_err") / (s * s.log()).abs()
    return (
        frame.group_by(*over, "dwell")
        .agg(visits=pl.len().cast(pl.Float64), events=pl.col("left").sum().cast(pl.Float64))
        .sort(*over, "dwell")
        .with_columns(at_risk=cum(pl.col("visits").reverse().cum_sum().reverse()))
        .filter(pl.col("events") > 0)
        # the product as a sum of logs (statsmodels' arithmetic, so a curve that reaches 0.5
        # exactly at a tie rounds to the same side as livekit's)
        .with_columns(
            survival=cum((1 - pl.col("events") / pl.col("at_risk")).log().cum_sum()).exp()
        )
        .with_columns(
            std_err=s
            * cum(
                (
                    pl.col("events") / (pl.col("at_risk") * (pl.col("at_risk") - pl.col("events")))
                ).cum_sum()
            ).sqrt()
        )
        .with_columns(ci_low=s ** w.exp(), ci_high=s ** (-w).exp())
    )


def baseline_median(curve: pl.DataFrame, over: list[str]) -> pl.DataFrame:
    below = curve.filter(pl.col("survival") < 0.5)
    return below.group_by(over).agg(pl.col("dwell").first()) if over else below.head(1)


def best(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    times = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():  # interleaved: a noisy neighbour hits every candidate
            start = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def part_dwell(n: int, repeat: int) -> None:
    frame = visits(n)
    t, e = frame["dwell"], frame["left"]
    print(
        f"{frame.height:,} 次访问，{frame['dwell'].n_unique():,} 个不同时长，"
        f"删失 {1 - e.mean():.1%}，{len(SOURCES)} 个流量来源",  # type: ignore[operator]
        flush=True,
    )

    def ours_a() -> Any:
        return dwell.survival(t, e), dwell.median_survival(t, e)

    def base_a() -> Any:
        curve = baseline_km(frame, [])
        return curve, baseline_median(curve, [])

    runs = best(
        {
            "a": ours_a,
            "retention": lambda: dwell.retention(t, e),
            "base_a": base_a,
            "b": lambda: dwell.retention_by_group(frame),
            "base_b": lambda: baseline_median(baseline_km(frame, ["source"]), ["source"]),
        },
        repeat,
    )
    ours = dwell.survival(t, e)
    base = baseline_km(frame, [])
    gap = max(
        float(np.nanmax(np.abs(ours[c].to_numpy() - base[c].to_numpy())))
        for c in ("survival", "std_err", "ci_low", "ci_high")
    )
    print(f"livekit 与基线曲线的最大差：{gap:.1e}")
    print(
        f"(a) survival + median_survival：{runs['a']:.3f} s，基线 {runs['base_a']:.3f} s，"
        f"比值 {runs['a'] / runs['base_a']:.2f}（目标 ≤ 1.5）"
    )
    print(
        f"    retention（曲线、中位数与区间）：{runs['retention']:.3f} s，"
        f"比值 {runs['retention'] / runs['base_a']:.2f}（目标 ≤ 1.5）"
    )
    print(
        f"(b) retention_by_group（含对数秩检验）：{runs['b']:.3f} s，基线 {runs['base_b']:.3f} s，"
        f"比值 {runs['b'] / runs['base_b']:.2f}（目标 ≤ 1.5）",
        flush=True,
    )

    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    tn, en = t.to_numpy(), e.to_numpy().astype(np.float64)
    start = time.perf_counter()
    sf = SurvfuncRight(tn, en)
    sf.quantile(0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        sf.quantile_ci(0.5, method="cloglog")
    old_a = time.perf_counter() - start
    codes = np.unique(frame["source"].to_numpy(), return_inverse=True)[1]
    start = time.perf_counter()
    survdiff(tn, en, codes, weight_type=None)
    old_logrank = time.perf_counter() - start
    print(
        f"参考（statsmodels，逐条观测，运行一次）：SurvfuncRight 曲线+中位数+区间 {old_a:.3f} s"
        f"（基线的 {old_a / runs['base_a']:.1f} 倍）；survdiff {old_logrank:.3f} s"
    )


def to_time(column: str) -> pl.Expr:
    """Unix seconds -> the store's China time."""
    return (
        pl.from_epoch(pl.col(column), "s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("Asia/Shanghai")
        .cast(TIME)
    )


def province_weights() -> np.ndarray[Any, np.dtype[np.float64]]:
    w = np.array([float(p[2]) for p in PROVINCES])
    return np.asarray(w / w.sum(), dtype=np.float64)


def export(n: int, seed: int = 21) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A viewer export of ``n`` visits (VIEWERS_SCHEMA with ``click_time``), its shows
    (``room_id``, ``start_time``, ``end_time``) and explanation windows (as ``windows_for``
    returns them: about 20 per show, 5-10 minutes, on a lineup of 10 products)."""
    rng = np.random.default_rng(seed)
    shows = np.arange(N_ROOMS)
    start = T0 + (shows // 10) * DAY_S + 10 * 3600 + (shows % 10) * 1200  # 10:00 .. 13:00
    room = rng.integers(0, N_ROOMS, n)
    enter_off = rng.integers(0, SHOW_S, n)
    dwell_s = np.minimum(np.round(rng.lognormal(4.0, 1.2, n)).astype(np.int64), SHOW_S - enter_off)
    enter = start[room] + enter_off
    clicked = rng.random(n) < 0.08
    weights = rng.lognormal(0.0, 0.6, N_PRODUCTS)
    product = rng.choice(N_PRODUCTS, n, p=weights / weights.sum())
    click = enter + np.floor(rng.random(n) * (dwell_s + 1)).astype(np.int64)  # inside the visit
    paid = clicked & (rng.random(n) < 0.2)
    price = rng.choice(np.array([29.9, 59.0, 99.0, 199.0]), N_PRODUCTS)
    frame = pl.DataFrame(
        {
            "room": room,
            "viewer": rng.integers(0, max(1, n // 3), n),
            "enter": enter,
            "leave": enter + dwell_s,
            "prov": rng.choice(len(PROVINCES), n, p=province_weights()),
            "src": rng.choice(len(SOURCES), n, p=[0.4, 0.25, 0.15, 0.12, 0.08]),
            "clicked": clicked,
            "product": product,
            "click": click,
            "paid": paid,
            "amount": np.where(paid, price[product], 0.0),
        }
    )
    names = {i: p[0] for i, p in enumerate(PROVINCES)}
    viewers = frame.select(
        (pl.col("room") + ROOM_BASE).alias("room_id"),
        pl.format("u{}", "viewer").alias("viewer_id"),
        to_time("enter").alias("enter_time"),
        to_time("leave").alias("leave_time"),
        pl.col("prov").replace_strict(names, return_dtype=pl.String).alias("province"),
        pl.col("src")
        .replace_strict(dict(enumerate(SOURCES)), return_dtype=pl.String)
        .alias("traffic_source"),
        pl.when("clicked").then(pl.col("product") + PRODUCT_BASE).alias("clicked_product_id"),
        pl.when("clicked").then(to_time("click")).alias("click_time"),
        pl.col("paid"),
        pl.col("amount").alias("pay_amount"),
        pl.lit(None, pl.String).alias("variant"),
    )
    rooms = pl.DataFrame({"room_id": shows + ROOM_BASE, "s": start, "e": start + SHOW_S}).select(
        "room_id", to_time("s").alias("start_time"), to_time("e").alias("end_time")
    )
    per_show = 20
    w_room = np.repeat(shows, per_show)
    lineup = rng.integers(0, N_PRODUCTS - 10, N_ROOMS)[w_room]  # products lineup .. lineup + 9
    w_start = start[w_room] + rng.integers(0, SHOW_S - 600, w_room.size)
    windows = pl.DataFrame(
        {
            "room_id": w_room + ROOM_BASE,
            "product_id": lineup + rng.integers(0, 10, w_room.size) + PRODUCT_BASE,
            "s": w_start,
            "e": w_start + rng.integers(300, 601, w_room.size),
        }
    ).select(
        "room_id",
        "product_id",
        to_time("s").alias("start_time"),
        to_time("e").alias("end_time"),
        pl.lit("schedule").alias("source"),
    )
    return viewers, rooms, windows


def baseline_heat(viewers: pl.DataFrame, rooms: pl.DataFrame, by: str) -> pl.DataFrame:
    """Clicks per (product, minute of show | minute of the hour) of the rooms' visits."""
    clicks = viewers.filter(
        pl.col("click_time").is_not_null() & pl.col("clicked_product_id").is_not_null()
    ).select("room_id", "clicked_product_id", "click_time")
    if by == "show":
        clicks = clicks.join(rooms.select("room_id", "start_time"), on="room_id")
        minute = (pl.col("click_time") - pl.col("start_time")).dt.total_seconds() // 60
    else:
        clicks = clicks.join(rooms.select("room_id"), on="room_id", how="semi")
        minute = pl.col("click_time").dt.minute()
    return (
        clicks.group_by(
            pl.col("clicked_product_id").alias("product_id"), minute.cast(pl.Int64).alias("minute")
        )
        .agg(pl.len().alias("clicks"))
        .filter(pl.col("minute") >= 0)
        .sort("product_id", "minute")
    )


def heat_gap(ours: pl.DataFrame, base: pl.DataFrame) -> int:
    """Largest difference of clicks over the cells of either (a missing cell counts 0)."""
    both = ours.select("product_id", "minute", "clicks").join(
        base, on=["product_id", "minute"], how="full", coalesce=True, suffix="_b"
    )
    return int(
        both.select(
            (pl.col("clicks").fill_null(0) - pl.col("clicks_b").fill_null(0)).abs().max()
        ).item()
        or 0
    )


def part_heat(
    viewers: pl.DataFrame, rooms: pl.DataFrame, windows: pl.DataFrame, repeat: int
) -> None:
    clicked = int(viewers["click_time"].is_not_null().sum())
    print(
        f"\n[heat] {viewers.height:,} 次访问，{clicked:,} 次点击（有点击时间），"
        f"{rooms.height} 场直播，{windows.height:,} 个讲解时段",
        flush=True,
    )
    runs = best(
        {
            "show": lambda: explain.click_heat(viewers, rooms, by="show"),
            "base_show": lambda: baseline_heat(viewers, rooms, "show"),
            "hour": lambda: explain.click_heat(viewers, rooms, by="hour"),
            "base_hour": lambda: baseline_heat(viewers, rooms, "hour"),
            "hour_windows": lambda: explain.click_heat(viewers, rooms, windows, by="hour"),
        },
        repeat,
    )
    for by in ("show", "hour"):
        gap = heat_gap(explain.click_heat(viewers, rooms, by=by), baseline_heat(viewers, rooms, by))
        print(
            f"click_heat(by={by!r})：{runs[by]:.3f} s，基线 {runs['base_' + by]:.3f} s，"
            f"比值 {runs[by] / runs['base_' + by]:.2f}（目标 ≤ 1.5）；与基线的最大差 {gap} 次点击"
        )
    gap = heat_gap(
        explain.click_heat(viewers, rooms, windows, by="hour"),
        baseline_heat(viewers, rooms, "hour"),
    )
    print(
        f"    参考：click_heat(by='hour', 含讲解时段) {runs['hour_windows']:.3f} s"
        f"（基线的 {runs['hour_windows'] / runs['base_hour']:.2f} 倍）；点击数与基线的最大差 {gap}",
        flush=True,
    )


def baseline_regions(viewers: pl.DataFrame) -> pl.DataFrame:
    """Distinct viewers and buyers, GMV, conversion, shares and index per province."""
    counts = viewers.group_by("province").agg(
        pl.col("viewer_id").n_unique().alias("viewers"),
        pl.col("viewer_id").filter(pl.col("paid")).n_unique().alias("buyers"),
        pl.col("pay_amount").filter(pl.col("paid")).sum().alias("gmv"),
    )
    v, b = pl.col("viewers"), pl.col("buyers")
    return counts.with_columns(
        conversion=b / v,
        viewer_share=v / v.sum(),
        buyer_share=b / b.sum(),
        index=(b / b.sum()) / (v / v.sum()),
    )


def part_regions(viewers: pl.DataFrame, repeat: int) -> None:
    print(
        f"\n[regions] {viewers.height:,} 次访问，{viewers['province'].n_unique()} 个省份",
        flush=True,
    )
    runs = best(
        {
            "ours": lambda: regions.region_table(viewers),
            "base": lambda: baseline_regions(viewers),
        },
        repeat,
    )
    both = regions.region_table(viewers).join(
        baseline_regions(viewers), on="province", how="full", suffix="_b"
    )
    counts = max(
        int(both.select((pl.col(c) - pl.col(f"{c}_b")).abs().max()).item())
        for c in ("viewers", "buyers")
    )
    rel = max(
        float(both.select(((pl.col(c) - pl.col(f"{c}_b")) / pl.col(f"{c}_b")).abs().max()).item())
        for c in ("gmv", "conversion", "viewer_share", "buyer_share", "index")
    )
    print(
        f"region_table（计数、GMV、份额、地域指数及区间）：{runs['ours']:.3f} s，"
        f"基线 {runs['base']:.3f} s，比值 {runs['ours'] / runs['base']:.2f}（目标 ≤ 1.5）；"
        f"与基线的最大差：人数 {counts}，GMV/转化/份额/指数 相对 {rel:.1e}"
        f"（{both.height} 行，基线 {baseline_regions(viewers).height} 行）",
        flush=True,
    )


# transit median days per province (the sandbox's tiers, cycled over the catalog)
TIERS = np.array([1.2, 1.9, 2.7, 4.0, 5.5])
LONG = {
    "北京": "北京市",
    "天津": "天津市",
    "上海": "上海市",
    "重庆": "重庆市",
    "内蒙古": "内蒙古自治区",
    "广西": "广西壮族自治区",
    "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区",
    "新疆": "新疆维吾尔自治区",
}


def orders(n: int, seed: int = 31) -> tuple[pl.DataFrame, datetime]:
    """``n`` paid orders over ``DAYS`` days as the ``orders`` dataset stores them, and ``now``
    (the morning after the last day): handling log-normal (median 16 h), transit log-normal
    (median by province tier), shipped within 12 days, received within 13; 2% refunded before shipping (never
    shipped), 3% refunded after; events after ``now`` not yet happened (null)."""
    rng = np.random.default_rng(seed)
    code = rng.choice(len(PROVINCES), n, p=province_weights())
    median_days = TIERS[np.arange(len(PROVINCES)) % TIERS.size][code]
    pay = T0 + rng.integers(0, DAYS * DAY_S, n)
    handling = np.round(rng.lognormal(np.log(16 * 3600), 0.7, n)).astype(np.int64)
    ship = pay + np.minimum(handling, 12 * DAY_S)  # shipped within 12 days
    transit = np.round(rng.lognormal(np.log(median_days * DAY_S), 0.35, n)).astype(np.int64)
    receipt = np.minimum(ship + transit, pay + 13 * DAY_S)
    now = T0 + DAYS * DAY_S + 9 * 3600
    u = rng.random(n)
    before = u < 0.02
    shipped = ~before & (ship <= now)
    received = shipped & (receipt <= now)
    status = np.where(before, 4, np.where(received, 5, np.where(shipped, 3, 2)))
    main = np.where(before, 21, np.where((u > 0.97) & shipped, 22, status))
    names = {i: LONG.get(p[0], p[0] + "省") for i, p in enumerate(PROVINCES)}
    frame = pl.DataFrame(
        {
            "order": np.arange(n) + 6_900_000_000_000_000_000,
            "pay": pay,
            "exp": pay + 48 * 3600,
            "ship": np.where(shipped, ship, -1),
            "receipt": np.where(received, receipt, -1),
            "status": status,
            "main": main,
            "prov": code,
        }
    )

    def seen(c: str) -> pl.Expr:
        return pl.when(pl.col(c) >= 0).then(to_time(c))

    out = frame.select(
        pl.col("order").cast(pl.String).alias("order_id"),
        pl.col("status").alias("order_status"),
        pl.col("main").alias("main_status"),
        to_time("pay").alias("pay_time"),
        to_time("exp").alias("exp_ship_time"),
        seen("ship").alias("ship_time"),
        seen("receipt").alias("receipt_time"),
        pl.col("prov").replace_strict(names, return_dtype=pl.String).alias("post_addr_province"),
        pl.lit("中通快递").alias("logistics_company"),
    )
    return out, datetime.fromtimestamp(now).astimezone(CHINA_TZ)


def baseline_delivery(times: pl.DataFrame, what: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Kaplan-Meier per province on whole seconds: (curve, summary with median and p90 days).

    One ungrouped :func:`baseline_km` per province: with a distinct second per order or so,
    a group-by on (province, second) and window functions over the provinces cost several
    times more on 10 million orders (about 6 s and 20 s against 5 s for this loop)."""
    duration, observed, unit = (
        ("receipt_days", "received", DAY_S)
        if what == "receipt"
        else ("ship_hours", "shipped", 3600)
    )
    frame = times.select(
        "province",
        (pl.col(duration) * unit).round(0).alias("dwell"),
        pl.col(observed).alias("left"),
    )
    curve = pl.concat(
        baseline_km(part, []).with_columns(pl.lit(key, pl.String).alias("province"))
        for (key,), part in frame.partition_by("province", as_dict=True).items()
    )
    s, t = pl.col("survival"), pl.col("dwell") / DAY_S
    summary = curve.group_by("province").agg(
        t.filter(s < 0.5).first().alias("median_days"),
        t.filter(s < 0.1).first().alias("p90_days"),
        s.filter(pl.col("dwell") <= 4 * DAY_S).last().fill_null(1.0).alias("late_share"),
    )
    return curve, summary


def delivery_gap(times: pl.DataFrame, what: str) -> tuple[float, float, int]:
    """Largest differences: survival over the curves, median/p90/late share over provinces,
    and the difference in the number of curve points."""
    ours = delivery.delivery_curves(times, "province", what)  # type: ignore[arg-type]
    curve, summary = baseline_delivery(times, what)
    a = ours.curves.select("group", "time", "survival").sort("group", "time")
    b = curve.select(
        pl.col("province").alias("group"), (pl.col("dwell") / DAY_S).alias("time"), "survival"
    ).sort("group", "time")
    points = abs(a.height - b.height)
    joined = a.join(b, on=["group", "time"], how="inner", suffix="_b")
    curve_gap = float(joined.select((pl.col("survival") - pl.col("survival_b")).abs().max()).item())
    s = ours.summary.join(summary, left_on="group", right_on="province", suffix="_b")
    summary_gap = max(
        float(s.select((pl.col(c) - pl.col(f"{c}_b")).abs().max()).item() or 0.0)
        for c in ("median_days", "p90_days", "late_share")
    )
    return curve_gap, summary_gap, points + abs(joined.height - a.height)


def part_delivery(n: int, repeat: int) -> None:
    frame, now = orders(n)
    start = time.perf_counter()
    times = delivery.delivery_times(frame, now)
    took = time.perf_counter() - start
    print(
        f"\n[delivery] {frame.height:,} 个订单，{times.height:,} 个有配送（售前退款除外），"
        f"在途删失 {1 - times['received'].mean():.1%}；"  # type: ignore[operator]
        f"delivery_times（订单 → 时长，参考，运行一次）{took:.3f} s",
        flush=True,
    )
    del frame
    runs = best(
        {
            "receipt": lambda: delivery.delivery_curves(times, "province", "receipt"),
            "base_receipt": lambda: baseline_delivery(times, "receipt"),
            "ship": lambda: delivery.delivery_curves(times, "province", "ship"),
            "base_ship": lambda: baseline_delivery(times, "ship"),
        },
        repeat,
    )
    for what in ("receipt", "ship"):
        curve_gap, summary_gap, points = delivery_gap(times, what)
        print(
            f"delivery_curves(by='province', what={what!r})：{runs[what]:.3f} s，"
            f"基线 {runs['base_' + what]:.3f} s，比值 {runs[what] / runs['base_' + what]:.2f}"
            f"（目标 ≤ 1.5）；与基线的最大差：生存率 {curve_gap:.1e}，"
            f"中位数/p90/超时占比 {summary_gap:.1e}，曲线点数差 {points}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=10_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}"
    )
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--parts: unknown {unknown}; choose from {', '.join(PARTS)}")
    if "dwell" in parts:
        part_dwell(args.visits, args.repeat)
    if "heat" in parts or "regions" in parts:
        viewers, rooms, windows = export(args.visits)
        if "heat" in parts:
            part_heat(viewers, rooms, windows, args.repeat)
        if "regions" in parts:
            part_regions(viewers, args.repeat)
        del viewers
    if "delivery" in parts:
        part_delivery(args.orders, args.repeat)


if __name__ == "__main__":
    main()
