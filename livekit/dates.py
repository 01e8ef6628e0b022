"""One date grammar for everything a user types: parameters, notebooks and the command line.

The same words are accepted everywhere (``params/<name>.yaml``, ``livekit report run -p``,
``livekit.load(...)`` in a notebook, ``livekit sync --from``, ``livekit report run --date``),
resolved against today in China time (or the report's date, see :func:`today`) by
:func:`resolve_day` and :func:`resolve_range`, with the same error messages.

Days: ``2026-11-27``, ``today``, ``yesterday``, ``N_days_ago`` (``7_days_ago``) or ``-N``
(``-7``: the same day, the short form).
Ranges (where a period is asked for, e.g. a report's ``start``): ``last_N_days`` (the N closed
days up to yesterday), ``this_week`` (Monday to today), ``last_week`` (Monday to Sunday),
``this_month`` (the 1st to today), ``last_month``; or a first and a last day.

Every day is range-checked before any arithmetic is done with it: it must lie between
:data:`FIRST_DAY` and one year after today (China time), so that ``99999999_days_ago``, ``-99999999``
or ``9999-12-31`` is one readable :class:`DateError` rather than an ``OverflowError`` somewhere
downstream.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta

from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

__all__ = [
    "DAY_WORDS",
    "FIRST_DAY",
    "RANGE_WORDS",
    "REPORT_DATE_ENV",
    "DateError",
    "DayOutOfRangeError",
    "check_day",
    "days_before",
    "latest_day",
    "range_words",
    "resolve_day",
    "resolve_range",
    "today",
]

# ASCII digits only: ``\d`` also matches other scripts' digits, which int() may not take.
_DAYS_AGO = re.compile(r"([0-9]+)_days?_ago")
_MINUS_N = re.compile(r"-([0-9]+)")
_LAST_N = re.compile(r"last_([0-9]+)_days?")
FIRST_DAY = date(2000, 1, 1)
"""The earliest day livekit accepts anywhere (neither platform has data from before it)."""
FUTURE_DAYS = 366
"""How far after today (China time) a day may lie: one year."""
DAY_WORDS = "YYYY-MM-DD、today、yesterday、N_days_ago 或 -N（N 天前）"
"""The accepted spellings of one day, as every message and help text lists them."""
RANGE_WORDS = "last_N_days、this_week、last_week、this_month、last_month"
"""The accepted spellings of a period (where a period is asked for)."""


class DateError(LivekitError, ValueError):
    """A date parameter that cannot be understood; the message says what is accepted."""


class DayOutOfRangeError(DateError):
    """A day outside the accepted span (:data:`FIRST_DAY` to a year after today)."""


REPORT_DATE_ENV = "LIVEKIT_REPORT_DATE"


def today() -> date:
    """Today in China time, or the report date a report run sets for its kernel.

    ``livekit report run --date D`` renders a report as of day D: it sets LIVEKIT_REPORT_DATE in
    the kernel's environment, and every relative date in the notebook resolves against D.
    """
    forced = os.environ.get(REPORT_DATE_ENV, "").strip()
    if forced:
        try:
            day = date.fromisoformat(forced)
        except ValueError:
            raise DateError(
                f"环境变量 {REPORT_DATE_ENV} 应为 YYYY-MM-DD，收到 {_clip(forced)!r}"
            ) from None
        return check_day(day, name=f"环境变量 {REPORT_DATE_ENV}")
    return datetime.now(CHINA_TZ).date()


def latest_day() -> date:
    """The latest day accepted anywhere: one year after the real today in China."""
    return datetime.now(CHINA_TZ).date() + timedelta(days=FUTURE_DAYS)


def range_words() -> str:
    """The accepted span of days, for messages: ``2000-01-01 ~ 2027-12-05``."""
    return f"{FIRST_DAY} ~ {latest_day()}"


def check_day(day: date, *, name: str = "日期") -> date:
    """``day`` if it lies in the accepted span (see the module docstring), else DateError."""
    if not FIRST_DAY <= day <= latest_day():
        raise DayOutOfRangeError(f"{name} {day} 超出可用范围（{range_words()}，北京时间）")
    return day


def days_before(base: date, count: str | int, *, name: str = "日期", shown: object = None) -> date:
    """``base`` minus ``count`` days, range-checked before subtracting (no overflow)."""
    shown = _clip(count if shown is None else shown)
    text = str(count)
    # a count too long to be a day in range is refused before int() (which refuses > 4300 digits)
    n = int(text) if text.isascii() and text.isdigit() and len(text) <= 7 else None
    if n is None or n > (base - FIRST_DAY).days:
        raise DayOutOfRangeError(
            f"{name} {shown!r} 早于 {FIRST_DAY}；可用日期范围为 {range_words()}（北京时间）"
        )
    return base - timedelta(days=n)


def _clip(value: object) -> str:
    """``value`` as text short enough for a one-line message."""
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def resolve_day(value: date | str | int, *, name: str = "日期", on: date | None = None) -> date:
    """One day: a ``date``, an ISO day or a relative word (see the module docstring).

    A whole number is read as its text: ``-29`` is ``"-29"`` (a YAML file's ``start: -29``).

    Relative words resolve against ``on`` (default :func:`today`). A period (``last_7_days``)
    is refused here: where one day is asked for, the message says so.
    """
    if isinstance(value, datetime):
        return check_day(value.astimezone(CHINA_TZ).date(), name=name)
    if isinstance(value, date):
        return check_day(value, name=name)
    base = check_day(on or today(), name="基准日期")
    return _day(value, name, base, accepted=DAY_WORDS)


def _day(value: object, name: str, base: date, *, accepted: str) -> date:
    """The day ``value`` names, relative to ``base``; ``accepted`` is listed when it names none."""
    text = str(value).strip().lower()
    if text == "today":
        return base
    if text == "yesterday":
        return days_before(base, 1, name=name, shown=value)
    m = _DAYS_AGO.fullmatch(text) or _MINUS_N.fullmatch(text)
    if m:
        return days_before(base, m.group(1), name=name, shown=value)
    if _is_range_word(text):
        raise DateError(f"{name} {_clip(value)!r} 是一个区间，这里只接受单个日期：{DAY_WORDS}")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise DateError(f"{name} 无法识别：{_clip(value)!r}；可用 {accepted}") from None
    return check_day(day, name=name)


def _is_range_word(text: str) -> bool:
    return text in _RANGES or _LAST_N.fullmatch(text) is not None


def resolve_range(
    start: date | str | int,
    end: date | str | int | None = None,
    *,
    on: date | None = None,
) -> tuple[date, date]:
    """(first, last) day, inclusive. ``start`` may be a range word; then ``end`` must be None.

    Without ``end`` a day ``start`` is a one-day period. The period may not end after ``on``
    (default :func:`today`).
    """
    base = check_day(on or today(), name="基准日期")
    text = start.strip().lower() if isinstance(start, str) else None
    first: date
    last: date
    if text is not None and _is_range_word(text):
        if end is not None:
            raise DateError(f"开始日期 {start!r} 已是一个区间，不能再给结束日期 {_clip(end)!r}")
        m = _LAST_N.fullmatch(text)
        if m:
            if m.group(1).strip("0") == "":
                raise DateError(f"{_clip(start)!r}：天数至少为 1")
            first = days_before(base, m.group(1), name="开始日期", shown=start)
            last = days_before(base, 1, name="结束日期", shown=start)
        else:
            first, last = _RANGES[text](base)
    else:
        if isinstance(start, date):
            first = resolve_day(start, name="开始日期", on=base)
        else:
            first = _day(start, "开始日期", base, accepted=f"{DAY_WORDS}，或区间 {RANGE_WORDS}")
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
