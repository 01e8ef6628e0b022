"""Generic chart builders: bars, trends, one metric by one dimension, rates with intervals,
survival curves. Keywords follow the vocabulary of :mod:`livekit.charts`."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from livekit.charts._frames import (
    chartable,
    clip_labels,
    field_type,
    require,
    thin_steps,
)
from livekit.charts._marks import layered, reference_line, time_axis, title_params
from livekit.charts.style import ACCENT, HEIGHT, MAX_POINTS, NEUTRAL, WIDTH

__all__ = ["bar_chart", "metric_chart", "rate_chart", "survival_chart", "trend_chart"]


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
    reference: float | None = None,
    reference_label: str | None = None,
) -> alt.Chart | alt.LayerChart:
    """A line with points of ``y`` over ``x`` (a day, a time, a number), one line per ``color``.

    ``reference`` draws a horizontal dashed line at that value of ``y`` (e.g. the break-even
    ROAS), labelled ``reference_label``; ``zero=False`` lets the y axis start above 0.
    """
    require(frame, [x, y] + ([color] if color else []), "trend_chart")
    x_type = field_type(frame, x)
    x_code = x_type[0].upper()
    data = chartable(frame.select([x, y] + ([color] if color else [])))
    data = clip_labels(data, x if x_type == "nominal" else None, color)
    x_axis = (
        time_axis(frame, x, x_title)
        if x_type == "temporal"
        else alt.Axis(title=x_title, labelAngle=0)
    )
    y_axis = alt.Axis(title=y_title, format=y_format) if y_format else alt.Axis(title=y_title)
    tooltip = [
        alt.Tooltip(f"{x}:{x_code}", title=x_title or x),
        alt.Tooltip(f"{y}:Q", title=y_title or y, format=y_format or ",.2f"),
    ]
    enc: dict[str, Any] = {
        "x": alt.X(f"{x}:{x_code}", axis=x_axis),
        "y": alt.Y(f"{y}:Q", axis=y_axis, scale=alt.Scale(zero=zero)),
        "tooltip": tooltip,
    }
    if color:
        groups = data.get_column(color).cast(pl.String).unique(maintain_order=True).to_list()
        enc["color"] = alt.Color(f"{color}:N", title=color_title, sort=groups)
        tooltip.insert(0, alt.Tooltip(f"{color}:N", title=color_title or color))
    else:
        enc["color"] = alt.value(ACCENT)
    line: alt.Chart = alt.Chart(data).mark_line(point=True).encode(**enc)
    size = {"width": WIDTH, "height": HEIGHT, "title": title_params(title, subtitle)}
    if reference is None:
        return line.properties(**size)
    return layered(line, *reference_line(reference, reference_label, horizontal=False)).properties(
        **size
    )


def bar_chart(
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
    horizontal: bool = True,
    sort: bool = True,
    labels: bool = True,
    reference: float | None = None,
    reference_label: str | None = None,
    grouped: bool = False,
) -> alt.LayerChart:
    """Bars of ``y`` per ``x`` (a category, a day), largest first (days in date order).

    ``horizontal`` (the default) lists the ``x`` categories down the side and draws the bars
    across. With ``color`` the bars are stacked by it, or side by side with ``grouped=True``
    (for rates, which do not add up); ``sort=False`` keeps the frame's order. ``labels``
    writes each bar's value at its end (bars without ``color``). ``reference`` draws a dashed
    line at that value (e.g. a break-even ROAS), labelled ``reference_label``.
    """
    require(frame, [x, y] + ([color] if color else []), "bar_chart")
    cols = list(dict.fromkeys([x, y] + ([color] if color else [])))
    data = chartable(frame.select(cols))
    sort_spec: Any
    if field_type(frame, x) == "temporal":
        # days and times as ordered labels ("11-20"), one bar each
        data = data.with_columns(
            pl.col(x).dt.to_string("%m-%d" if frame.schema[x] == pl.Date else "%m-%d %H:%M")
        )
        few = data.get_column(x).n_unique() <= 10
        x_axis = alt.Axis(title=x_title, labelAngle=0 if horizontal or few else -30)
        sort_spec = "ascending"
    elif frame.schema[x].is_numeric():  # hours, weekdays, ids: in their own order
        x_axis = alt.Axis(title=x_title, labelAngle=0)
        sort_spec = "ascending"
    else:
        x_axis = alt.Axis(title=x_title, labelAngle=0 if horizontal else -30)
        sort_spec = f"-{'x' if horizontal else 'y'}" if sort else None
    data = clip_labels(data, x, color)
    value_format = y_format or ",.2~f"
    y_axis = alt.Axis(title=y_title, format=y_format) if y_format else alt.Axis(title=y_title)
    # the value runs across horizontal bars: Vega's x channel carries y, and y carries x
    value_channel, category_channel = ("x", "y") if horizontal else ("y", "x")
    value_enc = alt.X if horizontal else alt.Y
    category_enc = alt.Y if horizontal else alt.X
    enc: dict[str, Any] = {
        value_channel: value_enc(f"{y}:Q", axis=y_axis),
        category_channel: category_enc(f"{x}:N", sort=sort_spec, axis=x_axis),
        "tooltip": [
            alt.Tooltip(f"{x}:N", title=x_title or x),
            alt.Tooltip(f"{y}:Q", title=y_title or y, format=value_format),
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
    layers: list[alt.Chart] = [alt.Chart(data).mark_bar().encode(**enc)]
    if labels and not color:
        text = (
            alt.Chart(data)
            .mark_text(
                align="left" if horizontal else "center",
                baseline="middle" if horizontal else "bottom",
                dx=4 if horizontal else 0,
                dy=0 if horizontal else -4,
                color="#333333",
            )
            .encode(
                **{k: v for k, v in enc.items() if k in ("x", "y")},
                text=alt.Text(f"{y}:Q", format=value_format),
            )
        )
        layers.append(text)
    if reference is not None:
        layers.extend(reference_line(reference, reference_label, horizontal=horizontal))
    step = 28 if groups == 1 else 12  # with an offset channel the step is one bar of a group
    size: dict[str, Any] = (
        {"height": alt.Step(step), "width": WIDTH} if horizontal else {"height": HEIGHT}
    )
    if not horizontal:
        categories = data.get_column(x).n_unique()
        size["width"] = alt.Step(max(step, 20)) if categories * groups > 12 else WIDTH
    return layered(*layers).properties(title=title_params(title, subtitle), **size)


def rate_chart(
    frame: pl.DataFrame,
    x: str,
    y: str,
    ci_low: str = "ci_low",
    ci_high: str = "ci_high",
    *,
    title: str,
    subtitle: str | None = None,
    x_title: str | None = None,
    y_title: str = "转化率（95% 置信区间）",
    y_format: str = ".1%",
    sort: bool = False,
    reference: float | None = None,
    reference_label: str | None = None,
) -> alt.LayerChart:
    """A rate ``y`` per category ``x`` as a point with its interval (``ci_low``–``ci_high``).

    Rates are fractions (0.05 = 5%). The categories are listed down the side, the rates run
    across. ``sort`` orders categories by the rate, highest first; otherwise they keep the
    frame's order. ``reference`` draws a dashed line at that rate (e.g. the overall rate).
    """
    require(frame, [x, y, ci_low, ci_high], "rate_chart")
    data = clip_labels(
        frame.select(
            pl.col(x).cast(pl.String),
            pl.col(y).cast(pl.Float64),
            pl.col(ci_low).cast(pl.Float64),
            pl.col(ci_high).cast(pl.Float64),
        ),
        x,
    )
    order = data.get_column(x).to_list()
    category = alt.Y(
        f"{x}:N", sort="-x" if sort else order, title=x_title, axis=alt.Axis(labelFontSize=12)
    )
    base = alt.Chart(data)
    band = base.mark_rule(strokeWidth=3, color=ACCENT, opacity=0.5).encode(
        y=category,
        x=alt.X(f"{ci_low}:Q", title=y_title, axis=alt.Axis(format=y_format)),
        x2=f"{ci_high}:Q",
    )
    point = base.mark_point(color=ACCENT, size=70).encode(
        y=category,
        x=f"{y}:Q",
        tooltip=[
            alt.Tooltip(f"{x}:N", title=x_title or x),
            alt.Tooltip(f"{y}:Q", title="转化率", format=".2%"),
            alt.Tooltip(f"{ci_low}:Q", title="下限", format=".2%"),
            alt.Tooltip(f"{ci_high}:Q", title="上限", format=".2%"),
        ],
    )
    text = base.mark_text(align="left", dx=8, dy=-9, color="#333333").encode(
        y=category, x=f"{y}:Q", text=alt.Text(f"{y}:Q", format=y_format)
    )
    layers = [band, point, text]
    if reference is not None:
        layers.extend(reference_line(reference, reference_label, horizontal=True))
    return layered(*layers).properties(
        width=WIDTH, height=alt.Step(30), title=title_params(title, subtitle)
    )


def metric_chart(
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
) -> alt.Chart | alt.LayerChart:
    """One metric ``y`` over one dimension ``x``: a trend over days and times, bars over
    categories (side by side per ``color``: rates do not stack)."""
    if field_type(frame, x) == "temporal":
        return trend_chart(
            frame,
            x,
            y,
            color,
            title=title,
            subtitle=subtitle,
            x_title=x_title,
            y_title=y_title,
            color_title=color_title,
            y_format=y_format,
        )
    return bar_chart(
        frame,
        x,
        y,
        color,
        title=title,
        subtitle=subtitle,
        x_title=x_title,
        y_title=y_title,
        color_title=color_title,
        y_format=y_format,
        grouped=color is not None,
    )


def survival_chart(
    km: pl.DataFrame,
    color: str | None = None,
    *,
    title: str = "观众留存曲线（Kaplan–Meier）",
    subtitle: str | None = "阴影为 95% 置信区间；虚线为 50%（中位停留时长处）",
    color_title: str | None = None,
    max_minutes: float | None = None,
) -> alt.LayerChart:
    """Share of visits still watching after t minutes: a step line with its confidence band.

    ``km`` is :func:`livekit.analysis.survival`'s frame (``time`` in seconds, ``survival``,
    ``ci_low``, ``ci_high``), one curve per value of ``color`` when given (curves stacked in
    one frame). ``max_minutes`` cuts the long tail off the x axis.
    """
    require(km, ["time", "survival", "ci_low", "ci_high"], "survival_chart")
    cols = ["time", "survival", "ci_low", "ci_high"] + ([color] if color else [])
    data = km.select(cols).with_columns(
        pl.col("time").cast(pl.Float64),
        pl.col("survival").cast(pl.Float64),
        pl.col("ci_low").cast(pl.Float64),
        pl.col("ci_high").cast(pl.Float64),
    )
    if color:
        data = clip_labels(data.with_columns(pl.col(color).cast(pl.String)), color)
    if max_minutes is not None:
        data = data.filter(pl.col("time") <= max_minutes * 60)
    data = thin_steps(data, color, MAX_POINTS).with_columns((pl.col("time") / 60).alias("minutes"))
    x = alt.X("minutes:Q", title="停留时长（分钟）", scale=alt.Scale(nice=False))
    series: Any
    if color:
        names = data.get_column(color).unique(maintain_order=True).to_list()
        legend = alt.Legend(symbolType="stroke", symbolStrokeWidth=3, symbolOpacity=1)
        series = alt.Color(f"{color}:N", title=color_title, sort=names, legend=legend)
    else:
        series = alt.value(ACCENT)
    base = alt.Chart(data)
    band = base.mark_area(interpolate="step-after", opacity=0.18).encode(
        x=x,
        y=alt.Y(
            "ci_low:Q",
            title="仍在观看的比例",
            axis=alt.Axis(format=".0%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
        y2="ci_high:Q",
        color=series,
    )
    line = base.mark_line(interpolate="step-after").encode(
        x=x,
        y="survival:Q",
        color=series,
        tooltip=[
            *([alt.Tooltip(f"{color}:N", title=color_title or color)] if color else []),
            alt.Tooltip("minutes:Q", title="分钟", format=".1f"),
            alt.Tooltip("survival:Q", title="留存", format=".1%"),
        ],
    )
    half = (
        alt.Chart(pl.DataFrame({"y": [0.5]}))
        .mark_rule(color=NEUTRAL, strokeDash=[4, 4])
        .encode(y="y:Q")
    )
    return layered(band, line, half).properties(
        width=WIDTH, height=HEIGHT, title=title_params(title, subtitle)
    )
