"""Frames made ready for a chart or a table (polars only, no altair).

Rendering cost is mostly vl-convert measuring text (every label, with the CJK font): the theme
sets no pixel ``labelLimit`` (Vega would measure each label again to truncate it) and
:func:`clip_labels` clips long labels here instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal
from unicodedata import east_asian_width

import polars as pl

from livekit.charts.style import LABEL_EMS
from livekit.text import plain_text
from livekit.vocab.tz import CHINA_TZ_NAME

FieldType = Literal["temporal", "quantitative", "nominal"]


def require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    """A ``ValueError`` naming the columns ``what`` needs that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; got {frame.columns}")


def chartable(frame: pl.DataFrame) -> pl.DataFrame:
    """Frame ready for Vega: China-time datetimes as naive wall-clock times (the renderer runs
    in UTC and would shift them), so axes show the hours the merchant saw."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            exprs.append(
                pl.col(name).dt.convert_time_zone(CHINA_TZ_NAME).dt.replace_time_zone(None)
            )
    return frame.with_columns(exprs) if exprs else frame


def ems(text: str) -> float:
    """Approximate width of ``text`` in ems: wide (CJK) characters 1, others 0.6."""
    return sum(1.0 if east_asian_width(ch) in "WF" else 0.6 for ch in text)


def clip(text: str, width: float = LABEL_EMS) -> str:
    """``text`` as one plain line no wider than ``width`` ems, "…" ending a clipped one."""
    text = plain_text(text, limit=None)  # no invisible or reordering characters, one line
    if ems(text) <= width:
        return text
    out, used = "", 1.0  # room for the ellipsis
    for ch in text:
        used += ems(ch)
        if used > width:
            break
        out += ch
    return out + "…"


def clip_labels(frame: pl.DataFrame, *columns: str | None) -> pl.DataFrame:
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
        clipped = {v: clip(v) for v in values}
        clipped = {v: c for v, c in clipped.items() if c != v}
        if not clipped:
            continue
        taken = Counter([*clipped.values(), *(v for v in values if v not in clipped)])
        clipped = {v: c for v, c in clipped.items() if taken[c] == 1}
        if clipped:
            exprs.append(pl.col(name).replace(clipped))
    return frame.with_columns(exprs) if exprs else frame


def field_type(frame: pl.DataFrame, column: str) -> FieldType:
    """The Vega-Lite type of ``column``: days and times temporal, numbers quantitative."""
    dtype = frame.schema[column]
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "temporal"
    if dtype.is_numeric():
        return "quantitative"
    return "nominal"


def padded_domain(values: pl.Series, pad: float = 0.3) -> list[float]:
    """[low, high] covering the values and zero, widened so that end labels fit."""
    finite = values.drop_nulls().filter(values.drop_nulls().is_finite())
    low = min(0.0, float(finite.min() or 0.0))  # type: ignore[arg-type]
    high = max(0.0, float(finite.max() or 0.0))  # type: ignore[arg-type]
    span = (high - low) or 0.01
    return [low - pad * span if low < 0 else 0.0, high + pad * span if high > 0 else 0.0]


def thin_steps(frame: pl.DataFrame, group: str | None, points: int) -> pl.DataFrame:
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
