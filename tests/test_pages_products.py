"""The products page: built on a sandbox kit, each section states what the stored rows say.

The page is built once on a fresh sandbox home (the kit syncs yesterday in a subprocess, as the
notebook does). Its heat map, explanation lifts and product order are checked against numbers
worked out here from the stored rows (polars counts, statsmodels' Poisson rate-ratio interval
and Wilson interval), not against strings of the output. The prose functions are also tested on
small hand-made frames, and product titles from upstream are shown, never obeyed.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import date
from typing import Any

import altair as alt
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.rates import confint_poisson_2indep

import livekit
from livekit.analysis.products import RANK_ALPHA, ROLE_DROP, ROLE_EXPLAIN_EARLIER, ROLE_OPEN
from livekit.pages import Section
from livekit.pages import products as pp
from livekit.sandbox.hostile import LONG, PAYLOADS
from livekit.source import Kit
from livekit.vocab.errors import LivekitError
from tests.helpers.markup import parse_html, render_nbconvert


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return livekit.open("sandbox", home=tmp_path_factory.mktemp("page-products") / "home")


@pytest.fixture(scope="module")
def page(kit: Kit) -> pp.ProductsPage:
    return pp.build(kit, start="yesterday")


@pytest.fixture(scope="module")
def raw(kit: Kit, page: pp.ProductsPage) -> dict[str, pl.DataFrame]:
    span = page.period
    return {
        "viewers": kit.load("viewers", span.first, span.last),
        "rooms": kit.load("rooms", span.first, span.last),
        "windows": kit.load("explanations", span.first, span.last),
    }


def _shown(markdown: str) -> str:
    """``markdown`` with the escapes of upstream text undone (what a reader sees of it)."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown))


def test_the_page_is_one_period_analysed_once(page: pp.ProductsPage) -> None:
    assert page.period.days == 1
    assert page.period.note is None  # the sandbox kit filled the period first
    parts = [page.heat(), page.explanation(), page.order(), page.advice()]
    for part in parts:
        assert isinstance(part, Section)
        assert part.markdown
    for part in parts[:3]:
        assert part.charts, part
        for chart in part.charts:
            assert isinstance(chart, alt.TopLevelMixin)
            chart.to_dict()  # a valid Vega-Lite spec
    # every show of the day has its windows from the sandbox's published schedule
    assert set(page.sources["source"].to_list()) == {"schedule"}
    assert "讲解时段：" in page.heat().markdown
    assert page.missing_times == 0  # the sandbox's export carries click_time


def test_the_heat_map_is_the_busiest_show_clicks_per_minute_with_its_windows(
    page: pp.ProductsPage, raw: dict[str, pl.DataFrame]
) -> None:
    timed = raw["viewers"].filter(pl.col("click_time").is_not_null())
    per_room = timed.group_by("room_id").agg(pl.len().alias("n")).sort("n", descending=True)
    busiest = per_room.row(0, named=True)
    assert page.heat_show is not None
    assert page.heat_show["room_id"] == busiest["room_id"]
    assert f"（{busiest['n']:,} 次点击，点击最多的一场）" in page.heat().markdown
    start = raw["rooms"].filter(pl.col("room_id") == busiest["room_id"])["start_time"][0]
    step = page.step
    clicks = (
        timed.filter(pl.col("room_id") == busiest["room_id"])
        .with_columns(
            ((pl.col("click_time") - start).dt.total_seconds() // 60 // step * step).alias("m")
        )
        .group_by(pl.col("clicked_product_id").alias("product_id"), "m")
        .agg(pl.len().alias("clicks"))
    )
    shown = set(page.cells["product_id"].to_list())
    expected = {
        (r["product_id"], r["m"], r["clicks"])
        for r in clicks.filter(pl.col("product_id").is_in(shown)).iter_rows(named=True)
    }
    got = {(r["product_id"], r["minute"], r["clicks"]) for r in page.cells.iter_rows(named=True)}
    assert got == expected
    assert len(shown) == min(pp.HEAT_ROWS, clicks["product_id"].n_unique())
    # the red boxes: that show's published windows, in minutes since its start
    windows = raw["windows"].filter(
        (pl.col("room_id") == busiest["room_id"]) & pl.col("product_id").is_in(shown)
    )
    boxes = {
        (r["product_id"], round(r["start"], 6), round(r["end"], 6))
        for r in page.boxes.iter_rows(named=True)
    }
    assert boxes == {
        (
            r["product_id"],
            round((r["start_time"] - start).total_seconds() / 60, 6),
            round((r["end_time"] - start).total_seconds() / 60, 6),
        )
        for r in windows.iter_rows(named=True)
    }
    spec = page.heat_chart().to_dict()  # type: ignore[union-attr]
    assert len(spec["layer"]) == 2  # the cells and the outlined windows


def _effect_of(raw: dict[str, pl.DataFrame], product_id: int) -> dict[str, float]:
    """Clicks and minutes in and out of ``product_id``'s windows over the shows listing it,
    worked out from the stored rows."""
    windows = raw["windows"].filter(pl.col("product_id") == product_id)
    out: dict[str, float] = {"x1": 0, "e1": 0.0, "x0": 0, "e0": 0.0}
    for room_id in windows["room_id"].unique().to_list():
        show = raw["rooms"].filter(pl.col("room_id") == room_id).row(0, named=True)
        mine = windows.filter(pl.col("room_id") == room_id)
        spans = list(zip(mine["start_time"].to_list(), mine["end_time"].to_list(), strict=True))
        length = (show["end_time"] - show["start_time"]).total_seconds() / 60
        explained = sum((b - a).total_seconds() for a, b in spans) / 60
        clicks = (
            raw["viewers"]
            .filter(
                (pl.col("room_id") == room_id)
                & (pl.col("clicked_product_id") == product_id)
                & pl.col("click_time").is_between(show["start_time"], show["end_time"])
            )["click_time"]
            .to_list()
        )
        inside = sum(1 for t in clicks if any(a <= t < b for a, b in spans))
        out["x1"] += inside
        out["x0"] += len(clicks) - inside
        out["e1"] += explained
        out["e0"] += length - explained
    return out


def test_the_explanation_effect_states_the_lift_of_the_stored_clicks(
    page: pp.ProductsPage, raw: dict[str, pl.DataFrame]
) -> None:
    text = _shown(page.explanation().markdown)
    earners = page.effect.filter(pl.col("earns_time"))
    assert earners.height, "no product earns its explanation time on this day"
    best = earners.sort("lift", descending=True).row(0, named=True)
    counts = _effect_of(raw, best["product_id"])
    lift = (counts["x1"] / counts["e1"]) / (counts["x0"] / counts["e0"])
    low, high = confint_poisson_2indep(
        counts["x1"], counts["e1"], counts["x0"], counts["e0"], method="wald-log"
    )
    assert f"效果最大的是「{best['title']}」" in text
    assert f"是 **{lift:.2f} 倍**（95% 区间 {low:.2f} 倍–{high:.2f} 倍）" in text
    assert low > 1  # what "earns its time" means
    assert f"讲解明显带来点击的商品有 {earners.height} 个" in text


def test_the_order_ranks_by_the_wilson_lower_bound_and_never_ranks_thin_products(
    page: pp.ProductsPage, raw: dict[str, pl.DataFrame]
) -> None:
    counts = (
        raw["viewers"]
        .filter(pl.col("clicked_product_id").is_not_null())
        .group_by(pl.col("clicked_product_id").alias("product_id"))
        .agg(pl.len().alias("clicks"), pl.col("paid").sum().alias("paid"))
    )
    eligible = counts.filter(pl.col("clicks") >= pp.MIN_CLICKS)
    # the ranking's bound: Wilson at level 1 - RANK_ALPHA (one-sided 75%); the table's: 95%
    bounds = {
        r["product_id"]: proportion_confint(
            r["paid"], r["clicks"], alpha=RANK_ALPHA, method="wilson"
        )[0]
        for r in eligible.iter_rows(named=True)
    }
    lows = {
        r["product_id"]: proportion_confint(r["paid"], r["clicks"], method="wilson")[0]
        for r in eligible.iter_rows(named=True)
    }
    ranked = page.ranking.filter(pl.col("rank").is_not_null()).sort("rank")
    assert ranked["product_id"].to_list() == sorted(bounds, key=lambda p: -bounds[p])
    ids = ranked["product_id"].to_list()
    assert ranked["ctp_rank_bound"].to_list() == pytest.approx([bounds[p] for p in ids])
    assert ranked["ctp_low"].to_list() == pytest.approx([lows[p] for p in ids])
    text = _shown(page.order().markdown)
    sequence = " → ".join(
        f"{r['rank']}. {r['title']}" for r in ranked.head(8).iter_rows(named=True)
    )
    assert f"**建议顺序**：{sequence}" in text
    thin = counts.filter(pl.col("clicks") < pp.MIN_CLICKS)["product_id"].to_list()
    assert page.ranking.filter(pl.col("product_id").is_in(thin))["rank"].null_count() == len(thin)
    if thin:
        assert "数据不足、暂不排名" in text
        last_ranked = page.ranking.with_row_index().filter(pl.col("rank").is_not_null())
        first_thin = page.ranking.with_row_index().filter(pl.col("too_little_data"))
        assert last_ranked["index"].max() < first_thin["index"].min()  # type: ignore[operator]


def test_without_click_times_the_explanation_section_says_so(page: pp.ProductsPage) -> None:
    blind = replace(page, missing_times=page.clicks)
    assert blind.explanation().markdown == pp.NO_CLICK_TIMES
    assert blind.explanation().charts == []


def test_hour_heat_map_pools_the_shows_by_minute_of_the_hour(kit: Kit) -> None:
    page = pp.build(kit, start="yesterday", heat_by="hour")
    assert page.heat_show is None
    assert page.cells["minute"].min() >= 0  # type: ignore[operator]
    assert page.cells["minute"].max() <= 59  # type: ignore[operator]
    assert page.step == 1
    assert "整点后第几分钟" in page.heat().markdown


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_clicks": 0}, "min_clicks 须为正整数"),
        ({"min_clicks": True}, "min_clicks 须为正整数"),
        ({"heat_by": "day"}, "heat_by 须为 show"),
        ({"rooms": ["abc"]}, "rooms 须为直播间 room_id"),
        ({"heat_room": "x1"}, "rooms 须为直播间 room_id"),
    ],
)
def test_parameter_mistakes_are_one_chinese_line_before_any_data(
    tmp_path: Any, params: dict[str, Any], message: str
) -> None:
    fresh = livekit.open("sandbox", home=tmp_path / "home")
    with pytest.raises(LivekitError, match=message):
        pp.build(fresh, start="yesterday", **params)
    assert not (tmp_path / "home" / "sandbox" / "store").exists()


def test_a_heat_room_outside_the_period_is_named(kit: Kit) -> None:
    with pytest.raises(LivekitError, match="heat_room 123 不在所选时段"):
        pp.build(kit, start="yesterday", heat_room=123)


# ---- the prose on hand-made frames ----------------------------------------------------------------
def _effect(titles: list[str]) -> pl.DataFrame:
    n = len(titles)
    return pl.DataFrame(
        {
            "product_id": list(range(1, n + 1)),
            "title": titles,
            "shows": [3] * n,
            "explained_minutes": [30.0] * n,
            "not_explained_minutes": [300.0] * n,
            "clicks_explained": [60, 20, 0][:n],
            "clicks_not_explained": [100, 180, 50][:n],
            "clicks_per_min_explained": [2.0, 0.6667, 0.0][:n],
            "clicks_per_min_not_explained": [0.3333, 0.6, 0.1667][:n],
            "gmv_per_min_explained": [120.0, 30.0, 0.0][:n],
            "gmv_per_min_not_explained": [15.0, 25.0, 5.0][:n],
            "lift": [6.0, 1.11, 0.0][:n],
            "lift_low": [4.4, 0.7, None][:n],
            "lift_high": [8.2, 1.76, None][:n],
            "earns_time": [True, False, False][:n],
        }
    )


def test_effect_text_sorts_products_by_what_the_analysis_decided() -> None:
    text = pp.effect_text(_effect(["保温杯", "围巾", "样品"]))
    assert "**讲解明显带来点击的商品有 1 个**：「保温杯」" in text
    assert "是 **6.00 倍**（95% 区间 4.40 倍–8.20 倍）" in text
    assert "每分钟成交 ¥120.00 对 ¥15.00" in text
    assert "**1 个商品讲解与不讲解时的点击看不出明显差别**：「围巾」" in text
    assert "（例如「围巾」：1.11 倍，区间 0.70 倍–1.76 倍，含 1 倍）" in text
    assert "「样品」在讲解时或不讲解时没有一次点击，倍数的区间无法计算" in text
    none = pp.effect_text(_effect(["围巾"]).with_columns(pl.lit(False).alias("earns_time")))
    assert "没有哪个商品的讲解明显带来更多点击" in none
    assert (
        pp.effect_text(_effect([]).head(0))
        == "没有讲解时段或点击时间，无法比较讲解与不讲解时的点击。"
    )


def _order(titles: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "product_id": [1, 2, 3, 4, 5],
            "title": titles,
            "visits": [5000] * 5,
            "clicks": [400, 300, 200, 150, 12],
            "paid": [100, 60, 50, 10, 6],
            "gmv": [1e4, 6e3, 5e3, 1e3, 600.0],
            "click_through": [0.08, 0.06, 0.04, 0.03, 0.0024],
            "ctr_low": [0.073, 0.054, 0.035, 0.026, 0.0014],
            "ctr_high": [0.088, 0.067, 0.046, 0.035, 0.004],
            "click_to_pay": [0.25, 0.2, 0.25, 0.0667, 0.5],
            "ctp_low": [0.21, 0.16, 0.195, 0.037, 0.25],
            "ctp_rank_bound": [0.235, 0.185, 0.225, 0.05, 0.38],
            "ctp_high": [0.29, 0.25, 0.31, 0.12, 0.75],
            "rank": [1, 3, 2, 4, None],
            "too_little_data": [False, False, False, False, True],
            "role": [ROLE_OPEN, None, ROLE_EXPLAIN_EARLIER, ROLE_DROP, None],
            "first_explained_minute": [5.0, 20.0, 95.0, 40.0, None],
        }
    )


def test_order_text_gives_each_role_its_reason() -> None:
    text = pp.order_text(_order(["坚果", "围巾", "保温杯", "样衣", "新品"]))
    assert "**建议顺序**：1. 坚果 → 2. 保温杯 → 3. 围巾 → 4. 样衣" in text
    assert "**开场先上「坚果」**" in text
    assert "点击率最高（8.0%，下限 7.3%）" in text
    assert "**「保温杯」提前讲解**" in text
    assert "一般在开播后第 95 分钟才第一次讲解" in text
    assert "**考虑撤下或换款**：「样衣」" in text
    assert "**数据不足、暂不排名**：「新品」（点击不足 30 次）" in text
    assert "新品" not in text.split("**建议顺序**")[1].split("\n")[0]
    nothing = _order(["a", "b", "c", "d", "e"]).with_columns(
        pl.lit(None, pl.Int64).alias("rank"), pl.lit(True).alias("too_little_data")
    )
    assert "没有点击次数足够（≥30 次）的商品" in pp.order_text(nothing)
    advice = pp.advice_text(
        _effect(["保温杯", "围巾"]), _order(["坚果", "围巾", "保温杯", "样衣", "新品"])
    )
    assert "**开场主推「坚果」**" in advice
    assert "**把讲解时间从「围巾」挪给「保温杯」**" in advice
    assert "**把「保温杯」的讲解往前排**" in advice
    assert "**复查「样衣」**的价格" in advice
    assert advice.splitlines()[-1].startswith("5. ")


def test_data_note_says_what_is_missing() -> None:
    sources = pl.DataFrame(
        {"room_id": [1, 2, 3], "source": ["monitor", "schedule", None]},
        schema={"room_id": pl.Int64, "source": pl.String},
    )
    note = pp.data_note(
        first=date(2026, 11, 20),
        last=date(2026, 11, 26),
        shows=3,
        visits=1000,
        clicks=200,
        missing_times=50,
        sources=sources,
    )
    assert "有 50 次点击没有点击时间（占 25.0%）" in note
    assert "讲解时段：1 场来自实时监控记录，1 场来自沙盒讲解排期。" in note
    assert "另有 1 场没有讲解时段记录" in note
    none = pp.data_note(
        first=date(2026, 11, 20),
        last=date(2026, 11, 26),
        shows=3,
        visits=1000,
        clicks=200,
        missing_times=200,
        sources=sources,
    )
    assert "观众明细没有点击时间（click_time 列）" in none


def test_upstream_titles_are_quoted_as_text() -> None:
    titles = [f"商品{p}" for p in PAYLOADS[:4]] + [LONG]
    allowed = {"p", "strong", "em", "code", "ul", "ol", "li", "blockquote", "br"}
    for markdown in (
        pp.effect_text(_effect(titles[:3])),
        pp.order_text(_order(titles)),
        pp.advice_text(_effect(titles[:3]), _order(titles)),
    ):
        parsed = parse_html(render_nbconvert(markdown))
        assert {tag for tag, _ in parsed.tags} <= allowed, markdown[:300]
        assert all(not attrs for _, attrs in parsed.tags)
        text = "".join(parsed.text)
        assert any(p in text for p in PAYLOADS[:3]), text[:300]
    for table in (
        str(pp.EFFECT_TABLE.render(_effect(titles[:3]))),
        str(pp.ORDER_TABLE.render(pp._order_rows(_order(titles)))),
    ):
        assert "<script>" not in table
        assert "&lt;script&gt;" in table
