"""Helpers shared by the sync tests and the sync benchmark: settings, stored data, child syncs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from livekit.config import Settings, load_settings
from livekit.jobs import SandboxSession
from livekit.store import Store
from livekit.store.datasets import MONITOR_DATASETS, SANDBOX_DATASETS, all_datasets

# Every dataset a sync writes, compared row by row (sorted by its key); the monitor's datasets
# are written by `livekit monitor`, never by a sync.
ROOT = Path(__file__).resolve().parents[2]
# The sandbox's own schedule (session_arms) covers a few weeks only: tests/test_source.py
# checks it.
DATASETS = [d.name for d in all_datasets() if d.name not in MONITOR_DATASETS | SANDBOX_DATASETS]


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


def child_env(session: SandboxSession, **extra: str) -> dict[str, str]:
    """The environment a deployment would set: LIVEKIT_* names only."""
    s = session.settings
    assert s.qianchuan_secret is not None
    assert s.doudian_app_secret is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(
        {
            "LIVEKIT_HOME": str(s.home),
            "LIVEKIT_QIANCHUAN_APP_ID": str(s.qianchuan_app_id),
            "LIVEKIT_QIANCHUAN_SECRET": s.qianchuan_secret.get_secret_value(),
            "LIVEKIT_QIANCHUAN_BASE_URL": s.qianchuan_base_url,
            "LIVEKIT_QIANCHUAN_AUTH_URL": s.qianchuan_auth_url,
            "LIVEKIT_DOUDIAN_APP_KEY": str(s.doudian_app_key),
            "LIVEKIT_DOUDIAN_APP_SECRET": s.doudian_app_secret.get_secret_value(),
            "LIVEKIT_DOUDIAN_BASE_URL": s.doudian_base_url,
            "LIVEKIT_RETRY_WAIT_INITIAL": "0.01",
            "LIVEKIT_RETRY_WAIT_MAX": "0.2",
            "SANDBOX_VIEWER_EXPORT_URL": session.viewer_export_url,
            "PYTHONIOENCODING": "utf-8",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    env.update(extra)
    return env


def spawn(env: dict[str, str], start: date, end: date) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.sync_child", start.isoformat(), end.isoformat()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livekit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
