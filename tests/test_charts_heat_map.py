"""The click heat map (livekit.charts.heat_map): a valid spec, one cell per row of the frame,
the explanation windows outlined on their rows, upstream titles drawn as text, never markup."""

from __future__ import annotations

import polars as pl
import pytest

from livekit import charts
from livekit.charts import _frames
from livekit.sandbox.hostile import LONG, PAYLOADS
from livekit.text import plain_text
from tests.helpers.svg import draw, layers, mark_items, only_chart_markup


@pytest.fixture(autouse=True)
def _theme() -> None:
    charts.setup()


def _cells(titles: list[str], minutes: int = 30) -> pl.DataFrame:
    rows = [
        (title, m, (i + 1) * (m % 5 + 1))
        for i, title in enumerate(titles)
        for m in range(minutes)
        if (i + m) % 4  # some cells have no click at all
    ]
    return pl.DataFrame(rows, schema=["title", "minute", "clicks"], orient="row")


def _windows(titles: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"title": [titles[0], titles[0], titles[-1]], "start": [2, 20, 5], "end": [8.0, 26.5, 9.0]}
    )


def test_one_cell_per_row_and_one_box_per_window() -> None:
    titles = ["保温杯", "围巾", "羽绒服"]
    cells, windows = _cells(titles), _windows(titles)
    chart = charts.heat_map(
        cells,
        "minute",
        "clicks",
        "title",
        windows=windows,
        title="商品点击热力图",
        subtitle="红框为讲解时段",
        x_title="开播后第几分钟",
        y_title="点击次数",
        rows_title="商品",
    )
    spec, root = draw(chart)
    (heat, heat_rows), (boxes, box_rows) = layers(spec)
    assert heat["mark"]["type"] == "rect"
    assert heat["encoding"]["color"]["field"] == "clicks"
    assert heat["encoding"]["color"]["type"] == "quantitative"
    assert len(heat_rows) == cells.height
    # each cell spans [minute, minute + step)
    assert all(r["_x2"] - r["minute"] == 1.0 for r in heat_rows)
    assert sorted(r["clicks"] for r in heat_rows) == sorted(cells["clicks"].cast(float))
    assert boxes["mark"]["filled"] is False
    assert [(r["title"], r["start"], r["end"]) for r in box_rows] == [
        ("保温杯", 2.0, 8.0),
        ("保温杯", 20.0, 26.5),
        ("羽绒服", 5.0, 9.0),
    ]
    # drawn: one rect per cell, one per window
    rects = mark_items(root, "rect")
    assert len(rects) == cells.height + windows.height
    text = "".join(root.itertext())
    for words in ("商品点击热力图", "红框为讲解时段", "开播后第几分钟", "点击次数", *titles):
        assert words in text, words


def test_rows_keep_the_frame_order_and_windows_add_their_rows() -> None:
    titles = ["乙商品", "甲商品", "丙商品"]
    cells = _cells(titles[:2])
    windows = pl.DataFrame({"title": ["丙商品"], "start": [3], "end": [6]})
    spec = charts.heat_map(
        cells, "minute", "clicks", "title", windows=windows, title="排序"
    ).to_dict()
    heat = spec["layer"][0]
    assert heat["encoding"]["y"]["sort"] == titles
    assert heat["encoding"]["y"]["scale"]["domain"] == titles  # 丙商品 has a row, no cell


def test_step_sets_the_cell_width_and_the_x_domain_covers_every_window() -> None:
    cells = pl.DataFrame({"title": ["甲", "甲"], "minute": [0, 5], "clicks": [3, 4]})
    windows = pl.DataFrame({"title": ["甲"], "start": [10], "end": [40]})
    spec = charts.heat_map(
        cells, "minute", "clicks", "title", windows=windows, step=5, title="五分钟一格"
    ).to_dict()
    (heat, rows), _ = layers(spec)
    assert [r["_x2"] for r in rows] == [5.0, 10.0]
    assert heat["encoding"]["x"]["scale"]["domain"] == [0, 40.0]
    with pytest.raises(ValueError, match="step"):
        charts.heat_map(cells, "minute", "clicks", "title", step=0, title="x")
    with pytest.raises(ValueError, match="clicks"):
        charts.heat_map(cells.drop("clicks"), "minute", "clicks", "title", title="x")
    with pytest.raises(ValueError, match="start"):
        charts.heat_map(cells, "minute", "clicks", "title", windows=cells, title="x")


def test_upstream_titles_are_drawn_as_text_never_markup() -> None:
    titles = [f"商品{i}{p}" for i, p in enumerate(PAYLOADS)] + [LONG]
    cells = _cells(titles, minutes=6)
    chart = charts.heat_map(
        cells, "minute", "clicks", "title", windows=_windows(titles), title="恶意标题"
    )
    spec, root = draw(chart)
    assert only_chart_markup(root)
    text = "".join(root.itertext())
    # every row label is the clipped plain text of its title: shown literally
    for title in titles:
        shown = _frames.clip(plain_text(title))
        assert shown in text, shown
    assert "<script>window.__pwned" in text  # as characters, not as an element
    # no invisible or reordering characters reach the chart; LONG is shortened
    assert "\u202e" not in text
    assert "\u200b" not in text
    heat_rows = layers(spec)[0][1]
    assert max(len(r["title"]) for r in heat_rows) < 40
    # the cells and the windows name the same rows (one clipping for both)
    box_titles = {r["title"] for r in layers(spec)[1][1]}
    assert box_titles <= {r["title"] for r in heat_rows}


def test_a_heat_map_without_windows_is_one_layer_of_cells() -> None:
    cells = _cells(["甲", "乙"])
    spec, root = draw(charts.heat_map(cells, "minute", "clicks", "title", title="无讲解"))
    assert len(spec["layer"]) == 1
    assert len(mark_items(root, "rect")) == cells.height
