"""Charts for the reports: a CJK altair theme, offline SVG rendering and the shared builders.

Every builder takes a small, already aggregated polars frame (a funnel, a Kaplan–Meier table,
one row per room or per day): aggregate first, then chart. Nothing here computes a metric;
the numbers come from :mod:`livekit.analysis`. Titles, axis titles and legends are Simplified
Chinese, for the merchant.

In a notebook::

    import livekit.charts as charts
    charts.setup()          # the theme, and charts rendered offline as inline SVG
    charts.funnel_chart(funnel_frame)

``setup()`` makes altair render through ``vl-convert`` (which bundles Vega): the output of a
chart cell is an ``image/svg+xml`` document, so an exported HTML report holds each chart as one
inline ``<svg>`` and loads no JavaScript. Only this module imports altair.

Rendering cost is mostly vl-convert measuring text (every label, with the CJK font): the theme
sets no pixel ``labelLimit`` (Vega would measure each label again to truncate it) and the
builders clip long labels in Python instead; curves are thinned to ``MAX_POINTS`` steps.

Upstream text (titles, 抖音号 names, sources, provinces) is data: Vega draws data and titles as
SVG text, which vl-convert escapes, so it cannot become markup; labels and titles still go
through :func:`livekit.text.plain_text` (no invisible or reordering characters, no 10 kB
strings). :func:`table` escapes every header and cell with :func:`livekit.text.escape_html`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from itertools import pairwise
from typing import Any, Protocol, cast
from unicodedata import east_asian_width

import altair as alt
import polars as pl

from livekit.analysis.formats import fmt_count, fmt_number, fmt_percent, fmt_yuan
from livekit.text import escape_html, plain_text

__all__ = [
    "DIMENSION_LABELS",
    "FONTS",
    "THEME_NAME",
    "TRAFFIC_SOURCE_LABELS",
    "bar_chart",
    "dwell_conversion_chart",
    "fmt_count",
    "fmt_number",
    "fmt_percent",
    "fmt_yuan",
    "funnel_change_chart",
    "funnel_chart",
    "label_of",
    "lift_chart",
    "live_review_chart",
    "metric_chart",
    "product_rank_chart",
    "rate_chart",
    "repurchase_chart",
    "roi_chart",
    "roi_trend_chart",
    "setup",
    "survival_chart",
    "table",
    "theme",
    "trend_chart",
    "use_theme",
]

THEME_NAME = "livekit"

# CJK families first, so Chinese glyphs never fall back to boxes; sans-serif last.
FONTS: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "PingFang SC",
    "Microsoft YaHei",
    "sans-serif",
)
FONT = ", ".join(f'"{f}"' if " " in f else f for f in FONTS)

# d3-format / d3-time-format locales for zh-CN (the ones vl-convert bundles, written out so
# that the spec itself carries them: any renderer formats ¥ and 月/日 the same way).
ZH_NUMBER_LOCALE: dict[str, Any] = {
    "decimal": ".",
    "thousands": ",",
    "grouping": [3],
    "currency": ["¥", ""],
}
ZH_TIME_LOCALE: dict[str, Any] = {
    "dateTime": "%x %A %X",
    "date": "%Y年%-m月%-d日",
    "time": "%H:%M:%S",
    "periods": ["上午", "下午"],
    "days": ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
    "shortDays": ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
    "months": [f"{m}月" for m in range(1, 13)],
    "shortMonths": [f"{m}月" for m in range(1, 13)],
}

# Large axis numbers the Chinese way: 12,000 -> 1.2万, 350,000,000 -> 3.5亿; smaller numbers
# keep the axis's own format (percent, ¥ ...).
ZH_AXIS_LABEL = (
    "abs(datum.value) >= 1e8 ? format(datum.value / 1e8, ',.2~f') + '亿' : "
    "abs(datum.value) >= 1e4 ? format(datum.value / 1e4, ',.1~f') + '万' : datum.label"
)

PALETTE = (
    "#2f6fde",  # blue
    "#f08a24",  # orange
    "#2ca58d",  # green
    "#d64550",  # red
    "#8c6bc8",  # purple
    "#8a6d3b",  # brown
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
GOOD = "#2ca58d"
BAD = "#d64550"
NEUTRAL = "#7f7f7f"
ACCENT = PALETTE[0]

WIDTH = 560
HEIGHT = 300
MAX_POINTS = 150  # a survival curve is thinned to about this many steps per group (~4 px each)
LABEL_EMS = 20.0  # the widest axis or legend label, in ems (240 px at 12 px), "…" included


# ---- theme and rendering -------------------------------------------------------------------


def theme() -> dict[str, Any]:
    """The livekit theme: CJK fonts, readable sizes, zh-CN number and date formats."""
    axis = {
        "labelFont": FONT,
        "titleFont": FONT,
        "labelFontSize": 12,
        "titleFontSize": 13,
        "titleFontWeight": "normal",
        "labelLimit": 0,  # labels are clipped in Python (see _clip_labels): no re-measuring
        "gridColor": "#e6e6e6",
        "domainColor": "#888888",
        "tickColor": "#888888",
    }
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "padding": 8,
            "title": {
                "font": FONT,
                "fontSize": 16,
                "fontWeight": "bold",
                "anchor": "start",
                "offset": 12,
                "subtitleFont": FONT,
                "subtitleFontSize": 12,
                "subtitleColor": "#666666",
            },
            "axis": axis,
            "axisQuantitative": {"labelExpr": ZH_AXIS_LABEL, "tickCount": 6},
            "legend": {
                "labelFont": FONT,
                "titleFont": FONT,
                "labelFontSize": 12,
                "titleFontSize": 13,
                "labelLimit": 0,
                "orient": "bottom",
                "direction": "horizontal",
            },
            "header": {
                "labelFont": FONT,
                "titleFont": FONT,
                "labelFontSize": 13,
                "titleFontSize": 13,
            },
            "text": {"font": FONT, "fontSize": 12},
            "mark": {"font": FONT},
            "view": {"continuousWidth": WIDTH, "continuousHeight": HEIGHT, "stroke": None},
            "range": {"category": list(PALETTE)},
            "line": {"strokeWidth": 2},
            "point": {"size": 50, "filled": True},
            "bar": {"cornerRadiusEnd": 2},
            "locale": {"number": ZH_NUMBER_LOCALE, "time": ZH_TIME_LOCALE},
        }
    }


def _registered_theme() -> alt.theme.ThemeConfig:
    return cast("alt.theme.ThemeConfig", theme())


def use_theme() -> None:
    """Register the livekit theme with altair (once) and enable it."""
    if THEME_NAME not in alt.theme.names():
        alt.theme.register(THEME_NAME, enable=False)(_registered_theme)
    alt.theme.enable(THEME_NAME)


def setup() -> None:
    """Enable the theme and render charts offline as inline SVG (vl-convert, no JavaScript)."""
    use_theme()
    alt.renderers.enable("svg")


# ---- number formats for prose -----------------------------------------------------------------


# (fmt_number, fmt_count, fmt_yuan, fmt_percent come from livekit.analysis.formats)


# ---- helpers ----------------------------------------------------------------------------------


def _title(title: str, subtitle: str | None = None) -> Any:
    # Titles may quote upstream text (a room title): plain text, of a length a title can hold.
    title = plain_text(title)
    if subtitle:
        return alt.TitleParams(title, subtitle=plain_text(subtitle, limit=None))
    return alt.TitleParams(title)


def _chartable(frame: pl.DataFrame) -> pl.DataFrame:
    """Frame ready for Vega: China-time datetimes as naive wall-clock times (the renderer runs
    in UTC and would shift them), so axes show the hours the merchant saw."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            exprs.append(
                pl.col(name).dt.convert_time_zone("Asia/Shanghai").dt.replace_time_zone(None)
            )
    return frame.with_columns(exprs) if exprs else frame


def _ems(text: str) -> float:
    """Approximate width of ``text`` in ems: wide (CJK) characters 1, others 0.6."""
    return sum(1.0 if east_asian_width(ch) in "WF" else 0.6 for ch in text)


def _clip(text: str, ems: float = LABEL_EMS) -> str:
    text = plain_text(text, limit=None)  # no invisible or reordering characters, one line
    if _ems(text) <= ems:
        return text
    out, width = "", 1.0  # room for the ellipsis
    for ch in text:
        width += _ems(ch)
        if width > ems:
            break
        out += ch
    return out + "…"


def _clip_labels(frame: pl.DataFrame, *columns: str | None) -> pl.DataFrame:
    """``frame`` with the text of ``columns`` (axis or legend labels) clipped to ``LABEL_EMS``.

    The theme sets no pixel ``labelLimit``: Vega would measure every label twice more to
    truncate it, and measuring CJK text is most of what rendering a chart costs. Labels that
    would become equal stay whole.
    """
    exprs = []
    for name in dict.fromkeys(c for c in columns if c):
        if frame.schema[name] != pl.String:
            continue
        values = frame.get_column(name).unique().drop_nulls().to_list()
        clipped = {v: _clip(v) for v in values}
        clipped = {v: c for v, c in clipped.items() if c != v}
        if not clipped:
            continue
        taken = Counter([*clipped.values(), *(v for v in values if v not in clipped)])
        clipped = {v: c for v, c in clipped.items() if taken[c] == 1}
        if clipped:
            exprs.append(pl.col(name).replace(clipped))
    return frame.with_columns(exprs) if exprs else frame


def _field_type(frame: pl.DataFrame, column: str) -> str:
    dtype = frame.schema[column]
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "temporal"
    if dtype.is_numeric():
        return "quantitative"
    return "nominal"


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; got {frame.columns}")


def _time_axis(frame: pl.DataFrame, column: str, title: str | None) -> Any:
    dtype = frame.schema[column]
    if dtype == pl.Date:
        days = frame.get_column(column).n_unique()
        step = max(1, math.ceil(days / 12))
        return alt.Axis(
            title=title,
            format="%m-%d",
            labelAngle=0,
            tickCount={"interval": "day", "step": step},
        )
    return alt.Axis(title=title, format="%m-%d %H:%M", labelAngle=0)


# ---- funnels ----------------------------------------------------------------------------------


def _count_text(row: dict[str, Any]) -> str:
    count, share = row["count"], row["cumulative_rate"]
    text = fmt_count(count)
    if share is not None and share < 1:
        text += f"（累计 {fmt_percent(share, 2)}）"
    return text


def funnel_chart(
    funnel: pl.DataFrame,
    *,
    title: str = "直播间转化漏斗（五维四率）",
    subtitle: str | None = None,
    count_title: str = "数量",
) -> Any:
    """The funnel: people per stage (bars) next to each step's rate with its Wilson interval.

    ``funnel`` is :func:`livekit.analysis.funnel`'s frame (``stage, label, count, step_rate,
    cumulative_rate, ci_low, ci_high``, optional ``flag``), one row per stage, in order.
    """
    _require(funnel, ["label", "count", "step_rate", "ci_low", "ci_high"], "funnel_chart")
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
        .map_elements(
            _count_text,
            return_dtype=pl.String,
        )
        .alias("count_text"),
        pl.col("step_rate")
        .map_elements(lambda x: fmt_percent(x, 1), return_dtype=pl.String)
        .alias("rate_text"),
    )
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13))
    base = alt.Chart(data)
    bars = base.mark_bar(color=ACCENT).encode(
        y=y,
        x=alt.X("count:Q", title=count_title, axis=alt.Axis(format=",.0f")),
        tooltip=[
            alt.Tooltip("label:N", title="环节"),
            alt.Tooltip("count:Q", title=count_title, format=",.0f"),
        ],
    )
    bar_text = base.mark_text(align="left", dx=4, color="#333333").encode(
        y=y, x="count:Q", text="count_text:N"
    )
    left = (bars + bar_text).properties(width=330, height=alt.Step(44))

    rates = data.filter(pl.col("step_rate").is_not_null())
    rbase = alt.Chart(rates)
    ry = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False))
    band = rbase.mark_rule(strokeWidth=3, color=PALETTE[1], opacity=0.6).encode(
        y=ry,
        x=alt.X("ci_low:Q", title="环节转化率（95% 置信区间）", axis=alt.Axis(format=".0%")),
        x2="ci_high:Q",
    )
    point = rbase.mark_point(color=PALETTE[1], size=70).encode(
        y=ry,
        x="step_rate:Q",
        tooltip=[
            alt.Tooltip("label:N", title="环节"),
            alt.Tooltip("step_rate:Q", title="转化率", format=".2%"),
            alt.Tooltip("ci_low:Q", title="下限", format=".2%"),
            alt.Tooltip("ci_high:Q", title="上限", format=".2%"),
        ],
    )
    rate_text = rbase.mark_text(align="left", dx=8, dy=-10, color="#333333").encode(
        y=ry, x="step_rate:Q", text="rate_text:N"
    )
    right = (band + point + rate_text).properties(width=220, height=alt.Step(44))
    return (
        alt.hconcat(left, right, spacing=24)
        .resolve_scale(y="shared")
        .properties(title=_title(title, subtitle))
    )


def _padded_domain(values: pl.Series, pad: float = 0.3) -> list[float]:
    """[low, high] covering the values and zero, widened so that end labels fit."""
    finite = values.drop_nulls().filter(values.drop_nulls().is_finite())
    low = min(0.0, float(finite.min() or 0.0))  # type: ignore[arg-type]
    high = max(0.0, float(finite.max() or 0.0))  # type: ignore[arg-type]
    span = (high - low) or 0.01
    return [low - pad * span if low < 0 else 0.0, high + pad * span if high > 0 else 0.0]


def change_labels(change: pl.DataFrame) -> list[str]:
    """What each row of a funnel change measures: the first stage's count, then each step's
    rate ("商品曝光→商品点击"), in the order of the frame."""
    labels = [str(x) for x in change.get_column("label").to_list()]
    if not labels:
        return []
    return [labels[0], *(f"{a}→{b}" for a, b in pairwise(labels))]


def funnel_change_chart(
    change: pl.DataFrame,
    *,
    title: str = "成交变化拆解：哪个环节拖累最多",
    subtitle: str
    | None = "第一行是曝光量的变化，其余是各环节转化率的变化；各行相加等于成交量的对数变化",
) -> Any:
    """Each stage's contribution to the change in paid people between two periods.

    ``change`` is :func:`livekit.analysis.funnel_change`'s frame (``stage, label, log_change``,
    optional ``share``); the contributions add up to the change in ln(paid).
    """
    _require(change, ["label", "log_change"], "funnel_change_chart")
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
        .map_elements(lambda x: fmt_percent(math.expm1(x), 1, signed=True), return_dtype=pl.String)
        .alias("text"),
    )
    base = alt.Chart(data)
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13))
    bars = base.mark_bar().encode(
        y=y,
        x=alt.X(
            "log_change:Q",
            title="对成交变化的贡献（对数变化，约等于百分比）",
            axis=alt.Axis(format="+.0%"),
            scale=alt.Scale(domain=_padded_domain(data.get_column("log_change"))),
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
    up = (
        alt.Chart(data.filter(pl.col("log_change") >= 0))
        .mark_text(align="left", dx=4, color="#333333")
        .encode(y=y, x="log_change:Q", text="text:N")
    )
    down = (
        alt.Chart(data.filter(pl.col("log_change") < 0))
        .mark_text(align="right", dx=-4, color="#333333")
        .encode(y=y, x="log_change:Q", text="text:N")
    )
    text = up + down
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#444444").encode(x="x:Q")
    return (bars + text + zero).properties(
        width=WIDTH, height=alt.Step(44), title=_title(title, subtitle)
    )


# ---- general purpose --------------------------------------------------------------------------


def trend_chart(
    frame: pl.DataFrame,
    x: str,
    y: str,
    color: str | None = None,
    *,
    title: str,
    subtitle: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    color_title: str | None = None,
    y_format: str | None = None,
    zero: bool = True,
    rule: float | None = None,
    rule_label: str | None = None,
) -> Any:
    """A line with points of ``y`` over ``x`` (a day, a time, a number), one line per ``color``.

    ``rule`` draws a horizontal reference line (e.g. the break-even ROAS), labelled ``rule_label``.
    """
    _require(frame, [x, y] + ([color] if color else []), "trend_chart")
    x_type = _field_type(frame, x)
    data = _chartable(frame.select([x, y] + ([color] if color else [])))
    data = _clip_labels(data, x if x_type == "nominal" else None, color)
    x_axis = (
        _time_axis(frame, x, x_title)
        if x_type == "temporal"
        else alt.Axis(title=x_title, labelAngle=0)
    )
    y_axis = alt.Axis(title=y_title, format=y_format) if y_format else alt.Axis(title=y_title)
    tooltip = [
        alt.Tooltip(f"{x}:{x_type[0].upper()}", title=x_title or x),
        alt.Tooltip(f"{y}:Q", title=y_title or y, format=y_format or ",.2f"),
    ]
    enc: dict[str, Any] = {
        "x": alt.X(f"{x}:{x_type[0].upper()}", axis=x_axis),
        "y": alt.Y(f"{y}:Q", axis=y_axis, scale=alt.Scale(zero=zero)),
        "tooltip": tooltip,
    }
    if color:
        groups = data.get_column(color).cast(pl.String).unique(maintain_order=True).to_list()
        enc["color"] = alt.Color(f"{color}:N", title=color_title, sort=groups)
        tooltip.insert(0, alt.Tooltip(f"{color}:N", title=color_title or color))
    else:
        enc["color"] = alt.value(ACCENT)
    chart = alt.Chart(data).mark_line(point=True).encode(**enc)
    if rule is not None:
        chart = alt.layer(chart, *_rule(rule, rule_label, horizontal=False))
    return chart.properties(width=WIDTH, height=HEIGHT, title=_title(title, subtitle))


def bar_chart(
    frame: pl.DataFrame,
    category: str,
    value: str,
    color: str | None = None,
    *,
    title: str,
    subtitle: str | None = None,
    category_title: str | None = None,
    value_title: str | None = None,
    color_title: str | None = None,
    value_format: str | None = None,
    horizontal: bool = True,
    sort: bool = True,
    labels: bool = True,
    rule: float | None = None,
    rule_label: str | None = None,
    grouped: bool = False,
) -> Any:
    """Bars of ``value`` per ``category``, largest first (days in date order).

    With ``color`` the bars are stacked by it, or side by side with ``grouped=True`` (for
    rates, which do not add up). ``rule`` draws a reference line at that value (e.g. a
    break-even ROAS), labelled ``rule_label``.
    """
    _require(frame, [category, value] + ([color] if color else []), "bar_chart")
    cols = list(dict.fromkeys([category, value] + ([color] if color else [])))
    data = _chartable(frame.select(cols))
    if _field_type(frame, category) == "temporal":
        # days and times as ordered labels ("2026-11-20"), one bar each
        data = data.with_columns(
            pl.col(category).dt.to_string(
                "%m-%d" if frame.schema[category] == pl.Date else "%m-%d %H:%M"
            )
        )
        few = data.get_column(category).n_unique() <= 10
        cat_axis = alt.Axis(title=category_title, labelAngle=0 if horizontal or few else -30)
        sort_spec: Any = "ascending"
    elif frame.schema[category].is_numeric():  # hours, weekdays, ids: in their own order
        cat_axis = alt.Axis(title=category_title, labelAngle=0)
        sort_spec = "ascending"
    else:
        cat_axis = alt.Axis(title=category_title, labelAngle=0 if horizontal else -30)
        sort_spec = f"-{'x' if horizontal else 'y'}" if sort else None
    data = _clip_labels(data, category, color)
    cat_code = "N"
    fmt_value = value_format or ",.2~f"
    value_axis = alt.Axis(title=value_title, format=value_format) if value_format else None
    val = alt.X if horizontal else alt.Y
    cat = alt.Y if horizontal else alt.X
    enc: dict[str, Any] = {
        ("x" if horizontal else "y"): val(
            f"{value}:Q", axis=value_axis if value_axis else alt.Axis(title=value_title)
        ),
        ("y" if horizontal else "x"): cat(f"{category}:{cat_code}", sort=sort_spec, axis=cat_axis),
        "tooltip": [
            alt.Tooltip(f"{category}:{cat_code}", title=category_title or category),
            alt.Tooltip(f"{value}:Q", title=value_title or value, format=fmt_value),
        ],
    }
    groups = 1
    if color:
        names = data.get_column(color).cast(pl.String).unique(maintain_order=True).to_list()
        enc["color"] = alt.Color(f"{color}:N", title=color_title, sort=names)
        enc["tooltip"].insert(1, alt.Tooltip(f"{color}:N", title=color_title or color))
        if grouped:
            groups = len(names)
            offset = alt.YOffset if horizontal else alt.XOffset
            enc["yOffset" if horizontal else "xOffset"] = offset(f"{color}:N", sort=names)
    else:
        enc["color"] = alt.value(ACCENT)
    bars = alt.Chart(data).mark_bar().encode(**enc)
    layers = [bars]
    if labels and not color:
        text_enc = {k: v for k, v in enc.items() if k in ("x", "y")}
        text = (
            alt.Chart(data)
            .mark_text(
                align="left" if horizontal else "center",
                baseline="middle" if horizontal else "bottom",
                dx=4 if horizontal else 0,
                dy=0 if horizontal else -4,
                color="#333333",
            )
            .encode(**text_enc, text=alt.Text(f"{value}:Q", format=fmt_value))
        )
        layers.append(text)
    if rule is not None:
        layers.extend(_rule(rule, rule_label, horizontal))
    step = 28 if groups == 1 else 12  # with an offset channel the step is one bar of a group
    size: dict[str, Any] = (
        {"height": alt.Step(step), "width": WIDTH} if horizontal else {"height": HEIGHT}
    )
    if not horizontal:
        categories = data.get_column(category).n_unique()
        size["width"] = alt.Step(max(step, 20)) if categories * groups > 12 else WIDTH
    return alt.layer(*layers).properties(title=_title(title, subtitle), **size)


def _rule(value: float, label: str | None, horizontal: bool) -> list[Any]:
    ref = pl.DataFrame({"v": [float(value)], "t": [label or ""]})
    axis = "x" if horizontal else "y"
    line = (
        alt.Chart(ref)
        .mark_rule(color=BAD, strokeDash=[6, 4], strokeWidth=2)
        .encode(**{axis: alt.datum(float(value))})
    )
    out = [line]
    if label:
        text = (
            alt.Chart(ref)
            .mark_text(
                color=BAD,
                align="left" if horizontal else "right",
                dx=4 if horizontal else 0,
                dy=-6,
                baseline="bottom",
                fontWeight="bold",
            )
            .encode(
                **{axis: alt.datum(float(value))},
                **({"y": alt.value(0)} if horizontal else {"x": alt.value(WIDTH)}),
                text="t:N",
            )
        )
        out.append(text)
    return out


def rate_chart(
    frame: pl.DataFrame,
    category: str,
    rate: str,
    ci_low: str = "ci_low",
    ci_high: str = "ci_high",
    *,
    title: str,
    subtitle: str | None = None,
    category_title: str | None = None,
    rate_title: str = "转化率（95% 置信区间）",
    sort: bool = False,
    reference: float | None = None,
    reference_label: str | None = None,
) -> Any:
    """A rate per category as a point with its confidence interval (dwell buckets, products).

    Rates are shares (0.05 = 5%). ``sort`` orders categories by the rate, highest first;
    otherwise they keep the frame's order. ``reference`` draws a vertical line (e.g. overall).
    """
    _require(frame, [category, rate, ci_low, ci_high], "rate_chart")
    data = _clip_labels(
        frame.select(
            pl.col(category).cast(pl.String),
            pl.col(rate).cast(pl.Float64),
            pl.col(ci_low).cast(pl.Float64),
            pl.col(ci_high).cast(pl.Float64),
        ),
        category,
    )
    order = data.get_column(category).to_list()
    y = alt.Y(
        f"{category}:N",
        sort="-x" if sort else order,
        title=category_title,
        axis=alt.Axis(labelFontSize=12),
    )
    base = alt.Chart(data)
    band = base.mark_rule(strokeWidth=3, color=ACCENT, opacity=0.5).encode(
        y=y,
        x=alt.X(f"{ci_low}:Q", title=rate_title, axis=alt.Axis(format=".1%")),
        x2=f"{ci_high}:Q",
    )
    point = base.mark_point(color=ACCENT, size=70).encode(
        y=y,
        x=f"{rate}:Q",
        tooltip=[
            alt.Tooltip(f"{category}:N", title=category_title or category),
            alt.Tooltip(f"{rate}:Q", title="转化率", format=".2%"),
            alt.Tooltip(f"{ci_low}:Q", title="下限", format=".2%"),
            alt.Tooltip(f"{ci_high}:Q", title="上限", format=".2%"),
        ],
    )
    text = base.mark_text(align="left", dx=8, dy=-9, color="#333333").encode(
        y=y, x=f"{rate}:Q", text=alt.Text(f"{rate}:Q", format=".1%")
    )
    layers = [band, point, text]
    if reference is not None:
        layers.extend(_rule(reference, reference_label, horizontal=True))
    return alt.layer(*layers).properties(
        width=WIDTH, height=alt.Step(30), title=_title(title, subtitle)
    )


def metric_chart(
    frame: pl.DataFrame,
    dimension: str,
    value: str,
    *,
    title: str,
    value_title: str | None = None,
    dimension_title: str | None = None,
    value_format: str | None = None,
    color: str | None = None,
    color_title: str | None = None,
) -> Any:
    """One metric over one dimension: a trend over days and times, bars over categories."""
    if _field_type(frame, dimension) == "temporal":
        return trend_chart(
            frame,
            dimension,
            value,
            color,
            title=title,
            x_title=dimension_title,
            y_title=value_title,
            color_title=color_title,
            y_format=value_format,
        )
    return bar_chart(
        frame,
        dimension,
        value,
        color,
        title=title,
        category_title=dimension_title,
        value_title=value_title,
        color_title=color_title,
        value_format=value_format,
        grouped=color is not None,  # rates don't stack
    )


# ---- dwell time -------------------------------------------------------------------------------


def _thin_steps(frame: pl.DataFrame, group: str | None, points: int) -> pl.DataFrame:
    """At most about ``points`` steps per group: the last row in each time bucket (plus the
    first row), which keeps the curve's shape while the chart stays small."""
    if frame.height <= points * (1 if group is None else frame[group].n_unique()):
        return frame
    t_max = float(frame.get_column("time").max() or 0.0)  # type: ignore[arg-type]
    width = t_max / points if t_max > 0 else 1.0
    keys = ["_bucket"] if group is None else [group, "_bucket"]
    with_bucket = frame.with_columns((pl.col("time") / width).floor().alias("_bucket"))
    last = with_bucket.group_by(keys, maintain_order=True).last()
    first = with_bucket.group_by([group] if group else pl.lit(1), maintain_order=True).first()
    first = first.select(last.columns)
    sort_by = ["time"] if group is None else [group, "time"]
    return pl.concat([first, last]).unique(maintain_order=True).sort(sort_by).drop("_bucket")


def survival_chart(
    km: pl.DataFrame,
    group: str | None = None,
    *,
    title: str = "观众留存曲线（Kaplan–Meier）",
    subtitle: str | None = "阴影为 95% 置信区间；虚线为 50%（中位停留时长处）",
    group_title: str | None = None,
    max_minutes: float | None = None,
) -> Any:
    """Share of visits still watching after t minutes: a step line with its confidence band.

    ``km`` is :func:`livekit.analysis.survival`'s frame (``time`` in seconds, ``survival``,
    ``ci_low``, ``ci_high``), one per group stacked with a ``group`` column if given.
    ``max_minutes`` cuts the long tail off the x axis.
    """
    _require(km, ["time", "survival", "ci_low", "ci_high"], "survival_chart")
    cols = ["time", "survival", "ci_low", "ci_high"] + ([group] if group else [])
    data = km.select(cols).with_columns(
        pl.col("time").cast(pl.Float64),
        pl.col("survival").cast(pl.Float64),
        pl.col("ci_low").cast(pl.Float64),
        pl.col("ci_high").cast(pl.Float64),
    )
    if group:
        data = _clip_labels(data.with_columns(pl.col(group).cast(pl.String)), group)
    if max_minutes is not None:
        data = data.filter(pl.col("time") <= max_minutes * 60)
    data = _thin_steps(data, group, MAX_POINTS).with_columns((pl.col("time") / 60).alias("minutes"))
    x = alt.X("minutes:Q", title="停留时长（分钟）", scale=alt.Scale(nice=False))
    if group:
        names = data.get_column(group).unique(maintain_order=True).to_list()
        legend = alt.Legend(symbolType="stroke", symbolStrokeWidth=3, symbolOpacity=1)
        color: Any = alt.Color(f"{group}:N", title=group_title, sort=names, legend=legend)
    else:
        color = alt.value(ACCENT)
    base = alt.Chart(data)
    band_color = color
    band = base.mark_area(interpolate="step-after", opacity=0.18).encode(
        x=x,
        y=alt.Y(
            "ci_low:Q",
            title="仍在观看的比例",
            axis=alt.Axis(format=".0%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
        y2="ci_high:Q",
        color=band_color,
    )
    line = base.mark_line(interpolate="step-after").encode(
        x=x,
        y="survival:Q",
        color=color,
        tooltip=[
            *([alt.Tooltip(f"{group}:N", title=group_title or group)] if group else []),
            alt.Tooltip("minutes:Q", title="分钟", format=".1f"),
            alt.Tooltip("survival:Q", title="留存", format=".1%"),
        ],
    )
    half = (
        alt.Chart(pl.DataFrame({"y": [0.5]}))
        .mark_rule(color=NEUTRAL, strokeDash=[4, 4])
        .encode(y="y:Q")
    )
    return (band + line + half).properties(
        width=WIDTH, height=HEIGHT, title=_title(title, subtitle)
    )


def dwell_conversion_chart(
    by_bucket: pl.DataFrame,
    *,
    overall: float | None = None,
    title: str = "不同停留时长的成交率",
) -> Any:
    """Conversion per dwell bucket with its interval (``DwellResult.by_bucket``), and the
    overall rate as a reference line."""
    return rate_chart(
        by_bucket,
        "bucket",
        "rate",
        title=title,
        subtitle="每一档：成交的访问 ÷ 访问；横线为 95% 置信区间，红线为整体成交率",
        category_title="停留时长",
        rate_title="成交率（95% 置信区间）",
        reference=overall,
        reference_label=f"整体 {fmt_percent(overall, 2)}",
    )


def product_rank_chart(ranked: pl.DataFrame, *, top: int = 12) -> Any:
    """The ``top`` ranked products' click-to-paid rate with its interval, best lower bound
    first (``ranked`` from ``rank_products`` with ``title``); None when none is ranked."""
    _require(ranked, ["rank", "title", "rate", "ci_low", "ci_high"], "product_rank_chart")
    shown = ranked.filter(pl.col("rank").is_not_null()).sort("rank").head(top)
    if shown.height == 0:
        return None
    return rate_chart(
        shown.with_columns(pl.format("{}. {}", pl.col("rank"), pl.col("title")).alias("商品")),
        "商品",
        "rate",
        title="商品点击后成交率排名（按 Wilson 下限）",
        subtitle="点为成交率，横线为 95% 置信区间；按区间下限从高到低排序",
        rate_title="点击后成交率（95% 置信区间）",
    )


# ---- experiments ------------------------------------------------------------------------------


def _lift_rows(comparisons: pl.DataFrame | Mapping[str, Any]) -> pl.DataFrame:
    if isinstance(comparisons, pl.DataFrame):
        _require(comparisons, ["label", "lift", "lift_low", "lift_high"], "lift_chart")
        keep = ["label", "lift", "lift_low", "lift_high"]
        if "verdict" in comparisons.columns:
            keep.append("verdict")
        return comparisons.select(keep)
    rows = []
    for label, rec in comparisons.items():
        lift = getattr(rec, "lift", None)
        ci = getattr(rec, "lift_ci", None) or (None, None)
        rows.append(
            {
                "label": str(label),
                "lift": lift,
                "lift_low": ci[0],
                "lift_high": ci[1],
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "label": pl.String,
            "lift": pl.Float64,
            "lift_low": pl.Float64,
            "lift_high": pl.Float64,
        },
    )


def lift_chart(
    comparisons: pl.DataFrame | Mapping[str, Any],
    *,
    title: str = "实验组相对对照组的提升（95% 置信区间）",
    subtitle: str | None = "横线跨过 0 表示无法确定有差异",
) -> Any:
    """Forest plot: each metric's relative lift (B vs A) with its interval and a zero line.

    ``comparisons`` is a frame (``label, lift, lift_low, lift_high``, optional ``verdict``) or
    a mapping of Chinese metric label to a comparison record with ``lift`` and ``lift_ci``.
    Metrics whose lift is undefined are left out.
    """
    rows = _lift_rows(comparisons).filter(pl.col("lift").is_not_null() & pl.col("lift").is_finite())
    rows = rows.with_columns(
        pl.when(pl.col("lift_low") > 0)
        .then(pl.lit("显著提升"))
        .when(pl.col("lift_high") < 0)
        .then(pl.lit("显著下降"))
        .otherwise(pl.lit("无法确定"))
        .alias("_sig")
    )
    color_field = "verdict" if "verdict" in rows.columns else "_sig"
    order = rows.get_column("label").to_list()
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13))
    base = alt.Chart(rows)
    color = alt.Color(f"{color_field}:N", title=None)
    if color_field == "_sig":
        color = alt.Color(
            "_sig:N",
            title=None,
            scale=alt.Scale(
                domain=["显著提升", "无法确定", "显著下降"], range=[GOOD, NEUTRAL, BAD]
            ),
        )
    ci = base.mark_rule(strokeWidth=3).encode(
        y=y,
        x=alt.X("lift_low:Q", title="相对提升（B 相对 A）", axis=alt.Axis(format="+.0%")),
        x2="lift_high:Q",
        color=color,
    )
    point = base.mark_point(size=90).encode(
        y=y,
        x="lift:Q",
        color=color,
        tooltip=[
            alt.Tooltip("label:N", title="指标"),
            alt.Tooltip("lift:Q", title="提升", format="+.2%"),
            alt.Tooltip("lift_low:Q", title="下限", format="+.2%"),
            alt.Tooltip("lift_high:Q", title="上限", format="+.2%"),
        ],
    )
    text = base.mark_text(dy=-12, color="#333333").encode(
        y=y, x="lift:Q", text=alt.Text("lift:Q", format="+.1%")
    )
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#444444").encode(x="x:Q")
    return (ci + point + text + zero).properties(
        width=WIDTH, height=alt.Step(50), title=_title(title, subtitle)
    )


# ---- ROI --------------------------------------------------------------------------------------

ROI_MEASURES: dict[str, str] = {
    "roas": "支付ROI",
    "net_roas": "净成交ROI",
    "roas_7d": "7日总支付ROI",
}


def roi_chart(
    frame: pl.DataFrame,
    label: str = "label",
    *,
    measures: Mapping[str, str] | None = None,
    breakeven: float | None = None,
    title: str = "各场直播 ROI 与保本线",
    subtitle: str | None = None,
    label_title: str | None = None,
) -> Any:
    """ROAS per room (or day) as grouped bars, with the break-even ROAS as a dashed line.

    ``measures`` maps columns of ``frame`` to their Chinese names (default: 支付ROI,
    净成交ROI, 7日总支付ROI, whichever columns exist). Undefined values (no spend) are left out.
    """
    wanted = dict(measures) if measures is not None else ROI_MEASURES
    present = {col: name for col, name in wanted.items() if col in frame.columns}
    if not present:
        raise ValueError(f"roi_chart needs one of {list(wanted)}; got {frame.columns}")
    wide = _clip_labels(
        frame.select(
            pl.col(label).cast(pl.String).alias("label"),
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
    y = alt.Y("label:N", sort=order, title=label_title, axis=alt.Axis(labelFontSize=12))
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=y,
            yOffset=alt.YOffset("measure:N", sort=names),
            x=alt.X("value:Q", title="ROI（成交额 ÷ 消耗）", axis=alt.Axis(format=".1f")),
            color=alt.Color("measure:N", title=None, sort=names),
            tooltip=[
                alt.Tooltip("label:N", title=label_title or "场次"),
                alt.Tooltip("measure:N", title="口径"),
                alt.Tooltip("value:Q", title="ROI", format=".2f"),
            ],
        )
    )
    layers = [bars]
    if breakeven is not None and math.isfinite(breakeven):
        layers.extend(_rule(breakeven, f"保本ROI {breakeven:.2f}", horizontal=True))
    return alt.layer(*layers).properties(
        width=WIDTH, height=alt.Step(12), title=_title(title, subtitle)
    )  # with an offset channel the step is one bar of a group


def roi_trend_chart(
    daily: pl.DataFrame,
    *,
    breakeven: float | None = None,
    measures: Mapping[str, str] | None = None,
    title: str = "每日 ROI 走势",
) -> Any:
    """ROAS per day, one line per measure (``daily``: ``date`` and the measure columns, e.g.
    from ``custom_report(rooms, ["roas", "net_roas"], ["date"])``), with the break-even line."""
    wanted = dict(measures) if measures is not None else ROI_MEASURES
    present = {col: name for col, name in wanted.items() if col in daily.columns}
    _require(daily, ["date", *present], "roi_trend_chart")
    long = daily.select("date", *present).unpivot(
        index="date", variable_name="metric", value_name="value"
    )
    long = long.with_columns(pl.col("metric").replace_strict(present, return_dtype=pl.String))
    return trend_chart(
        long,
        "date",
        "value",
        "metric",
        title=title,
        x_title="日期",
        y_title="ROI（成交额 ÷ 消耗）",
        color_title="口径",
        rule=breakeven,
        rule_label=f"保本ROI {fmt_number(breakeven, 2)}",
    )


def repurchase_chart(
    per_day: pl.DataFrame,
    *,
    title: str = "7 日成交的构成：本场成交 + 买家复购",
    subtitle: str | None = "复购 = 本场买家（按抖店 doudian_open_id）7 天内在任意渠道的其他订单",
) -> Any:
    """Stacked bars per day: the rooms' own GMV and their buyers' 7-day repeat purchases
    (``per_day``: ``date``, ``gmv``, ``gmv_repurchase``, e.g. ``roi.repurchase_by_day``)."""
    _require(per_day, ["date", "gmv", "gmv_repurchase"], "repurchase_chart")
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
        category_title="开播日期",
        value_title="金额（元）",
        color_title=None,
        horizontal=False,
    )


# ---- labels and tables ------------------------------------------------------------------------

# Chinese names of the columns a report groups by (custom reports, breakdowns).
DIMENSION_LABELS: dict[str, str] = {
    "date": "日期",
    "week": "周",
    "weekday": "星期",
    "month": "月份",
    "hour": "开播小时",
    "aweme_id": "抖音号 ID",
    "aweme_name": "抖音号",
    "advertiser_id": "千川账户 ID",
    "room_id": "直播间 ID",
    "room_title": "直播标题",
    "room_status": "直播状态",
    "start_time": "开播时间",
    "end_time": "下播时间",
    "anchor_nick": "主播",
    "traffic_source": "流量来源",
    "flow_source": "流量来源",
    "province": "省份",
    "variant": "实验组",
}

# 巨量千川 flow_performance source names (also the viewer export's traffic_source).
TRAFFIC_SOURCE_LABELS: dict[str, str] = {
    "homepage_follow": "关注页",
    "homepage_hot": "推荐页",
    "other_recommend_live": "直播推荐",
    "video_to_live": "短视频引流",
    "general_search": "搜索",
    "others_homepage": "个人主页",
    "live_merge": "直播广场",
    "ecom_other": "其他电商场景",
    "live_pc_qian_chuan": "千川广告",
}


def label_of(name: str, labels: Mapping[str, str] = DIMENSION_LABELS) -> str:
    """The Chinese name of ``name`` from ``labels``, or ``name`` itself when it has none."""
    return labels.get(name, name)


Formatter = Any  # a str.format spec ("{:,.2f}"), a named format, or a callable


def _format_cell(value: Any, fmt: Formatter | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if callable(fmt):
        return str(fmt(value))
    if fmt == "yuan":
        return fmt_yuan(value)
    if fmt == "percent":
        return fmt_percent(value, 2)
    if fmt == "count":
        return fmt_count(value)
    if fmt == "ratio":
        return f"{float(value):.2f}"
    if isinstance(fmt, str):
        return fmt.format(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.strftime("%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) < 10**12 else str(value)  # ids stay unbroken
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


class HtmlTable:
    """A table rendered as plain HTML: a notebook displays it, ``str()`` gives the markup."""

    def __init__(self, html: str) -> None:
        self.html = html

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


class TableLike(Protocol):
    """A frame with the columns to show and their formats (``livekit.analysis.narrative.Table``)."""

    @property
    def frame(self) -> pl.DataFrame: ...
    @property
    def columns(self) -> Mapping[str, str]: ...
    @property
    def formats(self) -> Mapping[str, Formatter]: ...
    @property
    def caption(self) -> str | None: ...


def table(
    frame: pl.DataFrame | TableLike,
    columns: Mapping[str, str] | None = None,
    formats: Mapping[str, Formatter] | None = None,
    *,
    caption: str | None = None,
    max_rows: int = 200,
) -> HtmlTable:
    """A small frame as an HTML table with Chinese headers, for reports (no JavaScript).

    ``columns`` maps the columns to show, in order, to their headers (default: every column,
    headers from :data:`DIMENSION_LABELS`). ``formats`` maps a column to a ``str.format``
    spec, a callable, or one of ``"yuan"``, ``"percent"``, ``"count"``, ``"ratio"``; others
    are shown by type (undefined values as ``—``). At most ``max_rows`` rows are shown.

    ``frame`` may instead be a table description (``frame``, ``columns``, ``formats``,
    ``caption``, e.g. from :mod:`livekit.analysis.narrative`); arguments given here win.
    """
    if not isinstance(frame, pl.DataFrame):
        spec = frame
        frame = spec.frame
        columns = spec.columns if columns is None else columns
        formats = spec.formats if formats is None else formats
        caption = spec.caption if caption is None else caption
    shown = dict(columns) if columns is not None else {c: label_of(c) for c in frame.columns}
    _require(frame, list(shown), "table")
    fmts = dict(formats or {})
    cell = "padding:4px 10px;border-bottom:1px solid #e6e6e6;"
    head = "".join(
        f'<th style="{cell}text-align:{"left" if not frame.schema[c].is_numeric() else "right"};'
        f'border-bottom:2px solid #888;">{escape_html(h, limit=None)}</th>'
        for c, h in shown.items()
    )
    body = []
    for row in frame.head(max_rows).select(list(shown)).iter_rows(named=True):
        cells = []
        for c in shown:
            align = "right" if frame.schema[c].is_numeric() else "left"
            # cells may hold upstream text: escaped, one line, long text shortened
            text = escape_html(_format_cell(row[c], fmts.get(c)))
            cells.append(f'<td style="{cell}text-align:{align};">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if frame.height > max_rows:
        more = f'<p style="color:#666">（共 {frame.height} 行，仅显示前 {max_rows} 行）</p>'
    cap = (
        f'<caption style="text-align:left;font-weight:bold;padding:4px 0;">{escape_html(caption, limit=None)}</caption>'
        if caption
        else ""
    )
    html = (
        f'<table class="livekit-table" style="border-collapse:collapse;font-size:13px;'
        f'font-family:{escape_html(FONT, limit=None)};">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{more}"
    )
    return HtmlTable(html)


def live_review_chart(
    curves: pl.DataFrame,
    alerts: pl.DataFrame,
    *,
    metric: str = "new_viewers",
    title: str,
    y_title: str,
    subtitle: str | None = None,
) -> Any:
    """One show's minute curve of ``metric`` with its alerts marked on it.

    ``curves`` is one room's rows of :func:`livekit.analysis.live.minute_curves`; ``alerts``
    that room's rows of :func:`livekit.analysis.live.alert_timeline`. Each alert is a shaded
    band from firing to resolution (to the end of the curve while still open), with a rule and
    the rule's name where it fired.
    """
    _require(curves, ["time", metric], "live_review_chart")
    line_data = _chartable(curves.select("time", metric))
    end = curves.get_column("time").max()
    band = _chartable(
        alerts.select(
            pl.col("rule"),
            pl.col("severity_label"),
            pl.col("fired_at").alias("start"),
            pl.col("resolved_at").fill_null(end).alias("end"),
        )
    )
    x = alt.X("time:T", axis=alt.Axis(title="时间", format="%H:%M"))
    line = (
        alt.Chart(line_data)
        .mark_line()
        .encode(
            x=x,
            y=alt.Y(f"{metric}:Q", axis=alt.Axis(title=y_title)),
            color=alt.value(ACCENT),
            tooltip=[
                alt.Tooltip("time:T", title="时间", format="%H:%M"),
                alt.Tooltip(f"{metric}:Q", title=y_title, format=",.1f"),
            ],
        )
    )
    layers: list[Any] = []
    if band.height:
        layers.append(
            alt.Chart(band).mark_rect(opacity=0.18, color="#d62728").encode(x="start:T", x2="end:T")
        )
        layers.append(
            alt.Chart(band).mark_rule(color="#d62728", strokeDash=[4, 3]).encode(x="start:T")
        )
        layers.append(
            alt.Chart(band)
            .mark_text(align="left", baseline="top", dx=3, dy=3, color="#d62728", fontSize=11)
            .encode(x="start:T", y=alt.value(0), text="rule:N")
        )
    layers.append(line)
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT, title=_title(title, subtitle))
