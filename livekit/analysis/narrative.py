"""Chinese sentences and tables for the reports, built from analysis results (pure: no I/O,
no charts).

The notebooks show these strings as Markdown and these :class:`Table` s through
:func:`livekit.charts.table`; keeping them here makes the wording testable. The number formats
are the vocabulary's (:mod:`livekit.vocab.units`): every rate here is a fraction, shown as
percent only when formatted.

Text that came from upstream or an import (抖音号 names, room and product titles, traffic
sources) is data, never markup: it enters a sentence only through :func:`_md`
(:func:`livekit.text.escape_markdown`). Tables keep the raw values; :func:`livekit.charts.table`
escapes every cell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from livekit.analysis.dwell import DwellResult, GroupRetention, Retention
from livekit.analysis.roi import NetRoasProjection
from livekit.text import escape_markdown as _md
from livekit.vocab.units import fmt_count, fmt_number, fmt_percent, fmt_yuan

__all__ = [
    "FUNNEL_ADVICE",
    "Table",
    "account_gap_note",
    "dwell_advice",
    "dwell_conversion_summary",
    "dwell_overview",
    "fmt_count",
    "fmt_number",
    "fmt_percent",
    "fmt_yuan",
    "funnel_advice",
    "funnel_change_summary",
    "funnel_flag_note",
    "funnel_overview",
    "product_pick_summary",
    "product_table",
    "roi_loss_advice",
    "roi_overview",
    "roi_ranking_table",
    "source_retention_summary",
    "source_retention_table",
    "with_room_labels",
]


FUNNEL_ADVICE: dict[str, str] = {
    "impressions": "曝光量下降：先看千川预算、出价和开播时长是否减少，短视频引流素材是否断更；曝光是漏斗的入口，其余环节再好也补不回来。",
    "entered": "进房率下降：直播间的封面、标题和开场画面不够吸引人，或投放人群变宽了。优化开场 30 秒的话术和画面，检查定向人群是否偏离。",
    "product_exposed": "商品曝光率下降：观众进来后没看到商品。缩短暖场，提高挂车讲解和商品卡弹出的频率，让观众一进来就看到在卖什么。",
    "clicked": "商品点击率下降：商品主图、价格或讲解卖点不够吸引人。调整主推款的顺序，强化价格锚点和限时优惠的话术。",
    "paid": "点击-成交率下降：点了却没买。检查库存、优惠券和价格是否清楚，详情页与讲解是否一致，减少下单步骤。",
}  # fmt: skip


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


@dataclass(frozen=True)
class Table:
    """A frame to show, the columns to show (in order) with their Chinese headers, and how
    to format them (see :func:`livekit.charts.table`, which draws it)."""

    frame: pl.DataFrame = field(compare=False)
    columns: dict[str, str]
    formats: dict[str, str] = field(default_factory=dict)
    caption: str | None = None


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
        f"账号之间差距最大的是「{g['label']}」这一步：{_md(g['best'])} 为 "
        f"{fmt_percent(g['high'])}，{_md(g['worst'])} 为 {fmt_percent(g['low'])}。"
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


# ---- ROI ------------------------------------------------------------------------------------------
ROI_RANKING_COLUMNS: dict[str, str] = {
    "label": "场次",
    "spend": "消耗",
    "gmv": "成交金额",
    "refunds": "7日退款",
    "roas": "支付ROI",
    "net_roas": "净成交ROI",
    "roas_7d": "7日总支付ROI",
    "repurchase_share": "复购占7日成交",
    "window_closed": "7日窗口已结束",
    "verdict": "按净成交ROI",
}
ROI_RANKING_FORMATS: dict[str, str] = {
    "spend": "yuan",
    "gmv": "yuan",
    "refunds": "yuan",
    "roas": "ratio",
    "net_roas": "ratio",
    "roas_7d": "ratio",
    "repurchase_share": "percent",
}
ROI_CAVEAT = (
    "注意：保本ROI 只看毛利是否覆盖广告费，没有扣除人工、场地等固定成本；"
    "毛利率请按实际货盘填写，不同商品毛利不同时，以主推商品为准。"
)


def with_room_labels(by_room: pl.DataFrame) -> pl.DataFrame:
    """``by_room`` plus ``label``, how the report names a room: "11-20 19:30 抖音号"."""
    return by_room.with_columns(
        label=pl.format(
            "{} {}", pl.col("start_time").dt.strftime("%m-%d %H:%M"), pl.col("aweme_name")
        )
    )


def _versus(value: float | None, breakeven: float | None) -> str:
    if value is None or breakeven is None:
        return "无法判断"
    if value >= breakeven:
        return "**高于保本线**，广告费能被毛利覆盖"
    return "**低于保本线**，按这个毛利率投放在亏钱"


ROI_VERDICTS: dict[str, str] = {
    "above": "**高于保本线**（区间下限也在保本线之上），广告费能被毛利覆盖",
    "below": "**低于保本线**（区间上限也在保本线之下），按这个毛利率投放在亏钱",
    "cannot_tell": "**暂时无法判断**是否保本：区间跨过了保本线",
    "undefined": "无法判断",
}
ROI_ATTRIBUTION_NOTE = (
    "店铺合计的 7 日成交中每笔订单只计一次；分场表中的复购按场归属，"
    "同一笔复购可能同时计入几场（或同时是另一场的直播成交），所以各场复购相加会大于合计。"
)


def _projection_lines(
    projection: NetRoasProjection, breakeven: float | None, margin: str
) -> list[str]:
    """The refund-window sentences: provisional rooms, the projected net ROAS, the verdict."""
    share = f"{fmt_percent(projection.level, 0)} 区间"
    lines: list[str] = []
    if projection.provisional_rooms and projection.net_roas_projected is not None:
        when = (
            f"{projection.final_at:%m-%d %H:%M} 后全部确定"
            if projection.final_at is not None
            else "有场次仍在直播"
        )
        lines.append(
            f"- 其中 **{projection.provisional_rooms} 场**的 7 日退款窗口还没结束（{when}），"
            f"目前退款占成交 {fmt_percent(projection.refund_ratio)}，退款还会增加。"
            "按近期已结束场次的退款进度推算，最终退款约 "
            f"{fmt_yuan(projection.refunds_projected)}（占成交 "
            f"{fmt_percent(projection.refund_ratio_projected)}；{share} "
            f"{fmt_yuan(projection.refunds_low)}–{fmt_yuan(projection.refunds_high)}），"
            f"净成交ROI 预计 **{fmt_number(projection.net_roas_projected, 2)}**"
            f"（{share} {fmt_number(projection.net_roas_low, 2)}–"
            f"{fmt_number(projection.net_roas_high, 2)}）；"
        )
        subject = "预计的净成交ROI"
    elif projection.provisional_rooms:
        lines.append(
            f"- 其中 {projection.provisional_rooms} 场的 7 日退款窗口还没结束，"
            "但没有足够的已结束场次来推算最终退款，净成交ROI 之后还会下降；"
        )
        subject = "净成交ROI"
    else:
        subject = "净成交ROI"
    verdict = ROI_VERDICTS[projection.verdict]
    if projection.verdict == "cannot_tell" and projection.final_at is not None:
        verdict += f"，等 {projection.final_at:%m-%d} 退款窗口结束后再看"
    lines.append(
        f"- 毛利率 {margin} 时保本ROI 为 **{fmt_number(breakeven, 2)}**：{subject}{verdict}。"
    )
    return lines


def roi_overview(
    closed: Mapping[str, Any],
    so_far: Mapping[str, Any],
    *,
    gross_margin: float,
    first: date,
    last: date,
    projection: NetRoasProjection | None = None,
) -> str:
    """Did the ads pay: totals, ROAS against break-even, and the 7-day view.

    ``closed`` and ``so_far`` are the rows of :func:`livekit.analysis.roi_summary` without and
    with ``include_open_windows``. With ``projection`` (:func:`livekit.analysis.roi.
    project_net_roas` over the same rooms) the break-even verdict is the projected net ROAS's
    and the provisional rooms are named by count and the date they become final.
    """
    breakeven = closed["breakeven_roas"]
    margin = fmt_percent(gross_margin, 0)
    lines = [
        f"**{first} 至 {last}** 共 {closed['rooms']} 场直播，千川消耗 {fmt_yuan(closed['spend'])}，"
        f"直播间成交 {fmt_yuan(closed['gmv'])}，截至目前 7 日退款 {fmt_yuan(closed['refunds'])}。",
        f"- 支付ROI **{fmt_number(closed['roas'], 2)}**，"
        f"净成交ROI（扣退款）**{fmt_number(closed['net_roas'], 2)}**；",
    ]
    if projection is None:
        lines.append(
            f"- 毛利率 {margin} 时保本ROI 为 **{fmt_number(breakeven, 2)}**："
            f"净成交ROI {_versus(closed['net_roas'], breakeven)}。"
        )
    else:
        lines.extend(_projection_lines(projection, breakeven, margin))
    once = bool(closed.get("counted_once")) or bool(so_far.get("counted_once"))
    if closed["rooms_7d"]:
        lines.append(
            f"- 7 日窗口已结束的 {closed['rooms_7d']} 场：7日总支付ROI "
            f"**{fmt_number(closed['roas_7d'], 2)}**，"
            f"其中复购占 7 日成交的 {fmt_percent(closed['repurchase_share'])}。"
        )
    if so_far["rooms_7d"] > closed["rooms_7d"]:
        lines.append(
            "- 算上 7 日窗口还没结束的场次，截至目前 7日总支付ROI 为 "
            f"{fmt_number(so_far['roas_7d'], 2)}"
            f"（复购占 {fmt_percent(so_far['repurchase_share'])}）；"
            "这些场次的买家还有时间复购，最终数字只会更高。"
        )
    if once and (closed["rooms_7d"] or so_far["rooms_7d"]):
        lines.append(f"- {ROI_ATTRIBUTION_NOTE}")
    return "\n".join(lines)


def roi_ranking_table(by_room: pl.DataFrame, projection: NetRoasProjection | None = None) -> Table:
    """Rooms with spend, best net ROAS first, each marked 保本 or 亏损 (``by_room`` labelled
    by :func:`with_room_labels`). With ``projection`` the ranking and the mark are the
    projected net ROAS's (待定 when its interval straddles break-even) and the provisional
    rooms are marked."""
    if projection is None:
        ranking = (
            by_room.filter(pl.col("roas").is_not_null())
            .sort("net_roas", descending=True, nulls_last=True)
            .with_columns(
                verdict=pl.when(pl.col("net_roas") >= pl.col("breakeven_roas"))
                .then(pl.lit("保本"))
                .otherwise(pl.lit("亏损"))
            )
        )
        return Table(
            ranking,
            ROI_RANKING_COLUMNS,
            ROI_RANKING_FORMATS,
            caption="各场 ROI 排名（按净成交ROI 从高到低）",
        )
    marks = {"above": "保本", "below": "亏损", "cannot_tell": "待定", "undefined": "—"}
    projected = projection.rooms.select(
        "room_id",
        "net_roas_projected",
        "net_roas_low",
        "net_roas_high",
        pl.when(pl.col("provisional"))
        .then(pl.lit("未结束"))
        .otherwise(pl.lit("已结束"))
        .alias("refund_window"),
        pl.col("verdict").replace_strict(marks, default="—").alias("verdict"),
    )
    ranking = (
        by_room.drop("verdict", strict=False)
        .join(projected, on="room_id", how="left")
        .filter(pl.col("roas").is_not_null())
        .sort("net_roas_projected", descending=True, nulls_last=True)
    )
    columns = {
        "label": "场次",
        "spend": "消耗",
        "gmv": "成交金额",
        "refunds": "已发生退款",
        "roas": "支付ROI",
        "net_roas": "净成交ROI（目前）",
        "net_roas_projected": "净成交ROI（预计）",
        "net_roas_low": "预计下限",
        "net_roas_high": "预计上限",
        "refund_window": "退款窗口",
        "roas_7d": "7日总支付ROI",
        "repurchase_share": "复购占7日成交",
        "verdict": "按预计净成交ROI",
    }
    formats = {
        **ROI_RANKING_FORMATS,
        "net_roas_projected": "ratio",
        "net_roas_low": "ratio",
        "net_roas_high": "ratio",
    }
    return Table(
        ranking,
        columns,
        formats,
        caption=(
            f"各场 ROI 排名（按预计净成交ROI 从高到低；区间为 {fmt_percent(projection.level, 0)} "
            "区间；复购按场归属）"
        ),
    )


def roi_loss_advice(
    by_room: pl.DataFrame,
    *,
    gross_margin: float,
    breakeven: float | None,
    projection: NetRoasProjection | None = None,
) -> str:
    """Which rooms lose money at ``gross_margin`` (worst first, at most 10), their share of
    spend, which of them 7-day repurchases rescue, and what to do. With ``projection`` a room
    whose refund window is open is judged by its projected net ROAS."""
    margin = fmt_percent(gross_margin, 0)
    parts: list[str] = []
    if projection is not None:
        projected = projection.rooms.select("room_id", "net_roas_projected")
        by_room = (
            by_room.join(projected, on="room_id", how="left")
            .with_columns(pl.coalesce("net_roas_projected", "net_roas").alias("net_roas"))
            .drop("net_roas_projected")
        )
        if projection.provisional_rooms:
            parts.append(
                f"（7 日退款窗口还没结束的 {projection.provisional_rooms} 场，"
                "下面按预计的净成交ROI 计。）"
            )
    if breakeven is None:
        parts.append("毛利率为 0 或未设置，无法计算保本ROI。请在参数中填写 gross_margin。")
    else:
        losing = by_room.filter(pl.col("net_roas") < breakeven).sort("net_roas")
        if losing.height == 0:
            parts.append(
                f"按毛利率 {margin}，所有有消耗的场次净成交ROI 都不低于保本线 "
                f"{fmt_number(breakeven, 2)}。可以尝试逐步加预算，同时每天关注 ROI 是否跌破保本线。"
            )
        else:
            rescued = losing.filter(pl.col("roas_7d") >= breakeven).height
            spend = float(by_room["spend"].sum())
            share = float(losing["spend"].sum()) / spend if spend else None
            listed = "\n".join(
                f"- {_md(r['label'])}：消耗 {fmt_yuan(r['spend'])}，"
                f"净成交ROI {fmt_number(r['net_roas'], 2)}"
                + (
                    "（算上 7 天复购可回本）"
                    if r["roas_7d"] is not None and r["roas_7d"] >= breakeven
                    else ""
                )
                for r in losing.head(10).iter_rows(named=True)
            )
            parts.append(
                f"按毛利率 {margin}（保本ROI {fmt_number(breakeven, 2)}），"
                f"**{losing.height} 场净成交ROI 低于保本线**，占总消耗的 {fmt_percent(share)}："
                f"\n\n{listed}\n\n"
                "建议：\n"
                "1. 这些场次先降低出价或预算，或把预算挪到 ROI 高的时段和账号；\n"
                "2. 对比亏损场次与盈利场次的开播时段、主推商品和流量结构，找出差异；\n"
                f"3. {rescued} 场算上买家 7 天内的复购可以回本：如果复购稳定，"
                "这些场次可以适当保留投放，但要持续跟踪 7日总支付ROI。"
            )
    no_spend = by_room.filter(pl.col("roas").is_null()).height
    if no_spend:
        parts.append(f"另有 {no_spend} 场没有千川消耗，ROI 无定义，未计入排名。")
    parts.append(ROI_CAVEAT)
    return "\n\n".join(parts)


# ---- dwell time -----------------------------------------------------------------------------------
def _seconds(value: float | None) -> str:
    return fmt_number(value, 0)


def dwell_overview(ret: Retention, *, first: date, last: date) -> str:
    """How long visits stay: the median with its interval and the share past 1, 3, 10 minutes."""
    interval = (
        f"（95% 区间 {_seconds(ret.median_ci[0])}–{_seconds(ret.median_ci[1])} 秒）"
        if ret.median_ci
        else ""
    )
    return (
        f"**{first} 至 {last}** 共 {fmt_count(ret.visits)} 次访问"
        f"（{fmt_percent(ret.censored_share)} 一直看到下播，按删失处理）。\n\n"
        f"- 一半的访问在 **{_seconds(ret.median)} 秒**内离开{interval}；\n"
        f"- 停留超过 1 分钟的占 **{fmt_percent(ret.still_watching(60))}**，"
        f"超过 3 分钟的占 {fmt_percent(ret.still_watching(180))}，"
        f"超过 10 分钟的占 {fmt_percent(ret.still_watching(600))}。"
    )


def source_retention_summary(groups: GroupRetention) -> str:
    """The traffic source that stays longest and shortest, and whether the difference is real
    (log-rank test)."""
    best, worst = groups.best, groups.worst
    if best is None or worst is None:
        return "观众明细中没有可比较的流量来源。"
    if groups.p_value is None or groups.summary.height < 2:
        return (
            f"只有「{_md(best['group'])}」一个来源（一半的访问留到 {_seconds(best['median'])} 秒），"
            "无法在来源之间比较。"
        )
    p = groups.p_value
    return (
        f"留存最好的是「{_md(best['group'])}」（一半的访问留到 {_seconds(best['median'])} 秒），"
        f"最差的是「{_md(worst['group'])}」（{_seconds(worst['median'])} 秒）。"
        + (
            f"各来源的留存曲线差异显著（对数秩检验 p {'< 0.001' if p < 0.001 else f'= {p:.3f}'}），"
            "不是随机波动。"
            if p < 0.05
            else f"各来源的留存曲线差异不显著（对数秩检验 p = {p:.3f}），可能只是随机波动。"
        )
    )


def source_retention_table(groups: GroupRetention) -> Table:
    """One row per traffic source: visits, median dwell, share past 1 and 3 minutes."""
    return Table(
        groups.summary,
        {
            "group": "流量来源",
            "visits": "访问次数",
            "median": "中位停留（秒）",
            "past_1m": "超过 1 分钟",
            "past_3m": "超过 3 分钟",
        },
        {"visits": "count", "median": "{:,.0f}", "past_1m": "percent", "past_3m": "percent"},
    )


def dwell_conversion_summary(result: DwellResult) -> str:
    """Do long visits convert more: both rates, the risk ratio with its interval, the caveat."""
    if result.error:
        return f"无法比较：{result.error_message}"
    minutes = fmt_number(result.threshold_s / 60, 1)
    low, high = result.risk_ratio_ci
    significant = low > 1 or high < 1
    if significant and result.risk_ratio > 1:
        meaning = f"也就是高出约 {fmt_percent(result.risk_ratio - 1, 0)}。"
    elif significant:
        meaning = "反而更低。"
    else:
        meaning = "区间包含 1，看不出明显差别。"
    return (
        f"停留超过 {minutes} 分钟的访问，成交率 **{fmt_percent(result.rate_long, 2)}**；"
        f"不超过 {minutes} 分钟的，成交率 {fmt_percent(result.rate_short, 2)}。"
        f"前者是后者的 **{result.risk_ratio:.2f} 倍**（95% 区间 {low:.2f}–{high:.2f}），"
        f"{meaning}\n\n> **注意：{result.note}**"
    )


def _top_ranked(ranked: pl.DataFrame) -> dict[str, Any] | None:
    top = ranked.filter(pl.col("rank").is_not_null()).sort("rank")
    return top.row(0, named=True) if top.height else None


def product_pick_summary(ranked: pl.DataFrame, *, min_clicks: int = 30) -> str:
    """Which product to present earlier: the best by the Wilson lower bound, compared with the
    most clicked one and with the best raw rate (``ranked`` from
    :func:`livekit.analysis.rank_products` with ``title``, ranked at ``min_clicks``)."""
    pick = _top_ranked(ranked)
    if pick is None:
        return f"没有点击次数足够（≥{min_clicks} 次）的商品，暂不排名。"
    lines = [
        f"**最值得提前讲解的是「{_md(pick['title'])}」**：点击 {fmt_count(pick['clicks'])} 次、成交 "
        f"{fmt_count(pick['paid'])} 单，点击后成交率 {fmt_percent(pick['rate'])}，"
        f"保守估计（下限）也有 {fmt_percent(pick['ci_low'])}。"
    ]
    most_clicked = ranked.sort("clicks", descending=True, maintain_order=True).row(0, named=True)
    if most_clicked["product_id"] != pick["product_id"]:
        clearly_worse = most_clicked["ci_high"] < pick["ci_low"]
        lines.append(
            f"目前点击最多的是「{_md(most_clicked['title'])}」"
            f"（点击后成交率 {fmt_percent(most_clicked['rate'])}）："
            + (
                "它吸引点击，但成交明显不如前者，可以把前者的讲解挪到更靠前、流量更好的时段。"
                if clearly_worse
                else "两者的成交率区间重叠、差距在误差范围内，可以都安排在靠前的时段讲解。"
            )
        )
    raw_best = (
        ranked.filter(pl.col("clicks") >= 1)
        .sort("rate", descending=True, maintain_order=True)
        .row(0, named=True)
    )
    if raw_best["product_id"] != pick["product_id"] and raw_best["rank"] is None:
        lines.append(
            f"「{_md(raw_best['title'])}」的原始成交率最高（{raw_best['paid']}/{raw_best['clicks']}），"
            "但点击太少，结论不可靠，先多讲几次积累数据。"
        )
    return "\n\n".join(lines)


def product_table(ranked: pl.DataFrame, rows: int = 20) -> Table:
    """The first ``rows`` products of the ranking (ranked ones first), with their numbers."""
    return Table(
        ranked.head(rows),
        {
            "rank": "排名",
            "title": "商品",
            "clicks": "点击次数",
            "paid": "成交单数",
            "rate": "点击后成交率",
            "ci_low": "成交率下限",
            "gmv": "成交金额",
        },
        {
            "rank": "{}",
            "clicks": "count",
            "paid": "count",
            "rate": "percent",
            "ci_low": "percent",
            "gmv": "yuan",
        },
    )


def dwell_advice(ret: Retention, groups: GroupRetention, ranked: pl.DataFrame) -> str:
    """Next steps: the opening seconds, the source that leaves soonest, the product to move up,
    and an experiment to test whether longer stays cause sales."""
    advice = [
        f"**前 {_seconds(ret.median)} 秒决定一半观众的去留**：开场和每次过款的前半分钟要直接给出"
        "利益点（价格、福利、演示），不要铺垫太久。"
    ]
    worst = groups.worst
    if worst is not None and groups.summary.height >= 2:
        advice.append(
            f"**承接「{_md(worst['group'])}」的流量**：这类观众留得最短，它们进来时（投放起量、"
            "推荐流量高峰）安排最有吸引力的商品和福利。"
        )
    pick = _top_ranked(ranked)
    if pick is not None:
        advice.append(
            f"**把「{_md(pick['title'])}」的讲解往前排**，放在开播后人最多的时段；"
            "过几场再用本报告确认它的排名是否稳定。"
        )
    advice.append(
        "停留与成交的关系只是相关：想知道“延长停留”本身能不能带来成交，"
        "请设计一个 A/B 实验（例如一半场次加入留人互动环节），用 ab_test 报告分析。"
    )
    return "\n".join(f"{i}. {text}" for i, text in enumerate(advice, start=1))
