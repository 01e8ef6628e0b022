"""livekit on real Airflow over a sandbox of five shops (issue 15, must-show 1).

Everything is real and started here: the sandbox (a subprocess, five shops, a frozen clock), a
redis-server (the shared rate ceiling and token set), moto's S3 server (the data and the
published reports), and Airflow 3 itself on SQLite in a temporary ``AIRFLOW_HOME``. The DAG
file is the one ``livekit airflow dag`` writes for a project whose schedules file holds the
sync and one report. Authorization happens once, into Redis, the way an agency does it
(千川: one consent for every advertiser; 抖店: one code per shop).

- ``airflow dags test <report DAG> --use-executor``: LocalExecutor, parallel task processes
  (they reach the database only through ``airflow api-server --apps execution``, as
  docs/scaleout.md measured). Every shop's datasets in the object store equal a single-machine
  sync of that shop (a local store, partition by partition), every shop's report is rendered
  and published, the index lists them; every task ran in its own empty home, removed after,
  and nothing but Redis and the object store was shared (the project folder is untouched, no
  ``~/.livekit`` appears).
- ``airflow dags test <report DAG>``: the plain serial run, every task in one process, for two
  of the shops and the day before.

- A missed deadline, live: the real ``airflow scheduler`` sees a run past its Deadline Alert
  and the executor calls livekit back (the SLA of the issue).

The DAG file of the ``dags test`` runs has no Deadline Alert: ``airflow dags test`` of a DAG
with one fails after a successful run in Airflow 3.3.2 (apache/airflow#73428); the deadline
test writes a second DAG file (``--prefix late_``) with one, and tests/test_airflow.py checks
the alerts of the default DAG file. Run with ``make test-scale`` (``make test`` runs it after
the rest).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from polars.testing import assert_frame_equal

from livekit.airflow.tasks import HOME_PREFIX, sync_range
from livekit.config import (
    SANDBOX_DOUDIAN_APP_KEY,
    SANDBOX_DOUDIAN_APP_SECRET,
    SANDBOX_QIANCHUAN_APP_ID,
    SANDBOX_QIANCHUAN_SECRET,
    load_settings,
)
from livekit.reports.project import Project
from livekit.shops import Shop, load_shops
from livekit.store import Store, open_store
from livekit.store.datasets import get
from tests.helpers.redis_server import running_redis
from tests.helpers.s3 import S3Server, running_s3
from tests.helpers.sync import DATASETS

pytestmark = [pytest.mark.scale, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHOPS = 5
SEED = 7
TODAY = date(2026, 11, 28)  # the sandbox's frozen day (21:00, the evening show on air)
NOW = "2026-11-28 21:00:00"
FIRE = "2026-11-28T08:00:00+08:00"  # the run's logical date: reports for TODAY
SERIAL_FIRE = "2026-11-27T08:00:00+08:00"  # the serial run's: the day before
SYNC_DAYS = 13  # yesterday and 13 days before: the report's week and the week it compares to
REPORTS = ("funnel",)  # one cheap report entry (the issue: every report renders; CI time)
PARALLELISM = 2  # the box has two cores; tasks still overlap (a sync waits on the network)
QPS = "100"  # the client's ceiling per app, shared by every worker through Redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path, cwd: Path) -> Iterator[Any]:
    """A server subprocess in its own session, logging to ``log``; its group ends afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)


def _wait_http(url: str, proc: Any, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} not serving: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    result = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=timeout
    )
    assert result.returncode == 0, (cmd[:4], result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


@dataclass
class Deployment:
    tmp: Path
    project: Path
    shops: tuple[Shop, ...]
    livekit_env: dict[str, str]  # what a worker of the deployment is given (LIVEKIT_*)
    airflow_env: dict[str, str]  # the same plus Airflow's own settings
    airflow_home: Path
    worker_tmp: Path  # TMPDIR of every Airflow process: the tasks' homes are made here
    user_home: Path  # HOME of every Airflow process: no ~/.livekit may appear in it
    s3: S3Server
    store_url: str
    seconds: dict[str, float]

    def airflow(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "airflow"), *args],
            env=env or self.airflow_env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )

    def settings(self, shop: str | None = None) -> Any:
        """Settings reading the object store (as a worker does), for shop ``shop``."""
        s = load_settings(home=self.tmp / "reader", **self.s3.settings_changes(self.store_url))
        return s.for_shop(shop)


def _project(folder: Path) -> Path:
    """A project with the sync, the reports of REPORTS on live data, and no reports/ yet."""
    (folder / "notebooks").mkdir(parents=True)
    (folder / "params").mkdir()
    schedules: dict[str, Any] = {"sync": {"cron": "30 7 * * *", "days": SYNC_DAYS}}
    for name in REPORTS:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", folder / "notebooks")
        params = yaml.safe_load((ROOT / "params" / f"{name}.yaml").read_text(encoding="utf-8"))
        params["source"] = "live"  # the shops' own synced data, not the built-in sandbox
        (folder / "params" / f"{name}.yaml").write_text(
            yaml.safe_dump(params, allow_unicode=True), encoding="utf-8"
        )
        schedules[name] = {"cron": "0 8 * * *", "timeout": 900}
    (folder / "params" / "schedules.yaml").write_text(
        yaml.safe_dump(schedules, allow_unicode=True), encoding="utf-8"
    )
    return folder


def _authorize(sandbox: str, env: dict[str, str], project: Path, shops: tuple[Shop, ...]) -> None:
    """Once for the whole agency, into Redis: the 千川 consent page (every advertiser is ticked,
    the sandbox's default) and one 抖店 authorization code per shop, each through the CLI."""
    livekit = str(BIN / "livekit")
    with httpx.Client(base_url=sandbox, timeout=30) as http:
        consent = http.get(
            "/openapi/qc/audit/oauth.html",
            params={
                "app_id": SANDBOX_QIANCHUAN_APP_ID,
                "state": "agency",
                "redirect_uri": "http://127.0.0.1/callback",
            },
        )
        assert consent.status_code == 302, consent.text
        code = parse_qs(urlsplit(consent.headers["location"]).query)["auth_code"][0]
        _run([livekit, "auth", "login", "qianchuan", "--code", code], env, project)
        for shop in shops:
            answer = http.get(
                "/sandbox/doudian/authorize",
                params={
                    "app_key": SANDBOX_DOUDIAN_APP_KEY,
                    "shop_id": shop.doudian_shop_id,
                    "state": shop.id,
                    "redirect_uri": "http://127.0.0.1/callback",
                },
            )
            assert answer.status_code == 302, answer.text
            code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
            args = ["--shop-id", str(shop.doudian_shop_id), "--code", code]
            _run([livekit, "auth", "login", "doudian", *args], env, project)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("airflow")
    seconds: dict[str, float] = {}
    project = _project(tmp / "project")
    worker_tmp, user_home = tmp / "worker-tmp", tmp / "user-home"
    worker_tmp.mkdir()
    user_home.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "AIRFLOW"))}
    base.pop("PYTEST_XDIST_WORKER", None)
    with ExitStack() as stack:
        redis_url = stack.enter_context(running_redis())
        s3 = stack.enter_context(running_s3())
        store_url = f"s3://{s3.new_bucket()}/agency"
        port = _free_port()
        sandbox = f"http://127.0.0.1:{port}"
        serve = [str(BIN / "python"), "-m", "livekit", "sandbox", "serve", "--port", str(port)]
        serve += ["--shops", str(SHOPS), "--seed", str(SEED), "--today", TODAY.isoformat()]
        serve += ["--now", NOW, "--speed", "0", "--scale", "0.3"]
        sandbox_env = base | {"LIVEKIT_HOME": str(tmp / "sandbox-home")}
        proc = stack.enter_context(_process(serve, sandbox_env, tmp / "sandbox.log", tmp))
        _wait_http(f"{sandbox}/sandbox/shops", proc, tmp / "sandbox.log")
        livekit = str(BIN / "livekit")
        shops_file = project / "params" / "shops.yaml"
        args = ["--shops", str(SHOPS), "--seed", str(SEED), "--out", str(shops_file)]
        _run([livekit, "sandbox", "shops", *args], sandbox_env, tmp)
        shops = load_shops(shops_file)
        livekit_env = {
            "LIVEKIT_QIANCHUAN_APP_ID": str(SANDBOX_QIANCHUAN_APP_ID),
            "LIVEKIT_QIANCHUAN_SECRET": SANDBOX_QIANCHUAN_SECRET,
            "LIVEKIT_QIANCHUAN_BASE_URL": f"{sandbox}/open_api/",
            "LIVEKIT_QIANCHUAN_AUTH_URL": f"{sandbox}/openapi/qc/audit/oauth.html",
            "LIVEKIT_DOUDIAN_APP_KEY": SANDBOX_DOUDIAN_APP_KEY,
            "LIVEKIT_DOUDIAN_APP_SECRET": SANDBOX_DOUDIAN_APP_SECRET,
            "LIVEKIT_DOUDIAN_BASE_URL": sandbox,
            "LIVEKIT_REDIS_URL": redis_url,
            "LIVEKIT_QPS": QPS,
            "LIVEKIT_RETRY_WAIT_INITIAL": "0.05",
            "LIVEKIT_RETRY_WAIT_MAX": "1",
            **s3.env(store_url),
        }
        admin = base | livekit_env | {"LIVEKIT_HOME": str(tmp / "admin-home")}
        t0 = time.monotonic()
        _authorize(sandbox, admin, project, shops)
        seconds["authorize"] = time.monotonic() - t0
        assert not (tmp / "admin-home" / "tokens.json").exists()  # the token set is in Redis

        dags = tmp / "dags"
        # --done-within 0: no Deadline Alert (airflow dags test fails with one: see the top)
        args = ["--project", str(project), "--done-within", "0", "--out", str(dags / "dags.py")]
        _run([livekit, "airflow", "dag", *args], admin, tmp)
        api_port = _free_port()
        airflow_home = tmp / "airflow-home"
        airflow_env = (
            base
            | livekit_env
            | {
                "HOME": str(user_home),
                "TMPDIR": str(worker_tmp),
                "AIRFLOW_HOME": str(airflow_home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            }
        )
        t0 = time.monotonic()
        _run([str(BIN / "airflow"), "db", "migrate"], airflow_env, tmp, timeout=300)
        seconds["db migrate"] = time.monotonic() - t0
        t0 = time.monotonic()
        api = [str(BIN / "airflow"), "api-server", "-H", "127.0.0.1", "-p", str(api_port)]
        api += ["-w", "1", "--apps", "execution"]
        api_log = tmp / "api-server.log"
        proc = stack.enter_context(_process(api, airflow_env, api_log, tmp))
        _wait_http(f"http://127.0.0.1:{api_port}/execution/health", proc, api_log)
        seconds["api-server ready"] = time.monotonic() - t0
        yield Deployment(
            tmp,
            project,
            shops,
            livekit_env,
            airflow_env,
            airflow_home,
            worker_tmp,
            user_home,
            s3,
            store_url,
            seconds,
        )
    print("seconds:", json.dumps({k: round(v, 1) for k, v in seconds.items()}))


# ---- what Airflow recorded ------------------------------------------------------------------------


def _last_run(
    d: Deployment, dag_id: str
) -> tuple[list[dict[str, Any]], dict[tuple[str, int], Any]]:
    """The task instances of the DAG's last run and their return values (XCom), by (task, map index)."""
    with sqlite3.connect(d.airflow_home / "airflow.db") as db:
        db.row_factory = sqlite3.Row
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        tis = [
            dict(r)
            for r in db.execute(
                "SELECT task_id, map_index, state, start_date, end_date, rendered_map_index"
                " FROM task_instance WHERE dag_id = ? AND run_id = ?",
                (dag_id, run_id),
            )
        ]
        values = {
            (r["task_id"], r["map_index"]): json.loads(r["value"])
            for r in db.execute(
                "SELECT task_id, map_index, value FROM xcom"
                " WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
                (dag_id, run_id),
            )
        }
    return tis, values


def _check_own_homes(d: Deployment, records: list[dict[str, Any]]) -> None:
    """Each task had its own home under the workers' TMPDIR, and none is left."""
    homes = [Path(r["home"]) for r in records]
    assert len(set(homes)) == len(homes), homes
    for home in homes:
        assert home.parent == d.worker_tmp, home
        assert home.name.startswith(HOME_PREFIX), home
        assert not home.exists(), f"{home} was left behind"
    assert not [p for p in d.worker_tmp.iterdir() if p.name.startswith(HOME_PREFIX)]
    assert not (d.user_home / ".livekit").exists()  # no default home was used either


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def _single_machine_sync(d: Deployment) -> Path:
    """``livekit sync --all-shops`` of the same days on one machine, into a local store."""
    home = d.tmp / "single-machine"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env |= {
        k: v for k, v in d.livekit_env.items() if not k.startswith(("LIVEKIT_STORE", "LIVEKIT_S3"))
    }
    env["LIVEKIT_HOME"] = str(home)
    first, last = sync_range(FIRE, SYNC_DAYS)
    args = ["sync", "--all-shops", "--from", first.isoformat(), "--to", last.isoformat(), "--quiet"]
    _run([str(BIN / "livekit"), *args], env, d.project, timeout=600)
    return home / "store"


def _check_same_data(d: Deployment, local_root: Path) -> int:
    """Every shop's datasets in the object store equal the single-machine sync's, partition by
    partition; returns how many partitions were compared."""
    first, last = sync_range(FIRE, SYNC_DAYS)
    compared = 0
    for shop in d.shops:
        remote = open_store(d.settings(shop.id))
        local = Store(local_root / f"shop={shop.id}")
        for name in DATASETS:
            days = local.partitions(name)
            assert remote.partitions(name) == days, (shop.id, name)
            ds = get(name)
            order = ["date", *ds.key, *(c for c in ds.schema if c not in ds.key)]
            for day in days:
                a, b = (s.read(name, ds.schema, day, day).sort(order) for s in (remote, local))
                assert a.height > 0, (shop.id, name, day)
                assert_frame_equal(a, b, check_exact=True)
                compared += 1
        # the synced days are there: at least the shop's rooms on every day of the range
        assert remote.partitions("rooms") == [
            date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)
        ], shop.id
    return compared


# ---- the runs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_store(deployment: Deployment) -> Path:
    t0 = time.monotonic()
    root = _single_machine_sync(deployment)
    deployment.seconds["single-machine sync"] = time.monotonic() - t0
    return root


def test_report_dag_runs_on_a_parallel_executor_over_five_shops(
    deployment: Deployment, local_store: Path
) -> None:
    d = deployment
    project_before = _snapshot(d.project)
    name = REPORTS[0]
    dag_id = f"livekit_{name}"
    t0 = time.monotonic()
    result = d.airflow("dags", "test", dag_id, FIRE, "--use-executor")
    d.seconds["dags test parallel"] = time.monotonic() - t0
    assert result.returncode == 0, (result.stdout[-4000:], result.stderr[-4000:])

    tis, values = _last_run(d, dag_id)
    by_task: dict[str, list[dict[str, Any]]] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    assert {t: len(v) for t, v in by_task.items()} == {
        "shops": 1,
        "sync": SHOPS,
        "report": SHOPS,
        "index": 1,
    }
    assert all(ti["state"] == "success" for ti in tis), tis
    ids = [s.id for s in d.shops]
    assert sorted(ti["rendered_map_index"] for ti in by_task["report"]) == sorted(ids)
    assert values[("shops", -1)] == ids
    # tasks ran in processes of their own, some of them at the same time (the executor's slots)
    records = [
        values[(t, ti["map_index"])] for t in ("sync", "report", "index") for ti in by_task[t]
    ]
    assert len({r["pid"] for r in records}) == len(records)
    spans = sorted((ti["start_date"], ti["end_date"]) for ti in by_task["sync"] + by_task["report"])
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans)), spans
    _check_own_homes(d, records)
    assert _snapshot(d.project) == project_before  # the project folder is only read

    # every shop synced its own data, the same a single machine syncs
    syncs = {values[("sync", ti["map_index"])]["shop"] for ti in by_task["sync"]}
    assert syncs == set(ids)
    assert _check_same_data(d, local_store) > SHOPS * len(DATASETS)

    # every shop's report rendered and published, and the index lists each one
    title = Project(d.project).report(name).title
    remote = open_store(d.settings())
    index = remote.get_object("reports/index.html")
    assert index is not None
    page_index = index.decode("utf-8")
    for shop in d.shops:
        folder = f"reports/shop={shop.id}/{name}/{TODAY.isoformat()}"
        record = remote.get_object(f"{folder}/run.json")
        assert record is not None, folder
        run = json.loads(record)
        assert (run["status"], run["error"], run["shop"]) == ("ok", None, shop.id)
        page = remote.get_object(f"{folder}/{name}.html")
        assert page is not None, folder
        text = page.decode("utf-8")
        assert title in text
        assert "Traceback" not in text
        assert f"shop={shop.id}/{name}/{TODAY.isoformat()}/{name}.html" in page_index
        assert shop.name in page_index
    print("seconds:", json.dumps({k: round(v, 1) for k, v in d.seconds.items()}))


def test_report_dag_passes_plain_airflow_dags_test(deployment: Deployment) -> None:
    """The serial ``airflow dags test`` (no executor: every task in that one process, one after
    another, each in its own home), for two of the shops (``LIVEKIT_SHOPS_FILE``: the workers'
    setting wins over the project's file) and the day before."""
    d = deployment
    picked = (d.shops[1], d.shops[4])
    two = d.tmp / "two-shops.yaml"
    two.write_text(
        yaml.safe_dump(
            {
                "shops": [
                    {
                        "id": s.id,
                        "name": s.name,
                        "qianchuan": {"advertiser_id": s.advertiser_id},
                        "doudian": {"shop_id": s.doudian_shop_id},
                    }
                    for s in picked
                ]
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    name = REPORTS[0]
    dag_id = f"livekit_{name}"
    day = TODAY - timedelta(days=1)
    env = d.airflow_env | {"LIVEKIT_SHOPS_FILE": str(two)}
    t0 = time.monotonic()
    result = d.airflow("dags", "test", dag_id, SERIAL_FIRE, env=env)
    d.seconds["dags test serial"] = time.monotonic() - t0
    assert result.returncode == 0, (result.stdout[-4000:], result.stderr[-4000:])
    tis, values = _last_run(d, dag_id)
    assert sorted(ti["task_id"] for ti in tis) == [
        "index",
        "report",
        "report",
        "shops",
        "sync",
        "sync",
    ]
    assert all(ti["state"] == "success" for ti in tis), tis
    assert values[("shops", -1)] == [s.id for s in picked]
    records = [values[(ti["task_id"], ti["map_index"])] for ti in tis if ti["task_id"] != "shops"]
    assert len({r["pid"] for r in records}) == 1  # serial: one process ran them all
    _check_own_homes(d, records)
    first, last = sync_range(SERIAL_FIRE, SYNC_DAYS)
    remote_all = open_store(d.settings())
    index = remote_all.get_object("reports/index.html")
    assert index is not None
    page_index = index.decode("utf-8")
    for shop in picked:
        remote = open_store(d.settings(shop.id))
        assert remote.partitions("rooms")[0] == first  # the day before's sync reached back further
        folder = f"reports/shop={shop.id}/{name}/{day.isoformat()}"
        record = remote_all.get_object(f"{folder}/run.json")
        assert record is not None, folder
        assert json.loads(record)["status"] == "ok"
        assert remote_all.get_object(f"{folder}/{name}.html") is not None
        assert f"shop={shop.id}/{name}/{day.isoformat()}/{name}.html" in page_index
    # the parallel run's pages stay listed beside the new ones
    assert f"shop={d.shops[0].id}/{name}/{TODAY.isoformat()}/{name}.html" in page_index
    assert last == day - timedelta(days=1)
    print("seconds:", json.dumps({k: round(v, 1) for k, v in d.seconds.items()}))


def _callback_lines(home: Path, dag_id: str) -> list[dict[str, Any]]:
    """The error lines livekit logged in Airflow's deadline callbacks of ``dag_id`` (JSON lines
    in ``$AIRFLOW_HOME/logs/executor_callbacks/<dag>/<run>/<callback>``)."""
    out = []
    for path in (home / "logs" / "executor_callbacks" / dag_id).glob("*/*"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("logger") == "livekit.airflow" and record.get("level") == "error":
                out.append(record)
    return out


def test_a_missed_deadline_calls_livekit_back_through_the_scheduler(deployment: Deployment) -> None:
    """The SLA, live: a DAG file whose runs must be done within a minute of their logical date,
    a run created long after that (logical date: FIRE); the real scheduler sees the missed
    deadline and has the executor call livekit.airflow.callbacks.deadline_missed (a
    SyncCallback), which logs one error line naming the DAG and the run."""
    d = deployment
    dags = Path(d.airflow_env["AIRFLOW__CORE__DAGS_FOLDER"])
    args = ["--project", str(d.project), "--prefix", "late_", "--done-within", "1"]
    _run(
        [str(BIN / "livekit"), "airflow", "dag", *args, "--out", str(dags / "late.py")],
        d.airflow_env,
        d.tmp,
    )
    result = d.airflow("dags", "reserialize")  # what the DAG processor would store
    assert result.returncode == 0, result.stderr[-3000:]
    t0 = time.monotonic()
    log = d.tmp / "scheduler.log"
    with _process([str(BIN / "airflow"), "scheduler"], d.airflow_env, log, d.tmp) as scheduler:
        for args in (["unpause", "late_sync"], ["trigger", "late_sync", "-l", FIRE]):
            result = d.airflow("dags", *args)
            assert result.returncode == 0, result.stderr[-3000:]
        deadline = time.monotonic() + 180
        while not (lines := _callback_lines(d.airflow_home, "late_sync")):
            assert scheduler.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(1)
    d.seconds["missed deadline called back"] = time.monotonic() - t0
    assert len(lines) == 1
    event = lines[0]["event"]
    assert event.startswith("livekit：数据同步 未能按时完成（应在计划时间后 1 分钟之前完成）")
    assert "DAG late_sync" in event
    assert "运行 manual__" in event
    print("seconds:", json.dumps({k: round(v, 1) for k, v in d.seconds.items()}))
