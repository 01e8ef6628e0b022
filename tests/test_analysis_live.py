"""Minute curves and alert timelines for the post-show review (livekit.analysis.live)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import polars as pl
import pytest

from livekit.analysis.live import alert_timeline, minute_curves
from livekit.sandbox.world import CHINA_TZ
from livekit.store.datasets import ALERTS, LIVE_SNAPSHOTS

START = datetime(2026, 11, 26, 19, 44, tzinfo=CHINA_TZ)


def snaps(points: list[tuple[float, dict[str, float]]]) -> pl.DataFrame:
    rows = []
    for minutes, counters in points:
        row = {c: 0 for c in LIVE_SNAPSHOTS.schema}
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
    assert c["click_rate"][2] == pytest.approx(100 * 10 / 70)
    assert c["conversion_rate"][2] == pytest.approx(100 * 2 / 10)
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
