"""An offline map of China as a tile grid: each province one square at a fixed grid position.

No geometry is downloaded or bundled: :data:`TILES` places every province of the mainland
(the 31 of the sandbox's catalog and of 抖店's addresses) plus 台湾, 香港 and 澳门 on a 9 × 8
grid that keeps neighbours roughly next to each other (north at the top, east on the right).
The grid is this project's own; hand-written because a tile grid is a table of 34 positions,
which no charting library ships for China.

Keywords follow the vocabulary of :mod:`livekit.charts`: ``x`` is the province field (the
marks are laid out by it, on the grid), ``y`` the value measured (drawn as colour on a
diverging scale around ``midpoint``, this builder's own keyword: 1 for an index). ``details``
are the table's :class:`~livekit.charts.tables.Column` s shown in each tile's tooltip, formatted
the way the table formats them. Tiles without a value (no data, or 台湾 香港 澳门, which the
data never holds) are grey and say 无数据.

Offline SVG has no hover: Vega writes a tile's tooltip as its ``aria-label`` (screen readers
read it); each tile also shows its province and value as text, and the page puts the table
beside the map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import polars as pl

from livekit.charts._frames import require
from livekit.charts.style import NEUTRAL
from livekit.charts.tables import Column, format_cell
from livekit.text import plain_text

if TYPE_CHECKING:
    import altair as alt

__all__ = ["NO_DATA", "TILE", "TILES", "china_map", "province_key"]

TILE = 58  # pixels per grid step
NO_DATA = "无数据"
SCHEME: Final = "redblue"  # diverging: below the midpoint red, above blue, the midpoint pale

# (row, column) of each tile: row 0 is the north, column 0 the west.
TILES: dict[str, tuple[int, int]] = {
    "黑龙江": (0, 8),
    "内蒙古": (1, 5),
    "北京": (1, 6),
    "吉林": (1, 8),
    "新疆": (2, 2),
    "宁夏": (2, 4),
    "山西": (2, 5),
    "河北": (2, 6),
    "天津": (2, 7),
    "辽宁": (2, 8),
    "青海": (3, 2),
    "甘肃": (3, 3),
    "陕西": (3, 4),
    "河南": (3, 5),
    "山东": (3, 6),
    "西藏": (4, 2),
    "四川": (4, 3),
    "重庆": (4, 4),
    "湖北": (4, 5),
    "安徽": (4, 6),
    "江苏": (4, 7),
    "上海": (4, 8),
    "贵州": (5, 4),
    "湖南": (5, 5),
    "江西": (5, 6),
    "浙江": (5, 7),
    "云南": (6, 3),
    "广西": (6, 4),
    "广东": (6, 5),
    "福建": (6, 6),
    "台湾": (6, 7),
    "海南": (7, 4),
    "澳门": (7, 5),
    "香港": (7, 6),
}

# Official names end in one of these; the tile names are the short forms (北京市 → 北京,
# 广西壮族自治区 → 广西). Longest first, so 壮族自治区 is removed before 自治区.
_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)


def province_key(name: object) -> str | None:
    """The tile a province name belongs to (``"北京市"`` → ``"北京"``), or None."""
    text = plain_text(name, limit=None)
    if text in TILES:
        return text
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and text.removesuffix(suffix) in TILES:
            return text.removesuffix(suffix)
    return None


def _domain(values: pl.Series, midpoint: float) -> list[float]:
    """[low, high] symmetric around ``midpoint``, wide enough for every finite value."""
    finite = [float(v) for v in values.drop_nulls().to_list() if math.isfinite(v)]
    spread = max((abs(v - midpoint) for v in finite), default=0.0)
    spread = max(spread, 0.1 * abs(midpoint) or 0.1)
    return [midpoint - spread, midpoint + spread]


def china_map(
    frame: pl.DataFrame,
    x: str,
    y: str,
    *,
    details: Sequence[Column] = (),
    midpoint: float = 1.0,
    title: str,
    subtitle: str | None = None,
    y_title: str | None = None,
    y_format: str = ".2f",
) -> alt.LayerChart:
    """Every province as a tile coloured by ``y`` (diverging around ``midpoint``).

    ``frame`` has one row per province: ``x`` its name (short or official form; names that
    are no province of the grid are left out of the map, the table still lists them), ``y``
    the value (null: no data). ``details`` adds the table's columns to each tile's tooltip.
    """
    import altair as alt

    from livekit.charts._marks import layered, title_params

    require(frame, [x, y, *(c.name for c in details)], "china_map")
    values: dict[str, tuple[float | None, list[str]]] = {}
    for row in frame.iter_rows(named=True):
        key = province_key(row[x])
        if key is None or key in values:
            continue
        value = row[y]
        shown = float(value) if value is not None and math.isfinite(value) else None
        values[key] = (shown, [format_cell(row[c.name], c.format) for c in details])
    names, rows, cols, ys, texts = [], [], [], [], []
    extra: list[list[str]] = [[] for _ in details]
    for name, (r, c) in TILES.items():
        value, cells = values.get(name, (None, ["—"] * len(details)))
        names.append(name)
        rows.append(r)
        cols.append(c)
        ys.append(value)
        texts.append(NO_DATA if value is None else format(value, y_format.replace("~", "")))
        for i, cell in enumerate(cells):
            extra[i].append(plain_text(cell))
    domain = _domain(pl.Series(ys, dtype=pl.Float64), midpoint)
    tiles = pl.DataFrame(
        {
            "province": names,
            "row": rows,
            "col": cols,
            "value": pl.Series(ys, dtype=pl.Float64),
            "value_text": texts,
            **{f"d{i}": column for i, column in enumerate(extra)},
        }
    ).with_columns(
        # the text's colour: grey without data, white on the darkest tiles (the far ends of
        # the diverging scale), else near black
        pl.when(pl.col("value").is_null())
        .then(pl.lit(NEUTRAL))
        .when((pl.col("value") - midpoint).abs() > 0.6 * (domain[1] - midpoint))
        .then(pl.lit("white"))
        .otherwise(pl.lit("#222222"))
        .alias("ink")
    )
    grid_x = alt.X("col:O", axis=None, scale=alt.Scale(domain=list(range(9)), paddingInner=0.08))
    grid_y = alt.Y("row:O", axis=None, scale=alt.Scale(domain=list(range(8)), paddingInner=0.08))
    tooltip = [
        alt.Tooltip("province:N", title="省份"),
        alt.Tooltip("value_text:N", title=y_title or y),
        *(alt.Tooltip(f"d{i}:N", title=c.header) for i, c in enumerate(details)),
    ]
    base = alt.Chart(tiles)
    empty = (
        base.transform_filter("datum.value == null")
        .mark_rect(color="#e3e3e3", cornerRadius=3)
        .encode(x=grid_x, y=grid_y, tooltip=tooltip)
    )
    filled = (
        base.transform_filter("datum.value != null")
        .mark_rect(cornerRadius=3, stroke="white", strokeWidth=1)
        .encode(
            x=grid_x,
            y=grid_y,
            color=alt.Color(
                "value:Q",
                title=y_title,
                scale=alt.Scale(
                    scheme=SCHEME,
                    domain=domain,
                    domainMid=midpoint,
                    clamp=True,
                ),
                legend=alt.Legend(
                    format=y_format, gradientLength=240, values=[domain[0], midpoint, domain[1]]
                ),
            ),
            tooltip=tooltip,
        )
    )
    labels: list[alt.Chart] = []
    for ink in (NEUTRAL, "white", "#222222"):  # one pair of text layers per text colour
        inked = base.transform_filter(alt.datum.ink == ink)
        labels.append(
            inked.mark_text(dy=-8, fontSize=12, color=ink).encode(
                x=grid_x, y=grid_y, text="province:N"
            )
        )
        labels.append(
            inked.mark_text(dy=9, fontSize=11, color=ink).encode(
                x=grid_x, y=grid_y, text="value_text:N"
            )
        )
    return layered(empty, filled, *labels).properties(
        width=9 * TILE, height=8 * TILE, title=title_params(title, subtitle)
    )
