"""A client that adapts to the API it meets (issue 10, point 1; "What it must show" point 1).

Unit tests of the adaptive (AIMD) rate without the network; the deadline's one error line; the
token read after the wait; the report page size stepping down once; and 30-day syncs against a
sandbox whose real limits are below ``LIVEKIT_QPS`` (per platform and on one endpoint), with
faults, counts sent as floats and short-lived tokens, compared row by row with a clean sync.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from polars.testing import assert_frame_equal

from livekit.api import Client
from livekit.api.errors import RateLimited
from livekit.api.http import (
    CUT_FRACTION,
    DECREASE,
    EVIDENCE_WINDOWS,
    PROBE_WINDOWS,
    RATE_FLOOR,
    RateControl,
    RateLimiter,
    Ticket,
    call_with_token,
    with_retries,
)
from livekit.api.qianchuan import ADVERTISER_REPORT_PATH, ROOM_FLOW_PATH, QianchuanClient
from livekit.api.runner import run
from livekit.ingest.run import sync_async
from livekit.jobs import SandboxSession, sandbox_session
from livekit.sandbox.config import Faults, Limits, TokenLifetimes
from livekit.sandbox.server import RunningSandbox
from tests.helpers.api import logged_in
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import DATASETS, make_settings, read_all

END = TODAY - timedelta(days=1)  # closed days only: the sandbox clock may run during a sync
START = END - timedelta(days=29)  # 30 days
FLOW = "/open_api/" + ROOM_FLOW_PATH
SCALE = 0.05  # a small shop: few 抖店 pages; 巨量千川 still makes one room list per day


def settings_for_tests(**changes: Any) -> Any:
    base = {"retry_wait_initial": 0.001, "retry_wait_max": 0.01, "retry_attempts": 2}
    base.update(changes)
    from livekit.config import load_settings

    return load_settings(**base)


# ---- the adaptive rate, without the network ------------------------------------------------
def test_repeated_rate_limits_cut_the_rate_once_per_rate() -> None:
    limiter = RateLimiter(10)
    assert (limiter.rate, limiter.capacity) == (10, 10)
    for _ in range(7):  # seven answers accepted within the last window
        _clean(limiter)
    later = 1e12  # a request sent after any cut
    refusals = 1
    while not limiter.rate_limited(sent_at=later):  # one refusal is no evidence
        refusals += 1
        assert refusals < 20
    # cut at CUT_FRACTION of two windows' worth of answers (20)
    assert refusals == math.ceil(CUT_FRACTION * 2 * 10)
    # to what the server accepted in the last window, if below the multiplicative decrease
    assert limiter.rate == 7
    assert limiter.capacity == 7
    # an answer to a request sent before that cut says nothing about the new rate
    assert not limiter.rate_limited(sent_at=0.0)
    assert limiter.rate == 7
    # refused again within two windows of the cut: those refusals may be the ones behind it
    assert not limiter.rate_limited(sent_at=later)
    # later, with the evidence still there: cut again, never deeper than DECREASE² at once
    # (answers to the accepted ones may be in flight)
    limiter._clean_times.clear()
    limiter._cut_at -= 2 * limiter.span
    assert limiter.rate_limited(sent_at=later)
    assert limiter.rate == pytest.approx(7 * DECREASE**2)


def test_isolated_rate_limits_among_clean_answers_do_not_cut() -> None:
    limiter = RateLimiter(4)
    for _ in range(50):  # one refusal in seven at any rate: noise, not a limit
        for _ in range(6):
            _clean(limiter)
        assert not limiter.rate_limited(sent_at=1e12)
    assert limiter.rate == 4


def _clean(limiter: RateLimiter) -> None:
    """One clean answer while the limiter's window is full (as under a backlog of requests)."""
    limiter._saturated_at = time.monotonic()
    limiter.clean(sent_at=1e12)


def _cut(limiter: RateLimiter) -> None:
    """Refusals in a row until the limiter cuts (a handful: see CUT_FRACTION)."""
    for _ in range(2 * EVIDENCE_WINDOWS):
        if limiter.rate_limited(sent_at=1e12):
            return
    raise AssertionError("refusals in a row never cut the rate")


def test_the_rate_climbs_back_slowly_and_never_past_the_ceiling() -> None:
    limiter = RateLimiter(10)
    _cut(limiter)  # limited at 10: the level 10 is approached slowly
    clean = 0
    while limiter.capacity < 9:
        _clean(limiter)
        clean += 1
    fast = clean  # from 5.6 to 9: about one request per second per window of clean answers
    assert fast <= 3 * 9
    while limiter.capacity < 10:
        _clean(limiter)
        clean += 1
    # the last step, to the level that was limited, takes about PROBE_WINDOWS windows of
    # answers (it starts a little above 9)
    assert clean - fast >= PROBE_WINDOWS * 8
    for _ in range(10_000):
        _clean(limiter)
    assert limiter.rate == 10  # the ceiling: LIVEKIT_QPS


def test_a_level_limited_again_is_probed_less_often() -> None:
    def answers_to_reach(limiter: RateLimiter, capacity: int) -> int:
        n = 0
        while limiter.capacity < capacity:
            _clean(limiter)
            n += 1
        return n

    limiter = RateLimiter(10)
    _cut(limiter)
    first = answers_to_reach(limiter, 10)
    assert limiter.probing
    assert limiter.rate_limited(sent_at=1e12)  # limited at 10 again: at once, no evidence needed
    second = answers_to_reach(limiter, 10)
    assert second > 1.5 * first


def test_a_rate_not_used_does_not_climb() -> None:
    async def main() -> RateLimiter:
        limiter = RateLimiter(10, window=0.01, margin=0.0)
        _cut(limiter)
        assert limiter.capacity < 9
        for _ in range(100):  # one request per window: the window (7) is never full
            async with limiter.slot() as sent_at:
                pass
            limiter.clean(sent_at)
            await asyncio.sleep(0.011)
        return limiter

    assert run(main()).rate == pytest.approx(10 * DECREASE**2)  # where the cut left it


def test_the_rate_never_goes_below_the_floor() -> None:
    limiter = RateLimiter(10)
    for _ in range(100):
        limiter.cut()
    assert limiter.rate == RATE_FLOOR
    assert limiter.capacity == 1
    assert limiter.span == pytest.approx(1 / RATE_FLOOR + limiter.margin)
    assert RateLimiter(0.1).floor == 0.1  # a ceiling below the floor wins


def test_a_cut_capacity_holds_in_every_sliding_window() -> None:
    from tests.helpers.api import max_in_window

    async def main() -> list[float]:
        limiter = RateLimiter(8, window=0.2, margin=0.0)
        limiter.cut()  # 8 -> 4.5 (nothing accepted lately): 4 per 0.2 s
        return [await limiter.acquire() for _ in range(13)]

    times = run(main())
    assert max_in_window(times, 0.2) <= 4


async def _ticket(control: RateControl, endpoint: str) -> Ticket:
    async with control.slot(endpoint) as ticket:
        return ticket


def test_a_burst_of_rate_limits_on_one_endpoint_is_not_its_own_limit() -> None:
    async def main() -> RateControl:
        control = RateControl(10, window=0.01, margin=0.0)
        for _ in range(6):  # all within one window: the upstream's burst was too big
            for _ in range(2):
                control.clean(await _ticket(control, "fast/"))
            control.rate_limited(await _ticket(control, "slow/"))
        return control

    control = run(main())
    assert control.endpoints == {}
    assert control.upstream.rate < 10


def test_rate_limits_on_many_endpoints_lower_the_upstream() -> None:
    async def main() -> RateControl:
        control = RateControl(10, window=0.01, margin=0.0)
        for endpoint in ("a/", "b/", "c/", "d/", "e/", "f/"):
            control.clean(await _ticket(control, "x/"))
            control.rate_limited(await _ticket(control, endpoint))
        return control

    control = run(main())
    assert control.endpoints == {}
    assert control.upstream.rate < 10


def test_rate_limits_on_one_endpoint_while_others_succeed_split_it_off() -> None:
    async def main() -> None:
        control = RateControl(10, window=0.01, margin=0.0)
        for _ in range(3):  # one refusal a window on one endpoint, the others clean
            for _ in range(2):
                control.clean(await _ticket(control, "fast/"))
            control.rate_limited(await _ticket(control, "slow/"))
            await asyncio.sleep(0.011)
        assert set(control.endpoints) == {"slow/"}
        own = control.endpoints["slow/"]
        assert own.rate < 10
        assert control.upstream.rate == 10  # the cuts the endpoint caused were undone
        # from now on its rate limits cut only its own rate
        before = own.rate
        for _ in range(2 * EVIDENCE_WINDOWS):
            control.rate_limited(await _ticket(control, "slow/"))
            if own.rate < before:
                break
        assert own.rate < before
        assert control.upstream.rate == 10
        # and it climbs back while clean, up to the ceiling
        for _ in range(20_000):
            own._saturated_at = time.monotonic()  # as if requests kept it full
            control.clean(Ticket("slow/", time.monotonic()))
        assert own.rate == 10

    run(main())


def test_the_deadline_ends_in_one_line_naming_the_allowed_rate() -> None:
    calls: list[int] = []

    async def main() -> None:
        control = RateControl(10)
        for _ in range(3):  # three clean answers in the last second: the server allows ~3/s
            async with control.slot("other/") as ticket:
                pass
            control.clean(ticket)

        async def limited() -> None:
            calls.append(1)
            raise RateLimited("qianchuan", "p/", 40100, "too many requests")

        settings = settings_for_tests(rate_limit_deadline=0.05, qps=10.0)
        await with_retries(
            limited, settings=settings, limiter=control, platform="qianchuan", endpoint="p/"
        )

    with pytest.raises(RateLimited) as info:
        run(main())
    text = str(info.value)
    assert "\n" not in text
    assert "约 3 次/秒" in text
    assert "LIVEKIT_QPS=3" in text
    assert "LIVEKIT_RATE_LIMIT_DEADLINE" in text
    assert len(calls) > 2  # rate limits did not use up LIVEKIT_RETRY_ATTEMPTS=2


def test_rate_limits_are_retried_past_the_attempt_budget() -> None:
    calls: list[int] = []

    async def sometimes() -> str:
        calls.append(1)
        if len(calls) < 6:
            raise RateLimited("doudian", "order.searchList", 60000, "访问频率超限")
        return "ok"

    out = run(
        with_retries(
            sometimes,
            settings=settings_for_tests(),
            limiter=RateControl(10),
            platform="doudian",
            endpoint="order.searchList",
        )
    )
    assert out == "ok"
    assert len(calls) == 6


# ---- the token is read after the wait -------------------------------------------------------
class CountingTokens:
    """Hands out ``tok-<requests sent so far>``: a token read before the wait would be stale."""

    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    async def access_token(self) -> str:
        return f"tok-{len(self.sent)}"

    async def refresh_after_failure(self, failed_token: str) -> str:  # pragma: no cover
        raise AssertionError("no token is rejected here")


def test_the_access_token_is_read_after_the_rate_limit_wait() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Access-Token"])
        return httpx.Response(200, json={"code": 0, "message": "OK", "data": {}})

    async def main() -> None:
        settings = settings_for_tests(qianchuan_base_url="http://127.0.0.1:1/open_api/")
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = QianchuanClient(
                http,
                settings,
                CountingTokens(sent),
                RateControl(1, window=0.02, margin=0.0),  # one request at a time
                asyncio.Semaphore(8),
            )
            await asyncio.gather(*(client.get("p/") for _ in range(4)))

    run(main())
    # all four queued at once; each took its token only when its turn came
    assert sorted(sent) == ["tok-0", "tok-1", "tok-2", "tok-3"]


def test_call_with_token_hands_out_a_getter_not_a_token() -> None:
    reads: list[str] = []

    class Tokens:
        async def access_token(self) -> str:
            reads.append("read")
            return "t"

        async def refresh_after_failure(self, failed_token: str) -> str:  # pragma: no cover
            return "t2"

    async def send_with(get_token: Any) -> str:
        assert reads == []  # nothing read before the sender asks (after its wait)
        return str(await get_token())

    out = run(
        call_with_token(
            send_with,
            Tokens(),
            settings=settings_for_tests(),
            limiter=RateControl(10),
            platform="qianchuan",
            endpoint="p/",
        )
    )
    assert out == "t"
    assert reads == ["read"]


# ---- report page size --------------------------------------------------------------------
@pytest.fixture
def small_pages(tmp_path: Path) -> Iterator[tuple[RunningSandbox, Any]]:
    config = make_config(limits=Limits(report_page_size=500))
    with logged_in(config, tmp_path) as pair:
        yield pair


def _report(settings: Any, page_sizes: dict[str, int] | None) -> tuple[int, dict[str, int]]:
    async def main() -> tuple[int, dict[str, int]]:
        async with Client(settings) as client:
            qc = client.qianchuan
            if page_sizes is not None:
                qc = QianchuanClient(
                    client.http,
                    settings,
                    client.qianchuan_tokens,
                    RateControl(settings.qps),
                    asyncio.Semaphore(4),
                    page_sizes=page_sizes,
                )
            adv = (await qc.advertisers())[0]["advertiser_id"]
            rows = []
            for _ in range(2):  # the second call remembers the size that worked
                rows = await qc.advertiser_report(adv, START, END, ["stat_cost"])
            return len(rows), dict(qc.page_sizes)

    return run(main())


REPORT = "/open_api/" + ADVERTISER_REPORT_PATH


def test_report_page_size_is_500_by_default(small_pages: tuple[RunningSandbox, Any]) -> None:
    server, settings = small_pages
    server.sandbox.reset_stats()
    rows, sizes = _report(settings, None)
    assert rows == 30
    assert sizes[ADVERTISER_REPORT_PATH] == 500
    assert server.sandbox.stats.requests[REPORT] == 2  # two calls, nothing refused


def test_a_refused_page_size_steps_down_once_and_is_remembered(
    small_pages: tuple[RunningSandbox, Any],
) -> None:
    server, settings = small_pages
    server.sandbox.reset_stats()
    rows, sizes = _report(settings, {ADVERTISER_REPORT_PATH: 1000})
    assert rows == 30
    assert sizes[ADVERTISER_REPORT_PATH] == 500
    assert server.sandbox.stats.requests[REPORT] == 3  # 1000 refused (40001), then 500 twice


# ---- 30-day syncs under limits the client does not know --------------------------------------
def _sync(session: SandboxSession) -> None:
    run(
        sync_async(
            session.settings,
            START,
            END,
            now=NOW,
            viewer_export_url=session.viewer_export_url,
        )
    )


LIMITS: dict[str, Any] = {
    "qianchuan_qps": 4,
    "doudian_qps": 4,
    "endpoint_qps": {FLOW: 2},
    "number_shape": "float",  # counts sent as floats (34397.0)
}
CONFIGS: dict[str, Any] = {
    "reference": make_config(scale=SCALE),  # unlimited, fault-free, native numbers
    "faults": make_config(
        scale=SCALE,
        faults=Faults(**LIMITS, rate=0.2, slow_seconds=1.5, seed=5),
        limits=Limits(report_page_size=500),
    ),
    "short_tokens": make_config(
        scale=SCALE,
        speed=1.0,  # real time: tokens expire while requests wait
        faults=Faults(**LIMITS, rate=1 / 7, kinds=("rate_limit",), seed=3),
        lifetimes=TokenLifetimes(qianchuan_access=6.0, doudian_access=6.0),
        limits=Limits(report_page_size=500),
    ),
}


def _one_sync(home: Path, name: str) -> dict[str, Any]:
    """Sync the 30 days from the sandbox ``CONFIGS[name]``; the stats and what was stored."""
    if name == "reference":
        settings = make_settings(home)
    else:  # the client does not know the limits: LIVEKIT_QPS=10 > 4
        settings = make_settings(home, qps=10.0, http_timeout=0.5)
    with sandbox_session(settings, CONFIGS[name]) as session:
        _sync(session)
        stats: dict[str, Any] = httpx.get(session.url + "/sandbox/stats", timeout=10).json()
    return {"stats": stats, "stored": read_all(home / "sandbox", START, END)}


@pytest.fixture(scope="module")
def syncs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The three syncs at once, each against its own sandbox (the limited ones mostly wait, so
    running them side by side costs one sync's time, not three)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(CONFIGS)) as pool:
        futures = {
            name: pool.submit(_one_sync, tmp_path_factory.mktemp(name), name) for name in CONFIGS
        }
        return {name: future.result() for name, future in futures.items()}


def _same_as_reference(syncs: dict[str, Any], name: str) -> None:
    reference, stored = syncs["reference"]["stored"], syncs[name]["stored"]
    for dataset in DATASETS:
        assert stored[dataset].height > 0, dataset
        assert_frame_equal(stored[dataset], reference[dataset])


@pytest.mark.slow
def test_a_sync_under_unknown_limits_faults_and_float_counts_equals_a_clean_one(
    syncs: dict[str, Any],
) -> None:
    st = syncs["faults"]["stats"]
    assert sum(st["rate_limited"].values()) > 0  # the real limits were met
    assert sum(st["faults_injected"].values()) > 20, st["faults_injected"]
    assert st["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}
    _same_as_reference(syncs, "faults")


@pytest.mark.slow
def test_a_sync_with_six_second_tokens_and_frequent_rate_limits_finishes(
    syncs: dict[str, Any],
) -> None:
    st = syncs["short_tokens"]["stats"]
    assert st["faults_injected"]["rate_limit"] > 20
    assert st["refreshes"]["qianchuan"] > 3  # tokens did expire during the sync
    # (抖店's few order pages may all fit in its first token's six seconds: no count asserted)
    assert st["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}
    _same_as_reference(syncs, "short_tokens")


# ---- the sandbox's serve options -----------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--endpoint-qps", "/order/searchList"], "--endpoint-qps"),
        (["--endpoint-qps", "order/searchList=2"], "--endpoint-qps"),
        (["--endpoint-qps", "/order/searchList=0"], "--endpoint-qps"),
        (["--endpoint-qps", "/order/searchList=nan"], "--endpoint-qps"),
        (["--qianchuan-qps", "0"], "--qianchuan-qps"),
        (["--doudian-qps", "inf"], "--doudian-qps"),
        (["--report-page-size", "0"], "--report-page-size"),
    ],
)
def test_bad_limit_options_are_one_chinese_line(args: list[str], names: str) -> None:
    from typer.testing import CliRunner

    from livekit.cli import app

    result = CliRunner().invoke(app, ["sandbox", "serve", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("错误：")
    assert names in lines[0]
