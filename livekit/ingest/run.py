"""`livekit sync`: discover accounts, fetch what is missing or stale, replace partitions.

All fetching is concurrent under the client's per-upstream rate limiter. Work is cut so that
partitions land as they complete: a crash (even SIGKILL) loses at most the partitions in flight,
never corrupts or duplicates stored ones (each is replaced atomically), and the next sync
fetches exactly what is missing.

Request economy (bench/sync.py checks it against the minimum the endpoints allow):
* rooms: one ``room/get`` per (account, day) page of 100; per room one product page of 100,
  one flow call and two audience calls (ENTER, PAY) with all three dimensions at once;
* the ad report and the T+1 analysis: one call per 30-day window (pages of 500 / 100), the
  analysis filtered by all of an advertiser's accounts at once;
* orders: one query per contiguous run of days (cut in halves only when it would hold more
  than ``MAX_ORDERS_PER_QUERY``), pages of 100 fetched concurrently, split by day locally.

Many shops (``settings.shop``, see :mod:`livekit.shops`): the sync writes under the shop's
``shop=<id>/`` of the store, syncs only the shop's 千川 advertiser (of those the token may
read) and its 抖店 shop; a shop without an advertiser gets no 千川 datasets, one without a 抖店
shop no orders (a note in the result, not an error).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import polars as pl

from livekit.api.client import Client
from livekit.config import Settings
from livekit.ingest import convert
from livekit.ingest.plan import (
    Window,
    day_end,
    day_start,
    days,
    needs_fetch,
    partition_meta,
    windows,
)
from livekit.shops import Shop, current_shop
from livekit.store import Store, open_store
from livekit.store.datasets import (
    AD_DAILY,
    ADVERTISER_METRIC_TYPES,
    ANALYSIS_METRIC_TYPES,
    EXPLANATIONS,
    ORDER_ITEMS,
    ORDERS,
    PRODUCT_METRIC_TYPES,
    ROOM_ANALYSIS,
    ROOM_AUDIENCE,
    ROOM_FLOW,
    ROOM_METRIC_TYPES,
    ROOM_PRODUCTS,
    ROOMS,
    SESSION_ARMS,
    Dataset,
)
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

log = logging.getLogger("livekit.sync")
QC, DD = convert.QC, convert.DD
ORDERS_METHOD = "order.searchList"
T = TypeVar("T")

REPORT_DAYS = 30  # report/advertiser and live_room/analysis accept at most 30 days a call
MAX_ORDERS_PER_QUERY = 20_000  # bigger windows are halved (memory, and deep-page limits)
DAYS_IN_FLIGHT = 4  # live days fetched at once: enough to keep the limiter busy
MARKETING_GOAL = "LIVE_PROM_GOODS"
DETAILS = (ROOM_PRODUCTS, ROOM_FLOW, ROOM_AUDIENCE)
QIANCHUAN_DATASETS = (
    "rooms",
    "room_products",
    "room_flow",
    "room_audience",
    "ad_daily",
    "room_analysis",
)
DOUDIAN_DATASETS = ("orders", "order_items")
ALL_DATASETS = (*QIANCHUAN_DATASETS, *DOUDIAN_DATASETS)


@dataclass
class DatasetResult:
    fetched_days: int = 0
    skipped_days: int = 0
    rows: int = 0


@dataclass
class SyncResult:
    start: date
    end: date
    datasets: dict[str, DatasetResult] = field(default_factory=dict)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    shop: str | None = None  # the shop synced (an id of the shops file); None: one shop
    notes: list[str] = field(default_factory=list)  # what was left out and why (Chinese)

    @property
    def fetched_anything(self) -> bool:
        return any(r.fetched_days for r in self.datasets.values())


Progress = Callable[[str, int, int], None]  # (dataset, partitions done now, partitions planned)


def validate_range(start: date, end: date, now: datetime) -> None:
    today = now.astimezone(CHINA_TZ).date()
    if start > end:
        raise LivekitError(f"开始日期 {start} 晚于结束日期 {end}：请检查 --from 与 --to")
    if end > today:
        raise LivekitError(f"结束日期 {end} 晚于今天（{today}，北京时间）：未来的数据还不存在")


@dataclass
class _Account:
    advertiser_id: int
    aweme_ids: list[int]


class _Sync:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        start: date,
        end: date,
        now: datetime,
        refresh: bool,
        wanted: tuple[str, ...],
        progress: Progress | None,
        viewer_export_url: str | None,
        session_arms_url: str | None = None,
        explanations_url: str | None = None,
        shop: Shop | None = None,
    ) -> None:
        self.settings = settings
        self.shop = shop  # settings.shop of the shops file: its advertiser and 抖店 shop only
        self.store = store
        self.start, self.end = start, end
        self.now = now.astimezone(CHINA_TZ)
        self.today = self.now.date()
        self.refresh = refresh
        self.wanted = wanted
        self.progress = progress
        self.viewer_export_url = viewer_export_url
        self.session_arms_url = session_arms_url
        self.explanations_url = explanations_url
        self.result = SyncResult(start, end, shop=settings.shop)
        self.planned: dict[str, list[date]] = {}
        self._done: dict[str, int] = {}

    # ---- planning ---------------------------------------------------------------------
    def plan(self) -> None:
        span = days(self.start, self.end)
        names = list(self.wanted)
        if self.viewer_export_url:
            names.append("viewers")
        if self.session_arms_url:
            names.append("session_arms")
        if self.explanations_url:
            names.append("explanations")
        for name in names:
            ds = _dataset(name)
            candidates = [d for d in span if name != "room_analysis" or d < self.today]
            need = [
                d
                for d in candidates
                if needs_fetch(ds, d, self.store.partition_meta(name, d), self.now, self.refresh)
            ]
            self.planned[name] = need
            self.result.datasets[name] = DatasetResult(skipped_days=len(candidates) - len(need))
            self._done[name] = 0
            if self.progress:
                self.progress(name, 0, len(need))

    async def _write(
        self, ds: Dataset, d: date, frame: pl.DataFrame, still_live: bool = False
    ) -> None:
        # In a worker thread: writing and fsyncing must not stall the requests in flight.
        await asyncio.to_thread(
            self.store.write_partition,
            ds.name,
            d,
            frame,
            ds.schema,
            partition_meta(ds, d, self.now, still_live),
        )
        r = self.result.datasets[ds.name]
        r.fetched_days += 1
        r.rows += frame.height
        self._done[ds.name] += 1
        if self.progress:
            self.progress(ds.name, self._done[ds.name], len(self.planned[ds.name]))

    # ---- running ----------------------------------------------------------------------
    async def run(self) -> SyncResult:
        t0 = time.perf_counter()
        self.plan()
        if not any(self.planned.values()):
            self.result.seconds = time.perf_counter() - t0
            return self.result
        needs_qc = any(self.planned.get(n) for n in QIANCHUAN_DATASETS)
        needs_dd = any(self.planned.get(n) for n in DOUDIAN_DATASETS)
        if needs_qc:
            self.settings.require_qianchuan()
        if needs_dd:
            self.settings.require_doudian()
        async with Client(self.settings) as client:
            jobs: list[Awaitable[None]] = []
            if needs_qc:
                accounts = await self._discover(client)
                jobs += self._qianchuan_jobs(client, accounts)
            if needs_dd:
                order_days = {d for n in DOUDIAN_DATASETS for d in self.planned.get(n, [])}
                jobs += [self._orders(client, w) for w in windows(order_days, 10_000)]
            if self.planned.get("viewers"):
                jobs += [self._viewers(w) for w in windows(self.planned["viewers"], REPORT_DAYS)]
            if self.planned.get("session_arms"):
                arms = windows(self.planned["session_arms"], REPORT_DAYS)
                jobs += [self._session_arms(w) for w in arms]
            if self.planned.get("explanations"):
                spans = windows(self.planned["explanations"], REPORT_DAYS)
                jobs += [self._explanations(w) for w in spans]
            await _gather(jobs)
        self.result.seconds = time.perf_counter() - t0
        return self.result

    async def _discover(self, client: Client) -> list[_Account]:
        accounts = []
        found = [
            (convert.integer(adv.get("advertiser_id"), "advertiser_id", adv, QC), adv)
            for adv in convert.objects(await client.qianchuan.advertisers(), "list", QC)
        ]
        if self.shop is not None:  # one shop of many: its advertiser only
            wanted = self.shop.advertiser_id
            found = [(i, adv) for i, adv in found if i == wanted]
            if not found:
                from livekit.api.auth import login_command

                raise LivekitError(
                    f"店铺 {self.shop.label} 的千川广告主 {wanted} 未授权给本应用（或授权已失效）："
                    f"请运行 {login_command('qianchuan', self.shop)}，用该广告主的账号授权"
                )
        for adv_id, adv in found:
            awemes = convert.objects(await client.qianchuan.awemes(adv_id), "aweme_id_list", QC)
            aweme_ids = [convert.integer(a.get("aweme_id"), "aweme_id", a, QC) for a in awemes]
            accounts.append(_Account(adv_id, aweme_ids))
            self.result.accounts.append(
                {
                    "advertiser_id": adv_id,
                    "advertiser_name": adv.get("advertiser_name", ""),
                    "awemes": [
                        {"aweme_id": aweme_id, "aweme_name": a.get("aweme_name", "")}
                        for aweme_id, a in zip(aweme_ids, awemes, strict=True)
                    ],
                }
            )
        return accounts

    def _qianchuan_jobs(self, client: Client, accounts: list[_Account]) -> list[Awaitable[None]]:
        jobs: list[Awaitable[None]] = []
        live_days = sorted(
            {d for n in ("rooms", *(x.name for x in DETAILS)) for d in self.planned.get(n, [])}
        )
        gate = asyncio.Semaphore(DAYS_IN_FLIGHT)
        jobs += [_gated(gate, partial(self._live_day, client, accounts, d)) for d in live_days]
        for w in windows(self.planned.get("ad_daily", []), REPORT_DAYS):
            jobs.append(self._ad_window(client, accounts, w))
        for w in windows(self.planned.get("room_analysis", []), REPORT_DAYS):
            jobs.append(self._analysis_window(client, accounts, w))
        return jobs

    # ---- live rooms -------------------------------------------------------------------
    async def _live_day(self, client: Client, accounts: list[_Account], d: date) -> None:
        qc = client.qianchuan
        need_rooms = d in self.planned.get("rooms", [])
        need_details = [ds for ds in DETAILS if d in self.planned.get(ds.name, [])]
        if need_rooms or self.store.partition_meta("rooms", d) is None:
            pairs = [(a.advertiser_id, aw) for a in accounts for aw in a.aweme_ids]
            lists = await _gather(
                [qc.rooms(adv, aw, d, list(ROOM_METRIC_TYPES)) for adv, aw in pairs]
            )
            frames = [convert.rooms(rows, adv) for (adv, _), rows in zip(pairs, lists, strict=True)]
            room_frame = pl.concat(frames).unique("room_id", keep="first", maintain_order=True)
        else:
            room_frame = self.store.read("rooms", ROOMS.schema, d, d).drop("date")
        living = set(room_frame.filter(pl.col("room_status") == "LIVING")["room_id"].to_list())
        if need_details:
            rooms = list(
                zip(
                    room_frame["room_id"].to_list(),
                    room_frame["advertiser_id"].to_list(),
                    strict=True,
                )
            )
            parts = await _gather([self._room_details(client, r, adv) for r, adv in rooms])
            for i, ds in enumerate(DETAILS):
                if ds in need_details:
                    frame = pl.concat([p[i] for p in parts]) if parts else _empty(ds)
                    await self._write(ds, d, frame, still_live=bool(living))
        if need_rooms:  # last: a stored rooms partition means the day's details are in too
            await self._write(ROOMS, d, room_frame, still_live=bool(living))

    async def _room_details(
        self, client: Client, room_id: int, adv: int
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        qc = client.qianchuan
        products, flow, enter, pay = await asyncio.gather(
            qc.room_products(adv, room_id, list(PRODUCT_METRIC_TYPES)),
            qc.room_flow(adv, room_id),
            qc.room_audience(adv, room_id, "ENTER"),
            qc.room_audience(adv, room_id, "PAY"),
        )
        return (
            convert.room_products(products, room_id, adv),
            convert.room_flow(flow, room_id, adv),
            pl.concat(
                [
                    convert.room_audience(enter, "ENTER", room_id, adv),
                    convert.room_audience(pay, "PAY", room_id, adv),
                ]
            ),
        )

    # ---- reports ----------------------------------------------------------------------
    async def _ad_window(self, client: Client, accounts: list[_Account], w: Window) -> None:
        lists = await _gather(
            [
                client.qianchuan.advertiser_report(
                    a.advertiser_id,
                    w.start,
                    w.end,
                    list(ADVERTISER_METRIC_TYPES),
                    marketing_goal=MARKETING_GOAL,
                    time_granularity="TIME_GRANULARITY_DAILY",
                )
                for a in accounts
            ]
        )
        frame = _concat(
            [
                convert.ad_daily(rows, a.advertiser_id, MARKETING_GOAL)
                for a, rows in zip(accounts, lists, strict=True)
            ],
            AD_DAILY,
        )
        for d, part in convert.split_by_day(frame, w.days).items():
            await self._write(AD_DAILY, d, part)

    async def _analysis_window(self, client: Client, accounts: list[_Account], w: Window) -> None:
        active = [a for a in accounts if a.aweme_ids]
        lists = await _gather(
            [
                client.qianchuan.room_analysis(
                    a.advertiser_id,
                    day_start(w.start),
                    day_end(w.end) - timedelta(seconds=1),
                    list(ANALYSIS_METRIC_TYPES),
                    aweme_ids=a.aweme_ids,
                )
                for a in active
            ]
        )
        frame = _concat(
            [
                convert.room_analysis(rows, a.advertiser_id)
                for a, rows in zip(active, lists, strict=True)
            ],
            ROOM_ANALYSIS,
        ).unique("room_id", keep="first", maintain_order=True)
        for d, part in convert.split_by_day(frame, w.days).items():
            await self._write(ROOM_ANALYSIS, d, part)

    # ---- orders -----------------------------------------------------------------------
    async def _orders(self, client: Client, w: Window) -> None:
        dd = client.doudian
        t0 = int(day_start(w.start).timestamp())
        t1 = min(int(day_end(w.end).timestamp()) - 1, int(self.now.timestamp()))
        first = await dd.search_orders(t0, t1, page=0)
        total = convert.integer(first.get("total"), "total", first, DD)
        if total > MAX_ORDERS_PER_QUERY and w.start < w.end:
            mid = w.start + timedelta(days=(w.end - w.start).days // 2)
            await _gather(
                [
                    self._orders(client, Window(w.start, mid)),
                    self._orders(client, Window(mid + timedelta(days=1), w.end)),
                ]
            )
            return
        size = convert.integer(first.get("size") or 100, "size", first, DD)
        if size < 1:
            raise convert.ValueShapeError(DD, ORDERS_METHOD, "size", size, "不是正数")
        pages = [first] + await _gather(
            [dd.search_orders(t0, t1, page=p) for p in range(1, -(-total // size))]
        )
        shop_orders = [
            o for page in pages for o in convert.objects(page.get("shop_order_list"), "", DD)
        ]
        ids = [o.get("order_id") for o in shop_orders]
        if len(set(ids)) != len(ids):
            log.warning(
                "抖店 returned %d duplicate orders across pages; keeping one of each",
                len(ids) - len(set(ids)),
            )
            kept = {o.get("order_id"): o for o in reversed(shop_orders)}
            shop_orders = [o for o in shop_orders if kept[o.get("order_id")] is o]
        heads, items = convert.orders(shop_orders)
        if self.shop is not None:
            self._check_orders_shop(heads)
        by_day_heads = convert.split_by_day(heads, w.days)
        by_day_items = convert.split_by_day(items, w.days)
        for d in w.days:
            if d in self.planned.get("order_items", []):
                await self._write(ORDER_ITEMS, d, by_day_items[d])
            if d in self.planned.get("orders", []):  # orders last, like rooms
                await self._write(ORDERS, d, by_day_heads[d])

    def _check_orders_shop(self, heads: pl.DataFrame) -> None:
        """Orders of another 抖店 shop (a token granted by another shop) are never stored here."""
        assert self.shop is not None
        others = sorted(
            {x for x in heads["shop_id"].to_list() if x is not None} - {self.shop.doudian_shop_id}
        )
        if others:
            from livekit.api.auth import login_command

            raise LivekitError(
                f"抖店返回了店铺 {others[0]} 的订单，而店铺 {self.shop.label} 的抖店店铺是 "
                f"{self.shop.doudian_shop_id}：请用该店铺授权（{login_command('doudian', self.shop)}），"
                "本次未写入订单"
            )

    # ---- viewer export (sandbox only) -------------------------------------------------
    async def _viewers(self, w: Window) -> None:
        import httpx

        from livekit.viewers import import_viewers_frame, read_viewer_bytes

        assert self.viewer_export_url is not None
        # a file download, not an API call: generous timeout (a month of visits is large)
        async with httpx.AsyncClient(timeout=max(self.settings.http_timeout, 300.0)) as http:
            resp = await http.get(
                self.viewer_export_url,
                params={
                    "start_date": w.start.isoformat(),
                    "end_date": w.end.isoformat(),
                    "format": "parquet",
                },
            )
            resp.raise_for_status()
        frame = read_viewer_bytes(resp.content, "parquet")
        ds = _dataset("viewers")
        await asyncio.to_thread(
            import_viewers_frame,
            self.store,
            frame,
            days=w.days,
            meta=lambda d: partition_meta(ds, d, self.now),
            replace=True,
        )
        r = self.result.datasets["viewers"]
        r.fetched_days += len(w.days)
        r.rows += frame.height
        self._done["viewers"] += len(w.days)
        if self.progress:
            self.progress("viewers", self._done["viewers"], len(self.planned["viewers"]))

    # ---- tables the sandbox publishes as data of its own (sandbox only) -----------------
    async def _sandbox_table(self, url: str, w: Window) -> pl.DataFrame:
        """A table the sandbox publishes for [w.start, w.end] (Parquet), ``date`` as a Date."""
        import io

        import httpx

        # a file download like the viewer export, from the sandbox busy serving the sync
        async with httpx.AsyncClient(timeout=max(self.settings.http_timeout, 60.0)) as http:
            resp = await http.get(
                url,
                params={
                    "start_date": w.start.isoformat(),
                    "end_date": w.end.isoformat(),
                    "format": "parquet",
                },
            )
            resp.raise_for_status()
        return pl.read_parquet(io.BytesIO(resp.content)).with_columns(pl.col("date").str.to_date())

    async def _session_arms(self, w: Window) -> None:
        """The switchback schedule: which session ran which arm."""
        assert self.session_arms_url is not None
        frame = await self._sandbox_table(self.session_arms_url, w)
        for d in w.days:
            part = frame.filter(pl.col("date") == d).drop("date")
            await self._write(SESSION_ARMS, d, part)

    async def _explanations(self, w: Window) -> None:
        """The explanation (讲解) schedule: one row per window, in its show's start day.

        No platform API gives these windows (docs/upstream/orders-explanations-clicks.md §2.1);
        the sandbox publishes its schedule, times as ``YYYY-MM-DD HH:MM:SS`` China time.
        """
        assert self.explanations_url is not None
        frame = await self._sandbox_table(self.explanations_url, w)
        times = [
            pl.col(c)
            .str.strptime(pl.Datetime("us"), convert.QC_TIME_FORMAT)
            .dt.replace_time_zone(convert.TZ)
            for c in ("start_time", "end_time")
        ]
        frame = frame.with_columns(times)
        for d in w.days:
            part = frame.filter(pl.col("date") == d).drop("date")
            await self._write(EXPLANATIONS, d, part.select(list(EXPLANATIONS.schema)))


def _dataset(name: str) -> Dataset:
    from livekit.store.datasets import get

    return get(name)


def _empty(ds: Dataset) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(ds.schema))


def _concat(frames: list[pl.DataFrame], ds: Dataset) -> pl.DataFrame:
    return (
        pl.concat(frames)
        if frames
        else _empty(ds).with_columns(pl.lit(None, pl.Date).alias(convert.DAY))
    )


async def _gated(gate: asyncio.Semaphore, start: Callable[[], Awaitable[T]]) -> T:
    """Run ``start()`` once the gate admits it (created late: nothing dangles if cancelled)."""
    async with gate:
        return await start()


async def _gather(jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Run jobs concurrently; on the first failure cancel the rest and raise that failure."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(_as_coro(j)) for j in jobs]
    except BaseExceptionGroup as group:
        raise _first(group) from None
    return [t.result() for t in tasks]


async def _as_coro(job: Awaitable[T]) -> T:
    return await job


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if isinstance(exc, LivekitError):
            return exc
    exc = group.exceptions[0]
    return _first(exc) if isinstance(exc, BaseExceptionGroup) else exc


async def sync_async(
    settings: Settings,
    start: date,
    end: date,
    *,
    refresh: bool = False,
    datasets: Iterable[str] | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    viewer_export_url: str | None = None,
    session_arms_url: str | None = None,
    explanations_url: str | None = None,
) -> SyncResult:
    """Bring the store up to date for [start, end] (China-time days). See the module docstring.

    ``now`` is the moment the sync takes as "now" (default: the real time); tests pin it to
    the sandbox's frozen clock. ``viewer_export_url`` is set only for the sandbox, which serves
    the viewer export that real merchants import by hand (``livekit import viewers``), and
    ``session_arms_url`` and ``explanations_url`` only for the sandbox too: its switchback
    schedule (``session_arms``) and its explanation schedule (``explanations``).
    """
    now = now or datetime.now(CHINA_TZ)
    validate_range(start, end, now)
    wanted = tuple(datasets) if datasets is not None else ALL_DATASETS
    unknown = [n for n in wanted if n not in ALL_DATASETS]
    if unknown:
        raise LivekitError(
            f"不能同步的数据集：{'、'.join(unknown)}；可同步的有 {'、'.join(ALL_DATASETS)}"
        )
    notes: list[str] = []
    shop: Shop | None = None
    if settings.shop is not None:
        shop, wanted, notes = _for_shop(settings, wanted)
    store = open_store(settings)
    store.cleanup_temp()
    job = _Sync(
        settings,
        store,
        start,
        end,
        now,
        refresh,
        wanted,
        progress,
        viewer_export_url,
        session_arms_url,
        explanations_url,
        shop,
    )
    result = await job.run()
    result.notes += notes
    return result


def _for_shop(
    settings: Settings, wanted: tuple[str, ...]
) -> tuple[Shop, tuple[str, ...], list[str]]:
    """What shop ``settings.shop`` syncs of ``wanted``: (the shop, its datasets, notes)."""
    shop = current_shop(settings)
    assert shop is not None  # settings.shop is set and resolved, or current_shop raised
    notes: list[str] = []
    left_out = [n for n in wanted if n in QIANCHUAN_DATASETS] if shop.advertiser_id is None else []
    if left_out:
        notes.append(
            f"店铺 {shop.label} 没有千川广告主（qianchuan.advertiser_id），"
            f"未同步千川数据：{'、'.join(left_out)}"
        )
    no_orders = [n for n in wanted if n in DOUDIAN_DATASETS] if shop.doudian_shop_id is None else []
    if no_orders:
        notes.append(
            f"店铺 {shop.label} 没有抖店店铺（doudian.shop_id），未同步抖店数据：{'、'.join(no_orders)}"
        )
    kept = tuple(n for n in wanted if n not in left_out and n not in no_orders)
    return shop, kept, notes
