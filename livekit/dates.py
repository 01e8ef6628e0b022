"""Dates as users write them in parameters: ISO days and a few relative words, China time.

Report parameters may be relative so that the same ``params/<name>.yaml`` renders every
morning: they are resolved inside the notebook, against today in Asia/Shanghai, by
:func:`resolve_day` and :func:`resolve_range`.

Days: ``2026-11-27``, ``today``, ``yesterday``, ``N_days_ago`` (``7_days_ago``).
Ranges: ``last_N_days`` (the N closed days up to yesterday), ``this_week`` (Monday to today),
``last_week`` (Monday to Sunday), ``this_month`` (the 1st to today), ``last_month``.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta, timezone

from livekit.config import LivekitError

CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")

_DAYS_AGO = re.compile(r"^(\d+)_days?_ago$")
_LAST_N = re.compile(r"^last_(\d+)_days?$")
DAY_WORDS = "YYYY-MM-DD、today、yesterday、N_days_ago"
RANGE_WORDS = "last_N_days、this_week、last_week、this_month、last_month"


class DateError(LivekitError, ValueError):
    """A date parameter that cannot be understood; the message says what is accepted."""


REPORT_DATE_ENV = "LIVEKIT_REPORT_DATE"


def today() -> date:
    """Today in China time, or the report date a report run sets for its kernel.

    ``livekit report run --date D`` renders a report as of day D: it sets LIVEKIT_REPORT_DATE in
    the kernel's environment, and every relative date in the notebook resolves against D.
    """
    forced = os.environ.get(REPORT_DATE_ENV, "").strip()
    if forced:
        try:
            return date.fromisoformat(forced)
        except ValueError:
            raise DateError(
                f"环境变量 {REPORT_DATE_ENV} 应为 YYYY-MM-DD，收到 {forced!r}"
            ) from None
    return datetime.now(CHINA_TZ).date()


def resolve_day(value: date | str, *, name: str = "日期", on: date | None = None) -> date:
    """One day from an ISO date or a relative word (see the module docstring)."""
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).date()
    if isinstance(value, date):
        return value
    base = on or today()
    text = str(value).strip().lower()
    if text == "today":
        return base
    if text == "yesterday":
        return base - timedelta(days=1)
    m = _DAYS_AGO.match(text)
    if m:
        return base - timedelta(days=int(m.group(1)))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DateError(f"{name} 无法识别：{value!r}；可用 {DAY_WORDS}") from None


def resolve_range(
    start: date | str,
    end: date | str | None = None,
    *,
    on: date | None = None,
) -> tuple[date, date]:
    """(first, last) day, inclusive. ``start`` may be a range word; then ``end`` must be None."""
    base = on or today()
    text = start.strip().lower() if isinstance(start, str) else None
    first: date
    last: date
    if text is not None and (_LAST_N.match(text) or text in _RANGES):
        if end is not None:
            raise DateError(f"开始日期 {start!r} 已是一个区间，不能再给结束日期 {end!r}")
        m = _LAST_N.match(text)
        if m:
            n = int(m.group(1))
            if n < 1:
                raise DateError(f"{start!r}：天数至少为 1")
            first, last = base - timedelta(days=n), base - timedelta(days=1)
        else:
            first, last = _RANGES[text](base)
    else:
        first = resolve_day(start, name="开始日期", on=base)
        last = resolve_day(end, name="结束日期", on=base) if end is not None else first
    if first > last:
        raise DateError(f"开始日期 {first} 晚于结束日期 {last}")
    if last > base:
        raise DateError(f"结束日期 {last} 晚于今天（{base}，北京时间）")
    return first, last


def _this_week(base: date) -> tuple[date, date]:
    return base - timedelta(days=base.weekday()), base


def _last_week(base: date) -> tuple[date, date]:
    monday = base - timedelta(days=base.weekday() + 7)
    return monday, monday + timedelta(days=6)


def _this_month(base: date) -> tuple[date, date]:
    return base.replace(day=1), base


def _last_month(base: date) -> tuple[date, date]:
    last = base.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


_RANGES = {
    "this_week": _this_week,
    "last_week": _last_week,
    "this_month": _this_month,
    "last_month": _last_month,
}
