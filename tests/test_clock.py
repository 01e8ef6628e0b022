"""The sandbox clock: set, accelerated, frozen; live rooms grow while on air and then finish."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from livekit.sandbox.clock import Clock
from livekit.sandbox.server import RunningSandbox
from livekit.sandbox.world import CHINA_TZ
from tests.helpers.sandbox import NOW, TODAY, Qianchuan

FMT = "%Y-%m-%d %H:%M:%S"


def set_clock(http: httpx.Client, now: str | None = None, speed: float | None = None) -> Any:
    body: dict[str, Any] = {}
    if now is not None:
        body["now"] = now
    if speed is not None:
        body["speed"] = speed
    r = http.post("/sandbox/clock", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def clock_now(http: httpx.Client) -> datetime:
    body = http.get("/sandbox/clock").json()
    return datetime.strptime(body["now"], FMT).replace(tzinfo=CHINA_TZ)


@pytest.fixture(autouse=True)
def _restore_clock(http: httpx.Client) -> Iterator[None]:
    yield
    set_clock(http, NOW.strftime(FMT), 0.0)


# ---- unit: Clock ----------------------------------------------------------------------------
def test_clock_unit_set_freeze_and_speed() -> None:
    start = datetime(2026, 11, 28, 21, 0, tzinfo=CHINA_TZ)
    c = Clock(start, 0.0)
    t0 = c.timestamp()
    time.sleep(0.05)
    assert c.timestamp() == t0  # speed 0: frozen
    assert c.now() == start
    assert c.now().tzinfo is not None

    c.set(datetime(2026, 1, 2, 3, 4, 5))  # naive means China time; speed unchanged
    assert c.now() == datetime(2026, 1, 2, 3, 4, 5, tzinfo=CHINA_TZ)
    assert c.speed == 0.0

    c.set(start, 1000.0)
    time.sleep(0.1)
    advanced = c.timestamp() - start.timestamp()
    assert 90 <= advanced <= 1000  # ~100 virtual seconds; generous for slow machines

    before = c.timestamp()
    with pytest.raises(ValueError, match="speed"):
        c.set(datetime(2030, 1, 1, tzinfo=CHINA_TZ), -1.0)
    assert before <= c.timestamp() < before + 100  # a rejected change does not move the clock
    with pytest.raises(ValueError, match="speed"):
        Clock(start, -0.5)
    assert c.speed == 1000.0  # a rejected change leaves the speed alone


# ---- over HTTP --------------------------------------------------------------------------------
def test_clock_can_be_set_and_read(http: httpx.Client) -> None:
    body = set_clock(http, "2026-11-20 08:15:00", 0)
    assert body == {"now": "2026-11-20 08:15:00", "speed": 0}
    assert http.get("/sandbox/clock").json()["now"] == "2026-11-20 08:15:00"
    # bad inputs are rejected with a readable 400 and change nothing
    for bad in (
        {"now": "yesterday"},
        {"speed": -2},
        {"now": 5},
        {"now": "2030-01-01 00:00:00", "speed": -1},
    ):
        r = http.post("/sandbox/clock", json=bad)
        assert r.status_code == 400
        assert "error" in r.json()
    assert http.get("/sandbox/clock").json() == {"now": "2026-11-20 08:15:00", "speed": 0}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe{}",  # not UTF-8
        b"[1, 2]",
        b'"now"',
        b"null",
        b'{"speed": NaN}',
        b'{"speed": Infinity}',
        b'{"speed": -Infinity}',
        b'{"speed": 1e300}',
        b'{"speed": -0.5}',
        b'{"speed": "60"}',
        b'{"speed": true}',
        b'{"speed": [1]}',
        b'{"now": "9999-12-31 23:59:59", "speed": 1}',
        b'{"now": "2100-01-01 00:00:00"}',
        b'{"now": "0001-01-01 00:00:00"}',
        b'{"now": "1999-12-31 23:59:59"}',
        b'{"now": "2026-02-30 10:00:00"}',
        b'{"now": "tomorrow"}',
        b'{"now": ["2026-11-20 08:15:00"]}',
        b'{"now": {"day": 1}}',
        b'{"now": 1e30}',
    ],
)
def test_a_bad_clock_body_is_a_400_and_changes_nothing(http: httpx.Client, body: bytes) -> None:
    set_clock(http, "2026-11-20 08:15:00", 0)
    r = http.post("/sandbox/clock", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("expected {'now'")
    # the clock still answers, unchanged, and can still be set: nothing to restart
    assert http.get("/sandbox/clock").json() == {"now": "2026-11-20 08:15:00", "speed": 0}
    assert set_clock(http, "2026-11-21 09:00:00", 0)["now"] == "2026-11-21 09:00:00"


def test_clock_unit_refuses_what_would_break_it() -> None:
    start = datetime(2026, 11, 28, 21, 0, tzinfo=CHINA_TZ)
    c = Clock(start, 0.0)
    for moment, speed in [
        (datetime(9999, 12, 31, tzinfo=CHINA_TZ), 1.0),
        (datetime(1, 1, 1, tzinfo=CHINA_TZ), 0.0),
        (start, float("nan")),
        (start, float("inf")),
        (start, 1e12),
        (start, True),
    ]:
        with pytest.raises(ValueError, match=r"now|speed"):
            c.set(moment, speed)  # type: ignore[arg-type]
    assert c.now() == start
    assert c.speed == 0.0


def test_clock_accelerated(http: httpx.Client) -> None:
    set_clock(http, "2026-11-28 20:00:00", 600)
    t0 = time.perf_counter()
    first = clock_now(http)
    time.sleep(0.5)
    second = clock_now(http)
    real = time.perf_counter() - t0
    virtual = (second - first).total_seconds()
    # 0.5 s real at 600x is 5 virtual minutes; allow slow machines and 1 s display rounding
    assert 240 <= virtual <= 600 * real + 2, (virtual, real)
    # freezing keeps it where it is
    set_clock(http, speed=0)
    a = clock_now(http)
    time.sleep(0.2)
    assert clock_now(http) == a


def _evening_room(http: httpx.Client, server: RunningSandbox, token: str) -> dict[str, Any]:
    world = server.sandbox.world
    r = http.get(
        "/open_api/v1.0/qianchuan/today_live/room/get/",
        params={
            "advertiser_id": world.advertiser_id,
            "aweme_id": world.accounts[0].aweme_id,
            "date_time": TODAY.isoformat(),
            "fields": json.dumps(["total_live_watch_cnt", "live_pay_order_count_alias"]),
        },
        headers={"Access-Token": token},
    )
    body = r.json()
    assert body["code"] == 0, body
    rooms = [x for x in body["data"]["room_list"] if x["start_time"][11:13] >= "19"]
    assert len(rooms) == 1, body["data"]["room_list"]
    room: dict[str, Any] = rooms[0]
    return room


def test_live_room_grows_while_on_air_then_finishes(
    http: httpx.Client, server: RunningSandbox, qc: Qianchuan
) -> None:
    token = qc.login()["access_token"]
    set_clock(http, "2026-11-28 20:30:00", 600)  # the evening show is on air
    first = _evening_room(http, server, token)
    time.sleep(0.5)  # ~5 virtual minutes
    second = _evening_room(http, server, token)
    assert first["room_status"] == second["room_status"] == "LIVING"
    assert first["end_time"] == second["end_time"] == ""
    assert second["total_live_watch_cnt"] > first["total_live_watch_cnt"] > 0
    assert second["live_pay_order_count_alias"] >= first["live_pay_order_count_alias"]

    # past the end of the day's shows: finished, with an end time, and no longer growing
    set_clock(http, "2026-11-28 23:59:00", 0)
    done = _evening_room(http, server, token)
    assert done["room_status"] == "FINISH"
    end = datetime.strptime(done["end_time"], FMT).replace(tzinfo=CHINA_TZ)
    start = datetime.strptime(done["start_time"], FMT).replace(tzinfo=CHINA_TZ)
    assert start < end <= datetime(2026, 11, 28, 23, 59, tzinfo=CHINA_TZ)
    assert end - start > timedelta(hours=1)
    assert done["total_live_watch_cnt"] >= second["total_live_watch_cnt"]
    set_clock(http, "2026-11-28 23:59:59", 0)
    assert _evening_room(http, server, token) == done
