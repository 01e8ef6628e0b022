"""Hand-made live_snapshots and alerts rows for the live-review tests (analysis and page)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import polars as pl

from livekit.store.datasets import ALERTS, LIVE_SNAPSHOTS
from livekit.vocab.tz import CHINA_TZ

START = datetime(2026, 11, 26, 19, 44, tzinfo=CHINA_TZ)


def snaps(
    points: list[tuple[float, dict[str, float]]],
    *,
    room_id: int = 1,
    title: str = "晚场",
    start: datetime = START,
) -> pl.DataFrame:
    rows = []
    for minutes, counters in points:
        row: dict[str, object] = {c: 0 for c in LIVE_SNAPSHOTS.schema}
        row.update(
            snapshot_time=start + timedelta(minutes=minutes),
            room_id=room_id,
            advertiser_id=2,
            aweme_id=3,
            aweme_name="主号",
            room_title=title,
            start_time=start,
            live_pay_order_gmv_alias=0.0,
            stat_cost=0.0,
        )
        row.update(counters)
        rows.append(row)
    return pl.DataFrame(rows, schema=LIVE_SNAPSHOTS.schema)


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


def alerts_of(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=ALERTS.schema)
