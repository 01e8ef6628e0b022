"""The scheduled sync (issue 11, must-show 6): ``livekit schedule run --once`` at a morning time
on a LIVE home syncs first (from a real sandbox server on loopback, authorized like a shop),
then runs the reports, which read yesterday's synced data; ``schedule show`` lists the sync's
crontab line first. A failing sync is logged, makes the exit code non-zero, and the reports
still run and say which days are incomplete."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from livekit.jobs import authorize_sandbox
from livekit.reports import Project
from livekit.reports.index import read_history
from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.server import RunningSandbox, running_sandbox
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.reports import cli, make_project
from tests.helpers.sync import make_settings

SCHEDULES = 'sync: {cron: "30 7 * * *", days: 1}\nsynced_rooms: "35 7 * * *"\n'


def _morning() -> datetime:
    """07:40 China time of the latest morning that has passed (today's, or yesterday's)."""
    now = datetime.now(CHINA_TZ)
    at = now.replace(hour=7, minute=40, second=0, microsecond=0)
    return at if at <= now else at - timedelta(days=1)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """A small real-time sandbox (its today is the real today) served on 127.0.0.1."""
    with running_sandbox(SandboxConfig(seed=7, scale=0.05)) as running:
        yield running


def _live_env(home: Path, server: RunningSandbox) -> dict[str, str]:
    """A live home whose settings point at the sandbox server, authorized like a real shop."""
    s = make_settings(home).for_sandbox(server.url).model_copy(update={"home": home})
    authorize_sandbox(s)  # tokens into home/tokens.json, as `livekit auth login` would
    assert s.qianchuan_secret is not None
    assert s.doudian_app_secret is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(
        {
            "LIVEKIT_HOME": str(home),
            "LIVEKIT_QIANCHUAN_APP_ID": str(s.qianchuan_app_id),
            "LIVEKIT_QIANCHUAN_SECRET": s.qianchuan_secret.get_secret_value(),
            "LIVEKIT_QIANCHUAN_BASE_URL": s.qianchuan_base_url,
            "LIVEKIT_QIANCHUAN_AUTH_URL": s.qianchuan_auth_url,
            "LIVEKIT_DOUDIAN_APP_KEY": str(s.doudian_app_key),
            "LIVEKIT_DOUDIAN_APP_SECRET": s.doudian_app_secret.get_secret_value(),
            "LIVEKIT_DOUDIAN_BASE_URL": s.doudian_base_url,
            "LIVEKIT_RETRY_WAIT_INITIAL": "0.01",
            "LIVEKIT_RETRY_WAIT_MAX": "0.2",
        }
    )
    return env


def _project(tmp_path: Path, at: datetime) -> Project:
    root = make_project(tmp_path, ["synced_rooms"])
    (root / "params" / "schedules.yaml").write_text(SCHEDULES, encoding="utf-8")
    project = Project(root)
    # both jobs were last handled the morning before: both are due at ``at``
    project.reports_dir.mkdir(parents=True)
    before = (at - timedelta(days=1)).isoformat()
    state = {"version": 1, "handled": {"sync": before, "synced_rooms": before}}
    (project.reports_dir / "schedule-state.json").write_text(json.dumps(state), encoding="utf-8")
    return project


def _printed(project: Project) -> str:
    [run] = [r for r in read_history(project.reports_dir) if r.name == "synced_rooms"]
    assert run.ok, run.error
    assert run.notebook is not None
    nb = json.loads(run.notebook.read_text(encoding="utf-8"))
    text = "".join(
        "".join(o.get("text", ""))
        for cell in nb["cells"]
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    [line] = [x for x in text.splitlines() if x.startswith("ROOMS ")]
    return line


def test_the_morning_run_syncs_first_then_reports_cover_yesterday(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    at = _morning()
    yesterday = at.date() - timedelta(days=1)
    env = _live_env(tmp_path / "home", sandbox)
    project = _project(tmp_path, at)

    done = cli(
        "schedule", "run", "--once", "--at", f"{at:%Y-%m-%d %H:%M}", cwd=project.root, env=env
    )
    assert done.returncode == 0, done.stderr

    log = (project.reports_dir / "schedule.log").read_text(encoding="utf-8")
    synced = log.index("数据同步 成功")
    assert log.index("运行 数据同步") < synced < log.index("运行 synced_rooms")
    assert f"同步 {yesterday - timedelta(days=1)} 至 {yesterday}" in log
    # the report ran for the morning's date and read yesterday, as synced just before it
    expected = httpx.get(
        sandbox.url + "/sandbox/totals",
        params={"start_date": yesterday.isoformat(), "end_date": yesterday.isoformat()},
    ).json()["rooms"]
    assert expected > 0
    assert _printed(project) == f"ROOMS {expected} DAYS ['{yesterday}'] NOTE None"


def test_a_failing_sync_is_logged_fails_the_exit_and_the_report_says_so(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    at = _morning()
    yesterday = at.date() - timedelta(days=1)
    env = _live_env(tmp_path / "home", sandbox)
    env["LIVEKIT_QIANCHUAN_BASE_URL"] = "http://127.0.0.1:9/open_api/"  # nothing listens
    env["LIVEKIT_RETRY_ATTEMPTS"] = "1"
    project = _project(tmp_path, at)

    done = cli(
        "schedule", "run", "--once", "--at", f"{at:%Y-%m-%d %H:%M}", cwd=project.root, env=env
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "错误：数据同步失败" in done.stderr
    log = (project.reports_dir / "schedule.log").read_text(encoding="utf-8")
    assert log.index("数据同步 失败") < log.index("synced_rooms")
    line = _printed(project)  # the report still ran
    assert line.startswith("ROOMS ")
    assert f"{yesterday:%m-%d}" in line
    assert "尚未同步完整" in line


def test_schedule_show_prints_the_sync_line_first(tmp_path: Path) -> None:
    project = _project(tmp_path, _morning())
    done = cli("schedule", "show", cwd=project.root)
    assert done.returncode == 0, done.stderr
    lines = [x for x in done.stdout.splitlines() if x.startswith(("CRON_TZ", "30 7", "35 7"))]
    assert lines[0] == "CRON_TZ=Asia/Shanghai"
    assert lines[1].startswith("30 7 * * * cd ")
    assert " sync --from 2_days_ago --to yesterday --quiet >> " in lines[1]
    assert "report run synced_rooms" in lines[2]
    assert "sync（数据同步，先于报告）" in done.stdout
