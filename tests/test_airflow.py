"""livekit.airflow without running a DAG: the DAG file ``livekit airflow dag`` writes, parsed by
real Airflow (a DagBag in a temporary ``AIRFLOW_HOME``) for the project's own
params/schedules.yaml; the CLI without Airflow; the tasks' homes, dates and error lines; the
deadline callback. The DAGs run end to end in tests/test_airflow_e2e.py (make test-scale).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from livekit.airflow import callbacks, tasks
from livekit.airflow.dagfile import DagFileOptions, dag_file_text
from livekit.reports.project import Project
from livekit.reports.schedule import load_schedules
from livekit.vocab.tz import CHINA_TZ

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
    "COLUMNS": "120",
    "PYTHONIOENCODING": "utf-8",
    "NO_COLOR": "1",
}

# Run by a fresh interpreter (Airflow configures logging and its settings on import: never in
# the test process): every DAG of the folder, as the scheduler would store it.
_DESCRIBE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

bag = DagBag(sys.argv[1])
out = {"errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    DagSerialization.serialize_dag(dag)  # what the DAG processor stores must serialize
    deadline = None
    if dag.deadline:
        alert = dag.deadline[0]
        deadline = {
            "count": len(dag.deadline),
            "reference": alert.reference.reference_name,
            "interval": alert.interval.total_seconds(),
            "callback": type(alert.callback).__name__,
            "path": alert.callback.path,
            "kwargs": alert.callback.kwargs,
        }
    out["dags"][dag_id] = {
        "cron": dag.timetable.expression,
        "timezone": str(getattr(dag.timetable.timezone, "name", dag.timetable.timezone)),
        "timetable": type(dag.timetable).__name__,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "dagrun_timeout": dag.dagrun_timeout.total_seconds(),
        "tags": sorted(dag.tags),
        "deadline": deadline,
        "tasks": {
            t.task_id: {
                "upstream": sorted(t.upstream_task_ids),
                "mapped": bool(getattr(t, "is_mapped", False)),
                "retries": t.retries,
                "retry_delay": t.retry_delay.total_seconds(),
                "timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                "label": getattr(t, "map_index_template", None)
                or (getattr(t, "partial_kwargs", {}) or {}).get("map_index_template"),
            }
            for t in dag.tasks
        },
    }
print("RESULT" + json.dumps(out, ensure_ascii=False))
"""


def _livekit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "livekit"), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        cwd=cwd,
        env=ENV,
    )


def _describe(folder: Path, airflow_home: Path) -> dict[str, Any]:
    env = ENV | {"AIRFLOW_HOME": str(airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-c", _DESCRIBE, str(folder)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=240,
        cwd=folder,
        env=env,
    )
    lines = [x for x in result.stdout.splitlines() if x.startswith("RESULT")]
    assert result.returncode == 0, result.stderr[-4000:]
    assert lines, result.stderr[-4000:]
    out: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT"))
    return out


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The DAG file for this project (reports done by 09:00), parsed by Airflow."""
    tmp = tmp_path_factory.mktemp("dags")
    result = _livekit(
        "airflow", "dag", "--out", str(tmp / "dags" / "livekit_dags.py"), "--done-by", "09:00"
    )
    assert result.returncode == 0, result.stderr
    assert "12 个 DAG" in result.stdout
    return _describe(tmp / "dags", tmp / "airflow-home")


def test_the_dag_file_parses_into_one_dag_per_schedule(parsed: dict[str, Any]) -> None:
    assert parsed["errors"] == {}
    schedules = load_schedules(Project(ROOT))
    assert sorted(parsed["dags"]) == sorted(f"livekit_{s.name}" for s in schedules)
    for schedule in schedules:
        dag = parsed["dags"][f"livekit_{schedule.name}"]
        assert dag["timetable"] == "CronTriggerTimetable"
        assert (dag["cron"], dag["timezone"]) == (schedule.cron, "Asia/Shanghai")
        assert (dag["catchup"], dag["max_active_runs"]) == (False, 1)
        assert dag["dagrun_timeout"] == 4 * 3600
        tasks_ = dag["tasks"]
        for task in tasks_.values():
            assert (task["retries"], task["retry_delay"]) == (2, 300)
            assert task["timeout"] is not None
        assert tasks_["shops"]["upstream"] == []
        assert tasks_["sync"]["upstream"] == ["shops"]
        assert tasks_["sync"]["mapped"]
        assert "shop" in tasks_["sync"]["label"]
        if schedule.is_sync:
            assert sorted(tasks_) == ["shops", "sync"]
            assert "sync" in dag["tags"]
            continue
        assert sorted(tasks_) == ["index", "report", "shops", "sync"]
        assert "report" in dag["tags"]
        report = tasks_["report"]
        assert report["mapped"]
        assert "shop" in report["label"]
        assert report["upstream"] == ["shops", "sync"]
        assert report["trigger_rule"] == "all_done"  # a shop whose sync failed still reports
        # the schedule's time limit, plus the margin for the kernel's start and the upload
        assert report["timeout"] == schedule.options.timeout + 600
        assert tasks_["index"]["upstream"] == ["report"]
        assert tasks_["index"]["trigger_rule"] == "all_done"


def test_every_dag_has_a_deadline_done_by_nine_or_within_an_hour(parsed: dict[str, Any]) -> None:
    for schedule in load_schedules(Project(ROOT)):
        dag_id = f"livekit_{schedule.name}"
        deadline = parsed["dags"][dag_id]["deadline"]
        assert deadline is not None, dag_id
        assert deadline["count"] == 1
        assert deadline["reference"] == "DagRunLogicalDateDeadline"
        assert deadline["callback"] == "SyncCallback"
        assert deadline["path"] == "livekit.airflow.callbacks.deadline_missed"
        assert deadline["kwargs"]["dag_id"] == dag_id
        minute, hour = (int(x) for x in schedule.cron.split()[:2])
        fires = timedelta(hours=hour, minutes=minute)
        if fires < timedelta(hours=9):  # funnel at 08:00: done by 09:00, one hour later
            assert deadline["interval"] == (timedelta(hours=9) - fires).total_seconds()
            assert "09:00" in deadline["kwargs"]["done_by"]
        else:  # 09:00 and later: within an hour of the logical date
            assert deadline["interval"] == 3600
    # the project's own schedules have both kinds
    assert parsed["dags"]["livekit_live_review"]["deadline"]["interval"] == 20 * 60
    assert parsed["dags"]["livekit_forecast"]["deadline"]["interval"] == 3600


def test_no_deadline_and_other_options_reach_the_dags(tmp_path: Path) -> None:
    """A project of its own: a sync entry with days, a report with a timeout; no deadline."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "params").mkdir()
    (project / "notebooks" / "funnel.ipynb").write_bytes(
        (ROOT / "notebooks" / "funnel.ipynb").read_bytes()
    )
    schedules = {
        "sync": {"cron": "5 6 * * *", "days": 3},
        "funnel": {"cron": "0 7 * * 1", "timeout": 120},
    }
    (project / "params" / "schedules.yaml").write_text(yaml.safe_dump(schedules), encoding="utf-8")
    out = tmp_path / "dags" / "d.py"
    args = ["--project", str(project), "--out", str(out), "--done-within", "0"]
    args += ["--retries", "0", "--no-sync-before-reports", "--prefix", "acme."]
    result = _livekit("airflow", "dag", *args)
    assert result.returncode == 0, result.stderr
    parsed = _describe(out.parent, tmp_path / "airflow-home")
    assert parsed["errors"] == {}
    assert sorted(parsed["dags"]) == ["acme.funnel", "acme.sync"]
    funnel = parsed["dags"]["acme.funnel"]
    assert funnel["deadline"] is None
    assert funnel["cron"] == "0 7 * * 1"
    assert sorted(funnel["tasks"]) == ["index", "report", "shops"]  # no sync before it
    assert funnel["tasks"]["report"]["upstream"] == ["shops"]
    assert funnel["tasks"]["report"]["timeout"] == 120 + 600
    assert funnel["tasks"]["report"]["retries"] == 0
    assert parsed["dags"]["acme.sync"]["deadline"] is None


# ---- the command ------------------------------------------------------------------------------------


def test_livekit_airflow_dag_never_imports_airflow(tmp_path: Path) -> None:
    probe = (
        "import sys, json\n"
        "from livekit.cli import app\n"
        "codes = []\n"
        f"for argv in (['--help'], ['airflow', '--help'], ['airflow', 'dag', '--out', {str(tmp_path / 'd.py')!r}]):\n"
        "    try:\n"
        "        app(argv, prog_name='livekit')\n"
        "    except SystemExit as e:\n"
        "        codes.append(e.code)\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print('RESULT' + json.dumps([codes, loaded]), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        cwd=ROOT,
        env=ENV,
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("RESULT"))
    codes, loaded = json.loads(line.removeprefix("RESULT"))
    assert all(c in (0, None) for c in codes), result.stderr
    assert loaded == []
    assert (tmp_path / "d.py").is_file()
    assert "Airflow" in result.stdout  # the Chinese help names it


def test_the_dag_file_without_out_is_printed_and_is_python() -> None:
    result = _livekit("airflow", "dag")
    assert result.returncode == 0, result.stderr
    compile(result.stdout, "livekit_dags.py", "exec")
    assert "from livekit.airflow.dags import build_dags" in result.stdout
    assert repr(str(ROOT)) in result.stdout
    assert "LIVEKIT_PROJECT" in result.stdout


def test_dag_file_text_carries_every_option() -> None:
    from datetime import time

    text = dag_file_text(
        DagFileOptions(Path("/srv/shop project"), time(8, 45), 0, 4, 7, sync_before_reports=False)
    )
    compile(text, "x.py", "exec")
    for part in (
        'done_by="08:45"',
        "done_within=None",
        "retries=4",
        "minutes=7",
        "sync_before_reports=False",
        "'/srv/shop project'",
    ):
        assert part in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--done-by", "25:00"], ["--done-by", "09:00"]),
        (["--done-by", "nine"], ["--done-by"]),
        (["--retries", "-1"], ["--retries"]),
        (["--project", "/"], ["notebooks/"]),
        (["--out", "dags/livekit.py"], ["livekit.py", "livekit_dags.py"]),
        (["--out", "dags/airflow.py"], ["airflow.py"]),
        (["--prefix", "a b"], ["--prefix"]),
    ],
)
def test_mistakes_are_one_chinese_line(args: list[str], words: list[str]) -> None:
    result = _livekit("airflow", "dag", *args)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("错误：")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_a_schedules_mistake_is_one_line_before_any_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "params").mkdir()
    (project / "params" / "schedules.yaml").write_text('nosuch: "0 8 * * *"\n', encoding="utf-8")
    out = tmp_path / "d.py"
    result = _livekit("airflow", "dag", "--project", str(project), "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.startswith("错误：")
    assert "nosuch" in result.stderr
    assert not out.exists()


# ---- the tasks, without Airflow ------------------------------------------------------------------


def test_a_task_home_is_its_own_empty_folder_removed_afterwards(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("LIVEKIT_HOME", raising=False)
    monkeypatch.delenv(tasks.TEMP_HOME_ENV, raising=False)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    with tasks.task_home() as one:
        assert one.temporary
        assert os.environ["LIVEKIT_HOME"] == str(one.path)
        assert one.path.parent == tmp_path
        assert list(one.path.iterdir()) == []
        (one.path / "store").mkdir()
    assert not one.path.exists()
    assert "LIVEKIT_HOME" not in os.environ
    with tasks.task_home() as two:  # the next task (airflow dags test: in the same process)
        assert two.path != one.path
        assert list(two.path.iterdir()) == []
    assert not two.path.exists()


def test_a_set_livekit_home_is_used_unless_a_temporary_one_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "shared"))
    monkeypatch.delenv(tasks.TEMP_HOME_ENV, raising=False)
    with tasks.task_home() as home:
        assert home == tasks.Home(tmp_path / "shared", temporary=False)
    monkeypatch.setenv(tasks.TEMP_HOME_ENV, "1")
    with tasks.task_home() as home:
        assert home.temporary
        assert home.path != tmp_path / "shared"
        assert os.environ["LIVEKIT_HOME"] == str(home.path)
    assert os.environ["LIVEKIT_HOME"] == str(tmp_path / "shared")  # restored
    assert not home.path.exists()


def test_the_run_date_is_china_time_and_the_sync_covers_yesterday_and_days_before() -> None:
    # 08:00 in China is 00:00 UTC: the same China day; 07:59 China is the day before in UTC
    assert tasks.china_day("2026-11-28T00:00:00+00:00") == date(2026, 11, 28)
    assert tasks.china_day(datetime(2026, 11, 27, 16, 30, tzinfo=UTC)) == date(2026, 11, 28)
    assert tasks.china_day(datetime(2026, 11, 28, 7, 59, tzinfo=CHINA_TZ)) == date(2026, 11, 28)
    assert tasks.sync_range("2026-11-28T07:30:00+08:00", 16) == (
        date(2026, 11, 11),
        date(2026, 11, 27),
    )
    assert tasks.sync_range("2026-11-28T07:30:00+08:00", 0) == (
        date(2026, 11, 27),
        date(2026, 11, 27),
    )
    with pytest.raises(tasks.TaskError, match="时区"):
        tasks.china_day("2026-11-28T08:00:00")


def _project_with_shops(root: Path, shops: bool) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "params").mkdir()
    if shops:
        text = "shops:\n- {id: a1, name: 甲店, doudian: {shop_id: 11}}\n- {id: b2, name: 乙店, qianchuan: {advertiser_id: 22}}\n"
        (root / "params" / "shops.yaml").write_text(text, encoding="utf-8")
    return root


def test_shops_come_from_the_project_not_the_current_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIVEKIT_HOME", raising=False)
    monkeypatch.delenv("LIVEKIT_SHOPS_FILE", raising=False)
    assert tasks.shop_ids(_project_with_shops(tmp_path / "agency", shops=True)) == ["a1", "b2"]
    assert tasks.shop_ids(_project_with_shops(tmp_path / "one", shops=False)) == [None]


def test_without_an_object_store_a_temporary_home_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LIVEKIT_HOME", raising=False)
    monkeypatch.delenv("LIVEKIT_STORE_URL", raising=False)
    with pytest.raises(tasks.TaskError) as caught:
        tasks.sync_shop(
            _project_with_shops(tmp_path, shops=True), "a1", "2026-11-28T07:30:00+08:00", 2
        )
    assert "LIVEKIT_STORE_URL" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_failure_is_one_chinese_line_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "sk-livekit-airflow-test-secret-0123456789"
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIVEKIT_DOUDIAN_APP_SECRET", secret)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"upstream said: bad signature for {secret}\nsecond line")

    import livekit.jobs

    monkeypatch.setattr(livekit.jobs, "run_sync", broken)
    with pytest.raises(tasks.TaskError) as caught:
        tasks.sync_shop(
            _project_with_shops(tmp_path / "p", shops=True), "a1", "2026-11-28T07:30:00+08:00", 2
        )
    text = str(caught.value)
    assert text.startswith("同步店铺 a1（2026-11-25 至 2026-11-27）失败：RuntimeError")
    assert secret not in text
    assert "***" in text
    assert "\n" not in text
    assert caught.value.__cause__ is None  # the original (with the secret) is not chained


def test_an_unknown_report_raises_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    project = _project_with_shops(tmp_path / "p", shops=False)
    with pytest.raises(tasks.TaskError, match=r"^报告 nosuch 2026-11-28 失败：.*nosuch"):
        tasks.render_report(project, "nosuch", None, "2026-11-28T08:00:00+08:00")
    assert not (project / "reports").exists()  # the project folder is only read


# ---- the deadline callback ------------------------------------------------------------------------


def test_a_missed_deadline_logs_one_error_line(caplog: pytest.LogCaptureFixture) -> None:
    run_id = "scheduled__2026-11-28T00:00:00+00:00"
    # what Airflow 3.3 passes: the run as its REST API shows it, and the deadline
    context = {"dag_run": {"dag_run_id": run_id, "dag_id": "livekit_funnel"}, "deadline": {}}
    with caplog.at_level(logging.ERROR, logger="livekit.airflow"):
        line = callbacks.deadline_missed(
            dag_id="livekit_funnel", what="报告 funnel", done_by="北京时间 09:00", context=context
        )
    assert [r.getMessage() for r in caplog.records] == [line]
    assert caplog.records[0].levelno == logging.ERROR
    assert "报告 funnel 未能按时完成" in line
    assert "09:00" in line
    assert "livekit_funnel" in line
    assert run_id in line
    assert callbacks.deadline_missed(context=None).startswith(
        "livekit："
    )  # no context: still a line


def _hello_project(root: Path) -> Path:
    project = _project_with_shops(root, shops=True)
    hello = ROOT / "tests" / "notebooks" / "shop_hello.ipynb"
    (project / "notebooks" / hello.name).write_bytes(hello.read_bytes())
    return project


def test_on_one_machine_a_report_task_keeps_its_page_in_the_shared_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A shared LIVEKIT_HOME and no object store (one machine): the report task renders for
    its shop into that home's reports/ (the project is only read) and the index task points
    at the local index."""
    home = tmp_path / "home"
    monkeypatch.setenv("LIVEKIT_HOME", str(home))
    monkeypatch.delenv("LIVEKIT_STORE_URL", raising=False)
    monkeypatch.delenv(tasks.TEMP_HOME_ENV, raising=False)
    project = _hello_project(tmp_path / "p")
    out = tasks.render_report(project, "shop_hello", "b2", "2026-11-28T00:30:00+00:00")
    page = home / "reports" / "shop=b2" / "shop_hello" / "2026-11-28" / "shop_hello.html"
    assert (out["shop"], out["date"], out["html"], out["home"]) == (
        "b2",
        "2026-11-28",
        str(page),
        str(home),
    )
    assert "店铺 b2，报告日期 2026-11-28" in page.read_text(encoding="utf-8")
    index = tasks.build_index(project)["index"]
    assert index == str(home / "reports" / "index.html")
    assert "shop=b2/shop_hello/2026-11-28/shop_hello.html" in Path(index).read_text(
        encoding="utf-8"
    )
    assert sorted(p.name for p in project.iterdir()) == ["notebooks", "params"]


def test_a_shop_not_in_the_shops_file_fails_the_report_task_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LIVEKIT_STORE_URL", raising=False)
    project = _hello_project(tmp_path / "p")
    with pytest.raises(tasks.TaskError) as caught:
        tasks.render_report(project, "shop_hello", "zz", "2026-11-28T08:00:00+08:00")
    text = str(caught.value)
    assert text.startswith("报告 shop_hello 2026-11-28（店铺 zz）失败：")
    assert "a1" in text  # the shops there are
    assert "\n" not in text
