"""Helpers shared by the API tests: sandbox settings, logging in, sandbox stats, request timing."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from livekit.api.auth import create_doudian_token, exchange_code
from livekit.api.runner import run
from livekit.config import Settings, load_settings
from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.server import RunningSandbox, running_sandbox


def sandbox_settings(home: Path, url: str, **changes: Any) -> Settings:
    """Settings for a sandbox at ``url``: private home, short retry waits, no client-side QPS cap."""
    base: dict[str, Any] = {
        "home": home,
        "retry_wait_initial": 0.01,
        "retry_wait_max": 0.2,
        "retry_attempts": 10,
        "http_timeout": 10.0,
        "qps": 1000.0,
    }
    base.update(changes)
    return load_settings(**base).for_sandbox(url)


def auth_code(settings: Settings, state: str = "test-state") -> str:
    """What a browser gets from the sandbox's consent page (it approves at once)."""
    r = httpx.get(
        settings.qianchuan_auth_url,
        params={
            "app_id": settings.qianchuan_app_id,
            "state": state,
            "redirect_uri": "http://127.0.0.1:1/callback",
        },
        timeout=10,
    )
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == [state]
    return query["auth_code"][0]


def login_both(settings: Settings) -> None:
    run(exchange_code(settings, auth_code(settings)))
    run(create_doudian_token(settings))


def stats(url: str) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(url + "/sandbox/stats", timeout=10).json()
    return out


@contextmanager
def logged_in(
    config: SandboxConfig, home: Path, **changes: Any
) -> Iterator[tuple[RunningSandbox, Settings]]:
    """A fresh sandbox with both platforms authorized in ``home``."""
    with running_sandbox(config) as server:
        settings = sandbox_settings(home, server.url, **changes)
        login_both(settings)
        yield server, settings


def max_in_window(times: list[float], window: float) -> int:
    """The largest number of events inside any half-open window [t, t + window)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))
