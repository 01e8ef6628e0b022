"""Pieces every builder shares: titles, time axes, the dashed reference line."""

from __future__ import annotations

import math

import altair as alt
import polars as pl

from livekit.charts.style import BAD, WIDTH
from livekit.text import plain_text


def title_params(title: str, subtitle: str | None = None) -> alt.TitleParams:
    """The chart title (and subtitle) as plain text: titles may quote upstream text."""
    title = plain_text(title)
    if subtitle:
        return alt.TitleParams(title, subtitle=plain_text(subtitle, limit=None))
    return alt.TitleParams(title)


def time_axis(frame: pl.DataFrame, column: str, title: str | None) -> alt.Axis:
    """An axis of days (at most about 12 labels) or of times (month-day hour:minute)."""
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


def reference_line(value: float, label: str | None, *, horizontal: bool) -> list[alt.Chart]:
    """A dashed line at ``value`` of the value axis, with ``label`` beside it.

    ``horizontal`` says the value axis runs across (horizontal bars, intervals): the line
    is then vertical.
    """
    ref = pl.DataFrame({"v": [float(value)], "t": [plain_text(label or "")]})
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


def zero_line() -> alt.Chart:
    """A solid vertical line at x = 0 (for changes and lifts)."""
    line: alt.Chart = (
        alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#444444").encode(x="x:Q")
    )
    return line


def layered(*charts: alt.Chart | alt.LayerChart) -> alt.LayerChart:
    """The charts drawn over each other (``alt.layer`` without its facet hoisting, which no
    builder uses: its result is typed as a layer or a facet chart)."""
    return alt.LayerChart(layer=list(charts))
