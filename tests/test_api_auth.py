"""Login, the token file and secrecy, against the sandbox over loopback HTTP."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from livekit.api import Client
from livekit.api.auth import (
    DoudianTokens,
    QianchuanTokens,
    TokenFile,
    TokenManager,
    consent_url,
    create_doudian_token,
    doudian_tokens,
    exchange_code,
    login_qianchuan_loopback,
    needs_refresh,
    status,
)
from livekit.api.errors import LoginError, ReauthorizeRequired
from livekit.api.runner import run
from livekit.sandbox.server import RunningSandbox
from tests.helpers.api import auth_code, login_both, sandbox_settings, stats

TOKEN_PATH = "/open_api/oauth2/access_token/"


def secrets_of(settings: Any) -> list[str]:
    """Every token saved for ``settings`` plus the app secrets."""
    out = [
        settings.qianchuan_secret.get_secret_value(),
        settings.doudian_app_secret.get_secret_value(),
    ]
    tf = TokenFile(settings.tokens_path)
    for platform in ("qianchuan", "doudian"):
        tokens = tf.load(platform)
        if tokens is not None:
            out += [tokens.access_token, tokens.refresh_token]
    return out


# ---- login -------------------------------------------------------------------------------
def test_loopback_login(server: RunningSandbox, tmp_path: Path) -> None:
    s = sandbox_settings(tmp_path, server.url)
    pages: list[httpx.Response] = []

    def browser(url: str) -> None:
        """Play the browser: the sandbox approves and redirects to the loopback callback."""
        assert url.startswith(s.qianchuan_auth_url + "?")
        query = parse_qs(urlsplit(url).query)
        assert query["app_id"] == ["1800000000000001"]
        assert query["redirect_uri"][0].startswith("http://127.0.0.1:")
        assert query["redirect_uri"][0].endswith("/callback")
        assert len(query["state"][0]) >= 20
        pages.append(httpx.get(url, follow_redirects=True, timeout=10))

    tokens = login_qianchuan_loopback(s, open_browser=False, on_url=browser, timeout=20)
    assert pages[0].status_code == 200
    assert "授权成功" in pages[0].text
    assert tokens.access_token not in pages[0].text
    assert tokens.advertiser_ids == [server.sandbox.world.advertiser_id]
    assert TokenFile(s.tokens_path).load("qianchuan") == tokens
    server.sandbox.tokens.check_access(tokens.access_token, server.sandbox.now_ts())  # valid


def test_state_mismatch_is_refused_and_the_code_not_exchanged(
    server: RunningSandbox, tmp_path: Path
) -> None:
    s = sandbox_settings(tmp_path, server.url)
    codes: list[str] = []
    pages: list[httpx.Response] = []

    def forged_callback(url: str) -> None:
        consent = httpx.get(url, timeout=10)  # the sandbox's redirect, not followed
        parts = urlsplit(consent.headers["location"])
        code = parse_qs(parts.query)["auth_code"][0]
        codes.append(code)
        forged = urlunsplit(parts._replace(query=urlencode({"auth_code": code, "state": "x"})))
        pages.append(httpx.get(forged, timeout=10))

    exchanges_before = stats(server.url)["requests"].get(TOKEN_PATH, 0)
    with pytest.raises(LoginError, match="state"):
        login_qianchuan_loopback(s, open_browser=False, on_url=forged_callback, timeout=20)
    assert pages[0].status_code == 400
    assert "授权失败" in pages[0].text
    assert stats(server.url)["requests"].get(TOKEN_PATH, 0) == exchanges_before
    assert not s.tokens_path.exists()
    # The code was never used: it still works, once.
    tokens = run(exchange_code(s, codes[0]))
    assert tokens.advertiser_ids


def test_login_times_out_readably(server: RunningSandbox, tmp_path: Path) -> None:
    s = sandbox_settings(tmp_path, server.url)
    with pytest.raises(LoginError, match="超时"):
        login_qianchuan_loopback(s, open_browser=False, timeout=0.2)


def test_consent_url(server: RunningSandbox, tmp_path: Path) -> None:
    s = sandbox_settings(tmp_path, server.url)
    url = consent_url(s, "st", "http://127.0.0.1:9/callback", scope="report")
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "app_id": ["1800000000000001"],
        "state": ["st"],
        "redirect_uri": ["http://127.0.0.1:9/callback"],
        "scope": ["report"],
    }
    assert "secret" not in url


def test_exchange_with_a_used_code_asks_to_log_in_again(
    server: RunningSandbox, tmp_path: Path
) -> None:
    s = sandbox_settings(tmp_path, server.url)
    code = auth_code(s)
    run(exchange_code(s, code))
    with pytest.raises(ReauthorizeRequired) as info:
        run(exchange_code(s, code))
    assert info.value.code == 40110
    assert "livekit auth login qianchuan" in str(info.value)


def test_doudian_self_built_token(server: RunningSandbox, tmp_path: Path) -> None:
    s = sandbox_settings(tmp_path, server.url)
    before = time.time()
    tokens = run(create_doudian_token(s))
    world = server.sandbox.world
    assert tokens.shop_id == world.shop_id
    assert tokens.shop_name
    assert tokens.access_expires_at == pytest.approx(before + 7 * 86400, abs=5)
    assert tokens.refresh_expires_at == pytest.approx(before + 14 * 86400, abs=5)
    assert TokenFile(s.tokens_path).load("doudian") == tokens
    again = run(create_doudian_token(s, shop_id=world.shop_id))
    assert again.shop_id == world.shop_id


# ---- the token file ---------------------------------------------------------------------
def test_token_file_mode_and_atomic_writes(
    server: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = sandbox_settings(tmp_path, server.url)
    login_both(s)
    path = s.tokens_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.with_name("tokens.json.lock").stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["tokens.json", "tokens.json.lock"]
    data = json.loads(path.read_text())
    assert set(data) == {"qianchuan", "doudian"}

    # A loosened mode is fixed on the next write.
    os.chmod(path, 0o644)
    tf = TokenFile(path)
    qc = tf.load("qianchuan")
    assert qc is not None
    tf.save("qianchuan", qc)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # A write that fails midway leaves the old file intact and no temporary file behind.
    original = path.read_bytes()

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        tf.save("qianchuan", qc)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(p.name for p in path.parent.iterdir()) == ["tokens.json", "tokens.json.lock"]


def test_missing_or_broken_token_file_asks_to_log_in(
    server: RunningSandbox, tmp_path: Path
) -> None:
    s = sandbox_settings(tmp_path, server.url)

    async def call() -> Any:
        async with Client(s) as client:
            return await client.qianchuan.advertisers()

    with pytest.raises(ReauthorizeRequired) as info:
        run(call())
    assert "livekit auth login qianchuan" in str(info.value)
    s.tokens_path.parent.mkdir(parents=True, exist_ok=True)
    s.tokens_path.write_text("{not json")
    with pytest.raises(ReauthorizeRequired, match="损坏"):
        run(call())
    assert status(s)[0]["authorized"] is False
    # logging in again replaces the broken file
    login_both(s)
    assert run(call())


def test_tokens_never_in_reprs_errors_logs_or_status(
    server: RunningSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = sandbox_settings(tmp_path, server.url)
    login_both(s)
    world = server.sandbox.world
    texts: list[str] = []

    async def use() -> None:
        async with Client(s) as client:
            texts.extend([repr(client), str(client), repr(client.qianchuan), repr(client.doudian)])
            texts.extend([repr(client.qianchuan_tokens), repr(client.doudian_tokens)])
            await client.qianchuan.awemes(world.advertiser_id)
            await client.doudian.search_orders(0, int(time.time()), 0, 5)
            try:
                await client.qianchuan.awemes(world.advertiser_id + 1)
            except Exception as exc:
                texts.extend([str(exc), repr(exc)])
            try:
                await client.doudian.search_orders(0, 1, 0, 1000)
            except Exception as exc:
                texts.extend([str(exc), repr(exc)])

    with caplog.at_level(logging.DEBUG):
        run(use())
    tf = TokenFile(s.tokens_path)
    for tokens in (tf.load("qianchuan"), tf.load("doudian")):
        texts.extend([repr(tokens), str(tokens)])
    texts.append(json.dumps(status(s), ensure_ascii=False))
    texts.extend([repr(s), str(s), repr(tf)])
    texts.extend(r.getMessage() for r in caplog.records)
    assert any("HTTP Request" in t for t in texts)  # httpx did log the requests
    blob = "\n".join(texts)
    for secret in secrets_of(s):
        assert secret not in blob


def test_status(server: RunningSandbox, tmp_path: Path) -> None:
    s = sandbox_settings(tmp_path, server.url)
    rows = status(s)
    assert [(r["platform"], r["authorized"]) for r in rows] == [
        ("qianchuan", False),
        ("doudian", False),
    ]
    login_both(s)
    qc, dd = status(s)
    assert qc["authorized"] is True
    assert qc["advertiser_ids"] == [server.sandbox.world.advertiser_id]
    assert dd["shop_id"] == server.sandbox.world.shop_id
    assert dd["shop_name"]
    for row in (qc, dd):
        assert len(row["access_expires_at"]) == len("2026-11-28 21:00:00")
        assert row["refresh_expires_at"] > row["access_expires_at"]


# ---- token arithmetic ---------------------------------------------------------------------
def qc_tokens(obtained: float, lifetime: float) -> QianchuanTokens:
    return QianchuanTokens("a", "r", obtained + lifetime, obtained + 100 * lifetime, [1], obtained)


def test_proactive_refresh_threshold() -> None:
    five = qc_tokens(1000.0, 5.0)  # 20 % of 5 s: refresh in the last second
    assert not needs_refresh(five, 1003.9)
    assert needs_refresh(five, 1004.0)
    day = qc_tokens(0.0, 86400.0)  # capped at 300 s
    assert not needs_refresh(day, 86400 - 301)
    assert needs_refresh(day, 86400 - 300)


def test_doudian_expires_in_duration_or_timestamp() -> None:
    now = 1_795_000_000.0
    base = {"access_token": "a", "refresh_token": "r", "shop_id": 5, "shop_name": "店"}
    as_duration = doudian_tokens({**base, "expires_in": 604800}, now)
    as_timestamp = doudian_tokens({**base, "expires_in": int(now) + 3600}, now)
    assert as_duration.access_expires_at == now + 604800
    assert as_timestamp.access_expires_at == int(now) + 3600
    assert as_duration.refresh_expires_at == now + 14 * 86400
    # a refresh that returns the same refresh token keeps its expiry
    same = doudian_tokens({**base, "expires_in": 60}, now + 10, previous=as_duration)
    assert same.refresh_expires_at == as_duration.refresh_expires_at
    assert isinstance(same, DoudianTokens)


def test_token_manager_repr_and_missing_entry(tmp_path: Path, server: RunningSandbox) -> None:
    s = sandbox_settings(tmp_path, server.url)
    run(create_doudian_token(s))  # only 抖店 is authorized

    async def main() -> None:
        async with httpx.AsyncClient() as http:
            tm = TokenManager(s, http, "qianchuan")
            assert "qianchuan" in repr(tm)
            with pytest.raises(ReauthorizeRequired, match="livekit auth login qianchuan"):
                await tm.access_token()
            assert await TokenManager(s, http, "doudian").access_token()

    run(main())
