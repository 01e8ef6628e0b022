"""The one date grammar (livekit.dates): the library and the command line read the same table.

Every spelling is checked from both entry points: ``resolve_day`` called from Python (as a
notebook or a params file uses it) and a real ``livekit`` invocation through typer's CliRunner
(``report run --date`` and ``sync --from``), against a fixed day: ``LIVEKIT_REPORT_DATE`` pins
"today" for both, as a report run does for its kernel.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from livekit.cli import app
from livekit.dates import DAY_WORDS, RANGE_WORDS, DateError, resolve_day, resolve_range
from livekit.vocab.errors import LivekitError

ON = date(2026, 11, 28)  # a Saturday
runner = CliRunner()

# (what a user types, the day it names when today is ON)
DAYS = [
    ("today", ON),
    ("yesterday", ON - timedelta(days=1)),
    ("7_days_ago", ON - timedelta(days=7)),
    ("1_day_ago", ON - timedelta(days=1)),
    ("29_days_ago", ON - timedelta(days=29)),
    ("-29", ON - timedelta(days=29)),
    ("-1", ON - timedelta(days=1)),
    ("-0", ON),
    ("2026-10-01", date(2026, 10, 1)),
    (" Yesterday ", ON - timedelta(days=1)),
    ("TODAY", ON),
]

# (what a user types where one day is asked for, a piece of the one-line message)
BAD_DAYS = [
    ("soon", "无法识别：'soon'"),
    ("- 3", "无法识别"),
    ("-1_days_ago", "无法识别"),
    ("-²", "无法识别"),
    ("+3", "无法识别"),
    ("2026-02-30", "无法识别"),
    ("last_7_days", "是一个区间"),
    ("last_week", "是一个区间"),
    ("-99999999", "早于 2000-01-01"),
    ("99999999_days_ago", "早于 2000-01-01"),
    ("1999-12-31", "超出可用范围"),
    ("9999-12-31", "超出可用范围"),
]


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Today is ON, for the library and for the command (the variable a report run sets)."""
    env = {"LIVEKIT_REPORT_DATE": ON.isoformat()}
    monkeypatch.setenv("LIVEKIT_REPORT_DATE", ON.isoformat())
    return env


@pytest.fixture
def report_dates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A project folder as the current folder; ``livekit.reports.run`` records the report date
    the command hands it (the boundary of the CLI layer) instead of rendering."""
    import livekit.reports

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params").mkdir()
    monkeypatch.chdir(tmp_path)
    seen: list[Any] = []

    def record(*names: Any, **kwargs: Any) -> list[Any]:
        seen.append(kwargs["date"])
        return []

    monkeypatch.setattr(livekit.reports, "run", record)
    return seen


def cli_error(args: list[str], env: dict[str, str]) -> str:
    """The one line a bad command prints, without its ``错误：`` prefix (exit code 2)."""
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("错误：")
    return lines[0].removeprefix("错误：")


@pytest.mark.parametrize(("text", "expected"), DAYS)
def test_library_days(text: str, expected: date, pinned: dict[str, str]) -> None:
    assert resolve_day(text, on=ON) == expected
    assert resolve_day(text) == expected  # today from LIVEKIT_REPORT_DATE
    assert resolve_range(text, on=ON) == (expected, expected)  # a day is a one-day period


@pytest.mark.parametrize(("text", "expected"), DAYS)
def test_command_line_days(
    text: str, expected: date, pinned: dict[str, str], report_dates: list[Any]
) -> None:
    result = runner.invoke(app, ["report", "run", "hello", "--date", text], env=pinned)
    assert result.exit_code == 0, result.output
    assert report_dates == [expected]


@pytest.mark.parametrize(("text", "needle"), BAD_DAYS)
def test_bad_days_are_one_message_everywhere(
    text: str, needle: str, pinned: dict[str, str]
) -> None:
    """The library's message, naming the option, is exactly what the command prints."""
    for option, args in (
        ("--date", ["report", "run", "hello", "--date", text]),
        ("--from", ["sync", "--from", text]),
    ):
        with pytest.raises(DateError) as caught:
            resolve_day(text, name=option, on=ON)
        message = str(caught.value)
        assert needle in message
        assert message.startswith(option)
        assert "\n" not in message
        assert isinstance(caught.value, LivekitError)
        assert cli_error(args, pinned) == message


def test_unknown_words_list_the_accepted_forms() -> None:
    with pytest.raises(DateError) as day:
        resolve_day("soon", on=ON)
    assert DAY_WORDS in str(day.value)
    assert "-N" in DAY_WORDS
    assert "N_days_ago" in DAY_WORDS
    with pytest.raises(DateError) as period:
        resolve_range("soon", on=ON)
    assert DAY_WORDS in str(period.value)
    assert RANGE_WORDS in str(period.value)


def test_help_texts_describe_the_one_grammar() -> None:
    env = {"COLUMNS": "400", "NO_COLOR": "1"}
    for args in (["report", "run", "--help"], ["sync", "--help"], ["sandbox", "replay", "--help"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        assert DAY_WORDS in result.output, args


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
        ("-40", "-27", (date(2026, 10, 19), date(2026, 11, 1))),
        ("-29", "today", (date(2026, 10, 30), ON)),
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
        ("-3", "-5", "晚于结束日期"),
        ("today", "2026-12-01", "晚于今天"),
        ("last_7_days", "yesterday", "已是一个区间"),
        ("last_0_days", None, "至少为 1"),
        ("2026-11-01", "last_week", "是一个区间"),
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
    assert resolve_day("-1") == date(2026, 11, 19)
    monkeypatch.setenv("LIVEKIT_REPORT_DATE", "someday")
    with pytest.raises(DateError, match="LIVEKIT_REPORT_DATE"):
        today()


def test_a_bad_report_date_variable_is_one_line_on_the_command_line() -> None:
    message = cli_error(["sync", "--from", "-1"], {"LIVEKIT_REPORT_DATE": "someday"})
    assert "LIVEKIT_REPORT_DATE" in message
    assert "someday" in message
