"""The offline China tile-grid map (livekit.charts.china_map): every province a tile at its
own place, no data in grey, the diverging scale around the midpoint, numbers in the tooltips,
upstream text as text."""

from __future__ import annotations

import math

import polars as pl
import pytest

from livekit import charts
from livekit.charts.china import NO_DATA, TILES, province_key
from livekit.charts.tables import Column
from livekit.sandbox.catalog import PROVINCES
from livekit.sandbox.hostile import PAYLOADS
from livekit.text import plain_text
from tests.helpers.svg import draw, layers, mark_items, only_chart_markup

OUTSIDE_MAINLAND = ("台湾", "香港", "澳门")


@pytest.fixture(autouse=True)
def _theme() -> None:
    charts.setup()


def _regions() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "province": ["北京市", "广东", "西藏自治区", "广西壮族自治区", "上海", "河南省"],
            "index": [1.32, 1.08, 0.41, None, 1.0, 0.85],
            "viewers": [1200, 9800, 15, 0, 2100, 4300],
            "conversion": [0.031, 0.025, 0.0, None, 0.0234, 0.02],
        }
    )


def test_every_province_of_the_catalog_has_a_tile_and_no_two_tiles_overlap() -> None:
    names = {name for name, _, _ in PROVINCES}
    assert len(names) == 31
    assert names <= set(TILES)
    assert set(TILES) == names | set(OUTSIDE_MAINLAND)
    positions = list(TILES.values())
    assert len(set(positions)) == len(positions)
    assert all(0 <= r < 8 and 0 <= c < 9 for r, c in positions)


def test_official_names_find_their_tile() -> None:
    assert province_key("北京市") == "北京"
    assert province_key("内蒙古自治区") == "内蒙古"
    assert province_key("广西壮族自治区") == "广西"
    assert province_key("宁夏回族自治区") == "宁夏"
    assert province_key("新疆维吾尔自治区") == "新疆"
    assert province_key("香港特别行政区") == "香港"
    assert province_key("浙江省") == "浙江"
    assert province_key("浙江") == "浙江"
    assert province_key("火星") is None
    assert province_key(None) is None
    assert province_key("市") is None


def test_every_tile_is_drawn_with_its_value_or_as_no_data() -> None:
    chart = charts.china_map(
        _regions(),
        "province",
        "index",
        details=(Column("viewers", "观众", "count"), Column("conversion", "转化率", "percent")),
        title="各省地域指数",
        subtitle="买家占比 ÷ 观众占比",
        y_title="地域指数",
    )
    spec, root = draw(chart)
    empty_rows = layers(spec)[0][1]
    tiles = {row["province"]: row for row in empty_rows}  # every layer holds all 34 tiles
    assert set(tiles) == set(TILES)
    assert {(r["row"], r["col"]) for r in tiles.values()} == set(TILES.values())
    with_value = {p for p, r in tiles.items() if r["value"] is not None}
    assert with_value == {"北京", "广东", "西藏", "上海", "河南"}  # 广西: null = no data
    assert tiles["北京"]["value_text"] == "1.32"
    for name in ("广西", "台湾", "香港", "澳门", "四川"):
        assert tiles[name]["value_text"] == NO_DATA
    # drawn: 34 squares (grey or coloured), each with its name
    squares = mark_items(root, "rect")
    assert len(squares) == len(TILES)
    text = "".join(root.itertext())
    for name in TILES:
        assert name in text, name
    assert text.count(NO_DATA) == len(TILES) - len(with_value)
    for words in ("各省地域指数", "买家占比 ÷ 观众占比", "地域指数"):
        assert words in text
    # the tooltip (kept offline as each tile's aria-label) holds the table's numbers
    labels = [el.get("aria-label") or "" for el in squares]
    beijing = next(label for label in labels if "省份: 北京" in label)
    assert "观众: 1,200" in beijing
    assert "转化率: 3.10%" in beijing
    assert "地域指数: 1.32" in beijing
    guangxi = next(label for label in labels if "省份: 广西" in label)
    assert "观众: 0" in guangxi
    assert "转化率: —" in guangxi
    taiwan = next(label for label in labels if "省份: 台湾" in label)
    assert f"地域指数: {NO_DATA}" in taiwan


def test_the_colour_scale_diverges_around_the_midpoint() -> None:
    spec = charts.china_map(_regions(), "province", "index", title="指数").to_dict()
    scale = spec["layer"][1]["encoding"]["color"]["scale"]
    low, high = scale["domain"]
    assert scale["domainMid"] == 1.0
    assert math.isclose(1.0 - low, high - 1.0)
    assert math.isclose(high, 1.59)  # the farthest value, 0.41, sets the spread
    assert scale["clamp"] is True
    assert spec["layer"][1]["transform"] == [{"filter": "datum.value != null"}]
    # around another midpoint, all values equal: a small spread, still symmetric
    flat = pl.DataFrame({"province": ["浙江"], "share": [0.2]})
    scale = charts.china_map(flat, "province", "share", midpoint=0.2, title="x").to_dict()
    assert scale["layer"][1]["encoding"]["color"]["scale"]["domain"] == pytest.approx([0.18, 0.22])


def test_names_outside_the_grid_are_left_out_and_upstream_text_stays_text() -> None:
    hostile = pl.DataFrame(
        {
            "province": ["北京", *PAYLOADS[:3]],
            "index": [1.2, 9.0, 9.0, 9.0],
            "note": [PAYLOADS[0], "a", "b", "c"],
        }
    )
    chart = charts.china_map(
        hostile, "province", "index", details=(Column("note", "备注"),), title="恶意名称"
    )
    spec, root = draw(chart)
    rows = layers(spec)[0][1]
    assert {r["province"] for r in rows} == set(TILES)
    assert [r["value"] for r in rows if r["value"] is not None] == [1.2]
    assert only_chart_markup(root)
    labels = " ".join(el.get("aria-label") or "" for el in root.iter())
    assert plain_text(PAYLOADS[0]) in labels  # as characters in the tooltip, not an element


def test_missing_columns_are_reported() -> None:
    with pytest.raises(ValueError, match="index"):
        charts.china_map(pl.DataFrame({"province": ["北京"]}), "province", "index", title="x")
    with pytest.raises(ValueError, match="viewers"):
        charts.china_map(
            pl.DataFrame({"province": ["北京"], "index": [1.0]}),
            "province",
            "index",
            details=(Column("viewers"),),
            title="x",
        )
