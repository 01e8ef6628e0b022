"""The live review page (livekit.pages.live_review): its prose, tables and charts state the
analysis's numbers, escape upstream text, and build from a kit's store."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import altair as alt
import polars as pl
import pytest

import livekit
from livekit.analysis import live
from livekit.pages import Period, Section, live_review
from livekit.store import Store
from livekit.store.datasets import ALERTS, LIVE_SNAPSHOTS
from livekit.text import escape_markdown
from livekit.vocab.errors import LivekitError
from livekit.vocab.labels import SEVERITY_LABELS
from livekit.vocab.metrics import metric
from livekit.vocab.units import format_money, format_percent
from tests.helpers.live import START, alert_row, alerts_of, snaps

DAY = date(2026, 11, 26)
HOSTILE = "**抢** <script>alert(1)</script> [点我](http://x.invalid) `x`|y"


def steady_show(minutes: int = 130, per_minute: int = 50, **kw: object) -> pl.DataFrame:
    return snaps(
        [
            (
                m + 0.9,
                {
                    "total_live_watch_cnt": per_minute * (m + 1),
                    "live_click_product_count_alias": 5 * (m + 1),
                    "live_pay_order_count_alias": m + 1,
                    "live_pay_order_gmv_alias": 99.5 * (m + 1),
                },
            )
            for m in range(minutes)
        ],
        **kw,  # type: ignore[arg-type]
    )


# ---- the review's prose (was livekit.analysis.live.review_markdown) -----------------------------


def test_review_text_states_each_shows_totals() -> None:
    frame = snaps(
        [
            (0.9, {"total_live_watch_cnt": 100, "live_click_product_count_alias": 10}),
            (
                1.9,
                {
                    "total_live_watch_cnt": 300,
                    "live_click_product_count_alias": 20,
                    "live_pay_order_count_alias": 4,
                    "live_pay_order_gmv_alias": 396.0,
                },
            ),
        ]
    )
    review = live.live_review(frame, alerts_of())
    show = review.shows.row(0, named=True)
    text = live_review.review_markdown(review)
    assert (
        f"新进观众 {show['new_viewers']:,.0f} 人次，成交 {show['orders']:,.0f} 单、"
        f"{format_money(show['gmv'])}。" in text
    )
    assert f"（{show['start']:%H:%M} 开播，{show['minutes']} 分钟）" in text
    assert "¥396.00" in text  # money has one format


def test_review_text_names_each_alert_its_minute_and_how_it_ended() -> None:
    frame = steady_show()
    alerts = alerts_of(
        alert_row(
            "firing", 58, value=11.0, message="【触发·严重】\n晚场：新进观众骤降到 11 人/分钟"
        ),
        alert_row("resolved", 79),
    )
    review = live.live_review(frame, alerts)
    episode = review.episodes.row(0, named=True)
    text = live_review.review_markdown(review)
    assert f"**{review.shows.height}** 场直播，共触发 **{review.episodes.height}** 条告警" in text
    assert (
        f"第 {episode['fired_minute']} 分钟（{episode['fired_at']:%H:%M}）"
        f"【{SEVERITY_LABELS['critical']}】新进观众骤降：晚场：新进观众骤降到 11 人/分钟" in text
    )
    assert f"约 {episode['minutes']:.0f} 分钟后恢复（第 {episode['resolved_minute']} 分钟）" in text
    assert "下图中的红色区域" in text
    quiet = live_review.review_markdown(live.live_review(frame, alerts.clear()))
    assert "共触发 **0** 条告警" in quiet
    assert "本场没有告警" in quiet
    assert "下图中的红色区域" not in quiet
    assert "没有直播快照" in live_review.review_markdown(live.live_review(frame.clear(), alerts))


def test_review_text_says_when_an_alert_ran_to_the_end_of_the_show_or_never_ended() -> None:
    frame = steady_show()
    ended = live.live_review(
        frame,
        alerts_of(alert_row("firing", 58), alert_row("resolved", 90, note=live.OFF_AIR_NOTE)),
    )
    assert "持续到直播结束（约 32 分钟）" in live_review.review_markdown(ended)
    still = live.live_review(frame, alerts_of(alert_row("firing", 58)))
    assert "直到监控结束仍未恢复" in live_review.review_markdown(still)


def test_first_line_skips_the_notification_header() -> None:
    assert live_review.first_line("【触发·严重】\n晚场：骤降\n更多") == "晚场：骤降"
    assert live_review.first_line("【只有标题】") == "【只有标题】"
    assert live_review.first_line(None) == ""


# ---- tables -------------------------------------------------------------------------------------


def test_alert_table_cells_say_where_how_it_ended_and_what_it_said() -> None:
    product = json.dumps({"room_title": "晚场", "product_title": "保温杯"}, ensure_ascii=False)
    alerts = alerts_of(
        alert_row("firing", 58, message="【触发】\n晚场：骤降"),
        alert_row("resolved", 79, note=live.OFF_AIR_NOTE),
        alert_row("firing", 60, alert_id="b", labels=product, product_id=5),
        alert_row("resolved", 64, alert_id="b"),
        alert_row("firing", 100, alert_id="c", severity="warning"),
    )
    rows = live_review.alert_rows(live.alert_timeline(alerts))
    by_id = {r["alert_id"]: r for r in rows.iter_rows(named=True)}
    assert by_id["新进观众骤降|room=1"]["ended"] == "直播结束"
    assert by_id["新进观众骤降|room=1"]["content"] == "晚场：骤降"
    assert by_id["b"]["where"] == "晚场 · 保温杯"
    assert by_id["b"]["ended"] == f"{START + timedelta(minutes=64):%H:%M}"
    assert by_id["c"]["ended"] == "未恢复"
    html = str(live_review.ALERT_TABLE.render(rows))
    assert "直播结束" in html
    assert SEVERITY_LABELS["warning"] in html
    assert ">4<" in html  # 4 minutes, a whole number
    headers = [c.header for c in live_review.ALERT_TABLE.columns]
    assert headers[:3] == ["触发时间", "开播第几分钟", "级别"]


def test_summary_table_headers_are_the_registry_labels() -> None:
    assert live_review.SUMMARY_LABELS["watch_click_rate"] == metric("watch_click_rate").label
    assert set(live_review.SUMMARY_LABELS) <= set(
        live.show_summary(live.minute_curves(snaps([(0.5, {})]))).columns
    )
    for curve, name in live.CURVE_METRICS.items():
        assert live_review.CURVE_LABELS[curve].startswith(metric(name, "live").label)


# ---- upstream text is data ----------------------------------------------------------------------


def hostile_review() -> live.LiveReview:
    frame = steady_show(minutes=20, title=HOSTILE)
    labels = json.dumps({"room_title": HOSTILE, "product_title": HOSTILE}, ensure_ascii=False)
    alerts = alerts_of(
        alert_row("firing", 5, rule=HOSTILE, message=f"【触发】\n{HOSTILE}", labels=labels),
        alert_row("resolved", 9),
    )
    return live.live_review(frame, alerts)


def test_upstream_text_is_escaped_in_prose_and_tables() -> None:
    review = hostile_review()
    text = live_review.review_markdown(review)
    assert HOSTILE not in text
    assert "<script>" not in text
    assert escape_markdown(HOSTILE) in text  # the title, the rule and the message
    assert text.count(escape_markdown(HOSTILE)) == 3
    page = live_review.LiveReviewPage(DAY, _period(), review)
    for html in (str(page.overview().parts[-1]), str(page.alerts().parts[-1])):
        assert "<script>" not in html
        assert "&lt;script&gt;" in html


def test_charts_are_altair_and_titles_plain() -> None:
    page = live_review.LiveReviewPage(DAY, _period(), hostile_review())
    curves, rates = page.curves().charts, page.rates().charts
    assert len(curves) == len(rates) == 1
    assert isinstance(curves[0], alt.LayerChart)
    assert isinstance(rates[0], alt.TopLevelMixin)
    spec = curves[0].to_dict()
    assert spec["title"]["text"].endswith("：每分钟新进观众")
    assert spec["title"]["subtitle"] == "1 条告警"
    # the alert's band goes from firing to resolution
    band = live_review.live_review_chart(
        page.review.curves, page.review.episodes, title="t", y_title="y"
    )
    assert len(band.layer) == 4  # band, rule, rule name, line
    no_alerts = live_review.live_review_chart(
        page.review.curves, page.review.episodes.clear(), title="t", y_title="y"
    )
    assert len(no_alerts.layer) == 1


def _period() -> Period:
    from livekit.source import Coverage

    cov = Coverage("sandbox", DAY, DAY, live_review.DATASETS, DAY + timedelta(days=3))
    return Period(DAY, DAY, cov)


# ---- the page on a kit --------------------------------------------------------------------------


def fill(home: Path, snapshots: pl.DataFrame, alerts: pl.DataFrame) -> None:
    store = Store(home / "store")
    store.write_partition("live_snapshots", DAY, snapshots, LIVE_SNAPSHOTS.schema, {})
    store.write_partition("alerts", DAY, alerts, ALERTS.schema, {})


def test_the_page_on_a_sandbox_kit_states_the_stored_shows(tmp_path: Path) -> None:
    """Two shows recorded on a past day of a sandbox home (recorded days are complete: no
    replay); the prose and tables state totals computed here from the raw counters."""
    home = tmp_path / "home"
    evening = steady_show(minutes=90, per_minute=40)
    morning = steady_show(
        minutes=45, per_minute=25, room_id=2, title="早场", start=START - timedelta(hours=10)
    )
    snapshots = pl.concat([morning, evening])
    fill(
        home / "sandbox",
        snapshots,
        alerts_of(alert_row("firing", 58), alert_row("resolved", 70)),
    )
    page = live_review.build(livekit.open("sandbox", home=home), day=DAY.isoformat())
    assert page.period.note is None
    overview = page.overview()
    assert isinstance(overview, Section)
    text = overview.markdown
    assert "复盘日期：**2026-11-26**" in text
    for room_id, rows in snapshots.group_by("room_id"):
        last = rows.sort("snapshot_time").row(-1, named=True)
        minutes = int((last["snapshot_time"] - last["start_time"]).total_seconds() // 60) + 1
        viewers, clicks = last["total_live_watch_cnt"], last["live_click_product_count_alias"]
        orders, gmv = last["live_pay_order_count_alias"], last["live_pay_order_gmv_alias"]
        assert (
            f"**{last['room_title']}**（{last['start_time']:%H:%M} 开播，{minutes} 分钟）："
            f"新进观众 {viewers:,} 人次，成交 {orders:,} 单、{format_money(gmv)}。" in text
        ), room_id
        table = str(overview.parts[-1])
        assert format_percent(clicks / viewers, 2) in table
        assert format_percent(orders / clicks, 2) in table
    assert "共触发 **1** 条告警" in text
    assert len(page.curves().charts) == 2
    assert len(page.rates().charts) == 2
    assert "新进观众骤降" in str(page.alerts().parts[0])
    # rooms: only the shows asked for
    one = live_review.build(livekit.open("sandbox", home=home), day=DAY, rooms=[2])
    assert one.review.shows["room_title"].to_list() == ["早场"]
    assert "共触发 **0** 条告警" in one.overview().markdown
    assert one.alerts().markdown == "这一天没有触发告警。"


def test_an_incomplete_day_on_a_live_kit_says_so_first(tmp_path: Path) -> None:
    page = live_review.build(livekit.open(home=tmp_path / "home"), day=DAY)
    note = page.period.note
    assert note
    first = page.overview().parts[0]
    assert first == note
    assert "没有直播快照" in page.overview().markdown
    assert page.curves().charts == []
    assert page.rates().charts == []


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"rate_window": 0}, "rate_window"),
        ({"rate_window": "10"}, "rate_window"),
        ({"rooms": ["第一场"]}, "rooms"),
        ({"rooms": [1.5]}, "rooms"),
        ({"day": "last_7_days"}, "day"),
    ],
)
def test_parameter_mistakes_are_one_chinese_line(
    tmp_path: Path, params: dict[str, object], word: str
) -> None:
    with pytest.raises(LivekitError) as info:
        live_review.build(livekit.open(home=tmp_path / "home"), **params)  # type: ignore[arg-type]
    message = str(info.value)
    assert word in message
    assert "\n" not in message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message)


# ---- the real thing: the sandbox replays the day through the monitor ------------------------------


@pytest.mark.slow
def test_the_sandbox_day_with_the_planted_drop(tmp_path: Path) -> None:
    """An empty sandbox home: build() replays 2 days ago through the monitor (a subprocess),
    and the page states what the recorded snapshots and alerts say, with the planted drop in
    new viewers among the alerts."""
    kit = livekit.open("sandbox", home=tmp_path / "home")
    page = live_review.build(kit, day="2_days_ago")
    snapshots = kit.load("live_snapshots", page.day, page.day)
    alerts = kit.load("alerts", page.day, page.day)
    assert snapshots.height > 100
    text = page.overview().markdown
    shows = snapshots.select("room_id").n_unique()
    fired = alerts.filter(pl.col("state") == "firing")
    assert f"监控到 **{shows}** 场直播，共触发 **{fired.height}** 条告警" in text
    for _, rows in snapshots.group_by("room_id"):
        last = rows.sort("snapshot_time").row(-1, named=True)
        assert (
            f"新进观众 {last['total_live_watch_cnt']:,} 人次，"
            f"成交 {last['live_pay_order_count_alias']:,} 单" in text
        )
    assert "新进观众骤降" in set(fired["rule"])
    assert "【严重】新进观众骤降" in text
    assert len(page.curves().charts) == shows
    table = str(page.alerts().parts[0])
    assert table.count("<tr>") == fired.height + 1  # a header row and one per episode


def test_the_moved_chart_keeps_the_chart_vocabulary() -> None:
    import inspect
    import typing

    params = set(inspect.signature(live_review.live_review_chart).parameters)
    assert {"y", "title", "subtitle", "y_title"} <= params
    assert not params & {"value_title", "rate_title", "rule", "breakeven"}
    returns = typing.get_type_hints(live_review.live_review_chart, localns={"alt": alt})["return"]
    assert returns is alt.LayerChart
