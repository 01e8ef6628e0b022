"""A sandbox of several shops (issue 15, point 1): each shop its own world behind one app.

Real HTTP on loopback to a frozen-clock sandbox of three shops. Expected values come from the
sandbox's own worlds (``server.sandbox.world_of(k)``), never from numbers written here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from livekit.cli import app
from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.hostile import PAYLOADS
from livekit.sandbox.server import RunningSandbox, running_sandbox
from livekit.sandbox.shopset import shop_infos, shop_seed
from livekit.sandbox.truth import truth
from livekit.sandbox.world import World
from livekit.shops import load_shops
from tests.helpers.sandbox import NOW, TODAY, Doudian, Qianchuan, make_config

SHOPS = 3
AWEME_AUTH = "v1.0/qianchuan/aweme/authorized/get/"
ROOM_GET = "v1.0/qianchuan/today_live/room/get/"
YESTERDAY = TODAY - timedelta(days=1)
DAY_START = int(NOW.replace(hour=0, minute=0, second=0).timestamp()) - 86400
NOW_TS = int(NOW.timestamp())


def shop_config(**changes: Any) -> SandboxConfig:
    return make_config(shops=SHOPS, scale=0.1, history_days=30, **changes)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    """Overrides conftest's: the same frozen sandbox, with three shops."""
    with running_sandbox(shop_config()) as running:
        yield running


@pytest.fixture(scope="module")
def listed(server: RunningSandbox) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.url, timeout=30) as h:
        shops: list[dict[str, Any]] = h.get("/sandbox/shops").json()["shops"]
    return shops


def rooms_served(qc: Qianchuan, token: str, advertiser_id: int) -> dict[int, str]:
    """room_id -> aweme name of every room the advertiser's 抖音号 had yesterday."""
    awemes = qc.get(AWEME_AUTH, token, advertiser_id=advertiser_id, page_size=100)
    assert awemes["code"] == 0, awemes
    out: dict[int, str] = {}
    for aweme in awemes["data"]["aweme_id_list"]:
        body = qc.get(
            ROOM_GET,
            token,
            advertiser_id=advertiser_id,
            aweme_id=aweme["aweme_id"],
            date_time=YESTERDAY.isoformat(),
            fields=json.dumps(["stat_cost"]),
            page_size=100,
        )
        assert body["code"] == 0, body
        out.update({r["room_id"]: r["aweme_name"] for r in body["data"]["room_list"]})
    return out


# ---- the shops ---------------------------------------------------------------------------
def test_shops_are_listed_with_their_own_ids_and_names(
    server: RunningSandbox, listed: list[dict[str, Any]]
) -> None:
    sb = server.sandbox
    assert [s["id"] for s in listed] == [f"s{k + 1}" for k in range(SHOPS)]
    for k, shop in enumerate(listed):
        world = sb.world_of(k)
        assert shop == {
            "id": f"s{k + 1}",
            "name": world.shop_name,
            "advertiser_id": world.advertiser_id,
            "shop_id": world.shop_id,
        }
        assert world.seed == shop_seed(sb.config.seed, k)
    # s1 is the one-shop sandbox's world: same seed, ids and names
    alone = World(sb.config.seed, TODAY, 30, 0.1)
    assert (listed[0]["advertiser_id"], listed[0]["shop_id"], listed[0]["name"]) == (
        alone.advertiser_id,
        alone.shop_id,
        alone.shop_name,
    )
    assert "号店" not in listed[0]["name"]
    assert listed[1]["name"] == alone.shop_name + "·2号店"
    assert sb.world_of(2).advertiser_name == alone.advertiser_name + "·3号店"
    for key in ("advertiser_id", "shop_id", "name"):
        assert len({s[key] for s in listed}) == SHOPS
    index = httpx.get(server.url + "/").json()
    assert index["shops"] == SHOPS
    assert "/sandbox/shops" in index["sandbox_paths"]


def test_derived_names_still_carry_hostile_text() -> None:
    plain, hostile = shop_infos(7, 2), shop_infos(7, 2, hostile_text=True)
    assert [i.advertiser_id for i in plain] == [i.advertiser_id for i in hostile]
    second = hostile[1]
    assert second.name.startswith(plain[1].name)
    assert second.name != plain[1].name
    assert any(p in second.name for p in PAYLOADS)
    assert any(p in second.advertiser_name for p in PAYLOADS)
    world = World(second.seed, TODAY, 30, 0.1, hostile_text=True, shop_number=2)
    assert (world.shop_name, world.advertiser_name) == (second.name, second.advertiser_name)


def test_shops_must_be_at_least_one() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="shops"):
            SandboxConfig(shops=bad)  # type: ignore[arg-type]


def test_worlds_are_built_once_when_first_used() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from livekit.sandbox.core import Sandbox

    sb = Sandbox(shop_config())
    assert sb.worlds_built == 1  # s1 only: the others wait for their first request
    with ThreadPoolExecutor(8) as pool:
        worlds = list(pool.map(lambda _: sb.world_of(2), range(16)))
    assert all(w is worlds[0] for w in worlds)
    assert sb.worlds_built == 2
    assert worlds[0].shop_number == 3


# ---- 巨量千川: routing and the grant -------------------------------------------------------
def test_each_advertiser_serves_its_own_world(
    server: RunningSandbox, qc: Qianchuan, listed: list[dict[str, Any]]
) -> None:
    login = qc.login()  # default consent: every advertiser of every shop (an agency account)
    assert login["advertiser_ids"] == [s["advertiser_id"] for s in listed]
    accounts = qc.get("oauth2/advertiser/get/", None, access_token=login["access_token"])
    assert [(a["advertiser_id"], a["advertiser_name"]) for a in accounts["data"]["list"]] == [
        (s["advertiser_id"], server.sandbox.world_of(k).advertiser_name)
        for k, s in enumerate(listed)
    ]
    seen: list[set[int]] = []
    for k, shop in enumerate(listed):
        world = server.sandbox.world_of(k)
        served = rooms_served(qc, login["access_token"], shop["advertiser_id"])
        expected = {s.room_id for s in world.sessions_on(YESTERDAY)}
        assert expected, "a shop without rooms yesterday proves nothing"
        assert set(served) == expected
        assert set(served.values()) <= {a.aweme_name for a in world.accounts}
        totals = httpx.get(
            server.url + "/sandbox/totals",
            params={"shop": shop["id"], "start_date": str(YESTERDAY), "end_date": str(YESTERDAY)},
        ).json()
        assert totals["rooms"] == len(served)
        seen.append(set(served))
    for a in range(SHOPS):
        for b in range(a + 1, SHOPS):
            assert not seen[a] & seen[b]


def test_a_token_for_one_advertiser_is_refused_the_others(
    qc: Qianchuan, listed: list[dict[str, Any]]
) -> None:
    mine, other = listed[1]["advertiser_id"], listed[0]["advertiser_id"]
    login = qc.login(advertiser_ids=[mine])
    assert login["advertiser_ids"] == [mine]
    accounts = qc.get("oauth2/advertiser/get/", None, access_token=login["access_token"])
    assert [a["advertiser_id"] for a in accounts["data"]["list"]] == [mine]
    assert qc.get(AWEME_AUTH, login["access_token"], advertiser_id=mine)["code"] == 0
    refused = qc.get(AWEME_AUTH, login["access_token"], advertiser_id=other)
    assert refused["code"] == 40002, refused
    assert refused["data"] == {}
    # every refreshed pair carries the same grant
    body = qc.refresh(login["refresh_token"])
    assert body["code"] == 0, body
    fresh = body["data"]["access_token"]
    assert qc.get(AWEME_AUTH, fresh, advertiser_id=mine)["code"] == 0
    assert qc.get(AWEME_AUTH, fresh, advertiser_id=other)["code"] == 40002
    again = qc.refresh(body["data"]["refresh_token"])["data"]["access_token"]
    assert qc.get(AWEME_AUTH, again, advertiser_id=other)["code"] == 40002
    # two of three ticked: listed in shop order, whatever order they were ticked in
    two = qc.login(advertiser_ids=[listed[2]["advertiser_id"], other])
    assert two["advertiser_ids"] == [other, listed[2]["advertiser_id"]]
    assert qc.get(AWEME_AUTH, two["access_token"], advertiser_id=mine)["code"] == 40002


def test_an_advertiser_of_no_shop_is_40002(qc: Qianchuan, listed: list[dict[str, Any]]) -> None:
    login = qc.login()
    stranger = max(s["advertiser_id"] for s in listed) + 1
    assert qc.get(AWEME_AUTH, login["access_token"], advertiser_id=stranger)["code"] == 40002


@pytest.mark.parametrize("ticked", ["1", "abc", "12,", " , x"])
def test_consent_refuses_advertisers_it_does_not_have(
    http: httpx.Client, server: RunningSandbox, ticked: str
) -> None:
    r = http.get(
        "/openapi/qc/audit/oauth.html",
        params={
            "app_id": server.sandbox.config.qianchuan_app_id,
            "redirect_uri": "http://127.0.0.1:1/callback",
            "advertiser_ids": ticked,
        },
    )
    assert r.status_code == 400
    assert "advertiser_ids" in r.text


# ---- 抖店: a token per shop -----------------------------------------------------------------
def orders(dd: Doudian, token: str) -> list[dict[str, Any]]:
    body = dd.call(
        "order.searchList",
        {"create_time_start": DAY_START, "create_time_end": NOW_TS, "page": 0, "size": 100},
        token,
    )
    assert body["code"] == 10000, body
    out: list[dict[str, Any]] = body["data"]["shop_order_list"]
    return out


def test_the_code_flow_binds_orders_to_the_shop(
    server: RunningSandbox, dd: Doudian, listed: list[dict[str, Any]]
) -> None:
    seen: list[set[str]] = []
    for k, shop in enumerate(listed):
        code = dd.authorize(shop["shop_id"], state=f"state-{k}")
        body = dd.call("token.create", {"code": code, "grant_type": "authorization_code"})
        assert body["code"] == 10000, body
        data = body["data"]
        assert (data["shop_id"], data["shop_name"]) == (shop["shop_id"], shop["name"])
        got = orders(dd, data["access_token"])
        world = server.sandbox.world_of(k)
        expected = {
            o.order_id for o in world.orders_between(DAY_START, NOW_TS) if o.create_ts <= NOW_TS
        }
        assert got
        assert {o["order_id"] for o in got} == expected
        assert {(o["shop_id"], o["shop_name"]) for o in got} == {(shop["shop_id"], shop["name"])}
        seen.append(expected)
        # single use
        reused = dd.call("token.create", {"code": code, "grant_type": "authorization_code"})
        assert reused["code"] == 50001
        assert reused["sub_code"].startswith("dop.token-generate-failed")
        # a refresh (rotating or not) stays that shop's
        refreshed = dd.call(
            "token.refresh", {"grant_type": "refresh_token", "refresh_token": data["refresh_token"]}
        )
        assert refreshed["code"] == 10000, refreshed
        assert refreshed["data"]["shop_id"] == shop["shop_id"]
        assert {o["order_id"] for o in orders(dd, refreshed["data"]["access_token"])} == expected
    for a in range(SHOPS):
        for b in range(a + 1, SHOPS):
            assert not seen[a] & seen[b]


def test_authorization_self_takes_a_shop_id(dd: Doudian, listed: list[dict[str, Any]]) -> None:
    assert dd.login()["shop_id"] == listed[0]["shop_id"]  # default: the first shop
    third = dd.login(shop_id=listed[2]["shop_id"])
    assert third["shop_name"] == listed[2]["name"]
    assert {o["shop_id"] for o in orders(dd, third["access_token"])} == {listed[2]["shop_id"]}
    as_text = dd.login(shop_id=str(listed[1]["shop_id"]))  # type: ignore[arg-type]
    assert as_text["shop_id"] == listed[1]["shop_id"]


@pytest.mark.parametrize("shop_id", [1, "x", True])
def test_token_create_for_a_shop_that_never_authorized(dd: Doudian, shop_id: object) -> None:
    for grant in ("authorization_self", "authorization_code"):
        body = dd.call("token.create", {"code": "", "grant_type": grant, "shop_id": shop_id})
        assert body["code"] == 50001, body
        assert body["sub_code"] == "dop.token-generate-failed:shop-not-authorized"


def test_a_code_is_only_for_its_own_shop(dd: Doudian, listed: list[dict[str, Any]]) -> None:
    code = dd.authorize(listed[1]["shop_id"])
    wrong = dd.call(
        "token.create",
        {"code": code, "grant_type": "authorization_code", "shop_id": listed[0]["shop_id"]},
    )
    assert wrong["sub_code"] == "dop.token-generate-failed:shop-not-authorized"
    right = dd.call(
        "token.create",
        {"code": code, "grant_type": "authorization_code", "shop_id": listed[1]["shop_id"]},
    )
    assert right["data"]["shop_id"] == listed[1]["shop_id"]
    # without shop_id the page's default is the first shop
    plain = dd.authorize(None)
    first = dd.call("token.create", {"code": plain, "grant_type": "authorization_code"})
    assert first["data"]["shop_id"] == listed[0]["shop_id"]


def test_a_code_expires(http: httpx.Client, dd: Doudian, server: RunningSandbox) -> None:
    code = dd.authorize(None)
    later = NOW + timedelta(seconds=server.sandbox.config.lifetimes.auth_code + 1)
    try:
        assert http.post("/sandbox/clock", json={"now": f"{later:%Y-%m-%d %H:%M:%S}"}).is_success
        body = dd.call("token.create", {"code": code, "grant_type": "authorization_code"})
        assert body["sub_code"] == "dop.token-generate-failed:code-expired", body
    finally:
        http.post("/sandbox/clock", json={"now": f"{NOW:%Y-%m-%d %H:%M:%S}"})


@pytest.mark.parametrize(
    "change", [{"app_key": "nope"}, {"shop_id": "1"}, {"shop_id": "x"}, {"redirect_uri": "ftp://x"}]
)
def test_the_authorize_page_refuses(
    http: httpx.Client, server: RunningSandbox, change: dict[str, str]
) -> None:
    params = {
        "app_key": server.sandbox.config.doudian_app_key,
        "state": "s",
        "redirect_uri": "http://127.0.0.1:1/cb",
        **change,
    }
    before = dict(server.sandbox.tokens.doudian_codes)
    r = http.get("/sandbox/doudian/authorize", params=params)
    assert r.status_code == 400
    assert "授权失败" in r.text
    assert server.sandbox.tokens.doudian_codes == before


# ---- one app over all shops ------------------------------------------------------------------
def test_the_rate_limit_is_one_per_app_over_all_shops(
    http: httpx.Client, qc: Qianchuan, listed: list[dict[str, Any]]
) -> None:
    token = qc.login()["access_token"]
    assert http.post("/sandbox/faults", json={"qianchuan_qps": 1}).is_success
    try:
        answers = []
        started = time.monotonic()
        for i in range(9):  # round robin: shop 1, 2, 3, 1, …
            adv = listed[i % SHOPS]["advertiser_id"]
            answers.append(qc.get(AWEME_AUTH, token, advertiser_id=adv)["code"])
        elapsed = time.monotonic() - started
    finally:
        http.post("/sandbox/faults", json={"qianchuan_qps": None})
    assert set(answers) <= {0, 40100}
    # one window of one request a second for the app, whichever shop is asked: a window per
    # shop would have let the first three (one per shop) through at once
    assert answers.count(0) <= int(elapsed) + 1


def test_stats_count_requests_per_shop(
    http: httpx.Client, qc: Qianchuan, listed: list[dict[str, Any]]
) -> None:
    token = qc.login()["access_token"]
    before = http.get("/sandbox/stats").json()["shop_requests"]
    for _ in range(2):
        assert qc.get(AWEME_AUTH, token, advertiser_id=listed[2]["advertiser_id"])["code"] == 0
    after = http.get("/sandbox/stats").json()["shop_requests"]
    assert after.get("s3", 0) - before.get("s3", 0) == 2
    assert after.get("s1", 0) == before.get("s1", 0)


# ---- the sandbox's own paths ----------------------------------------------------------------
def test_truth_totals_and_exports_take_a_shop(
    http: httpx.Client, server: RunningSandbox, listed: list[dict[str, Any]]
) -> None:
    assert http.get("/sandbox/truth", params={"shop": "s2"}).json() == json.loads(
        json.dumps(truth(server.sandbox.world_of(1)))
    )
    assert http.get("/sandbox/truth").json() == http.get("/sandbox/truth?shop=s1").json()
    day = {"start_date": str(YESTERDAY), "end_date": str(YESTERDAY)}
    schedules = [
        http.get("/sandbox/export/explanations", params={**day, "shop": s["id"]}).text
        for s in listed
    ]
    assert len(set(schedules)) == SHOPS
    assert all(len(x.splitlines()) > 1 for x in schedules)
    viewers = http.get("/sandbox/export/viewers", params={**day, "shop": "s3"})
    assert viewers.status_code == 200
    rooms = {s.room_id for s in server.sandbox.world_of(2).sessions_on(YESTERDAY)}
    served = {int(line.split(",")[0]) for line in viewers.text.splitlines()[1:]}
    assert served
    assert served <= rooms
    for path in (
        "/sandbox/truth",
        "/sandbox/totals",
        "/sandbox/export/viewers",
        "/sandbox/export/session_arms",
        "/sandbox/export/explanations",
    ):
        r = http.get(path, params={**day, "shop": "s9"})
        assert r.status_code == 400, path
        assert "s9" in r.json()["error"]


# ---- the shops file ----------------------------------------------------------------------------
def test_the_shops_file_loads_and_matches_the_sandbox(
    tmp_path: Path, listed: list[dict[str, Any]]
) -> None:
    out = tmp_path / "shops.yaml"
    runner = CliRunner()
    done = runner.invoke(app, ["sandbox", "shops", "--shops", str(SHOPS), "--out", str(out)])
    assert done.exit_code == 0, done.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert "沙盒" in text.splitlines()[0]
    shops = load_shops(out)
    assert [(s.id, s.name, s.advertiser_id, s.doudian_shop_id) for s in shops] == [
        (s["id"], s["name"], s["advertiser_id"], s["shop_id"]) for s in listed
    ]
    printed = runner.invoke(app, ["sandbox", "shops", "--shops", str(SHOPS), "--seed", "7"])
    assert printed.exit_code == 0
    assert printed.stdout == text
    other = runner.invoke(app, ["sandbox", "shops", "--shops", "2", "--seed", "8"])
    assert "advertiser_id: " + str(listed[0]["advertiser_id"]) not in other.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["sandbox", "shops", "--shops", "0"],
        ["sandbox", "shops", "--shops", "2", "--seed", "-1"],
        ["sandbox", "shops", "--out", "/nonexistent-dir/shops.yaml"],
        ["sandbox", "serve", "--port", "0", "--shops", "0"],
        ["sandbox", "truth", "--shop", "x2"],
    ],
)
def test_cli_mistakes_are_one_line(args: list[str]) -> None:
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2, done.output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("错误："), done.stderr
    assert "Traceback" not in done.output


# ---- one shop stays as it was -------------------------------------------------------------------
def test_one_shop_answers_as_before() -> None:
    with (
        running_sandbox(make_config(scale=0.1, history_days=30)) as one,
        httpx.Client(base_url=one.url, timeout=30) as h,
    ):
        world = one.sandbox.world
        assert h.get("/sandbox/shops").json() == {
            "shops": [
                {
                    "id": "s1",
                    "name": world.shop_name,
                    "advertiser_id": world.advertiser_id,
                    "shop_id": world.shop_id,
                }
            ]
        }
        assert "shop_requests" not in h.get("/sandbox/stats").json()
        assert h.get("/sandbox/totals", params={"shop": "s2"}).status_code == 400
        login = Qianchuan(h, one.sandbox.config).login()
        assert login["advertiser_ids"] == [world.advertiser_id]
        dd = Doudian(h, one.sandbox.config).login()
        assert (dd["shop_id"], dd["shop_name"]) == (world.shop_id, world.shop_name)


def test_serve_takes_shops(tmp_path: Path) -> None:
    """``livekit sandbox serve --shops 2`` in a process of its own serves the shops file's shops."""
    import subprocess
    import sys

    from livekit.sandbox.server import free_port

    port = free_port()
    args = ["--port", str(port), "--shops", "2", "--seed", "7", "--scale", "0.1"]
    args += ["--history-days", "30", "--today", str(TODAY), "--speed", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "livekit", "sandbox", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed just before it listens
        assert "2 个店铺" in first, first
        deadline = time.monotonic() + 30
        while True:
            try:
                listed = httpx.get(f"http://127.0.0.1:{port}/sandbox/shops", timeout=5).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out = tmp_path / "shops.yaml"
    done = CliRunner().invoke(app, ["sandbox", "shops", "--shops", "2", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert [s["id"] for s in listed["shops"]] == [s.id for s in load_shops(out)]
    assert [s["advertiser_id"] for s in listed["shops"]] == [
        s.advertiser_id for s in load_shops(out)
    ]
