"""The dwell_time page: built on a sandbox kit, each section states the analysis's numbers.

The page is built once on a fresh sandbox home (the kit syncs yesterday in a subprocess, as the
notebook does); the figures its prose states are checked against an independent computation from
the stored rows (statsmodels on the raw visits, polars counts), not against strings of the output.
The prose functions are also tested on small hand-made results (moved here from the tests of
``livekit.analysis.narrative``), and upstream text (titles, source codes) is shown, never obeyed.
"""

from __future__ import annotations

import html
import re
import warnings
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import polars as pl
import pytest
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.proportion import proportion_confint

import livekit
from livekit.analysis import dwell as dw
from livekit.analysis.dwell import dwell_conversion
from livekit.analysis.products import rank_products, with_titles
from livekit.pages import Section
from livekit.pages import dwell_time as dt
from livekit.sandbox.hostile import LONG, PAYLOADS
from livekit.source import Kit
from livekit.text import plain_text
from livekit.vocab.errors import LivekitError
from livekit.vocab.labels import TRAFFIC_SOURCE_LABELS
from livekit.vocab.units import format_count, format_number, format_percent
from tests.helpers.markup import INVISIBLE

FIRST, LAST = date(2026, 11, 20), date(2026, 11, 26)


# ---- the page on a sandbox kit ----------------------------------------------------------------
@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return livekit.open("sandbox", home=tmp_path_factory.mktemp("page-dwell") / "home")


@pytest.fixture(scope="module")
def page(kit: Kit) -> dt.DwellTimePage:
    return dt.build(kit, start="yesterday")


@pytest.fixture(scope="module")
def raw(kit: Kit, page: dt.DwellTimePage) -> dict[str, pl.DataFrame]:
    """The stored rows of the page's period, and the visits worked out here (not by livekit)."""
    span = page.period
    viewers = kit.load("viewers", span.first, span.last)
    rooms = kit.load("rooms", span.first, span.last)
    visits = viewers.join(rooms.select("room_id", "end_time"), on="room_id", how="left").select(
        (pl.col("leave_time") - pl.col("enter_time")).dt.total_seconds(fractional=True).alias("t"),
        (pl.col("leave_time") < pl.col("end_time")).fill_null(False).alias("left"),
        pl.col("traffic_source"),
        pl.col("paid"),
    )
    products = kit.load("room_products", span.first, span.last)
    return {"viewers": viewers, "rooms": rooms, "visits": visits, "products": products}


def _shown(markdown: str) -> str:
    """``markdown`` with the escapes of upstream text undone (what a reader sees of it)."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown))


def _km(visits: pl.DataFrame) -> SurvfuncRight:
    return SurvfuncRight(visits["t"].to_numpy(), visits["left"].to_numpy().astype(float))


def _past(sf: SurvfuncRight, seconds: float) -> float:
    times, probs = np.asarray(sf.surv_times), np.asarray(sf.surv_prob)
    before = probs[times <= seconds]
    return float(before[-1]) if before.size else 1.0


def test_the_page_is_one_period_analysed_once(page: dt.DwellTimePage) -> None:
    assert page.period.days == 1
    assert page.period.note is None  # a sandbox kit fills the period before reading it
    assert page.rooms == ()
    sections = [page.overview(), page.sources(), page.conversion(), page.products()]
    for part in [*sections, page.advice()]:
        assert isinstance(part, Section)
        assert part.markdown
    for part in sections:
        assert part.charts, part
        assert all(isinstance(c, alt.TopLevelMixin) for c in part.charts)
        for chart in part.charts:
            chart.to_dict()  # a valid Vega-Lite spec


def test_overview_states_visits_censoring_median_and_shares(
    page: dt.DwellTimePage, raw: dict[str, pl.DataFrame]
) -> None:
    visits = raw["visits"]
    sf = _km(visits)
    text = page.overview().markdown
    n = visits.height
    censored = int((~visits["left"]).sum())
    assert f"共 {format_count(n)} 次访问（{format_percent(censored / n)} 一直看到下播" in text
    assert f"{page.period.first} 至 {page.period.last}" in text
    median = float(sf.quantile(0.5))
    assert f"一半的访问在 **{format_number(median, 0)} 秒**内离开" in text
    assert f"停留超过 1 分钟的占 **{format_percent(_past(sf, 60))}**" in text
    assert f"超过 3 分钟的占 {format_percent(_past(sf, 180))}" in text
    assert f"超过 10 分钟的占 {format_percent(_past(sf, 600))}" in text


def test_sources_name_the_longest_and_shortest_source_by_their_labels(
    page: dt.DwellTimePage, raw: dict[str, pl.DataFrame]
) -> None:
    visits = raw["visits"].with_columns(pl.col("traffic_source").fill_null(dw.UNKNOWN_SOURCE))
    summary = page.by_source.summary
    top = (
        visits.group_by("traffic_source")
        .len()
        .sort(["len", "traffic_source"], descending=[True, False])
        .head(dt.TOP_SOURCES)["traffic_source"]
        .to_list()
    )
    assert set(summary["group"]) <= {*top, dw.OTHER_GROUP}
    medians = {
        code: float(_km(visits.filter(pl.col("traffic_source") == code)).quantile(0.5))
        for code in top
    }
    text = page.sources().markdown
    best, worst = summary["group"][0], summary["group"][-1]
    assert f"留存最好的是「{dt.source_label(best)}」" in text
    assert f"最差的是「{dt.source_label(worst)}」" in text
    if worst in medians:
        assert f"（{format_number(medians[worst], 0)} 秒）" in text
    p = page.by_source.p_value
    assert p is not None
    assert ("差异显著" in text) == (p < 0.05)
    table = str(page.sources().parts[-1])
    for code, visits_n in zip(summary["group"], summary["visits"], strict=True):
        label = TRAFFIC_SOURCE_LABELS.get(code, "其他来源" if code == dw.OTHER_GROUP else code)
        assert f">{html.escape(label)}</td>" in table
        assert f">{format_count(visits_n)}</td>" in table
    # the chart draws the same groups, by their Chinese names
    drawn = set(page.by_source.curves["group"].unique().to_list())
    assert {dt.source_label(g) for g in drawn} == {dt.source_label(g) for g in summary["group"]}


def test_conversion_states_both_rates_and_the_analysis_risk_ratio(
    page: dt.DwellTimePage, raw: dict[str, pl.DataFrame]
) -> None:
    visits = raw["visits"]
    long = visits.filter(pl.col("t") > 180)
    short = visits.filter(pl.col("t") <= 180)
    rate_long, rate_short = long["paid"].mean(), short["paid"].mean()
    assert isinstance(rate_long, float)
    assert isinstance(rate_short, float)
    section = page.conversion()
    text = section.markdown
    assert f"停留超过 3 分钟的访问，成交率 **{format_percent(rate_long, 2)}**" in text
    assert f"不超过 3 分钟的，成交率 {format_percent(rate_short, 2)}" in text
    rr = rate_long / rate_short
    assert f"前者是后者的 **{rr:.2f} 倍**" in text
    low, high = page.dwell.risk_ratio_ci
    assert f"（95% 区间 {low:.2f}–{high:.2f}）" in text
    assert "这是相关，不是因果" in text
    # the chart: one row per bucket, labelled, and the overall rate as the reference line
    spec = section.charts[0].to_dict()
    assert "≤1分钟" in str(spec)
    overall = visits["paid"].cast(pl.Float64).mean()
    assert isinstance(overall, float)
    assert f"整体 {format_percent(overall, 2)}" in str(spec)


def test_products_name_the_best_lower_bound_from_the_raw_clicks(
    page: dt.DwellTimePage, raw: dict[str, pl.DataFrame]
) -> None:
    clicks = (
        raw["viewers"]
        .filter(pl.col("clicked_product_id").is_not_null())
        .group_by("clicked_product_id")
        .agg(pl.len().alias("n"), pl.col("paid").sum().alias("x"))
        .filter(pl.col("n") >= dt.MIN_CLICKS)
    )
    low = {
        r["clicked_product_id"]: proportion_confint(r["x"], r["n"], method="wilson")[0]
        for r in clicks.iter_rows(named=True)
    }
    section = page.products()
    text = section.markdown
    if not low:
        assert "暂不排名" in text
        return
    best = max(low, key=low.__getitem__)
    titles = raw["products"].filter(pl.col("productId") == best)["title"].drop_nulls()
    title = titles[0] if titles.len() else str(best)
    assert _shown(text).startswith(f"**最值得提前讲解的是「{plain_text(title)}」**")
    row = clicks.filter(pl.col("clicked_product_id") == best).row(0, named=True)
    assert f"点击 {format_count(row['n'])} 次、成交 {format_count(row['x'])} 单" in text
    assert f"保守估计（下限）也有 {format_percent(low[best])}" in text
    table = str(section.parts[-1])
    assert table.count("<tr>") == 1 + min(dt.TABLE_ROWS, page.ranked.height)
    advice = _shown(page.advice().markdown)
    assert f"**把「{plain_text(title)}」的讲解往前排**" in advice


def test_advice_names_the_source_that_leaves_soonest(page: dt.DwellTimePage) -> None:
    worst = page.by_source.worst
    assert worst is not None
    advice = _shown(page.advice().markdown)
    assert f"**承接「{dt.source_label(worst['group'])}」的流量**" in advice
    assert f"**前 {format_number(page.overall.median, 0)} 秒决定一半观众的去留**" in advice


def test_rooms_keep_only_those_shows(kit: Kit, page: dt.DwellTimePage) -> None:
    viewers = kit.load("viewers", page.period.first, page.period.last)
    room = viewers["room_id"][0]
    one = dt.build(kit, start="yesterday", rooms=[str(room)])
    assert one.rooms == (room,)
    assert one.overall.visits == viewers.filter(pl.col("room_id") == room).height
    assert one.dwell.visits == one.overall.visits


def _statsmodels_warning() -> None:
    warnings.warn_explicit(
        "divide by zero encountered in log",
        RuntimeWarning,
        "survfunc.py",
        1,
        module="statsmodels.duration.survfunc",
    )


def test_build_silences_statsmodels_runtime_warnings_only_while_it_runs(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook's global filter became a scoped one: statsmodels' RuntimeWarnings raised
    during the analysis are not shown, and the filters are as before once build returns."""

    def noisy(*args: Any, **kwargs: Any) -> dw.Retention:
        _statsmodels_warning()
        return dw.retention(*args, **kwargs)

    monkeypatch.setattr(dt, "retention", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        dt.build(kit, start="yesterday")
        assert warnings.filters == before
        assert caught == []
        _statsmodels_warning()  # outside build: shown as usual
    assert [w.category for w in caught] == [RuntimeWarning]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"rooms": ["abc"]}, "rooms 须为直播间 room_id"),
        ({"rooms": [1.5]}, "rooms 须为直播间 room_id"),
        ({"threshold_seconds": -5}, "threshold_seconds 须为正数"),
        ({"threshold_seconds": "3分钟"}, "threshold_seconds 须为正数"),
    ],
)
def test_parameter_mistakes_are_one_chinese_line(
    tmp_path: Path, options: dict[str, Any], words: str
) -> None:
    kit = livekit.open("live", home=tmp_path / "home")
    with pytest.raises(LivekitError, match=words) as caught:
        dt.build(kit, start="yesterday", **options)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "home" / "store").exists()  # checked before anything is read


def test_no_viewer_export_says_how_to_get_one(tmp_path: Path, kit: Kit) -> None:
    with pytest.raises(LivekitError, match="livekit import viewers"):
        dt.build(livekit.open("live", home=tmp_path / "home"), start="yesterday")
    with pytest.raises(LivekitError, match="所选直播间没有观众明细"):
        dt.build(kit, start="yesterday", rooms=[1])


# ---- the prose on hand-made results (moved from the narrative's tests) ----------------------------
def _visits(groups: dict[str, list[float]], censored_after: float = 10**9) -> pl.DataFrame:
    rows = [
        {"source": name, "dwell": float(t), "left": t < censored_after}
        for name, times in groups.items()
        for t in times
    ]
    return pl.DataFrame(rows)


def test_overview_text_reports_median_and_shares() -> None:
    # no censoring before 600 s, so Kaplan-Meier is the plain share of longer visits
    times = [10.0, 20.0, 30.0, 45.0, 70.0, 100.0, 200.0, 400.0, 700.0, 900.0]
    visits = _visits({"homepage_hot": times}, censored_after=650)
    ret = dw.retention(visits["dwell"], visits["left"])
    text = dt.overview_text(ret, first=FIRST, last=LAST)
    share = {s: sum(t > s for t in times) / len(times) for s in (60, 180, 600)}
    assert f"共 {len(times)} 次访问（20.0% 一直看到下播" in text
    # median: the first time at which fewer than half are still watching
    median = next(t for t in sorted(times) if sum(x > t for x in times) / len(times) < 0.5)
    assert f"一半的访问在 **{median:.0f} 秒**内离开" in text
    assert f"超过 1 分钟的占 **{share[60] * 100:.1f}%**" in text
    assert f"超过 3 分钟的占 {share[180] * 100:.1f}%" in text
    assert f"超过 10 分钟的占 {share[600] * 100:.1f}%" in text


def test_source_summary_names_the_best_and_worst_source() -> None:
    rng = np.random.default_rng(5)
    scales = {
        "homepage_follow": 300.0,
        "homepage_hot": 40.0,
        "live_pc_qian_chuan": 20.0,
        "general_search": 120.0,
    }
    visits = _visits({k: rng.exponential(v, 400).round(1).tolist() for k, v in scales.items()})
    groups = dw.retention_by_group(visits, top=5)
    medians = {
        k: float(np.sort(visits.filter(pl.col("source") == k)["dwell"].to_numpy())[200])
        for k in scales
    }  # 400 uncensored visits: S drops below 0.5 at the 201st shortest
    best, worst = max(medians, key=medians.__getitem__), min(medians, key=medians.__getitem__)
    text = dt.source_summary(groups)
    best_label, worst_label = TRAFFIC_SOURCE_LABELS[best], TRAFFIC_SOURCE_LABELS[worst]
    assert f"留存最好的是「{best_label}」（一半的访问留到 {medians[best]:,.0f} 秒）" in text
    assert f"最差的是「{worst_label}」（{medians[worst]:,.0f} 秒）" in text
    assert "差异显著（对数秩检验 p < 0.001）" in text
    table = str(dt.source_table(groups))
    assert table.count(">400</td>") == 4
    assert table.index(best_label) < table.index(worst_label)
    no_products = rank_products(
        pl.DataFrame(schema={"product_id": pl.Int64, "clicks": pl.Int64, "paid": pl.Int64})
    ).with_columns(title=pl.lit(None, pl.String))
    advice = dt.advice_text(dw.retention(visits["dwell"], visits["left"]), groups, no_products)
    assert f"**承接「{worst_label}」的流量**" in advice


def test_other_and_unknown_groups_have_chinese_names() -> None:
    sizes = {"a": 60, "b": 50, "c": 40, "d": 30, dw.UNKNOWN_SOURCE: 20, "f": 10, "g": 5}
    visits = _visits({k: [float(10 + i) for i in range(n)] for k, n in sizes.items()})
    table = str(dt.source_table(dw.retention_by_group(visits, top=5)))
    assert ">其他来源</td>" in table
    assert ">未知</td>" in table
    assert ">a</td>" in table  # a code without a name is shown as itself


def test_similar_sources_are_not_called_different() -> None:
    rng = np.random.default_rng(8)
    visits = _visits({k: rng.exponential(60.0, 300).tolist() for k in ("关注页", "推荐页")})
    text = dt.source_summary(dw.retention_by_group(visits))
    assert "差异不显著" in text
    one = dw.retention_by_group(_visits({"homepage_follow": [10.0, 20.0, 30.0]}))
    assert one.p_value is None
    assert dt.source_summary(one) == (
        "只有「关注页」一个来源（一半的访问留到 20 秒），无法在来源之间比较。"
    )


def _viewers(long_paid: int, long_n: int, short_paid: int, short_n: int) -> pl.DataFrame:
    from datetime import datetime, timedelta

    t0 = datetime(2026, 11, 20, 20, 0)
    rows = [(300, i < long_paid) for i in range(long_n)] + [
        (30, i < short_paid) for i in range(short_n)
    ]
    return pl.DataFrame(
        {
            "enter_time": [t0] * len(rows),
            "leave_time": [t0 + timedelta(seconds=s) for s, _ in rows],
            "paid": [p for _, p in rows],
        }
    )


def test_conversion_summary_states_both_rates_and_the_ratio() -> None:
    result = dwell_conversion(_viewers(60, 1000, 20, 1000), threshold_s=180)
    text = dt.conversion_summary(result)
    assert "停留超过 3 分钟的访问，成交率 **6.00%**" in text
    assert "不超过 3 分钟的，成交率 2.00%" in text
    assert "前者是后者的 **3.00 倍**" in text
    assert "也就是高出约 200%" in text
    # the caveat quotes the report's own threshold and gap, not a fixed figure
    assert "不能据此断定“把观众留过 3 分钟就能多卖 200%”" in text
    same = dt.conversion_summary(dwell_conversion(_viewers(20, 1000, 20, 1000)))
    assert "区间包含 1，看不出明显差别" in same
    assert "不能据此断定延长停留本身会改变成交" in same  # RR = 1: no gap to quote
    assert "多卖" not in same
    two_minutes = dt.conversion_summary(
        dwell_conversion(_viewers(60, 1000, 20, 1000), threshold_s=120)
    )
    assert "停留超过 2 分钟的访问" in two_minutes
    for error, data in [
        ("empty_arm", _viewers(0, 0, 5, 100)),
        ("zero_baseline", _viewers(5, 100, 0, 100)),
        ("zero_events", _viewers(0, 100, 5, 100)),
    ]:
        result = dwell_conversion(data)
        assert result.error == error
        text = dt.conversion_summary(result)
        assert text.startswith("无法比较：")
        assert "\n" not in text


def test_conversion_chart_labels_buckets_from_their_bounds() -> None:
    assert [
        dt.bucket_label(lo, hi)
        for lo, hi in [(0, 60), (60, 180), (180, 600), (600, 1800), (1800, None)]
    ] == ["≤1分钟", "1分钟–3分钟", "3分钟–10分钟", "10分钟–30分钟", ">30分钟"]
    assert dt.bucket_label(0, 45) == "≤45秒"
    result = dwell_conversion(_viewers(60, 1000, 20, 1000))
    chart = dt.dwell_conversion_chart(result.by_bucket, reference=result.overall_rate)
    assert isinstance(chart, alt.LayerChart)
    assert "整体 4.00%" in str(chart.to_dict())


@pytest.fixture
def ranked() -> pl.DataFrame:
    conversions = pl.DataFrame(
        {
            "product_id": [11, 12, 13, 14, 15],
            "clicks": [400, 120, 900, 8, 50],
            "paid": [80, 30, 90, 6, 4],
            "gmv": [8000.0, 3000.0, 9000.0, 600.0, 400.0],
        }
    )
    room_products = pl.DataFrame(
        {"productId": [11, 12, 13, 14], "title": ["保温杯", "纯棉T恤", "抽纸 24包", "香薰蜡烛"]}
    )
    return with_titles(rank_products(conversions, min_trials=30), room_products)


def test_product_pick_names_the_best_lower_bound(ranked: pl.DataFrame) -> None:
    rows = {11: (80, 400), 12: (30, 120), 13: (90, 900), 15: (4, 50)}  # ≥ 30 clicks
    low = {k: proportion_confint(s, n, method="wilson")[0] for k, (s, n) in rows.items()}
    best = max(low, key=low.__getitem__)
    assert best == 12  # 30/120 beats 80/400 on the lower bound, and is not the most clicked
    title = ranked.filter(pl.col("product_id") == best)["title"][0]
    text = dt.product_pick(ranked)
    assert text.startswith(f"**最值得提前讲解的是「{title}」**")
    s, n = rows[best]
    assert f"点击 {n} 次、成交 {s} 单，点击后成交率 {s / n * 100:.1f}%" in text
    assert f"保守估计（下限）也有 {low[best] * 100:.1f}%" in text
    # the most clicked (抽纸, 10%) is clearly worse than the pick
    assert (
        "目前点击最多的是「抽纸 24包」（点击后成交率 10.0%）：它吸引点击，但成交明显不如前者"
        in (_shown(text))
    )
    # 香薰蜡烛: 6/8 is the best raw rate but too few clicks to rank
    assert "「香薰蜡烛」的原始成交率最高（6/8），但点击太少" in text
    advice = dt.advice_text(
        dw.retention([10.0, 20.0], [True, True]),
        dw.retention_by_group(_visits({"homepage_follow": [10.0]})),
        ranked,
    )
    assert f"**把「{title}」的讲解往前排**" in advice
    assert re.findall(r"^(\d)\. ", advice, flags=re.MULTILINE) == ["1", "2", "3"]
    chart = dt.product_rank_chart(ranked, top=2)
    assert isinstance(chart, alt.LayerChart)
    assert "1. 纯棉T恤" in str(chart.to_dict())


def test_product_table_shows_the_first_rows_ranked_first(ranked: pl.DataFrame) -> None:
    table = str(dt.product_table(ranked, rows=3))
    assert table.count("<tr>") == 4  # the header and three products
    first = ranked.row(0, named=True)
    assert f">{format_percent(first['ci_low'], 2)}</td>" in table
    assert ">¥3,000.00</td>" in table  # money has one format
    assert ">15</td>" not in table  # the unranked ones come last


def test_product_pick_without_enough_clicks(ranked: pl.DataFrame) -> None:
    nothing = ranked.with_columns(rank=pl.lit(None, pl.Int64))
    assert dt.product_pick(nothing, min_clicks=30) == "没有点击次数足够（≥30 次）的商品，暂不排名。"
    assert dt.product_rank_chart(nothing) is None


# ---- upstream text is data --------------------------------------------------------------------
MARKUP = {"p", "strong", "ol", "ul", "li", "blockquote"}  # what the sentences themselves use


def _rendered(markdown: str) -> tuple[set[str], str]:
    """The tags (none may carry an attribute) and the visible text of ``markdown`` as nbconvert
    renders it."""
    from tests.helpers.markup import parse_html as parse
    from tests.helpers.markup import render_nbconvert

    parsed = parse(render_nbconvert(markdown))
    assert all(not attrs for _, attrs in parsed.tags), parsed.tags
    return {tag for tag, _ in parsed.tags}, "".join(parsed.text)


@pytest.mark.parametrize("index", range(len(PAYLOADS) + 1))
def test_upstream_text_is_shown_not_obeyed(index: int) -> None:
    payload = PAYLOADS[index] if index < len(PAYLOADS) else LONG
    title = "玻尿酸补水面膜" + payload
    conversions = pl.DataFrame(
        {"product_id": [11, 12], "clicks": [400, 120], "paid": [80, 30], "gmv": [1.0, 2.0]}
    )
    products = pl.DataFrame({"productId": [11, 12], "title": [title, "纯棉T恤" + payload]})
    ranked = with_titles(rank_products(conversions, min_trials=30), products)
    source = "new_source" + payload  # a code without a Chinese name is shown as itself
    groups = dw.retention_by_group(_visits({source: [10.0] * 50, "general_search": [100.0] * 50}))
    texts = [
        dt.product_pick(ranked),
        dt.advice_text(dw.retention([10.0, 20.0], [True, True]), groups, ranked),
        dt.source_summary(groups),
    ]
    for text in texts:
        tags, visible = _rendered(text)
        assert tags <= MARKUP, (tags, text[:300])
        assert not INVISIBLE.search(visible)
    assert plain_text(title) in _rendered(texts[0])[1]
    assert plain_text(source) in _rendered(texts[2])[1]
    # tables escape every cell: the payload is text, never markup
    for table in (str(dt.product_table(ranked)), str(dt.source_table(groups))):
        assert "<script" not in table
        assert "<img" not in table
        assert "<b>" not in table


def test_a_page_keeps_its_results_frozen(page: dt.DwellTimePage) -> None:
    with pytest.raises(AttributeError):
        page.min_clicks = 1  # type: ignore[misc]
    assert replace(page, min_clicks=5).min_clicks == 5
    assert page.min_clicks == dt.MIN_CLICKS
