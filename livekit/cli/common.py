"""What every command shares: one readable error line and a non-zero exit instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import typer

CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``错误：message`` to stderr, as one line; return the Exit to raise.

    The message is plain text: it may quote a path or a value the user typed, so it is escaped
    for rich (``[/]`` in a file name is not markup) and its line breaks become spaces.
    """
    from rich.console import Console
    from rich.markup import escape

    line = escape(" ".join(message.splitlines()))
    Console(stderr=True, soft_wrap=True).print(f"[bold red]错误：[/]{line}", highlight=False)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn livekit's user-facing errors into one line on stderr and exit code 1."""
    from livekit.config import LivekitError
    from livekit.credentials import install_log_masking

    install_log_masking()  # every command: no secret in any log record, at any level
    try:
        yield
    except LivekitError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("已中断（已写入的数据完整保留，再次运行会从中断处继续）", 130) from None


def today_in_china() -> date:
    return datetime.now(CHINA_TZ).date()


def parse_day(value: str, option: str) -> date:
    """YYYY-MM-DD, ``today``, ``yesterday``, or ``-N`` (N days before today), range-checked.

    The day must lie in :func:`livekit.dates.range_words` (checked before any arithmetic), so
    ``--from -99999999`` is one line, not an OverflowError.
    """
    from livekit.dates import DateError, DayOutOfRangeError, days_before, resolve_day

    text = value.strip().lower()
    today = today_in_china()
    try:
        if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
            return days_before(today, text[1:], name=option, shown=value)
        return resolve_day(text, name=option, on=today)
    except DayOutOfRangeError as exc:
        raise fail(str(exc), 2) from None
    except DateError:
        raise fail(
            f"{option} 应为 YYYY-MM-DD 格式的日期（或 today、yesterday、-N 表示 N 天前），"
            f"收到 {value!r}",
            2,
        ) from None
