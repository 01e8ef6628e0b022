"""``livekit airflow dag``: write the DAG file a deployment mounts into Airflow's dags folder.

Never imports Airflow (it is an optional extra, and heavy): the file's text comes from
:mod:`livekit.airflow.dagfile`; the schedules it will build from are checked here first.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated

import typer

from livekit.cli.common import fail, user_errors

DAG_ID_PREFIX = re.compile(r"[A-Za-z0-9_.-]{0,100}")  # Airflow's DAG id characters
SHADOWED = frozenset({"livekit", "airflow"})  # module names a DAG file must not take

app = typer.Typer(
    help="Airflow：按 params/schedules.yaml 与店铺清单生成 Airflow 的 DAG 文件（多店铺、多台机器）。",
    no_args_is_help=True,
)


@app.command("dag")
def dag(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="写到这个文件（放进 Airflow 的 dags 文件夹）；不写则输出到屏幕。"
        ),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            help="项目目录（含 notebooks/ 与 params/），Airflow 各机器上的路径；默认为当前项目。",
        ),
    ] = None,
    done_by: Annotated[
        str | None,
        typer.Option(
            "--done-by",
            help="截止时间（北京时间“时:分”，如 09:00）：当天在此之前触发的运行须在此前完成，"
            "否则记一条错误日志。",
        ),
    ] = None,
    done_within: Annotated[
        int,
        typer.Option(
            "--done-within",
            min=0,
            help="其他运行须在计划时间之后多少分钟内完成；0 且不设 --done-by 表示不设截止。",
        ),
    ] = 60,
    retries: Annotated[
        int, typer.Option("--retries", min=0, max=20, help="每个任务失败后的重试次数。")
    ] = 2,
    retry_delay: Annotated[
        int, typer.Option("--retry-delay", min=0, help="重试前等待的分钟数。")
    ] = 5,
    prefix: Annotated[
        str,
        typer.Option(
            "--prefix",
            help="DAG id 的前缀（DAG id = 前缀 + 条目名）；同一个 Airflow 部署多个项目时各用一个。",
        ),
    ] = "livekit_",
    no_sync_before_reports: Annotated[
        bool,
        typer.Option(
            "--no-sync-before-reports",
            help="报告的 DAG 不先同步店铺（只靠 sync 条目的 DAG 同步）。",
        ),
    ] = False,
) -> None:
    """生成 Airflow 的 DAG 文件：每个 params/schedules.yaml 条目一个 DAG，逐店铺同步、运行报告并发布。"""
    with user_errors():
        from livekit.airflow.dagfile import DagFileOptions, dag_file_text
        from livekit.reports.project import Project
        from livekit.reports.schedule import load_schedules

        if not DAG_ID_PREFIX.fullmatch(prefix):
            raise fail(f"--prefix 应为字母、数字、_、- 或 .（可为空），收到 {prefix[:40]!r}", 2)
        found = Project.find(project) if project is not None else Project.find()
        if project is not None and found.root != project.resolve():
            raise fail(f"{project} 不是项目目录：其中没有 notebooks/（上级目录 {found.root} 才是）")
        schedules = load_schedules(found)  # a mistake in schedules.yaml is one line here
        options = DagFileOptions(
            project=found.root,
            done_by=_clock(done_by) if done_by is not None else None,
            done_within_minutes=done_within,
            retries=retries,
            retry_delay_minutes=retry_delay,
            sync_before_reports=not no_sync_before_reports,
            prefix=prefix,
        )
        text = dag_file_text(options)
        if out is None:
            typer.echo(text, nl=False)
            return
        _write(out, text)
        names = f"、{prefix}".join(s.name for s in schedules) or "（无）"
        typer.echo(
            f"已写入 {out}：{len(schedules)} 个 DAG（{prefix}{names}）；项目目录 {found.root}"
        )
        typer.echo(
            "把它放进 Airflow 的 dags 文件夹；各机器需安装 douyin-livekit[airflow,s3,redis]、"
            "注册 Jupyter 内核 livekit（python -m ipykernel install --sys-prefix --name livekit），"
            "并设置 LIVEKIT_STORE_URL、LIVEKIT_REDIS_URL 与平台凭据。"
        )


def _clock(value: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
    if match is None:
        raise fail(f"--done-by 应写成“时:分”（北京时间），如 09:00，收到 {value[:20]!r}", 2)
    return time(int(match[1]), int(match[2]))


def _write(path: Path, text: str) -> None:
    from livekit._files import write_bytes_atomic

    if path.is_dir():
        raise fail(f"{path} 是文件夹：请给出文件名，如 {path / 'livekit_dags.py'}")
    if path.stem in SHADOWED or path.suffix != ".py":
        # Airflow imports each DAG file as a module named after it: livekit.py would hide the
        # livekit package from the file's own import
        raise fail(
            f"DAG 文件名 {path.name} 不可用：应以 .py 结尾，且不能叫 livekit.py 或 airflow.py（如 livekit_dags.py）"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, text.encode("utf-8"), mode=0o644)
    except OSError as exc:
        raise fail(f"无法写入 {path}：{exc.strerror or exc}") from None
