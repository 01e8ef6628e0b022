"""A clock that can be set and accelerated: "now" in the sandbox's world."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from livekit.sandbox.world import CHINA_TZ


class Clock:
    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self.set(start, speed)

    def set(self, start: datetime, speed: float | None = None) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=CHINA_TZ)
        if speed is not None and not speed >= 0:  # also rejects NaN
            raise ValueError("speed must be >= 0")
        with self._lock:  # validated first: a rejected change leaves the clock as it was
            self._virtual0 = start.timestamp()
            self._real0 = time.monotonic()
            if speed is not None:
                self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def timestamp(self) -> float:
        with self._lock:
            return self._virtual0 + (time.monotonic() - self._real0) * self._speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), CHINA_TZ)
