"""The monitor loop: poll → store snapshots → evaluate rules → queue notifications → deliver.

One tick, in the order that makes a crash at any point safe (see :mod:`livekit.monitor.engine`)::

    snapshot = poll()                       # the rooms on air and their products
    store.append(live_snapshots, chunk=t)   # atomic; the same tick written twice replaces
    result = engine.evaluate(live)          # pure: nothing persisted yet
    store.append(alerts, chunk=epoch-tick)  # the same tick re-evaluated writes the same chunk
    outbox.enqueue(result.outgoing)         # durable; deduplicates on message keys
    engine.commit(result)                   # the new alert states, atomically
    outbox.pump()                           # deliver (rate limits, retries, digests)

So a monitor killed at any moment and started again neither loses a firing alert nor sends a
notification twice, and its snapshots and alert records hold every row once.

Everything the monitor keeps between runs lives under ``LIVEKIT_HOME``: snapshots and alert
records in the store (``live_snapshots``, ``live_product_snapshots``, ``alerts``), the alert
states and the outbox under ``state/monitor/``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import polars as pl
from filelock import FileLock, Timeout

from livekit.config import Settings
from livekit.store import open_store
from livekit.store.datasets import ALERTS, LIVE_PRODUCT_SNAPSHOTS, LIVE_SNAPSHOTS
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

if TYPE_CHECKING:
    import httpx

    from livekit.api.client import Client
    from livekit.monitor.engine import Engine, EvalResult
    from livekit.monitor.live import LiveState
    from livekit.monitor.notify import Channel, Outbox, PumpResult
    from livekit.monitor.poll import Poller
    from livekit.monitor.rules import RuleSet
    from livekit.monitor.view import OpenAlert

log = logging.getLogger("livekit.monitor")

Clock = Callable[[], Awaitable[datetime]]
MONITOR_DATASETS = {d.name: d for d in (LIVE_SNAPSHOTS, LIVE_PRODUCT_SNAPSHOTS, ALERTS)}
COMPACT_EVERY = 120  # ticks between compactions of today's snapshot chunks


async def local_clock() -> datetime:
    return datetime.now(CHINA_TZ)


def sandbox_clock(url: str, http: httpx.AsyncClient) -> Clock:
    """The sandbox's (possibly accelerated) clock, read from ``/sandbox/clock``."""

    async def now() -> datetime:
        r = await http.get(url.rstrip("/") + "/sandbox/clock")
        r.raise_for_status()
        return datetime.strptime(r.json()["now"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)

    return now


@dataclass
class TickResult:
    tick: int
    at: datetime
    rooms: int
    products: int
    requests: int
    records: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    pump: PumpResult | None = None
    errors: list[str] = field(default_factory=list)


def state_dir(settings: Settings) -> Path:
    return settings.state_dir / "monitor"


class Monitor:
    """``async with Monitor(...) as m: await m.run()`` (or ``await m.tick()`` step by step)."""

    def __init__(
        self,
        settings: Settings,
        ruleset: RuleSet,
        channels: Mapping[str, Channel],
        *,
        interval_s: float = 60.0,
        clock: Clock | None = None,
        clock_factory: Callable[[httpx.AsyncClient], Clock] | None = None,
        on_tick: Callable[[TickResult, Monitor], None] | None = None,
    ) -> None:
        self.settings = settings
        self.ruleset = ruleset
        self.channels = dict(channels)
        self.interval_s = interval_s
        self._clock = clock
        self._clock_factory = clock_factory
        self.on_tick = on_tick
        if settings.store_url is not None:
            # its datasets are appended in chunks, which the object store does not do yet
            raise LivekitError(
                "直播监控的快照与告警按块追加，暂只能写入本地存储："
                "运行 livekit monitor 时请不要设置 LIVEKIT_STORE_URL。"
            )
        self.store = open_store(settings)
        self.ticks = 0
        self._client: Client | None = None
        self._notify_http: httpx.AsyncClient | None = None
        self._lock: FileLock | None = None
        self._fixed_budget: int | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Monitor:
        folder = state_dir(self.settings)
        folder.mkdir(parents=True, exist_ok=True)
        # One monitor per LIVEKIT_HOME: two engines on one state file would each send what the
        # other already sent.
        self._lock = FileLock(str(folder / "monitor.lock"))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            self._lock = None
            raise LivekitError(
                f"另一个 livekit monitor 正在使用 {folder}：同一 LIVEKIT_HOME 只能运行一个监控进程"
            ) from None
        try:
            await self._open(folder)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _open(self, folder: Path) -> None:
        import httpx

        from livekit.api.client import Client
        from livekit.monitor.engine import Engine
        from livekit.monitor.live import History, LiveState
        from livekit.monitor.notify import Outbox
        from livekit.monitor.poll import Poller

        self._client = Client(self.settings)
        self._notify_http = httpx.AsyncClient(timeout=httpx.Timeout(15.0), follow_redirects=False)
        if self._clock is None:
            self._clock = (
                self._clock_factory(self._notify_http) if self._clock_factory else local_clock
            )
        self.engine: Engine = Engine(self.ruleset, folder / "alerts_state.json")
        self.outbox: Outbox = Outbox(folder / "outbox.json")
        # Leave a tenth of the allowed rate for retries and account discovery: a tick must not
        # need more requests than LIVEKIT_QPS allows within one interval.
        budget = (
            max(int(self.settings.qps * self.interval_s * 0.9), 1) if self.interval_s > 0 else None
        )
        self._fixed_budget = budget
        self.poller: Poller = Poller(self._client, self._clock, request_budget=budget)
        if self.interval_s > 0:
            self.poller.idle_every = max(1, round(60.0 / self.interval_s))
        today = (await self._clock()).date()
        await asyncio.to_thread(self._compact_before, today)
        history = await asyncio.to_thread(History.from_store, self.store, today)
        self.live: LiveState = LiveState(history)
        rooms, products = await asyncio.to_thread(self._stored_today, today)
        self.live.replay(rooms, products)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._client is not None:
                await self._client.aclose()
            if self._notify_http is not None:
                await self._notify_http.aclose()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    @property
    def notify_http(self) -> httpx.AsyncClient:
        assert self._notify_http is not None, "use Monitor inside `async with`"
        return self._notify_http

    # ---- one tick -------------------------------------------------------------------------
    async def tick(self) -> TickResult:
        polling = time.monotonic()
        snap = await self.poller.poll()
        self._calibrate(snap.requests, time.monotonic() - polling)
        day = snap.at.date()
        chunk = snap.at.strftime("%Y%m%dT%H%M%S")
        if not snap.rooms.is_empty():
            await asyncio.to_thread(self._append, "live_snapshots", day, snap.rooms, chunk)
        if not snap.products.is_empty():
            await asyncio.to_thread(
                self._append, "live_product_snapshots", day, snap.products, chunk
            )
        self.live.update(snap.at, snap.rooms, snap.products, snap.product_rooms, snap.failed_awemes)
        result = self.engine.evaluate(self.live)
        rows = result.rows()
        if rows:
            frame = _alert_frame(rows)
            chunk_id = f"{result.epoch}-{result.tick:08d}"
            await asyncio.to_thread(self._append, "alerts", day, frame, chunk_id)
        messages = self._enqueue(result)
        self.engine.commit(result)
        pump = await self.outbox.pump(self.channels, self.notify_http)
        for failed in pump.failed:
            log.error("通知发送失败（%s）：%s", failed.channel, failed.reason)
        self.ticks += 1
        if self.ticks % COMPACT_EVERY == 0:
            await asyncio.to_thread(self._compact, day)
        out = TickResult(
            self.ticks,
            snap.at,
            snap.rooms.height,
            snap.products.height,
            snap.requests,
            rows,
            messages,
            pump,
            [*snap.errors, *result.problems],
        )
        if self.on_tick is not None:
            self.on_tick(out, self)
        return out

    def _calibrate(self, requests: int, seconds: float) -> None:
        """Fit the next tick's request budget to the rate the API really allowed.

        The fixed budget assumes the client reaches LIVEKIT_QPS; with slow answers it reaches
        less (the limiter keeps each request's slot until a second after its answer), and a
        tick that spends the whole budget would overrun the interval. A tick that was bound by
        its budget and took more than 90% of the interval shrinks the next budget in proportion;
        one that finished early grows it back, never past the fixed budget.
        """
        budget, fixed = self.poller.request_budget, self._fixed_budget
        if budget is None or fixed is None or self.interval_s <= 0 or requests <= 0:
            return
        if requests >= 0.95 * budget and seconds > 0.9 * self.interval_s:
            self.poller.request_budget = max(1, int(budget * 0.9 * self.interval_s / seconds))
        elif seconds < 0.75 * self.interval_s and budget < fixed:
            self.poller.request_budget = min(fixed, int(budget * 1.1) + 1)

    def _enqueue(self, result: EvalResult) -> int:
        n = 0
        for out in result.outgoing:
            n += self.outbox.enqueue([out.message], out.channels)
        return n

    async def deliver(self, deadline_s: float = 0.0) -> PumpResult:
        """Pump the outbox; with a deadline, keep pumping until it is empty or time is up."""
        end = time.monotonic() + deadline_s
        while True:
            result = await self.outbox.pump(self.channels, self.notify_http)
            if result.pending == 0 or time.monotonic() >= end:
                return result
            wait = 0.5
            if result.next_due is not None:
                wait = max(
                    0.05, (result.next_due - datetime.now(result.next_due.tzinfo)).total_seconds()
                )
            await asyncio.sleep(min(wait, max(end - time.monotonic(), 0.0)))

    async def run(self, *, once: bool = False, max_ticks: int | None = None) -> None:
        """Tick every ``interval_s`` seconds (wall clock) until stopped (Ctrl-C)."""
        while True:
            started = time.monotonic()
            await self.tick()
            if once or (max_ticks is not None and self.ticks >= max_ticks):
                await self.deliver(deadline_s=10.0 if once else 0.0)
                return
            # between ticks, keep delivering what is due (a throttled robot frees up)
            while (left := self.interval_s - (time.monotonic() - started)) > 0:
                pump = await self.outbox.pump(self.channels, self.notify_http)
                wait = left
                if pump.pending and pump.next_due is not None:
                    due = (pump.next_due - datetime.now(pump.next_due.tzinfo)).total_seconds()
                    wait = min(left, max(due, 0.05))
                await asyncio.sleep(wait)

    # ---- for the view ---------------------------------------------------------------------
    def open_alerts(self) -> list[OpenAlert]:
        from livekit.monitor.metrics import METRICS
        from livekit.monitor.view import OpenAlert

        out = []
        for a in self.engine.active():
            where = a.labels.get("room_title") or str(a.room_id)
            if a.labels.get("product_title"):
                where += " / " + a.labels["product_title"]
            spec = METRICS.get(a.metric)
            value = a.value
            if value is None:
                text = "—"
            elif spec is None:
                text = f"{value:.1f}"
            else:
                text = spec.format(value)
            since = a.since or a.started_at
            out.append(
                OpenAlert(a.severity, a.state, a.rule, where, text, since or self.live.now())
            )
        return out

    # ---- store ----------------------------------------------------------------------------
    def _append(self, dataset: str, day: date, frame: pl.DataFrame, chunk: str) -> None:
        self.store.append(dataset, day, frame, MONITOR_DATASETS[dataset].schema, chunk)

    def _stored_today(self, today: date) -> tuple[pl.DataFrame, pl.DataFrame]:
        rooms = self.store.read("live_snapshots", LIVE_SNAPSHOTS.schema, today, today)
        products = self.store.read(
            "live_product_snapshots", LIVE_PRODUCT_SNAPSHOTS.schema, today, today
        )
        return rooms.drop("date"), products.drop("date")

    def _compact(self, day: date) -> None:
        for name, ds in MONITOR_DATASETS.items():
            with self.store.lock(name):
                self.store.compact(name, day, ds.schema)

    def _compact_before(self, today: date) -> None:
        """Fold the chunks of earlier days (a finished day is read far more than written)."""
        for name, ds in MONITOR_DATASETS.items():
            for day in self.store.partitions(name):
                if day < today:
                    with self.store.lock(name):
                        self.store.compact(name, day, ds.schema)


def _alert_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = dict(ALERTS.schema)
    clean = [{k: r.get(k) for k in schema} for r in rows]
    return pl.DataFrame(clean, schema=schema)
