"""The outbox: a persistent queue of deliveries, pumped under per-robot rate limits.

A restarted monitor neither re-sends a delivered message nor forgets an undelivered one: the
pending deliveries, the keys delivered per channel (the last 5000), the failures and the
recent send times per robot live in one JSON file, rewritten atomically
(:func:`livekit._files.write_bytes_atomic`) under ``<file>.lock`` (a :class:`filelock.FileLock`
held only for each read-modify-write, never across a network call). A second lock,
``<file>.pump.lock``, lets one process pump at a time; another pumper returns ``busy``.

File format (``version`` 1)::

    {
      "version": 1,
      "pending": [                       # one entry per (channel, message key)
        {"id": "feishu:k1", "channel": "feishu",
         "message": {"key", "kind", "severity", "title", "text", "markdown",
                     "created_at" (ISO 8601), "alerts": [...]},
         "parts": [{"key", "kind", "severity", "title", "created_at"}],   # what a digest merged
         "attempts": 0, "next_try_at": 1767000000.0 (POSIX s), "enqueued_at": ...,
         "last_error": null | "…", "throttled": false}
      ],
      "delivered": {"feishu": ["k0", "k1", ...]},           # oldest first, bounded
      "failed": [{"channel", "key", "keys", "title", "reason", "at"}],   # bounded, surfaced
      "limits": {"sends": {"<robot key>": [POSIX s, ...]}, "blocked": {"<robot key>": s}}
    }

Robot keys are hashes of the webhook URL: the file holds no token, secret or password.

Pumping, per channel: due entries are sent oldest-most-severe first while the robot's
sliding windows allow. A channel **digests** its due entries into one ``Message(kind=
"digest")`` listing every merged message's title (so nothing is dropped) when sending them one
by one would exceed the robot's per-minute window, or when one of them has already failed an
attempt (the robot pushed back: one message instead of N). ``Throttled`` blocks the robot
until ``max(retry_after, backoff)``; retryable errors back off exponentially with jitter; a
fatal error (bad signature, bad key, 4xx) moves the entry to ``failed`` with its reason, logs
it (redacted) and returns it in :class:`PumpResult`. After ``max_attempts`` a retryable error
is treated as fatal in the same way.

Backoff is ``min(max_s, initial_s * 2**(attempt-1) + uniform(0, jitter_s))`` — stamina's
formula (its ``_compute_backoff`` is private, and stamina retries by sleeping inside one call
while here the wait must survive a restart as ``next_try_at``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import filelock
import httpx

from livekit._files import keep_damaged, write_bytes_atomic
from livekit.monitor.notify.channels import Channel, dumps, message_json
from livekit.monitor.notify.errors import DeliveryError, Throttled
from livekit.monitor.notify.ratelimit import LONG_WINDOW_S, SlidingWindowLimiter
from livekit.monitor.notify.redact import install_log_redaction, redact_text
from livekit.monitor.types import Message
from livekit.vocab.labels import SEVERITY_LABELS, SEVERITY_ORDER
from livekit.vocab.tz import CHINA_TZ

log = logging.getLogger("livekit.monitor.notify")

T = TypeVar("T")

VERSION = 1
LOCK_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with additive jitter, capped (seconds)."""

    initial_s: float = 5.0
    max_s: float = 600.0
    exp_base: float = 2.0
    jitter_s: float = 2.0

    def wait(self, attempt: int, rng: random.Random) -> float:
        jitter = rng.uniform(0, self.jitter_s) if self.jitter_s else 0.0
        try:
            return min(self.max_s, self.initial_s * self.exp_base ** max(0, attempt - 1) + jitter)
        except OverflowError:
            return self.max_s


# ---- serialization -------------------------------------------------------------------------
def message_from_json(data: Mapping[str, Any]) -> Message:
    return Message(
        key=str(data["key"]),
        kind=data["kind"],
        severity=data["severity"],
        title=str(data["title"]),
        text=str(data.get("text", "")),
        markdown=str(data.get("markdown", "")),
        created_at=datetime.fromisoformat(data["created_at"]),
        alerts=tuple(str(a) for a in data.get("alerts", ())),
    )


def _part_of(message: Message) -> dict[str, Any]:
    return {
        "key": message.key,
        "kind": message.kind,
        "severity": message.severity,
        "title": message.title,
        "created_at": message.created_at.isoformat(),
    }


@dataclass
class _Entry:
    channel: str
    message: Message
    parts: list[dict[str, Any]]
    attempts: int = 0
    next_try_at: float = 0.0
    enqueued_at: float = 0.0
    last_error: str | None = None
    throttled: bool = False

    @property
    def id(self) -> str:
        return f"{self.channel}:{self.message.key}"

    @property
    def part_keys(self) -> list[str]:
        return [str(p["key"]) for p in self.parts]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "message": message_json(self.message),
            "parts": self.parts,
            "attempts": self.attempts,
            "next_try_at": round(self.next_try_at, 3),
            "enqueued_at": round(self.enqueued_at, 3),
            "last_error": self.last_error,
            "throttled": self.throttled,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Entry:
        """The entry in ``data``; ValueError, KeyError or TypeError when it is not whole."""
        message = message_from_json(data["message"])
        if not isinstance(data["channel"], str) or message.severity not in SEVERITY_ORDER:
            raise ValueError("channel or severity")
        parts = list(data.get("parts") or [_part_of(message)])
        for part in parts:  # what a digest reads of each merged message
            if part["severity"] not in SEVERITY_ORDER or not isinstance(part["title"], str):
                raise ValueError("part")
            str(part["key"])
            datetime.fromisoformat(part["created_at"])
        entry = cls(
            channel=data["channel"],
            message=message,
            parts=parts,
            attempts=int(data.get("attempts", 0)),
            next_try_at=float(data.get("next_try_at", 0.0)),
            enqueued_at=float(data.get("enqueued_at", 0.0)),
            last_error=data.get("last_error"),
            throttled=bool(data.get("throttled", False)),
        )
        if not (math.isfinite(entry.next_try_at) and math.isfinite(entry.enqueued_at)):
            raise ValueError("times")
        return entry


@dataclass
class _State:
    pending: list[_Entry] = field(default_factory=list)
    delivered: dict[str, list[str]] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)
    limiter: SlidingWindowLimiter = field(default_factory=SlidingWindowLimiter)

    def find(self, entry_id: str) -> _Entry | None:
        return next((e for e in self.pending if e.id == entry_id), None)

    def seen(self, channel: str, key: str) -> bool:
        if key in self.delivered.get(channel, ()):
            return True
        if any(e.channel == channel and key in e.part_keys for e in self.pending):
            return True
        return any(f["channel"] == channel and key in f.get("keys", ()) for f in self.failed)


# ---- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivered:
    channel: str
    key: str
    title: str
    keys: tuple[str, ...]  # the message keys covered (several for a digest)
    digest: bool


@dataclass(frozen=True)
class Retrying:
    channel: str
    key: str
    reason: str
    next_try_at: datetime
    throttled: bool


@dataclass(frozen=True)
class Failed:
    channel: str
    key: str
    title: str
    keys: tuple[str, ...]
    reason: str
    at: datetime


@dataclass
class PumpResult:
    delivered: list[Delivered] = field(default_factory=list)
    retrying: list[Retrying] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    pending: int = 0  # entries still queued after this pump
    next_due: datetime | None = None  # when the next pump has something to do
    busy: bool = False  # another process was pumping; nothing was done

    @property
    def delivered_keys(self) -> set[tuple[str, str]]:
        return {(d.channel, k) for d in self.delivered for k in d.keys}


# ---- digest --------------------------------------------------------------------------------
def digest_message(channel: str, entries: list[_Entry], now: float) -> Message:
    """One message listing every merged message (one title line each), most severe first."""
    parts = [p for e in entries for p in e.parts]
    parts.sort(key=lambda p: (SEVERITY_ORDER.get(p["severity"], 9), p["created_at"]))
    keys = sorted(str(p["key"]) for p in parts)
    digest_id = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    severity = min((p["severity"] for p in parts), key=lambda s: SEVERITY_ORDER.get(s, 9))
    title = f"告警汇总：{len(parts)} 条通知（发送受限期间合并）"
    lines = []
    for p in parts:
        label = SEVERITY_LABELS.get(p["severity"], p["severity"])
        stamp = datetime.fromisoformat(p["created_at"]).strftime("%m-%d %H:%M")
        lines.append((label, p["title"], stamp))
    intro = f"通知渠道「{channel}」发送受限，以下 {len(parts)} 条通知合并为一条："
    text = "\n".join([intro, *(f"- [{lab}] {t}（{s}）" for lab, t, s in lines)])
    markdown = "\n".join(
        [f"### {title}", "", intro, "", *(f"- **[{lab}]** {t}（{s}）" for lab, t, s in lines)]
    )
    alerts: list[str] = []
    for e in entries:
        alerts.extend(a for a in e.message.alerts if a not in alerts)
    return Message(
        key=f"digest-{digest_id}",
        kind="digest",
        severity=severity,
        title=title,
        text=text,
        markdown=markdown,
        created_at=datetime.fromtimestamp(now, UTC),
        alerts=tuple(alerts),
    )


# ---- the outbox ----------------------------------------------------------------------------
class Outbox:
    """Persistent deliveries at ``path`` (see the module docstring for the file format)."""

    def __init__(
        self,
        path: Path,
        *,
        max_attempts: int = 12,
        digest_after_attempts: int = 1,
        backoff: Backoff | None = None,
        delivered_keep: int = 5000,
        failed_keep: int = 500,
        rng: random.Random | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_attempts = max_attempts
        self.digest_after_attempts = digest_after_attempts
        self.backoff = backoff or Backoff()
        self.delivered_keep = delivered_keep
        self.failed_keep = failed_keep
        self.rng = rng or random.Random()
        install_log_redaction()
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._pump_lock_path = self.path.with_name(self.path.name + ".pump.lock")
        # Small updates (a send time, a deferral) ride along with the next write.
        self._queued: list[Callable[[_State], None]] = []

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"

    # ---- storage ---------------------------------------------------------------------------
    def _lock(self, path: Path, timeout: float) -> filelock.FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(path, timeout=timeout, thread_local=False)

    def _load(self) -> _State:
        """The outbox as stored. A damaged entry (pending, delivered, failed, limits) is
        skipped; a file that is not an outbox counts as empty. Either way the original is kept
        beside the file (livekit._files.keep_damaged) with a one-line warning before the next
        write, which holds every entry that could be read: no undelivered alert is lost."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return _State()
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError("unknown outbox format")
        except ValueError:
            keep_damaged(self.path, raw, skipped=None)
            return _State()
        state = _State()
        damaged = 0
        pending = data.get("pending") or []
        for item in pending if isinstance(pending, list) else [pending]:
            try:
                state.pending.append(_Entry.from_json(item))
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
                damaged += 1
        delivered = data.get("delivered") or {}
        if not isinstance(delivered, dict):
            delivered, damaged = {}, damaged + 1
        for channel, keys in delivered.items():
            if not isinstance(keys, list):
                damaged += 1
                continue
            good = [k for k in keys if isinstance(k, str)]
            damaged += len(keys) - len(good)
            state.delivered[str(channel)] = good
        failed = data.get("failed") or []
        for record in failed if isinstance(failed, list) else [failed]:
            try:
                _failed_from_json(record)
                state.failed.append(record)
            except (ValueError, KeyError, TypeError, AttributeError):
                damaged += 1
        try:
            state.limiter = SlidingWindowLimiter.from_json(data.get("limits"))
        except (ValueError, TypeError, AttributeError, OverflowError):
            damaged += 1
        if damaged:
            keep_damaged(self.path, raw, skipped=damaged)
        return state

    def _save(self, state: _State, now: float) -> None:
        state.limiter.prune(now)
        for channel, keys in state.delivered.items():
            if len(keys) > self.delivered_keep:
                state.delivered[channel] = keys[-self.delivered_keep :]
        if len(state.failed) > self.failed_keep:
            state.failed = state.failed[-self.failed_keep :]
        data = {
            "version": VERSION,
            "pending": [e.to_json() for e in state.pending],
            "delivered": state.delivered,
            "failed": state.failed,
            "limits": state.limiter.to_json(),
        }
        write_bytes_atomic(self.path, dumps(data), mode=0o600)

    def _mutate(self, now: float, fn: Callable[[_State], T]) -> T:
        """Run ``fn(state)`` on a fresh read of the file under the lock, then write it back."""
        with self._lock(self._lock_path, LOCK_TIMEOUT_S):
            state = self._load()
            queued, self._queued = self._queued, []
            for op in queued:
                op(state)
            out = fn(state)
            self._save(state, now)
            return out

    # ---- public API ------------------------------------------------------------------------
    def enqueue(
        self, messages: Iterable[Message], channel_names: Iterable[str], now: datetime | None = None
    ) -> int:
        """Queue every message for every channel; a (channel, key) seen before is skipped
        (pending, delivered or failed). Returns how many deliveries were added."""
        msgs = list(messages)
        names = list(dict.fromkeys(channel_names))
        ts = _ts(now)

        def add(state: _State) -> int:
            added = 0
            for message in msgs:
                for name in names:
                    if state.seen(name, message.key):
                        continue
                    state.pending.append(_Entry(name, message, [_part_of(message)], 0, ts, ts))
                    added += 1
            return added

        if not msgs or not names:
            return 0
        return self._mutate(ts, add)

    def pending(self) -> list[tuple[str, Message, int, datetime]]:
        """Queued deliveries as ``(channel, message, attempts, next_try_at)``."""
        with self._lock(self._lock_path, LOCK_TIMEOUT_S):
            state = self._load()
        return [
            (e.channel, e.message, e.attempts, datetime.fromtimestamp(e.next_try_at, UTC))
            for e in state.pending
        ]

    def delivered(self, channel: str) -> list[str]:
        """Message keys delivered on ``channel`` (the most recent ones, oldest first)."""
        with self._lock(self._lock_path, LOCK_TIMEOUT_S):
            return list(self._load().delivered.get(channel, []))

    def failures(self) -> list[Failed]:
        with self._lock(self._lock_path, LOCK_TIMEOUT_S):
            state = self._load()
        return [_failed_from_json(f) for f in state.failed]

    def retry_failed(self, now: datetime | None = None) -> int:
        """Queue the failed deliveries again (after fixing the configuration)."""
        ts = _ts(now)

        def requeue(state: _State) -> int:
            count = 0
            for record in state.failed:
                if "message" in record:
                    message = message_from_json(record["message"])
                    parts = list(record.get("parts") or [_part_of(message)])
                    state.pending.append(_Entry(record["channel"], message, parts, 0, ts, ts))
                    count += 1
            state.failed = [r for r in state.failed if "message" not in r]
            return count

        return self._mutate(ts, requeue)

    async def pump(
        self,
        channels: Mapping[str, Channel],
        client: httpx.AsyncClient,
        now: datetime | None = None,
    ) -> PumpResult:
        """Deliver what is due at ``now``; see the module docstring for the policy."""
        lock = self._lock(self._pump_lock_path, 0)
        try:
            lock.acquire()
        except filelock.Timeout:
            return PumpResult(busy=True)
        try:
            return await self._pump(channels, client, now)
        finally:
            lock.release()

    async def _pump(
        self, channels: Mapping[str, Channel], client: httpx.AsyncClient, now: datetime | None
    ) -> PumpResult:
        ts = _ts(now)
        tz: tzinfo = now.tzinfo if now is not None and now.tzinfo is not None else CHINA_TZ
        result = PumpResult()
        with self._lock(self._lock_path, LOCK_TIMEOUT_S):
            state = self._load()
        limiter = state.limiter

        # Deliveries to channels that no longer exist cannot be made: surface them.
        for entry in [e for e in state.pending if e.channel not in channels]:
            reason = f"通知渠道「{entry.channel}」未配置（规则文件或环境变量中已没有它）"
            self._fail(entry, reason, ts, tz, result)

        by_channel: dict[str, list[_Entry]] = {}
        for entry in state.pending:
            if entry.channel in channels and entry.next_try_at <= ts:
                by_channel.setdefault(entry.channel, []).append(entry)

        try:
            for name in sorted(by_channel):
                channel = channels[name]
                due = sorted(
                    by_channel[name],
                    key=lambda e: (SEVERITY_ORDER.get(e.message.severity, 9), e.enqueued_at),
                )
                for entry in self._plan(name, channel, due, limiter, ts):
                    key, limits = channel.limit_key, channel.limits
                    if limiter.available(key, limits, ts) < 1:
                        self._defer(entry, limiter.next_free(key, limits, ts))
                        continue
                    limiter.record(key, ts)
                    self._record_send(key, ts)
                    # After a Throttled answer the robot is blocked: later entries are deferred.
                    await self._send_one(channel, entry, client, limiter, ts, tz, result)
        finally:
            if self._queued:
                final = self._mutate(ts, lambda state: state)
            else:
                with self._lock(self._lock_path, LOCK_TIMEOUT_S):
                    final = self._load()
        result.pending = len(final.pending)
        if final.pending:
            result.next_due = datetime.fromtimestamp(
                min(e.next_try_at for e in final.pending), UTC
            ).astimezone(tz)
        return result

    # ---- pump steps ------------------------------------------------------------------------
    def _plan(
        self,
        name: str,
        channel: Channel,
        due: list[_Entry],
        limiter: SlidingWindowLimiter,
        ts: float,
    ) -> list[_Entry]:
        """What to send for one channel now: the due entries, or fewer plus one digest."""
        if len(due) < 2:
            return due
        key, limits = channel.limit_key, channel.limits
        room = limiter.available(key, limits, ts, min_window=LONG_WINDOW_S)
        pushed_back = any(e.attempts >= self.digest_after_attempts for e in due)
        if not pushed_back and len(due) <= room:
            return due
        if room < 1:  # blocked or the minute is used up: wait, digest next time
            free = limiter.next_free(key, limits, ts)
            for entry in due:
                self._defer(entry, free)
            return []
        keep = [] if pushed_back else due[: int(room) - 1]
        merged = [e for e in due if e not in keep]
        if len(merged) < 2:
            return due
        digest = self._merge(name, merged, ts)
        return [*keep, digest]

    def _merge(self, name: str, merged: list[_Entry], ts: float) -> _Entry:
        message = digest_message(name, merged, ts)
        entry = _Entry(
            channel=name,
            message=message,
            parts=[p for e in merged for p in e.parts],
            attempts=max(e.attempts for e in merged),
            next_try_at=ts,
            enqueued_at=min(e.enqueued_at for e in merged),
            last_error=next((e.last_error for e in merged if e.last_error), None),
            throttled=any(e.throttled for e in merged),
        )
        ids = {e.id for e in merged}

        def replace_entries(state: _State) -> None:
            state.pending = [e for e in state.pending if e.id not in ids]
            if state.find(entry.id) is None:
                state.pending.append(entry)

        self._mutate(ts, replace_entries)
        log.info("通知渠道 %s：%d 条待发通知合并为一条汇总", name, len(entry.parts))
        return entry

    def _defer(self, entry: _Entry, until: float) -> None:
        entry.next_try_at = max(entry.next_try_at, until)
        at = entry.next_try_at

        def update(state: _State) -> None:
            stored = state.find(entry.id)
            if stored is not None:
                stored.next_try_at = max(stored.next_try_at, at)

        self._queued.append(update)

    def _record_send(self, key: str | None, ts: float) -> None:
        if key is None:
            return

        def record(state: _State) -> None:
            state.limiter.record(key, ts)

        self._queued.append(record)

    async def _send_one(
        self,
        channel: Channel,
        entry: _Entry,
        client: httpx.AsyncClient,
        limiter: SlidingWindowLimiter,
        ts: float,
        tz: tzinfo,
        result: PumpResult,
    ) -> None:
        """Send one entry and store the outcome (a Throttled answer blocks the robot)."""
        try:
            await channel.send(entry.message, client)
        except Throttled as exc:
            entry.attempts += 1
            wait = max(exc.retry_after_s or 0.0, self.backoff.wait(entry.attempts, self.rng))
            until = ts + wait
            limiter.block(channel.limit_key, until)
            self._retry(entry, exc.reason, ts, until, True, channel, tz, result)
            return
        except DeliveryError as exc:
            entry.attempts += 1
            if exc.retryable and entry.attempts < self.max_attempts:
                until = ts + self.backoff.wait(entry.attempts, self.rng)
                self._retry(entry, exc.reason, ts, until, False, channel, tz, result)
            else:
                reason = exc.reason
                if exc.retryable:
                    reason = f"重试 {entry.attempts} 次仍未送达：{reason}"
                self._fail(entry, reason, ts, tz, result)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a channel must not lose the alert
            entry.attempts += 1
            reason = f"发送时出现意外错误（{type(exc).__name__}）"
            log.exception("通知渠道 %s 发送时出现意外错误", channel.name)
            until = ts + self.backoff.wait(entry.attempts, self.rng)
            if entry.attempts < self.max_attempts:
                self._retry(entry, reason, ts, until, False, channel, tz, result)
            else:
                self._fail(entry, reason, ts, tz, result)
            return
        self._delivered(entry, ts, result)

    def _delivered(self, entry: _Entry, ts: float, result: PumpResult) -> None:
        def done(state: _State) -> None:
            state.pending = [e for e in state.pending if e.id != entry.id]
            keys = state.delivered.setdefault(entry.channel, [])
            for key in [*entry.part_keys, entry.message.key]:
                if key not in keys:
                    keys.append(key)

        self._mutate(ts, done)
        digest = entry.message.kind == "digest"
        result.delivered.append(
            Delivered(
                entry.channel,
                entry.message.key,
                entry.message.title,
                tuple(entry.part_keys),
                digest,
            )
        )
        log.info("通知渠道 %s 已送达：%s", entry.channel, entry.message.title)

    def _retry(
        self,
        entry: _Entry,
        reason: str,
        ts: float,
        until: float,
        throttled: bool,
        channel: Channel,
        tz: tzinfo,
        result: PumpResult,
    ) -> None:
        reason = redact_text(reason)
        entry.next_try_at = until
        entry.last_error = reason
        entry.throttled = throttled

        def update(state: _State) -> None:
            stored = state.find(entry.id)
            if stored is not None:
                stored.attempts = entry.attempts
                stored.next_try_at = until
                stored.last_error = reason
                stored.throttled = throttled
            if throttled and channel.limit_key is not None:
                state.limiter.block(channel.limit_key, until)

        self._mutate(ts, update)
        at = datetime.fromtimestamp(until, UTC).astimezone(tz)
        result.retrying.append(Retrying(entry.channel, entry.message.key, reason, at, throttled))
        log.warning(
            "通知渠道 %s 暂未送达（第 %d 次）：%s；%s 再试",
            entry.channel,
            entry.attempts,
            reason,
            at.strftime("%H:%M:%S"),
        )

    def _fail(self, entry: _Entry, reason: str, ts: float, tz: tzinfo, result: PumpResult) -> None:
        reason = redact_text(reason)
        at = datetime.fromtimestamp(ts, UTC).astimezone(tz)
        record = {
            "channel": entry.channel,
            "key": entry.message.key,
            "keys": entry.part_keys,
            "title": entry.message.title,
            "reason": reason,
            "at": at.isoformat(),
            "message": message_json(entry.message),
            "parts": entry.parts,
        }

        def move(state: _State) -> None:
            state.pending = [e for e in state.pending if e.id != entry.id]
            state.failed.append(record)

        self._mutate(ts, move)
        result.failed.append(_failed_from_json(record))
        log.error(
            "通知渠道 %s 发送失败，已放弃（%d 条通知）：%s",
            entry.channel,
            len(entry.parts),
            reason,
        )


def _failed_from_json(record: Mapping[str, Any]) -> Failed:
    if not isinstance(record["channel"], str) or not isinstance(record.get("keys", []), list):
        raise TypeError("failed record")
    return Failed(
        channel=str(record["channel"]),
        key=str(record["key"]),
        title=str(record.get("title", "")),
        keys=tuple(str(k) for k in record.get("keys", ())),
        reason=str(record.get("reason", "")),
        at=datetime.fromisoformat(record["at"]),
    )


def _ts(now: datetime | None) -> float:
    return time.time() if now is None else now.timestamp()


# ---- `livekit alerts test` -----------------------------------------------------------------
def test_message(channel_name: str, now: datetime | None = None) -> Message:  # noqa: PT028
    """The message ``livekit alerts test`` sends through a channel."""
    at = (now or datetime.now(UTC)).astimezone(CHINA_TZ)  # shown to users: China time
    stamp = at.strftime("%Y-%m-%d %H:%M:%S")
    text = (
        f"livekit 测试消息：通知渠道「{channel_name}」已配置正确，直播间告警会发到这里。\n"
        f"发送时间：{stamp}"
    )
    markdown = (
        f"### livekit 测试消息\n\n通知渠道「{channel_name}」已配置正确，直播间告警会发到这里。"
        f"\n\n- 发送时间：{stamp}"
    )
    return Message(
        key=f"test-{channel_name}-{uuid.uuid4().hex[:12]}",
        kind="test",
        severity="info",
        title="livekit 测试消息",
        text=text,
        markdown=markdown,
        created_at=at,
    )


async def test_channels(
    channels: Mapping[str, Channel],
    client: httpx.AsyncClient,
    now: datetime | None = None,  # noqa: PT028 (not a pytest test)
) -> list[tuple[str, bool, str]]:
    """Send a test message through every channel: ``(name, delivered?, detail in Chinese)``.

    Bypasses the outbox (a test is not an alert); like a contact-point test, it reports
    exactly what the receiver answered.
    """
    install_log_redaction()

    async def one(name: str, channel: Channel) -> tuple[str, bool, str]:
        try:
            await channel.send(test_message(name, now), client)
        except Throttled as exc:
            wait = f"，约 {math.ceil(exc.retry_after_s)} 秒后可再试" if exc.retry_after_s else ""
            return name, False, redact_text(f"被限流：{exc.reason}{wait}")
        except DeliveryError as exc:
            return name, False, redact_text(f"未送达：{exc.reason}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return name, False, f"未送达：意外错误（{type(exc).__name__}）"
        return name, True, f"已送达（{channel.describe()}）"

    names = sorted(channels)
    return list(await asyncio.gather(*(one(n, channels[n]) for n in names)))


test_channels.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
test_message.__test__ = False  # type: ignore[attr-defined]

__all__ = [
    "Backoff",
    "Delivered",
    "Failed",
    "Outbox",
    "PumpResult",
    "Retrying",
    "digest_message",
    "message_from_json",
    "test_channels",
    "test_message",
]
