"""The custom report's page (livekit.pages.custom_report): built on a sandbox kit, its prose
states the analysis's numbers, its charts are altair charts, its tables keep upstream text as
text, and parameter mistakes stop with one Chinese line."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import altair as alt
import polars as pl
import pytest

import livekit
from livekit.analysis.custom import custom_summary
from livekit.pages import Period, custom_report
from livekit.source import Coverage, Kit
from livekit.vocab.errors import LivekitError
from livekit.vocab.labels import label_of
from livekit.vocab.metrics import metric, metrics_of
from livekit.vocab.tz import CHINA_TZ
from livekit.vocab.units import format_value
from tests.helpers.markup import INVISIBLE, parse_html

CHOSEN = ["gmv", "spend", "roas", "gpm", "click_conversion_rate", "uv_value"]
TODAY = datetime.now(CHINA_TZ).date()
FIRST, LAST = TODAY - timedelta(days=10), TODAY - timedelta(days=8)  # three closed days


def _visible(html: object) -> str:
    return "".join(parse_html(str(html)).text)


# ---- on a sandbox kit ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    """A sandbox kit whose store holds the three days (prepared once: a subprocess sync)."""
    kit = livekit.open("sandbox", home=tmp_path_factory.mktemp("page-custom") / "home")
    kit.prepare(FIRST, LAST, datasets=("rooms", "room_analysis"))
    return kit


@pytest.fixture(scope="module")
def page(kit: Kit) -> custom_report.CustomReportPage:
    return custom_report.build(
        kit, start=FIRST, end=LAST, metrics=CHOSEN, dimensions=["date", "aweme_name"]
    )


def test_overview_states_the_period_rooms_and_totals(
    kit: Kit, page: custom_report.CustomReportPage
) -> None:
    rooms = kit.load("rooms", FIRST, LAST)
    t1 = kit.load("room_analysis", FIRST, LAST)
    assert rooms.height > 0
    overview = page.overview()
    prose = overview.markdown
    assert page.period.note is None  # the sandbox kit filled the period
    assert f"**{FIRST} 至 {LAST}**" in prose
    assert f"共 {rooms['room_id'].n_unique()} 场直播" in prose
    groups = rooms.select("date", "aweme_name").unique().height
    assert f"共 {groups} 行" in prose
    assert "日期、抖音号" in prose

    tables = [p for p in overview if not isinstance(p, str)]
    assert len(tables) == 2  # by the dimensions, then the totals
    totals = _visible(tables[1])
    # the totals computed here, by hand: sums first, then ratios
    gmv = float(rooms["live_pay_order_gmv_alias"].sum())
    spend = float(rooms["stat_cost"].sum())
    views = float(rooms["total_live_watch_cnt"].sum())
    orders = float(rooms["live_pay_order_count_alias"].sum())
    clicks = float(rooms["live_click_product_count_alias"].sum())
    joined = rooms.join(t1.select("room_id", "all_live_watch_ucnt_td"), on="room_id", how="inner")
    uv = float(joined["live_pay_order_gmv_alias"].sum()) / float(
        joined["all_live_watch_ucnt_td"].sum()
    )
    expected = {
        "gmv": gmv,
        "spend": spend,
        "roas": gmv / spend,
        "gpm": 1000 * gmv / views,
        "click_conversion_rate": orders / clicks,
        "uv_value": uv,
    }
    for name, value in expected.items():
        m = metric(name, "room")
        assert format_value(m, value) in totals, name
        assert m.label in totals
    by_rows = _visible(tables[0])
    for row in page.result.rows.iter_rows(named=True):
        assert format_value(metric("gmv"), row["gmv"]) in by_rows


def test_charts_draw_every_metric_over_the_first_dimension(
    page: custom_report.CustomReportPage,
) -> None:
    section = page.charts()
    charts = section.charts
    assert len(charts) == len(CHOSEN)
    assert all(isinstance(c, alt.Chart | alt.LayerChart) for c in charts)
    data, color = page.chart_frame()
    assert data is not None
    accounts = page.result.rows["aweme_name"].n_unique()
    assert color == ("aweme_name" if accounts <= custom_report.MAX_SERIES else None)
    spec = charts[0].to_dict()
    assert metric("gmv").label in str(spec["title"])
    rate = charts[CHOSEN.index("click_conversion_rate")].to_dict()
    assert ".1%" in str(rate)  # a rate's axis in percent of its fraction


def test_catalog_lists_every_room_metric(page: custom_report.CustomReportPage) -> None:
    text = _visible(page.catalog().parts[0])
    for m in metrics_of("room").values():
        assert m.name in text
        assert m.label in text


def test_rooms_filter_and_no_dimensions(kit: Kit) -> None:
    rooms = kit.load("rooms", FIRST, LAST)
    one = int(rooms["room_id"][0])
    absent = 9_999_999_999_999
    page = custom_report.build(
        kit, start=FIRST, end=LAST, metrics=["gmv"], dimensions=[], rooms=[str(one), absent]
    )
    prose = page.overview().markdown
    assert "共 1 场直播" in prose
    assert "全部场次合计" in prose
    assert "只看指定的 2 个直播间" in prose
    assert f"其中 1 个在该期间没有场次：{absent}" in prose
    gmv = rooms.filter(pl.col("room_id") == one)["live_pay_order_gmv_alias"].sum()
    assert page.result.totals["gmv"].item() == pytest.approx(gmv)
    assert format_value(metric("gmv"), gmv) in _visible(page.overview().parts[-1])
    charts = page.charts()
    assert charts.charts == []
    assert "不画图" in charts.markdown


def test_parameter_mistakes_stop_before_any_data_is_read(tmp_path: Path) -> None:
    kit = livekit.open("sandbox", home=tmp_path / "home")
    with pytest.raises(LivekitError, match="未知的指标 'gvm'"):
        custom_report.build(kit, start=FIRST, end=LAST, metrics=["gmv", "gvm"])
    with pytest.raises(LivekitError, match="请至少选择一个指标"):
        custom_report.build(kit, start=FIRST, end=LAST, metrics=[])
    with pytest.raises(LivekitError, match="rooms 须为直播间 room_id"):
        custom_report.build(kit, start=FIRST, end=LAST, rooms=["第一场"])
    assert kit.datasets()["days_stored"].sum() == 0  # nothing was synced for a mistake


def test_an_unknown_dimension_is_one_chinese_line(kit: Kit) -> None:
    with pytest.raises(LivekitError, match="未知的维度：city") as err:
        custom_report.build(kit, start=FIRST, end=LAST, dimensions=["date", "city"])
    assert "\n" not in str(err.value)


# ---- on frames made by hand ------------------------------------------------------------------
def _period(note: bool = False) -> Period:
    first, last = date(2026, 11, 2), date(2026, 11, 3)
    missing: dict[str, tuple[date, ...]] = {"rooms": (last,)} if note else {}
    cov = Coverage("live", first, last, ("rooms", "room_analysis"), date(2026, 11, 4), missing)
    return Period(first, last, cov)


def _rooms(names: list[str]) -> pl.DataFrame:
    n = len(names)
    return pl.DataFrame(
        {
            "date": [date(2026, 11, 2 + i % 2) for i in range(n)],
            "room_id": [7_000_000_000_000 + i for i in range(n)],
            "aweme_name": names,
            "room_title": names,
            "stat_cost": [100.0 + i for i in range(n)],
            "live_pay_order_gmv_alias": [300.0 + 7 * i for i in range(n)],
            "live_pay_order_count_alias": [3 + i for i in range(n)],
            "live_click_product_count_alias": [30 + i for i in range(n)],
            "total_live_watch_cnt": [1000 + 10 * i for i in range(n)],
        }
    )


def test_the_first_section_carries_the_coverage_note() -> None:
    result = custom_summary(_rooms(["主号", "小号"]), ["gmv"], ["date"])
    page = custom_report.CustomReportPage(_period(note=True), result)
    prose = page.overview().markdown
    note = page.period.note
    assert note is not None
    assert prose.startswith(note)
    assert page.charts().markdown == ""  # the others do not repeat it


def test_tables_and_prose_keep_upstream_text_as_text() -> None:
    from livekit.sandbox.hostile import LONG, PAYLOADS

    names = [*PAYLOADS, LONG]
    frame = _rooms(names).with_columns(pl.col("aweme_name").alias("<b>标签</b>"))
    result = custom_summary(frame, ["gmv", "roas"], ["<b>标签</b>", "room_title"])
    page = custom_report.CustomReportPage(_period(), result)
    overview = page.overview()
    assert "<b>" not in overview.markdown  # a user's column name is escaped in the prose
    assert label_of("<b>标签</b>") == "<b>标签</b>"
    html = str(overview.parts[-2])
    parsed = parse_html(html)
    assert {tag for tag, _ in parsed.tags} <= {
        "table",
        "caption",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "p",
    }
    visible = "".join(parsed.text)
    assert "<script>" in visible  # shown as text
    assert not INVISIBLE.search(visible)
    # many values of the second dimension: the charts fall back to the first alone
    data, color = page.chart_frame()
    assert color is None
    assert data is not None
    assert data.columns[0] == "<b>标签</b>"
    assert len(page.charts().charts) == 2


def test_a_second_dimension_with_few_values_colours_the_charts() -> None:
    frame = _rooms(["主号", "小号", "主号", "小号"]).with_columns(
        pl.Series("weekday_flag", [True, False, True, False])
    )
    result = custom_summary(frame, ["roas"], ["aweme_name", "weekday_flag", "room_id"])
    page = custom_report.CustomReportPage(_period(), result)
    data, color = page.chart_frame()
    assert color == "weekday_flag"
    assert data is not None
    assert data.schema["weekday_flag"] == pl.String  # a legend of text
    assert data.height == 2  # by the first two dimensions, not every row of the table
    assert len(page.charts().charts) == 1


def test_a_metric_undefined_everywhere_is_named_not_drawn() -> None:
    frame = _rooms(["主号", "小号"]).with_columns(pl.lit(0.0).alias("stat_cost"))
    result = custom_summary(frame, ["gmv", "roas"], ["aweme_name"])
    page = custom_report.CustomReportPage(_period(), result)
    section = page.charts()
    assert len(section.charts) == 1
    assert f"{metric('roas').label}在所有分组里都没有定义" in section.markdown
    assert "—" in _visible(page.overview().parts[-1])  # the totals show the undefined ROI as —
