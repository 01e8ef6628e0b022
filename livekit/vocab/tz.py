"""The one China timezone: every day boundary and timestamp livekit shows is China time."""

from __future__ import annotations

from datetime import timedelta, timezone

__all__ = ["CHINA_TZ", "CHINA_TZ_NAME"]

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and needs
# no tz database (Windows machines without tzdata read the same days).
CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")
# The IANA name, for libraries that take a zone name (polars datetime dtypes, pandas).
CHINA_TZ_NAME = "Asia/Shanghai"
