"""Token refresh under concurrency: tasks, threads and processes sharing one token file.

A 巨量千川 refresh kills the old refresh token at once, and the sandbox counts every use of a
dead one (``dead_refresh_token_uses``): two refreshes racing each other show up there.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from livekit.api import Client
from livekit.api.runner import run
from livekit.config import Settings
from livekit.sandbox.config import TokenLifetimes
from livekit.sandbox.server import RunningSandbox
from tests.helpers.api import logged_in, stats
from tests.helpers.sandbox import NOW, TODAY, make_config

DAY0 = int(time.mktime(TODAY.timetuple()))
REPO = Path(__file__).resolve().parent.parent


async def requests(
    settings: Settings,
    world: Any,
    n: int,
    spread: float = 0.0,
    ready: threading.Barrier | None = None,
) -> int:
    """``n`` 巨量千川 and ``n`` 抖店 requests, started ``spread / n`` seconds apart; successes."""
    async with Client(settings) as client:
        client.qianchuan_tokens.current()  # load (and cache) the saved tokens before the start
        client.doudian_tokens.current()
        if ready is not None:
            await asyncio.to_thread(ready.wait, 30)
        adv = world.advertiser_id

        async def qc(i: int) -> Any:
            await asyncio.sleep(i * spread / n)
            return await client.qianchuan.awemes(adv)

        async def dd(i: int) -> Any:
            await asyncio.sleep(i * spread / n)
            return await client.doudian.search_orders(DAY0 - 86400, DAY0, 0, 5)

        results = await asyncio.gather(*(qc(i) for i in range(n)), *(dd(i) for i in range(n)))
        return sum(1 for r in results if r)


def in_thread(target: Any, out: list[Any]) -> threading.Thread:
    def body() -> None:
        try:
            out.append(target())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def test_many_requests_across_expiry_in_tasks_and_threads(tmp_path: Path) -> None:
    """Tokens living 2 s, requests over 3.2 s: 50 tasks here plus two threads with their own
    Client and event loop, all on the same token file."""
    lifetimes = TokenLifetimes(qianchuan_access=2, doudian_access=2, doudian_grace=1)
    with logged_in(make_config(speed=1.0, lifetimes=lifetimes), tmp_path) as (server, s):
        world = server.sandbox.world
        out: list[Any] = []
        threads = [
            in_thread(lambda: run(requests(s, world, 25, spread=3.2)), out) for _ in range(2)
        ]
        here = run(requests(s, world, 50, spread=3.2))
        for t in threads:
            t.join(60)
        counts = stats(server.url)
    assert here == 100
    assert out == [50, 50]
    assert counts["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}
    for platform in ("qianchuan", "doudian"):
        assert 1 <= counts["refreshes"][platform] <= 4, counts["refreshes"]


def jump_past_expiry(server: RunningSandbox) -> None:
    """Expire both access tokens on the server while the client still thinks them valid."""
    server.sandbox.clock.set(NOW + timedelta(days=8), 0.0)


def test_stampede_on_an_expired_token_refreshes_once(tmp_path: Path) -> None:
    """Three threads × 40 tasks hit the expired tokens at the same moment: one refresh each."""
    with logged_in(make_config(), tmp_path) as (server, s):
        jump_past_expiry(server)
        world = server.sandbox.world
        ready = threading.Barrier(3)
        out: list[Any] = []
        threads = [
            in_thread(lambda: run(requests(s, world, 20, ready=ready)), out) for _ in range(3)
        ]
        for t in threads:
            t.join(60)
        counts = stats(server.url)
    assert out == [40, 40, 40]
    assert counts["refreshes"] == {"qianchuan": 1, "doudian": 1}
    assert counts["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}


CHILD = """
import asyncio, json, sys, time
from pathlib import Path
from livekit.api import Client, run
from livekit.config import load_settings

url, home, index, adv = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
day0 = int(sys.argv[5])
s = load_settings(home=home, retry_wait_initial=0.01, retry_wait_max=0.2, qps=1000).for_sandbox(url)

async def main():
    async with Client(s) as client:
        client.qianchuan_tokens.current()
        client.doudian_tokens.current()
        (home / f"ready-{index}").touch()
        deadline = time.monotonic() + 60
        while not (home / "go").exists():
            assert time.monotonic() < deadline, "no go signal"
            await asyncio.sleep(0.01)
        calls = [client.qianchuan.awemes(adv) for _ in range(20)]
        calls += [client.doudian.search_orders(day0 - 86400, day0, 0, 5) for _ in range(20)]
        results = await asyncio.gather(*calls)
        print(json.dumps({"ok": sum(1 for r in results if r)}))

run(main())
"""


def test_two_processes_share_the_token_file(tmp_path: Path) -> None:
    with logged_in(make_config(), tmp_path) as (server, s):
        jump_past_expiry(server)
        adv = str(server.sandbox.world.advertiser_id)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, server.url, str(tmp_path), str(i), adv, str(DAY0)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline, "children did not start"
            assert all(c.poll() is None for c in children), [c.communicate() for c in children]
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outputs = [c.communicate(timeout=60) for c in children]
        counts = stats(server.url)
    for child, (stdout, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr
        assert json.loads(stdout.strip().splitlines()[-1]) == {"ok": 40}
    assert counts["refreshes"] == {"qianchuan": 1, "doudian": 1}
    assert counts["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}
    assert s.tokens_path.exists()
