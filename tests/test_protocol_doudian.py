"""抖店 protocol over real HTTP on loopback: signing, envelope, tokens, order.searchList.

Expected values come from the sandbox's own world (``server.sandbox.world``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from livekit.sandbox.config import Faults
from livekit.sandbox.doudian import param_json, sign
from livekit.sandbox.server import RunningSandbox, running_sandbox
from livekit.sandbox.world import CHINA_TZ, World
from tests.helpers.sandbox import NOW, Doudian, make_config

NOW_TS = int(NOW.timestamp())
DAY_START = int(datetime(2026, 11, 26, tzinfo=CHINA_TZ).timestamp())
ENVELOPE = {"code", "msg", "sub_code", "sub_msg", "log_id", "data"}
TOKEN_KEYS = {
    "access_token",
    "expires_in",
    "refresh_token",
    "scope",
    "shop_id",
    "shop_name",
    "authority_id",
    "auth_subject_type",
}
SHOP_ORDER_KEYS = {
    "order_id",
    "shop_id",
    "shop_name",
    "order_status",
    "order_status_desc",
    "create_time",
    "pay_time",
    "update_time",
    "finish_time",
    "order_amount",
    "pay_amount",
    "post_amount",
    "promotion_amount",
    "b_type",
    "b_type_desc",
    "doudian_open_id",
    "cancel_reason",
    "post_addr",
    "sku_order_list",
    "main_status",
    "exp_ship_time",
    "ship_time",
    "logistics_info",
}
SKU_KEYS = {
    "order_id",
    "parent_order_id",
    "order_status",
    "order_status_desc",
    "create_time",
    "pay_time",
    "update_time",
    "product_id",
    "product_id_str",
    "product_name",
    "item_num",
    "origin_amount",
    "sum_amount",
    "order_amount",
    "pay_amount",
    "author_id",
    "author_name",
    "room_id",
    "room_id_str",
    "theme_type",
    "theme_type_desc",
    "after_sale_info",
    "main_status",
    "exp_ship_time",
    "ship_time",
    "logistics_receipt_time",
    "confirm_receipt_time",
    "finish_time",
    "post_addr",
}
INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def token(server: RunningSandbox) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as h:
        out: str = Doudian(h, server.sandbox.config).login()["access_token"]
    return out


@pytest.fixture(scope="module")
def world(server: RunningSandbox) -> World:
    w: World = server.sandbox.world
    return w


def search(dd: Doudian, token: str, **body: Any) -> dict[str, Any]:
    body.setdefault("create_time_start", DAY_START)
    body.setdefault("create_time_end", NOW_TS)
    body.setdefault("page", 0)
    body.setdefault("size", 100)
    return dd.call("order.searchList", body, token)


def ok(body: dict[str, Any]) -> Any:
    assert set(body) == ENVELOPE, body
    assert body["code"] == 10000, body
    assert body["msg"] == "success"
    assert body["sub_code"] == ""
    return body["data"]


def err(body: dict[str, Any], code: int, sub_code: str) -> None:
    assert set(body) == ENVELOPE, body
    assert body["code"] == code, body
    assert body["sub_code"] == sub_code, body
    assert body["data"] == {}
    assert body["sub_msg"]


def raw_post(
    http: httpx.Client,
    method: str,
    query: dict[str, str],
    content: bytes,
) -> dict[str, Any]:
    r = http.post("/" + method.replace(".", "/"), params=query, content=content)
    assert r.status_code == 200, r.text  # every error is HTTP 200 with a code in the body
    out: dict[str, Any] = r.json()
    return out


def signed_query(
    dd: Doudian,
    method: str,
    pj: str,
    *,
    secret: str | None = None,
    sign_method: str = "hmac-sha256",
) -> dict[str, str]:
    ts = str(int(time.time()))
    key = dd.config.doudian_app_key
    return {
        "app_key": key,
        "method": method,
        "timestamp": ts,
        "v": "2",
        "sign_method": sign_method,
        "sign": sign(key, secret or dd.config.doudian_app_secret, method, pj, ts, sign_method),
    }


# ---- tokens -----------------------------------------------------------------------------
def test_token_create(dd: Doudian, world: World) -> None:
    body = dd.call("token.create", {"code": "", "grant_type": "authorization_self"})
    data = ok(body)
    assert set(data) == TOKEN_KEYS
    assert re.fullmatch(r"[0-9a-f]{40}", data["access_token"])
    assert re.fullmatch(r"[0-9a-f]{40}", data["refresh_token"])
    assert data["access_token"] != data["refresh_token"]
    assert data["expires_in"] == 7 * 86400  # a duration here, in seconds
    assert data["shop_id"] == world.shop_id
    assert data["authority_id"] == str(world.shop_id)
    assert re.fullmatch(r"20261128210000[0-9A-F]{18}", body["log_id"])
    again = ok(dd.call("token.create", {"code": "", "grant_type": "authorization_self"}))
    assert again["access_token"] != data["access_token"]


@pytest.mark.parametrize(
    ("body", "sub_code"),
    [
        (
            {"code": "x", "grant_type": "authorization_code"},
            "dop.token-generate-failed:code-invalid",
        ),
        ({"code": ""}, "dop.token-generate-failed:grant-type-invalid"),
        ({"grant_type": "password"}, "dop.token-generate-failed:grant-type-invalid"),
    ],
)
def test_token_create_errors(dd: Doudian, body: dict[str, Any], sub_code: str) -> None:
    err(dd.call("token.create", body), 50001, sub_code)


def test_token_refresh_errors(dd: Doudian) -> None:
    unknown = {"grant_type": "refresh_token", "refresh_token": "0" * 40}
    err(dd.call("token.refresh", unknown), 50001, "dop.token-generate-failed:token-invalid")
    empty = {"grant_type": "refresh_token", "refresh_token": ""}
    err(dd.call("token.refresh", empty), 50001, "dop.token-generate-failed:token-invalid")
    pair = dd.login()
    wrong_grant = {"grant_type": "authorization_self", "refresh_token": pair["refresh_token"]}
    err(
        dd.call("token.refresh", wrong_grant), 50001, "dop.token-generate-failed:grant-type-invalid"
    )
    # an access token is not a refresh token
    swapped = {"grant_type": "refresh_token", "refresh_token": pair["access_token"]}
    err(dd.call("token.refresh", swapped), 50001, "dop.token-generate-failed:token-invalid")


def test_token_refresh_early_returns_same_pair(dd: Doudian) -> None:
    pair = dd.login()
    body = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    data = ok(dd.call("token.refresh", body))
    assert set(data) == TOKEN_KEYS
    assert data["access_token"] == pair["access_token"]
    assert data["refresh_token"] == pair["refresh_token"]
    assert data["expires_in"] == 7 * 86400  # frozen clock: nothing has elapsed


# ---- signing ----------------------------------------------------------------------------
def test_signature_rules(dd: Doudian, http: httpx.Client, token: str) -> None:
    body = {"create_time_start": DAY_START, "page": 0, "size": 1}
    err(dd.call("order.searchList", body, token, secret="wrong"), 40003, "isv.signature-invalid")
    # signed over one body, sent with another
    pj = param_json(body)
    q = {**signed_query(dd, "order.searchList", pj), "access_token": token}
    tampered = param_json({**body, "size": 2}).encode()
    err(raw_post(http, "order.searchList", q, tampered), 40003, "isv.signature-invalid")
    # keys in any order on the wire: the signature is over the canonical (sorted) form
    unsorted = b'{"size":1,"page":0,"create_time_start":%d}' % DAY_START
    assert ok(raw_post(http, "order.searchList", q, unsorted))["size"] == 1
    # signed over a non-canonical param_json (unsorted keys): rejected
    q_bad = {**signed_query(dd, "order.searchList", unsorted.decode()), "access_token": token}
    err(raw_post(http, "order.searchList", q_bad, unsorted), 40003, "isv.signature-invalid")
    # the legacy md5 signature is accepted
    q_md5 = {**signed_query(dd, "order.searchList", pj, sign_method="md5"), "access_token": token}
    assert ok(raw_post(http, "order.searchList", q_md5, pj.encode()))["size"] == 1
    # an hmac signature sent without sign_method is checked as md5 (the default): rejected
    q_nomethod = {k: v for k, v in q.items() if k != "sign_method"}
    err(raw_post(http, "order.searchList", q_nomethod, pj.encode()), 40003, "isv.signature-invalid")


def test_signature_keeps_non_ascii(dd: Doudian, http: httpx.Client) -> None:
    body = {"code": "", "grant_type": "authorization_self", "remark": "直播间"}
    pj = param_json(body)
    assert "直播间" in pj
    assert pj == '{"code":"","grant_type":"authorization_self","remark":"直播间"}'
    ok(raw_post(http, "token.create", signed_query(dd, "token.create", pj), pj.encode()))
    # signing the \\u-escaped form (json.dumps default) does not match
    escaped = json.dumps(body, sort_keys=True, separators=(",", ":"))
    q = signed_query(dd, "token.create", escaped)
    err(raw_post(http, "token.create", q, pj.encode()), 40003, "isv.signature-invalid")


def test_empty_param_json_is_braces(dd: Doudian, http: httpx.Client, token: str) -> None:
    assert param_json({}) == "{}"
    q = {**signed_query(dd, "order.searchList", "{}"), "access_token": token}
    # an empty body is read as {}: signature fine, then the missing page is reported
    err(raw_post(http, "order.searchList", q, b""), 40002, "isv.missing-parameter")


@pytest.mark.parametrize(
    ("change", "code", "sub_code"),
    [
        ({"app_key": ""}, 40001, "isv.app-id-missing"),
        ({"app_key": "123"}, 40003, "isv.app-id-invalid"),
        ({"sign": ""}, 40001, "isv.signature-missing"),
        ({"method": "order.orderDetail"}, 40003, "isv.parameter-format-invalid"),
        ({"v": "1"}, 40003, "isv.parameter-format-invalid"),
        ({"timestamp": "2026-11-28 21:00:00"}, 40003, "isv.timestamp-invalid"),
        ({"sign_method": "sha1"}, 40003, "isv.parameter-format-invalid"),
    ],
)
def test_bad_query(
    dd: Doudian, http: httpx.Client, token: str, change: dict[str, str], code: int, sub_code: str
) -> None:
    pj = param_json({"page": 0, "size": 1, "create_time_start": DAY_START})
    q = {**signed_query(dd, "order.searchList", pj), "access_token": token, **change}
    err(raw_post(http, "order.searchList", q, pj.encode()), code, sub_code)


def test_body_must_be_a_json_object(dd: Doudian, http: httpx.Client, token: str) -> None:
    for content in (b"page=0", b"[1,2]"):
        q = {**signed_query(dd, "order.searchList", content.decode()), "access_token": token}
        err(raw_post(http, "order.searchList", q, content), 40003, "isv.parameter-format-invalid")


# ---- access tokens ----------------------------------------------------------------------
def test_access_token_errors(dd: Doudian) -> None:
    body = {"create_time_start": DAY_START, "page": 0, "size": 1}
    err(dd.call("order.searchList", body), 40001, "isv.access-token-missing")
    err(dd.call("order.searchList", body, "f" * 40), 40003, "isv.access-token-no-existed")


# ---- order.searchList -------------------------------------------------------------------
def expected_orders(world: World, lo: int, hi: int) -> list[Any]:
    orders = [o for o in world.orders_between(lo, hi) if o.create_ts <= NOW_TS]
    return sorted(orders, key=lambda o: (o.create_ts, o.order_id), reverse=True)


def test_search_list_shape_and_fen(dd: Doudian, token: str, world: World) -> None:
    data = ok(search(dd, token))
    assert set(data) == {"page", "size", "total", "shop_order_list"}
    expected = expected_orders(world, DAY_START, NOW_TS)
    assert data["page"] == 0
    assert data["size"] == 100
    assert data["total"] == len(expected) > 200
    orders = data["shop_order_list"]
    assert [o["order_id"] for o in orders] == [o.order_id for o in expected[:100]]
    for o, truth in zip(orders, expected, strict=False):
        assert set(o) == SHOP_ORDER_KEYS
        assert isinstance(o["order_id"], str)
        assert o["order_id"].isdigit()
        assert o["shop_id"] == world.shop_id
        # money is integer fen, and the sku lines add up to the shop order exactly
        assert isinstance(o["pay_amount"], int)
        assert isinstance(o["order_amount"], int)
        assert o["pay_amount"] == truth.amount_fen
        assert sum(s["pay_amount"] for s in o["sku_order_list"]) == o["pay_amount"]
        assert sum(s["order_amount"] for s in o["sku_order_list"]) == o["order_amount"]
        assert o["create_time"] == truth.create_ts
        assert isinstance(o["create_time"], int)
        assert o["doudian_open_id"] == world.open_id(truth.buyer)
        assert o["doudian_open_id"].startswith("1@#")
        for sku in o["sku_order_list"]:
            assert set(sku) == SKU_KEYS
            assert isinstance(sku["pay_amount"], int)
            assert isinstance(sku["item_num"], int)
            assert sku["parent_order_id"] == o["order_id"]
            assert sku["theme_type"] == ("1" if sku["room_id"] else "0")
            assert sku["room_id_str"] == str(sku["room_id"])
            assert sku["product_id_str"] == str(sku["product_id"])
        paid = 0 < truth.pay_ts <= NOW_TS
        assert o["pay_time"] == (truth.pay_ts if paid else 0)
    statuses = {o["order_status"] for o in orders}
    assert 1 in statuses  # some orders still wait for payment at 21:00
    assert statuses & {2, 3, 5}
    assert any(s["theme_type"] == "1" for o in orders for s in o["sku_order_list"])


def test_search_list_big_ids_are_exact(http: httpx.Client, dd: Doudian, token: str) -> None:
    body = {"create_time_start": DAY_START, "create_time_end": NOW_TS, "page": 0, "size": 100}
    pj = param_json(body)
    q = {**signed_query(dd, "order.searchList", pj), "access_token": token}
    r = http.post("/order/searchList", params=q, content=pj.encode())
    shop_orders = r.json()["data"]["shop_order_list"]
    skus = [s for o in shop_orders for s in o["sku_order_list"]]
    # product ids appear in the sku lines and in the parcels' product_info
    parcels = [
        p["product_id"] for o in shop_orders for x in o["logistics_info"] for p in x["product_info"]
    ]
    raw_products = [int(d) for d in re.findall(r'"product_id":(\d+)', r.text)]
    raw_rooms = [int(d) for d in re.findall(r'"room_id":(\d+)', r.text)]
    assert sorted([s["product_id"] for s in skus] + parcels) == sorted(raw_products)
    assert [s["room_id"] for s in skus] == raw_rooms
    rooms = [rid for rid in raw_rooms if rid]
    assert rooms
    for big in raw_products + rooms:
        assert 2**53 < big <= INT64_MAX
        assert float(big) != big


def test_page_starts_at_zero(dd: Doudian, token: str, world: World) -> None:
    expected = [o.order_id for o in expected_orders(world, DAY_START, NOW_TS)]
    p0 = ok(search(dd, token, page=0))["shop_order_list"]
    p1 = ok(search(dd, token, page=1))["shop_order_list"]
    ids0 = [o["order_id"] for o in p0]
    ids1 = [o["order_id"] for o in p1]
    assert len(ids0) == len(ids1) == 100
    assert not set(ids0) & set(ids1)
    assert ids0 + ids1 == expected[:200]  # what one size-200 page would be
    # the same 200 orders in pages of 40
    small = [
        o["order_id"]
        for page in range(5)
        for o in ok(search(dd, token, page=page, size=40))["shop_order_list"]
    ]
    assert small == ids0 + ids1
    # the last page is short, the one after it empty
    last = len(expected) // 100
    tail = ok(search(dd, token, page=last))
    assert [o["order_id"] for o in tail["shop_order_list"]] == expected[last * 100 :]
    assert ok(search(dd, token, page=last + 1))["shop_order_list"] == []


def test_order_asc_and_update_time(dd: Doudian, token: str) -> None:
    window = {"create_time_start": NOW_TS - 3 * 3600, "create_time_end": NOW_TS}
    desc = ok(search(dd, token, **window))
    asc = ok(search(dd, token, order_asc=True, **window))
    assert 0 < desc["total"] <= 100
    assert [o["order_id"] for o in asc["shop_order_list"]] == [
        o["order_id"] for o in reversed(desc["shop_order_list"])
    ]
    times = [o["create_time"] for o in asc["shop_order_list"]]
    assert times == sorted(times)
    assert all(window["create_time_start"] <= t <= NOW_TS for t in times)
    upd = ok(
        dd.call(
            "order.searchList",
            {"update_time_start": NOW_TS - 3600, "order_by": "update_time", "page": 0, "size": 100},
            token,
        )
    )
    stamps = [o["update_time"] for o in upd["shop_order_list"]]
    assert stamps
    assert stamps == sorted(stamps, reverse=True)
    assert all(NOW_TS - 3600 <= t <= NOW_TS for t in stamps)


@pytest.mark.parametrize(
    ("change", "code", "sub_code"),
    [
        ({"size": 101}, 40004, "isv.parameter-format-invalid"),
        ({"size": 0}, 40004, "isv.parameter-format-invalid"),
        ({"page": -1}, 40004, "isv.parameter-format-invalid"),
        ({"page": "abc"}, 40004, "isv.parameter-format-invalid"),
        ({"page": "--1"}, 40004, "isv.parameter-format-invalid"),
        ({"page": "1.5"}, 40004, "isv.parameter-format-invalid"),
        ({"page": "²"}, 40004, "isv.parameter-format-invalid"),
        ({"page": 1.0}, 40004, "isv.parameter-format-invalid"),
        ({"page": True}, 40004, "isv.parameter-format-invalid"),
        ({"page": None}, 40002, "isv.missing-parameter"),
        ({"size": None}, 40002, "isv.missing-parameter"),
        ({"create_time_start": None}, 40002, "isv.missing-parameter"),
        ({"create_time_start": "yesterday"}, 40004, "isv.parameter-format-invalid"),
        ({"order_by": "pay_time"}, 40004, "isv.parameter-format-invalid"),
    ],
)
def test_search_list_bad_params(
    dd: Doudian, token: str, change: dict[str, Any], code: int, sub_code: str
) -> None:
    body: dict[str, Any] = {"create_time_start": DAY_START, "page": 0, "size": 10}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    err(dd.call("order.searchList", body, token), code, sub_code)


def test_search_list_limits_ok_at_edge(dd: Doudian, token: str) -> None:
    assert len(ok(search(dd, token, size=100))["shop_order_list"]) == 100
    assert ok(search(dd, token, page="1", size="1"))["page"] == 1  # digit strings are accepted


# ---- QPS --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def limited() -> Iterator[RunningSandbox]:
    with running_sandbox(make_config(faults=Faults(qps=2))) as running:
        yield running


def test_qps_limit_60000(limited: RunningSandbox) -> None:
    with httpx.Client(base_url=limited.url, timeout=30) as h:
        dd = Doudian(h, limited.sandbox.config)
        tok = dd.login()["access_token"]  # token calls are not rate limited
        body = {"create_time_start": NOW_TS - 600, "page": 0, "size": 1}
        bodies = [dd.call("order.searchList", body, tok) for _ in range(10)]
        codes = [b["code"] for b in bodies]
        assert codes[:2] == [10000, 10000]
        assert set(codes) == {10000, 60000}
        n = codes.count(60000)
        assert n >= 5
        for b in bodies:
            if b["code"] == 60000:
                err(b, 60000, "isv.rate-limit")
        stats = h.get("/sandbox/stats").json()
        assert stats["rate_limited"] == {"/order/searchList": n}
        assert stats["outcomes"]["doudian:60000"] == n


def test_unknown_method_is_answered_in_the_envelope(dd: Doudian) -> None:
    token = dd.login()["access_token"]
    body = dd.call("order.orderDetail", {"shop_order_id": "1"}, token)
    assert body["code"] == 70000
    assert body["sub_code"] == "isp.api-service-off"


@pytest.mark.parametrize("value", ["false", 1, None])
def test_order_asc_must_be_a_boolean(dd: Doudian, value: object) -> None:
    token = dd.login()["access_token"]
    body = dd.call(
        "order.searchList",
        {"page": 0, "size": 10, "create_time_start": 1795708800, "order_asc": value},
        token,
    )
    assert body["code"] == 40004
    assert "order_asc" in body["sub_msg"]
