"""Helpers shared by the sync tests and the sync benchmark."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from livekit.config import Settings, load_settings
from livekit.store import Store
from livekit.store.datasets import MONITOR_DATASETS, all_datasets

# Every dataset a sync writes, compared row by row (sorted by its key); the monitor's datasets
# are written by `livekit monitor`, never by a sync.
DATASETS = [d.name for d in all_datasets() if d.name not in MONITOR_DATASETS]


def make_settings(home: Path, **changes: Any) -> Settings:
    """Settings with a private home and short retry waits (the sandbox answers in ms)."""
    base: dict[str, Any] = {
        "home": home,
        "retry_wait_initial": 0.01,
        "retry_wait_max": 0.2,
        "retry_attempts": 25,
        "http_timeout": 10.0,
        "qps": 1000.0,
    }
    base.update(changes)
    return load_settings(**base)


def read_all(home: Path, start: date, end: date) -> dict[str, pl.DataFrame]:
    """Every dataset stored under ``home`` for [start, end], sorted by its row key."""
    from livekit.store.datasets import get

    store = Store(home / "store")
    out = {}
    for name in DATASETS:
        ds = get(name)
        frame = store.read(name, ds.schema, start, end)
        # every column: the viewer export has no unique key (a viewer can re-enter in a second)
        out[name] = frame.sort(["date", *ds.key, *(c for c in ds.schema if c not in ds.key)])
    return out


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())
