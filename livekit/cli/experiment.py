"""``livekit experiment status``: tonight's status of the running experiment, and one alert when
it is decided (see :mod:`livekit.cli.experiment_alert`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from livekit.cli.common import fail, parse_day, user_errors
from livekit.cli.report import _PairsCommand, overrides_of
from livekit.dates import DAY_WORDS

experiment_app = typer.Typer(
    help="实验进度：每天晚上看进行中的实验是否已有结论，有结论时通过告警渠道推送一条提醒。",
    no_args_is_help=True,
)


@experiment_app.command("status", cls=_PairsCommand)
def status(
    day: Annotated[
        str,
        typer.Option("--date", help=f"报告日期：{DAY_WORDS}；参数中的相对日期以它为准。"),
    ] = "today",
    parameters: Annotated[
        list[Any] | None,  # (name, value) pairs: see _PairsCommand
        typer.Option(
            "--parameters",
            "-p",
            metavar="名称 值",
            help="覆盖 params/ab_status.yaml 中的参数（可重复；如 -p experiment_end today）。",
        ),
    ] = None,
    parameter_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--parameters-file",
            "-f",
            metavar="文件",
            help="参数文件（YAML，可重复，在 params/ab_status.yaml 之后、-p 之前应用）。",
        ),
    ] = None,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify/--no-notify",
            help="有结论时通过已配置的告警渠道推送提醒（默认推送；同一结论只推送一次）。",
        ),
    ] = True,
    channel: Annotated[
        list[str] | None,
        typer.Option("--channel", help="只推送到这些渠道（可重复）；默认推送到所有已配置的渠道。"),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="声明通知渠道的告警规则文件（YAML），默认为 params/alerts.yaml。",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """按 params/ab_status.yaml 计算实验今晚的状态（已有结论 / 效果太小 / 继续运行），打印每个指标的结论；配置了通知渠道时，实验有结论只推送一条提醒。"""
    first = parse_day(day, "--date")
    with user_errors():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from livekit.cli.experiment_alert import run_status
        from livekit.pages.ab_status import STATUS_LEGEND, advice
        from livekit.reports import Project
        from livekit.vocab.units import format_count, format_percent

        project = Project.find()
        overrides = overrides_of(parameter_files, parameters)
        done = run_status(
            project,
            first,
            overrides=overrides,
            notify_channels=notify,
            channel_names=channel,
            rules=rules,
        )
        page, st = done.page, done.page.status
        console = Console(highlight=False, soft_wrap=True)
        name = done.experiment.name or "未命名实验"
        a, b = st.observed
        console.print(
            f"实验「{name}」：{page.period.first} 起，已运行 {page.days} 天，"
            f"A 组 {format_count(a)}、B 组 {format_count(b)} 位观众。",
            markup=False,
        )
        table = Table(title="实验进度（序贯检验，随时查看都有效）")
        for col in ("指标", "相对提升", "序贯区间", "校正后 p 值", "状态", "建议"):
            table.add_column(col)
        for n, m in st.metrics.items():
            key = f"decided-{m.direction}" if m.status == "decided" else m.status
            low, high = (format_percent(v, 1, signed=True) for v in m.lift_ci)
            p = "—" if m.adjusted_p is None else f"{m.adjusted_p:.3g}"
            cells = (
                page.report.metrics[n].label,
                format_percent(m.lift, 1, signed=True),
                f"{low} ~ {high}",
                p,
                STATUS_LEGEND[key][0],
                advice(m),
            )
            table.add_row(*(escape(c) for c in cells))
        console.print(table)
        if done.alert is not None:
            console.print(done.alert.line, markup=False)
            if done.alert.pump is not None and done.alert.pump.failed:
                raise fail("实验提醒没有送达：" + done.alert.line)
