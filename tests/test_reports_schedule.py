"""params/schedules.yaml, the embedded scheduler (due runs, failures, restarts) and crontab lines."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from livekit.reports import Project, ReportError, RunOptions, RunResult
from livekit.reports import schedule as sched
from livekit.reports.index import read_history
from livekit.reports.params import ParameterError
from livekit.reports.schedule import Schedule, crontab_lines, load_schedules, run_due, serve
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.reports import ROOT, cli, make_project, real_reports

T0 = datetime(2026, 11, 28, 7, 30, tzinfo=CHINA_TZ)

SCHEDULES = """
# 每个报告何时运行（北京时间）
hello: "0 8 * * *"
broken:
  cron: "*/30 * * * *"
  timeout: 120
  cell_timeout: 60
"""


def project_with(tmp_path: Path, schedules: str = SCHEDULES) -> Project:
    root = make_project(tmp_path, ["hello", "broken"])
    (root / "params" / "schedules.yaml").write_text(schedules, encoding="utf-8")
    return Project(root)


class FakeRunner:
    """Stands in for run_reports: records calls; 'broken' raises, the rest succeed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, date, RunOptions]] = []

    def __call__(
        self, project: Project, names: Sequence[str], day: date, *, options: RunOptions
    ) -> list[RunResult]:
        [name] = names
        self.calls.append((name, day, options))
        if name == "broken":
            raise RuntimeError("内核爆炸")
        return [RunResult(name, name, day, "ok", datetime.now(CHINA_TZ), 0.1, None, None)]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    runner = FakeRunner()
    monkeypatch.setattr(sched, "run_reports", runner)
    return runner


def test_schedules_are_read_in_both_forms(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    hello, broken = load_schedules(project)
    assert (hello.name, hello.cron, hello.options) == ("hello", "0 8 * * *", RunOptions())
    assert broken.options == RunOptions(timeout=120, cell_timeout=60)
    assert hello.next_runs(T0, 2) == [
        T0.replace(hour=8, minute=0),
        T0 + timedelta(days=1, minutes=30),
    ]
    assert hello.latest(T0) == T0.replace(hour=8, minute=0) - timedelta(days=1)
    assert hello.latest(T0.replace(hour=8, minute=0)) == T0.replace(hour=8, minute=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('funnel: "0 8 * * *"\n', "报告 funnel 不存在"),
        ('hello: "0 25 * * *"\n', "cron 表达式 '0 25 * * *' 无效"),
        ('hello: "0 8 * *"\n', "五段"),
        ("hello: 8\n", "应为 cron 表达式"),
        ('hello: {cron: "0 8 * * *", retries: 3}\n', "未知选项 'retries'"),
        ('hello: {cron: "0 8 * * *", timeout: -1}\n', "timeout 应为正数"),
        ("hello: {timeout: 10}\n", "应为 cron 表达式"),
        ('hello: "0 8 * * *\n', "params/schedules.yaml 第"),
    ],
)
def test_bad_schedules_are_named(tmp_path: Path, text: str, expected: str) -> None:
    project = project_with(tmp_path, text)
    with pytest.raises(ParameterError) as info:
        load_schedules(project)
    assert expected in str(info.value)
    assert str(info.value).startswith("params/schedules.yaml")


def test_due_reports_run_once_and_a_restart_does_not_rerun(
    tmp_path: Path, fake: FakeRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livekit.reports.schedule")
    project = project_with(tmp_path)
    assert run_due(project, T0) == []  # the first sight starts the clocks
    assert fake.calls == []
    results = run_due(project, T0 + timedelta(minutes=45))  # 08:15: both due
    assert [(r.name, r.status) for r in results] == [("hello", "ok"), ("broken", "failed")]
    assert fake.calls[0] == ("hello", date(2026, 11, 28), RunOptions())
    assert fake.calls[1][2] == RunOptions(timeout=120, cell_timeout=60)
    assert run_due(project, T0 + timedelta(minutes=50)) == []
    assert run_due(Project(project.root), T0 + timedelta(minutes=50)) == []  # a restart
    # A day later, after missed times: each report runs once, for the latest time.
    later = run_due(project, T0 + timedelta(days=1, minutes=31))  # 11-29 08:01
    assert [(r.name, r.date) for r in later] == [
        ("hello", date(2026, 11, 29)),
        ("broken", date(2026, 11, 29)),
    ]
    failed = [r for r in read_history(project.reports_dir) if r.name == "broken"]
    assert [r.error for r in failed] == ["RuntimeError: 内核爆炸"] * 2
    logged = caplog.text
    assert "hello 2026-11-28 成功" in logged
    assert "broken 2026-11-28 失败" in logged
    assert "内核爆炸" in logged


def test_bad_parameters_of_one_report_are_recorded_and_the_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    project = project_with(tmp_path, 'hello: "0 8 * * *"\nbroken: "0 8 * * *"\n')
    (project.params_dir / "broken.yaml").write_text("mesage: 1\n")
    run_due(project, T0)
    results = run_due(project, T0 + timedelta(hours=1))
    by_name = {r.name: r for r in results}
    assert by_name["hello"].ok
    assert by_name["hello"].html is not None
    assert by_name["hello"].html.exists()
    assert by_name["broken"].status == "failed"
    assert "未知参数 'mesage'" in (by_name["broken"].error or "")
    page = project.index_file.read_text(encoding="utf-8")
    assert "mesage" in page
    assert "成功" in page


def test_serve_survives_a_failing_report_and_sleeps_until_the_next_time(
    tmp_path: Path, fake: FakeRunner
) -> None:
    project = project_with(tmp_path)
    times = iter([T0, T0 + timedelta(minutes=45), T0 + timedelta(hours=1, minutes=1)])
    now = [T0]
    naps: list[float] = []

    def clock() -> datetime:
        return now[0]

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        try:
            now[0] = next(times)
        except StopIteration:
            raise KeyboardInterrupt from None

    next(times)
    with pytest.raises(KeyboardInterrupt):
        serve(project, sleep=sleep, clock=clock)
    assert [c[0] for c in fake.calls] == ["hello", "broken", "broken"]
    assert naps[0] == pytest.approx(60.0)  # never more than a minute
    assert all(1.0 <= n <= 60.0 for n in naps)
    assert serve(project, once=True, clock=clock) == []  # the lock was released


def test_only_one_scheduler_at_a_time(tmp_path: Path, fake: FakeRunner) -> None:
    import filelock

    project = project_with(tmp_path)
    project.reports_dir.mkdir(parents=True)
    with (
        filelock.FileLock(project.reports_dir / sched.SCHEDULER_LOCK),
        pytest.raises(ReportError, match="另一个调度器正在运行"),
    ):
        serve(project, once=True)


def test_crontab_lines_run_the_same_reports(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    lines = crontab_lines(project, load_schedules(project))
    assert lines[0] == "CRON_TZ=Asia/Shanghai"
    assert lines[1].startswith(f"0 8 * * * cd {project.root} && ")
    assert lines[1].endswith(f"report run hello >> {project.reports_dir / 'cron.log'} 2>&1")
    assert "report run broken --timeout 120 --cell-timeout 60 >>" in lines[2]


def test_schedule_commands(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    done = cli("schedule", "show", cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert "接下来的运行（北京时间）" in done.stdout
    assert "CRON_TZ=Asia/Shanghai" in done.stdout
    assert "report run hello" in done.stdout
    done = cli("schedule", "run", "--once", cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert "开始调度 hello" in (project.reports_dir / "schedule.log").read_text(encoding="utf-8")
    (project.params_dir / "schedules.yaml").write_text('hello: "every day"\n')
    done = cli("schedule", "show", cwd=project.root)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "cron 表达式 'every day' 无效" in done.stderr


def test_the_project_schedules_name_real_reports() -> None:
    if not real_reports():
        pytest.skip("notebooks/ 中还没有报告")
    schedules = load_schedules(Project(ROOT))
    assert schedules[0].is_sync  # the project syncs before its reports
    assert schedules[0].days == sched.default_sync_days()
    midnight = T0.replace(hour=0, minute=0)
    first_report = min(s.next_runs(midnight, 1)[0] for s in schedules[1:])
    assert schedules[0].next_runs(midnight, 1)[0] < first_report
    assert {s.name for s in schedules[1:]} == set(real_reports())
    assert isinstance(schedules[0], Schedule)


def test_a_due_sync_runs_before_every_report_due_in_the_same_pass(
    tmp_path: Path, fake: FakeRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    monkeypatch.setattr(fake, "calls", _Logged(order))

    def fake_sync(schedule: Schedule, fire: datetime) -> RunResult:
        order.append("sync")
        status: Literal["ok", "failed"] = "failed" if fire.day == 29 else "ok"
        return RunResult("sync", "数据同步", fire.date(), status, fire, 0.1, None, None, "断网")

    monkeypatch.setattr(sched, "run_sync_job", fake_sync)
    # the sync is listed last and scheduled after the reports: it still runs first when due
    project = project_with(tmp_path, SCHEDULES + 'sync: {cron: "45 8 * * *", days: 3}\n')
    assert load_schedules(project)[0].days == 3
    run_due(project, T0)
    results = run_due(project, T0 + timedelta(hours=2))  # 09:30: all three due
    assert order == ["sync", "hello", "broken"]
    assert [r.name for r in results] == ["sync", "hello", "broken"]
    # a failing sync is a failed result, and the reports still run
    order.clear()
    later = run_due(project, T0 + timedelta(days=1, hours=2))
    assert order == ["sync", "hello", "broken"]
    assert [(r.name, r.ok) for r in later] == [("sync", False), ("hello", True), ("broken", False)]
    history = {r.name for r in read_history(project.reports_dir)}
    assert "sync" not in history  # the reports' index lists reports only


class _Logged(list):  # type: ignore[type-arg]
    """FakeRunner.calls that also logs the report names into a shared order."""

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    def append(self, call: Any) -> None:
        self.order.append(call[0])
        super().append(call)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('sync: "every morning"\n', "sync（数据同步）：cron 表达式 'every morning' 无效"),
        ('sync: {cron: "30 7 * * *", days: -1}\n', "days 应为 0 到 366 的整数"),
        ('sync: {cron: "30 7 * * *", timeout: 5}\n', "未知选项 'timeout'"),
    ],
)
def test_a_bad_sync_entry_is_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ParameterError) as info:
        load_schedules(project_with(tmp_path, text))
    assert expected in str(info.value)


def test_the_sync_is_skipped_while_every_report_reads_the_sandbox(
    tmp_path: Path, fake: FakeRunner, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The shipped project reads the sandbox: its morning sync has nothing to fetch and is
    skipped (a demo home without credentials must not fail every morning); once one report
    reads the shop's data, the sync runs before it."""
    import shutil

    synced: list[date] = []

    def fake_sync(schedule: Schedule, fire: datetime) -> RunResult:
        synced.append(fire.date())
        return RunResult("sync", "数据同步", fire.date(), "ok", fire, 0.1, None, None)

    monkeypatch.setattr(sched, "run_sync_job", fake_sync)
    for folder in ("notebooks", "params"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    project = Project(tmp_path)
    run_due(project, T0 - timedelta(minutes=1))  # start: every job handled up to 07:29
    with caplog.at_level(logging.INFO, logger=sched.log.name):
        results = run_due(project, T0 + timedelta(hours=2))
    assert synced == []
    assert "sync" not in [r.name for r in results]
    assert fake.calls, "the reports due still ran"
    assert "跳过" in caplog.text
    params = tmp_path / "params" / "funnel.yaml"
    params.write_text(
        params.read_text(encoding="utf-8").replace("source: sandbox", "source: live"),
        encoding="utf-8",
    )
    run_due(project, T0 + timedelta(days=1, hours=2))
    assert synced == [(T0 + timedelta(days=1)).date()]
