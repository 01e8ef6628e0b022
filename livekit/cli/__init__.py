"""The ``livekit`` command. Thin: each command parses options and calls one library function.

User-facing help is Simplified Chinese. Heavy imports happen inside commands, so that
``livekit --help`` stays fast.
"""

from __future__ import annotations

import typer

from livekit.cli import data
from livekit.cli.auth import app as auth_app
from livekit.cli.monitor import alerts_app, monitor
from livekit.cli.report import report_app, schedule_app
from livekit.cli.sandbox import app as sandbox_app

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
app.add_typer(data.import_app, name="import")
app.add_typer(auth_app, name="auth")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(report_app, name="report")
app.add_typer(schedule_app, name="schedule")
app.command("monitor")(monitor)
app.add_typer(alerts_app, name="alerts")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="显示版本号并退出。", is_eager=True),
) -> None:
    if version:
        from livekit import __version__

        typer.echo(__version__)
        raise typer.Exit()


def main() -> None:
    import logging

    # stamina logs every scheduled retry as a WARNING; the client logs retries itself (INFO),
    # and a flaky network must not flood the terminal of someone running `livekit sync`.
    logging.getLogger("stamina").setLevel(logging.ERROR)
    app()
