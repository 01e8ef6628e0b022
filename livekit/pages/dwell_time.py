"""The dwell_time report: how long visits stay, by traffic source, dwell and conversion, products.

::

    import livekit
    from livekit.pages import dwell_time

    page = dwell_time.build(livekit.open("sandbox"), start="last_7_days")
    page.overview()      # 一、观众能留多久: the median dwell, shares past 1/3/10 minutes, the curve
    page.sources()       # 二、留存按流量来源: longest and shortest, log-rank test, curves, table
    page.conversion()    # 三、停留与成交: long vs short visits, risk ratio, rate per dwell bucket
    page.products()      # 四、商品排名: the product to present earlier (Wilson lower bound)
    page.advice()        # 五、下一步

:func:`build` reads the viewer export, the shows and their products for the period, runs the
analysis of :mod:`livekit.analysis.dwell` and :mod:`livekit.analysis.products` once, and keeps
the results in a :class:`DwellTimePage`. Its methods turn them into :class:`~livekit.pages.Section`
s: Chinese prose, charts (:func:`dwell_conversion_chart`, :func:`product_rank_chart` and the
generic survival chart) and tables. The prose functions (:func:`overview_text` …) take the
analysis results and are tested on their own.

Traffic sources stay codes in the analysis; their Chinese names come from
:data:`livekit.vocab.labels.TRAFFIC_SOURCE_LABELS` here. Titles and source names are upstream
text: they meet Markdown only through :func:`livekit.text.escape_markdown`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from livekit.analysis.dwell import (
    DWELL_THRESHOLD_S,
    OTHER_GROUP,
    UNKNOWN_SOURCE,
    DwellResult,
    GroupRetention,
    Retention,
    dwell_conversion,
    retention,
    retention_by_group,
    visit_durations,
)
from livekit.analysis.products import product_conversions, rank_products, with_titles
from livekit.analysis.rooms import only_rooms, room_ids
from livekit.charts.tables import Column, TableSpec
from livekit.pages._page import Period, Section, period, section, viewers_of
from livekit.text import escape_markdown as _md
from livekit.vocab.errors import LivekitError
from livekit.vocab.labels import TRAFFIC_SOURCE_LABELS
from livekit.vocab.units import format_count, format_number, format_percent

if TYPE_CHECKING:
    import altair as alt

    from livekit.charts.tables import HtmlTable
    from livekit.source import Kit

__all__ = [
    "DATASETS",
    "MIN_CLICKS",
    "DwellTimePage",
    "advice_text",
    "bucket_label",
    "build",
    "conversion_summary",
    "dwell_conversion_chart",
    "overview_text",
    "product_pick",
    "product_rank_chart",
    "product_table",
    "source_label",
    "source_summary",
    "source_table",
]

DATASETS = ("viewers", "rooms", "room_products")
MIN_CLICKS = 30  # a product is ranked from this many clicks on
TOP_SOURCES = 5  # traffic sources shown one by one; the rest together
RANK_CHART_TOP = 12
TABLE_ROWS = 20

# The groups the analysis names itself (codes, as the traffic sources), then the sources.
_GROUP_LABELS: dict[str, str] = {
    OTHER_GROUP: "其他来源",
    UNKNOWN_SOURCE: "未知",
    **TRAFFIC_SOURCE_LABELS,
}


def source_label(code: str) -> str:
    """The Chinese name of a traffic source code (a code without a name is shown as itself)."""
    return _GROUP_LABELS.get(code, code)


def _labelled(frame: pl.DataFrame, column: str = "group") -> pl.DataFrame:
    return frame.with_columns(pl.col(column).cast(pl.String).replace(_GROUP_LABELS))


def bucket_label(lower_s: float, upper_s: float | None) -> str:
    """A dwell bucket (right-closed, in seconds) as the merchant reads it: ≤1分钟, 1分钟–3分钟, >30分钟."""

    def shown(seconds: float) -> str:
        if seconds % 60 == 0 and seconds > 0:
            return f"{int(seconds // 60)}分钟"
        return f"{seconds:g}秒"

    if upper_s is None:
        return f">{shown(lower_s)}"
    if lower_s == 0:
        return f"≤{shown(upper_s)}"
    return f"{shown(lower_s)}–{shown(upper_s)}"


# ---- prose ------------------------------------------------------------------------------------
def _seconds(value: float | None) -> str:
    return format_number(value, 0)


def overview_text(ret: Retention, *, first: date, last: date) -> str:
    """How long visits stay: the median with its interval and the share past 1, 3, 10 minutes."""
    interval = (
        f"（95% 区间 {_seconds(ret.median_ci[0])}–{_seconds(ret.median_ci[1])} 秒）"
        if ret.median_ci
        else ""
    )
    return (
        f"**{first} 至 {last}** 共 {format_count(ret.visits)} 次访问"
        f"（{format_percent(ret.censored_share)} 一直看到下播，按删失处理）。\n\n"
        f"- 一半的访问在 **{_seconds(ret.median)} 秒**内离开{interval}；\n"
        f"- 停留超过 1 分钟的占 **{format_percent(ret.still_watching(60))}**，"
        f"超过 3 分钟的占 {format_percent(ret.still_watching(180))}，"
        f"超过 10 分钟的占 {format_percent(ret.still_watching(600))}。"
    )


def source_summary(groups: GroupRetention) -> str:
    """The traffic source that stays longest and shortest, and whether the difference is real
    (the analysis's log-rank test)."""
    best, worst = groups.best, groups.worst
    if best is None or worst is None:
        return "观众明细中没有可比较的流量来源。"
    best_name, worst_name = _md(source_label(best["group"])), _md(source_label(worst["group"]))
    if groups.p_value is None or groups.summary.height < 2:
        return (
            f"只有「{best_name}」一个来源（一半的访问留到 {_seconds(best['median'])} 秒），"
            "无法在来源之间比较。"
        )
    p = groups.p_value
    return (
        f"留存最好的是「{best_name}」（一半的访问留到 {_seconds(best['median'])} 秒），"
        f"最差的是「{worst_name}」（{_seconds(worst['median'])} 秒）。"
        + (
            f"各来源的留存曲线差异显著（对数秩检验 p {'< 0.001' if p < 0.001 else f'= {p:.3f}'}），"
            "不是随机波动。"
            if p < 0.05
            else f"各来源的留存曲线差异不显著（对数秩检验 p = {p:.3f}），可能只是随机波动。"
        )
    )


SOURCE_TABLE = TableSpec(
    (
        Column("source", "流量来源"),
        Column("visits", "访问次数", "count"),
        Column("median", "中位停留（秒）", "{:,.0f}"),
        Column("past_1m", "超过 1 分钟", "percent"),
        Column("past_3m", "超过 3 分钟", "percent"),
    )
)


def source_table(groups: GroupRetention) -> HtmlTable:
    """One row per traffic source: visits, median dwell, share past 1 and 3 minutes."""
    frame = groups.summary.with_columns(source=pl.col("group"))
    return SOURCE_TABLE.render(_labelled(frame, "source"))


_ERRORS: dict[str, str] = {
    "empty_arm": "所有访问都在门槛的同一侧（停留全都超过或全都不超过门槛），没有可比的两组。",
    "zero_baseline": "停留不超过门槛的访问没有一次成交，倍数无定义。",
    "zero_events": "停留超过门槛的访问没有一次成交，倍数为 0，区间无定义。",
}


def causality_note(result: DwellResult) -> str:
    """Why the comparison is association, not cause, with the report's own threshold and gap."""
    minutes = format_number(result.threshold_s / 60, 1)
    rr = result.risk_ratio
    claim = (
        f"不能据此断定“把观众留过 {minutes} 分钟就能多卖 {format_percent(rr - 1, 0)}”"
        if math.isfinite(rr) and rr > 1
        else "不能据此断定延长停留本身会改变成交"
    )
    return (
        "这是相关，不是因果：下单本身就要在直播间多停留一会儿（看讲解、选规格、付款），"
        "所以买家的停留时间天然更长；停留时长与转化同时受商品、主播讲解和流量来源影响。"
        f"{claim}，要验证请做随机实验。"
    )


def conversion_summary(result: DwellResult) -> str:
    """Do long visits convert more: both rates, the risk ratio with its interval, the caveat."""
    if result.error:
        return f"无法比较：{_ERRORS.get(result.error, result.error)}"
    minutes = format_number(result.threshold_s / 60, 1)
    low, high = result.risk_ratio_ci
    significant = low > 1 or high < 1
    if significant and result.risk_ratio > 1:
        meaning = f"也就是高出约 {format_percent(result.risk_ratio - 1, 0)}。"
    elif significant:
        meaning = "反而更低。"
    else:
        meaning = "区间包含 1，看不出明显差别。"
    return (
        f"停留超过 {minutes} 分钟的访问，成交率 **{format_percent(result.rate_long, 2)}**；"
        f"不超过 {minutes} 分钟的，成交率 {format_percent(result.rate_short, 2)}。"
        f"前者是后者的 **{result.risk_ratio:.2f} 倍**（95% 区间 {low:.2f}–{high:.2f}），"
        f"{meaning}\n\n> **注意：{causality_note(result)}**"
    )


def _top_ranked(ranked: pl.DataFrame) -> dict[str, Any] | None:
    top = ranked.filter(pl.col("rank").is_not_null()).sort("rank")
    return top.row(0, named=True) if top.height else None


def product_pick(ranked: pl.DataFrame, *, min_clicks: int = MIN_CLICKS) -> str:
    """Which product to present earlier: the best by the Wilson lower bound, compared with the
    most clicked one and with the best raw rate (``ranked`` from
    :func:`livekit.analysis.products.rank_products` with ``title``, ranked at ``min_clicks``)."""
    pick = _top_ranked(ranked)
    if pick is None:
        return f"没有点击次数足够（≥{min_clicks} 次）的商品，暂不排名。"
    lines = [
        f"**最值得提前讲解的是「{_md(pick['title'])}」**：点击 {format_count(pick['clicks'])} 次、"
        f"成交 {format_count(pick['paid'])} 单，点击后成交率 {format_percent(pick['rate'])}，"
        f"保守估计（下限）也有 {format_percent(pick['ci_low'])}。"
    ]
    most_clicked = ranked.sort("clicks", descending=True, maintain_order=True).row(0, named=True)
    if most_clicked["product_id"] != pick["product_id"]:
        clearly_worse = most_clicked["ci_high"] < pick["ci_low"]
        lines.append(
            f"目前点击最多的是「{_md(most_clicked['title'])}」"
            f"（点击后成交率 {format_percent(most_clicked['rate'])}）："
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
            f"「{_md(raw_best['title'])}」的原始成交率最高"
            f"（{raw_best['paid']}/{raw_best['clicks']}），"
            "但点击太少，结论不可靠，先多讲几次积累数据。"
        )
    return "\n\n".join(lines)


PRODUCT_TABLE = TableSpec(
    (
        Column("rank", "排名", "{}"),
        Column("title", "商品"),
        Column("clicks", "点击次数", "count"),
        Column("paid", "成交单数", "count"),
        Column("rate", "点击后成交率", "percent"),
        Column("ci_low", "成交率下限", "percent"),
        Column("gmv", "成交金额", "money"),
    ),
    max_rows=TABLE_ROWS,
)


def product_table(ranked: pl.DataFrame, rows: int = TABLE_ROWS) -> HtmlTable:
    """The first ``rows`` products of the ranking (ranked ones first), with their numbers."""
    return PRODUCT_TABLE.render(ranked.head(rows))


def advice_text(ret: Retention, groups: GroupRetention, ranked: pl.DataFrame) -> str:
    """Next steps: the opening seconds, the source that leaves soonest, the product to move up,
    and an experiment to test whether longer stays cause sales."""
    advice = [
        f"**前 {_seconds(ret.median)} 秒决定一半观众的去留**：开场和每次过款的前半分钟要直接给出"
        "利益点（价格、福利、演示），不要铺垫太久。"
    ]
    worst = groups.worst
    if worst is not None and groups.summary.height >= 2:
        advice.append(
            f"**承接「{_md(source_label(worst['group']))}」的流量**：这类观众留得最短，"
            "它们进来时（投放起量、推荐流量高峰）安排最有吸引力的商品和福利。"
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


# ---- charts -----------------------------------------------------------------------------------
def dwell_conversion_chart(
    by_bucket: pl.DataFrame,
    *,
    title: str = "不同停留时长的成交率",
    subtitle: str | None = "每一档：成交的访问 ÷ 访问；横线为 95% 置信区间，红线为整体成交率",
    reference: float | None = None,
    reference_label: str | None = None,
) -> alt.LayerChart:
    """Conversion per dwell bucket with its interval (``DwellResult.by_bucket``: ``lower_s``,
    ``upper_s``, ``rate``, ``ci_low``, ``ci_high``), and the overall rate ``reference`` as a
    dashed line (labelled 整体 unless ``reference_label``)."""
    from livekit.charts.builders import rate_chart

    label = reference_label
    if label is None and reference is not None:
        label = f"整体 {format_percent(reference, 2)}"
    bounds = by_bucket.select("lower_s", "upper_s").iter_rows()
    buckets = by_bucket.with_columns(
        pl.Series("bucket", [bucket_label(low, high) for low, high in bounds], pl.String)
    )
    return rate_chart(
        buckets,
        "bucket",
        "rate",
        title=title,
        subtitle=subtitle,
        x_title="停留时长",
        y_title="成交率（95% 置信区间）",
        reference=reference,
        reference_label=label,
    )


def product_rank_chart(ranked: pl.DataFrame, *, top: int = RANK_CHART_TOP) -> alt.LayerChart | None:
    """The ``top`` ranked products' click-to-paid rate with its interval, best lower bound
    first (``ranked`` from ``rank_products`` with ``title``); None when none is ranked."""
    from livekit.charts.builders import rate_chart

    missing = [c for c in ("rank", "title", "rate", "ci_low", "ci_high") if c not in ranked.columns]
    if missing:
        raise LivekitError(f"product_rank_chart 需要的列缺失：{'、'.join(missing)}")
    shown = ranked.filter(pl.col("rank").is_not_null()).sort("rank").head(top)
    if shown.height == 0:
        return None
    return rate_chart(
        shown.with_columns(pl.format("{}. {}", pl.col("rank"), pl.col("title")).alias("商品")),
        "商品",
        "rate",
        title="商品点击后成交率排名（按 Wilson 下限）",
        subtitle="点为成交率，横线为 95% 置信区间；按区间下限从高到低排序",
        y_title="点击后成交率（95% 置信区间）",
    )


def _survival_chart(
    curves: pl.DataFrame,
    color: str | None = None,
    *,
    color_title: str | None = None,
    max_minutes: float | None = None,
) -> alt.LayerChart:
    from livekit.charts.builders import survival_chart  # the generic one, as it is

    return survival_chart(curves, color, color_title=color_title, max_minutes=max_minutes)


# ---- the page ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DwellTimePage:
    """The dwell_time report of one period: the analysis results, and a method per section."""

    period: Period
    rooms: tuple[int, ...]  # the shows looked at; () = all of the period
    overall: Retention  # every visit
    by_source: GroupRetention  # traffic sources (codes), the largest TOP_SOURCES and the rest
    dwell: DwellResult  # long vs short visits (threshold) and conversion per dwell bucket
    ranked: pl.DataFrame = field(compare=False)  # products by Wilson lower bound, with titles
    min_clicks: int = MIN_CLICKS

    def overview(self) -> Section:
        """一、观众能留多久: visits, censoring, the median dwell, shares past 1/3/10 minutes."""
        text = overview_text(self.overall, first=self.period.first, last=self.period.last)
        chart = _survival_chart(self.overall.curve, max_minutes=30)
        return section(self.period.note, text, chart)

    def sources(self) -> Section:
        """二、不同流量来源的留存: best and worst source, the log-rank verdict, curves, table."""
        chart = _survival_chart(
            _labelled(self.by_source.curves), "group", color_title="流量来源", max_minutes=15
        )
        return section(source_summary(self.by_source), chart, source_table(self.by_source))

    def conversion(self) -> Section:
        """三、停留越久越容易成交吗: long vs short visits, and conversion per dwell bucket."""
        chart = dwell_conversion_chart(self.dwell.by_bucket, reference=self.dwell.overall_rate)
        return section(conversion_summary(self.dwell), chart)

    def products(self) -> Section:
        """四、哪个商品最值得提前讲解: the pick, the ranking chart and table."""
        return section(
            product_pick(self.ranked, min_clicks=self.min_clicks),
            product_rank_chart(self.ranked),
            product_table(self.ranked),
        )

    def advice(self) -> Section:
        """五、下一步怎么做."""
        return section(advice_text(self.overall, self.by_source, self.ranked))


def _threshold(value: object) -> float:
    seconds = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    )
    if not math.isfinite(seconds) or seconds <= 0:
        raise LivekitError(
            f"threshold_seconds 须为正数（秒），例如 180 表示 3 分钟；收到 {value!r}。"
        )
    return seconds


def build(
    kit: Kit,
    start: date | str = "last_7_days",
    end: date | str | None = None,
    *,
    threshold_seconds: float = DWELL_THRESHOLD_S,
    rooms: Iterable[int | str] | None = None,
) -> DwellTimePage:
    """Read the period's viewer export, shows and products from ``kit`` (a sandbox kit fills
    what is missing first) and analyse them once.

    ``rooms`` keeps only those shows (room ids); None or empty: every show of the period.
    No viewer export in the period (or for those shows) is a :class:`LivekitError`.
    """
    from livekit.charts.render import setup

    threshold = _threshold(threshold_seconds)
    ids = room_ids(rooms)
    span = period(kit, start, end, datasets=DATASETS)
    viewers = viewers_of(kit, span, ids)
    shows = kit.load("rooms", span.first, span.last)
    products = kit.load("room_products", span.first, span.last)
    shows = only_rooms(shows, ids)
    with warnings.catch_warnings():
        # statsmodels warns about log(0) and 0/0 at the end of a survival curve (S = 0), where
        # the analysis already gives no interval: nothing the reader can act on.
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")
        visits = visit_durations(viewers, shows)
        overall = retention(visits["dwell"], visits["left"])
        by_source = retention_by_group(visits, "source", top=TOP_SOURCES)
        dwell = dwell_conversion(viewers, threshold_s=threshold)
        ranked = with_titles(
            rank_products(product_conversions(viewers), min_trials=MIN_CLICKS), products
        )
    setup()  # the theme, and charts drawn offline as inline SVG
    return DwellTimePage(
        period=span,
        rooms=ids,
        overall=overall,
        by_source=by_source,
        dwell=dwell,
        ranked=ranked,
    )
