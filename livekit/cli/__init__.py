"""The ``livekit`` command. Thin: each command parses options and calls one library function.

User-facing help is Simplified Chinese. Heavy imports happen inside commands, so that
``livekit --help`` stays fast.
"""

from __future__ import annotations

import typer

from livekit.cli import data
from livekit.cli.airflow import app as airflow_app
from livekit.cli.auth import app as auth_app
from livekit.cli.experiment import experiment_app
from livekit.cli.monitor import alerts_app, monitor
from livekit.cli.report import report_app, schedule_app
from livekit.cli.sandbox import app as sandbox_app
from livekit.cli.shops import shops

app = typer.Typer(
    name="livekit",
    help="livekit：抖音直播电商数据分析工具（巨量千川 + 抖店），内置离线沙盒。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold tokens: never print them
    rich_markup_mode="rich",
)
app.command("sync")(data.sync)
app.command("datasets")(data.datasets)
app.command("shops")(shops)
app.add_typer(data.import_app, name="import")
app.add_typer(auth_app, name="auth")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(report_app, name="report")
app.add_typer(schedule_app, name="schedule")
app.command("monitor")(monitor)
app.add_typer(alerts_app, name="alerts")
app.add_typer(experiment_app, name="experiment")
app.add_typer(airflow_app, name="airflow")


def _show_version(value: bool) -> None:
    # An eager option's callback runs while the options are parsed, before click asks for a
    # command: a check inside the group callback below would come after "Missing command".
    if value:
        from livekit import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="显示版本号并退出。", is_eager=True, callback=_show_version
    ),
) -> None:
    """Options of the root command; the help text is the Typer app's."""


def main() -> None:
    import logging
    import sys

    # typer carries its own copy of click and re-exports only BadParameter, Abort and Exit of
    # its exceptions; the version is pinned in uv.lock and tests/test_cli.py runs this path.
    from typer._click.exceptions import ClickException, UsageError

    from livekit.cli.common import fail

    # stamina logs every scheduled retry as a WARNING; the client logs retries itself (INFO),
    # and a flaky network must not flood the terminal of someone running `livekit sync`.
    logging.getLogger("stamina").setLevel(logging.ERROR)
    # Not standalone: click would print its own usage errors (a missing value, an unknown
    # option or command) as a boxed English block. Every input error is one `错误：` line.
    command = typer.main.get_command(app)
    try:
        result = command.main(prog_name="livekit", standalone_mode=False)
    except UsageError as exc:
        if not exc.format_message():  # `livekit` alone: the help was shown, nothing went wrong
            sys.exit(0)
        where = exc.ctx.command_path if exc.ctx is not None else "livekit"
        fail(f"命令行参数有误：{exc.format_message()}（用法见 `{where} --help`）")
        sys.exit(exc.exit_code)
    except ClickException as exc:  # e.g. a file option that cannot be opened
        fail(exc.format_message())
        sys.exit(exc.exit_code)
    except typer.Abort:  # Ctrl-C or end of input at a prompt
        fail("已中止。")
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
