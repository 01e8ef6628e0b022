"""Minute curves, alert episodes and show totals for the post-show review (livekit.analysis.live).

Pure frames with English columns; the review's words and tables are tested in
tests/test_pages_live_review.py."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest

from livekit.analysis import live
from livekit.analysis.live import alert_timeline, live_review, minute_curves
from livekit.store.datasets import ALERTS, LIVE_SNAPSHOTS
from tests.helpers.live import START, alert_row, snaps


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
    assert first["room_title"] == "晚场"
    assert first["product_title"] is None
    assert first["severity"] == "critical"  # the stored name: labels are the page's
    assert first["message"] == "firing 消息"
    assert first["outcome"] == "resolved"
    assert second["resolved_at"] is None
    assert second["outcome"] == "open"
    assert second["value"] == 9.0


def test_an_alert_that_ends_with_the_show_says_so_and_product_alerts_name_the_product() -> None:
    labels = json.dumps({"room_title": "晚场", "product_title": "保温杯"}, ensure_ascii=False)
    alerts = pl.DataFrame(
        [
            alert_row("firing", 58, labels=labels, product_id=9),
            alert_row("resolved", 70, note=live.OFF_AIR_NOTE),
        ],
        schema=ALERTS.schema,
    )
    row = alert_timeline(alerts).row(0, named=True)
    assert row["outcome"] == "off_air"
    assert (row["room_title"], row["product_title"], row["product_id"]) == ("晚场", "保温杯", 9)
    empty = alert_timeline(alerts.clear())
    assert empty.is_empty()
    assert empty.columns == alert_timeline(alerts).columns


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
    assert summary["room_id"] == 1
    assert summary["room_title"] == "晚场"
    assert summary["start"] == START  # a time, not text
    assert summary["minutes"] == 2
    assert summary["new_viewers"] == 300
    assert summary["orders"] == 4
    assert summary["gmv"] == pytest.approx(396.0)
    assert summary["watch_click_rate"] == pytest.approx(20 / 300)  # fractions
    assert summary["click_conversion_rate"] == pytest.approx(4 / 20)
    empty = live.show_summary(minute_curves(frame.clear()))
    assert empty.is_empty()
    assert empty.columns == live.show_summary(minute_curves(frame)).columns


def test_rate_curves_are_long_with_the_live_metric_names() -> None:
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
    assert set(rates["metric"]) == {"click_rate", "conversion_rate"}  # the live metrics
    assert rates.filter(pl.col("metric") == "conversion_rate")["rate"].to_list() == pytest.approx(
        [0.0, 0.3]
    )
    assert rates.filter(pl.col("metric") == "click_rate")["rate"].to_list() == pytest.approx(
        [0.05, 0.1]
    )


def test_live_review_runs_the_analysis_once_for_the_rooms_asked() -> None:
    one = snaps([(m + 0.9, {"total_live_watch_cnt": 10 * (m + 1)}) for m in range(5)])
    other = one.with_columns(
        pl.lit(7, pl.Int64).alias("room_id"), pl.lit("早场").alias("room_title")
    )
    both = pl.concat([one, other])
    alerts = pl.DataFrame(
        [alert_row("firing", 2), alert_row("firing", 3, alert_id="x|room=7", room_id=7)],
        schema=ALERTS.schema,
    )
    review = live_review(both, alerts, rate_window=3)
    assert review.rate_window == 3
    assert review.shows["room_id"].to_list() == [1, 7]
    assert review.episodes.height == 2
    assert review.room_episodes(7)["alert_id"].to_list() == ["x|room=7"]
    assert review.room_curves(7)["new_viewers"].sum() == pytest.approx(50)
    only = live_review(both, alerts, rooms=[7])
    assert only.shows["room_id"].to_list() == [7]
    assert only.episodes["room_id"].to_list() == [7]
    assert set(only.curves["room_id"]) == {7}
