"""HTTP machinery without the network: rate limiter, runner, retries, log redaction."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import httpx
import pytest

from livekit.api.errors import (
    ApiError,
    BadParameter,
    RateLimited,
    ReauthorizeRequired,
    UpstreamError,
    redact,
)
from livekit.api.http import (
    RateControl,
    RateLimiter,
    RedactingFilter,
    describe_transport_error,
    encode_query,
    install_log_redaction,
    parse_json_body,
    with_retries,
)
from livekit.api.runner import run
from livekit.config import load_settings
from tests.helpers.api import max_in_window

TOKEN = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"


# ---- rate limiter -------------------------------------------------------------------------
def test_rate_limiter_sliding_window_and_throughput() -> None:
    qps, duration, tasks = 40, 2.5, 60

    async def main() -> list[float]:
        limiter = RateLimiter(qps)
        sent: list[float] = []
        start = time.monotonic()

        async def worker() -> None:
            while True:
                await limiter.acquire()
                sent.append(time.monotonic() - start)

        workers = [asyncio.create_task(worker()) for _ in range(tasks)]
        await asyncio.sleep(duration)
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        return [t for t in sent if t < duration]

    sent = run(main())
    assert max_in_window(sent, 1.0) <= qps  # never more than qps in any sliding second
    assert len(sent) / duration >= 0.9 * qps  # and close to the allowed rate


def test_rate_limiter_below_one_per_second() -> None:
    async def main() -> list[float]:
        limiter = RateLimiter(4.0, window=0.25)  # 4 per quarter second
        slow = RateLimiter(0.5, window=0.1, margin=0.0)  # one per 0.2 s
        times = [await limiter.acquire() for _ in range(8)]
        slow_times = [await slow.acquire() for _ in range(3)]
        assert slow_times[2] - slow_times[0] >= 0.4 - 1e-6
        return times

    times = run(main())
    assert times[4] - times[0] >= 0.25


def test_rate_limiter_rejects_bad_qps() -> None:
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="qps"):
            RateLimiter(bad)


# ---- runner -------------------------------------------------------------------------------
async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def sync_api(x: int) -> int:
    """What a notebook-facing synchronous function does."""
    return run(_double(x))


def test_run_without_a_loop() -> None:
    assert sync_api(2) == 4


def test_run_inside_a_running_loop() -> None:
    async def notebook_cell() -> tuple[int, int]:
        outer = asyncio.get_running_loop()
        seen: list[Any] = []

        async def where() -> int:
            seen.append((asyncio.get_running_loop(), threading.get_ident()))
            return 1

        value = sync_api(21) + run(where())
        return value, int(seen[0][0] is not outer)

    assert asyncio.run(notebook_cell()) == (43, 1)


def test_run_propagates_errors_inside_a_loop() -> None:
    async def fail() -> None:
        raise BadParameter("qianchuan", "x/", 40001, "bad")

    async def cell() -> None:
        run(fail())

    with pytest.raises(BadParameter):
        asyncio.run(cell())


# ---- retries ------------------------------------------------------------------------------
def fast_settings(**changes: Any) -> Any:
    base = {"retry_wait_initial": 0.001, "retry_wait_max": 0.01, "retry_attempts": 4}
    base.update(changes)
    return load_settings(**base)


def test_retries_transient_errors_then_succeeds() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise UpstreamError("qianchuan", "p/", 502, "HTTP 502")
        if len(calls) == 2:
            raise RateLimited("qianchuan", "p/", 40100, "too many")
        return "ok"

    async def main() -> str:
        return await with_retries(
            flaky,
            settings=fast_settings(),
            limiter=RateControl(100),
            platform="qianchuan",
            endpoint="p/",
        )

    assert run(main()) == "ok"
    assert len(calls) == 3


def test_retries_give_up_after_attempts_and_do_not_retry_other_errors() -> None:
    calls: list[int] = []

    async def always_down() -> None:
        calls.append(1)
        raise UpstreamError("doudian", "order.searchList", 50000, "系统错误")

    with pytest.raises(UpstreamError):
        run(
            with_retries(
                always_down,
                settings=fast_settings(),
                limiter=None,
                platform="doudian",
                endpoint="order.searchList",
            )
        )
    assert len(calls) == 4

    for error in (
        BadParameter("qianchuan", "p/", 40001, "bad"),
        ReauthorizeRequired("qianchuan", "p/", 40107, "dead"),
    ):
        calls.clear()

        async def fails(error: ApiError = error) -> None:
            calls.append(1)
            raise error

        with pytest.raises(type(error)):
            run(
                with_retries(
                    fails,
                    settings=fast_settings(),
                    limiter=None,
                    platform="qianchuan",
                    endpoint="p/",
                )
            )
        assert len(calls) == 1


# ---- bodies and transport errors ------------------------------------------------------------
def response(status: int, content: bytes) -> httpx.Response:
    request = httpx.Request("GET", f"http://127.0.0.1/x?access_token={TOKEN}")
    return httpx.Response(status, content=content, request=request)


def test_parse_json_body_types() -> None:
    big = b'{"code":0,"data":{"id":7713027512866570087}}'
    assert parse_json_body(response(200, big), platform="qianchuan", endpoint="x")["data"] == {
        "id": 7713027512866570087
    }
    with pytest.raises(UpstreamError, match="截断"):
        parse_json_body(response(200, big[:20]), platform="qianchuan", endpoint="x")
    with pytest.raises(UpstreamError, match="502"):
        parse_json_body(response(502, b"<html>"), platform="qianchuan", endpoint="x")
    with pytest.raises(RateLimited):
        parse_json_body(response(429, b""), platform="doudian", endpoint="x")
    with pytest.raises(ApiError, match="LIVEKIT_DOUDIAN_BASE_URL"):
        parse_json_body(response(404, b"nope"), platform="doudian", endpoint="x")


def test_transport_errors_described_by_type_only() -> None:
    request = httpx.Request("POST", f"http://127.0.0.1/x?access_token={TOKEN}&sign=abc")
    assert describe_transport_error(httpx.ReadTimeout("boom", request=request)) == "读取超时"
    assert describe_transport_error(httpx.ConnectError("boom", request=request)) == "无法连接服务器"
    assert "TransportError" in describe_transport_error(httpx.TransportError("x"))


def test_encode_query() -> None:
    from datetime import date

    q = encode_query(
        {
            "fields": ["stat_cost", "ctr"],
            "filtering": {"marketing_goal": "LIVE_PROM_GOODS", "room_ids": [7713027512866570087]},
            "advertiser_id": 2416112760802779,
            "day": date(2026, 11, 28),
            "flag": True,
            "skip": None,
        }
    )
    assert q == {
        "fields": '["stat_cost","ctr"]',
        "filtering": '{"marketing_goal":"LIVE_PROM_GOODS","room_ids":[7713027512866570087]}',
        "advertiser_id": "2416112760802779",
        "day": "2026-11-28",
        "flag": "true",
    }


# ---- redaction ----------------------------------------------------------------------------
def test_redact_patterns() -> None:
    text = (
        f"POST http://h/order/searchList?app_key=7&method=order.searchList&sign_method=hmac-sha256"
        f"&sign=deadbeef&access_token={TOKEN}&refresh_token=r1 "
        f'{{"secret": "{TOKEN}", "refresh_token":"abc", "app_id": 1}} app_secret=zz'
    )
    out = redact(text)
    for leaked in (TOKEN, "deadbeef", "r1 ", '"abc"', "zz"):
        assert leaked not in out
    assert "sign_method=hmac-sha256" in out
    assert "app_key=7" in out
    assert '"app_id": 1' in out


def test_httpx_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    for name in ("httpx", "httpcore", "httpcore.http11", "httpcore.connection"):
        filters = [f for f in logging.getLogger(name).filters if isinstance(f, RedactingFilter)]
        assert len(filters) == 1, name

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 0})

    with caplog.at_level(logging.DEBUG), httpx.Client(transport=httpx.MockTransport(handler)) as c:
        c.get("http://127.0.0.1/x", params={"access_token": TOKEN, "sign": "feedface"})
        logging.getLogger("httpcore.http11").debug("headers %s", f"access_token={TOKEN}")
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in text
    assert "feedface" not in text


def test_error_messages_are_chinese_and_redacted() -> None:
    e = BadParameter(
        "qianchuan",
        "v1.0/qianchuan/today_live/room/get/",
        40001,
        f"fields: 不支持的字段 access_token={TOKEN}",
        request_id="20261128210000ABC",
    )
    text = str(e)
    assert text.startswith("巨量千川接口 v1.0/qianchuan/today_live/room/get/ 返回错误 40001：")
    assert "request_id 20261128210000ABC" in text
    assert TOKEN not in text
    assert TOKEN not in repr(e)
    r = ReauthorizeRequired("doudian", "order.searchList", 30001, "无权限", request_id="L1")
    assert "log_id L1" in str(r)
    assert "livekit auth login doudian" in str(r)
    # pickling keeps the attributes (errors may cross process boundaries)
    import pickle

    again = pickle.loads(pickle.dumps(r))
    assert type(again) is ReauthorizeRequired
    assert (again.code, again.platform, str(again)) == (30001, "doudian", str(r))
