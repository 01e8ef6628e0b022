"""Poll the rooms on air: one room list per account and one product list per room, per tick.

The live endpoints return counters accumulated since the room went on air (watch count,
comments, product clicks, orders, GMV …). A poll turns them into one row per room and one row per
product, stamped with the time they were read; :mod:`livekit.monitor.live` turns successive
snapshots into flows and rates.

Requests per tick: one ``today_live/room/get`` (room_status=LIVING, up to 100 rooms a page) per
authorized 抖音号, plus one ``product_list`` per room on air. Accounts are discovered once and
refreshed every ``discover_every_s``. All calls go through the client's shared rate limiter, so
the monitor never exceeds ``LIVEKIT_QPS`` even with many rooms on air.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from livekit.api.client import Client
from livekit.api.errors import ReauthorizeRequired
from livekit.ingest import convert
from livekit.store.datasets import (
    LIVE_COUNTERS,
    LIVE_PRODUCT_COUNTERS,
    LIVE_PRODUCT_SNAPSHOTS,
    LIVE_SNAPSHOTS,
    TIME,
)
from livekit.vocab.errors import LivekitError

log = logging.getLogger("livekit.monitor")

ROOM_FIELDS = tuple(LIVE_COUNTERS)
PRODUCT_FIELDS = tuple(k for k in LIVE_PRODUCT_COUNTERS)

Clock = Callable[[], Awaitable[datetime]]


@dataclass(frozen=True)
class Account:
    advertiser_id: int
    aweme_id: int
    aweme_name: str


@dataclass
class Snapshot:
    """What one poll saw: rooms on air and their products, at ``at``."""

    at: datetime
    rooms: pl.DataFrame  # LIVE_SNAPSHOTS schema
    products: pl.DataFrame  # LIVE_PRODUCT_SNAPSHOTS schema
    requests: int = 0
    errors: list[str] = field(default_factory=list)  # Chinese, one per failed call (no secrets)
    product_rooms: set[int] = field(default_factory=set)  # rooms whose products were fetched
    failed_awemes: set[int] = field(default_factory=set)  # accounts whose room list failed


def empty_rooms() -> pl.DataFrame:
    return pl.DataFrame(schema=dict(LIVE_SNAPSHOTS.schema))


def empty_products() -> pl.DataFrame:
    return pl.DataFrame(schema=dict(LIVE_PRODUCT_SNAPSHOTS.schema))


class Poller:
    """Reads the live counters of every room on air through one :class:`Client`."""

    def __init__(
        self,
        client: Client,
        clock: Clock,
        discover_every_s: float = 600.0,
        request_budget: int | None = None,
    ) -> None:
        """``request_budget``: most requests one tick may make (None: no limit). When the
        rooms on air need more, product lists are fetched for the rooms that waited longest,
        so every room's products are still refreshed in turn and the tick keeps its pace."""
        self._client = client
        self._clock = clock
        self._discover_every_s = discover_every_s
        self.request_budget = request_budget
        # Accounts with nothing on air have their room list fetched only every ``idle_every``
        # ticks (the monitor sets it to about a minute): with many 抖音号, room lists of idle
        # accounts would otherwise eat the budget that the rooms on air need for products.
        self.idle_every = 1
        self.stale_warning_ticks = 3
        self._tick = 0
        self._active: set[int] = set()  # 抖音号 with a room on air at their last poll
        self._listed_at: dict[int, int] = {}  # 抖音号 -> tick of its last room-list poll
        self._products_polled_at: dict[int, int] = {}  # room -> tick of its last product poll
        self._accounts: list[Account] | None = None
        self._discovered_at = 0.0
        self.requests = 0  # HTTP requests sent through the client since this poller started
        client.http.event_hooks.setdefault("request", []).append(self._count)

    async def _count(self, request: object) -> None:
        self.requests += 1

    async def accounts(self, refresh: bool = False) -> list[Account]:
        """Every (advertiser, 抖音号) pair the authorization grants, cached."""
        stale = time.monotonic() - self._discovered_at > self._discover_every_s
        if self._accounts is None or refresh or stale:
            qc = self._client.qianchuan
            found: list[Account] = []
            for adv in await qc.advertisers():
                adv_id = int(adv["advertiser_id"])
                for aw in await qc.awemes(adv_id):
                    found.append(
                        Account(adv_id, int(aw["aweme_id"]), str(aw.get("aweme_name", "")))
                    )
            self._accounts = found
            self._discovered_at = time.monotonic()
        return self._accounts

    async def poll(self) -> Snapshot:
        """One tick: the rooms on air and their products.

        A call that fails for one room is reported in ``errors`` and that room is skipped this
        tick; a lost authorization (``ReauthorizeRequired``) stops the monitor.
        """
        self._tick += 1
        started = self.requests  # discovery counts against this tick's budget too
        accounts = [a for a in await self.accounts() if self._due(a)]
        day = (await self._clock()).date()
        qc = self._client.qianchuan
        errors: list[str] = []
        failed: set[int] = set()

        async def rooms_of(acc: Account) -> list[dict[str, object]]:
            try:
                rows = await qc.rooms(acc.advertiser_id, acc.aweme_id, day, ROOM_FIELDS, "LIVING")
            except ReauthorizeRequired:
                raise
            except LivekitError as exc:
                errors.append(
                    f"抖音号 {acc.aweme_name or acc.aweme_id} 的直播间列表获取失败：{exc}"
                )
                failed.add(acc.aweme_id)
                return []
            return [{**r, "advertiser_id": acc.advertiser_id} for r in rows]

        lists = await asyncio.gather(*(rooms_of(a) for a in accounts))
        at = await self._clock()
        living = [r for rows in lists for r in rows if r.get("room_status") == "LIVING"]
        for acc, rows in zip(accounts, lists, strict=True):
            self._listed_at[acc.aweme_id] = self._tick
            if acc.aweme_id in failed:
                continue
            if any(r.get("room_status") == "LIVING" for r in rows):
                self._active.add(acc.aweme_id)
            else:
                self._active.discard(acc.aweme_id)
        rooms = _room_frame(living, at)

        async def products_of(room: dict[str, object]) -> pl.DataFrame:
            room_id, adv_id = int(str(room["room_id"])), int(str(room["advertiser_id"]))
            try:
                rows = await qc.room_products(adv_id, room_id, PRODUCT_FIELDS)
            except ReauthorizeRequired:
                raise
            except LivekitError as exc:
                errors.append(
                    f"直播间 {room.get('room_title') or room_id} 的商品列表获取失败：{exc}"
                )
                return empty_products()
            return _product_frame(rows, room_id, adv_id, at)

        chosen = self._within_budget(living, self.requests - started)
        parts = await asyncio.gather(*(products_of(r) for r in chosen))
        products = pl.concat([empty_products(), *parts], how="vertical")
        polled = {int(str(r["room_id"])) for r in chosen}
        for room_id in polled:
            self._products_polled_at[room_id] = self._tick
        stale = [
            r
            for r in living
            if self._tick - self._products_polled_at.get(int(str(r["room_id"])), 0)
            > self.stale_warning_ticks
        ]
        if stale:
            errors.append(
                f"请求配额不足：{len(stale)} 个直播间的商品已超过 {self.stale_warning_ticks} 次轮询"
                "未刷新（LIVEKIT_QPS × 轮询间隔不够覆盖所有直播间），请加大 --interval 或 LIVEKIT_QPS"
            )
        skipped = {a.aweme_id for a in self._accounts or []} - {a.aweme_id for a in accounts}
        return Snapshot(
            at, rooms, products, self.requests - started, errors, polled, failed | skipped
        )

    def _due(self, account: Account) -> bool:
        """Whether this tick fetches the account's room list (always while it is on air)."""
        if account.aweme_id in self._active or account.aweme_id not in self._listed_at:
            return True
        return self._tick - self._listed_at[account.aweme_id] >= self.idle_every

    def _within_budget(
        self, living: list[dict[str, object]], spent: int
    ) -> list[dict[str, object]]:
        if self.request_budget is None:
            return living
        left = max(self.request_budget - spent, 0)
        if left >= len(living):
            return living
        # the longest-waiting rooms first (never polled counts as longest)
        order = sorted(
            living, key=lambda r: self._products_polled_at.get(int(str(r["room_id"])), -1)
        )
        return order[:left]


def _room_frame(rows: list[dict[str, object]], at: datetime) -> pl.DataFrame:
    if not rows:
        return empty_rooms()
    by_adv: dict[int, list[dict[str, object]]] = {}
    for r in rows:
        by_adv.setdefault(int(str(r["advertiser_id"])), []).append(r)
    frames = [convert.rooms(rs, adv) for adv, rs in by_adv.items()]
    frame = pl.concat(frames, how="vertical")
    cols = [c for c in LIVE_SNAPSHOTS.schema if c != "snapshot_time"]
    return frame.select(pl.lit(at).cast(TIME).alias("snapshot_time"), *cols)


def _product_frame(
    rows: list[dict[str, object]], room_id: int, advertiser_id: int, at: datetime
) -> pl.DataFrame:
    if not rows:
        return empty_products()
    frame = convert.room_products(rows, room_id, advertiser_id)
    cols = [c for c in LIVE_PRODUCT_SNAPSHOTS.schema if c != "snapshot_time"]
    return frame.select(pl.lit(at).cast(TIME).alias("snapshot_time"), *cols)
