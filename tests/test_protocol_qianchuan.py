"""巨量千川 protocol over real HTTP on loopback: every endpoint, its quirks, limits and errors.

Expected values come from the sandbox's own world (``server.sandbox.world``) so that shapes
*and* numbers are checked, not just "no exception".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from livekit.sandbox import aggregates as agg
from livekit.sandbox.config import Faults
from livekit.sandbox.server import RunningSandbox, running_sandbox
from livekit.sandbox.world import Session, World, fmt_time
from tests.helpers.sandbox import NOW, TODAY, Qianchuan, make_config

AWEME_AUTH = "v1.0/qianchuan/aweme/authorized/get/"
ROOM_GET = "v1.0/qianchuan/today_live/room/get/"
ROOM_DETAIL = "v1.0/qianchuan/today_live/room/detail/get/"
ROOM_FLOW = "v1.0/qianchuan/today_live/room/flow_performance/get/"
ROOM_USER = "v1.0/qianchuan/today_live/room/user/get/"
ROOM_PRODUCTS = "v1.0/qianchuan/today_live/room/product_list/get/"
REPORT_LIVE = "v1.0/qianchuan/report/live/get/"
REPORT_ADV = "v1.0/qianchuan/report/advertiser/get/"
ANALYSIS = "v3.0/report/live_room/analysis/get/"

ROOM_HEAD = {
    "room_id",
    "room_title",
    "room_cover",
    "room_status",
    "start_time",
    "end_time",
    "aweme_id",
    "aweme_name",
    "aweme_avatar",
    "room_delivery",
}
PRODUCT_HEAD = {"productId", "title", "img_url", "explain_status"}
ANALYSIS_HEAD = {
    "room_id",
    "room_title",
    "room_cover",
    "room_status",
    "room_create_time",
    "room_finish_time",
    "anchor_id",
    "anchor_nick",
    "anchor_avatar",
    "fields",
}
NOW_TS = NOW.timestamp()
INT64_MAX = 2**63 - 1


def fields(*names: str) -> str:
    return json.dumps(list(names))


@pytest.fixture(scope="module")
def token(server: RunningSandbox) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as h:
        data = Qianchuan(h, server.sandbox.config).login()
    out: str = data["access_token"]
    return out


@pytest.fixture(scope="module")
def world(server: RunningSandbox) -> World:
    w: World = server.sandbox.world
    return w


@pytest.fixture(scope="module")
def today_rooms(world: World) -> list[Session]:
    """The main account's rooms of the frozen day that have started by 21:00."""
    return [s for s in world.account_sessions(world.accounts[0], TODAY) if s.start_ts <= NOW_TS]


@pytest.fixture
def call(qc: Qianchuan, token: str, world: World) -> Any:
    """GET a data endpoint as the authorized advertiser; returns the whole envelope."""

    def go(path: str, **params: Any) -> dict[str, Any]:
        params.setdefault("advertiser_id", world.advertiser_id)
        return qc.get(path, token, **params)

    return go


def ok(body: dict[str, Any]) -> Any:
    assert body["code"] == 0, body
    return body["data"]


def err(body: dict[str, Any], code: int, *words: str) -> None:
    assert body["code"] == code, body
    assert body["data"] == {}
    for w in words:
        assert w in body["message"], body


# ---- envelope ---------------------------------------------------------------------------
def test_success_envelope_shape(call: Any, world: World) -> None:
    body = call(AWEME_AUTH)
    assert set(body) == {"code", "message", "request_id", "data"}
    assert body["code"] == 0
    assert body["message"] == "OK"
    # request ids start with the (frozen) sandbox time and are unique per request
    assert re.fullmatch(r"20261128210000[0-9A-F]{18}", body["request_id"])
    assert call(AWEME_AUTH)["request_id"] != body["request_id"]


@pytest.mark.parametrize(
    ("path", "params", "code", "word"),
    [
        (AWEME_AUTH, {"advertiser_id": ""}, 40001, "advertiser_id"),
        (AWEME_AUTH, {"advertiser_id": "abc"}, 40001, "advertiser_id"),
        (AWEME_AUTH, {"advertiser_id": 1}, 40002, "1"),
        (ROOM_GET, {"aweme_id": 42, "date_time": "2026-11-28", "fields": "[]"}, 40002, "42"),
        (ROOM_DETAIL, {"room_id": 12345}, 40001, "12345"),
        (ROOM_DETAIL, {}, 40001, "room_id"),
    ],
)
def test_errors_are_http_200_with_code(
    http: httpx.Client,
    token: str,
    world: World,
    path: str,
    params: dict[str, Any],
    code: int,
    word: str,
) -> None:
    q = {"advertiser_id": world.advertiser_id, **params}
    r = http.get("/open_api/" + path, params=q, headers={"Access-Token": token})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"code", "message", "request_id", "data"}
    err(body, code, word)


@pytest.mark.parametrize(
    "path", [AWEME_AUTH, ROOM_GET, ROOM_DETAIL, ROOM_FLOW, ROOM_USER, ROOM_PRODUCTS, REPORT_LIVE]
)
def test_access_token_errors_on_every_data_endpoint(qc: Qianchuan, world: World, path: str) -> None:
    err(qc.get(path, None, advertiser_id=world.advertiser_id), 40104)
    err(qc.get(path, "", advertiser_id=world.advertiser_id), 40104)
    err(qc.get(path, "not-a-token", advertiser_id=world.advertiser_id), 40105)


def test_access_token_errors_on_reports(qc: Qianchuan, world: World) -> None:
    for path in (REPORT_ADV, ANALYSIS):
        err(qc.get(path, None, advertiser_id=world.advertiser_id), 40104)
        err(qc.get(path, "deadbeef" * 5, advertiser_id=world.advertiser_id), 40105)


# ---- aweme/authorized -------------------------------------------------------------------
def test_aweme_authorized(call: Any, world: World) -> None:
    data = ok(call(AWEME_AUTH))
    assert [a["aweme_id"] for a in data["aweme_id_list"]] == [a.aweme_id for a in world.accounts]
    assert [a["aweme_name"] for a in data["aweme_id_list"]] == [
        a.aweme_name for a in world.accounts
    ]
    assert set(data["aweme_id_list"][0]) == {
        "aweme_id",
        "aweme_show_id",
        "aweme_name",
        "aweme_avatar",
        "aweme_status",
        "bind_type",
        "aweme_has_live_permission",
        "aweme_has_video_permission",
    }
    # total_number here, not total_num
    assert data["page_info"] == {"page": 1, "page_size": 10, "total_number": 2, "total_page": 1}
    one = ok(call(AWEME_AUTH, page=2, page_size=1))
    assert [a["aweme_id"] for a in one["aweme_id_list"]] == [world.accounts[1].aweme_id]
    assert one["page_info"] == {"page": 2, "page_size": 1, "total_number": 2, "total_page": 2}


# ---- today_live/room/get ----------------------------------------------------------------
def room_get(call: Any, world: World, **params: Any) -> dict[str, Any]:
    params.setdefault("aweme_id", world.accounts[0].aweme_id)
    params.setdefault("date_time", TODAY.isoformat())
    params.setdefault("fields", fields("stat_cost"))
    out: dict[str, Any] = call(ROOM_GET, **params)
    return out


def test_room_get_shape_and_values(call: Any, world: World, today_rooms: list[Session]) -> None:
    wanted = ("stat_cost", "total_live_watch_cnt", "live_pay_order_gmv_alias")
    data = ok(room_get(call, world, fields=fields(*wanted)))
    assert set(data) == {"room_list", "page_info"}
    # total_num on today_live endpoints, not total_number
    assert data["page_info"] == {"page": 1, "page_size": 20, "total_num": 3, "total_page": 1}
    assert [r["room_id"] for r in data["room_list"]] == [s.room_id for s in today_rooms]
    for row, s in zip(data["room_list"], today_rooms, strict=True):
        assert set(row) == ROOM_HEAD | set(wanted)
        assert row["room_title"] == s.title
        assert row["start_time"] == fmt_time(s.start_ts)
        assert row["aweme_id"] == world.accounts[0].aweme_id
        assert row["room_cover"] == list(s.cover)
        assert isinstance(row["room_cover"], list)
        assert len(row["room_cover"]) == 2
        assert row["aweme_avatar"] == list(world.accounts[0].avatar)
        assert isinstance(row["aweme_avatar"], list)
        m = agg.room_metrics(world, s, NOW_TS)
        for f in wanted:
            assert row[f] == m[f]
        assert isinstance(row["stat_cost"], float)
        assert isinstance(row["total_live_watch_cnt"], int)


@pytest.mark.parametrize(
    "wanted",
    [
        (),
        ("ctr",),
        ("live_watch_one_minute_count", "live_pay_order_gmv_roi"),
        agg.ROOM_METRICS,
    ],
)
def test_room_get_returns_only_requested_fields(
    call: Any, world: World, wanted: tuple[str, ...]
) -> None:
    data = ok(room_get(call, world, fields=fields(*wanted)))
    assert data["room_list"]
    for row in data["room_list"]:
        assert set(row) == ROOM_HEAD | set(wanted)


def test_room_get_duplicate_fields_collapse(call: Any, world: World) -> None:
    data = ok(room_get(call, world, fields=fields("ctr", "ctr")))
    assert set(data["room_list"][0]) == ROOM_HEAD | {"ctr"}


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("stat_cost", "JSON"),  # not JSON-encoded
        ("stat_cost,ctr", "JSON"),
        ('["stat_cost",', "JSON"),
        ('"stat_cost"', "fields"),  # JSON, but not an array
        ("[1, 2]", "fields"),
        ('["stat_cost","no_such_metric"]', "no_such_metric"),
        ('["productId"]', "productId"),
        ("", "fields"),  # missing
    ],
)
def test_room_get_bad_fields(call: Any, world: World, value: str, word: str) -> None:
    err(room_get(call, world, fields=value), 40001, word)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("date_time", "2026/11/28"),
        ("date_time", "20261128"),
        ("date_time", "2026-W48-6"),  # an ISO week date: date.fromisoformat would take it
        ("date_time", "2026-1-028"),
        ("date_time", "2026-11-31"),
        ("date_time", "2026-11-28 00:00:00"),
        ("date_time", ""),
        ("aweme_id", ""),
        ("room_status", "ENDED"),
        ("page", "0"),
        ("page_size", "0"),
        ("page_size", "101"),
        ("page", "x"),
    ],
)
def test_room_get_bad_params(call: Any, world: World, name: str, value: str) -> None:
    err(room_get(call, world, **{name: value}), 40001, name)


def test_live_status_at_21(call: Any, world: World, today_rooms: list[Session]) -> None:
    rows = ok(room_get(call, world))["room_list"]
    assert [r["room_status"] for r in rows] == ["FINISH", "FINISH", "LIVING"]
    evening = rows[-1]
    assert evening["start_time"].startswith("2026-11-28 19:")
    assert evening["end_time"] == ""
    assert evening["room_delivery"] == 1
    for r, s in zip(rows[:-1], today_rooms, strict=False):
        assert r["end_time"] == fmt_time(s.end_ts)
        assert r["end_time"] < "2026-11-28 21:00:00"
        assert r["room_delivery"] == 0
    living = ok(room_get(call, world, room_status="LIVING"))
    assert [r["room_id"] for r in living["room_list"]] == [evening["room_id"]]
    assert living["page_info"]["total_num"] == 1
    finished = ok(room_get(call, world, room_status="FINISH"))
    assert [r["room_id"] for r in finished["room_list"]] == [r["room_id"] for r in rows[:2]]
    assert finished["page_info"]["total_num"] == 2
    # the second account has no show on this day
    assert world.account_sessions(world.accounts[1], TODAY) == []
    late = ok(room_get(call, world, aweme_id=world.accounts[1].aweme_id))
    assert late == {
        "room_list": [],
        "page_info": {"page": 1, "page_size": 20, "total_num": 0, "total_page": 0},
    }


def test_room_get_earlier_day_all_finished(call: Any, world: World) -> None:
    day = TODAY - timedelta(days=1)
    expected = world.account_sessions(world.accounts[0], day)
    rows = ok(room_get(call, world, date_time=day.isoformat()))["room_list"]
    assert [r["room_id"] for r in rows] == [s.room_id for s in expected]
    assert rows
    assert {r["room_status"] for r in rows} == {"FINISH"}
    assert all(r["end_time"] != "" for r in rows)


def test_room_get_pagination_walk(call: Any, world: World, today_rooms: list[Session]) -> None:
    seen = []
    for page in range(1, 4):
        data = ok(room_get(call, world, page=page, page_size=1))
        assert data["page_info"] == {"page": page, "page_size": 1, "total_num": 3, "total_page": 3}
        assert len(data["room_list"]) == 1
        seen.append(data["room_list"][0]["room_id"])
    assert seen == [s.room_id for s in today_rooms]
    assert len(set(seen)) == 3
    beyond = ok(room_get(call, world, page=4, page_size=1))
    assert beyond["room_list"] == []
    two = ok(room_get(call, world, page=2, page_size=2))
    assert [r["room_id"] for r in two["room_list"]] == seen[2:]
    assert two["page_info"]["total_page"] == 2


def test_live_page_size_limit(call: Any, world: World, today_rooms: list[Session]) -> None:
    room = today_rooms[0].room_id
    assert ok(room_get(call, world, page_size=100))["page_info"]["page_size"] == 100
    err(room_get(call, world, page_size=101), 40001, "page_size", "100")
    err(call(AWEME_AUTH, page_size=101), 40001, "page_size")
    err(call(ROOM_PRODUCTS, room_id=room, fields="[]", page_size=101), 40001, "page_size")
    assert (
        ok(call(ROOM_PRODUCTS, room_id=room, fields="[]", page_size=100))["page_info"]["page_size"]
        == 100
    )


# ---- big ids ----------------------------------------------------------------------------
def big_ints(text: str, key: str) -> list[int]:
    return [int(d) for d in re.findall(rf'"{key}":(\d+)', text)]


def test_room_ids_beyond_2_pow_53_are_exact(
    http: httpx.Client, token: str, world: World, today_rooms: list[Session]
) -> None:
    r = http.get(
        "/open_api/" + ROOM_GET,
        params={
            "advertiser_id": world.advertiser_id,
            "aweme_id": world.accounts[0].aweme_id,
            "date_time": TODAY.isoformat(),
            "fields": "[]",
        },
        headers={"Access-Token": token},
    )
    raw = big_ints(r.text, "room_id")
    parsed = [row["room_id"] for row in r.json()["data"]["room_list"]]
    assert parsed == raw == [s.room_id for s in today_rooms]
    for rid in parsed:
        assert isinstance(rid, int)
        assert 2**53 < rid <= INT64_MAX
        assert len(str(rid)) == 19
        assert float(rid) != rid  # a float parser would corrupt it
        assert int(float(rid)) != rid
    # detail answers for the exact id, and for nothing else
    detail = ok(
        json.loads(
            http.get(
                "/open_api/" + ROOM_DETAIL,
                params={"advertiser_id": world.advertiser_id, "room_id": parsed[0]},
                headers={"Access-Token": token},
            ).text
        )
    )
    assert detail["room_id"] == parsed[0]
    rounded = int(float(parsed[0]))
    body = http.get(
        "/open_api/" + ROOM_DETAIL,
        params={"advertiser_id": world.advertiser_id, "room_id": rounded},
        headers={"Access-Token": token},
    ).json()
    err(body, 40001, str(rounded))


def test_product_ids_beyond_2_pow_53_are_exact(
    http: httpx.Client, token: str, world: World, today_rooms: list[Session]
) -> None:
    r = http.get(
        "/open_api/" + ROOM_PRODUCTS,
        params={
            "advertiser_id": world.advertiser_id,
            "room_id": today_rooms[-1].room_id,
            "fields": "[]",
            "page_size": 100,
        },
        headers={"Access-Token": token},
    )
    raw = big_ints(r.text, "productId")
    parsed = [row["productId"] for row in r.json()["data"]["list"]]
    assert parsed == raw
    assert len(parsed) == len(today_rooms[-1].lineup)
    for pid in parsed:
        assert 2**53 < pid <= INT64_MAX
        assert float(pid) != pid


# ---- room detail, flow, user ------------------------------------------------------------
def test_room_detail(call: Any, world: World, today_rooms: list[Session]) -> None:
    listed = ok(room_get(call, world, fields="[]"))["room_list"]
    for s, row in zip(today_rooms, listed, strict=True):
        detail = ok(call(ROOM_DETAIL, room_id=s.room_id))
        assert set(detail) == ROOM_HEAD
        assert detail == row
        assert isinstance(detail["room_cover"], list)
        assert isinstance(detail["aweme_avatar"], list)
    assert ok(call(ROOM_DETAIL, room_id=today_rooms[-1].room_id))["end_time"] == ""


def test_flow_performance(call: Any, world: World, today_rooms: list[Session]) -> None:
    for s in (today_rooms[0], today_rooms[-1]):
        data = ok(call(ROOM_FLOW, room_id=s.room_id))
        for key in (
            "homepage_follow",
            "general_search",
            "video_to_live",
            "live_pc_qian_chuan",
            "other_recommend_live",
        ):
            assert key in data
        assert all(isinstance(v, int) and v >= 0 for v in data.values())
        # every visit has exactly one source: the counts add up to the watch count
        watch = agg.room_metrics(world, s, NOW_TS)["total_live_watch_cnt"]
        assert sum(data.values()) == watch
        assert data["live_pc_qian_chuan"] == agg.room_metrics(world, s, NOW_TS)["click_cnt"]
    err(call(ROOM_FLOW, room_id=today_rooms[0].room_id, flow_source="X"), 40001, "flow_source")


def test_room_user(call: Any, today_rooms: list[Session]) -> None:
    room = today_rooms[-1].room_id
    enter = ok(
        call(
            ROOM_USER, room_id=room, action_event="ENTER", dimension=fields("CITY", "GENDER", "AGE")
        )
    )
    assert set(enter) == {"city", "gender", "age"}
    people = sum(g["value"] for g in enter["gender"])
    assert people > 0
    assert sum(a["value"] for a in enter["age"]) == people
    assert sum(c["value"] for c in enter["city"]) == people
    assert set(enter["city"][0]) == {"city_name", "value"}
    values = [c["value"] for c in enter["city"]]
    assert values == sorted(values, reverse=True)
    assert {g["gender_type"] for g in enter["gender"]} == {"FEMALE", "MALE"}
    pay = ok(call(ROOM_USER, room_id=room, action_event="PAY", dimension=fields("GENDER")))
    assert set(pay) == {"gender"}
    payers = sum(g["value"] for g in pay["gender"])
    assert 0 < payers < people


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"action_event": "ENTER"}, "dimension"),
        ({"action_event": "ENTER", "dimension": "CITY"}, "dimension"),
        ({"action_event": "ENTER", "dimension": "[]"}, "dimension"),
        ({"action_event": "ENTER", "dimension": '["REGION"]'}, "dimension"),
        ({"dimension": '["CITY"]'}, "action_event"),
        ({"action_event": "CLICK", "dimension": '["CITY"]'}, "action_event"),
    ],
)
def test_room_user_bad_params(
    call: Any, today_rooms: list[Session], params: dict[str, str], word: str
) -> None:
    err(call(ROOM_USER, room_id=today_rooms[-1].room_id, **params), 40001, word)


# ---- product list -----------------------------------------------------------------------
def test_product_list_quirky_names(call: Any, world: World, today_rooms: list[Session]) -> None:
    s = today_rooms[-1]
    wanted = ("live_product_Inventory", "live_product_price", "live_pay_order_count_alias")
    data = ok(call(ROOM_PRODUCTS, room_id=s.room_id, fields=fields(*wanted), page_size=100))
    assert set(data) == {"list", "page_info"}
    n = len(s.lineup)
    assert data["page_info"] == {"page": 1, "page_size": 100, "total_num": n, "total_page": 1}
    rows = agg.product_rows(world, s, NOW_TS)
    assert len(data["list"]) == n
    for item, row in zip(data["list"], rows, strict=True):
        assert set(item) == PRODUCT_HEAD | set(wanted)
        assert "product_id" not in item  # camelCase only
        assert "live_product_inventory" not in item  # capital I only
        assert item["productId"] == row["productId"]
        assert item["live_product_Inventory"] == row["live_product_Inventory"]
        assert isinstance(item["live_product_Inventory"], int)
        assert item["live_product_price"] == row["live_product_price"]
        assert isinstance(item["live_product_price"], float)
    statuses = {i["explain_status"] for i in data["list"]}
    assert statuses <= {"BEINGEXPLAIN", "HASEXPLAIN", "UNEXPLAIN"}
    assert "BEINGEXPLAIN" in statuses  # the show is on air
    # the same (lowercase) name is rejected as an unknown field
    err(
        call(ROOM_PRODUCTS, room_id=s.room_id, fields=fields("live_product_inventory")),
        40001,
        "live_product_inventory",
    )
    err(call(ROOM_PRODUCTS, room_id=s.room_id, fields="live_product_price"), 40001, "JSON")
    err(call(ROOM_PRODUCTS, room_id=s.room_id), 40001, "fields")


def test_product_list_explain_filter(call: Any, today_rooms: list[Session]) -> None:
    room = today_rooms[-1].room_id
    everything = ok(call(ROOM_PRODUCTS, room_id=room, fields="[]", page_size=100))["list"]
    has = ok(call(ROOM_PRODUCTS, room_id=room, fields="[]", explain_status="HASEXPLAIN"))
    un = ok(call(ROOM_PRODUCTS, room_id=room, fields="[]", explain_status="UNEXPLAIN"))
    assert has["page_info"]["total_num"] + un["page_info"]["total_num"] == len(everything)
    assert {i["explain_status"] for i in un["list"]} == {"UNEXPLAIN"}
    assert "UNEXPLAIN" not in {i["explain_status"] for i in has["list"]}


def test_product_list_pagination_walk(call: Any, today_rooms: list[Session]) -> None:
    room = today_rooms[-1].room_id
    full = ok(call(ROOM_PRODUCTS, room_id=room, fields="[]", page_size=100))["list"]
    total = len(full)
    assert total > 3
    seen = []
    for page in range(1, total + 1):
        data = ok(call(ROOM_PRODUCTS, room_id=room, fields="[]", page=page, page_size=1))
        assert data["page_info"] == {
            "page": page,
            "page_size": 1,
            "total_num": total,
            "total_page": total,
        }
        seen.extend(i["productId"] for i in data["list"])
    assert seen == [i["productId"] for i in full]
    assert len(set(seen)) == total
    last = ok(call(ROOM_PRODUCTS, room_id=room, fields="[]", page=2, page_size=total - 1))
    assert [i["productId"] for i in last["list"]] == seen[-1:]
    assert last["page_info"]["total_page"] == 2


# ---- report/live ------------------------------------------------------------------------
def report_live(call: Any, world: World, start: str, end: str, *wanted: str) -> dict[str, Any]:
    out: dict[str, Any] = call(
        REPORT_LIVE,
        aweme_id=world.accounts[0].aweme_id,
        start_time=start,
        end_time=end,
        fields=fields(*wanted),
    )
    return out


def test_report_live(call: Any, world: World, today_rooms: list[Session]) -> None:
    wanted = ("stat_cost", "total_live_watch_cnt", "live_pay_order_gmv_alias", "ctr")
    whole = ok(report_live(call, world, "2026-11-28 00:00:00", "2026-11-28 23:59:59", *wanted))
    assert set(whole) == set(wanted)
    rooms = [agg.room_metrics(world, s, NOW_TS) for s in today_rooms]
    assert whole["total_live_watch_cnt"] == sum(r["total_live_watch_cnt"] for r in rooms)
    assert whole == {k: agg.combine_rooms(rooms)[k] for k in wanted}
    # only rooms *started* in the window count: the morning show alone
    morning = ok(report_live(call, world, "2026-11-28 00:00:00", "2026-11-28 12:00:00", *wanted))
    assert morning["total_live_watch_cnt"] == rooms[0]["total_live_watch_cnt"]
    assert morning["stat_cost"] == rooms[0]["stat_cost"]
    empty = ok(report_live(call, world, "2026-11-28 00:00:00", "2026-11-28 01:00:00", *wanted))
    assert empty["total_live_watch_cnt"] == 0
    assert empty["stat_cost"] == 0.0


@pytest.mark.parametrize(
    ("start", "end", "word"),
    [
        ("2026-11-27 20:00:00", "2026-11-28 10:00:00", "end_time"),  # two calendar days
        ("2026-11-28 12:00:00", "2026-11-28 10:00:00", "end_time"),  # end before start
        ("2026-11-28", "2026-11-28 10:00:00", "start_time"),
        ("2026-11-28 00:00:00", "2026-11-28T10:00:00", "end_time"),
        ("2026-11-28 9:00:00", "2026-11-28 10:00:00", "start_time"),
        ("2026-11-28 00:00:00", "2026-11-28 10:00:00.5", "end_time"),
        ("", "2026-11-28 10:00:00", "start_time"),
    ],
)
def test_report_live_bad_window(call: Any, world: World, start: str, end: str, word: str) -> None:
    err(report_live(call, world, start, end, "stat_cost"), 40001, word)


def test_report_live_fields(call: Any, world: World) -> None:
    day = ("2026-11-28 00:00:00", "2026-11-28 23:59:59")
    assert set(ok(report_live(call, world, *day, "ctr"))) == {"ctr"}
    err(report_live(call, world, *day, "ctr", "bogus_metric"), 40001, "bogus_metric")
    body = call(
        REPORT_LIVE,
        aweme_id=world.accounts[0].aweme_id,
        start_time=day[0],
        end_time=day[1],
        fields="ctr",
    )
    err(body, 40001, "JSON")


# ---- report/advertiser ------------------------------------------------------------------
GOAL = json.dumps({"marketing_goal": "LIVE_PROM_GOODS"})
ADV_FIELDS = ("stat_cost", "pay_order_amount", "click_cnt")


def report_adv(call: Any, start: str, end: str, **params: Any) -> dict[str, Any]:
    params.setdefault("fields", fields(*ADV_FIELDS))
    params.setdefault("filtering", GOAL)
    out: dict[str, Any] = call(REPORT_ADV, start_date=start, end_date=end, **params)
    return out


def test_report_advertiser_granularities(call: Any, world: World) -> None:
    start, end = "2026-11-22", "2026-11-28"
    daily = ok(report_adv(call, start, end, time_granularity="TIME_GRANULARITY_DAILY"))
    days = [date(2026, 11, 22) + timedelta(days=i) for i in range(7)]
    active = [d for d in days if any(True for _ in world.iter_sessions(d, d))]
    assert [r["stat_datetime"] for r in daily["list"]] == [f"{d} 00:00:00" for d in active]
    # total_number on report endpoints
    assert daily["page_info"] == {
        "page": 1,
        "page_size": 20,
        "total_number": len(active),
        "total_page": 1,
    }
    for r in daily["list"]:
        assert set(r) == {"advertiser_id", "stat_datetime", *ADV_FIELDS}
        assert r["advertiser_id"] == world.advertiser_id
    hourly = ok(
        report_adv(call, start, end, time_granularity="TIME_GRANULARITY_HOURLY", page_size=1000)
    )
    stamps = [r["stat_datetime"] for r in hourly["list"]]
    assert stamps == sorted(stamps)
    assert len(stamps) == hourly["page_info"]["total_number"] > len(active)
    assert all(re.fullmatch(r"2026-11-2\d \d\d:00:00", t) for t in stamps)
    total = ok(report_adv(call, start, end))
    assert total["page_info"]["total_number"] == 1
    (row,) = total["list"]
    assert set(row) == {"advertiser_id", *ADV_FIELDS}  # no stat_datetime without granularity
    for f in ADV_FIELDS:
        assert row[f] == pytest.approx(sum(r[f] for r in daily["list"]), abs=0.011)
        assert row[f] == pytest.approx(sum(r[f] for r in hourly["list"]), abs=0.011)
    # spend of the day equals the room-level spend of that day's rooms
    today_rooms = [s for s in world.sessions_on(TODAY) if s.start_ts <= NOW_TS]
    assert daily["list"][-1]["stat_cost"] == pytest.approx(
        sum(agg.room_metrics(world, s, NOW_TS)["stat_cost"] for s in today_rooms), abs=0.011
    )
    assert daily["list"][-1]["click_cnt"] == sum(
        agg.room_metrics(world, s, NOW_TS)["click_cnt"] for s in today_rooms
    )


def test_report_advertiser_fields_and_filtering(call: Any) -> None:
    d = ("2026-11-28", "2026-11-28")
    assert set(ok(report_adv(call, *d, fields=fields("ctr")))["list"][0]) == {
        "advertiser_id",
        "ctr",
    }
    err(report_adv(call, *d, fields=fields("ctr", "gmv")), 40001, "gmv")
    err(report_adv(call, *d, fields="ctr"), 40001, "JSON")
    err(report_adv(call, *d, filtering=""), 40001, "filtering")
    err(report_adv(call, *d, filtering="{}"), 40001, "marketing_goal")
    err(
        report_adv(call, *d, filtering='{"marketing_goal":"ALL","aweme_ids":"1"}'),
        40001,
        "aweme_ids",
    )
    err(report_adv(call, *d, filtering="marketing_goal=LIVE"), 40001, "filtering")
    err(report_adv(call, *d, filtering='{"marketing_goal":"X"}'), 40001, "marketing_goal")
    err(report_adv(call, *d, time_granularity="DAILY"), 40001, "time_granularity")
    video = ok(report_adv(call, *d, filtering='{"marketing_goal":"VIDEO_PROM_GOODS"}'))
    assert video == {
        "list": [],
        "page_info": {"page": 1, "page_size": 20, "total_number": 0, "total_page": 0},
    }


def test_report_advertiser_limits(call: Any) -> None:
    # 30 days inclusive is the limit
    ok(report_adv(call, "2026-10-30", "2026-11-28"))
    err(report_adv(call, "2026-10-29", "2026-11-28"), 40001, "30")
    err(report_adv(call, "2026-11-28", "2026-11-27"), 40001, "start_date")
    err(report_adv(call, "2026-11-28", "2026/11/28"), 40001, "end_date")
    err(report_adv(call, "", "2026-11-28"), 40001, "start_date")
    gran = {"time_granularity": "TIME_GRANULARITY_HOURLY"}
    assert (
        ok(report_adv(call, "2026-11-28", "2026-11-28", page_size=1000, **gran))["page_info"][
            "page_size"
        ]
        == 1000
    )
    err(report_adv(call, "2026-11-28", "2026-11-28", page_size=1001, **gran), 40001, "page_size")


def test_report_advertiser_pagination(call: Any) -> None:
    gran = {"time_granularity": "TIME_GRANULARITY_HOURLY"}
    full = ok(report_adv(call, "2026-11-27", "2026-11-28", page_size=1000, **gran))["list"]
    n = len(full)
    pages = -(-n // 5)
    walked = []
    for page in range(1, pages + 1):
        data = ok(report_adv(call, "2026-11-27", "2026-11-28", page=page, page_size=5, **gran))
        assert data["page_info"] == {
            "page": page,
            "page_size": 5,
            "total_number": n,
            "total_page": pages,
        }
        walked.extend(data["list"])
    assert walked == full


# ---- v3.0 live_room/analysis ------------------------------------------------------------
def analysis(call: Any, filtering: dict[str, Any], start: str, end: str, **params: Any) -> Any:
    return call(ANALYSIS, filtering=json.dumps(filtering), start_time=start, end_time=end, **params)


def test_analysis_rows(call: Any, world: World) -> None:
    aweme = world.accounts[0].aweme_id
    wanted = ("all_live_watch_cnt_td", "all_avg_live_pcu_td", "all_live_max_1min_pcu_td")
    data = ok(
        analysis(
            call,
            {"aweme_ids": [aweme]},
            "2026-11-25 00:00:00",
            "2026-11-28 23:59:59",
            fields=fields(*wanted),
        )
    )
    # T+1: today's rooms are not analysed yet
    expected = [
        s
        for d in (date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27))
        for s in world.account_sessions(world.accounts[0], d)
    ]
    assert [r["room_id"] for r in data["list"]] == [s.room_id for s in expected]
    assert data["page_info"] == {
        "page": 1,
        "page_size": 20,
        "total_number": len(expected),
        "total_page": 1,
    }
    for row, s in zip(data["list"], expected, strict=True):
        assert set(row) == ANALYSIS_HEAD
        assert set(row["fields"]) == set(wanted)
        full = agg.analysis_row(s)
        assert row["fields"] == {k: full[k] for k in wanted}
        assert row["room_create_time"] == fmt_time(s.start_ts)
        assert row["room_finish_time"] == fmt_time(s.end_ts)
        assert row["fields"]["all_live_max_1min_pcu_td"] >= row["fields"]["all_avg_live_pcu_td"]


def test_analysis_room_ids_and_all_fields(call: Any, world: World) -> None:
    s = world.account_sessions(world.accounts[0], date(2026, 11, 27))[0]
    data = ok(
        analysis(call, {"room_ids": [s.room_id]}, "2026-11-27 00:00:00", "2026-11-27 23:59:59")
    )
    (row,) = data["list"]
    assert row["room_id"] == s.room_id
    assert set(row["fields"]) == set(agg.ANALYSIS_METRICS)  # fields optional: all
    assert data["page_info"]["total_number"] == 1


def test_analysis_limits(call: Any, world: World) -> None:
    f = {"aweme_ids": [world.accounts[0].aweme_id]}
    ok(analysis(call, f, "2026-10-30 00:00:00", "2026-11-28 23:59:59"))
    err(analysis(call, f, "2026-10-29 00:00:00", "2026-11-28 23:59:59"), 40001, "30")
    err(analysis(call, f, "2026-11-28 00:00:00", "2026-11-27 00:00:00"), 40001, "start_time")
    err(analysis(call, f, "2026-11-27", "2026-11-28 00:00:00"), 40001, "start_time")
    err(analysis(call, {}, "2026-11-27 00:00:00", "2026-11-28 00:00:00"), 40001, "room_ids")
    err(
        analysis(call, f, "2026-11-27 00:00:00", "2026-11-28 00:00:00", fields=fields("x_td")),
        40001,
        "x_td",
    )
    too_many = {"room_ids": list(range(1, 102))}
    err(analysis(call, too_many, "2026-11-27 00:00:00", "2026-11-28 00:00:00"), 40001, "room_ids")
    err(
        analysis(call, f, "2026-11-27 00:00:00", "2026-11-28 00:00:00", page_size=101),
        40001,
        "page_size",
    )
    body = call(ANALYSIS, filtering="room_ids=1", start_time="2026-11-27 00:00:00")
    err(body, 40001, "filtering")


@pytest.mark.parametrize(
    "filtering",
    [
        {"room_ids": ["abc"]},
        {"room_ids": 7713027512866570087},
        {"aweme_ids": ["abc"]},
        {"room_ids": [{"id": 1}]},
    ],
)
def test_analysis_malformed_ids_are_40001(call: Any, filtering: dict[str, Any]) -> None:
    err(analysis(call, filtering, "2026-11-27 00:00:00", "2026-11-28 00:00:00"), 40001)


# ---- QPS --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def limited() -> Iterator[RunningSandbox]:
    with running_sandbox(make_config(faults=Faults(qps=2))) as running:
        yield running


def test_qps_limit_40100(limited: RunningSandbox) -> None:
    with httpx.Client(base_url=limited.url, timeout=30) as h:
        qc = Qianchuan(h, limited.sandbox.config)
        tok = qc.login()["access_token"]  # token endpoints are not rate limited
        adv = limited.sandbox.world.advertiser_id
        bodies = [qc.get(AWEME_AUTH, tok, advertiser_id=adv) for _ in range(10)]
        codes = [b["code"] for b in bodies]
        assert codes[:2] == [0, 0]  # the window starts empty: the first two pass
        assert set(codes) == {0, 40100}
        limited_n = codes.count(40100)
        assert limited_n >= 5  # ten loopback calls take well under the 2 s that 5 passes need
        for b in bodies:
            if b["code"] == 40100:
                err(b, 40100)
        stats = h.get("/sandbox/stats").json()
        assert stats["rate_limited"] == {"/open_api/" + AWEME_AUTH: limited_n}
        assert stats["outcomes"]["qianchuan:40100"] == limited_n
        assert stats["outcomes"]["qianchuan:0"] == 1 + codes.count(0)  # + the code exchange
