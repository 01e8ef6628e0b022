"""Airflow DAGs from ``params/schedules.yaml`` and the shops file (Airflow 3; the ``airflow`` extra).

One DAG per entry of the schedules file, on the entry's cron in China time
(``CronTriggerTimetable(cron, timezone="Asia/Shanghai")``, no catch-up, one run at a time):

- a report entry: ``shops`` → ``sync`` (mapped over the shops) → ``report`` (mapped over the
  shops) → ``index``;
- the ``sync`` entry: ``shops`` → ``sync`` (mapped over the shops).

``shops`` reads the shops file; ``sync`` syncs one shop for yesterday and the days before it
that the ``sync`` entry covers (``days``); ``report`` runs the report for one shop for the
run's date in China time and publishes it to the object store; ``index`` rebuilds the reports'
index there. Every task works in an empty home of its own (:mod:`livekit.airflow.tasks`). The
reports run even when a shop's sync failed (``all_done``), as the built-in scheduler's do; the
index lists every run, failed ones too.

Each task retries (``retries``, ``retry_delay``) and has a time limit (``execution_timeout``:
the sync's ``sync_timeout``; a report's the schedule's ``timeout`` plus a margin for the
kernel's start, the page and the upload); a run has ``dagrun_timeout``. "Done by" is an Airflow
3 Deadline Alert (the successor of the SLA; experimental in 3.1–3.3): logical date + interval,
whose callback (:func:`livekit.airflow.callbacks.deadline_missed`) logs an error line.

Reports run through livekit's own runner (papermill in the ``livekit`` kernel), not the
papermill provider's operator: the provider would pull papermill's and scrapbook's cloud extras
and downgrade python-dateutil, and does none of what the runner does (parameter checks against
the notebook, the shop, ``LIVEKIT_REPORT_DATE``, time limits, secret scrubbing that fails a
run, the offline page, the run record); docs/scaleout.md has the measurements.

This module imports Airflow: only a DAG file (``livekit airflow dag`` writes one) imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronTriggerTimetable, get_current_context, task

# airflow.sdk exports these lazily (mypy does not see them there): the modules that define them
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from livekit.airflow import callbacks, tasks
from livekit.reports.project import Project
from livekit.reports.schedule import SYNC_JOB, SYNC_TITLE, Schedule, load_schedules

TIMEZONE = "Asia/Shanghai"
DAG_PREFIX = "livekit_"
TAGS = ("livekit",)
REPORT_MARGIN = timedelta(minutes=10)  # a report task: the kernel's start, the page, the upload
SHORT_TASK = timedelta(minutes=10)  # reading the shops file, building the index
SHOP_LABEL = "{{ task.op_kwargs['shop'] or '单店铺' }}"  # what the UI shows per mapped task
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def build_dags(
    project_root: Path | str,
    *,
    done_within: timedelta | None = timedelta(hours=1),
    done_by: str | time | None = None,
    retries: int = 2,
    retry_delay: timedelta = timedelta(minutes=5),
    sync_timeout: timedelta = timedelta(hours=1),
    dagrun_timeout: timedelta = timedelta(hours=4),
    sync_before_reports: bool = True,
    prefix: str = DAG_PREFIX,
) -> dict[str, DAG]:
    """{dag_id: DAG} for every entry of the project's ``params/schedules.yaml``.

    ``done_by`` (a China clock time, ``"09:00"``): a run firing once a day at a fixed time
    before it must be done by then; any other run within ``done_within`` of its logical date.
    ``done_within=None`` and no ``done_by``: no deadline. ``sync_before_reports``: a report DAG
    syncs its shops first (yesterday and the ``sync`` entry's days before it).
    """
    root = Path(project_root).expanduser().resolve()
    schedules = load_schedules(Project(root))
    clock = _clock(done_by)
    sync_days = next((s.days for s in schedules if s.is_sync), None)  # the sync entry's
    out: dict[str, DAG] = {}
    for schedule in schedules:
        dag_id = f"{prefix}{schedule.name}"
        interval = _deadline(schedule.cron, clock, done_within)
        dag = DAG(
            dag_id=dag_id,
            description=_description(schedule),
            schedule=CronTriggerTimetable(schedule.cron, timezone=TIMEZONE),
            catchup=False,
            max_active_runs=1,
            dagrun_timeout=dagrun_timeout,
            default_args={"retries": retries, "retry_delay": retry_delay},
            tags=[*TAGS, "sync" if schedule.is_sync else "report"],
            deadline=_alert(dag_id, schedule, interval, clock) if interval else None,
            doc_md=_doc(schedule, root),
        )
        with dag:
            if schedule.is_sync:
                _sync_tasks(root, schedule.days, sync_timeout)
            else:
                days = sync_days if sync_days is not None else _default_days()
                _report_tasks(root, schedule, days if sync_before_reports else None, sync_timeout)
        out[dag_id] = dag
    return out


# ---- tasks -------------------------------------------------------------------------------------


def _fire() -> datetime:
    """When this run was due: its logical date, else (a run triggered without one) its
    ``run_after``; aware, in UTC as Airflow keeps it."""
    context: Mapping[str, Any] = get_current_context()
    logical = context.get("logical_date")
    if logical is not None:
        return datetime.fromisoformat(logical.isoformat())
    run = context["dag_run"]
    return datetime.fromisoformat(run.run_after.isoformat())


def _shops_task(root: Path) -> Any:
    @task(task_id="shops", execution_timeout=SHORT_TASK)
    def shops() -> list[str | None]:
        """The shops of the shops file (one entry, None, without one)."""
        return tasks.shop_ids(root)

    return shops()


def _sync_task(root: Path, days: int, timeout: timedelta) -> Any:
    @task(task_id="sync", execution_timeout=timeout, map_index_template=SHOP_LABEL)
    def sync(shop: str | None) -> dict[str, Any]:
        """Sync one shop: yesterday (China time) and the days before it not final yet."""
        return tasks.sync_shop(root, shop, _fire(), days)

    return sync


def _sync_tasks(root: Path, days: int, timeout: timedelta) -> None:
    _sync_task(root, days, timeout).expand(shop=_shops_task(root))


def _report_tasks(
    root: Path, schedule: Schedule, days: int | None, sync_timeout: timedelta
) -> None:
    options = schedule.options
    limit = timedelta(seconds=options.timeout) + REPORT_MARGIN

    @task(
        task_id="report",
        execution_timeout=limit,
        map_index_template=SHOP_LABEL,
        trigger_rule="all_done",  # a shop whose sync failed still gets its page
    )
    def report(shop: str | None) -> dict[str, Any]:
        """Run the report for one shop for the run's date (China time) and publish it."""
        return tasks.render_report(
            root,
            schedule.name,
            shop,
            _fire(),
            timeout=options.timeout,
            cell_timeout=options.cell_timeout,
        )

    @task(task_id="index", execution_timeout=SHORT_TASK, trigger_rule="all_done")
    def index() -> dict[str, Any]:
        """Rebuild the reports' index on the object store from every published run."""
        return tasks.build_index(root)

    shops = _shops_task(root)
    reports = report.expand(shop=shops)
    if days is not None:
        _sync_task(root, days, sync_timeout).expand(shop=shops) >> reports
    reports >> index()


def _default_days() -> int:
    from livekit.reports.schedule import default_sync_days

    return default_sync_days()


# ---- the deadline --------------------------------------------------------------------------------


def _clock(value: str | time | None) -> time | None:
    if value is None or isinstance(value, time):
        return value
    match = _CLOCK.fullmatch(value.strip())
    if match is None:
        raise tasks.TaskError(f"截止时间 {value[:20]!r} 无效：应写成“时:分”，如 09:00（北京时间）")
    return time(int(match[1]), int(match[2]))


def fixed_time(cron: str) -> time | None:
    """The time of day ``cron`` fires at when its minute and hour are single numbers."""
    minute, hour = cron.split()[:2]
    if minute.isdigit() and hour.isdigit() and int(minute) < 60 and int(hour) < 24:
        return time(int(hour), int(minute))
    return None


def _deadline(cron: str, done_by: time | None, done_within: timedelta | None) -> timedelta | None:
    """How long after its logical date a run must be done, or None for no deadline."""
    fires = fixed_time(cron)
    if done_by is not None and fires is not None and fires < done_by:
        day = datetime(2000, 1, 1)
        return datetime.combine(day, done_by) - datetime.combine(day, fires)
    return done_within


def _alert(dag_id: str, schedule: Schedule, interval: timedelta, done_by: time | None) -> Any:
    fires = fixed_time(schedule.cron)
    if done_by is not None and fires is not None and fires < done_by:
        shown = f"北京时间 {done_by:%H:%M}"
    else:
        shown = f"计划时间后 {_minutes(interval)}"
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=interval,
        callback=SyncCallback(
            callbacks.deadline_missed,
            kwargs={"dag_id": dag_id, "what": _title(schedule), "done_by": shown},
        ),
    )


def _minutes(interval: timedelta) -> str:
    hours, minutes = divmod(int(interval.total_seconds() // 60), 60)
    parts = ([f"{hours} 小时"] if hours else []) + (
        [f"{minutes} 分钟"] if minutes or not hours else []
    )
    return " ".join(parts)


# ---- text ------------------------------------------------------------------------------------------


def _title(schedule: Schedule) -> str:
    return SYNC_TITLE if schedule.is_sync else f"报告 {schedule.name}"


def _description(schedule: Schedule) -> str:
    when = f"{schedule.cron}（北京时间）"
    if schedule.is_sync:
        return f"livekit {SYNC_TITLE}：每个店铺，昨天及之前 {schedule.days} 天；{when}"
    return f"livekit 报告 {schedule.name}：每个店铺同步后运行并发布；{when}"


def _doc(schedule: Schedule, root: Path) -> str:
    source = f"`{root / 'params' / 'schedules.yaml'}` 的 `{schedule.name}`"
    if schedule.name == SYNC_JOB:
        return f"由 {source} 生成：读取店铺清单，逐店铺同步数据（映射任务）。"
    return (
        f"由 {source} 生成：读取店铺清单，逐店铺同步数据，逐店铺运行报告并发布到对象存储，"
        "最后更新报告索引。"
    )
