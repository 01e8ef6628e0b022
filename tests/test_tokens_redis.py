"""The token set in a real redis-server, shared by worker processes (issue 15, point 3; must-show 3).

The redis-server is Debian's, started here on a free loopback port (tests/helpers/redis_server.py);
the sandbox runs in this process on loopback, the workers are child processes that share
nothing but Redis (each its own empty LIVEKIT_HOME).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from livekit.api.auth import (
    QianchuanTokens,
    TokenManager,
    create_doudian_token,
    exchange_code,
    status,
)
from livekit.api.client import Client
from livekit.api.errors import TokenLockTimeout
from livekit.api.runner import run
from livekit.api.tokens_redis import RedisTokens
from livekit.config import Settings
from livekit.credentials import secret_values
from livekit.sandbox.config import Faults, TokenLifetimes
from livekit.sandbox.server import RunningSandbox, running_sandbox
from tests.helpers.api import auth_code, sandbox_settings, stats
from tests.helpers.redis_server import running_redis
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.tokens import worker_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


def _login(settings: Settings) -> None:
    run(exchange_code(settings, auth_code(settings)))
    run(create_doudian_token(settings))


# ---- must-show 3: tokens across machines ----------------------------------------------------
WORKERS = 4
QPS = 40.0  # the sandbox's per-app limit and every worker's LIVEKIT_QPS
LIFETIMES = TokenLifetimes(qianchuan_access=5, doudian_access=5, doudian_grace=2)
# 抖店's orders are few next to 千川's pages: a lower 抖店 limit spreads them over the sync, so
# that its tokens rotate several times too (the workers learn the limit from its answers)
FAULTS = Faults(qps=QPS, doudian_qps=4.0)
START, END = TODAY - timedelta(days=12), TODAY - timedelta(days=1)


def _workers(
    server: RunningSandbox, envs: list[dict[str, str]], start: date = START
) -> tuple[list[tuple[int, str, str]], dict[str, Any]]:
    httpx.post(server.url + "/sandbox/stats")  # count from here
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.helpers.tokens_child",
                start.isoformat(),
                END.isoformat(),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in envs
    ]
    outputs = [child.communicate(timeout=240) for child in children]
    done = [(c.returncode, out, err) for c, (out, err) in zip(children, outputs, strict=True)]
    return done, stats(server.url)


@pytest.mark.scale
@pytest.mark.slow
def test_four_workers_with_5_second_tokens_share_them_through_redis(
    redis_url: str, tmp_path: Path
) -> None:
    config = make_config(speed=1.0, lifetimes=LIFETIMES, faults=FAULTS)
    with running_sandbox(config) as server:
        login = sandbox_settings(tmp_path / "login", server.url, redis_url=redis_url)
        _login(login)  # `livekit auth login …` on any machine with the deployment's settings
        assert not login.tokens_path.exists()  # the token set lives in Redis only
        homes = [tmp_path / f"worker{i}" for i in range(WORKERS)]
        envs = []
        for home in homes:
            home.mkdir()
            envs.append(
                worker_env(login, home, LIVEKIT_QPS=f"{QPS:g}", LIVEKIT_REDIS_URL=redis_url)
            )
        done, counts = _workers(server, envs)
    reports = []
    for code, out, err in done:
        assert code == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    rows = {r["rows"] for r in reports}
    assert len(rows) == 1, rows  # every worker stored the same
    assert next(iter(rows)) > 0
    for home in homes:
        assert not (home / "tokens.json").exists()  # no worker kept a token file
    refreshes = {p: sum(r["refreshes"].get(p, 0) for r in reports) for p in counts["refreshes"]}
    holds = sorted(ms for r in reports for ms in r["lock_ms"])
    print(
        f"with Redis: sandbox refreshes {counts['refreshes']}, dead refresh-token uses "
        f"{counts['dead_refresh_token_uses']}; refresh calls by workers {refreshes}; "
        f"{len(holds)} lock holds, median {holds[len(holds) // 2]:.1f} ms, "
        f"max {holds[-1]:.1f} ms; per worker {[r['refreshes'] for r in reports]}"
    )
    assert counts["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}
    assert counts["refreshes"]["qianchuan"] >= 3, counts["refreshes"]  # tokens really rotated
    assert counts["refreshes"]["doudian"] >= 3, counts["refreshes"]
    # every rotation the sandbox counted was one worker's refresh (抖店 answers a refresh
    # outside the grace window with the same pair: a call, no rotation)
    assert refreshes["qianchuan"] == counts["refreshes"]["qianchuan"]
    assert refreshes["doudian"] >= counts["refreshes"]["doudian"]
    assert sum(1 for r in reports if r["refreshes"]) >= 2  # more than one worker refreshed
    assert sum(r["lost_locks"] + r["raced"] for r in reports) == 0


@pytest.mark.scale
@pytest.mark.slow
def test_without_redis_copies_of_one_grant_spend_dead_refresh_tokens(tmp_path: Path) -> None:
    """The negative: each worker with its own copy of the same grant in its token file."""
    config = make_config(speed=1.0, lifetimes=LIFETIMES, faults=FAULTS)
    with running_sandbox(config) as server:
        login = sandbox_settings(tmp_path / "login", server.url)
        _login(login)
        envs = []
        for i in range(WORKERS):
            home = tmp_path / f"worker{i}"
            home.mkdir()
            shutil.copy(login.tokens_path, home / "tokens.json")
            envs.append(worker_env(login, home, LIVEKIT_QPS=f"{QPS:g}"))
        done, counts = _workers(server, envs, start=END - timedelta(days=4))  # enough to rotate
    failed = sum(1 for code, _, _ in done if code != 0)
    print(
        f"without Redis: dead refresh-token uses {counts['dead_refresh_token_uses']}, {failed} "
        f"of {WORKERS} workers failed"
    )
    assert counts["dead_refresh_token_uses"]["qianchuan"] > 0
    assert failed > 0


# ---- the store itself -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    with running_sandbox(make_config()) as running:
        yield running


def test_login_writes_to_redis_and_every_client_reads_there(
    redis_url: str, server: RunningSandbox, tmp_path: Path
) -> None:
    first = sandbox_settings(tmp_path / "a", server.url, redis_url=redis_url)
    _login(first)
    assert not first.tokens_path.exists()
    other = sandbox_settings(tmp_path / "b", server.url, redis_url=redis_url)  # another machine
    rows = status(other)
    assert [(r["key"], r["authorized"]) for r in rows] == [
        ("qianchuan", True),
        ("doudian", True),
    ]
    world = server.sandbox.world

    async def use() -> None:
        async with Client(other) as client:
            assert await client.qianchuan.awemes(world.advertiser_id)
            assert await client.doudian.search_orders(0, int(NOW.timestamp()), 0, 5)

    run(use())
    assert not other.tokens_path.exists()
    # without the setting the same home has no tokens: the file is not a fallback
    assert [r["authorized"] for r in status(other.model_copy(update={"redis_url": None}))] == [
        False,
        False,
    ]


def test_two_sandboxes_on_one_redis_keep_their_own_tokens(
    redis_url: str, server: RunningSandbox, tmp_path: Path
) -> None:
    """Two in-process sandboxes (same demo app, other tokens) never overwrite each other's."""
    with running_sandbox(make_config()) as second:
        a = sandbox_settings(tmp_path / "a", server.url, redis_url=redis_url)
        b = sandbox_settings(tmp_path / "b", second.url, redis_url=redis_url)
        _login(a)
        _login(b)

        async def use(settings: Settings, sandbox: RunningSandbox) -> None:
            async with Client(settings) as client:
                assert await client.qianchuan.awemes(sandbox.sandbox.world.advertiser_id)

        run(use(a, server))
        run(use(b, second))
        stored = _hashes(redis_url)
        assert any(second.url in name for name in stored)
        assert any(server.url in name and second.url not in name for name in stored)


def _hashes(url: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return [n.decode() for n in client.scan_iter(match="livekit:tokens:*")]
    finally:
        client.close()


def test_the_write_is_a_compare_and_set(
    redis_url: str, server: RunningSandbox, tmp_path: Path
) -> None:
    settings = sandbox_settings(tmp_path, server.url, redis_url=redis_url)
    run(exchange_code(settings, auth_code(settings)))

    async def scenario() -> tuple[bool, bool, str]:
        store = RedisTokens(settings)
        try:
            spent = await store.get("qianchuan")
            assert isinstance(spent, QianchuanTokens)
            mine = QianchuanTokens(
                "access-of-mine", "refresh-of-mine", 1.0, 2.0, spent.advertiser_ids, 0.0
            )
            theirs = QianchuanTokens(
                "access-of-theirs", "refresh-of-theirs", 1.0, 2.0, spent.advertiser_ids, 0.0
            )
            first = await store.replace("qianchuan", spent, mine)
            second = await store.replace("qianchuan", spent, theirs)  # spent is stale now
            now = await store.get("qianchuan")
            assert now is not None
            return first, second, now.refresh_token
        finally:
            await store.aclose()

    assert run(scenario()) == (True, False, "refresh-of-mine")


def test_a_lock_held_elsewhere_times_out_in_one_line(
    redis_url: str, server: RunningSandbox, tmp_path: Path
) -> None:
    settings = sandbox_settings(tmp_path, server.url, redis_url=redis_url)

    async def scenario() -> None:
        holder, waiter = RedisTokens(settings), RedisTokens(settings)
        try:
            async with holder.hold("qianchuan", 5.0):
                with pytest.raises(TokenLockTimeout, match="Redis"):
                    async with waiter.hold("qianchuan", 0.2):
                        pass
            async with waiter.hold("qianchuan", 0.2):  # free again
                pass
        finally:
            await holder.aclose()
            await waiter.aclose()

    run(scenario())


def test_a_lock_that_ran_out_is_logged_not_raised(
    redis_url: str, server: RunningSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = sandbox_settings(tmp_path, server.url, redis_url=redis_url)

    async def scenario() -> None:
        store = RedisTokens(settings)
        try:
            async with store.hold("doudian", 1.0):
                await store.redis.delete(store.lock_name("doudian"))  # as if it had expired
        finally:
            await store.aclose()

    run(scenario())
    assert any("ran out" in r.getMessage() for r in caplog.records)


def test_a_stampede_on_expired_tokens_refreshes_once_through_redis(
    redis_url: str, tmp_path: Path
) -> None:
    """Three event loops (threads), each its own Client, hit expired tokens together."""
    with running_sandbox(make_config()) as sandbox:
        settings = sandbox_settings(tmp_path, sandbox.url, redis_url=redis_url)
        _login(settings)
        sandbox.sandbox.clock.set(NOW + timedelta(days=8), 0.0)  # expired on the server
        world = sandbox.sandbox.world

        async def calls() -> int:
            async with Client(settings) as client:
                qc = [client.qianchuan.awemes(world.advertiser_id) for _ in range(10)]
                dd = [client.doudian.search_orders(0, 1, 0, 5) for _ in range(10)]
                return sum(1 for r in await asyncio.gather(*qc, *dd) if r is not None)

        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            done = list(pool.map(lambda _: run(calls()), range(3)))
        counts = stats(sandbox.url)
    assert done == [20, 20, 20]
    assert counts["refreshes"] == {"qianchuan": 1, "doudian": 1}
    assert counts["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}


def test_redis_held_tokens_are_secrets_and_never_shown(
    redis_url: str,
    server: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = sandbox_settings(tmp_path, server.url, redis_url=redis_url)
    _login(settings)

    async def tokens() -> list[str]:
        store = RedisTokens(settings)
        try:
            found = [await store.get(k) for k in ("qianchuan", "doudian")]
            texts = [repr(store), repr(found)]
            async with httpx.AsyncClient() as http:
                texts.append(repr(TokenManager(settings, http, "qianchuan", store=store)))
            return (
                [t.access_token for t in found if t]
                + [t.refresh_token for t in found if t]
                + ["\n".join(texts)]
            )
        finally:
            await store.aclose()

    *values, shown = run(tokens())
    assert len(values) == 4
    for value in values:
        assert value not in shown
    # the report scrub (livekit.credentials.secret_values) reads them from Redis itself
    monkeypatch.setenv("LIVEKIT_REDIS_URL", redis_url)
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "elsewhere"))
    assert set(values) <= secret_values()
    # and this process's logs mask the tokens it used
    from livekit.credentials import install_log_masking

    install_log_masking()
    import logging

    logging.getLogger("livekit.test").warning("leaked %s", values[0])
    assert values[0] not in caplog.records[-1].getMessage()
    assert "***" in caplog.records[-1].getMessage()
