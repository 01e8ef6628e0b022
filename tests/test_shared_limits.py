"""Rate limits shared through a real redis-server (issue 15, point 3; must-show 2).

The redis-server is Debian's, started here on a free loopback port (tests/helpers/redis_server.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bench.sync import data_requests, minimum_requests
from livekit.api.shared import SharedLimits
from livekit.config import ConfigError, load_settings
from livekit.credentials import secret_values
from livekit.jobs import authorize_sandbox, sandbox_session
from livekit.sandbox.config import Faults
from tests.helpers.redis_server import running_redis
from tests.helpers.sandbox import TODAY, make_config
from tests.helpers.sync import child_env, make_settings, spawn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


def _most_in_one_second(grants: list[int]) -> int:
    """The most grants inside any half-open second [t, t + 1 s) of the Redis clock (µs)."""
    grants = sorted(grants)
    most, j = 0, 0
    for i, start in enumerate(grants):
        j = max(j, i)
        while j < len(grants) and grants[j] < start + 1_000_000:
            j += 1
        most = max(most, j - i)
    return most


@pytest.mark.parametrize("mode", ["plain", "in-flight"])
def test_processes_at_full_speed_never_exceed_the_shared_window(redis_url: str, mode: str) -> None:
    capacity, seconds, processes = 10, 2.5, 4
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.helpers.shared_window_child",
                redis_url,
                f"test:{mode}",
                str(capacity),
                str(seconds),
                mode,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    grants: list[int] = []
    per_child = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err[-2000:]
        mine = [int(x) for x in out.split()]
        per_child.append(len(mine))
        grants.extend(mine)
    assert all(n > 0 for n in per_child), per_child  # every process got slots: all competed
    assert len(set(grants)) == len(grants)  # microsecond stamps: no two grants share one
    # full speed filled the window (the limiter really bound), and never overfilled it
    assert _most_in_one_second(grants) == capacity, sorted(grants)


def test_a_slot_never_answered_frees_itself_after_hold(redis_url: str) -> None:
    async def scenario() -> tuple[int, int]:
        limits = SharedLimits(redis_url, hold=0.3)
        window = limits.window("test:crashed")
        try:
            first = (await window.take(1, 1.0, in_flight=True)).at  # its worker "crashes"
            second = (await window.take(1, 1.0, in_flight=True)).at
        finally:
            await limits.aclose()
        return first, second

    first, second = asyncio.run(scenario())
    assert second - first >= 300_000  # not before the hold ran out (Redis clock)


def test_an_answer_moves_the_slot_to_answer_plus_span(redis_url: str) -> None:
    async def scenario() -> tuple[int, int, int]:
        limits = SharedLimits(redis_url, hold=60.0)
        window = limits.window("test:answered")
        try:
            grant = await window.take(1, 0.2, in_flight=True)
            first = grant.at
            await asyncio.sleep(0.1)
            await window.finish(grant.member, 0.2)
            answered = int((await limits.redis.zscore(window.key, grant.member)) or 0)
            again = await window.take(1, 0.2, in_flight=True)
            second = again.at
            assert grant.filled  # one slot of one: the window was full
            assert again.filled
            roomy = await limits.window("test:roomy").take(5, 0.2, in_flight=False)
            assert not roomy.filled  # one of five
        finally:
            await limits.aclose()
        return first, answered, second

    first, answered, second = asyncio.run(scenario())
    # freed 0.2 s after an answer that came 0.1 s after the grant, not 60 s after the grant
    assert first + 300_000 <= answered < first + 60_000_000
    assert second >= answered  # the next slot waited for it


# ---- must-show 2: one ceiling for all -------------------------------------------------------
QPS = 20.0  # the sandbox's per-app limit, and every worker's LIVEKIT_QPS
WORKERS = 4
DAYS = 5


def _workers_sync(redis: str | None, tmp_path: Path) -> tuple[dict[str, Any], int, int]:
    """4 worker processes sync the same closed days against one sandbox limited to QPS.

    Each worker has its own empty LIVEKIT_HOME with a copy of the sandbox's token file (the
    frozen clock never expires them) and LIVEKIT_QPS equal to the limit; with ``redis`` they
    share its URL and nothing else. Returns the sandbox's stats, the data requests made and the
    minimum the endpoints allow for all workers (bench/sync.py's count from the sandbox totals).
    """
    end = TODAY - timedelta(days=1)
    start = end - timedelta(days=DAYS - 1)
    config = make_config(faults=Faults(qps=QPS))
    with sandbox_session(make_settings(tmp_path / "main"), config) as session:
        url = session.url
        span = {"start_date": start.isoformat(), "end_date": end.isoformat()}
        httpx.get(url + "/sandbox/totals", params=span, timeout=120)  # warm: simulate once
        if redis is not None:  # with Redis the token set lives there: log in once, into it
            authorize_sandbox(session.settings.model_copy(update={"redis_url": SecretStr(redis)}))
        envs = []
        for i in range(WORKERS):
            home = tmp_path / f"worker{i}"
            home.mkdir()
            shutil.copy(session.settings.tokens_path, home / "tokens.json")
            env = child_env(session, LIVEKIT_QPS=f"{QPS:g}", LIVEKIT_HOME=str(home))
            env.pop("SANDBOX_VIEWER_EXPORT_URL")  # API requests only
            if redis is not None:
                env["LIVEKIT_REDIS_URL"] = redis
            envs.append(env)
        httpx.post(url + "/sandbox/stats")  # count from here
        children = [spawn(env, start, end) for env in envs]
        outputs = [child.communicate(timeout=240) for child in children]
        stats: dict[str, Any] = httpx.get(url + "/sandbox/stats").json()
        awemes = len(session.server.sandbox.world.accounts)
        min_qc, min_dd = minimum_requests(url, start, end, awemes)
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-2000:]
    rows = {out for out, _ in outputs}
    assert len(rows) == 1, rows  # every worker stored the same
    assert next(iter(rows)).startswith("rows "), rows
    qc, dd = data_requests(stats)
    return stats, qc + dd, WORKERS * (min_qc + min_dd)


@pytest.mark.slow
def test_four_workers_at_full_qps_share_one_ceiling_through_redis(
    redis_url: str, tmp_path: Path
) -> None:
    stats, made, minimum = _workers_sync(redis_url, tmp_path / "redis")
    over = sum(stats["rate_limited"].values())
    print(f"with Redis: {over} over-limit answers, requests made / minimum = {made}/{minimum}")
    assert over == 0, stats["rate_limited"]
    assert made == minimum  # 1.00: no request was refused and retried

    # The same workers without Redis each take the whole ceiling: the server refuses some.
    stats, made, minimum = _workers_sync(None, tmp_path / "alone")
    over = sum(stats["rate_limited"].values())
    print(f"without Redis: {over} over-limit answers, requests made / minimum = {made}/{minimum}")
    assert over > 0
    assert made > minimum


# ---- the setting ----------------------------------------------------------------------------
def test_without_the_setting_nothing_imports_redis() -> None:
    code = (
        "import sys, asyncio\n"
        "import livekit\n"
        "from livekit.api.client import Client\n"
        "from livekit.config import load_settings\n"
        "async def main():\n"
        "    async with Client(load_settings(home=sys.argv[1])) as c:\n"
        "        assert c.shared is None\n"
        "asyncio.run(main())\n"
        "assert not any(m == 'redis' or m.startswith('redis.') for m in sys.modules), 'redis'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    result = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / ".cache" / "no-home")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_redis_password_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "hunter2-redis-password"
    monkeypatch.setenv("LIVEKIT_REDIS_URL", f"redis://:{password}@127.0.0.1:6379/0")
    settings = load_settings()
    assert settings.redis_url is not None
    assert password not in repr(settings)
    assert password in secret_values()  # so log masking and report scrubbing know it
    monkeypatch.setenv("LIVEKIT_REDIS_URL", f"http://:{password}@127.0.0.1:6379/0")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "LIVEKIT_REDIS_URL" in str(caught.value)
    assert password not in str(caught.value)


def test_an_unreachable_redis_is_one_clear_error() -> None:
    async def scenario() -> None:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        limits = SharedLimits(f"redis://:some-password-1234@127.0.0.1:{port}/0", hold=1.0)
        try:
            await limits.window("test:down").take(1, 1.0, in_flight=False)
        finally:
            await limits.aclose()

    with pytest.raises(ConfigError) as caught:
        asyncio.run(scenario())
    message = str(caught.value)
    assert "LIVEKIT_REDIS_URL" in message
    assert "some-password" not in message
