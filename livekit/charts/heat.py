"""The click heat map: one row per product, one cell per minute, colour = clicks, with the
explanation windows (讲解) outlined on the rows they belong to.

Keywords follow the vocabulary of :mod:`livekit.charts`: ``x`` is the minute the cells are laid
out along, ``y`` the value measured (clicks, drawn as colour); ``rows`` (this builder's own)
is the field whose values get one row each (product titles). Titles are upstream text: they are
drawn as plain SVG text (Vega escapes it) and clipped here like every label.

altair is imported when a chart is drawn, not with this module (``import livekit.charts`` stays
light; the pages import builders at module level).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import polars as pl

from livekit.charts._frames import clip_labels, require
from livekit.charts.style import BAD, WIDTH
from livekit.text import plain_text

if TYPE_CHECKING:
    import altair as alt

__all__ = ["HEAT_SCHEME", "ROW_STEP", "heat_map"]

HEAT_SCHEME: Final = "orangered"  # sequential: few clicks pale, many clicks dark red
ROW_STEP = 18  # pixels per product row


def heat_map(
    frame: pl.DataFrame,
    x: str,
    y: str,
    rows: str,
    *,
    windows: pl.DataFrame | None = None,
    step: float = 1.0,
    title: str,
    subtitle: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    rows_title: str | None = None,
    y_format: str = ",.0f",
) -> alt.LayerChart:
    """A heat map of ``y`` (e.g. clicks) per ``rows`` value (a product) and ``x`` (a minute).

    Each row of ``frame`` is one cell, from ``x`` to ``x + step`` (``x`` numeric, e.g. the
    minute of the show; ``step`` the cell width in the same unit). Cells that are not in the
    frame stay blank. Rows keep the order in which ``rows`` values first appear in ``frame``
    and then in ``windows`` (sort the frame first: the page decides the order).

    ``windows`` (columns ``rows``, ``start``, ``end``, in ``x`` units) are drawn as outlined
    boxes on their row: the explanation windows. A window of a row without any cell still
    gets its row.
    """
    import altair as alt

    from livekit.charts._marks import layered, title_params

    require(frame, [x, y, rows], "heat_map")
    if not step > 0:
        raise ValueError(f"heat_map step must be positive; got {step!r}")
    cells = frame.select(
        pl.col(rows).cast(pl.String).map_elements(plain_text, return_dtype=pl.String),
        pl.col(x).cast(pl.Float64),
        (pl.col(x).cast(pl.Float64) + step).alias("_x2"),
        pl.col(y).cast(pl.Float64),
    ).filter(pl.col(x).is_not_null() & pl.col(rows).is_not_null())
    boxes: pl.DataFrame | None = None
    if windows is not None:
        require(windows, [rows, "start", "end"], "heat_map windows")
        boxes = windows.select(
            pl.col(rows).cast(pl.String).map_elements(plain_text, return_dtype=pl.String),
            pl.col("start").cast(pl.Float64),
            pl.col("end").cast(pl.Float64),
        ).filter(pl.col("start").is_not_null() & pl.col("end").is_not_null())
    # one clipping for cells and windows, so both name a row the same way
    names = pl.concat(
        [cells.select(rows), *([boxes.select(rows)] if boxes is not None else [])]
    ).unique(maintain_order=True)
    clipped = clip_labels(names.with_columns(pl.col(rows).alias("_shown")), "_shown")
    mapping = dict(zip(clipped[rows].to_list(), clipped["_shown"].to_list(), strict=True))
    order = list(dict.fromkeys(mapping.values()))
    cells = cells.with_columns(pl.col(rows).replace_strict(mapping, return_dtype=pl.String))
    row_enc = alt.Y(f"{rows}:N", sort=order, title=rows_title, scale=alt.Scale(domain=order))
    x_max = float(cells["_x2"].max() or step)  # type: ignore[arg-type]
    if boxes is not None and boxes.height:
        x_max = max(x_max, float(boxes["end"].max()))  # type: ignore[arg-type]
    x_scale = alt.Scale(domain=[0, x_max], nice=False)
    heat = (
        alt.Chart(cells)
        .mark_rect()
        .encode(
            x=alt.X(f"{x}:Q", title=x_title, scale=x_scale, axis=alt.Axis(format=",.0f")),
            x2="_x2:Q",
            y=row_enc,
            color=alt.Color(
                f"{y}:Q",
                title=y_title,
                scale=alt.Scale(scheme=HEAT_SCHEME),
                legend=alt.Legend(format=y_format, gradientLength=200),
            ),
            tooltip=[
                alt.Tooltip(f"{rows}:N", title=rows_title or rows),
                alt.Tooltip(f"{x}:Q", title=x_title or x, format=",.0f"),
                alt.Tooltip(f"{y}:Q", title=y_title or y, format=y_format),
            ],
        )
    )
    layers: list[Any] = [heat]
    if boxes is not None and boxes.height:
        boxes = boxes.with_columns(pl.col(rows).replace_strict(mapping, return_dtype=pl.String))
        outline = (
            alt.Chart(boxes)
            .mark_rect(filled=False, color=BAD, strokeWidth=1.5)
            .encode(
                x=alt.X("start:Q", scale=x_scale),
                x2="end:Q",
                y=row_enc,
                tooltip=[
                    alt.Tooltip(f"{rows}:N", title=rows_title or rows),
                    alt.Tooltip("start:Q", title="讲解开始", format=",.0f"),
                    alt.Tooltip("end:Q", title="讲解结束", format=",.0f"),
                ],
            )
        )
        layers.append(outline)
    return layered(*layers).properties(
        width=WIDTH,
        height=alt.Step(ROW_STEP),
        title=title_params(title, subtitle),
    )
