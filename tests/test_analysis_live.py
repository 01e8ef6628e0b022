"""Minute curves and alert timelines for the post-show review (livekit.analysis.live)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import polars as pl
import pytest

from livekit.analysis import live
from livekit.analysis.live import alert_timeline, minute_curves
from livekit.sandbox.world import CHINA_TZ
from livekit.store.datasets import ALERTS, LIVE_SNAPSHOTS

START = datetime(2026, 11, 26, 19, 44, tzinfo=CHINA_TZ)


def snaps(points: list[tuple[float, dict[str, float]]]) -> pl.DataFrame:
    rows = []
    for minutes, counters in points:
        row: dict[str, object] = {c: 0 for c in LIVE_SNAPSHOTS.schema}
        row.update(
            snapshot_time=START + timedelta(minutes=minutes),
            room_id=1,
            advertiser_id=2,
            aweme_id=3,
            aweme_name="主号",
            room_title="晚场",
            start_time=START,
            live_pay_order_gmv_alias=0.0,
            stat_cost=0.0,
        )
        row.update(counters)
        rows.append(row)
    return pl.DataFrame(rows, schema=LIVE_SNAPSHOTS.schema)


def test_minute_curve_differences_the_last_snapshot_of_each_minute() -> None:
    frame = snaps(
        [
            (0.5, {"total_live_watch_cnt": 30}),
            (1.2, {"total_live_watch_cnt": 50}),
            (1.9, {"total_live_watch_cnt": 70, "live_click_product_count_alias": 7}),
            (
                2.5,
                {
                    "total_live_watch_cnt": 100,
                    "live_click_product_count_alias": 10,
                    "live_pay_order_count_alias": 2,
                },
            ),
            # a gap: minutes 3 and 4 missing, 60 more viewers by minute 5
            (
                5.5,
                {
                    "total_live_watch_cnt": 160,
                    "live_click_product_count_alias": 16,
                    "live_pay_order_count_alias": 2,
                },
            ),
        ]
    )
    c = minute_curves(frame, rate_window=2)
    assert c["minute"].to_list() == [0, 1, 2, 3, 4, 5]
    # minute 0 ends at 30, minute 1 at 70 (its last snapshot), minute 2 at 100, then 160 at 5
    assert c["new_viewers"].to_list() == pytest.approx([30, 40, 30, 20, 20, 20])
    assert c["clicks"].to_list() == pytest.approx([0, 7, 3, 2, 2, 2])
    # rolling 2 minutes at minute 2: clicks 7+3 over viewers 40+30
    assert c["click_rate"][2] == pytest.approx(10 / 70)  # rates are fractions
    assert c["conversion_rate"][2] == pytest.approx(2 / 10)
    assert c["conversion_rate"][0] is None  # no clicks yet
    assert c["time"][1] == START + timedelta(minutes=1)


def test_empty_snapshots_give_an_empty_frame_with_columns() -> None:
    c = minute_curves(pl.DataFrame(schema=LIVE_SNAPSHOTS.schema))
    assert c.is_empty()
    assert "new_viewers" in c.columns


def alert_row(state: str, minute: int, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {c: None for c in ALERTS.schema}
    row.update(
        alert_id="新进观众骤降|room=1",
        rule="新进观众骤降",
        metric="new_viewers_per_min",
        severity="critical",
        scope="room",
        room_id=1,
        state=state,
        started_at=START + timedelta(minutes=57),
        changed_at=START + timedelta(minutes=minute),
        minute_of_show=minute,
        labels=json.dumps({"room_title": "晚场"}, ensure_ascii=False),
        message=f"{state} 消息",
        note="",
    )
    row.update(extra)
    return row


def test_alert_timeline_pairs_firing_with_resolution() -> None:
    alerts = pl.DataFrame(
        [
            alert_row("pending", 57),
            alert_row("firing", 58, value=11.0),
            alert_row("resolved", 79),
            alert_row("firing", 120, value=9.0),  # a second episode, still open
        ],
        schema=ALERTS.schema,
    )
    t = alert_timeline(alerts)
    assert t.height == 2
    first, second = t.row(0, named=True), t.row(1, named=True)
    assert (first["fired_minute"], first["resolved_minute"]) == (58, 79)
    assert first["minutes"] == pytest.approx(21)
    assert first["where"] == "晚场"
    assert first["severity_label"] == "严重"
    assert first["message"] == "firing 消息"
    assert second["resolved_at"] is None
    assert second["value"] == 9.0


def test_show_summary_totals_and_whole_show_rates() -> None:
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
    summary = live.show_summary(minute_curves(frame)).row(0, named=True)
    assert summary["room_title"] == "晚场"
    assert summary["minutes"] == 2
    assert summary["new_viewers"] == 300
    assert summary["gmv"] == pytest.approx(396.0)
    assert summary["watch_click_rate"] == pytest.approx(20 / 300)  # fractions
    assert summary["click_conversion_rate"] == pytest.approx(4 / 20)
    # every column has a Chinese header; the whole-show rates are the room metrics' labels
    assert set(live.SUMMARY_LABELS) == set(live.show_summary(minute_curves(frame)).columns)
    assert live.SUMMARY_LABELS["watch_click_rate"] == "观看-点击率"
    assert live.show_summary(minute_curves(frame.clear())).columns == list(live.SUMMARY_LABELS)
    gmv_format = live.SUMMARY_FORMATS["gmv"]
    assert not isinstance(gmv_format, str)
    assert gmv_format(396.0) == "¥396.00"  # money has one format
    text = live.review_markdown(
        minute_curves(frame), alert_timeline(pl.DataFrame(schema=ALERTS.schema))
    )
    assert "新进观众 300 人次，成交 4 单、¥396.00。" in text


def test_review_text_names_each_alert_its_minute_and_how_it_ended() -> None:
    frame = snaps([(m + 0.9, {"total_live_watch_cnt": 50 * (m + 1)}) for m in range(130)])
    alerts = pl.DataFrame(
        [
            alert_row(
                "firing", 58, value=11.0, message="【触发·严重】\n晚场：新进观众骤降到 11 人/分钟"
            ),
            alert_row("resolved", 79),
        ],
        schema=ALERTS.schema,
    )
    text = live.review_markdown(minute_curves(frame), alert_timeline(alerts))
    assert "**1** 场直播，共触发 **1** 条告警" in text
    assert "第 58 分钟（20:42）【严重】新进观众骤降：晚场：新进观众骤降到 11 人/分钟" in text
    assert "约 21 分钟后恢复（第 79 分钟）" in text
    quiet = live.review_markdown(minute_curves(frame), alert_timeline(alerts.clear()))
    assert "共触发 **0** 条告警" in quiet
    assert "本场没有告警" in quiet
    assert "没有直播快照" in live.review_markdown(
        minute_curves(frame.clear()), alert_timeline(alerts)
    )


def test_alert_table_and_rate_curves_are_readable() -> None:
    alerts = pl.DataFrame(
        [
            alert_row("firing", 58, message="晚场：骤降"),
            alert_row("resolved", 79, note="直播已结束"),
        ],
        schema=ALERTS.schema,
    )
    row = live.alert_table(alert_timeline(alerts)).row(0, named=True)
    assert row["恢复"] == "直播结束"
    assert row["告警内容"] == "晚场：骤降"
    assert row["开播第几分钟"] == 58
    frame = snaps(
        [
            (0.9, {"total_live_watch_cnt": 100, "live_click_product_count_alias": 5}),
            (
                1.9,
                {
                    "total_live_watch_cnt": 200,
                    "live_click_product_count_alias": 15,
                    "live_pay_order_count_alias": 3,
                },
            ),
        ]
    )
    rates = live.rate_curves(minute_curves(frame, rate_window=1))
    assert set(rates["metric"]) == {"实时商品点击率", "实时点击-成交率"}  # the live metrics
    assert rates.filter(pl.col("metric") == "实时点击-成交率")["rate"].to_list() == pytest.approx(
        [0.0, 0.3]
    )
