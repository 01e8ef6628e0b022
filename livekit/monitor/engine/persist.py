"""The engine's state file: JSON, written atomically, read back leniently.

Format (``version`` 2)::

    {"version": 2, "epoch": "<hex>", "tick": 42, "updated_at": "<iso>" | null,
     "alerts": {"<alert_id>": {"rule", "metric", "scope", "room_id", "product_id", "ident",
                               "labels", "severity", "channels", "state", "since",
                               "started_at", "last_notified_at", "repeats", "value",
                               "threshold", "benchmark", "baseline", "minute",
                               "fingerprint", "detector", "point_at", "verdict"}}}

Times are ISO 8601 with their offset; absent values are ``null``. Version 2 keeps rates as
fractions (0.035). Version 1, the same keys with rates in percentage points and absent keys
left out, is still read: :func:`decode` says so, and the engine converts its rates with
:func:`livekit.monitor.engine.machine.from_percent` (a monitor upgraded mid-show resumes).

A damaged file loses only what is unreadable: alerts that can't be read are skipped (and
counted), a file that can't be read at all gives a fresh state with a new epoch, so new
notification keys can never repeat old ones.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from livekit._files import keep_damaged, write_bytes_atomic
from livekit.monitor.detect import detector_from_state
from livekit.monitor.engine.state import AlertState, AlertStatus, EngineState
from livekit.monitor.metrics import METRICS
from livekit.monitor.types import Severity
from livekit.vocab.errors import LivekitError
from livekit.vocab.labels import SEVERITY_LABELS

STATE_VERSION = 2
PERCENT_VERSION = 1  # rates in percentage points
_READABLE = (PERCENT_VERSION, STATE_VERSION)


class AlertStateError(LivekitError):
    """The engine's state file can't be read; the message says what to do."""


def fresh_state() -> EngineState:
    """An empty state with a new random epoch."""
    return EngineState(epoch=secrets.token_hex(8))


# ---- writing ---------------------------------------------------------------------------------


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def alert_json(alert: AlertState) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "metric": alert.metric,
        "scope": alert.scope,
        "room_id": alert.room_id,
        "product_id": alert.product_id,
        "ident": alert.ident,
        "labels": dict(alert.labels),
        "severity": alert.severity,
        "channels": list(alert.channels),
        "state": alert.state,
        "since": _iso(alert.since),
        "started_at": _iso(alert.started_at),
        "last_notified_at": _iso(alert.last_notified_at),
        "repeats": alert.repeats,
        "value": alert.value,
        "threshold": alert.threshold,
        "benchmark": alert.benchmark,
        "baseline": alert.baseline,
        "minute": alert.minute,
        "fingerprint": alert.fingerprint,
        "detector": None if alert.detector is None else dict(alert.detector),
        "point_at": _iso(alert.point_at),
        "verdict": alert.verdict,
    }


def encode(state: EngineState) -> bytes:
    data = {
        "version": STATE_VERSION,
        "epoch": state.epoch,
        "tick": state.tick,
        "updated_at": _iso(state.updated_at),
        "alerts": {aid: alert_json(a) for aid, a in state.alerts.items()},
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


def write(path: Path, state: EngineState) -> None:
    write_bytes_atomic(path, encode(state))


# ---- reading ---------------------------------------------------------------------------------


def _time(data: Mapping[str, Any], name: str) -> datetime | None:
    text = data.get(name)
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(name)
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:  # every time the engine writes carries its offset
        raise ValueError(name)
    return at


def _number(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(name)
    return float(value)


def _int_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("id")
    return int(value)


def alert_from_json(alert_id: str, data: Any) -> AlertState:
    """The alert stored under ``alert_id``; TypeError, ValueError or KeyError when it lacks
    what evaluating and rendering it reads."""
    if not isinstance(data, dict):
        raise TypeError("alert")
    state = data["state"]
    if state == "resolved":  # a resolved alert is back to normal
        state = "normal"
    if state not in ("normal", "pending", "firing"):
        raise ValueError("state")
    status: AlertStatus = state
    if not isinstance(data["rule"], str) or data["metric"] not in METRICS:
        raise ValueError("rule or metric")
    if data["scope"] not in ("room", "product") or not isinstance(data["ident"], str):
        raise ValueError("scope or ident")
    severity = cast(Severity, data.get("severity") or "warning")
    if severity not in SEVERITY_LABELS:
        raise ValueError("severity")
    labels = data.get("labels") or {}
    if not isinstance(labels, dict):
        raise TypeError("labels")
    channels = data.get("channels") or []
    if not isinstance(channels, list):
        raise TypeError("channels")
    repeats = data.get("repeats") or 0
    if isinstance(repeats, bool) or not isinstance(repeats, int):
        raise TypeError("repeats")
    minute = data.get("minute")
    detector = data.get("detector")
    if detector is not None:
        detector_from_state(detector)  # raises when it can't be rebuilt
    fingerprint = data.get("fingerprint")
    product_id = data.get("product_id")
    return AlertState(
        alert_id=alert_id,
        rule=data["rule"],
        metric=data["metric"],
        scope=data["scope"],
        room_id=_int_id(data["room_id"]),
        product_id=None if product_id is None else _int_id(product_id),
        ident=data["ident"],
        state=status,
        labels={str(k): str(v) for k, v in labels.items()},
        severity=severity,
        channels=tuple(str(c) for c in channels),
        since=_time(data, "since"),
        started_at=_time(data, "started_at"),
        last_notified_at=_time(data, "last_notified_at"),
        repeats=repeats,
        value=_number(data, "value"),
        threshold=_number(data, "threshold"),
        benchmark=_number(data, "benchmark"),
        baseline=_number(data, "baseline"),
        minute=minute if isinstance(minute, int) and not isinstance(minute, bool) else None,
        fingerprint=fingerprint if isinstance(fingerprint, str) else None,
        detector=detector,
        point_at=_time(data, "point_at"),
        verdict=bool(data.get("verdict")),
    )


def decode(raw: bytes) -> tuple[EngineState, int | None, bool]:
    """``(state, damaged, in_percent)``.

    ``damaged`` is None for a sound file, else the number of entries skipped, 0 meaning the
    file as a whole was unreadable (a fresh state then, with a new epoch). ``in_percent`` is
    True for a version-1 file, whose rates are in percentage points.
    """
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("version") not in _READABLE:
            raise ValueError("version")
        version = data["version"]
        stored = data["alerts"]
        if not isinstance(stored, dict):
            raise TypeError("alerts")
    except (ValueError, TypeError, KeyError):
        return fresh_state(), 0, False
    alerts: dict[str, AlertState] = {}
    for aid, item in stored.items():
        try:
            alerts[str(aid)] = alert_from_json(str(aid), item)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            continue
    skipped = len(stored) - len(alerts)
    epoch, tick = data.get("epoch"), data.get("tick")
    try:
        updated_at = _time(data, "updated_at")
    except (TypeError, ValueError):
        updated_at = None
    if (
        isinstance(epoch, str)
        and epoch
        and isinstance(tick, int)
        and not isinstance(tick, bool)
        and tick >= 0
    ):
        state = EngineState(epoch=epoch, tick=tick, updated_at=updated_at, alerts=alerts)
    else:  # notification keys hang on epoch and tick: a new epoch can't repeat old keys
        state = EngineState(epoch=fresh_state().epoch, alerts=alerts)
        skipped += 1
    return state, (skipped or None), version == PERCENT_VERSION


def load(path: Path) -> tuple[EngineState, bool, bool]:
    """``(state, in_percent, rewrite)`` from ``path``.

    A missing file gives a fresh state, written at once (its epoch must survive a crash before
    the first commit). A damaged file is kept aside (``<file>.damaged-…``) and ``rewrite`` is
    True: the caller writes back what was readable at once, so the next load is clean."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        state = fresh_state()
        write(path, state)
        return state, False, False
    except OSError as exc:
        raise AlertStateError(f"无法读取告警状态文件 {path}：{exc}") from None
    state, damaged, in_percent = decode(raw)
    if damaged is not None:
        keep_damaged(path, raw, skipped=damaged or None)
    return state, in_percent, damaged is not None
