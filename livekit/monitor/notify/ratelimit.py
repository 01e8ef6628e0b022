"""Client-side sliding-window rate limits, one log of send times per robot.

The IMs limit each *robot* (webhook), not each livekit channel: two channels pointing at the
same Feishu webhook share its 5/s and 100/min. A channel therefore names its robot by
``limit_key`` (a hash of the webhook URL, safe to store) and its :class:`RateLimit` windows.

A send at time ``t`` counts against a window of ``w`` seconds while ``now - t < w``. When the
robot itself answers "too fast" the key is also *blocked* until the time it asked for.
All times are POSIX seconds supplied by the caller, so tests can drive a virtual clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_requests`` sends in any ``window_s`` seconds."""

    window_s: float
    max_requests: int


FEISHU_LIMITS = (RateLimit(1.0, 5), RateLimit(60.0, 100))  # per bot (飞书 custom bot guide)
DINGTALK_LIMITS = (RateLimit(60.0, 20),)  # per robot; above it 钉钉 blocks the robot 10 min
WECOM_LIMITS = (RateLimit(60.0, 20),)  # per robot (企业微信 群机器人 docs)

LONG_WINDOW_S = 60.0  # windows at least this long decide whether to digest


def make_limits(
    defaults: Iterable[RateLimit], per_minute: int | None, per_second: int | None
) -> tuple[RateLimit, ...]:
    """``defaults`` with the per-minute / per-second window replaced (or added) when given."""
    out = {lim.window_s: lim for lim in defaults}
    if per_minute is not None:
        out[60.0] = RateLimit(60.0, per_minute)
    if per_second is not None:
        out[1.0] = RateLimit(1.0, per_second)
    return tuple(sorted(out.values(), key=lambda lim: lim.window_s))


class SlidingWindowLimiter:
    """Send logs and blocks per robot key; serializable into the outbox file."""

    def __init__(self) -> None:
        self._sends: dict[str, list[float]] = {}
        self._blocked: dict[str, float] = {}

    # ---- queries ---------------------------------------------------------------------------
    def available(
        self, key: str | None, limits: Iterable[RateLimit], now: float, *, min_window: float = 0.0
    ) -> float:
        """How many sends are allowed right now (``math.inf`` when unlimited).

        Only windows of at least ``min_window`` seconds are considered (a block always is).
        """
        if key is None:
            return math.inf
        if self._blocked.get(key, -math.inf) > now:
            return 0
        sends = self._sends.get(key, [])
        room: float = math.inf
        for lim in limits:
            if lim.window_s < min_window:
                continue
            used = sum(1 for t in sends if now - t < lim.window_s)
            room = min(room, max(0, lim.max_requests - used))
        return room

    def next_free(self, key: str | None, limits: Iterable[RateLimit], now: float) -> float:
        """The earliest time ``>= now`` at which one more send is allowed."""
        if key is None:
            return now
        at = max(now, self._blocked.get(key, -math.inf))
        sends = sorted(self._sends.get(key, []))
        for lim in limits:
            inside = [t for t in sends if now - t < lim.window_s]
            excess = len(inside) - lim.max_requests
            if excess >= 0:  # the (excess+1) oldest sends must leave the window first
                at = max(at, inside[excess] + lim.window_s)
        return at

    # ---- updates ---------------------------------------------------------------------------
    def record(self, key: str | None, now: float) -> None:
        if key is not None:
            self._sends.setdefault(key, []).append(now)

    def block(self, key: str | None, until: float) -> None:
        if key is not None:
            self._blocked[key] = max(until, self._blocked.get(key, -math.inf))

    def prune(self, now: float, keep_s: float = 3600.0) -> None:
        """Forget sends older than ``keep_s`` and blocks that are over."""
        for key in list(self._sends):
            kept = [t for t in self._sends[key] if now - t < keep_s]
            if kept:
                self._sends[key] = kept
            else:
                del self._sends[key]
        for key in [k for k, until in self._blocked.items() if until <= now]:
            del self._blocked[key]

    # ---- persistence -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "sends": {k: [round(t, 3) for t in v] for k, v in sorted(self._sends.items())},
            "blocked": {k: round(v, 3) for k, v in sorted(self._blocked.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SlidingWindowLimiter:
        limiter = cls()
        if not data:
            return limiter
        sends = data.get("sends") or {}
        blocked = data.get("blocked") or {}
        limiter._sends = {str(k): [float(t) for t in v] for k, v in sends.items()}
        limiter._blocked = {str(k): float(v) for k, v in blocked.items()}
        return limiter
