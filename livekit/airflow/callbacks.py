"""What Airflow calls when a livekit DAG run misses its deadline ("reports done by 09:00").

A Deadline Alert's callback is named by its import path and runs on a worker (a
``SyncCallback`` through the executor), so it lives in the installed package, never in the DAG
file: the DAGs folder is not on every component's import path. No Airflow import here.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("livekit.airflow")


def deadline_missed(
    dag_id: str = "", what: str = "", done_by: str = "", context: Any = None, **_: Any
) -> str:
    """Log one error line: DAG ``dag_id`` (doing ``what``) was not done by ``done_by``.

    Returns the line (Airflow keeps a callback's result; tests read it). ``context`` is what
    Airflow passes about the run (its ``dag_run``), when it does.
    """
    run = _run_of(context)
    line = f"livekit：{what or dag_id} 未能按时完成（应在{done_by or '截止时间'}之前完成）"
    if dag_id:
        line += f"；DAG {dag_id}"
    if run:
        line += f"，运行 {run}"
    log.error("%s", line)
    return line


def _run_of(context: Any) -> str:
    """The run's id from Airflow's callback context, or '' when it has none.

    Airflow 3 passes ``{"dag_run": <the run as its REST API shows it>, "deadline": ...}``: the
    run's id is ``dag_run_id`` there (``run_id`` on a DagRun object).
    """
    if not isinstance(context, dict):
        return ""
    run = context.get("dag_run")
    if isinstance(run, dict):
        found = run.get("dag_run_id") or run.get("run_id")
    else:
        found = getattr(run, "run_id", None)
    return str(found) if found else ""
