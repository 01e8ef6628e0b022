"""A clock that can be set and accelerated: "now" in the sandbox's world."""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime

from livekit.sandbox.world import CHINA_TZ

EARLIEST = datetime(2000, 1, 1, tzinfo=CHINA_TZ)
LATEST = datetime(2100, 1, 1, tzinfo=CHINA_TZ)
"""The clock may be set to any time in [EARLIEST, LATEST): far from datetime's own limits."""
MAX_SPEED = 100_000.0
"""Fastest acceleration (one real hour is about eleven years): a clock set anywhere in range
runs for weeks before it could leave what ``datetime`` can show, so it cannot be broken."""


def check(start: datetime, speed: object = None) -> None:
    """ValueError (in English, for the sandbox's 400 answers) unless the setting is usable."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=CHINA_TZ)
    if not EARLIEST <= start < LATEST:
        raise ValueError(f"now must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    if speed is None:
        return
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValueError("speed must be a number")
    if not (math.isfinite(speed) and 0 <= speed <= MAX_SPEED):  # also rejects NaN
        raise ValueError(f"speed must be >= 0 and <= {MAX_SPEED:g}")


class Clock:
    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self.set(start, speed)

    def set(self, start: datetime, speed: float | None = None) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=CHINA_TZ)
        check(start, speed)
        with self._lock:  # validated first: a rejected change leaves the clock as it was
            self._virtual0 = start.timestamp()
            self._real0 = time.monotonic()
            if speed is not None:
                self._speed = float(speed)

    @property
    def speed(self) -> float:
        return self._speed

    def timestamp(self) -> float:
        with self._lock:
            return self._virtual0 + (time.monotonic() - self._real0) * self._speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), CHINA_TZ)
