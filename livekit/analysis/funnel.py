"""The live-room funnel (罗盘 "五维四率") and where a change between two periods was lost.

Rates here are fractions (0.035 is 3.5%), not the platform's percentages: they are computed
from counts, and ``drop_off = 1 − step_rate`` reads naturally.

Besides the funnel and its change: the period a funnel is compared with
(:func:`comparison_period`), one funnel per account (:func:`funnel_by`), the step where two
accounts differ most (:func:`account_gap`), the weakest step (:func:`weakest_step`), the
daily step rates (:func:`daily_rates`) and how many rooms a funnel counts
(:func:`rooms_counted`). Frames and frozen dataclasses with English names; the report's words
are :mod:`livekit.pages.funnel`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from livekit.analysis._stats import ALPHA, require_columns, wilson_bounds
from livekit.analysis.custom import custom_report
from livekit.dates import resolve_day
from livekit.vocab.errors import LivekitError
from livekit.vocab.labels import STAGE_LABELS
from livekit.vocab.metrics import metric

# metrics.md, "Live-room funnel": the five stages and their 罗盘 labels (the vocabulary's).
DEFAULT_STAGES: dict[str, str] = dict(STAGE_LABELS)

Counts = Mapping[str, float] | Mapping[str, int] | pl.DataFrame
Stages = Sequence[str] | Mapping[str, str]

FUNNEL_SCHEMA: dict[str, pl.DataType] = {
    "stage": pl.String(),
    "label": pl.String(),
    "count": pl.Float64(),
    "step_rate": pl.Float64(),
    "cumulative_rate": pl.Float64(),
    "drop_off": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "flag": pl.Boolean(),
}


def _as_mapping(counts: Counts) -> dict[str, float | None]:
    """Stage -> count from a mapping, a ``stage``/``count`` frame or a frame of stage columns.

    A frame of stage columns with several rows (e.g. one row per room) is summed per column.
    """
    if isinstance(counts, pl.DataFrame):
        if "stage" in counts.columns and "count" in counts.columns:
            if counts["stage"].n_unique() != counts.height:
                raise LivekitError("漏斗数据中 stage 列有重复的阶段名：每个阶段只能有一行")
            return {
                str(s): (None if c is None else float(c))
                for s, c in zip(counts["stage"].to_list(), counts["count"].to_list(), strict=True)
            }
        if counts.height == 0:
            raise LivekitError("漏斗数据为空：需要每个阶段的数量")
        sums = counts.select(pl.all().sum()).row(0, named=True)
        return {str(k): (None if v is None else float(v)) for k, v in sums.items()}
    return {str(k): (None if v is None else float(v)) for k, v in counts.items()}


def _resolve_stages(stages: Stages | None, keys: Sequence[str]) -> list[tuple[str, str]]:
    """(name, label) pairs in funnel order."""
    if stages is None:
        if keys and all(k in DEFAULT_STAGES for k in keys):
            out = [(k, v) for k, v in DEFAULT_STAGES.items() if k in keys]
        else:
            out = [(k, DEFAULT_STAGES.get(k, k)) for k in keys]
    elif isinstance(stages, Mapping):
        out = [(str(k), str(v)) for k, v in stages.items()]
    else:
        out = [(str(k), DEFAULT_STAGES.get(str(k), str(k))) for k in stages]
    if len(out) < 2:
        raise LivekitError(
            f"漏斗至少需要两个阶段，收到：{'、'.join(n for n, _ in out) or '（无）'}"
        )
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise LivekitError(f"漏斗阶段名重复：{'、'.join(names)}")
    return out


def _stage_counts(
    counts: Counts, stages: Stages | None
) -> tuple[list[tuple[str, str]], list[float]]:
    values = _as_mapping(counts)
    order = _resolve_stages(stages, list(values))
    missing = [n for n, _ in order if n not in values]
    if missing:
        raise LivekitError(
            f"漏斗数据缺少阶段：{'、'.join(missing)}；已有的阶段：{'、'.join(values) or '（无）'}"
        )
    out: list[float] = []
    for name, label in order:
        v = values[name]
        if v is None or not math.isfinite(v) or v < 0:
            raise LivekitError(f"漏斗阶段 {name}（{label}）的数量须为非负数，收到 {v!r}")
        out.append(v)
    return order, out


def funnel(counts: Counts, stages: Stages | None = None, *, alpha: float = ALPHA) -> pl.DataFrame:
    """Per-stage counts and rates of a funnel.

    ``counts``: a mapping stage -> count, a frame with ``stage``/``count`` columns, or a frame
    with one column per stage (several rows are summed, e.g. one row per room).
    ``stages``: the stage names in order, or a mapping name -> label; by default the 罗盘
    stages (:data:`DEFAULT_STAGES`) present in ``counts``, else the order of ``counts``.

    Columns: ``stage``, ``label``, ``count``, ``step_rate`` (count / previous count),
    ``cumulative_rate`` (count / first count), ``drop_off`` (1 − step_rate), ``ci_low`` /
    ``ci_high`` (Wilson interval of the step rate at level 1 − ``alpha``), ``flag``.
    The first stage has no step rate (null). Undefined rates (a previous count of zero) are
    null. ``flag`` marks a stage larger than some earlier stage (metrics.md: PV/UV mix or
    attribution windows: flag it, don't fail); a step rate above 1 has no interval.
    """
    order, values = _stage_counts(counts, stages)
    rows = []
    lowest = values[0]
    for i, ((name, label), count) in enumerate(zip(order, values, strict=True)):
        step = low = high = None
        flag = i > 0 and count > lowest
        if i > 0 and values[i - 1] > 0:
            step = count / values[i - 1]
            if count <= values[i - 1]:
                low, high = wilson_bounds(count, values[i - 1], alpha)
        rows.append(
            {
                "stage": name,
                "label": label,
                "count": count,
                "step_rate": step,
                "cumulative_rate": count / values[0] if values[0] > 0 else None,
                "drop_off": None if step is None else 1.0 - step,
                "ci_low": low,
                "ci_high": high,
                "flag": flag,
            }
        )
        lowest = min(lowest, count)
    return pl.DataFrame(rows, schema=FUNNEL_SCHEMA)


CHANGE_SCHEMA: dict[str, pl.DataType] = {
    "stage": pl.String(),
    "label": pl.String(),
    "before": pl.Float64(),
    "after": pl.Float64(),
    "rate_before": pl.Float64(),
    "rate_after": pl.Float64(),
    "log_change": pl.Float64(),
    "share": pl.Float64(),
    "largest_loss": pl.Boolean(),
}


def funnel_change(before: Counts, after: Counts, stages: Stages | None = None) -> pl.DataFrame:
    """Which stage a change between two periods came from: an exact split in logs.

    Because the last count is the first count times the step rates, (metrics.md)
    Δln(last) = Δln(first) + Σᵢ Δln(rᵢ), with rᵢ = countᵢ / countᵢ₋₁. One row per stage:
    the first stage's ``log_change`` is Δln(count), each later stage's is Δln(step rate);
    they add up to Δln(last count) exactly, and ``share`` (log_change / that total) sums to 1.

    Columns: ``stage``, ``label``, ``before``, ``after`` (counts), ``rate_before``,
    ``rate_after`` (step rates; null for the first stage), ``log_change``, ``share``,
    ``largest_loss`` (the stage with the most negative log change, if any stage lost).
    Degenerate input is returned as data: a zero count leaves the logs undefined (null), and
    no change at all (total 0) leaves the shares null.
    """
    order, b = _stage_counts(before, stages)
    order_after, a = _stage_counts(after, stages if stages is not None else [n for n, _ in order])
    if [n for n, _ in order_after] != [n for n, _ in order]:
        raise LivekitError("对比的两个时期须有相同的漏斗阶段")
    defined = all(x > 0 for x in (*b, *a))
    logs: list[float | None] = []
    for i in range(len(order)):
        if not defined:
            logs.append(None)
        elif i == 0:
            logs.append(math.log(a[0]) - math.log(b[0]))
        else:
            logs.append(math.log(a[i] / a[i - 1]) - math.log(b[i] / b[i - 1]))
    total = math.log(a[-1]) - math.log(b[-1]) if defined else None
    shares = [None if (x is None or total is None or total == 0) else x / total for x in logs]
    worst = None
    known = [(x, i) for i, x in enumerate(logs) if x is not None and x < 0]
    if known:
        worst = min(known)[1]
    rows = [
        {
            "stage": name,
            "label": label,
            "before": b[i],
            "after": a[i],
            "rate_before": b[i] / b[i - 1] if i > 0 and b[i - 1] > 0 else None,
            "rate_after": a[i] / a[i - 1] if i > 0 and a[i - 1] > 0 else None,
            "log_change": logs[i],
            "share": shares[i],
            "largest_loss": i == worst,
        }
        for i, (name, label) in enumerate(order)
    ]
    return pl.DataFrame(rows, schema=CHANGE_SCHEMA)


def funnel_counts(rooms: pl.DataFrame, room_analysis: pl.DataFrame | None = None) -> dict[str, int]:
    """Stage counts of the live-room funnel from the stored datasets (all rows summed).

    Every stage is counted in visits (人次), not people (人数): the ``rooms`` fields count
    viewer visits, and mixing units would make a later stage look larger than an earlier one.

    * ``impressions`` (直播间曝光): only with ``room_analysis`` (the T+1 report), per room
      ``all_live_watch_cnt_td × 100 / all_live_enter_room_rate_td`` rounded, because the
      enter-room rate is entered / room impressions over all traffic sources. The ad show
      count (``std_ad_show_cnt_td``) is not used: it counts ad impressions only, whose
      entries are the ad-sourced visits (``click_cnt``), a fraction of ``entered``.
      With ``room_analysis`` every stage is restricted to the rooms that have an analysis row
      with a positive rate (the report is T+1: today's rooms have none), so all stages count
      the same rooms.
    * ``entered`` (进入直播间): ``rooms.total_live_watch_cnt``.
    * ``product_exposed`` (商品曝光): ``rooms.live_click_cart_count_alias`` (visits that saw
      a product card or the cart).
    * ``clicked`` (商品点击): ``rooms.live_click_product_count_alias``.
    * ``paid`` (成交): ``rooms.live_pay_order_count_alias`` (paid orders; one per paying
      visit in the live room).
    """
    columns = {
        "entered": "total_live_watch_cnt",
        "product_exposed": "live_click_cart_count_alias",
        "clicked": "live_click_product_count_alias",
        "paid": "live_pay_order_count_alias",
    }
    require_columns(rooms, ["room_id", *columns.values()], "直播场次数据（rooms）")
    frame = rooms.select("room_id", *columns.values())
    exprs = [pl.col(c).sum().alias(stage) for stage, c in columns.items()]
    if room_analysis is not None:
        rate, watch = "all_live_enter_room_rate_td", "all_live_watch_cnt_td"
        require_columns(
            room_analysis, ["room_id", rate, watch], "直播间 T+1 分析数据（room_analysis）"
        )
        # the registry's definition (the upstream rate is in percent: converted there, once)
        impressions = metric("impressions", "room").numerator_expr()
        analysis = room_analysis.select("room_id", impressions.alias("_impressions")).filter(
            pl.col("_impressions").is_not_null()
        )
        frame = frame.join(analysis.unique("room_id", keep="last"), on="room_id", how="inner")
        exprs.insert(0, pl.col("_impressions").sum().alias("impressions"))
    sums = frame.select(exprs).row(0, named=True)
    return {k: int(v or 0) for k, v in sums.items()}


# ---- what the funnel report adds ------------------------------------------------------------------

# The four step rates of the 罗盘 funnel as registry room metrics, in funnel order.
RATE_METRICS: tuple[str, ...] = (
    "entry_rate",
    "exposure_rate",
    "exposure_click_rate",
    "click_conversion_rate",
)


def comparison_period(
    first: date, last: date, compare_to: date | str | None, *, on: date | None = None
) -> tuple[date, date] | None:
    """The period [first, last] is compared with, as long as it: None for no comparison.

    ``compare_to``: ``"previous_period"`` (the days just before ``first``), the comparison's
    first day (a date, an ISO day or a relative word of :mod:`livekit.dates`, relative to
    ``on``, default today), or None / ``"none"`` (no comparison). A day that is not one raises
    :class:`LivekitError` (one Chinese line).
    """
    if compare_to is None or str(compare_to).strip().lower() == "none":
        return None
    days = (last - first).days + 1
    if str(compare_to).strip().lower() == "previous_period":
        start = first - timedelta(days=days)
    else:
        start = resolve_day(compare_to, name="对比期开始日期", on=on)
    return start, start + timedelta(days=days - 1)


def rooms_counted(rooms: pl.DataFrame, room_analysis: pl.DataFrame) -> tuple[int, int]:
    """(rooms, rooms with a T+1 analysis row): the shows of a period and those in its funnel."""
    require_columns(rooms, ["room_id"], "直播场次数据（rooms）")
    require_columns(room_analysis, ["room_id"], "直播间 T+1 分析数据（room_analysis）")
    sessions = rooms["room_id"].n_unique()
    analysed = room_analysis.join(rooms.select("room_id"), on="room_id").height
    return sessions, analysed


def funnel_by(
    rooms: pl.DataFrame,
    room_analysis: pl.DataFrame | None = None,
    by: str = "aweme_name",
    *,
    alpha: float = ALPHA,
) -> pl.DataFrame:
    """One funnel (:func:`funnel` of :func:`funnel_counts`) per value of ``rooms``' column
    ``by`` (default the 抖音号), in the order of ``by``'s values.

    Columns: ``by``, then :func:`funnel`'s (``stage``, ``label``, ``count``, ``step_rate``, …),
    one row per value and stage. No rooms: no rows.
    """
    require_columns(rooms, [by], "直播场次数据（rooms）")
    dtype = rooms.schema[by]
    parts = [
        funnel(funnel_counts(part, room_analysis), alpha=alpha).select(
            pl.lit(name, dtype=dtype).alias(by), pl.all()
        )
        for (name,), part in rooms.sort(by).group_by(by, maintain_order=True)
    ]
    if not parts:
        return pl.DataFrame(schema={by: dtype, **FUNNEL_SCHEMA})
    return pl.concat(parts)


@dataclass(frozen=True)
class AccountGap:
    """The step where two accounts' step rates differ most (by ratio), and whether the gap is
    beyond chance: the better account's interval lies wholly above the worse one's."""

    stage: str
    label: str
    best: str  # the account with the higher step rate
    worst: str
    high: float  # the best account's step rate (a fraction)
    low: float
    best_ci_low: float | None  # the lower bound of the best account's interval
    worst_ci_high: float | None

    @property
    def separated(self) -> bool:
        """The two intervals do not overlap: the gap is not chance."""
        return (
            self.best_ci_low is not None
            and self.worst_ci_high is not None
            and self.best_ci_low > self.worst_ci_high
        )


def account_gap(per_account: pl.DataFrame, by: str = "aweme_name") -> AccountGap | None:
    """The largest gap between accounts at one step of :func:`funnel_by`'s frame (the highest
    ratio of the best to the worst step rate); None with fewer than two accounts."""
    require_columns(
        per_account, [by, "stage", "label", "step_rate", "ci_low", "ci_high"], "分账号漏斗"
    )
    rates = per_account.filter(pl.col("step_rate").is_not_null())
    if rates.height == 0 or rates[by].n_unique() < 2:
        return None
    g = (
        rates.group_by("stage", "label", maintain_order=True)
        .agg(
            best=pl.col(by).sort_by("step_rate").last(),
            worst=pl.col(by).sort_by("step_rate").first(),
            high=pl.col("step_rate").max(),
            low=pl.col("step_rate").min(),
        )
        .with_columns(ratio=pl.col("high") / pl.col("low"))
        .sort("ratio", descending=True)
        .row(0, named=True)
    )
    bounds = rates.filter(pl.col("stage") == g["stage"])
    return AccountGap(
        stage=str(g["stage"]),
        label=str(g["label"]),
        best=str(g["best"]),
        worst=str(g["worst"]),
        high=float(g["high"]),
        low=float(g["low"]),
        best_ci_low=bounds.filter(pl.col(by) == g["best"])["ci_low"][0],
        worst_ci_high=bounds.filter(pl.col(by) == g["worst"])["ci_high"][0],
    )


def weakest_step(fun: pl.DataFrame) -> str | None:
    """The stage of :func:`funnel`'s frame with the lowest step rate, the entry into the room
    left aside (its rate is low by nature); None when no step rate is defined."""
    rates = (
        fun.filter(pl.col("stage") != "entered")
        .filter(pl.col("step_rate").is_not_null())
        .sort("step_rate")
    )
    return str(rates["stage"][0]) if rates.height else None


def daily_rates(
    rooms: pl.DataFrame,
    room_analysis: pl.DataFrame,
    metrics: Sequence[str] = RATE_METRICS,
) -> pl.DataFrame:
    """The step rates per day, long: ``date``, ``metric`` (the registry name), ``value`` (a
    fraction), from :func:`livekit.analysis.custom_report` (each day's sums divided)."""
    daily = custom_report({"rooms": rooms, "room_analysis": room_analysis}, list(metrics), ["date"])
    return daily.unpivot(index="date", variable_name="metric", value_name="value")
