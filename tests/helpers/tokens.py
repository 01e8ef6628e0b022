"""Helpers of the token tests: a worker's environment, the sandbox's consent pages of an agency
(千川 advertisers ticked, a 抖店 shop's authorization code), its shops as a shops file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from livekit.config import Settings


def worker_env(settings: Settings, home: Path, **extra: str) -> dict[str, str]:
    """What a deployment sets on a worker for the sandbox ``settings`` point at: LIVEKIT_*
    names only, its own ``home``."""
    assert settings.qianchuan_secret is not None
    assert settings.doudian_app_secret is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(
        {
            "LIVEKIT_HOME": str(home),
            "LIVEKIT_QIANCHUAN_APP_ID": str(settings.qianchuan_app_id),
            "LIVEKIT_QIANCHUAN_SECRET": settings.qianchuan_secret.get_secret_value(),
            "LIVEKIT_QIANCHUAN_BASE_URL": settings.qianchuan_base_url,
            "LIVEKIT_QIANCHUAN_AUTH_URL": settings.qianchuan_auth_url,
            "LIVEKIT_DOUDIAN_APP_KEY": str(settings.doudian_app_key),
            "LIVEKIT_DOUDIAN_APP_SECRET": settings.doudian_app_secret.get_secret_value(),
            "LIVEKIT_DOUDIAN_BASE_URL": settings.doudian_base_url,
            "LIVEKIT_RETRY_WAIT_INITIAL": "0.01",
            "LIVEKIT_RETRY_WAIT_MAX": "0.2",
            "LIVEKIT_HTTP_TIMEOUT": "10",
            "PYTHONIOENCODING": "utf-8",
            "NO_COLOR": "1",
            "COLUMNS": "250",
        }
    )
    env.update(extra)
    return env


def consent_code(settings: Settings, advertiser_ids: list[int] | None = None) -> str:
    """The auth_code the 千川 consent page gives when the user ticks ``advertiser_ids``."""
    params: dict[str, Any] = {
        "app_id": settings.qianchuan_app_id,
        "state": "agency",
        "redirect_uri": "http://127.0.0.1:1/callback",
    }
    if advertiser_ids is not None:
        params["advertiser_ids"] = ",".join(str(a) for a in advertiser_ids)
    r = httpx.get(settings.qianchuan_auth_url, params=params, timeout=10)
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["auth_code"][0]


def doudian_code(settings: Settings, shop_id: int) -> str:
    """The code the sandbox's 抖店 authorization page brings back for shop ``shop_id``."""
    base = settings.doudian_base_url.rstrip("/")
    r = httpx.get(
        base + "/sandbox/doudian/authorize",
        params={
            "app_key": settings.doudian_app_key,
            "shop_id": shop_id,
            "state": "agency",
            "redirect_uri": "http://127.0.0.1:1/callback",
        },
        timeout=10,
    )
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == ["agency"]
    return query["code"][0]


def sandbox_shops(url: str) -> list[dict[str, Any]]:
    shops: list[dict[str, Any]] = httpx.get(url + "/sandbox/shops", timeout=10).json()["shops"]
    return shops


def shops_yaml(shops: list[dict[str, Any]]) -> str:
    """A shops file listing the sandbox's shops (ids s1 …, their advertisers and 抖店 shops)."""
    lines = ["shops:"]
    for shop in shops:
        lines += [
            f"  - id: {shop['id']}",
            f"    name: {shop['name']}",
            f"    qianchuan: {{advertiser_id: {shop['advertiser_id']}}}",
            f"    doudian: {{shop_id: {shop['shop_id']}}}",
        ]
    return "\n".join(lines) + "\n"
