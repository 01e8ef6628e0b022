"""The poller's request budget (unit tests with a stand-in client: one layer, no HTTP)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

import pytest

from livekit.monitor.poll import Poller
from livekit.sandbox.world import CHINA_TZ

AT = datetime(2026, 11, 28, 21, 0, tzinfo=CHINA_TZ)


class FakeHttp:
    def __init__(self) -> None:
        self.event_hooks: dict[str, list[Any]] = {}


class FakeQianchuan:
    def __init__(self, awemes: int, on_air: dict[int, int]) -> None:
        self.awemes_ = awemes
        self.on_air = on_air  # aweme index -> rooms on air
        self.calls: list[tuple[str, int]] = []
        self.http = FakeHttp()

    async def _sent(self, kind: str, key: int) -> None:
        """What httpx does for every request: the poller counts them in a request hook."""
        self.calls.append((kind, key))
        for hook in self.http.event_hooks.get("request", []):
            await hook(None)

    async def advertisers(self) -> list[dict[str, Any]]:
        await self._sent("advertisers", 0)
        return [{"advertiser_id": 1}]

    async def awemes(self, advertiser_id: int) -> list[dict[str, Any]]:
        await self._sent("awemes", advertiser_id)
        return [{"aweme_id": 100 + i, "aweme_name": f"号{i}"} for i in range(self.awemes_)]

    async def rooms(self, adv: int, aweme: int, day: date, fields: Any, status: str) -> list[Any]:
        await self._sent("rooms", aweme)
        n = self.on_air.get(aweme - 100, 0)
        return [
            {
                "room_id": aweme * 1000 + k,
                "room_status": "LIVING",
                "room_title": f"场{aweme}-{k}",
                "aweme_id": aweme,
                "aweme_name": f"号{aweme - 100}",
                "start_time": "2026-11-28 20:30:00",
                "total_live_watch_cnt": 10,
            }
            for k in range(n)
        ]

    async def room_products(self, adv: int, room_id: int, fields: Any) -> list[Any]:
        await self._sent("products", room_id)
        return []


class FakeClient:
    def __init__(self, qc: FakeQianchuan) -> None:
        self.qianchuan = qc
        self.http = qc.http


async def clock() -> datetime:
    return AT


def run_ticks(poller: Poller, n: int) -> list[Any]:
    async def go() -> list[Any]:
        out = []
        for _ in range(n):
            out.append(await poller.poll())
        return out

    return asyncio.run(go())


def test_idle_accounts_are_listed_once_a_minute_and_products_share_the_rest() -> None:
    qc = FakeQianchuan(awemes=10, on_air={0: 2, 1: 2})
    poller = Poller(FakeClient(qc), clock, request_budget=None)  # type: ignore[arg-type]
    poller.idle_every = 3
    run_ticks(poller, 7)
    listed = [a for kind, a in qc.calls if kind == "rooms"]
    # ticks 1..7: the 2 active accounts every tick, the 8 idle ones at ticks 1, 4 and 7
    assert listed.count(100) == 7
    assert listed.count(105) == 3
    assert len(listed) == 7 * 2 + 3 * 8
    assert sum(1 for kind, _ in qc.calls if kind == "products") == 7 * 4


def test_budget_round_robins_products_and_warns_when_rooms_go_stale() -> None:
    qc = FakeQianchuan(awemes=2, on_air={0: 6, 1: 6})  # 12 rooms on air
    poller = Poller(FakeClient(qc), clock, request_budget=5)  # type: ignore[arg-type]
    snaps = run_ticks(poller, 4)
    # tick 1 spends 2 on discovery and 2 on room lists: 1 product list; later ticks 3
    assert [len(s.product_rooms) for s in snaps] == [1, 3, 3, 3]
    assert all(s.requests <= 5 for s in snaps)
    polled = [r for s in snaps for r in s.product_rooms]
    assert len(set(polled)) == len(polled)  # the longest-waiting first: nobody twice yet
    # two rooms still never refreshed after 4 ticks: the monitor says so
    assert any("请求配额不足" in e for e in snaps[-1].errors)
    assert not any("请求配额不足" in e for e in snaps[0].errors)


@pytest.mark.parametrize(
    ("budget", "requests", "seconds", "expected"),
    [
        (90, 90, 11.3, int(90 * 0.9 * 10 / 11.3)),  # overran: shrink in proportion
        (90, 90, 8.0, 90),  # on time: keep
        (50, 40, 5.0, 56),  # early and below the fixed budget: grow back
        (89, 60, 5.0, 90),  # …never past it
    ],
)
def test_monitor_fits_its_budget_to_the_rate_the_api_allowed(
    budget: int, requests: int, seconds: float, expected: int
) -> None:
    from livekit.monitor.run import Monitor

    m = Monitor.__new__(Monitor)
    m.interval_s = 10.0
    m._fixed_budget = 90
    m.poller = Poller(FakeClient(FakeQianchuan(1, {})), clock, request_budget=budget)  # type: ignore[arg-type]
    m._calibrate(requests, seconds)
    assert m.poller.request_budget == expected
