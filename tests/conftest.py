"""Shared fixtures: a real sandbox server on loopback, and plain-httpx helpers for both protocols."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import settings

from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.doudian import signed_request
from livekit.sandbox.server import RunningSandbox, running_sandbox
from livekit.sandbox.world import CHINA_TZ


# make test runs pytest in parallel workers (pytest-xdist, whole files per worker). Each worker
# gets a home of its own: two sandboxes authorizing into one token file would take each other's
# tokens, and the report fixtures sync and render into their home's folders.
# A hook, not module code: child processes of the tests import this module too (for NOW and
# make_config) and must keep the LIVEKIT_HOME their test gave them.
def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get("LIVEKIT_HOME"):
        os.environ["LIVEKIT_HOME"] = f"{os.environ['LIVEKIT_HOME']}-{worker}"


# Property tests (tests/test_properties.py) are reproducible: the same examples on every run, no
# example database. HYPOTHESIS_PROFILE=explore searches further (random, more examples).
settings.register_profile("livekit", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=2000, database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "livekit"))

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 21, 0, 0, tzinfo=CHINA_TZ)  # the evening show is on air


def make_config(**changes: Any) -> SandboxConfig:
    base = {"seed": 7, "today": TODAY, "now": NOW, "speed": 0.0, "scale": 0.3}
    base.update(changes)
    return SandboxConfig(**base)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    """A frozen-clock sandbox served over real HTTP on 127.0.0.1 (one per test module)."""
    with running_sandbox(make_config()) as running:
        yield running


@pytest.fixture
def http(server: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


class Qianchuan:
    """Plain-httpx calls against the sandbox's 巨量千川 side."""

    def __init__(self, http: httpx.Client, config: SandboxConfig) -> None:
        self.http = http
        self.config = config

    def auth_code(self, state: str = "s1") -> str:
        r = self.http.get(
            "/openapi/qc/audit/oauth.html",
            params={
                "app_id": self.config.qianchuan_app_id,
                "state": state,
                "redirect_uri": "http://127.0.0.1:1/callback",
            },
        )
        assert r.status_code == 302, r.text
        q = parse_qs(urlsplit(r.headers["location"]).query)
        assert q["state"] == [state]
        return q["auth_code"][0]

    def exchange(self, code: str) -> dict[str, Any]:
        body = {
            "app_id": self.config.qianchuan_app_id,
            "secret": self.config.qianchuan_secret,
            "auth_code": code,
        }
        out: dict[str, Any] = self.http.post("/open_api/oauth2/access_token/", json=body).json()
        return out

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        body = {
            "app_id": self.config.qianchuan_app_id,
            "secret": self.config.qianchuan_secret,
            "refresh_token": refresh_token,
        }
        out: dict[str, Any] = self.http.post("/open_api/oauth2/refresh_token/", json=body).json()
        return out

    def login(self) -> dict[str, Any]:
        body = self.exchange(self.auth_code())
        assert body["code"] == 0, body
        data: dict[str, Any] = body["data"]
        return data

    def get(self, path: str, token: str | None, **params: Any) -> dict[str, Any]:
        headers = {"Access-Token": token} if token is not None else {}
        r = self.http.get("/open_api/" + path.lstrip("/"), params=params, headers=headers)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


class Doudian:
    """Signed calls against the sandbox's 抖店 side."""

    def __init__(self, http: httpx.Client, config: SandboxConfig) -> None:
        self.http = http
        self.config = config

    def call(
        self,
        method: str,
        body: dict[str, Any],
        token: str | None = None,
        *,
        secret: str | None = None,
        timestamp: str | None = None,
    ) -> dict[str, Any]:
        path, query, content = signed_request(
            self.config.doudian_app_key,
            secret or self.config.doudian_app_secret,
            method,
            body,
            token,
            timestamp,
        )
        r = self.http.post(path, params=query, content=content)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def login(self) -> dict[str, Any]:
        body = self.call("token.create", {"code": "", "grant_type": "authorization_self"})
        assert body["code"] == 10000, body
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
def qc(http: httpx.Client, server: RunningSandbox) -> Qianchuan:
    return Qianchuan(http, server.sandbox.config)


@pytest.fixture
def dd(http: httpx.Client, server: RunningSandbox) -> Doudian:
    return Doudian(http, server.sandbox.config)
