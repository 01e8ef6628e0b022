"""The funnel report (直播间转化漏斗，五维四率): its prose, charts and tables.

:func:`build` reads a period (and the period it is compared with) from a source, runs the
funnel analysis of :mod:`livekit.analysis.funnel` once and keeps the results in a
:class:`FunnelPage`; each of its methods is one part of the report, a :class:`Section`::

    import livekit
    from livekit.pages import funnel

    page = funnel.build(livekit.open("sandbox"), start="last_7_days")
    page.overview()   # this period's funnel: prose, chart, table
    page.change()     # which step the change in orders came from
    page.accounts()   # one funnel per 抖音号
    page.daily()      # the four step rates per day
    page.advice()     # what to fix first

Every number is a fraction in the frames and shown as percent here (:mod:`livekit.vocab.units`).
Upstream text (抖音号 names) enters prose through :func:`livekit.text.escape_markdown`; tables
escape every cell (:func:`livekit.charts.table`) and charts draw labels as plain text.
Importing this module loads no altair (the chart builders import it when they draw).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import polars as pl

import livekit.charts as charts
from livekit.analysis.funnel import (
    RATE_METRICS,
    AccountGap,
    account_gap,
    comparison_period,
    daily_rates,
    funnel,
    funnel_by,
    funnel_change,
    funnel_counts,
    rooms_counted,
    weakest_step,
)
from livekit.analysis.rooms import room_ids as parse_room_ids
from livekit.charts._frames import padded_domain, require
from livekit.charts.style import ACCENT, BAD, GOOD, PALETTE, WIDTH
from livekit.charts.tables import Column, TableSpec
from livekit.dates import resolve_range
from livekit.pages._page import Period, Section, period, section
from livekit.text import escape_markdown as _md
from livekit.vocab.metrics import metric
from livekit.vocab.units import format_count, format_percent

if TYPE_CHECKING:
    import altair as alt

    from livekit.source import Kit

__all__ = [
    "ACCOUNT_TABLE",
    "DATASETS",
    "FUNNEL_ADVICE",
    "FUNNEL_TABLE",
    "FunnelPage",
    "account_gap_note",
    "build",
    "change_labels",
    "funnel_advice",
    "funnel_change_chart",
    "funnel_change_summary",
    "funnel_chart",
    "funnel_flag_note",
    "funnel_overview",
]

# What the report reads: the rooms and their T+1 analysis (the room impressions).
DATASETS: tuple[str, ...] = ("rooms", "room_analysis")

FUNNEL_ADVICE: dict[str, str] = {
    "impressions": "曝光量下降：先看千川预算、出价和开播时长是否减少，短视频引流素材是否断更；曝光是漏斗的入口，其余环节再好也补不回来。",
    "entered": "进房率下降：直播间的封面、标题和开场画面不够吸引人，或投放人群变宽了。优化开场 30 秒的话术和画面，检查定向人群是否偏离。",
    "product_exposed": "商品曝光率下降：观众进来后没看到商品。缩短暖场，提高挂车讲解和商品卡弹出的频率，让观众一进来就看到在卖什么。",
    "clicked": "商品点击率下降：商品主图、价格或讲解卖点不够吸引人。调整主推款的顺序，强化价格锚点和限时优惠的话术。",
    "paid": "点击-成交率下降：点了却没买。检查库存、优惠券和价格是否清楚，详情页与讲解是否一致，减少下单步骤。",
}  # fmt: skip

AFTER_ADVICE = (
    "改动之后，用同样的参数再跑一次本报告对比前后；如果想确认改动确实有效，"
    "用 A/B 实验报告（ab_test）做一次随机对照。"
)

FUNNEL_TABLE = TableSpec(
    (
        Column("label", "环节"),
        Column("count", "人次", "count"),
        Column("step_rate", "环节转化率", "percent"),
        Column("ci_low", "区间下限", "percent"),
        Column("ci_high", "区间上限", "percent"),
        Column("drop_off", "本环节流失", "percent"),
        Column("cumulative_rate", "累计转化率（占曝光）", "percent"),
    )
)

ACCOUNT_TABLE = TableSpec(
    (
        Column("aweme_name", "抖音号"),
        Column("label", "环节"),
        Column("count", "人次", "count"),
        Column("step_rate", "环节转化率", "percent"),
        Column("ci_low", "区间下限", "percent"),
        Column("ci_high", "区间上限", "percent"),
    )
)


# ---- the page -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FunnelPage:
    """The funnel report's results, computed once by :func:`build`; each method is a part."""

    period: Period
    rooms: tuple[int, ...]  # the room_ids asked for (empty: every room)
    counts: Mapping[str, int]  # stage -> count (funnel_counts)
    funnel: pl.DataFrame  # analysis.funnel's frame
    sessions: int  # rooms of the period
    analysed: int  # of them with a T+1 analysis (counted in the funnel)
    per_account: pl.DataFrame  # analysis.funnel_by's frame (by aweme_name)
    gap: AccountGap | None
    by_day: pl.DataFrame  # analysis.daily_rates: date, metric (registry name), value
    comparison: Period | None = None  # the period compared with (None: no comparison)
    counts_before: Mapping[str, int] | None = None
    split: pl.DataFrame | None = None  # analysis.funnel_change's frame, when defined
    no_change: str | None = None  # why there is no change: "rooms", "none" or "incomplete"

    @property
    def step_labels(self) -> dict[str, str]:
        """Stage -> what its row of the change measures (the first count, then each step)."""
        if self.split is None:
            return {}
        stages = [str(s) for s in self.split["stage"].to_list()]
        return dict(zip(stages, change_labels(self.split), strict=True))

    # ---- sections -----------------------------------------------------------------------------
    def overview(self) -> Section:
        """This period's funnel: the coverage note, the headline, the flag, chart and table."""
        first, last = self.period.first, self.period.last
        return section(
            self.period.note,
            funnel_overview(
                self.funnel,
                self.counts,
                first=first,
                last=last,
                sessions=self.sessions,
                analysed=self.analysed,
            ),
            funnel_flag_note(self.funnel),
            funnel_chart(
                self.funnel,
                subtitle=f"{first} 至 {last}，按人次统计；右侧横线为 95% 置信区间",
                y_title="人次",
            ),
            FUNNEL_TABLE.render(self.funnel),
        )

    def change(self) -> Section:
        """Against the comparison period: which step the change in orders came from."""
        if self.comparison is None:
            reason = (
                "指定了直播间（room_id）时，没有“上一时期的同一批直播间”可比"
                if self.no_change == "rooms"
                else "compare_to 为 none"
            )
            return section(f"本次不做对比（{reason}）。")
        before = self.comparison
        if self.split is None or self.counts_before is None:
            return section(
                before.note,
                f"对比期 {before.first} 至 {before.last} 的数据不完整（某个环节为 0），无法拆解。",
            )
        return section(
            before.note,
            funnel_change_summary(
                self.split,
                self.counts_before,
                self.counts,
                self.step_labels,
                before_first=before.first,
                before_last=before.last,
            ),
            funnel_change_chart(self.split),
        )

    def accounts(self) -> Section:
        """One funnel per 抖音号: the largest gap between them, a chart and a table."""
        rates = self.per_account.filter(pl.col("step_rate").is_not_null())
        if rates.height == 0:
            return section("本期没有可计算转化率的场次，无法分账号比较。")
        return section(
            account_gap_note(self.gap),
            charts.bar_chart(
                rates,
                "label",
                "step_rate",
                "aweme_name",
                title="各账号的环节转化率",
                subtitle="每一步 = 本环节人次 ÷ 上一环节人次",
                y_title="环节转化率",
                y_format=".1%",
                color_title="抖音号",
                grouped=True,
                sort=False,
            ),
            ACCOUNT_TABLE.render(self.per_account),
        )

    def daily(self) -> Section:
        """The four step rates per day."""
        if self.by_day.filter(pl.col("value").is_not_null()).height == 0:
            return section("本期没有可计算的每日转化率。")
        labels = {name: metric(name, "room").label for name in RATE_METRICS}
        frame = self.by_day.with_columns(pl.col("metric").replace_strict(labels))
        return section(
            charts.trend_chart(
                frame,
                "date",
                "value",
                "metric",
                title="每日转化率走势",
                x_title="日期",
                y_title="转化率",
                y_format=".1%",
                color_title="指标",
            )
        )

    def advice(self) -> Section:
        """What to fix first, and how to check that the fix worked."""
        return section(funnel_advice(self.funnel, self.split, self.step_labels), AFTER_ADVICE)


def build(
    kit: Kit,
    start: date | str = "last_7_days",
    end: date | str | None = None,
    compare_to: date | str | None = "previous_period",
    rooms: Iterable[Any] | None = (),
) -> FunnelPage:
    """Read the period (and its comparison period) from ``kit`` and run the funnel analysis.

    The parameters are the notebook's: ``start``/``end`` (the date grammar of
    :mod:`livekit.dates`), ``compare_to`` (``"previous_period"``, the comparison's first day,
    or ``"none"``), ``rooms`` (room_ids; empty: every room; given: no comparison, since there
    are no "same rooms" in another period). A sandbox kit fills missing days first
    (:func:`livekit.pages.period`). Mistakes raise :class:`LivekitError` (one Chinese line).
    """
    # every parameter checked before any data is prepared
    room_ids = parse_room_ids(rooms)
    first, last = resolve_range(start, end)
    # a list of rooms has no "same rooms last time" to compare with
    when = None if room_ids else comparison_period(first, last, compare_to)
    charts.setup()  # the charts' theme, rendered offline as SVG
    current = period(kit, first, last, datasets=DATASETS)
    live, t1 = _load(kit, current, room_ids)
    counts = funnel_counts(live, t1)
    sessions, analysed = rooms_counted(live, t1)
    per_account = funnel_by(live, t1, "aweme_name")
    common: dict[str, Any] = {
        "period": current,
        "rooms": room_ids,
        "counts": counts,
        "funnel": funnel(counts),
        "sessions": sessions,
        "analysed": analysed,
        "per_account": per_account,
        "gap": account_gap(per_account, "aweme_name"),
        "by_day": daily_rates(live, t1),
    }
    if when is None:
        return FunnelPage(**common, no_change="rooms" if room_ids else "none")
    before = period(kit, when[0], when[1], datasets=DATASETS)
    counts_before = funnel_counts(*_load(kit, before, room_ids))
    change = funnel_change(counts_before, counts)
    if change["log_change"].null_count():
        return FunnelPage(**common, comparison=before, no_change="incomplete")
    return FunnelPage(**common, comparison=before, counts_before=counts_before, split=change)


def _load(kit: Kit, p: Period, room_ids: tuple[int, ...]) -> tuple[pl.DataFrame, pl.DataFrame]:
    live = kit.load("rooms", p.first, p.last)
    t1 = kit.load("room_analysis", p.first, p.last)
    if room_ids:
        live = live.filter(pl.col("room_id").is_in(room_ids))
    return live, t1


# ---- prose --------------------------------------------------------------------------------------
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
        f"- 直播间曝光 {format_count(counts['impressions'])} 次，"
        f"进入直播间 {format_count(counts['entered'])} 次"
        f"（**进房率 {format_percent(rate['entered'])}**）；\n"
        f"- 进房后看到商品的占 **{format_percent(rate['product_exposed'])}**，"
        f"看到商品后点击的占 **{format_percent(rate['clicked'])}**，"
        f"点击后成交的占 **{format_percent(rate['paid'])}**；\n"
        f"- 合计：曝光-成交率 {format_percent(paid_share, 2)}，"
        f"观看-成交率 {format_percent(watch_to_paid, 2)}，"
        f"共成交 {format_count(counts['paid'])} 单。"
    )


def funnel_flag_note(fun: pl.DataFrame) -> str | None:
    """A warning naming the stages larger than the stage before them, or None."""
    if not fun["flag"].any():
        return None
    flagged = "、".join(_md(v) for v in fun.filter(pl.col("flag"))["label"].to_list())
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
    """What changed between two periods (``change`` from :func:`livekit.analysis.funnel_change`):
    the orders before and after, the step that lost most (the analysis's ``largest_loss``) and
    the one that gained most. ``step_labels`` names each stage (:func:`change_labels`)."""
    total = counts_after["paid"] / counts_before["paid"] - 1 if counts_before["paid"] else None
    lines = [
        f"与对比期 **{before_first} 至 {before_last}** 相比，成交单量从 "
        f"{format_count(counts_before['paid'])} 变为 {format_count(counts_after['paid'])}"
        f"（**{format_percent(total, signed=True)}**）。"
    ]
    worst = change.filter(pl.col("largest_loss"))
    best = change.filter(pl.col("log_change") > 0).sort("log_change", descending=True).head(1)

    def describe(row: dict[str, Any]) -> str:
        effect = format_percent(math.expm1(row["log_change"]), signed=True)
        if row["rate_before"] is None:
            what = f"曝光量由 {format_count(row['before'])} 变为 {format_count(row['after'])}"
        else:
            what = (
                f"转化率由 {format_percent(row['rate_before'])} "
                f"变为 {format_percent(row['rate_after'])}"
            )
        label = _md(step_labels[str(row["stage"])])
        return f"「{label}」：{what}，单看这一步，成交会变化 {effect}"

    if worst.height:
        lines.append(f"\n\n**拖累最多的是{describe(worst.row(0, named=True))}。**")
    else:
        lines.append("\n\n没有哪一步变差：各环节都持平或提升。")
    if best.height:
        lines.append(f"\n\n带来增长最多的是{describe(best.row(0, named=True))}。")
    return "".join(lines)


def account_gap_note(gap: AccountGap | None) -> str | None:
    """The largest gap between accounts at one step (:func:`livekit.analysis.funnel.
    account_gap`) and whether it is beyond chance; None with fewer than two accounts."""
    if gap is None:
        return None
    return (
        f"账号之间差距最大的是「{_md(gap.label)}」这一步：{_md(gap.best)} 为 "
        f"{format_percent(gap.high)}，{_md(gap.worst)} 为 {format_percent(gap.low)}。"
        + (
            "两者的置信区间不重叠，差距是真实的，值得弱势账号对照学习。"
            if gap.separated
            else "不过两者的置信区间有重叠，这点差距可能只是随机波动，暂时不必据此调整。"
        )
    )


def funnel_advice(
    fun: pl.DataFrame, change: pl.DataFrame | None, step_labels: Mapping[str, str] | None
) -> str:
    """What to fix first: the stage that lost most (the analysis's ``largest_loss``), else the
    weakest step of this period (:func:`livekit.analysis.funnel.weakest_step`)."""
    if change is not None and step_labels and change["largest_loss"].any():
        stage = str(change.filter(pl.col("largest_loss"))["stage"][0])
        return f"**优先处理「{_md(step_labels[stage])}」。** {FUNNEL_ADVICE[stage]}"
    weakest = weakest_step(fun)
    if weakest is None:
        return "本期没有可计算的转化率，暂无建议。"
    row = fun.filter(pl.col("stage") == weakest).row(0, named=True)
    return (
        f"本期各环节没有明显变差。转化率最低的一步是「{_md(row['label'])}」"
        f"（{format_percent(row['step_rate'])}）：{FUNNEL_ADVICE.get(weakest, '')}"
    )


# ---- charts -------------------------------------------------------------------------------------
def _count_text(row: dict[str, Any]) -> str:
    count, share = row["count"], row["cumulative_rate"]
    text = format_count(count)
    if share is not None and share < 1:
        text += f"（累计 {format_percent(share, 2)}）"
    return text


def funnel_chart(
    funnel: pl.DataFrame,
    *,
    title: str = "直播间转化漏斗（五维四率）",
    subtitle: str | None = None,
    y_title: str = "数量",
) -> alt.HConcatChart:
    """The funnel: people per stage (bars) next to each step's rate with its Wilson interval.

    ``funnel`` is :func:`livekit.analysis.funnel`'s frame (``stage, label, count, step_rate,
    cumulative_rate, ci_low, ci_high``, optional ``flag``), one row per stage, in order.
    ``y_title`` names the counts (e.g. 人次).
    """
    import altair as alt

    from livekit.charts._marks import layered, title_params

    require(funnel, ["label", "count", "step_rate", "ci_low", "ci_high"], "funnel_chart")
    order = funnel.get_column("label").to_list()
    data = funnel.select(
        pl.col("label"),
        pl.col("count").cast(pl.Float64),
        pl.col("step_rate").cast(pl.Float64),
        pl.col("ci_low").cast(pl.Float64),
        pl.col("ci_high").cast(pl.Float64),
        pl.col("cumulative_rate").cast(pl.Float64)
        if "cumulative_rate" in funnel.columns
        else pl.lit(None, pl.Float64).alias("cumulative_rate"),
    ).with_columns(
        pl.struct("count", "cumulative_rate")
        .map_elements(_count_text, return_dtype=pl.String)
        .alias("count_text"),
        pl.col("step_rate")
        .map_elements(lambda v: format_percent(v, 1), return_dtype=pl.String)
        .alias("rate_text"),
    )
    stage = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13))
    base = alt.Chart(data)
    bars = base.mark_bar(color=ACCENT).encode(
        y=stage,
        x=alt.X("count:Q", title=y_title, axis=alt.Axis(format=",.0f")),
        tooltip=[
            alt.Tooltip("label:N", title="环节"),
            alt.Tooltip("count:Q", title=y_title, format=",.0f"),
        ],
    )
    bar_text = base.mark_text(align="left", dx=4, color="#333333").encode(
        y=stage, x="count:Q", text="count_text:N"
    )
    left = layered(bars, bar_text).properties(width=330, height=alt.Step(44))

    rates = data.filter(pl.col("step_rate").is_not_null())
    rbase = alt.Chart(rates)
    rstage = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False))
    band = rbase.mark_rule(strokeWidth=3, color=PALETTE[1], opacity=0.6).encode(
        y=rstage,
        x=alt.X("ci_low:Q", title="环节转化率（95% 置信区间）", axis=alt.Axis(format=".0%")),
        x2="ci_high:Q",
    )
    point = rbase.mark_point(color=PALETTE[1], size=70).encode(
        y=rstage,
        x="step_rate:Q",
        tooltip=[
            alt.Tooltip("label:N", title="环节"),
            alt.Tooltip("step_rate:Q", title="转化率", format=".2%"),
            alt.Tooltip("ci_low:Q", title="下限", format=".2%"),
            alt.Tooltip("ci_high:Q", title="上限", format=".2%"),
        ],
    )
    rate_text = rbase.mark_text(align="left", dx=8, dy=-10, color="#333333").encode(
        y=rstage, x="step_rate:Q", text="rate_text:N"
    )
    right = layered(band, point, rate_text).properties(width=220, height=alt.Step(44))
    both: alt.HConcatChart = alt.hconcat(left, right, spacing=24).resolve_scale(y="shared")
    return both.properties(title=title_params(title, subtitle))


def change_labels(change: pl.DataFrame) -> list[str]:
    """What each row of a funnel change measures: the first stage's count, then each step's
    rate ("商品曝光→商品点击"), in the order of the frame."""
    labels = [str(v) for v in change.get_column("label").to_list()]
    if not labels:
        return []
    return [labels[0], *(f"{a}→{b}" for a, b in pairwise(labels))]


def funnel_change_chart(
    change: pl.DataFrame,
    *,
    title: str = "成交变化拆解：哪个环节拖累最多",
    subtitle: str
    | None = "第一行是曝光量的变化，其余是各环节转化率的变化；各行相加等于成交量的对数变化",
) -> alt.LayerChart:
    """Each stage's contribution to the change in paid people between two periods.

    ``change`` is :func:`livekit.analysis.funnel_change`'s frame (``stage, label, log_change``,
    optional ``share``); the contributions add up to the change in ln(paid).
    """
    import altair as alt

    from livekit.charts._marks import layered, title_params, zero_line

    require(change, ["label", "log_change"], "funnel_change_chart")
    order = change_labels(change)
    data = change.select(
        pl.Series("label", order, dtype=pl.String),
        pl.col("log_change").cast(pl.Float64),
    ).with_columns(
        pl.when(pl.col("log_change") < 0)
        .then(pl.lit("拖累"))
        .otherwise(pl.lit("拉动"))
        .alias("direction"),
        pl.col("log_change")
        .map_elements(
            lambda v: format_percent(math.expm1(v), 1, signed=True), return_dtype=pl.String
        )
        .alias("text"),
    )
    step = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13))
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=step,
            x=alt.X(
                "log_change:Q",
                title="对成交变化的贡献（对数变化，约等于百分比）",
                axis=alt.Axis(format="+.0%"),
                scale=alt.Scale(domain=padded_domain(data.get_column("log_change"))),
            ),
            color=alt.Color(
                "direction:N",
                title=None,
                scale=alt.Scale(domain=["拉动", "拖累"], range=[GOOD, BAD]),
            ),
            tooltip=[
                alt.Tooltip("label:N", title="环节"),
                alt.Tooltip("log_change:Q", title="对数变化", format="+.3f"),
                alt.Tooltip("text:N", title="环节指标变化"),
            ],
        )
    )
    up = (
        alt.Chart(data.filter(pl.col("log_change") >= 0))
        .mark_text(align="left", dx=4, color="#333333")
        .encode(y=step, x="log_change:Q", text="text:N")
    )
    down = (
        alt.Chart(data.filter(pl.col("log_change") < 0))
        .mark_text(align="right", dx=-4, color="#333333")
        .encode(y=step, x="log_change:Q", text="text:N")
    )
    return layered(bars, up, down, zero_line()).properties(
        width=WIDTH, height=alt.Step(44), title=title_params(title, subtitle)
    )
