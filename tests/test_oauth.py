"""OAuth rules of both platforms over real HTTP: consent, single-use codes, refresh rotation,
lifetimes (with the sandbox clock moved through ``POST /sandbox/clock``) and dead-token counters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from livekit.sandbox.config import TokenLifetimes
from livekit.sandbox.server import RunningSandbox, running_sandbox
from tests.helpers.sandbox import NOW, Doudian, Qianchuan, make_config

CONSENT = "/openapi/qc/audit/oauth.html"
ACCOUNTS = "/open_api/oauth2/advertiser/get/"
AWEME_AUTH = "v1.0/qianchuan/aweme/authorized/get/"
NOW_TS = int(NOW.timestamp())
LIFETIMES = TokenLifetimes(
    auth_code=600.0,
    qianchuan_access=3600.0,
    qianchuan_refresh=4 * 3600.0,
    doudian_access=3 * 3600.0,
    doudian_refresh=6 * 3600.0,
    doudian_grace=3600.0,
)


def stats(http: httpx.Client) -> dict[str, Any]:
    out: dict[str, Any] = http.get("/sandbox/stats").json()
    return out


# ---- 巨量千川 consent -------------------------------------------------------------------
def consent(http: httpx.Client, **params: Any) -> httpx.Response:
    return http.get(CONSENT, params=params)


def test_consent_redirects_with_code_and_state(http: httpx.Client, qc: Qianchuan) -> None:
    state = "a b&c=d/é?#"
    r = consent(
        http,
        app_id=qc.config.qianchuan_app_id,
        state=state,
        redirect_uri="http://127.0.0.1:8765/callback?shop=7&tag=a+b",
        scope="[1,2]",
    )
    assert r.status_code == 302
    loc = urlsplit(r.headers["location"])
    assert (loc.scheme, loc.netloc, loc.path) == ("http", "127.0.0.1:8765", "/callback")
    pairs = parse_qsl(loc.query)
    assert [k for k, _ in pairs] == ["shop", "tag", "auth_code", "state"]
    q = dict(pairs)
    assert q["shop"] == "7"  # the redirect_uri's own query is kept
    assert q["tag"] == "a b"
    assert q["state"] == state  # the same state, exactly
    assert re.fullmatch(r"[0-9a-f]{32}", q["auth_code"])
    # each consent issues a new code; a missing state comes back empty
    r2 = consent(
        http, app_id=qc.config.qianchuan_app_id, redirect_uri="http://127.0.0.1:9/callback"
    )
    assert r2.status_code == 302
    q2 = parse_qs(urlsplit(r2.headers["location"]).query, keep_blank_values=True)
    assert q2["state"] == [""]
    assert q2["auth_code"] != [q["auth_code"]]


@pytest.mark.parametrize(
    "params",
    [
        {"app_id": "1", "redirect_uri": "http://127.0.0.1:9/cb"},
        {"redirect_uri": "http://127.0.0.1:9/cb"},
        {"app_id": "APP", "redirect_uri": "ftp://127.0.0.1/cb"},
        {"app_id": "APP"},
    ],
)
def test_consent_rejects_with_a_400_page(
    http: httpx.Client, qc: Qianchuan, params: dict[str, str]
) -> None:
    if params.get("app_id") == "APP":
        params = {**params, "app_id": str(qc.config.qianchuan_app_id)}
    r = consent(http, state="s", **params)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert "授权失败" in r.text
    word = "app_id" if params.get("app_id") != str(qc.config.qianchuan_app_id) else "redirect_uri"
    assert word in r.text


# The default registration is the loopback http://127.0.0.1/callback: any port, that path only.
@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/callback",
        "http://attacker.example/callback",
        "http://127.0.0.1.attacker.example/callback",
        "http://127.0.0.1:8765/other",
        "https://127.0.0.1:8765/callback",
        "http://[::1]:8765/callback",
        "http://127.0.0.1:99999/callback",
    ],
)
def test_consent_gives_no_code_to_a_foreign_redirect_uri(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan, redirect_uri: str
) -> None:
    codes = dict(server.sandbox.tokens.codes)
    r = consent(http, app_id=qc.config.qianchuan_app_id, state="s", redirect_uri=redirect_uri)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "授权失败" in r.text
    assert "登记的回调地址" in r.text
    assert "auth_code" not in r.text
    assert server.sandbox.tokens.codes == codes  # no code was even issued


def test_consent_redirects_only_to_the_registered_uri() -> None:
    registered = "https://merchant.example/cb/"
    with (
        running_sandbox(make_config(qianchuan_redirect_uri=registered)) as sandbox,
        httpx.Client(base_url=sandbox.url, timeout=30) as http,
    ):
        app_id = sandbox.sandbox.config.qianchuan_app_id
        r = consent(http, app_id=app_id, state="s", redirect_uri=registered + "?shop=7")
        assert r.status_code == 302
        loc = urlsplit(r.headers["location"])
        assert (loc.scheme, loc.netloc, loc.path) == ("https", "merchant.example", "/cb/")
        assert "auth_code" in parse_qs(loc.query)
        # not a loopback registration: the port is part of it, and loopback is foreign here
        for foreign in (
            "https://merchant.example:8443/cb/",
            "http://merchant.example/cb/",
            "http://127.0.0.1:8765/callback",
        ):
            r = consent(http, app_id=app_id, state="s", redirect_uri=foreign)
            assert r.status_code == 400, foreign
            assert "location" not in r.headers


# ---- 巨量千川 code exchange -------------------------------------------------------------
def test_code_exchange(qc: Qianchuan, server: RunningSandbox, http: httpx.Client) -> None:
    body = qc.exchange(qc.auth_code())
    assert body["code"] == 0
    assert body["message"] == "OK"
    data = body["data"]
    assert set(data) == {
        "access_token",
        "refresh_token",
        "expires_in",
        "refresh_token_expires_in",
        "advertiser_ids",
    }
    assert data["expires_in"] == 86400
    assert data["refresh_token_expires_in"] == 30 * 86400
    assert data["advertiser_ids"] == [server.sandbox.world.advertiser_id]
    assert data["access_token"] != data["refresh_token"]
    # the token works, in the header or (on advertiser/get) in the query
    r = http.get(ACCOUNTS, params={"access_token": data["access_token"]})
    accounts = r.json()
    assert accounts["code"] == 0
    (acc,) = accounts["data"]["list"]
    assert acc["advertiser_id"] == server.sandbox.world.advertiser_id
    assert {"advertiser_id", "advertiser_name", "advertiser_role", "is_valid"} <= set(acc)
    assert acc["is_valid"] is True
    via_header = http.get(ACCOUNTS, headers={"Access-Token": data["access_token"]}).json()
    assert via_header["data"] == accounts["data"]


def test_advertiser_get_token_errors(http: httpx.Client) -> None:
    assert http.get(ACCOUNTS).json()["code"] == 40104
    assert http.get(ACCOUNTS, params={"access_token": ""}).json()["code"] == 40104
    assert http.get(ACCOUNTS, params={"access_token": "nope"}).json()["code"] == 40105


def test_code_is_single_use(qc: Qianchuan) -> None:
    code = qc.auth_code()
    first = qc.exchange(code)
    assert first["code"] == 0
    second = qc.exchange(code)
    assert second["code"] == 40110
    assert "used" in second["message"]
    assert second["data"] == {}
    third = qc.exchange(code)
    assert third["code"] == 40110


def test_unknown_code_and_bad_requests(qc: Qianchuan, http: httpx.Client) -> None:
    unknown = qc.exchange("0" * 32)
    assert unknown["code"] == 40110
    assert "invalid" in unknown["message"]
    cfg = qc.config
    base = {"app_id": cfg.qianchuan_app_id, "secret": cfg.qianchuan_secret}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base}, "auth_code"),
        ({**base, "auth_code": ""}, "auth_code"),
        ({**base, "auth_code": qc.auth_code(), "secret": "wrong"}, "secret"),
        ({**base, "auth_code": qc.auth_code(), "app_id": 1}, "app_id"),
        ({"secret": cfg.qianchuan_secret, "auth_code": qc.auth_code()}, "app_id"),
    ]
    for body, word in cases:
        r = http.post("/open_api/oauth2/access_token/", json=body)
        assert r.status_code == 200
        out = r.json()
        assert out["code"] == 40001, (body, out)
        assert word in out["message"]
    for raw in (b"app_id=1", b"[]"):
        r = http.post("/open_api/oauth2/access_token/", content=raw)
        assert r.json()["code"] == 40001
    # grant_type may be sent; app_id may be a string
    body = {**base, "app_id": str(cfg.qianchuan_app_id), "auth_code": qc.auth_code()}
    r = http.post("/open_api/oauth2/access_token/", json={**body, "grant_type": "auth_code"})
    assert r.json()["code"] == 0


# ---- 巨量千川 refresh rotation -----------------------------------------------------------
def test_refresh_rotates_and_old_refresh_dies(
    qc: Qianchuan, http: httpx.Client, server: RunningSandbox
) -> None:
    adv = server.sandbox.world.advertiser_id
    first = qc.login()
    before = stats(http)
    body = qc.refresh(first["refresh_token"])
    assert body["code"] == 0
    second = body["data"]
    assert set(second) == {
        "access_token",
        "refresh_token",
        "expires_in",
        "refresh_token_expires_in",
    }
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["expires_in"] == 86400
    assert second["refresh_token_expires_in"] == 30 * 86400
    assert qc.get(AWEME_AUTH, second["access_token"], advertiser_id=adv)["code"] == 0
    # the old refresh token is dead at once: reuse is 40107 and counted
    reuse = qc.refresh(first["refresh_token"])
    assert reuse["code"] == 40107
    assert reuse["data"] == {}
    again = qc.refresh(first["refresh_token"])
    assert again["code"] == 40107
    after = stats(http)
    dead = after["dead_refresh_token_uses"]
    assert dead["qianchuan"] == before["dead_refresh_token_uses"]["qianchuan"] + 2
    assert dead["doudian"] == before["dead_refresh_token_uses"]["doudian"]
    assert after["refreshes"]["qianchuan"] == before["refreshes"]["qianchuan"] + 1
    # the new refresh token works (once)
    third = qc.refresh(second["refresh_token"])
    assert third["code"] == 0
    assert third["data"]["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert qc.refresh(second["refresh_token"])["code"] == 40107


def test_refresh_errors_that_are_not_dead_uses(qc: Qianchuan, http: httpx.Client) -> None:
    before = stats(http)["dead_refresh_token_uses"]["qianchuan"]
    unknown = qc.refresh("f" * 40)
    assert unknown["code"] == 40107
    pair = qc.login()
    # an access token is not a refresh token
    assert qc.refresh(pair["access_token"])["code"] == 40107
    cfg = qc.config
    wrong = http.post(
        "/open_api/oauth2/refresh_token/",
        json={
            "app_id": cfg.qianchuan_app_id,
            "secret": "x",
            "refresh_token": pair["refresh_token"],
        },
    ).json()
    assert wrong["code"] == 40001
    missing = http.post(
        "/open_api/oauth2/refresh_token/",
        json={"app_id": cfg.qianchuan_app_id, "secret": cfg.qianchuan_secret},
    ).json()
    assert missing["code"] == 40001
    assert "refresh_token" in missing["message"]
    assert stats(http)["dead_refresh_token_uses"]["qianchuan"] == before
    # none of these consumed the good refresh token
    assert qc.refresh(pair["refresh_token"])["code"] == 0


# ---- lifetimes, on a second server whose clock we move -----------------------------------
@pytest.fixture(scope="module")
def clocked() -> Iterator[RunningSandbox]:
    with running_sandbox(make_config(lifetimes=LIFETIMES)) as running:
        yield running


@pytest.fixture
def ch(clocked: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=clocked.url, timeout=30) as h:
        set_clock(h, "2026-11-28 21:00:00")
        yield h


def set_clock(h: httpx.Client, now: str) -> None:
    r = h.post("/sandbox/clock", json={"now": now, "speed": 0.0})
    assert r.status_code == 200, r.text
    assert r.json() == {"now": now, "speed": 0.0}


def test_auth_code_expires_after_ten_minutes(ch: httpx.Client, clocked: RunningSandbox) -> None:
    qc = Qianchuan(ch, clocked.sandbox.config)
    early, late = qc.auth_code(), qc.auth_code()
    set_clock(ch, "2026-11-28 21:09:59")
    assert qc.exchange(early)["code"] == 0
    set_clock(ch, "2026-11-28 21:10:00")
    body = qc.exchange(late)
    assert body["code"] == 40110
    assert "expired" in body["message"]


def test_qianchuan_access_token_expires_40102(ch: httpx.Client, clocked: RunningSandbox) -> None:
    qc = Qianchuan(ch, clocked.sandbox.config)
    adv = clocked.sandbox.world.advertiser_id
    pair = qc.login()
    assert pair["expires_in"] == 3600
    assert pair["refresh_token_expires_in"] == 4 * 3600
    set_clock(ch, "2026-11-28 21:59:59")
    assert qc.get(AWEME_AUTH, pair["access_token"], advertiser_id=adv)["code"] == 0
    set_clock(ch, "2026-11-28 22:00:00")
    expired = qc.get(AWEME_AUTH, pair["access_token"], advertiser_id=adv)
    assert expired["code"] == 40102
    assert expired["data"] == {}
    assert ch.get(ACCOUNTS, params={"access_token": pair["access_token"]}).json()["code"] == 40102
    # refresh once, retry: works
    fresh = qc.refresh(pair["refresh_token"])
    assert fresh["code"] == 0
    assert qc.get(AWEME_AUTH, fresh["data"]["access_token"], advertiser_id=adv)["code"] == 0


def test_qianchuan_refresh_token_expires_40103(ch: httpx.Client, clocked: RunningSandbox) -> None:
    qc = Qianchuan(ch, clocked.sandbox.config)
    a, b = qc.login(), qc.login()
    set_clock(ch, "2026-11-29 00:59:59")
    assert qc.refresh(a["refresh_token"])["code"] == 0
    set_clock(ch, "2026-11-29 01:00:00")
    body = qc.refresh(b["refresh_token"])
    assert body["code"] == 40103
    assert "expired" in body["message"]


# ---- 抖店 tokens ------------------------------------------------------------------------
def orders(dd: Doudian, token: str) -> dict[str, Any]:
    body = {"create_time_start": NOW_TS - 3600, "page": 0, "size": 1}
    return dd.call("order.searchList", body, token)


def refresh(dd: Doudian, token: str) -> dict[str, Any]:
    return dd.call("token.refresh", {"grant_type": "refresh_token", "refresh_token": token})


def test_doudian_access_token_expires(ch: httpx.Client, clocked: RunningSandbox) -> None:
    dd = Doudian(ch, clocked.sandbox.config)
    pair = dd.login()
    assert pair["expires_in"] == 3 * 3600
    set_clock(ch, "2026-11-28 23:59:59")
    assert orders(dd, pair["access_token"])["code"] == 10000
    set_clock(ch, "2026-11-29 00:00:00")
    body = orders(dd, pair["access_token"])
    assert body["code"] == 40003
    assert body["sub_code"] == "isv.access-token-expired"
    # refreshed after expiry: a new pair, and the old refresh token dies at once
    new = refresh(dd, pair["refresh_token"])
    assert new["code"] == 10000
    assert new["data"]["access_token"] != pair["access_token"]
    assert orders(dd, new["data"]["access_token"])["code"] == 10000
    dead = refresh(dd, pair["refresh_token"])
    assert dead["code"] == 50001
    assert dead["sub_code"] == "dop.token-generate-failed:token-invalid"


def test_doudian_refresh_grace_rules(ch: httpx.Client, clocked: RunningSandbox) -> None:
    dd = Doudian(ch, clocked.sandbox.config)
    a = dd.login()  # 21:00: access until 00:00, refresh until 03:00
    before = stats(ch)

    # more than an hour before expiry: the same tokens, with less time left
    set_clock(ch, "2026-11-28 22:00:00")
    same = refresh(dd, a["refresh_token"])
    assert same["code"] == 10000
    assert same["data"]["access_token"] == a["access_token"]
    assert same["data"]["refresh_token"] == a["refresh_token"]
    assert same["data"]["expires_in"] == 2 * 3600
    set_clock(ch, "2026-11-28 22:59:59")
    assert refresh(dd, a["refresh_token"])["data"]["access_token"] == a["access_token"]

    # within the last hour: a new pair; the old pair lives one more hour
    set_clock(ch, "2026-11-28 23:30:00")
    rotated = refresh(dd, a["refresh_token"])
    assert rotated["code"] == 10000
    b = rotated["data"]
    assert b["access_token"] != a["access_token"]
    assert b["refresh_token"] != a["refresh_token"]
    assert b["expires_in"] == 3 * 3600
    assert orders(dd, a["access_token"])["code"] == 10000
    assert orders(dd, b["access_token"])["code"] == 10000
    set_clock(ch, "2026-11-29 00:29:59")
    assert orders(dd, a["access_token"])["code"] == 10000  # past its own 00:00 expiry
    again = refresh(dd, a["refresh_token"])  # the old refresh token still answers: pair B
    assert again["code"] == 10000
    assert (again["data"]["access_token"], again["data"]["refresh_token"]) == (
        b["access_token"],
        b["refresh_token"],
    )
    mid = stats(ch)
    assert mid["refreshes"]["doudian"] == before["refreshes"]["doudian"] + 1

    # then the old pair is dead
    set_clock(ch, "2026-11-29 00:30:00")
    expired = orders(dd, a["access_token"])
    assert expired["code"] == 40003
    assert expired["sub_code"] == "isv.access-token-expired"
    dead = refresh(dd, a["refresh_token"])
    assert dead["code"] == 50001
    assert dead["sub_code"] == "dop.token-generate-failed:token-invalid"
    after = stats(ch)
    assert (
        after["dead_refresh_token_uses"]["doudian"]
        == before["dead_refresh_token_uses"]["doudian"] + 1
    )
    assert (
        after["dead_refresh_token_uses"]["qianchuan"]
        == (before["dead_refresh_token_uses"]["qianchuan"])
    )
    # the new pair is unaffected
    assert orders(dd, b["access_token"])["code"] == 10000
    same_b = refresh(dd, b["refresh_token"])
    assert same_b["data"]["refresh_token"] == b["refresh_token"]


def test_doudian_refresh_token_expires(ch: httpx.Client, clocked: RunningSandbox) -> None:
    dd = Doudian(ch, clocked.sandbox.config)
    pair = dd.login()
    set_clock(ch, "2026-11-29 03:00:00")
    body = refresh(dd, pair["refresh_token"])
    assert body["code"] == 50001
    assert body["sub_code"] == "dop.token-generate-failed:token-expired"
