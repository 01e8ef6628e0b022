"""Syncs in real child processes: SIGKILL at random points, two processes racing token refresh,
and the CLI's answers to bad input (issue 3, points 3, 4 and 5)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from polars.testing import assert_frame_equal

from livekit.api.runner import run
from livekit.ingest.run import sync_async
from livekit.jobs import sandbox_auth_code, sandbox_session
from livekit.sandbox.config import Faults, TokenLifetimes
from livekit.sandbox.server import free_port
from livekit.store import Store
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import DATASETS, child_env, cli, make_settings, read_all, spawn

ROOT = Path(__file__).resolve().parents[1]
START, END = TODAY - timedelta(days=10), TODAY - timedelta(days=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean in-process sync of [START, END]: the store every other run must equal."""
    home = tmp_path_factory.mktemp("reference")
    with sandbox_session(make_settings(home), make_config()) as session:
        run(
            sync_async(
                session.settings,
                START,
                END,
                now=NOW,
                viewer_export_url=session.viewer_export_url,
            )
        )
    return home / "sandbox"


def _partitions(home: Path) -> int:
    return sum(len(Store(home / "store").partitions(name)) for name in DATASETS)


@pytest.mark.slow
def test_sigkill_at_random_points_never_corrupts_and_resumes(
    reference: Path, tmp_path: Path
) -> None:
    rng = random.Random(20261128)
    full = _partitions(reference)
    partial_seen = []
    with sandbox_session(make_settings(tmp_path), make_config()) as session:
        env = child_env(session, LIVEKIT_QPS="10")  # ~15 s for the range: killed mid-way
        home = session.settings.home
        for _ in range(5):
            # each child resumes where the previous one died
            before = _partitions(home)
            child = spawn(env, START, END)
            time.sleep(rng.uniform(1.0, 4.0))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            after = _partitions(home)
            partial_seen.append((before, after, child.returncode))
            stored = read_all(home, START, END)  # every partition reads
            for name, frame in stored.items():
                from livekit.store.datasets import get

                if name != "viewers":  # visits have no unique key (see livekit.viewers)
                    assert frame.select(get(name).key).is_duplicated().sum() == 0, name
        killed = [a for _, a, rc in partial_seen if rc == -signal.SIGKILL]
        assert len(killed) >= 3, partial_seen
        assert any(0 < a < full for a in killed), (partial_seen, full)
        run(
            sync_async(
                session.settings,
                START,
                END,
                now=NOW,
                viewer_export_url=session.viewer_export_url,
            )
        )
        final = read_all(home, START, END)
    expected = read_all(reference, START, END)
    for name in DATASETS:
        assert final[name].height > 0, name
        assert_frame_equal(final[name], expected[name])


@pytest.mark.slow
def test_two_processes_with_5_second_tokens_both_finish(tmp_path: Path) -> None:
    lifetimes = TokenLifetimes(qianchuan_access=5, doudian_access=5, doudian_grace=2)
    config = make_config(speed=1.0, lifetimes=lifetimes, faults=Faults(qps=40))
    with sandbox_session(make_settings(tmp_path), config) as session:
        env = child_env(session, LIVEKIT_QPS="15")
        children = [spawn(env, START, END) for _ in range(2)]
        outputs = [c.communicate(timeout=240) for c in children]
        sb = session.server.sandbox
        dead = dict(sb.tokens.dead_refresh_uses)
        refreshes = dict(sb.tokens.refreshes)
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-2000:]
        assert out.startswith("rows"), out
    assert refreshes["qianchuan"] >= 2, refreshes  # tokens really expired during the syncs
    assert dead == {"qianchuan": 0, "doudian": 0}


# ---- bad input: one clear message, non-zero exit, no traceback --------------------------
def _assert_clear_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert "错误" in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update({"LIVEKIT_HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"})
    return env


def test_unknown_dates(bare_env: dict[str, str]) -> None:
    _assert_clear_error(cli(bare_env, "sync", "--from", "2026-13-01"), "--from", "2026-13-01")
    _assert_clear_error(cli(bare_env, "sync", "--from", "2026-11-01", "--to", "soon"), "--to")


def test_from_after_to(bare_env: dict[str, str]) -> None:
    _assert_clear_error(
        cli(bare_env, "sync", "--from", "2026-11-20", "--to", "2026-11-10"), "2026-11-20"
    )


def test_future_dates(bare_env: dict[str, str]) -> None:
    _assert_clear_error(cli(bare_env, "sync", "--from", "today", "--to", "2999-01-01"), "2999")


def test_missing_credentials(bare_env: dict[str, str]) -> None:
    _assert_clear_error(
        cli(bare_env, "sync", "--from", "yesterday"),
        "LIVEKIT_QIANCHUAN_APP_ID",
        "LIVEKIT_QIANCHUAN_SECRET",
    )
    _assert_clear_error(cli(bare_env, "auth", "login", "doudian"), "LIVEKIT_DOUDIAN_APP_KEY")


def test_not_logged_in(tmp_path: Path) -> None:
    with sandbox_session(make_settings(tmp_path), make_config()) as session:
        env = child_env(session)
        Path(env["LIVEKIT_HOME"], "tokens.json").unlink()
        _assert_clear_error(
            cli(env, "sync", "--from", "2026-11-20", "--to", "2026-11-21"), "livekit auth login"
        )


def _tokens(home: Path) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads((home / "tokens.json").read_text())
    return data


def test_dead_refresh_token_40107(tmp_path: Path) -> None:
    with sandbox_session(make_settings(tmp_path), make_config()) as session:
        env = child_env(session)
        home = session.settings.home
        qc = _tokens(home)["qianchuan"]
        sb = session.server.sandbox
        # someone else (another machine) refreshed with our refresh token: ours is now dead
        r = httpx.post(
            session.url + "/open_api/oauth2/refresh_token/",
            json={
                "app_id": sb.config.qianchuan_app_id,
                "secret": sb.config.qianchuan_secret,
                "refresh_token": qc["refresh_token"],
            },
        )
        assert r.json()["code"] == 0
        sb.tokens.revoke(str(qc["access_token"]))
        result = cli(env, "sync", "--from", "2026-11-20", "--to", "2026-11-21")
        _assert_clear_error(result, "livekit auth login qianchuan")
        for token in (qc["access_token"], qc["refresh_token"]):
            assert str(token) not in result.stderr + result.stdout


def test_expired_refresh_token_40103(tmp_path: Path) -> None:
    lifetimes = TokenLifetimes(qianchuan_access=1, qianchuan_refresh=2)
    with sandbox_session(make_settings(tmp_path), make_config(speed=1.0, lifetimes=lifetimes)) as s:
        env = child_env(s)
        time.sleep(2.5)
        result = cli(env, "sync", "--from", "2026-11-20", "--to", "2026-11-21")
        _assert_clear_error(result, "livekit auth login qianchuan")
        assert s.server.sandbox.stats.outcomes["qianchuan:40103"] >= 1


def test_unreadable_viewer_file(bare_env: dict[str, str], tmp_path: Path) -> None:
    _assert_clear_error(cli(bare_env, "import", "viewers", str(tmp_path / "nope.csv")), "nope.csv")
    garbage = tmp_path / "viewers.parquet"
    garbage.write_bytes(b"\x00\x01not a parquet file at all")
    _assert_clear_error(cli(bare_env, "import", "viewers", str(garbage)), "viewers.parquet")
    missing = tmp_path / "viewers.csv"
    missing.write_text("room_id,viewer_id\n1,a\n", encoding="utf-8")
    _assert_clear_error(cli(bare_env, "import", "viewers", str(missing)), "enter_time")


# ---- livekit auth: the commands a user runs ------------------------------------------------
def test_auth_login_with_code_doudian_and_status(tmp_path: Path) -> None:
    with sandbox_session(make_settings(tmp_path), make_config()) as session:
        env = child_env(session)
        Path(env["LIVEKIT_HOME"], "tokens.json").unlink()
        _assert_clear_error(cli(env, "auth", "status"), "livekit auth login")
        code = sandbox_auth_code(session.settings)
        first = cli(env, "auth", "login", "qianchuan", "--code", code)
        assert first.returncode == 0, first.stderr
        assert "授权成功" in first.stdout
        again = cli(env, "auth", "login", "qianchuan", "--code", code)  # single use
        _assert_clear_error(again, "40110")
        dd = cli(env, "auth", "login", "doudian")
        assert dd.returncode == 0, dd.stderr
        assert "悦好" in dd.stdout  # the shop's name
        status = cli(env, "auth", "status")
        assert status.returncode == 0, status.stderr
        assert status.stdout.count("已授权") == 2, status.stdout
        tokens = _tokens(Path(env["LIVEKIT_HOME"]))
        for entry in tokens.values():
            for key in ("access_token", "refresh_token"):
                assert str(entry[key]) not in status.stdout + first.stdout + dd.stdout
        assert oct(Path(env["LIVEKIT_HOME"], "tokens.json").stat().st_mode & 0o777) == "0o600"


def test_auth_login_through_the_loopback_redirect(tmp_path: Path) -> None:
    with sandbox_session(make_settings(tmp_path), make_config()) as session:
        env = child_env(session)
        Path(env["LIVEKIT_HOME"], "tokens.json").unlink()
        port = str(free_port())
        command = ["auth", "login", "qianchuan", "--no-browser", "--port", port, "--timeout", "60"]
        child = subprocess.Popen(
            [sys.executable, "-m", "livekit", *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        assert child.stdout is not None
        url = ""
        for line in child.stdout:
            if line.startswith("http"):
                url = line.strip()
                break
        assert f"127.0.0.1%3A{port}" in url or f"127.0.0.1:{port}" in url, url
        # the user's browser: consent page -> redirect to our loopback callback
        page = httpx.get(url, follow_redirects=True, timeout=30)
        assert page.status_code == 200
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert "授权成功" in out
        assert _tokens(Path(env["LIVEKIT_HOME"]))["qianchuan"]["access_token"]
