"""What livekit's Airflow tasks do, as plain functions: no Airflow import here.

Each task of a DAG built by :mod:`livekit.airflow.dags` calls one function of this module:

- :func:`shop_ids`: the shops of the shops file (the list the other tasks are mapped over);
- :func:`sync_shop`: sync one shop, the closed days the schedule's ``sync`` entry covers;
- :func:`render_report`: run one report for one shop for the run's date (China time) with
  livekit's own runner (papermill in the ``livekit`` kernel), then publish its page and run
  record to the object store;
- :func:`build_index`: build ``reports/index.html`` on the object store from every record.

Workers share no disk: each function works in a LIVEKIT_HOME of its own (:func:`task_home`),
an empty temporary folder removed afterwards, unless ``LIVEKIT_HOME`` is set (one machine, or
a shared disk) and ``LIVEKIT_AIRFLOW_TEMP_HOME`` does not ask for a temporary one anyway. What
lasts lives in the object store (``LIVEKIT_STORE_URL``: data, reports) and in Redis
(``LIVEKIT_REDIS_URL``: the rate ceiling, the token set). A failure raises :class:`TaskError`
(one Chinese line, no secret in it), so Airflow marks the task failed and retries it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

TEMP_HOME_ENV = (
    "LIVEKIT_AIRFLOW_TEMP_HOME"  # "1": a temporary home per task even with a LIVEKIT_HOME
)
HOME_ENV = "LIVEKIT_HOME"
HOME_PREFIX = "livekit-task-"


class TaskError(LivekitError):
    """A task that did not do its work; one Chinese line, never a secret."""


# ---- the task's home ---------------------------------------------------------------------------


def wants_temp_home(environ: dict[str, str] | None = None) -> bool:
    """Whether a task works in a temporary home: no ``LIVEKIT_HOME``, or asked to."""
    env = os.environ if environ is None else environ
    told = env.get(TEMP_HOME_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return told or not env.get(HOME_ENV, "").strip()


@dataclass(frozen=True)
class Home:
    """The LIVEKIT_HOME a task works in; ``temporary``: made for this task, removed after it."""

    path: Path
    temporary: bool


@contextmanager
def task_home() -> Iterator[Home]:
    """The LIVEKIT_HOME this task works in, set in the environment while the task runs.

    A temporary folder (private, empty, removed afterwards) when :func:`wants_temp_home`, else
    the configured ``LIVEKIT_HOME``. The variable is set for this process (the report kernels
    inherit it) and restored afterwards: ``airflow dags test`` runs every task in one process.
    """
    before = os.environ.get(HOME_ENV)
    if not wants_temp_home():
        assert before is not None
        yield Home(Path(before).expanduser(), temporary=False)
        return
    folder = Path(tempfile.mkdtemp(prefix=HOME_PREFIX))  # mode 0700
    os.environ[HOME_ENV] = str(folder)
    try:
        yield Home(folder, temporary=True)
    finally:
        if before is None:
            os.environ.pop(HOME_ENV, None)
        else:
            os.environ[HOME_ENV] = before
        shutil.rmtree(folder, ignore_errors=True)


def _settings(home: Home, project_root: Path | str, *, lasting: bool) -> Any:
    """Settings for a task in ``home``; ``lasting``: it writes what must outlive the task.

    The shops file is ``LIVEKIT_SHOPS_FILE``, else the project's (``params/shops.yaml`` at or
    above ``project_root``): a worker's current folder is none of livekit's business.
    """
    from livekit.config import load_settings
    from livekit.shops import find_shops_file

    settings = load_settings(home=home.path)
    if settings.shops_file is None:
        found = find_shops_file(None, start=Path(project_root))
        settings = settings.model_copy(update={"shops_file": found})
    if lasting and settings.store_url is None and home.temporary:
        raise TaskError(
            "任务在临时数据目录中运行，但没有设置 LIVEKIT_STORE_URL：结果会随任务结束丢失；"
            "请设置对象存储 LIVEKIT_STORE_URL（多台机器），或共享的 LIVEKIT_HOME（一台机器）"
        )
    return settings


@contextmanager
def _one_line(what: str) -> Iterator[None]:
    """Any failure inside becomes one TaskError line starting with ``what``, secrets masked."""
    try:
        yield
    except TaskError:
        raise
    except LivekitError as exc:
        raise TaskError(f"{what}：{_masked(str(exc))}") from None
    except Exception as exc:  # whatever a library raised: its text may hold a URL or a token
        raise TaskError(f"{what}：{type(exc).__name__}: {_masked(str(exc))}") from None


def _masked(text: str) -> str:
    from livekit.credentials import mask, secret_values

    return mask(" ".join(text.split())[:2000], secret_values(), urls=True)


def china_day(moment: datetime | str) -> date:
    """The China-time date of ``moment`` (an aware datetime or its ISO text)."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if when.tzinfo is None:
        raise TaskError(f"时间 {when.isoformat()} 没有时区：无法换算为北京时间")
    return when.astimezone(CHINA_TZ).date()


# ---- the tasks ------------------------------------------------------------------------------------


def shop_ids(project_root: Path | str) -> list[str | None]:
    """The ids of the shops file's shops, in its order; ``[None]`` without a shops file (one
    shop, synced and reported as ``livekit sync`` / ``livekit report run`` do)."""
    with task_home() as home, _one_line("读取店铺清单失败"):
        from livekit.shops import shops_of

        shops = shops_of(_settings(home, project_root, lasting=False))
        return [s.id for s in shops] if shops else [None]


def sync_range(fire: datetime | str, days: int) -> tuple[date, date]:
    """The days a sync fired at ``fire`` covers: yesterday (China time) and ``days`` before."""
    last = china_day(fire) - timedelta(days=1)
    return last - timedelta(days=days), last


def sync_shop(
    project_root: Path | str, shop: str | None, fire: datetime | str, days: int
) -> dict[str, Any]:
    """Sync shop ``shop`` for the closed days a run fired at ``fire`` covers (as the schedule's
    ``sync`` entry: yesterday and the ``days`` before it; final days are not fetched again).

    Returns a small summary (JSON, for the task's XCom): the shop, the days, the partitions
    fetched and the rows written per dataset, and the notes on what the shop lacks.
    """
    first, last = sync_range(fire, days)
    label = f"同步店铺 {shop}" if shop else "同步数据"
    with task_home() as home, _one_line(f"{label}（{first} 至 {last}）失败"):
        from livekit.jobs import run_sync

        result = run_sync(
            first,
            last,
            settings=_settings(home, project_root, lasting=True),
            shop=shop,
            progress=False,
        )
        return {
            "shop": shop,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "fetched": {name: r.fetched_days for name, r in result.datasets.items()},
            "rows": {name: r.rows for name, r in result.datasets.items()},
            "notes": list(result.notes),
            **_where(home),
        }


def render_report(
    project_root: Path | str,
    name: str,
    shop: str | None,
    fire: datetime | str,
    *,
    timeout: float | None = None,
    cell_timeout: float | None = None,
) -> dict[str, Any]:
    """Run report ``name`` of the project at ``project_root`` for ``shop`` for the China-time
    date of ``fire``, then publish its page and run record to the object store.

    The run goes to the task's home (``<home>/reports``), never into the project folder (it may
    be mounted read-only and is shared by every worker). A failed run raises, after its record
    is published (the index shows the failure too). Without an object store (one machine, a
    shared ``LIVEKIT_HOME``), nothing is published: the page stays in ``<LIVEKIT_HOME>/reports``.
    """
    day = china_day(fire)
    failed = f"报告 {name} {day}" + (f"（店铺 {shop}）失败" if shop else " 失败")
    with task_home() as home, _one_line(failed):
        from livekit.reports.project import Project
        from livekit.reports.publish import publish_run
        from livekit.reports.runner import RunOptions, run_reports

        settings = _settings(home, project_root, lasting=True)
        project = Project(Path(project_root), output_dir=home.path / "reports")
        options = RunOptions().with_limits(timeout, cell_timeout)
        shops = [shop] if shop else None
        result = run_reports(project, [name], day, options=options, shops=shops)[0]
        if settings.store_url is not None:
            published = publish_run(settings, project, result)
        else:  # one machine, a shared LIVEKIT_HOME: the page stays in its reports/ folder
            published = str(result.html or result.notebook)
        if not result.ok:
            raise TaskError(f"{failed}：{_masked(result.error or '原因不明')}")
        return {
            "name": name,
            "shop": shop,
            "date": day.isoformat(),
            "html": published,
            **_where(home),
        }


def build_index(project_root: Path | str) -> dict[str, Any]:
    """Build ``reports/index.html`` on the object store from every published run record;
    returns where it is (``index``). Without an object store (one machine, a shared
    ``LIVEKIT_HOME``) every run already updated the index in ``<LIVEKIT_HOME>/reports``."""
    with task_home() as home, _one_line("生成报告索引失败"):
        from livekit.reports.project import Project
        from livekit.reports.publish import publish_index

        settings = _settings(home, project_root, lasting=True)
        project = Project(Path(project_root), output_dir=home.path / "reports")
        if settings.store_url is None:
            return {"index": str(project.index_file), **_where(home)}
        return {"index": publish_index(settings, project), **_where(home)}


def _where(home: Home) -> dict[str, Any]:
    """Where a task ran (its home and process), for the run's record: no two tasks share one."""
    return {"home": str(home.path), "pid": os.getpid()}
