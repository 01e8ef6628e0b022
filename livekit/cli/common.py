"""What every command shares: one readable error line and a non-zero exit instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import typer


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
    from livekit.credentials import install_log_masking
    from livekit.vocab.errors import LivekitError

    install_log_masking()  # every command: no secret in any log record, at any level
    try:
        yield
    except LivekitError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("已中断（已写入的数据完整保留，再次运行会从中断处继续）", 130) from None


def parse_day(value: str, option: str) -> date:
    """The day ``value`` names, in the one grammar of :mod:`livekit.dates` (the library's).

    ``YYYY-MM-DD``, ``today``, ``yesterday``, ``N_days_ago`` or ``-N``, range-checked, against
    today in China (or ``LIVEKIT_REPORT_DATE`` when set). A bad value is the library's own
    message, naming ``option``, as one line with exit code 2 (a usage error).
    """
    from livekit.dates import DateError, resolve_day

    try:
        return resolve_day(value, name=option)
    except DateError as exc:
        raise fail(str(exc), 2) from None
