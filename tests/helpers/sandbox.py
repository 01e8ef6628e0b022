"""The tests' frozen sandbox (seed 7, a fixed day and evening) and plain-httpx protocol callers.

Child processes of the tests import this module too (for ``NOW`` and ``make_config``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.doudian import signed_request
from livekit.sandbox.world import CHINA_TZ

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 21, 0, 0, tzinfo=CHINA_TZ)  # the evening show is on air


def make_config(**changes: Any) -> SandboxConfig:
    base = {"seed": 7, "today": TODAY, "now": NOW, "speed": 0.0, "scale": 0.3}
    base.update(changes)
    return SandboxConfig(**base)


class Qianchuan:
    """Plain-httpx calls against the sandbox's 巨量千川 side."""

    def __init__(self, http: httpx.Client, config: SandboxConfig) -> None:
        self.http = http
        self.config = config

    def auth_code(self, state: str = "s1", advertiser_ids: list[int] | None = None) -> str:
        params: dict[str, Any] = {
            "app_id": self.config.qianchuan_app_id,
            "state": state,
            "redirect_uri": "http://127.0.0.1:1/callback",
        }
        if advertiser_ids is not None:  # the sandbox-only "advertisers ticked" (several shops)
            params["advertiser_ids"] = ",".join(str(a) for a in advertiser_ids)
        r = self.http.get("/openapi/qc/audit/oauth.html", params=params)
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

    def login(self, advertiser_ids: list[int] | None = None) -> dict[str, Any]:
        body = self.exchange(self.auth_code(advertiser_ids=advertiser_ids))
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

    def login(self, shop_id: int | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"code": "", "grant_type": "authorization_self"}
        if shop_id is not None:
            request["shop_id"] = shop_id
        body = self.call("token.create", request)
        assert body["code"] == 10000, body
        data: dict[str, Any] = body["data"]
        return data

    def authorize(self, shop_id: int | None, state: str = "st") -> str:
        """A code from the sandbox-only authorization page of shop ``shop_id``."""
        params: dict[str, Any] = {
            "app_key": self.config.doudian_app_key,
            "state": state,
            "redirect_uri": "http://127.0.0.1:1/cb?keep=1",
        }
        if shop_id is not None:
            params["shop_id"] = shop_id
        r = self.http.get("/sandbox/doudian/authorize", params=params)
        assert r.status_code == 302, r.text
        q = parse_qs(urlsplit(r.headers["location"]).query)
        assert q["state"] == [state]
        assert q["keep"] == ["1"]
        return q["code"][0]
