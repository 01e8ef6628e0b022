"""The platform clients against the sandbox: signing, endpoints, pagination, typed errors,
retries under injected faults, and the client-side rate limit."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from livekit.api import Client
from livekit.api.auth import TokenFile
from livekit.api.doudian import build_request, param_json, sign
from livekit.api.errors import (
    BadParameter,
    ConfigError,
    PermissionDenied,
    ReauthorizeRequired,
)
from livekit.api.qianchuan import ROOM_PRODUCTS_PATH
from livekit.api.runner import run
from livekit.config import Settings
from livekit.sandbox.server import RunningSandbox
from tests.helpers.api import logged_in, sandbox_settings, stats
from tests.helpers.sandbox import TODAY, make_config

DAY0 = int(time.mktime(TODAY.timetuple()))  # any window works: the sandbox clips to now


@pytest.fixture(scope="module")
def authed(server: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings logged in to the module's frozen-clock sandbox (read-only use)."""
    from tests.helpers.api import login_both

    s = sandbox_settings(tmp_path_factory.mktemp("home"), server.url)
    login_both(s)
    return s


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[RunningSandbox, Settings]]:
    """A private sandbox for tests that change its state (faults, tokens)."""
    with logged_in(make_config(), tmp_path, retry_attempts=30) as pair:
        yield pair


# ---- 抖店 signing ---------------------------------------------------------------------------
def test_signature_follows_the_documented_formula() -> None:
    params = {"b": {"z": 1, "a": ["中文", {"y": True, "x": None}]}, "a": "é<&>", "page": 0}
    pj = param_json(params)
    assert pj == '{"a":"é<&>","b":{"a":["中文",{"x":null,"y":true}],"z":1},"page":0}'
    assert param_json({}) == "{}"
    key, secret, method, ts = "7000000000000000001", "s3cr3t", "order.searchList", "1795853732"
    text = (
        secret + "app_key" + key + "method" + method + "param_json" + pj
        + "timestamp" + ts + "v" + "2" + secret
    )  # fmt: skip
    expected = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    assert sign(key, secret, method, pj, ts) == expected
    assert expected == expected.lower()


def test_signed_request_shape(authed: Settings) -> None:
    async def build() -> httpx.Request:
        async with httpx.AsyncClient() as http:
            return build_request(http, authed, "order.searchList", {"page": 0}, "TOK", 1795853732)

    request = run(build())
    assert request.method == "POST"
    assert urlsplit(str(request.url)).path == "/order/searchList"
    query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
    assert authed.doudian_app_secret is not None
    secret = authed.doudian_app_secret.get_secret_value()
    assert query == {
        "app_key": "7000000000000000001",
        "method": "order.searchList",
        "timestamp": "1795853732",
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": sign("7000000000000000001", secret, "order.searchList", '{"page":0}', "1795853732"),
        "access_token": "TOK",
    }
    assert request.content == b'{"page":0}'


def test_sandbox_accepts_signed_nested_unicode_bodies(authed: Settings) -> None:
    async def main() -> dict[str, Any]:
        async with Client(authed) as client:
            return await client.doudian.call(
                "order.searchList",
                {
                    "page": 0,
                    "size": 3,
                    "create_time_start": DAY0 - 86400,
                    "create_time_end": DAY0,
                    "order_asc": True,
                    "备注": {"zeta": ["直播间", {"b": 2, "a": "é"}], "alpha": None},
                },
            )

    data = run(main())
    assert data["size"] == 3
    assert len(data["shop_order_list"]) == 3


def test_wrong_secret_is_reported_as_a_signing_problem(
    server: RunningSandbox, tmp_path: Path
) -> None:
    s = sandbox_settings(tmp_path, server.url).model_copy(
        update={"doudian_app_secret": __import__("pydantic").SecretStr("wrong-secret")}
    )
    from livekit.api.auth import create_doudian_token

    with pytest.raises(BadParameter) as info:
        run(create_doudian_token(s))
    assert info.value.sub_code == "isv.signature-invalid"
    assert "LIVEKIT_DOUDIAN_APP_SECRET" in str(info.value)
    assert "签名" in str(info.value)
    assert "wrong-secret" not in str(info.value)


# ---- endpoints and pagination --------------------------------------------------------------
def test_qianchuan_endpoints(authed: Settings, server: RunningSandbox) -> None:
    world = server.sandbox.world

    async def main() -> dict[str, Any]:
        async with Client(authed) as client:
            qc = client.qianchuan
            out: dict[str, Any] = {"advertisers": await qc.advertisers()}
            adv = out["advertisers"][0]["advertiser_id"]
            out["awemes"] = await qc.awemes(adv)
            aweme = out["awemes"][0]["aweme_id"]
            out["rooms"] = await qc.rooms(adv, aweme, TODAY, ["stat_cost", "total_live_watch_cnt"])
            room = out["rooms"][0]["room_id"]
            out["detail"] = await qc.room_detail(adv, room)
            fields = ["live_product_Inventory", "live_product_price"]
            out["products"] = await qc.room_products(adv, room, fields)
            params = {"advertiser_id": adv, "room_id": room, "fields": fields}
            out["products_by_5"] = await qc.pages(ROOM_PRODUCTS_PATH, params, "list", 5)
            out["flow"] = await qc.room_flow(adv, room)
            out["audience"] = await qc.room_audience(adv, room, "ENTER")
            out["live"] = await qc.live_report(adv, aweme, TODAY, TODAY, ["stat_cost"])
            out["report"] = await qc.advertiser_report(
                adv, date(2026, 11, 1), date(2026, 11, 27), ["stat_cost", "pay_order_amount"]
            )
            out["analysis"] = await qc.room_analysis(
                adv,
                date(2026, 11, 20),
                date(2026, 11, 27),
                ["all_live_watch_cnt_td"],
                aweme_ids=[a["aweme_id"] for a in out["awemes"]],
            )
            ids = [r["room_id"] for r in out["analysis"]]
            out["analysis_by_room"] = await qc.room_analysis(
                adv, date(2026, 11, 20), date(2026, 11, 27), ["all_live_watch_cnt_td"], room_ids=ids
            )
            return out

    out = run(main())
    assert out["advertisers"][0]["advertiser_id"] == world.advertiser_id
    assert [a["aweme_id"] for a in out["awemes"]] == [a.aweme_id for a in world.accounts]
    acc = world.accounts[0]
    expected_rooms = {s.room_id for s in world.account_sessions(acc, TODAY)}
    assert {r["room_id"] for r in out["rooms"]} <= expected_rooms  # 19-digit ids, exact
    assert all(r["room_id"] > 2**53 for r in out["rooms"])
    assert set(out["rooms"][0]) >= {"room_id", "stat_cost", "total_live_watch_cnt"}
    assert out["detail"]["room_id"] == out["rooms"][0]["room_id"]
    assert len(out["products"]) > 5
    assert out["products_by_5"] == out["products"]  # three pages, in order
    assert "live_product_Inventory" in out["products"][0]
    assert set(out["audience"]) == {"city", "gender", "age"}
    assert sum(v for v in out["flow"].values() if isinstance(v, int)) > 0
    assert "stat_cost" in out["live"]
    assert [r["stat_datetime"][:10] for r in out["report"]] == [
        date(2026, 11, d).isoformat() for d in range(1, 28)
    ]
    assert len(out["analysis"]) > 0
    assert sorted(r["room_id"] for r in out["analysis_by_room"]) == sorted(
        r["room_id"] for r in out["analysis"]
    )


def test_doudian_order_pages(authed: Settings) -> None:
    async def main() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with Client(authed) as client:
            start, end = DAY0 - 3 * 86400, DAY0
            orders = await client.doudian.order_pages(start, end)
            first = await client.doudian.search_orders(start, end, 0, 1)
            return orders, first

    orders, first = run(main())
    assert first["total"] > 100  # more than one page of 100
    assert len(orders) == first["total"]
    assert len({o["order_id"] for o in orders}) == len(orders)
    times = [o["create_time"] for o in orders]
    assert times == sorted(times)
    assert isinstance(orders[0]["pay_amount"], int)  # fen


# ---- typed errors --------------------------------------------------------------------------
def test_error_types(authed: Settings, server: RunningSandbox) -> None:
    world = server.sandbox.world
    errors: dict[str, Exception] = {}

    async def main() -> None:
        async with Client(authed) as client:
            qc, dd = client.qianchuan, client.doudian
            calls = {
                "40001": qc.rooms(world.advertiser_id, world.accounts[0].aweme_id, TODAY, ["nope"]),
                "40002": qc.awemes(world.advertiser_id + 1),
                "dd_size": dd.search_orders(DAY0 - 86400, DAY0, 0, 500),
                "dd_missing": dd.call("order.searchList", {"page": 0, "size": 10}),
            }
            for name, coro in calls.items():
                try:
                    await coro
                except Exception as exc:
                    errors[name] = exc

    run(main())
    e = errors["40001"]
    assert isinstance(e, BadParameter)
    assert (e.platform, e.code, e.endpoint) == (
        "qianchuan",
        40001,
        "v1.0/qianchuan/today_live/room/get/",
    )
    assert e.request_id
    assert str(e).startswith("巨量千川接口 v1.0/qianchuan/today_live/room/get/ 返回错误 40001：")
    assert "nope" in str(e)
    assert f"request_id {e.request_id}" in str(e)
    assert isinstance(errors["40002"], PermissionDenied)
    assert errors["40002"].code == 40002
    dd_size = errors["dd_size"]
    assert isinstance(dd_size, BadParameter)
    assert (dd_size.code, dd_size.sub_code) == (40004, "isv.parameter-format-invalid")
    assert str(dd_size).startswith("抖店接口 order.searchList 返回错误 40004")
    assert "log_id" in str(dd_size)
    assert isinstance(errors["dd_missing"], BadParameter)
    assert errors["dd_missing"].code == 40002


def test_missing_doudian_config_fails_only_when_doudian_is_used(
    authed: Settings, server: RunningSandbox
) -> None:
    s = authed.model_copy(update={"doudian_app_key": None, "doudian_app_secret": None})

    async def main() -> None:
        async with Client(s) as client:
            assert await client.qianchuan.advertisers()
            with pytest.raises(ConfigError) as info:
                _ = client.doudian
            assert "LIVEKIT_DOUDIAN_APP_KEY" in str(info.value)
            assert "LIVEKIT_DOUDIAN_APP_SECRET" in str(info.value)

    run(main())


# ---- faults and retries --------------------------------------------------------------------
async def _many(
    settings: Settings, world: Any, n_qc: int, n_dd: int, sequential: bool = False
) -> list[Any]:
    async with Client(settings) as client:
        adv, aweme = world.advertiser_id, world.accounts[0].aweme_id

        def qc_call() -> Any:
            return client.qianchuan.rooms(adv, aweme, TODAY, ["stat_cost"])

        def dd_call() -> Any:
            return client.doudian.search_orders(DAY0 - 86400, DAY0, 0, 20)

        factories = [qc_call] * n_qc + [dd_call] * n_dd
        if sequential:
            return [await f() for f in factories]
        return await asyncio.gather(*(f() for f in factories))


def test_mixed_faults_are_retried_until_everything_succeeds(
    fresh: tuple[RunningSandbox, Settings],
) -> None:
    server, s = fresh
    clean = run(_many(s, server.sandbox.world, 1, 1))
    server.sandbox.set_faults(rate=0.5, kinds=("5xx", "rate_limit", "truncated"), seed=1)
    results = run(_many(s, server.sandbox.world, 40, 40))
    faults = stats(server.url)["faults_injected"]
    assert set(faults) == {"5xx", "rate_limit", "truncated"}
    assert sum(faults.values()) >= 40
    assert results[:40] == [clean[0]] * 40  # the same answer as without faults
    assert all(r["shop_order_list"] == clean[1]["shop_order_list"] for r in results[40:])


def test_slow_responses_time_out_and_are_retried(fresh: tuple[RunningSandbox, Settings]) -> None:
    server, s = fresh
    s = s.model_copy(update={"http_timeout": 0.3})
    server.sandbox.set_faults(rate=0.5, kinds=("slow",), slow_seconds=0.6, seed=3)
    results = run(_many(s, server.sandbox.world, 3, 3, sequential=True))
    assert len(results) == 6
    assert stats(server.url)["faults_injected"].get("slow", 0) >= 1


def test_revoked_access_tokens_are_refreshed(fresh: tuple[RunningSandbox, Settings]) -> None:
    server, s = fresh
    sb = server.sandbox
    tf = TokenFile(s.tokens_path)
    qc0, dd0 = tf.load("qianchuan"), tf.load("doudian")
    assert qc0 is not None
    assert dd0 is not None
    sb.tokens.revoke(qc0.access_token)
    sb.tokens.revoke(dd0.access_token)
    run(_many(s, sb.world, 1, 1))
    qc1, dd1 = tf.load("qianchuan"), tf.load("doudian")
    assert qc1 is not None
    assert dd1 is not None
    assert qc1.access_token != qc0.access_token
    assert dd1.access_token != dd0.access_token
    # injected revocations, mixed with other requests, sequentially (deterministic)
    sb.set_faults(rate=0.25, kinds=("revoke",), seed=5)
    assert len(run(_many(s, sb.world, 6, 6, sequential=True))) == 12
    sb.set_faults(rate=0.0)
    after = stats(server.url)
    assert after["faults_injected"]["revoke"] >= 2
    assert after["refreshes"]["qianchuan"] + after["refreshes"]["doudian"] >= 4
    assert after["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}


def test_dead_refresh_tokens_ask_to_log_in_again(fresh: tuple[RunningSandbox, Settings]) -> None:
    server, s = fresh
    sb = server.sandbox
    tf = TokenFile(s.tokens_path)
    qc, dd = tf.load("qianchuan"), tf.load("doudian")
    assert qc is not None
    assert dd is not None
    app_qc, app_dd = str(sb.config.qianchuan_app_id), sb.config.doudian_app_key
    # Someone else uses the refresh tokens behind our back, then the access tokens die.
    sb.tokens.revoke(qc.access_token)
    sb.tokens.revoke(dd.access_token)
    sb.tokens.qc_refresh(app_qc, qc.refresh_token, sb.now_ts())
    sb.tokens.dd_refresh(app_dd, dd.refresh_token, sb.now_ts())

    async def one(platform: str) -> Any:
        async with Client(s) as client:
            if platform == "qianchuan":
                return await client.qianchuan.advertisers()
            return await client.doudian.search_orders(DAY0 - 86400, DAY0, 0, 5)

    with pytest.raises(ReauthorizeRequired) as info:
        run(one("qianchuan"))
    assert info.value.code == 40107
    assert "livekit auth login qianchuan" in str(info.value)
    with pytest.raises(ReauthorizeRequired) as info:
        run(one("doudian"))
    assert info.value.sub_code.startswith("dop.token-generate-failed")
    assert "livekit auth login doudian" in str(info.value)


def test_client_rate_limit_keeps_the_server_happy(tmp_path: Path) -> None:
    with logged_in(make_config(), tmp_path, qps=20.0) as (server, s):
        server.sandbox.set_faults(qps=20)
        server.sandbox.reset_stats()
        start = time.monotonic()
        results = run(_many(s, server.sandbox.world, 100, 100))
        elapsed = time.monotonic() - start
        limited = sum(server.sandbox.stats.rate_limited.values())
        requests = sum(server.sandbox.stats.requests.values())
    assert len(results) == 200
    assert limited <= 2, (limited, requests)
    assert requests <= 200 + limited
    assert elapsed >= 4.0  # 100 per upstream at 20/s: the limiter did hold back


def test_without_the_limiter_the_server_would_have_limited(tmp_path: Path) -> None:
    """The check above can fail: the same burst with a loose client limit gets 40100s."""
    with logged_in(make_config(), tmp_path, qps=1000.0, retry_attempts=30) as (server, s):
        server.sandbox.set_faults(qps=20)
        server.sandbox.reset_stats()
        results = run(_many(s, server.sandbox.world, 40, 0))
        limited = sum(server.sandbox.stats.rate_limited.values())
    assert len(results) == 40  # still all succeed, thanks to retries
    assert limited > 0


def test_big_ids_survive_json(authed: Settings, server: RunningSandbox) -> None:
    async def main() -> Any:
        async with Client(authed) as client:
            return await client.doudian.search_orders(DAY0 - 86400, DAY0, 0, 5)

    data = run(main())
    line = data["shop_order_list"][0]["sku_order_list"][0]
    if line["room_id"]:
        assert str(line["room_id"]) == line["room_id_str"]
    assert str(line["product_id"]) == line["product_id_str"]
    assert json.loads(json.dumps(line))["product_id"] == line["product_id"]


def test_tokens_rejected_on_every_attempt_end_in_reauthorization(tmp_path: Path) -> None:
    with logged_in(make_config(), tmp_path, retry_attempts=3) as (server, s):
        server.sandbox.set_faults(rate=1.0, kinds=("revoke",))
        with pytest.raises(ReauthorizeRequired) as info:
            run(_many(s, server.sandbox.world, 1, 0))
        counts = stats(server.url)
    assert info.value.code == 40105
    assert "刷新后的令牌仍被拒绝" in str(info.value)
    assert "livekit auth login qianchuan" in str(info.value)
    assert counts["refreshes"]["qianchuan"] == 5  # 1 in the first attempt, 2 in each later one
    assert counts["dead_refresh_token_uses"]["qianchuan"] == 0
