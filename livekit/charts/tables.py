"""Report tables: one spec (:class:`TableSpec`, a list of :class:`Column`) rendered as plain HTML.

A column names a field of the frame, its Chinese header (default: the dimension label of
:mod:`livekit.vocab.labels`, else the name) and its format: ``"money"`` (``"yuan"``),
``"percent"`` (a fraction shown as a percentage), ``"count"``, ``"ratio"`` (the formatters of
:mod:`livekit.vocab.units`), a ``str.format`` spec (``"{:,.0f}"``) or a callable; without a
format a cell is shown by its type. Undefined values show as ``—``.

:func:`table` takes the spec, or the shorter forms that build it (a list of column names or
:class:`Column` s; a mapping of column to header plus a mapping of column to format). Every header and cell goes through
:func:`livekit.text.escape_html`: upstream text (titles, names) is data, never markup.

No altair here: a table costs no chart library.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeAlias

import polars as pl

from livekit.charts._frames import require
from livekit.charts.style import FONT
from livekit.text import escape_html
from livekit.vocab.labels import label_of
from livekit.vocab.units import (
    MISSING,
    format_count,
    format_money,
    format_percent,
    format_ratio,
)

__all__ = [
    "FORMATS",
    "Column",
    "Format",
    "HtmlTable",
    "TableSpec",
    "format_cell",
    "table",
    "table_spec",
]

Format: TypeAlias = str | Callable[[Any], object]
"""A named format (:data:`FORMATS`), a ``str.format`` spec, or a callable."""

# The named formats, from the one set of formatters (livekit.vocab.units).
FORMATS: dict[str, Callable[[Any], str]] = {
    "money": format_money,  # ¥1,234.50: money has one format
    "yuan": format_money,  # the older name of "money"
    "percent": lambda v: format_percent(v, 2),  # v a fraction: 0.035 -> 3.50%
    "count": format_count,
    "ratio": format_ratio,
}


@dataclass(frozen=True)
class Column:
    """One column of a report table: the frame's field, its header, its format."""

    name: str
    label: str | None = None  # the header; None: the dimension label, else the name
    format: Format | None = None

    @property
    def header(self) -> str:
        return self.label if self.label is not None else label_of(self.name)


@dataclass(frozen=True)
class TableSpec:
    """What a report table shows: columns in order, a caption, at most ``max_rows`` rows."""

    columns: tuple[Column, ...]
    caption: str | None = None
    max_rows: int = 200

    def render(self, frame: pl.DataFrame) -> HtmlTable:
        """``frame`` as this table (see :func:`table`)."""
        return _render(frame, self)


Columns: TypeAlias = TableSpec | Sequence[Column | str] | Mapping[str, str]


class HtmlTable:
    """A rendered table: a notebook displays it, ``str()`` gives the markup."""

    def __init__(self, html: str) -> None:
        self.html = html

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


def format_cell(value: Any, fmt: Format | None = None) -> str:
    """One cell as text (not yet escaped): by ``fmt``, else by the value's type."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if callable(fmt):
        return str(fmt(value))
    if fmt is not None:
        named = FORMATS.get(fmt)
        return named(value) if named is not None else fmt.format(value)
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


def table_spec(
    columns: Columns | None,
    formats: Mapping[str, Format] | None = None,
    *,
    frame: pl.DataFrame | None = None,
    caption: str | None = None,
    max_rows: int | None = None,
) -> TableSpec:
    """The :class:`TableSpec` the shorter forms stand for.

    ``columns`` is a spec (``caption``/``max_rows`` given here replace its own), a sequence
    of :class:`Column` s or names, a mapping of column to header, or None for every column
    of ``frame``. ``formats`` (column to format) fills in formats the columns do not carry.
    """
    fmts = dict(formats or {})
    if isinstance(columns, TableSpec):
        base = columns
    else:
        if columns is None:
            items: list[Column] = [Column(c) for c in (frame.columns if frame is not None else [])]
        elif isinstance(columns, Mapping):
            items = [Column(c, h) for c, h in columns.items()]
        else:
            items = [c if isinstance(c, Column) else Column(c) for c in columns]
        base = TableSpec(tuple(items))
    cols = tuple(
        Column(c.name, c.label, fmts[c.name]) if c.format is None and c.name in fmts else c
        for c in base.columns
    )
    return TableSpec(
        cols,
        caption=caption if caption is not None else base.caption,
        max_rows=max_rows if max_rows is not None else base.max_rows,
    )


def table(
    frame: pl.DataFrame,
    columns: Columns | None = None,
    formats: Mapping[str, Format] | None = None,
    *,
    caption: str | None = None,
    max_rows: int | None = None,
) -> HtmlTable:
    """A small frame as an HTML table with Chinese headers, for reports (no JavaScript).

    ``columns`` is the :class:`TableSpec` (or a shorter form, see :func:`table_spec`);
    default: every column, headers from the dimension labels. At most ``max_rows`` rows
    (default 200) are shown, with a note of how many there are.
    """
    spec = table_spec(columns, formats, frame=frame, caption=caption, max_rows=max_rows)
    return _render(frame, spec)


def _render(frame: pl.DataFrame, spec: TableSpec) -> HtmlTable:
    names = [c.name for c in spec.columns]
    require(frame, names, "table")
    cell = "padding:4px 10px;border-bottom:1px solid #e6e6e6;"

    def align(name: str) -> str:
        return "right" if frame.schema[name].is_numeric() else "left"

    head = "".join(
        f'<th style="{cell}text-align:{align(c.name)};border-bottom:2px solid #888;">'
        f"{escape_html(c.header, limit=None)}</th>"
        for c in spec.columns
    )
    body = []
    for row in frame.head(spec.max_rows).select(names).iter_rows(named=True):
        cells = []
        for c in spec.columns:
            # cells may hold upstream text: escaped, one line, long text shortened
            text = escape_html(format_cell(row[c.name], c.format))
            cells.append(f'<td style="{cell}text-align:{align(c.name)};">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if frame.height > spec.max_rows:
        more = f'<p style="color:#666">（共 {frame.height} 行，仅显示前 {spec.max_rows} 行）</p>'
    cap = (
        '<caption style="text-align:left;font-weight:bold;padding:4px 0;">'
        f"{escape_html(spec.caption, limit=None)}</caption>"
        if spec.caption
        else ""
    )
    html = (
        f'<table class="livekit-table" style="border-collapse:collapse;font-size:13px;'
        f'font-family:{escape_html(FONT, limit=None)};">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{more}"
    )
    return HtmlTable(html)
