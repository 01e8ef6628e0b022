"""``livekit report run|list`` and ``livekit schedule run|show``: notebooks rendered as reports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from livekit.cli.common import fail, parse_day, user_errors
from livekit.dates import DAY_WORDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from livekit.reports import Overrides, RunOptions, RunResult

report_app = typer.Typer(
    help="报告：用 papermill 运行 notebooks/ 中的笔记本，生成离线 HTML 报告与索引。",
    no_args_is_help=True,
)
schedule_app = typer.Typer(
    help="定时报告：按 params/schedules.yaml 的 cron 时间同步数据（sync）并运行报告。",
    no_args_is_help=True,
)

Timeout = Annotated[
    float | None, typer.Option("--timeout", help="整个报告的时限（秒），默认 1800。")
]
CellTimeout = Annotated[
    float | None, typer.Option("--cell-timeout", help="单个单元的时限（秒），默认 600。")
]


class _PairsCommand(TyperCommand):
    """A command whose ``-p`` takes two values (``-p name value``), as papermill's does.

    Typer cannot declare a repeated option of pairs (``list[tuple[str, str]]`` is refused), but
    click can: its options take ``nargs``. So the option is declared as a list and given
    ``nargs=2`` here; click then hands over ``(name, value)`` tuples and checks the count.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.name == "parameters":
                param.nargs = 2


def _options(timeout: float | None, cell_timeout: float | None) -> RunOptions:
    from livekit.reports import RunOptions

    return RunOptions().with_limits(timeout, cell_timeout)


def _line(result: RunResult) -> str:
    from rich.markup import escape

    # names, titles, paths and error text are the user's or a notebook's: text, never markup
    mark = "[green]✓ 成功[/]" if result.ok else "[red]✗ 失败[/]"
    where = result.html or result.notebook or ""
    text = escape(f"{result.name}（{result.title}）{result.date}，用时 {result.seconds:.1f} 秒")
    text = f"{mark} {text}"
    if where:
        text += escape(f"：{where}")
    if result.error:
        text += f"\n    [red]{escape(str(result.error))}[/]"
    return text


def overrides_of(
    parameter_files: Sequence[Path] | None, parameters: Sequence[Any] | None
) -> Overrides | None:
    """The -f files and -p (name, value) pairs of one run as Overrides (None when neither)."""
    from livekit.reports import Overrides

    if not (parameters or parameter_files):
        return None
    return Overrides(
        tuple(parameter_files or ()), tuple((str(k), str(v)) for k, v in parameters or ())
    )


@report_app.command("run", cls=_PairsCommand)
def run(
    names: Annotated[
        list[str] | None, typer.Argument(help="报告名称（notebooks/ 中的笔记本名，不含 .ipynb）。")
    ] = None,
    all_reports: Annotated[bool, typer.Option("--all", help="运行全部报告。")] = False,
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
            help="本次运行的参数，覆盖参数文件（可重复；值按 YAML 读，如 -p top_n 5、"
            "-p metrics '\\[gmv, roas]'；文本与日期参数取原样，如 -p start -29）。",  # a rich markup escape
        ),
    ] = None,
    parameter_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--parameters-file",
            "-f",
            metavar="文件",
            help="本次运行的参数文件（YAML，可重复，按顺序应用：在 params/<名称>.yaml 之后、"
            "-p 之前）。",
        ),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="同时运行的报告数。")] = 1,
    timeout: Timeout = None,
    cell_timeout: CellTimeout = None,
    shop: Annotated[
        str | None,
        typer.Option(
            "--shop",
            metavar="店铺",
            help="多店铺时运行哪个店铺的报告（params/shops.yaml 中的 id；即 -p shop 店铺），"
            "输出到 reports/shop=<id>/。",
        ),
    ] = None,
    all_shops: Annotated[
        bool, typer.Option("--all-shops", help="为店铺清单中的每个店铺各运行一次。")
    ] = False,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="运行后把报告页面与运行记录上传到对象存储（LIVEKIT_STORE_URL 下的 reports/），"
            "并重建那里的 reports/index.html。",
        ),
    ] = False,
) -> None:
    """运行报告：参数先按笔记本的 parameters 单元校验，再执行并导出 HTML，最后更新 reports/index.html。

    参数依次取自笔记本的默认值、params/<名称>.yaml、各个 -f 文件、各个 -p（后者优先），全部按
    同样的规则校验；与 --all 或多个报告同用时，每个报告都须声明 -p/-f 给出的参数。
    """
    first = parse_day(day, "--date")
    with user_errors():
        from rich.console import Console

        from livekit.jobs import clear_stale_sandbox
        from livekit.reports import Project, run

        options = _options(timeout, cell_timeout)
        console = Console(highlight=False, soft_wrap=True)
        project = Project.find()
        overrides = overrides_of(parameter_files, parameters)
        settings = _publish_settings() if publish else None  # before anything runs
        clear_stale_sandbox()  # a sandbox store from an older world would never be refetched
        results = run(
            names or None,
            all=all_reports,
            date=first,
            jobs=jobs,
            options=options,
            project=project,
            on_done=lambda r: _done(console, project, r, overrides, settings),
            overrides=overrides,
            shop=shop,
            all_shops=all_shops,
        )
        console.print(f"报告索引：{project.index_file.resolve()}", markup=False)
        if settings is not None:
            from livekit.reports.publish import publish_index

            console.print(f"已发布的报告索引：{publish_index(settings, project)}", markup=False)
        failed = [r.name for r in results if not r.ok]
        if failed:
            raise fail(f"{len(failed)} 个报告失败：{'、'.join(failed)}（执行过的笔记本已保留）")


def _publish_settings() -> Any:
    """The settings to publish with (``--publish``); one line when there is no object store."""
    from livekit.config import load_settings
    from livekit.reports.publish import check_publishable

    settings = load_settings()
    check_publishable(settings)
    return settings


def _done(
    console: Any, project: Any, result: RunResult, overrides: Any, settings: Any = None
) -> None:
    """A report finished: its line, then (after ab_status) the experiment alert's line."""
    from livekit.cli.experiment_alert import after_report

    console.print(_line(result))
    if result.shop is not None:  # the alert after ab_status reads the same shop as the report
        from livekit.reports.runner import with_parameter

        overrides = with_parameter(overrides, "shop", result.shop)
    if settings is not None:
        from livekit.reports.publish import publish_run

        publish_run(settings, project, result)
    line = after_report(project, result.name, result.date, result.ok, overrides)
    if line:
        console.print(f"    {line}", markup=False)


@report_app.command("list")
def list_reports() -> None:
    """列出全部报告：标题、参数文件、调度时间与最近一次运行。"""
    with user_errors():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from livekit.reports import Project, ReportError
        from livekit.reports.index import read_history
        from livekit.reports.schedule import load_schedules

        project = Project.find()
        console = Console()
        try:
            schedules = {s.name: s.cron for s in load_schedules(project)}
        except ReportError as exc:
            schedules = {}
            console.print(f"[yellow]注意：[/]{escape(str(exc))}", highlight=False)
        latest: dict[str, RunResult] = {}
        for r in read_history(project.reports_dir):
            latest[r.name] = r
        table = Table(title=f"报告（{project.notebooks_dir}）")
        for col in ("名称", "标题", "参数文件", "调度（北京时间）", "最近一次运行"):
            table.add_column(col)
        for name in project.names():
            report = project.report(name)
            last = latest.get(name)
            shown = (
                f"{last.date} {'成功' if last.ok else '失败'}（{last.seconds:.0f} 秒）"
                + (f" 店铺 {last.shop}" if last.shop else "")
                if last
                else "—"
            )
            params = f"params/{name}.yaml" if report.params_file.exists() else "（用默认值）"
            cells = (name, report.title, params, schedules.get(name, "—"), shown)
            table.add_row(*(escape(c) for c in cells))
        console.print(table)


@schedule_app.command("run")
def schedule_run(
    once: Annotated[
        bool,
        typer.Option("--once", help="只检查并运行一次到期的报告，然后退出（可放进 crontab）。"),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="与 --once 同用：把此刻当作这个时间（'YYYY-MM-DD HH:MM'，北京时间，不晚于现在）"
            "检查到期的同步与报告，用于补跑错过的早晨。",
        ),
    ] = None,
) -> None:
    """内置调度器：按 params/schedules.yaml 同步数据并运行到期的报告（同步先于报告）；同步或某个报告失败不影响其他报告，但退出码非零；每次运行都写入日志。"""
    with user_errors():
        import logging

        from rich.logging import RichHandler
        from rich.text import Text

        from livekit.jobs import clear_stale_sandbox
        from livekit.reports import Project
        from livekit.reports.schedule import LOG_FILE, SYNC_JOB, log, log_to, serve
        from livekit.vocab.tz import CHINA_TZ

        project = Project.find()
        clear_stale_sandbox()  # a sandbox store from an older world would never be refetched
        log_to(project)
        log.addHandler(
            RichHandler(
                show_path=False,
                markup=False,
                rich_tracebacks=False,
                # rich passes local time: show it as China time, whatever the machine's zone
                log_time_format=lambda moment: Text(
                    moment.astimezone(CHINA_TZ).strftime("[%m/%d/%y %H:%M:%S]")
                ),
            )
        )
        log.setLevel(logging.INFO)
        if not once:
            log.info("调度器已启动（日志：%s；按 Ctrl+C 停止）", project.reports_dir / LOG_FILE)
        moment = _parse_at(at, once)

        def alert(result: RunResult) -> None:  # after ab_status: the experiment alert
            from livekit.cli.experiment_alert import after_report
            from livekit.reports.runner import with_parameter

            shop = with_parameter(None, "shop", result.shop) if result.shop else None
            line = after_report(project, result.name, result.date, result.ok, shop)
            if line:
                log.info("实验提醒：%s", line)

        results = (
            serve(project, once=once, clock=lambda: moment, on_done=alert)
            if moment is not None
            else serve(project, once=once, on_done=alert)
        )
        failed = [_named(r) for r in results if not r.ok and r.name != SYNC_JOB]
        sync_failed = [r for r in results if not r.ok and r.name == SYNC_JOB]
        if sync_failed:
            what = f"；另有 {len(failed)} 个报告失败：{'、'.join(failed)}" if failed else ""
            shops = "" if sync_failed[0].shop is None else f"（店铺 {sync_failed[0].shop}）"
            more = f"等 {len(sync_failed)} 个店铺" if len(sync_failed) > 1 else ""
            raise fail(f"数据同步失败{shops}{more}：{sync_failed[0].error}（报告已照常运行{what}）")
        if failed:
            raise fail(f"{len(failed)} 个报告失败：{'、'.join(failed)}")


def _named(result: RunResult) -> str:
    """A report in a list of failures: its name, and its shop when it ran for one."""
    return f"{result.name}（店铺 {result.shop}）" if result.shop else result.name


def _parse_at(value: str | None, once: bool) -> datetime | None:
    """``--at`` as a China-time moment, checked (one line, exit 2, when it is wrong)."""
    if value is None:
        return None
    from livekit.vocab.tz import CHINA_TZ

    if not once:
        raise fail("--at 只能与 --once 一起使用", 2)
    try:
        moment = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise fail(f"--at 应为 'YYYY-MM-DD HH:MM'（北京时间），收到 {value!r}", 2) from None
    if moment > datetime.now(CHINA_TZ):
        raise fail(f"--at {value} 晚于现在：只能补跑已经到期的时间", 2)
    return moment


@schedule_app.command("show")
def schedule_show() -> None:
    """列出每个报告接下来的运行时间，并打印等价的 crontab 行。"""
    with user_errors():
        from datetime import datetime

        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from livekit.reports import Project
        from livekit.reports.schedule import crontab_lines, load_schedules
        from livekit.vocab.tz import CHINA_TZ

        project = Project.find()
        schedules = load_schedules(project)
        if not schedules:
            raise fail(f"{project.schedules_file} 中没有任何调度")
        now = datetime.now(CHINA_TZ)
        console = Console(highlight=False)
        table = Table(title="接下来的运行（北京时间）")
        for col in ("报告", "cron", "接下来三次"):
            table.add_column(col)
        for s in schedules:
            runs = "、".join(t.strftime("%m-%d %H:%M") for t in s.next_runs(now, 3))
            shown = f"{s.name}（数据同步，先于报告）" if s.is_sync else s.name
            table.add_row(escape(shown), escape(s.cron), runs)
        console.print(table)
        console.print("等价的 crontab 行（crontab -e；时间为北京时间）：")
        for line in crontab_lines(project, schedules):
            console.print(line, markup=False, soft_wrap=True)
