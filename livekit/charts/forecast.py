"""The forecast chart: the recent history, the forecast with its 80 % and 95 % bands, and the
festival peaks marked with their Chinese names.

Keywords follow the vocabulary of :mod:`livekit.charts`; the frames have fixed columns, since
a forecast has one shape whatever the series:

``history``  ``date``, ``value``: the days already seen (the page picks how many).
``forecast`` ``date``, ``mean``, and ``lo_<level>``/``hi_<level>`` per level in ``levels``.
``peaks``    ``date``, ``name``: the days marked with a vertical line and their name (festival
             peaks; a user's own events carry user text, drawn as plain SVG text and clipped).

Nothing is computed here: the bands are the forecast's own (the page decides what they are).
altair is imported when a chart is drawn, not with this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from livekit.charts._frames import clip_labels, require
from livekit.charts.style import ACCENT, BAD, HEIGHT, WIDTH
from livekit.text import plain_text

if TYPE_CHECKING:
    import altair as alt

__all__ = ["ACTUAL", "FORECAST", "forecast_chart", "peak_rows"]

ACTUAL: Final = "实际"
FORECAST: Final = "预测（均值）"
HISTORY_COLOR: Final = "#333333"
LABEL_GAP_DAYS: Final = 12  # peak names closer than this go on different lines
LINE_PX: Final = 14  # the height of one line of peak names


def peak_rows(peaks: pl.DataFrame, *, gap_days: int = LABEL_GAP_DAYS) -> pl.DataFrame:
    """``peaks`` sorted by day with a ``row`` column (0, 1, 2 …): each name goes on the first
    line whose last name is at least ``gap_days`` earlier, so close peaks (年货节 and 春节)
    do not print over each other. Names become plain text."""
    require(peaks, ["date", "name"], "forecast_chart peaks")
    rows: list[int] = []
    last_on_row: list[date] = []
    ordered = peaks.select(
        pl.col("date").cast(pl.Date),
        pl.col("name").cast(pl.String).map_elements(plain_text, return_dtype=pl.String),
    ).sort("date")
    for day in ordered.get_column("date").to_list():
        free = next(
            (i for i, seen in enumerate(last_on_row) if (day - seen).days >= gap_days), None
        )
        if free is None:
            free = len(last_on_row)
            last_on_row.append(day)
        last_on_row[free] = day
        rows.append(free)
    return ordered.with_columns(pl.Series("row", rows, dtype=pl.Int64))


def forecast_chart(
    history: pl.DataFrame,
    forecast: pl.DataFrame,
    peaks: pl.DataFrame | None = None,
    *,
    title: str,
    subtitle: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    y_format: str | None = None,
    levels: Sequence[int] = (80, 95),
) -> alt.LayerChart:
    """History as a dark line, the forecast mean as a dashed blue line, one band per level
    (the widest palest), a dotted line where the forecast starts, and each peak of ``peaks``
    inside the drawn days as a red dashed line with its name at the top."""
    import altair as alt

    from livekit.charts._marks import layered, title_params

    require(history, ["date", "value"], "forecast_chart history")
    bands = [c for level in levels for c in (f"lo_{level}", f"hi_{level}")]
    require(forecast, ["date", "mean", *bands], "forecast_chart forecast")
    seen = history.select(
        pl.col("date").cast(pl.Date), pl.col("value").cast(pl.Float64), pl.lit(ACTUAL).alias("what")
    )
    ahead = forecast.select(
        pl.col("date").cast(pl.Date),
        pl.col("mean").cast(pl.Float64),
        *(pl.col(c).cast(pl.Float64) for c in bands),
        pl.lit(FORECAST).alias("what"),
    )
    days = pl.concat([seen.select("date"), ahead.select("date")])
    first, last = days["date"].min(), days["date"].max()
    # weekly ticks (d3's timeWeek, Sundays): the shared day axis steps days within each month,
    # which puts 10-29 next to 11-01 on a three-month chart
    span = days.get_column("date").n_unique()
    x_axis = alt.Axis(
        title=x_title,
        format="%m-%d",
        labelAngle=0,
        tickCount={"interval": "week", "step": max(1, math.ceil(span / 7 / 12))},
        labelOverlap=True,
        labelFlush=False,
    )
    x = alt.X("date:T", axis=x_axis)
    y_axis = alt.Axis(title=y_title, format=y_format) if y_format else alt.Axis(title=y_title)
    number = y_format or ",.0f"
    series = alt.Color(
        "what:N",
        title=None,
        scale=alt.Scale(domain=[ACTUAL, FORECAST], range=[HISTORY_COLOR, ACCENT]),
        legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=3),
    )
    layers: list[Any] = []
    # widest band first (palest), so the narrower ones are drawn over it
    for i, level in enumerate(sorted(levels, reverse=True)):
        layers.append(
            alt.Chart(ahead)
            .mark_area(color=ACCENT, opacity=0.12 + 0.14 * i)
            .encode(
                x=x,
                y=alt.Y(f"lo_{level}:Q", axis=y_axis),
                y2=f"hi_{level}:Q",
                tooltip=[
                    alt.Tooltip("date:T", title="日期", format="%Y-%m-%d"),
                    alt.Tooltip(f"lo_{level}:Q", title=f"{level}% 下限", format=number),
                    alt.Tooltip(f"hi_{level}:Q", title=f"{level}% 上限", format=number),
                ],
            )
        )
    layers.append(
        alt.Chart(ahead)
        .mark_line(strokeDash=[6, 3])
        .encode(
            x=x,
            y=alt.Y("mean:Q", axis=y_axis),
            color=series,
            tooltip=[
                alt.Tooltip("date:T", title="日期", format="%Y-%m-%d"),
                alt.Tooltip("mean:Q", title="预测", format=number),
            ],
        )
    )
    if seen.height:
        layers.append(
            alt.Chart(seen)
            .mark_line(strokeWidth=1.5)
            .encode(
                x=x,
                y=alt.Y("value:Q", axis=y_axis),
                color=series,
                tooltip=[
                    alt.Tooltip("date:T", title="日期", format="%Y-%m-%d"),
                    alt.Tooltip("value:Q", title="实际", format=number),
                ],
            )
        )
    if ahead.height:
        start = pl.DataFrame({"date": [ahead["date"].min()]})
        layers.append(
            alt.Chart(start).mark_rule(color="#888888", strokeDash=[2, 3]).encode(x="date:T")
        )
    if peaks is not None and peaks.height and first is not None and last is not None:
        marked = peak_rows(peaks.filter(pl.col("date").cast(pl.Date).is_between(first, last)))
        marked = clip_labels(marked, "name").with_columns((2 + LINE_PX * pl.col("row")).alias("px"))
        if marked.height:
            base = alt.Chart(marked)
            layers.append(
                base.mark_rule(color=BAD, strokeDash=[4, 4], opacity=0.7).encode(
                    x="date:T", tooltip=[alt.Tooltip("name:N", title="节日")]
                )
            )
            layers.append(
                base.mark_text(
                    color=BAD, align="left", baseline="top", dx=3, fontSize=11, fontWeight="bold"
                ).encode(
                    x="date:T",
                    # raw pixels (scale None): one line of names per row, from the top
                    y=alt.Y("px:Q", scale=None, axis=None),
                    text="name:N",
                )
            )
    return layered(*layers).properties(
        width=WIDTH, height=HEIGHT, title=title_params(title, subtitle)
    )
