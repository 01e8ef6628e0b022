"""Charts made for one report each: the funnel, its change, the A/B lift, ROI, dwell time,
products, the live review.

Each takes the frame its analysis returns; a later phase moves each builder into its report's
page module (``livekit.pages.<report>``). Keywords follow the vocabulary of
:mod:`livekit.charts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import altair as alt
import polars as pl

from livekit.charts._frames import chartable, clip_labels, padded_domain, require
from livekit.charts._marks import layered, reference_line, title_params, zero_line
from livekit.charts.builders import bar_chart, rate_chart, trend_chart
from livekit.charts.style import ACCENT, BAD, GOOD, HEIGHT, NEUTRAL, PALETTE, WIDTH
from livekit.vocab.units import format_count, format_number, format_percent

__all__ = [
    "ROI_MEASURES",
    "VERDICT_LEGEND",
    "change_labels",
    "dwell_conversion_chart",
    "funnel_change_chart",
    "funnel_chart",
    "lift_chart",
    "live_review_chart",
    "product_rank_chart",
    "repurchase_chart",
    "roi_chart",
    "roi_trend_chart",
]


# ---- funnel -------------------------------------------------------------------------------------


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


# ---- experiments --------------------------------------------------------------------------------

# The analysis's verdict codes (livekit.analysis.experiment.verdict) with the words of the results
# table and a colour each: the chart shows the decision the analysis made, never its own.
VERDICT_LEGEND: dict[str, tuple[str, str]] = {
    "up": ("显著：B 组更高", GOOD),
    "down": ("显著：B 组更低", BAD),
    "none": ("没有检测到差异", NEUTRAL),
    "srm": ("分组比例异常（SRM），结论不可信", "#e0a030"),
    "error": ("无法判断", "#bbbbbb"),
}


def _lift_subtitle(rows: pl.DataFrame) -> str:
    levels = rows.get_column("ci_level").unique().to_list() if "ci_level" in rows.columns else []
    level = f" {levels[0]:.0%}" if len(levels) == 1 and levels[0] is not None else ""
    text = (
        f"点为相对提升，横线为{level} 置信区间（单个指标、未做多重比较校正）；"
        "颜色是多重比较校正后的结论，与上表一致"
    )
    excludes_zero = (pl.col("lift_low") > 0) | (pl.col("lift_high") < 0)
    if rows.filter(excludes_zero & (pl.col("verdict") == "none")).height:
        text += "；横线不含 0 而显示“没有检测到差异”的指标，校正后不显著"
    return text


def lift_chart(
    lifts: pl.DataFrame,
    *,
    title: str = "实验组相对对照组的提升",
    subtitle: str | None = None,
) -> alt.LayerChart:
    """Forest plot: each metric's relative lift (B vs A) with its interval, coloured by the
    verdict the analysis reached.

    ``lifts`` is :func:`livekit.analysis.experiment.lift_frame`'s frame: ``label, lift,
    lift_low, lift_high, verdict`` (optional ``ci_level``). The colour is the ``verdict``
    column (codes of :data:`VERDICT_LEGEND`), decided on multiplicity-adjusted p-values; the
    bars are the unadjusted intervals, and the default subtitle says so. Metrics whose lift is
    undefined are left out.
    """
    require(lifts, ["label", "lift", "lift_low", "lift_high", "verdict"], "lift_chart")
    unknown = set(lifts.get_column("verdict").drop_nulls().to_list()) - set(VERDICT_LEGEND)
    if unknown or lifts.get_column("verdict").null_count():
        raise ValueError(f"lift_chart: verdicts must be one of {list(VERDICT_LEGEND)}")
    keep = ["label", "lift", "lift_low", "lift_high", "verdict"]
    keep += ["ci_level"] if "ci_level" in lifts.columns else []
    rows = lifts.select(keep).filter(pl.col("lift").is_not_null() & pl.col("lift").is_finite())
    rows = rows.with_columns(
        pl.col("verdict")
        .replace_strict({code: text for code, (text, _) in VERDICT_LEGEND.items()})
        .alias("conclusion")
    )
    present = [c for c in VERDICT_LEGEND if c in set(rows.get_column("verdict").to_list())]
    color = alt.Color(
        "conclusion:N",
        title=None,
        scale=alt.Scale(
            domain=[VERDICT_LEGEND[c][0] for c in present],
            range=[VERDICT_LEGEND[c][1] for c in present],
        ),
    )
    order = rows.get_column("label").to_list()
    metric = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13))
    base = alt.Chart(rows)
    ci = base.mark_rule(strokeWidth=3).encode(
        y=metric,
        x=alt.X("lift_low:Q", title="相对提升（B 相对 A）", axis=alt.Axis(format="+.0%")),
        x2="lift_high:Q",
        color=color,
    )
    point = base.mark_point(size=90).encode(
        y=metric,
        x="lift:Q",
        color=color,
        tooltip=[
            alt.Tooltip("label:N", title="指标"),
            alt.Tooltip("lift:Q", title="提升", format="+.2%"),
            alt.Tooltip("lift_low:Q", title="下限", format="+.2%"),
            alt.Tooltip("lift_high:Q", title="上限", format="+.2%"),
            alt.Tooltip("conclusion:N", title="结论"),
        ],
    )
    text = base.mark_text(dy=-12, color="#333333").encode(
        y=metric, x="lift:Q", text=alt.Text("lift:Q", format="+.1%")
    )
    shown = subtitle if subtitle is not None else _lift_subtitle(rows)
    return layered(ci, point, text, zero_line()).properties(
        width=WIDTH, height=alt.Step(50), title=title_params(title, shown)
    )


# ---- ROI ----------------------------------------------------------------------------------------

ROI_MEASURES: dict[str, str] = {
    "roas": "支付ROI",
    "net_roas": "净成交ROI",
    "roas_7d": "7日总支付ROI",
}


def _breakeven_label(reference: float | None, label: str | None) -> str | None:
    if label is not None or reference is None:
        return label
    return f"保本ROI {format_number(reference, 2)}"


def roi_chart(
    frame: pl.DataFrame,
    x: str = "label",
    *,
    measures: Mapping[str, str] | None = None,
    title: str = "各场直播 ROI 与保本线",
    subtitle: str | None = None,
    x_title: str | None = None,
    reference: float | None = None,
    reference_label: str | None = None,
) -> alt.LayerChart:
    """ROAS per room (or day) ``x`` as grouped bars, with the break-even ROAS ``reference`` as
    a dashed line (labelled 保本ROI unless ``reference_label`` says otherwise).

    ``measures`` maps columns of ``frame`` to their Chinese names (default: 支付ROI,
    净成交ROI, 7日总支付ROI, whichever columns exist). Undefined values (no spend) are left out.
    """
    wanted = dict(measures) if measures is not None else ROI_MEASURES
    present = {col: name for col, name in wanted.items() if col in frame.columns}
    if not present:
        raise ValueError(f"roi_chart needs one of {list(wanted)}; got {frame.columns}")
    require(frame, [x], "roi_chart")
    wide = clip_labels(
        frame.select(
            pl.col(x).cast(pl.String).alias("label"),
            *[pl.col(c).cast(pl.Float64) for c in present],
        ),
        "label",
    )
    order = wide.get_column("label").to_list()
    data = (
        wide.unpivot(index="label", variable_name="measure", value_name="value")
        .filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
        .with_columns(pl.col("measure").replace_strict(present, return_dtype=pl.String))
    )
    names = list(present.values())
    room = alt.Y("label:N", sort=order, title=x_title, axis=alt.Axis(labelFontSize=12))
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=room,
            yOffset=alt.YOffset("measure:N", sort=names),
            x=alt.X("value:Q", title="ROI（成交额 ÷ 消耗）", axis=alt.Axis(format=".1f")),
            color=alt.Color("measure:N", title=None, sort=names),
            tooltip=[
                alt.Tooltip("label:N", title=x_title or "场次"),
                alt.Tooltip("measure:N", title="口径"),
                alt.Tooltip("value:Q", title="ROI", format=".2f"),
            ],
        )
    )
    layers = [bars]
    if reference is not None and math.isfinite(reference):
        label = _breakeven_label(reference, reference_label)
        layers.extend(reference_line(reference, label, horizontal=True))
    # with an offset channel the step is one bar of a group
    return layered(*layers).properties(
        width=WIDTH, height=alt.Step(12), title=title_params(title, subtitle)
    )


def roi_trend_chart(
    daily: pl.DataFrame,
    *,
    measures: Mapping[str, str] | None = None,
    title: str = "每日 ROI 走势",
    subtitle: str | None = None,
    reference: float | None = None,
    reference_label: str | None = None,
) -> alt.Chart | alt.LayerChart:
    """ROAS per day, one line per measure (``daily``: ``date`` and the measure columns, e.g.
    from ``custom_report(rooms, ["roas", "net_roas"], ["date"])``), with the break-even line
    ``reference`` (labelled 保本ROI unless ``reference_label`` says otherwise)."""
    wanted = dict(measures) if measures is not None else ROI_MEASURES
    present = {col: name for col, name in wanted.items() if col in daily.columns}
    require(daily, ["date", *present], "roi_trend_chart")
    long = daily.select("date", *present).unpivot(
        index="date", variable_name="metric", value_name="value"
    )
    long = long.with_columns(pl.col("metric").replace_strict(present, return_dtype=pl.String))
    ok = reference is not None and math.isfinite(reference)
    return trend_chart(
        long,
        "date",
        "value",
        "metric",
        title=title,
        subtitle=subtitle,
        x_title="日期",
        y_title="ROI（成交额 ÷ 消耗）",
        color_title="口径",
        reference=reference if ok else None,
        reference_label=_breakeven_label(reference, reference_label),
    )


def repurchase_chart(
    per_day: pl.DataFrame,
    *,
    title: str = "7 日成交的构成：本场成交 + 买家复购",
    subtitle: str | None = "复购 = 本场买家（按抖店 doudian_open_id）7 天内在任意渠道的其他订单",
) -> alt.LayerChart:
    """Stacked bars per day: the rooms' own GMV and their buyers' 7-day repeat purchases
    (``per_day``: ``date``, ``gmv``, ``gmv_repurchase``, e.g. ``roi.repurchase_by_day``)."""
    require(per_day, ["date", "gmv", "gmv_repurchase"], "repurchase_chart")
    parts = (
        per_day.select(
            "date", pl.col("gmv").alias("本场成交"), pl.col("gmv_repurchase").alias("7天内复购")
        )
        .unpivot(index="date", variable_name="part", value_name="value")
        .sort("date", maintain_order=True)
    )
    return bar_chart(
        parts,
        "date",
        "value",
        "part",
        title=title,
        subtitle=subtitle,
        x_title="开播日期",
        y_title="金额（元）",
        horizontal=False,
    )


# ---- dwell time and products --------------------------------------------------------------------


def dwell_conversion_chart(
    by_bucket: pl.DataFrame,
    *,
    title: str = "不同停留时长的成交率",
    subtitle: str | None = "每一档：成交的访问 ÷ 访问；横线为 95% 置信区间，红线为整体成交率",
    reference: float | None = None,
    reference_label: str | None = None,
) -> alt.LayerChart:
    """Conversion per dwell bucket with its interval (``DwellResult.by_bucket``), and the
    overall rate ``reference`` as a dashed line (labelled 整体 unless ``reference_label``)."""
    label = reference_label
    if label is None and reference is not None:
        label = f"整体 {format_percent(reference, 2)}"
    return rate_chart(
        by_bucket,
        "bucket",
        "rate",
        title=title,
        subtitle=subtitle,
        x_title="停留时长",
        y_title="成交率（95% 置信区间）",
        reference=reference,
        reference_label=label,
    )


def product_rank_chart(ranked: pl.DataFrame, *, top: int = 12) -> alt.LayerChart | None:
    """The ``top`` ranked products' click-to-paid rate with its interval, best lower bound
    first (``ranked`` from ``rank_products`` with ``title``); None when none is ranked."""
    require(ranked, ["rank", "title", "rate", "ci_low", "ci_high"], "product_rank_chart")
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


# ---- live review --------------------------------------------------------------------------------


def live_review_chart(
    curves: pl.DataFrame,
    alerts: pl.DataFrame,
    y: str = "new_viewers",
    *,
    title: str,
    subtitle: str | None = None,
    y_title: str,
) -> alt.LayerChart:
    """One show's minute curve of ``y`` with its alerts marked on it.

    ``curves`` is one room's rows of :func:`livekit.analysis.live.minute_curves`; ``alerts``
    that room's rows of :func:`livekit.analysis.live.alert_timeline`. Each alert is a shaded
    band from firing to resolution (to the end of the curve while still open), with a rule and
    the rule's name where it fired.
    """
    require(curves, ["time", y], "live_review_chart")
    line_data = chartable(curves.select("time", y))
    end = curves.get_column("time").max()
    band = chartable(
        alerts.select(
            pl.col("rule"),
            pl.col("severity_label"),
            pl.col("fired_at").alias("start"),
            pl.col("resolved_at").fill_null(end).alias("end"),
        )
    )
    line = (
        alt.Chart(line_data)
        .mark_line()
        .encode(
            x=alt.X("time:T", axis=alt.Axis(title="时间", format="%H:%M")),
            y=alt.Y(f"{y}:Q", axis=alt.Axis(title=y_title)),
            color=alt.value(ACCENT),
            tooltip=[
                alt.Tooltip("time:T", title="时间", format="%H:%M"),
                alt.Tooltip(f"{y}:Q", title=y_title, format=",.1f"),
            ],
        )
    )
    layers: list[alt.Chart] = []
    if band.height:
        alert_red = "#d62728"
        layers.append(
            alt.Chart(band).mark_rect(opacity=0.18, color=alert_red).encode(x="start:T", x2="end:T")
        )
        layers.append(
            alt.Chart(band).mark_rule(color=alert_red, strokeDash=[4, 3]).encode(x="start:T")
        )
        layers.append(
            alt.Chart(band)
            .mark_text(align="left", baseline="top", dx=3, dy=3, color=alert_red, fontSize=11)
            .encode(x="start:T", y=alt.value(0), text="rule:N")
        )
    layers.append(line)
    return layered(*layers).properties(
        width=WIDTH, height=HEIGHT, title=title_params(title, subtitle)
    )
