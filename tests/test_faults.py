"""Fault injection and the per-app QPS limit, over real HTTP on loopback.

Each fault kind is forced (rate 1.0, one kind at a time) through ``POST /sandbox/faults`` and
checked as the client sees it; then a partial rate is checked against a binomial tolerance and
against the sandbox's own counters.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from livekit.sandbox.doudian import param_json, sign
from livekit.sandbox.server import RunningSandbox
from tests.helpers.sandbox import TODAY, Doudian, Qianchuan

ROOM_GET = "/open_api/v1.0/qianchuan/today_live/room/get/"
ROOM_DETAIL = "/open_api/v1.0/qianchuan/today_live/room/detail/get/"
AWEME_AUTH = "/open_api/v1.0/qianchuan/aweme/authorized/get/"
SEARCH_LIST = "/order/searchList"

NO_FAULTS: dict[str, Any] = {
    "qps": None,
    "qianchuan_qps": None,
    "doudian_qps": None,
    "endpoint_qps": {},
    "rate": 0.0,
    "slow_seconds": 12.0,
    "kinds": ["5xx", "rate_limit", "slow", "truncated", "revoke"],
    "seed": 0,
}


def set_faults(http: httpx.Client, **changes: Any) -> dict[str, Any]:
    r = http.post("/sandbox/faults", json=changes)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    for key, value in changes.items():
        assert out[key] == (list(value) if isinstance(value, tuple) else value)
    return out


@pytest.fixture(autouse=True)
def _no_faults_between_tests(http: httpx.Client) -> Iterator[None]:
    set_faults(http, **NO_FAULTS)
    yield
    set_faults(http, **NO_FAULTS)


# ---- raw request helpers (the conftest helpers assert HTTP 200 and valid JSON) -------------
def qc_request(
    http: httpx.Client, server: RunningSandbox, token: str, path: str = AWEME_AUTH, **extra: Any
) -> httpx.Request:
    params = {"advertiser_id": server.sandbox.world.advertiser_id, **extra}
    return http.build_request("GET", path, params=params, headers={"Access-Token": token})


def room_get_request(http: httpx.Client, server: RunningSandbox, token: str) -> httpx.Request:
    return qc_request(
        http,
        server,
        token,
        ROOM_GET,
        aweme_id=server.sandbox.world.accounts[0].aweme_id,
        date_time=TODAY.isoformat(),
        fields=json.dumps(["stat_cost", "total_live_watch_cnt"]),
    )


def dd_request(http: httpx.Client, server: RunningSandbox, token: str) -> httpx.Request:
    cfg = server.sandbox.config
    day0 = int(time.mktime(TODAY.timetuple()))  # any window works: the sandbox clips to now
    body = {"page": 0, "size": 20, "create_time_start": day0 - 86400, "create_time_end": day0}
    pj, ts = param_json(body), str(int(time.time()))
    q = {
        "app_key": cfg.doudian_app_key,
        "method": "order.searchList",
        "timestamp": ts,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": sign(cfg.doudian_app_key, cfg.doudian_app_secret, "order.searchList", pj, ts),
        "access_token": token,
    }
    return http.build_request("POST", SEARCH_LIST, params=q, content=pj.encode())


def qc_token(qc: Qianchuan) -> dict[str, Any]:
    return qc.login()


def dd_token(dd: Doudian) -> dict[str, Any]:
    return dd.login()


def test_fault_settings_are_validated(http: httpx.Client) -> None:
    before = http.get("/sandbox/faults").json()
    for bad in (
        {"kinds": ["timeout"]},  # a typo would otherwise count faults that never happen
        {"kinds": "5xx"},
        {"rate": 1.5},
        {"rate": -0.1},
        {"qps": 0},
        {"slow_seconds": -1},
        {"seed": "x"},
        {"speed": 2},
    ):
        r = http.post("/sandbox/faults", json=bad)
        assert r.status_code == 400, bad
        assert r.json()["error"]
    assert http.get("/sandbox/faults").json() == before


# ---- each kind, forced ---------------------------------------------------------------------
def test_5xx_is_a_bare_gateway_error(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan, dd: Doudian
) -> None:
    qt, dt = qc_token(qc)["access_token"], dd_token(dd)["access_token"]
    set_faults(http, rate=1.0, kinds=["5xx"])
    for req, status in (
        (qc_request(http, server, qt), 502),
        (dd_request(http, server, dt), 503),
    ):
        r = http.send(req)
        assert r.status_code == status
        assert not r.headers["content-type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.content)


def test_rate_limit_fault_is_an_error_code_with_http_200(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan, dd: Doudian
) -> None:
    qt, dt = qc_token(qc)["access_token"], dd_token(dd)["access_token"]
    set_faults(http, rate=1.0, kinds=["rate_limit"])
    r = http.send(qc_request(http, server, qt))
    assert r.status_code == 200
    assert r.json()["code"] == 40100
    assert r.json()["request_id"]
    r = http.send(dd_request(http, server, dt))
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == 60000
    assert body["sub_code"] == "isv.rate-limit"


def test_slow_fault_waits_at_least_slow_seconds(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan, dd: Doudian
) -> None:
    qt, dt = qc_token(qc)["access_token"], dd_token(dd)["access_token"]
    set_faults(http, rate=1.0, kinds=["slow"], slow_seconds=0.5)
    for req, ok in ((qc_request(http, server, qt), 0), (dd_request(http, server, dt), 10000)):
        t0 = time.perf_counter()
        r = http.send(req)
        assert time.perf_counter() - t0 >= 0.5
        assert r.status_code == 200
        assert r.json()["code"] == ok  # slow, but a complete answer
    # a client whose timeout is shorter than the delay sees a read timeout
    with httpx.Client(base_url=server.url, timeout=0.2) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.send(qc_request(impatient, server, qt))
        with pytest.raises(httpx.ReadTimeout):
            impatient.send(dd_request(impatient, server, dt))


def _assert_truncated_envelope(content: bytes, first_key: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)
    text = content.decode("utf-8", errors="ignore")  # the cut may split a multi-byte character
    assert text.startswith('{"code":')
    assert f'"{first_key}"' in text
    assert len(content) > 10


def test_truncated_fault_is_a_prefix_of_a_valid_envelope(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan, dd: Doudian
) -> None:
    qt, dt = qc_token(qc)["access_token"], dd_token(dd)["access_token"]
    # the full answers, for comparison (the request ids differ, the data does not)
    full_qc = http.send(room_get_request(http, server, qt)).content
    full_dd = http.send(dd_request(http, server, dt)).content
    set_faults(http, rate=1.0, kinds=["truncated"])
    cut_qc = http.send(room_get_request(http, server, qt))
    cut_dd = http.send(dd_request(http, server, dt))
    for cut, full, first_key in (
        (cut_qc, full_qc, "message"),
        (cut_dd, full_dd, "msg"),
    ):
        assert cut.status_code == 200
        _assert_truncated_envelope(cut.content, first_key)
        assert len(cut.content) < len(full)
        # same bytes up to the request id / log id, which is the only part that changes
        head = cut.content.split(b'"request_id"' if first_key == "message" else b'"log_id"')[0]
        assert full.startswith(head)
        # and the remainder after the id is a prefix of the full answer's remainder
        tail_cut = cut.content.split(b'","data":', 1)
        tail_full = full.split(b'","data":', 1)
        assert len(tail_cut) == 2  # the cut falls inside the data, past the envelope's head
        assert tail_full[1].startswith(tail_cut[1])


def test_revoke_kills_the_token_for_good_and_a_refresh_recovers(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan, dd: Doudian
) -> None:
    qtok, dtok = qc_token(qc), dd_token(dd)
    set_faults(http, rate=1.0, kinds=["revoke"])
    r = http.send(qc_request(http, server, qtok["access_token"]))
    assert r.status_code == 200
    assert r.json()["code"] == 40105
    r = http.send(dd_request(http, server, dtok["access_token"]))
    assert r.status_code == 200
    assert (r.json()["code"], r.json()["sub_code"]) == (40003, "isv.access-token-no-existed")

    set_faults(http, rate=0.0)
    # still dead without any fault
    assert http.send(qc_request(http, server, qtok["access_token"])).json()["code"] == 40105
    body = http.send(dd_request(http, server, dtok["access_token"])).json()
    assert (body["code"], body["sub_code"]) == (40003, "isv.access-token-no-existed")

    # refreshing gives tokens that work
    new_qc = qc.refresh(qtok["refresh_token"])
    assert new_qc["code"] == 0, new_qc
    assert new_qc["data"]["access_token"] != qtok["access_token"]
    assert http.send(qc_request(http, server, new_qc["data"]["access_token"])).json()["code"] == 0
    new_dd = dd.call(
        "token.refresh", {"grant_type": "refresh_token", "refresh_token": dtok["refresh_token"]}
    )
    assert new_dd["code"] == 10000, new_dd
    assert new_dd["data"]["access_token"] != dtok["access_token"]
    body = http.send(dd_request(http, server, new_dd["data"]["access_token"])).json()
    assert body["code"] == 10000, body


def test_token_endpoints_never_get_faults(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan, dd: Doudian
) -> None:
    set_faults(http, rate=1.0, kinds=["5xx", "rate_limit", "slow", "truncated", "revoke"])
    http.post("/sandbox/stats")
    for _ in range(5):
        tok = qc.login()  # consent + code exchange
        refreshed = qc.refresh(tok["refresh_token"])
        assert refreshed["code"] == 0, refreshed
        accounts = http.get(
            "/open_api/oauth2/advertiser/get/",
            params={"access_token": refreshed["data"]["access_token"]},
        )
        assert accounts.json()["code"] == 0
        dtok = dd.login()
        again = dd.call(
            "token.refresh", {"grant_type": "refresh_token", "refresh_token": dtok["refresh_token"]}
        )
        assert again["code"] == 10000, again
    st = http.get("/sandbox/stats").json()
    assert st["faults_injected"] == {}
    assert st["total_requests"] == 5 * 6


# ---- a partial rate -------------------------------------------------------------------------
def _classify(r: httpx.Response) -> str:
    if r.status_code >= 500:
        return "5xx"
    try:
        body = r.json()
    except json.JSONDecodeError:
        return "truncated"
    if body["code"] in (40100, 60000):
        return "rate_limit"
    assert body["code"] in (0, 10000), body
    return "ok"


def test_partial_fault_rate_and_stats(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan, dd: Doudian
) -> None:
    qt, dt = qc_token(qc)["access_token"], dd_token(dd)["access_token"]
    rate, n_each = 0.3, 70
    set_faults(http, rate=rate, kinds=["5xx", "rate_limit", "truncated"], seed=11)
    http.post("/sandbox/stats")
    seen: dict[str, int] = {}
    room = _live_room(server)
    makers: tuple[Callable[[], httpx.Request], ...] = (
        lambda: qc_request(http, server, qt),
        lambda: qc_request(http, server, qt, ROOM_DETAIL, room_id=room),
        lambda: dd_request(http, server, dt),
    )
    for _ in range(n_each):
        for make in makers:
            kind = _classify(http.send(make()))
            seen[kind] = seen.get(kind, 0) + 1
    n = n_each * len(makers)
    faults = n - seen.get("ok", 0)
    sd = math.sqrt(n * rate * (1 - rate))
    assert abs(faults - n * rate) <= 4 * sd, (faults, n, seen)

    st = http.get("/sandbox/stats").json()
    assert st["requests"] == {AWEME_AUTH: n_each, ROOM_DETAIL: n_each, SEARCH_LIST: n_each}
    assert st["total_requests"] == n
    injected = st["faults_injected"]
    assert sum(injected.values()) == faults
    for kind in ("5xx", "rate_limit", "truncated"):
        assert injected.get(kind, 0) == seen.get(kind, 0), (injected, seen)
        assert injected.get(kind, 0) > 0  # each kind shows up at this size
    # stats reset by POST
    assert http.post("/sandbox/stats").json()["total_requests"] == 0


def _live_room(server: RunningSandbox) -> int:
    sb = server.sandbox
    rooms = sb.world.account_sessions(sb.world.accounts[0], TODAY)
    return int(next(s.room_id for s in rooms if s.start_ts <= sb.now_ts()))


# ---- per-app QPS limit ------------------------------------------------------------------------
def _burst(
    http: httpx.Client, make: Callable[[], httpx.Request], n: int
) -> tuple[list[float], list[int], float]:
    t0 = time.perf_counter()
    ok_times: list[float] = []
    codes: list[int] = []
    for _ in range(n):
        r = http.send(make())
        assert r.status_code == 200
        code = r.json()["code"]
        codes.append(code)
        if code in (0, 10000):
            ok_times.append(time.perf_counter() - t0)
    return ok_times, codes, time.perf_counter() - t0


@pytest.mark.parametrize("side", ["qianchuan", "doudian"])
def test_qps_limit_per_app(
    side: str, http: httpx.Client, server: RunningSandbox, qc: Qianchuan, dd: Doudian
) -> None:
    token = qc_token(qc)["access_token"] if side == "qianchuan" else dd_token(dd)["access_token"]
    limited = 40100 if side == "qianchuan" else 60000

    def make() -> httpx.Request:
        if side == "qianchuan":
            return qc_request(http, server, token)
        return dd_request(http, server, token)

    qps = 5
    set_faults(http, qps=qps)
    http.post("/sandbox/stats")
    ok_times, codes, elapsed = _burst(http, make, 30)
    windows = math.ceil(elapsed)  # the burst normally takes well under a second
    assert len(ok_times) <= qps * windows + 1, (len(ok_times), elapsed)
    assert len(ok_times) >= qps  # the first `qps` always get through
    # no sliding one-second window holds more than qps successes (+1 for the edge); client
    # timestamps jitter, so the window checked is a bit shorter than the server's
    for i, t in enumerate(ok_times):
        in_window = sum(1 for u in ok_times[i:] if u - t < 0.8)
        assert in_window <= qps + 1
    assert set(codes) <= {0, 10000, limited}
    assert codes.count(limited) == 30 - len(ok_times)
    st = http.get("/sandbox/stats").json()
    assert sum(st["rate_limited"].values()) == 30 - len(ok_times)
    assert st["faults_injected"] == {}  # the QPS limit is not a random fault

    time.sleep(1.1)
    ok_after, codes_after, _ = _burst(http, make, qps)
    assert len(ok_after) == qps, codes_after
