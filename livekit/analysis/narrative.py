"""Chinese sentences for the reports, built from analysis results (pure: no I/O, no charts).

The notebooks show these strings as Markdown; keeping them here makes the wording testable.
The number formats mirror :mod:`livekit.charts` (which this package must not import).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import polars as pl

__all__ = [
    "FUNNEL_ADVICE",
    "account_gap_note",
    "fmt_count",
    "fmt_percent",
    "funnel_advice",
    "funnel_change_summary",
    "funnel_flag_note",
    "funnel_overview",
]

MISSING = "—"

FUNNEL_ADVICE: dict[str, str] = {
    "impressions": "曝光量下降：先看千川预算、出价和开播时长是否减少，短视频引流素材是否断更；曝光是漏斗的入口，其余环节再好也补不回来。",
    "entered": "进房率下降：直播间的封面、标题和开场画面不够吸引人，或投放人群变宽了。优化开场 30 秒的话术和画面，检查定向人群是否偏离。",
    "product_exposed": "商品曝光率下降：观众进来后没看到商品。缩短暖场，提高挂车讲解和商品卡弹出的频率，让观众一进来就看到在卖什么。",
    "clicked": "商品点击率下降：商品主图、价格或讲解卖点不够吸引人。调整主推款的顺序，强化价格锚点和限时优惠的话术。",
    "paid": "点击-成交率下降：点了却没买。检查库存、优惠券和价格是否清楚，详情页与讲解是否一致，减少下单步骤。",
}  # fmt: skip


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def fmt_percent(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """A share as a percentage (0.1234 -> 12.3%); ``—`` when undefined."""
    if value is None or _missing(float(value)):
        return MISSING
    sign = "+" if signed else ""
    return f"{float(value) * 100:{sign}.{digits}f}%"


def fmt_count(value: float | None) -> str:
    """A count the Chinese way: 8,520 / 1.2万 / 3.45亿; ``—`` when undefined."""
    if value is None or _missing(float(value)):
        return MISSING
    v = float(value)
    if abs(v) >= 1e8:
        return f"{v / 1e8:,.2f}亿"
    if abs(v) >= 1e4:
        return f"{v / 1e4:,.1f}万"
    if v == int(v):
        return f"{int(v):,}"
    return f"{v:,.1f}"


# ---- funnel ---------------------------------------------------------------------------------------
def funnel_overview(
    fun: pl.DataFrame,
    counts: Mapping[str, float],
    *,
    first: date,
    last: date,
    sessions: int,
    analysed: int,
) -> str:
    """The headline paragraph of a funnel (``fun`` from :func:`livekit.analysis.funnel`)."""
    rate = {row["stage"]: row["step_rate"] for row in fun.iter_rows(named=True)}
    paid_share = fun.filter(pl.col("stage") == "paid")["cumulative_rate"][0]
    watch_to_paid = counts["paid"] / counts["entered"] if counts["entered"] else None
    days = (last - first).days + 1
    return (
        f"**{first} 至 {last}**（{days} 天）共 **{sessions} 场**直播"
        f"（其中 {analysed} 场已有 T+1 分析，计入漏斗）。\n\n"
        f"- 直播间曝光 {fmt_count(counts['impressions'])} 次，"
        f"进入直播间 {fmt_count(counts['entered'])} 次（**进房率 {fmt_percent(rate['entered'])}**）；\n"
        f"- 进房后看到商品的占 **{fmt_percent(rate['product_exposed'])}**，"
        f"看到商品后点击的占 **{fmt_percent(rate['clicked'])}**，"
        f"点击后成交的占 **{fmt_percent(rate['paid'])}**；\n"
        f"- 合计：曝光-成交率 {fmt_percent(paid_share, 2)}，观看-成交率 {fmt_percent(watch_to_paid, 2)}，"
        f"共成交 {fmt_count(counts['paid'])} 单。"
    )


def funnel_flag_note(fun: pl.DataFrame) -> str | None:
    """A warning naming the stages larger than the stage before them, or None."""
    if not fun["flag"].any():
        return None
    flagged = "、".join(fun.filter(pl.col("flag"))["label"].to_list())
    return (
        f"⚠️ {flagged} 的数量比前面的环节还大：通常是人数/人次口径混用或归因窗口不同造成的，"
        "这一步的转化率没有参考意义。"
    )


def funnel_change_summary(
    change: pl.DataFrame,
    counts_before: Mapping[str, float],
    counts_after: Mapping[str, float],
    step_labels: Mapping[str, str],
    *,
    before_first: date,
    before_last: date,
) -> str:
    """What changed between two periods (``change`` from :func:`livekit.analysis.funnel_change`).

    ``step_labels`` names each stage (e.g. from :func:`livekit.charts.change_labels`).
    """
    total = counts_after["paid"] / counts_before["paid"] - 1 if counts_before["paid"] else None
    lines = [
        f"与对比期 **{before_first} 至 {before_last}** 相比，成交单量从 "
        f"{fmt_count(counts_before['paid'])} 变为 {fmt_count(counts_after['paid'])}"
        f"（**{fmt_percent(total, signed=True)}**）。"
    ]
    worst = change.filter(pl.col("largest_loss"))
    best = change.filter(pl.col("log_change") > 0).sort("log_change", descending=True).head(1)

    def describe(row: dict[str, Any]) -> str:
        effect = fmt_percent(math.expm1(row["log_change"]), signed=True)
        if row["rate_before"] is None:
            what = f"曝光量由 {fmt_count(row['before'])} 变为 {fmt_count(row['after'])}"
        else:
            what = (
                f"转化率由 {fmt_percent(row['rate_before'])} 变为 {fmt_percent(row['rate_after'])}"
            )
        return f"「{step_labels[str(row['stage'])]}」：{what}，单看这一步，成交会变化 {effect}"

    if worst.height:
        lines.append(f"\n\n**拖累最多的是{describe(worst.row(0, named=True))}。**")
    else:
        lines.append("\n\n没有哪一步变差：各环节都持平或提升。")
    if best.height:
        lines.append(f"\n\n带来增长最多的是{describe(best.row(0, named=True))}。")
    return "".join(lines)


def account_gap_note(step_rates: pl.DataFrame) -> str | None:
    """The largest gap between accounts at one step, and whether the intervals overlap.

    ``step_rates`` is a per-account funnel (column ``账号``) without undefined step rates;
    None when there is only one account.
    """
    if step_rates.height == 0 or step_rates["账号"].n_unique() < 2:
        return None
    g = (
        step_rates.group_by("stage", "label", maintain_order=True)
        .agg(
            best=pl.col("账号").sort_by("step_rate").last(),
            worst=pl.col("账号").sort_by("step_rate").first(),
            high=pl.col("step_rate").max(),
            low=pl.col("step_rate").min(),
        )
        .with_columns(ratio=pl.col("high") / pl.col("low"))
        .sort("ratio", descending=True)
        .row(0, named=True)
    )
    bounds = step_rates.filter(pl.col("stage") == g["stage"])
    best_low = bounds.filter(pl.col("账号") == g["best"])["ci_low"][0]
    worst_high = bounds.filter(pl.col("账号") == g["worst"])["ci_high"][0]
    real = best_low is not None and worst_high is not None and best_low > worst_high
    return (
        f"账号之间差距最大的是「{g['label']}」这一步：{g['best']} 为 "
        f"{fmt_percent(g['high'])}，{g['worst']} 为 {fmt_percent(g['low'])}。"
        + (
            "两者的置信区间不重叠，差距是真实的，值得弱势账号对照学习。"
            if real
            else "不过两者的置信区间有重叠，这点差距可能只是随机波动，暂时不必据此调整。"
        )
    )


def funnel_advice(
    fun: pl.DataFrame, change: pl.DataFrame | None, step_labels: Mapping[str, str] | None
) -> str:
    """What to fix first: the stage that lost most, else the weakest step of this period."""
    if change is not None and step_labels is not None and change["largest_loss"].any():
        stage = change.filter(pl.col("largest_loss"))["stage"][0]
        return f"**优先处理「{step_labels[stage]}」。** {FUNNEL_ADVICE[stage]}"
    lowest = (
        fun.filter(pl.col("stage") != "entered")
        .filter(pl.col("step_rate").is_not_null())
        .sort("step_rate")
        .row(0, named=True)
    )
    return (
        f"本期各环节没有明显变差。转化率最低的一步是「{lowest['label']}」"
        f"（{fmt_percent(lowest['step_rate'])}）：{FUNNEL_ADVICE[lowest['stage']]}"
    )
