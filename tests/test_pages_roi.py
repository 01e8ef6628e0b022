"""The ROI page (livekit.pages.roi): built on a synced sandbox, each section states the numbers the
stored rows and the analysis give; the chart draws the projection's verdicts; the prose, table and
charts it took over from narrative.py and charts/reports.py; parameter mistakes are one Chinese
line; upstream text is shown, never obeyed."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import altair as alt
import polars as pl
import pytest

import livekit
import livekit.charts as charts
from livekit.analysis.roi import (
    NetRoasProjection,
    net_roas_by_day,
    project_net_roas,
    repurchase_by_day,
    roi_summary,
)
from livekit.charts._frames import clip
from livekit.charts.tables import HtmlTable
from livekit.pages import Section
from livekit.pages import roi as rp
from livekit.sandbox.hostile import LONG, PAYLOADS
from livekit.source import Kit
from livekit.text import escape_html, plain_text
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import format_money, format_number, format_percent, format_ratio
from tests.helpers.markup import INVISIBLE, parse_html, render_nbconvert
from tests.helpers.reports import TEST_HOME

CHINA = ZoneInfo("Asia/Shanghai")
MARGIN = 0.45


@pytest.fixture(scope="module")
def kit() -> Kit:
    # the sandbox data the real reports read (synced once, shared): prepare fills what is missing
    return livekit.open("sandbox", home=TEST_HOME)


@pytest.fixture(scope="module")
def page(kit: Kit) -> rp.RoiPage:
    return rp.build(kit, start="last_7_days", gross_margin=MARGIN)


def _visible(markdown: str) -> str:
    """The text ``markdown`` shows, as nbconvert renders it."""
    return " ".join("".join(parse_html(render_nbconvert(markdown)).text).split())


def _stored(kit: Kit, page: rp.RoiPage) -> pl.DataFrame:
    return kit.load("rooms", page.period.first, page.period.last)


def _chart_rows(chart: alt.TopLevelMixin) -> list[dict[str, Any]]:
    """Every row of every dataset of ``chart``'s spec."""
    spec = chart.to_dict()
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


# ---- the sections, against the stored rows -------------------------------------------------------
def test_overview_states_the_periods_totals_and_the_projection(kit: Kit, page: rp.RoiPage) -> None:
    live = _stored(kit, page)
    spend = float(live["stat_cost"].sum())
    gmv = float(live["live_pay_order_gmv_alias"].sum())
    refunds = float(live["live_order_refund_amount_7d"].fill_null(0).sum())
    section = page.overview()
    assert isinstance(section, Section)
    text = section.markdown
    first, last = page.period.first, page.period.last
    assert (last - first).days == 6
    assert f"**{first} 至 {last}** 共 {live.height} 场直播" in text
    assert f"千川消耗 {format_money(spend, compact=True)}" in text
    assert f"直播间成交 {format_money(gmv, compact=True)}" in text
    assert f"截至目前 7 日退款 {format_money(refunds, compact=True)}" in text
    assert f"支付ROI **{format_number(gmv / spend, 2)}**" in text
    assert f"净成交ROI（扣退款）**{format_number((gmv - refunds) / spend, 2)}**" in text
    # the provisional rooms, counted here from their end times
    window = timedelta(days=7)
    as_of = page.projection.as_of
    ends = live["end_time"].to_list()
    provisional = sum(1 for end in ends if end is None or end + window > as_of)
    p = page.projection
    assert p.provisional_rooms == provisional > 0  # last week's windows are open
    assert f"**{provisional} 场**的 7 日退款窗口还没结束" in text
    assert f"目前退款占成交 {format_percent(refunds / gmv)}" in text
    assert f"最终退款约 {format_money(p.refunds_projected, compact=True)}" in text
    assert f"净成交ROI 预计 **{format_number(p.net_roas_projected, 2)}**" in text
    assert f"{format_number(p.net_roas_low, 2)}–{format_number(p.net_roas_high, 2)}" in text
    assert f"保本ROI 为 **{format_number(1 / MARGIN, 2)}**" in text
    assert rp.ROI_VERDICTS[p.verdict] in text
    # the 7-day view: each order once, the summary of the analysis
    so_far = page.so_far
    assert so_far["counted_once"] is True
    assert so_far["rooms_7d"] == live.height
    assert f"截至目前 7日总支付ROI 为 {format_number(so_far['roas_7d'], 2)}" in text
    assert rp.ROI_ATTRIBUTION_NOTE in text
    assert not section.charts


def test_rooms_chart_and_table_show_the_projection(kit: Kit, page: rp.RoiPage) -> None:
    section = page.rooms()
    [chart] = section.charts
    assert isinstance(chart, alt.LayerChart)
    [table] = [p for p in section if isinstance(p, HtmlTable)]
    projected = page.projection.rooms.join(page.by_room.select("room_id", "label"), on="room_id")
    with_spend = projected.filter(pl.col("spend") > 0)
    # the chart: one point per room with spend, its value, interval and colour the analysis's
    points = {r["label"]: r for r in _chart_rows(chart) if "conclusion" in r}
    assert len(points) == with_spend.height
    for room in with_spend.iter_rows(named=True):
        drawn = points[clip(room["label"])]
        assert drawn["value"] == pytest.approx(room["net_roas_projected"])
        assert (drawn["low"], drawn["high"]) == pytest.approx(
            (room["net_roas_low"], room["net_roas_high"])
        )
        assert drawn["conclusion"] == rp.VERDICT_LEGEND[room["verdict"]][0]
        assert drawn["window"] == rp.WINDOW_SHAPES[room["provisional"]][0]
    spec = chart.to_dict()
    assert f"保本ROI {format_number(1 / MARGIN, 2)}" in str(spec)
    # the table: best projected net ROAS first, each room marked by its verdict
    body = str(table)
    order = with_spend.sort("net_roas_projected", descending=True)
    positions = [body.index(escape_html(label)) for label in order["label"]]
    assert positions == sorted(positions)
    for room in order.iter_rows(named=True):
        row = body[body.index(escape_html(room["label"])) :].split("</tr>")[0]
        assert format_ratio(room["net_roas_projected"]) in row
        assert format_money(room["spend"]) in row
        assert rp.ROOM_MARKS[room["verdict"]] in row
        assert ("未结束" if room["provisional"] else "已结束") in row
    assert "按预计净成交ROI 从高到低" in body


def test_trend_marks_the_open_days_and_sums_each_day(kit: Kit, page: rp.RoiPage) -> None:
    live = _stored(kit, page)
    section = page.trend()
    trend, parts = section.charts
    assert isinstance(trend, alt.LayerChart)
    assert isinstance(parts, alt.LayerChart)
    by_day = live.group_by("date").agg(
        (pl.col("live_pay_order_gmv_alias").sum() / pl.col("stat_cost").sum()).alias("roas"),
        pl.col("end_time").max().alias("last_end"),
        pl.col("end_time").null_count().alias("on_air"),
    )
    rows = _chart_rows(trend)
    lines = {(r["day"], r["metric"]): r["value"] for r in rows if "metric" in r}
    shaded = {r["day"] for r in rows if "provisional_rooms" in r}
    as_of = page.projection.as_of
    for day in by_day.iter_rows(named=True):
        label = f"{day['date']:%m-%d}"
        assert lines[(label, "支付ROI")] == pytest.approx(day["roas"])
        still_open = day["on_air"] > 0 or day["last_end"] + timedelta(days=7) > as_of
        assert (label in shaded) == still_open
    daily = net_roas_by_day(page.projection)
    for day in daily.iter_rows(named=True):
        label = f"{day['date']:%m-%d}"
        assert lines[(label, "净成交ROI（预计）")] == pytest.approx(day["net_roas_projected"])
    # the second chart: the two parts of 7-day GMV, from the per-room attribution
    per_day = repurchase_by_day(page.by_room)
    values = sorted(r["value"] for r in _chart_rows(parts) if "part" in r)
    expected = sorted([*per_day["gmv"].to_list(), *per_day["gmv_repurchase"].to_list()])
    assert values == pytest.approx(expected)


def test_losses_judge_open_rooms_by_the_projection(kit: Kit, page: rp.RoiPage) -> None:
    text = page.losses().markdown
    projected = page.projection.rooms.filter(pl.col("spend") > 0)
    losing = projected.filter(pl.col("net_roas_projected") < 1 / MARGIN)
    assert losing.height > 0
    assert f"**{losing.height} 场净成交ROI 低于保本线**" in text
    share = float(losing["spend"].sum()) / float(projected["spend"].sum())
    assert f"占总消耗的 {format_percent(share)}" in text
    assert f"（7 日退款窗口还没结束的 {page.projection.provisional_rooms} 场" in text
    visible = _visible(text)
    worst = losing.sort("net_roas_projected").row(0, named=True)
    label = page.by_room.filter(pl.col("room_id") == worst["room_id"])["label"][0]
    assert (
        f"{plain_text(label)}：消耗 {format_money(worst['spend'], compact=True)}，"
        f"净成交ROI {format_number(worst['net_roas_projected'], 2)}"
    ) in visible
    assert text.endswith(rp.ROI_CAVEAT)


def test_rooms_parameter_narrows_the_report(kit: Kit, page: rp.RoiPage) -> None:
    live = _stored(kit, page)
    chosen = live.sort("room_id").head(2)
    ids = chosen["room_id"].to_list()
    narrow = rp.build(kit, start="last_7_days", gross_margin=MARGIN, rooms=[str(ids[0]), ids[1]])
    assert narrow.by_room["room_id"].sort().to_list() == sorted(ids)
    text = narrow.overview().markdown
    assert "共 2 场直播" in text
    spend = float(chosen["stat_cost"].sum())
    assert f"千川消耗 {format_money(spend, compact=True)}" in text


def test_no_rooms_is_said_plainly(kit: Kit, page: rp.RoiPage) -> None:
    known = set(kit.load("rooms", page.period.first, page.period.last)["room_id"].to_list())
    missing = max(known) + 1
    empty = rp.build(kit, start="last_7_days", gross_margin=MARGIN, rooms=[missing])
    assert empty.by_room.is_empty()
    assert "没有直播场次" in empty.overview().markdown
    assert not empty.rooms().charts
    assert not empty.trend().charts
    assert "没有有千川消耗的场次" in empty.losses().markdown


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"gross_margin": "0.45"}, "毛利率 gross_margin 须为小数"),
        ({"gross_margin": True}, "毛利率 gross_margin 须为小数"),
        ({"gross_margin": 1.5}, "不超过 1"),
        ({"rooms": ["abc"]}, "rooms 须为直播间 room_id"),
        ({"start": "next_week"}, ""),
    ],
)
def test_parameter_mistakes_are_one_chinese_line(
    kit: Kit, params: dict[str, Any], words: str
) -> None:
    with pytest.raises(LivekitError) as caught:
        rp.build(kit, **params)
    message = str(caught.value)
    assert "\n" not in message
    assert words in message
    assert re.search(r"[\u4e00-\u9fff]", message)


# ---- the prose and table by hand (moved from the narrative tests) -----------------------------
FIRST, LAST = date(2026, 11, 20), date(2026, 11, 26)
HAND_MARGIN = 0.4  # break-even ROAS 2.5
AS_OF = datetime(2026, 12, 10, 8, 0, tzinfo=CHINA)  # every window below has closed
TIME = pl.Datetime("us", "Asia/Shanghai")


def _by_room(
    spend: list[float], gmv: list[float], refunds: list[float], rep: list[float]
) -> pl.DataFrame:
    """A roi_by_room-like frame: ratios worked out here, null where there is no spend."""
    n = len(spend)
    starts = [datetime(2026, 11, 20 + i % 7, 19, 30, tzinfo=CHINA) for i in range(n)]

    def ratio(num: float, den: float) -> float | None:
        return num / den if den > 0 else None

    frame = pl.DataFrame(
        {
            "date": [s.date() for s in starts],
            "room_id": list(range(1, n + 1)),
            "aweme_name": [f"账号{i % 2}" for i in range(n)],
            "start_time": starts,
            "end_time": [s + timedelta(hours=2) for s in starts],
            "spend": spend,
            "gmv": gmv,
            "refunds": refunds,
            "gmv_repurchase": rep,
            "gmv_7d": [g + r for g, r in zip(gmv, rep, strict=True)],
            "repurchase_share": [ratio(r, g + r) for g, r in zip(gmv, rep, strict=True)],
            "window_closed": [i % 3 != 0 for i in range(n)],
            "roas": [ratio(g, s) for g, s in zip(gmv, spend, strict=True)],
            "net_roas": [ratio(g - f, s) for g, f, s in zip(gmv, refunds, spend, strict=True)],
            "roas_7d": [ratio(g + r, s) for g, r, s in zip(gmv, rep, spend, strict=True)],
            "breakeven_roas": [1 / HAND_MARGIN] * n,
        },
        schema_overrides={"start_time": TIME, "end_time": TIME},
    )
    return rp.with_room_labels(frame)


def _closed_projection(by_room: pl.DataFrame, margin: float = HAND_MARGIN) -> NetRoasProjection:
    """The projection of ``by_room``'s rooms once every window has closed (no orders needed:
    the refunds are final)."""
    rooms = by_room.select(
        "room_id",
        "date",
        "start_time",
        "aweme_name",
        pl.col("spend").alias("stat_cost"),
        pl.col("gmv").alias("live_pay_order_gmv_alias"),
        pl.col("refunds").alias("live_order_refund_amount_7d"),
        "end_time",
    )
    orders = pl.DataFrame(
        schema={
            "order_id": pl.String,
            "pay_time": TIME,
            "pay_amount": pl.Float64,
            "update_time": TIME,
        }
    )
    items = pl.DataFrame(
        schema={"parent_order_id": pl.String, "room_id": pl.Int64, "refund_status": pl.Int64}
    )
    return project_net_roas(rooms, orders, items, as_of=AS_OF, gross_margin=margin)


@pytest.fixture
def rooms() -> pl.DataFrame:
    return _by_room(
        spend=[1000.0, 2000.0, 500.0, 4000.0, 0.0, 3000.0],
        gmv=[3000.0, 3600.0, 2000.0, 6000.0, 800.0, 7800.0],
        refunds=[100.0, 200.0, 0.0, 400.0, 0.0, 300.0],
        rep=[50.0, 1800.0, 0.0, 100.0, 0.0, 900.0],
    )


def _shown(markdown: str) -> str:
    """``markdown`` with the escapes of upstream text undone (what a reader sees of it)."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown))


def _labels(text: str) -> list[str]:
    return re.findall(r"^- (\d\d-\d\d \d\d:\d\d 账号\d)：", _shown(text), flags=re.MULTILINE)


def test_room_labels_are_start_time_and_account(rooms: pl.DataFrame) -> None:
    assert rooms["label"][0] == "11-20 19:30 账号0"
    assert rooms["label"][3] == "11-23 19:30 账号1"


def test_overview_states_totals_and_the_final_verdict(rooms: pl.DataFrame) -> None:
    closed = roi_summary(rooms, gross_margin=HAND_MARGIN).row(0, named=True)
    so_far = roi_summary(rooms, gross_margin=HAND_MARGIN, include_open_windows=True).row(
        0, named=True
    )
    p = _closed_projection(rooms)
    assert p.provisional_rooms == 0
    text = rp.roi_overview(closed, so_far, p, gross_margin=HAND_MARGIN, first=FIRST, last=LAST)
    spend, gmv = sum([1000, 2000, 500, 4000, 0, 3000]), sum([3000, 3600, 2000, 6000, 800, 7800])
    net = (gmv - 1000) / spend
    assert f"共 {rooms.height} 场直播" in text
    assert f"千川消耗 ¥{spend / 1e4:,.2f}万" in text
    assert f"支付ROI **{gmv / spend:.2f}**" in text
    assert f"净成交ROI（扣退款）**{net:.2f}**" in text
    assert "保本ROI 为 **2.50**" in text
    # every window closed: the verdict is on the final value, with no interval to speak of
    assert ("净成交ROI**高于保本线**" if net >= 2.5 else "净成交ROI**低于保本线**") in text
    assert "区间" not in text
    assert "还没结束（" not in text
    closed_rooms = rooms.filter(pl.col("window_closed"))
    assert f"7 日窗口已结束的 {closed_rooms.height} 场" in text
    roas_7d = float(closed_rooms["gmv_7d"].sum()) / float(closed_rooms["spend"].sum())
    assert f"7日总支付ROI **{roas_7d:.2f}**" in text
    assert "算上 7 日窗口还没结束的场次" in text  # two rooms' repurchase windows are open


def test_overview_says_when_ads_lose_money() -> None:
    losing = _by_room([1000.0], [1500.0], [0.0], [0.0])
    row = roi_summary(losing, gross_margin=HAND_MARGIN).row(0, named=True)
    p = _closed_projection(losing)
    text = rp.roi_overview(row, row, p, gross_margin=HAND_MARGIN, first=FIRST, last=LAST)
    assert p.verdict == "below"
    assert "净成交ROI**低于保本线**" in text
    assert "算上 7 日窗口还没结束" not in text


def test_ranking_is_by_net_roas_and_marks_the_losers(rooms: pl.DataFrame) -> None:
    p = _closed_projection(rooms)
    frame = rp.ranking_rows(rooms, p)
    with_spend = rooms.filter(pl.col("spend") > 0)
    assert frame.height == with_spend.height  # the room without spend has no ROAS
    expected = with_spend.sort("net_roas", descending=True)["label"].to_list()
    assert frame["label"].to_list() == expected
    for row in frame.iter_rows(named=True):
        assert row["net_roas_projected"] == pytest.approx(row["net_roas"])  # final values
        assert row["mark"] == ("保本" if row["net_roas"] >= 2.5 else "亏损")
        assert row["refund_window"] == "已结束"
    spec = rp.ranking_table(p.level)
    assert [c.name for c in spec.columns][:3] == ["label", "spend", "gmv"]
    assert dict((c.name, c.format) for c in spec.columns)["spend"] == "money"
    assert spec.caption is not None
    assert "90% 区间" in spec.caption


def test_loss_advice_names_the_worst_room_first(rooms: pl.DataFrame) -> None:
    text = rp.roi_loss_advice(rooms, _closed_projection(rooms), gross_margin=HAND_MARGIN)
    losing = rooms.filter(pl.col("net_roas") < 2.5).sort("net_roas")
    assert losing.height == 2  # worked out: 3400/2000 = 1.7 and 5600/4000 = 1.4
    worst = rooms.filter(pl.col("net_roas") == pl.col("net_roas").min())["label"][0]
    assert _labels(text)[0] == worst
    assert _labels(text) == losing["label"].to_list()
    assert f"**{losing.height} 场净成交ROI 低于保本线**" in text
    share = float(losing["spend"].sum()) / float(rooms["spend"].sum())
    assert f"占总消耗的 {share * 100:.1f}%" in text
    # the 2,000 room: (3600 + 1800) / 2000 = 2.7 ≥ 2.5, rescued by repurchases
    rescued = losing.filter(pl.col("roas_7d") >= 2.5)
    assert rescued.height == 1
    assert (
        f"{rescued['label'][0]}：消耗 ¥2,000.00，净成交ROI 1.70（算上 7 天复购可回本）"
        in _shown(text)
    )
    assert f"3. {rescued.height} 场算上买家 7 天内的复购可以回本" in text
    assert "另有 1 场没有千川消耗" in text
    assert "按预计的净成交ROI 计" not in text  # no window open
    assert text.endswith(rp.ROI_CAVEAT)


def test_loss_advice_lists_at_most_ten_rooms() -> None:
    many = _by_room([100.0 + i for i in range(14)], [50.0] * 14, [0.0] * 14, [0.0] * 14)
    text = rp.roi_loss_advice(many, _closed_projection(many), gross_margin=HAND_MARGIN)
    assert "**14 场净成交ROI 低于保本线**" in text
    assert len(_labels(text)) == 10
    worst = many.sort("net_roas")["label"][0]
    assert _labels(text)[0] == worst


def test_loss_advice_without_losses_or_margin(rooms: pl.DataFrame) -> None:
    winners = rooms.filter(pl.col("net_roas") >= 2.5)
    text = rp.roi_loss_advice(winners, _closed_projection(winners), gross_margin=HAND_MARGIN)
    assert "所有有消耗的场次净成交ROI 都不低于保本线 2.50" in text
    assert "另有" not in text
    no_margin = rp.roi_loss_advice(rooms, _closed_projection(rooms, 0.0), gross_margin=0.0)
    assert "无法计算保本ROI" in no_margin


# ---- the charts draw the analysis's decision ------------------------------------------------------
def _chart_frame(verdicts: list[str], values: list[float]) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "label": [f"场次{i}" for i in range(n)],
            "net_roas_projected": values,
            "net_roas_low": [v - 0.5 for v in values],
            "net_roas_high": [v + 0.5 for v in values],
            "net_roas": [v + 0.1 for v in values],
            "provisional": [i % 2 == 0 for i in range(n)],
            "verdict": verdicts,
        }
    )


def test_roi_chart_colours_by_the_verdict_not_by_the_position() -> None:
    # 2.6 sits above break-even 2.5, but its interval straddles it: the analysis says 待定
    frame = _chart_frame(["cannot_tell", "below", "above"], [2.6, 1.5, 3.5])
    chart = rp.roi_chart(frame, reference=2.5)
    points = {r["label"]: r for r in _chart_rows(chart) if "conclusion" in r}
    assert points["场次0"]["conclusion"] == rp.VERDICT_LEGEND["cannot_tell"][0]
    assert points["场次1"]["conclusion"] == rp.VERDICT_LEGEND["below"][0]
    assert points["场次0"]["window"] == rp.WINDOW_SHAPES[True][0]
    assert points["场次1"]["window"] == rp.WINDOW_SHAPES[False][0]
    spec = str(chart.to_dict())
    assert "保本ROI 2.50" in spec
    with pytest.raises(ValueError, match="verdicts"):
        rp.roi_chart(_chart_frame(["maybe"], [2.0]), reference=2.5)


def test_trend_chart_without_open_days_has_no_shading() -> None:
    daily = pl.DataFrame(
        {
            "date": [date(2026, 11, 1), date(2026, 11, 2)],
            "provisional_rooms": [0, 0],
            "roas": [2.5, 2.7],
            "net_roas": [2.3, 2.4],
            "net_roas_projected": [2.3, 2.4],
        }
    )
    chart = rp.roi_trend_chart(daily, reference=2.2)
    assert not [r for r in _chart_rows(chart) if "provisional_rooms" in r]
    assert len([r for r in _chart_rows(chart) if "metric" in r]) == 6


# ---- upstream text is data ------------------------------------------------------------------------
MARKUP = {"p", "strong", "ol", "ul", "li", "blockquote"}  # what the sentences themselves use


@pytest.mark.parametrize("index", range(len(PAYLOADS) + 1))
def test_upstream_text_is_shown_not_obeyed(index: int) -> None:
    payload = PAYLOADS[index] if index < len(PAYLOADS) else LONG
    room = _by_room([1000.0], [1000.0], [0.0], [0.0]).with_columns(
        label=pl.lit("11-20 19:30 悦好生活" + payload)
    )
    p = _closed_projection(room)
    text = rp.roi_loss_advice(room, p, gross_margin=HAND_MARGIN)
    parsed = parse_html(render_nbconvert(text))
    assert all(not attrs for _, attrs in parsed.tags), parsed.tags
    assert {tag for tag, _ in parsed.tags} <= MARKUP
    visible = "".join(parsed.text)
    assert not INVISIBLE.search(visible)
    assert plain_text("11-20 19:30 悦好生活" + payload) in visible
    table = str(charts.table(rp.ranking_rows(room, p), rp.ranking_table(p.level)))
    assert escape_html("11-20 19:30 悦好生活" + payload) in table
    labels = {r["label"] for r in _chart_rows(rp.roi_chart(rp.ranking_rows(room, p)))}
    assert all(not INVISIBLE.search(label) for label in labels)
