"""Relative dates in report parameters (livekit.dates), resolved against a fixed day."""

from __future__ import annotations

from datetime import date

import pytest

from livekit.config import LivekitError
from livekit.dates import DateError, resolve_day, resolve_range

ON = date(2026, 11, 28)  # a Saturday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", ON),
        ("yesterday", date(2026, 11, 27)),
        ("7_days_ago", date(2026, 11, 21)),
        ("1_day_ago", date(2026, 11, 27)),
        ("2026-10-01", date(2026, 10, 1)),
        (" Yesterday ", date(2026, 11, 27)),
    ],
)
def test_days(text: str, expected: date) -> None:
    assert resolve_day(text, on=ON) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("last_7_days", None, (date(2026, 11, 21), date(2026, 11, 27))),
        ("last_1_day", None, (date(2026, 11, 27), date(2026, 11, 27))),
        ("this_week", None, (date(2026, 11, 23), ON)),
        ("last_week", None, (date(2026, 11, 16), date(2026, 11, 22))),
        ("this_month", None, (date(2026, 11, 1), ON)),
        ("last_month", None, (date(2026, 10, 1), date(2026, 10, 31))),
        ("40_days_ago", "27_days_ago", (date(2026, 10, 19), date(2026, 11, 1))),
        ("2026-11-01", None, (date(2026, 11, 1), date(2026, 11, 1))),
    ],
)
def test_ranges(start: str, end: str | None, expected: tuple[date, date]) -> None:
    assert resolve_range(start, end, on=ON) == expected


@pytest.mark.parametrize(
    ("start", "end", "needle"),
    [
        ("soon", None, "soon"),
        ("2026-11-20", "2026-11-10", "晚于结束日期"),
        ("today", "2026-12-01", "晚于今天"),
        ("last_7_days", "yesterday", "已是一个区间"),
        ("last_0_days", None, "至少为 1"),
    ],
)
def test_bad_dates_say_what_to_fix(start: str, end: str | None, needle: str) -> None:
    with pytest.raises(DateError, match=needle) as info:
        resolve_range(start, end, on=ON)
    assert isinstance(info.value, LivekitError)


def test_a_report_run_pins_today(monkeypatch: pytest.MonkeyPatch) -> None:
    from livekit.dates import today

    monkeypatch.setenv("LIVEKIT_REPORT_DATE", "2026-11-20")
    assert today() == date(2026, 11, 20)
    assert resolve_range("last_7_days") == (date(2026, 11, 13), date(2026, 11, 19))
    monkeypatch.setenv("LIVEKIT_REPORT_DATE", "someday")
    with pytest.raises(DateError, match="LIVEKIT_REPORT_DATE"):
        today()
