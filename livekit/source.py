"""The source object: where a notebook's or a script's data comes from (``livekit.open()``).

::

    kit = livekit.open()                      # live data: settings from env/.env, LIVEKIT_HOME
    kit = livekit.open("sandbox")             # the built-in sandbox's store (LIVEKIT_HOME/sandbox)
    kit = livekit.open(home=path)             # another home
    cov = kit.prepare(first, last, datasets=("rooms", "room_analysis"))
    if cov.note:                              # one Chinese line when the period is incomplete
        print(cov.note)
    rooms = kit.load("rooms", first, last)    # a pure read of the local store

Many shops (a shops file, :mod:`livekit.shops`): ``livekit.open(shop="flagship")`` is that
shop's kit (its part of the store, ``shop=<id>/``); ``kit.load(name, shop=["a", "b"])`` or
``shop="*"`` (every shop of the file) reads several at once, with a leading ``shop`` column.
Without a shops file there is one shop and no shop level, as always.

Reading and fetching are apart:

* :meth:`Kit.load` and :meth:`Kit.datasets` only read the local store: no server, no sync, no
  replay, no network, no thread.
* :meth:`Kit.sync` fetches explicitly. A live kit runs the ingest in this process; a sandbox kit
  runs ``python -m livekit sync --sandbox`` in a subprocess, so this layer never imports the
  sandbox (or ``livekit.jobs``, the only wiring allowed to start it).
* :meth:`Kit.prepare` makes a period ready to read and says how complete it is. A live kit
  fetches nothing: it reads the partitions' metadata (what :mod:`livekit.ingest.plan` would fetch
  again) and returns a :class:`Coverage`. A sandbox kit first fills what is missing or stale, by
  the same subprocess (``livekit sync --sandbox``; ``livekit sandbox replay`` for the live
  monitor's datasets, whose shows it replays), then returns the Coverage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

if TYPE_CHECKING:
    import polars as pl

    from livekit.config import Settings
    from livekit.ingest.run import SyncResult
    from livekit.shops import Shop
    from livekit.store import Store
    from livekit.store.datasets import Dataset

__all__ = ["SOURCES", "Coverage", "Kit", "open_source", "sync_store"]

Source = Literal["live", "sandbox"]
SOURCES: tuple[Source, ...] = ("live", "sandbox")

# Datasets recorded as things happen (imported by hand, or written by the live monitor while a
# show is on air) rather than synced: a stored day is complete, and a day without one is
# missing only when there were shows that day.
RECORDED = frozenset({"viewers", "live_snapshots", "live_product_snapshots", "alerts"})
MONITOR = frozenset({"live_snapshots", "live_product_snapshots", "alerts"})
SUBPROCESS_TIMEOUT = 3600.0


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _label(name: str) -> str:
    from livekit.vocab.labels import DATASET_LABELS

    return DATASET_LABELS.get(name, name)


@dataclass(frozen=True)
class Coverage:
    """How completely the store holds ``datasets`` for [first, last] (China-time days).

    ``missing``: days with nothing stored (per dataset); ``stale``: days stored but not final
    and last synced before today (the next sync fetches them again); ``partial``: days not
    over yet (today, whose numbers keep changing). ``last_synced`` is the latest fetch time
    among the period's partitions.
    """

    source: Source
    first: date
    last: date
    datasets: tuple[str, ...]
    today: date
    missing: dict[str, tuple[date, ...]] = field(default_factory=dict)
    stale: dict[str, tuple[date, ...]] = field(default_factory=dict)
    partial: tuple[date, ...] = ()
    last_synced: datetime | None = None

    @property
    def complete(self) -> bool:
        return not (any(self.missing.values()) or any(self.stale.values()) or self.partial)

    @property
    def note(self) -> str | None:
        """One Chinese line saying what is incomplete (for a report), or None when complete."""
        if self.complete:
            return None
        details: list[str] = []
        for days, what in (
            (_union(self.missing), "没有数据"),
            (_union(self.stale), "尚未更新到最新"),
        ):
            if days:
                names = self.missing if what == "没有数据" else self.stale
                affected = [n for n in self.datasets if names.get(n)]
                which = (
                    ""
                    if len(affected) == len(self.datasets)
                    else "、".join(_label(n) for n in affected)
                )
                details.append(f"{_runs(days, self.today)} {which}{what}")
        if self.partial:
            details.append(f"{_runs(self.partial, self.today)} 为今天，数据仍在更新")
        every = sorted({*_union(self.missing), *_union(self.stale), *self.partial})
        synced = (
            f"最近同步 {self.last_synced.astimezone(CHINA_TZ):%m-%d %H:%M}"
            if self.last_synced is not None
            else "尚未同步过"
        )
        return (
            f"注意：{_runs(every, self.today)} 的数据尚未同步完整（{'；'.join(details)}；{synced}），"
            "本报告相应部分为不完整数据。"
        )


def _union(per_dataset: dict[str, tuple[date, ...]]) -> list[date]:
    return sorted({d for days in per_dataset.values() for d in days})


def _runs(days: Sequence[date], today: date) -> str:
    """``11-28 至 11-30、12-02``: contiguous runs of days, the year shown only when not today's."""

    def shown(d: date) -> str:
        return f"{d:%m-%d}" if d.year == today.year else f"{d:%Y-%m-%d}"

    out: list[str] = []
    run: list[date] = []
    for d in sorted(days):
        if run and (d - run[-1]).days != 1:
            out.append(shown(run[0]) if len(run) == 1 else f"{shown(run[0])} 至 {shown(run[-1])}")
            run = []
        run.append(d)
    if run:
        out.append(shown(run[0]) if len(run) == 1 else f"{shown(run[0])} 至 {shown(run[-1])}")
    return "、".join(out)


ShopArg = str | Sequence[str] | None  # Kit.load's ``shop``: one id, several, "*" (all), None
SHOP_COLUMN = "shop"
_SANDBOX_ONE_SHOP = "内置沙盒只有一个店铺，不能选择店铺 “{shop}”：请去掉 shop 参数"


class Kit:
    """One source of data: its settings, its home and its store. See the module docstring."""

    def __init__(
        self, source: Source, settings: Settings, base: Settings, unpicked: str | None = None
    ) -> None:
        self.source: Source = source
        self.settings = settings  # home = this kit's own data folder; shop = this kit's shop
        self._base = base  # the live settings the sandbox kit lives beside (subprocess env)
        # Several shops and none picked: the kit still reads any named shop (load(shop=...),
        # shops()); what needs its own shop says this (the shops module's one line).
        self._unpicked = unpicked

    def __repr__(self) -> str:
        shop = f", shop={self.shop!r}" if self.shop is not None else ""
        return f"Kit(source={self.source!r}, home={str(self.home)!r}{shop})"

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def shop(self) -> str | None:
        """This kit's shop (an id of the shops file), or None (one shop, no shops file)."""
        return self.settings.shop

    @property
    def store(self) -> Store:
        from livekit.store import open_store

        return open_store(self._own_settings())

    def _own_settings(self) -> Settings:
        if self._unpicked is not None:
            from livekit.shops import ShopError

            raise ShopError(self._unpicked)
        return self.settings

    # ---- reading ----------------------------------------------------------------------------
    def load(
        self,
        name: str,
        start: date | str | None = None,
        end: date | str | None = None,
        *,
        shop: ShopArg = None,
    ) -> pl.DataFrame:
        """Rows of dataset ``name`` for days in [start, end] (both optional) as a polars frame.

        A pure read of the local store. Dates as :mod:`livekit.dates` accepts them (``start``
        may be a range word such as ``last_7_days`` with no ``end``).

        ``shop`` (with a shops file): None reads this kit's shop; an id reads that shop; a
        list or tuple of ids, or ``"*"`` (every shop of the file), reads each and stacks them
        with a leading ``shop`` column (Utf8). An unknown id is one :class:`ShopError` line.
        """
        from livekit.store.datasets import get

        ds = get(name)
        first, last = _range(start, end)
        if shop is None:
            return self.store.read(name, ds.schema, first, last)
        if isinstance(shop, str) and shop != "*":
            return self._shop_store(shop).read(name, ds.schema, first, last)
        import polars as pl

        frames = [
            self._shop_store(one)
            .read(name, ds.schema, first, last)
            .select(pl.lit(one, dtype=pl.Utf8).alias(SHOP_COLUMN), pl.all())
            for one in self._many(shop)
        ]
        if not frames:
            return pl.DataFrame(schema={SHOP_COLUMN: pl.Utf8(), "date": pl.Date(), **ds.schema})
        return pl.concat(frames, how="vertical")

    def _shop_store(self, shop_id: str) -> Store:
        """The store of shop ``shop_id`` (checked against the shops file)."""
        from livekit.shops import ShopError, resolve
        from livekit.store import open_store

        if not isinstance(shop_id, str):
            raise ShopError(f"店铺 shop 应为店铺 id 文本，收到 {type(shop_id).__name__}")
        if self.source == "sandbox":
            raise ShopError(_SANDBOX_ONE_SHOP.format(shop=shop_id[:40]))
        found = resolve(self._shops(), shop_id)
        assert found is not None  # resolve names the id or raises
        return open_store(self.settings.for_shop(found.id))

    def _many(self, shop: str | Sequence[str]) -> list[str]:
        """The ids ``shop`` names: ``"*"`` is every shop of the file; each id once, in order."""
        from livekit.shops import ShopError

        if shop == "*":
            if self.source == "sandbox":
                raise ShopError(_SANDBOX_ONE_SHOP.format(shop="*"))
            shops = self._shops()
            if not shops:
                raise ShopError(
                    "没有店铺清单（params/shops.yaml 或环境变量 LIVEKIT_SHOPS_FILE），"
                    '不能读取所有店铺（shop="*"）'
                )
            return [s.id for s in shops]
        if not isinstance(shop, (list, tuple)):
            raise ShopError(f'店铺 shop 应为店铺 id、id 的列表或 "*"，收到 {type(shop).__name__}')
        for one in shop:
            self._shop_store(one)  # every id checked before anything is read
        return list(dict.fromkeys(shop))

    def _shops(self) -> tuple[Shop, ...]:
        from livekit.shops import shops_of

        if self.source == "sandbox":
            return ()  # the sandbox kit has one shop, whatever the project's shops file says
        return shops_of(self.settings)

    def shops(self) -> pl.DataFrame:
        """The shops of the shops file: id, name, advertiser_id, doudian_shop_id (no file: none)."""
        import polars as pl

        return pl.DataFrame(
            [(s.id, s.name, s.advertiser_id, s.doudian_shop_id) for s in self._shops()],
            schema={
                "id": pl.Utf8(),
                "name": pl.Utf8(),
                "advertiser_id": pl.Int64(),
                "doudian_shop_id": pl.Int64(),
            },
            orient="row",
        )

    def datasets(self) -> pl.DataFrame:
        """The datasets livekit keeps: name, description, source, and what is stored locally."""
        import polars as pl

        from livekit.store.datasets import all_datasets

        store = self.store
        rows: list[dict[str, Any]] = []
        for ds in all_datasets():
            stored = store.partitions(ds.name)
            rows.append(
                {
                    "name": ds.name,
                    "description": ds.description,
                    "source": ds.source,
                    "days_stored": len(stored),
                    "first_day": min(stored) if stored else None,
                    "last_day": max(stored) if stored else None,
                }
            )
        return pl.DataFrame(rows)

    def coverage(
        self,
        start: date | str,
        end: date | str | None = None,
        *,
        datasets: Iterable[str] = ("rooms",),
        now: datetime | None = None,
    ) -> Coverage:
        """How completely the store holds ``datasets`` for the period (reads metadata only)."""
        from livekit.ingest.plan import needs_fetch
        from livekit.store.datasets import get

        first, last = _range_required(start, end)
        names = tuple(dict.fromkeys(datasets))
        for name in names:
            get(name)  # an unknown name: one Chinese line listing the known ones
        now = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ)
        today = now.date()
        store = self.store
        missing: dict[str, tuple[date, ...]] = {}
        stale: dict[str, tuple[date, ...]] = {}
        partial = tuple(d for d in _days(first, last) if d >= today)
        latest: datetime | None = None
        for name in names:
            ds = get(name)
            stored = set(store.partitions(name)) if name in RECORDED else set()
            lost: list[date] = []
            old: list[date] = []
            for d in _days(first, last):
                if d >= today:  # partial whatever is stored; its fetch time still counts
                    meta = None if name in RECORDED else store.partition_meta(name, d)
                    fetched = _fetched_at(meta) if meta is not None else None
                    if fetched is not None and (latest is None or fetched > latest):
                        latest = fetched
                    continue
                if name in RECORDED:
                    # no fetch state: a stored day is complete (the monitor's days may be
                    # appended chunks only), a missing one matters only if there were shows;
                    # a day a sync wrote (the sandbox's viewer export) under an older schema
                    # is stale, like any synced partition
                    if d not in stored and not _no_shows(store, d):
                        lost.append(d)
                    elif d in stored and _older_schema(ds, store.partition_meta(name, d)):
                        old.append(d)
                    continue
                meta = store.partition_meta(name, d)
                if meta is None:
                    lost.append(d)
                    continue
                fetched = _fetched_at(meta)
                if fetched is not None and (latest is None or fetched > latest):
                    latest = fetched
                if needs_fetch(ds, d, meta, now, refresh=False):
                    old.append(d)
            if lost:
                missing[name] = tuple(lost)
            if old:
                stale[name] = tuple(old)
        return Coverage(self.source, first, last, names, today, missing, stale, partial, latest)

    # ---- fetching ---------------------------------------------------------------------------
    def prepare(
        self,
        start: date | str,
        end: date | str | None = None,
        *,
        datasets: Iterable[str] = ("rooms",),
    ) -> Coverage:
        """Make [start, end] of ``datasets`` ready to read; return how complete it is.

        A live kit fetches nothing (schedule ``livekit sync`` for that, see
        ``params/schedules.yaml``). A sandbox kit first fills the missing or stale closed days,
        by running the CLI in a subprocess (``livekit sync --sandbox``, and ``livekit sandbox
        replay`` for the live monitor's datasets).
        """
        names = tuple(dict.fromkeys(datasets))
        cov = self.coverage(start, end, datasets=names)  # needs the kit's own shop
        if self.source == "sandbox":
            synced = [n for n in names if n not in MONITOR]
            todo = {d for n in synced for d in (*cov.missing.get(n, ()), *cov.stale.get(n, ()))}
            store = self.store
            # today is not over: fetched when not stored yet (T+1 analysis never has today)
            todo |= {
                d
                for d in cov.partial
                if d == cov.today
                for n in synced
                if n != "room_analysis" and store.partition_meta(n, d) is None
            }
            if todo:
                first, last = min(todo), max(todo)
                self._cli("sync", "--sandbox", "--quiet", "--from", str(first), "--to", str(last))
            replay = sorted({d for n in names if n in MONITOR for d in cov.missing.get(n, ())})
            if replay:
                self._cli("sandbox", "replay", "--from", str(replay[0]), "--to", str(replay[-1]))
            if todo or replay:
                cov = self.coverage(start, end, datasets=names)
        return cov

    def sync(
        self,
        start: date | str,
        end: date | str | None = None,
        *,
        datasets: Sequence[str] | None = None,
        refresh: bool = False,
        progress: bool = True,
    ) -> SyncResult:
        """Fetch [start, end] (``end`` defaults to ``start``) into this kit's store.

        Closed days already stored and final are not fetched again unless ``refresh``; today
        always is. A live kit runs the ingest here (works inside Jupyter's running event loop
        too); a sandbox kit runs ``livekit sync --sandbox`` in a subprocess (no progress bar).
        """
        from livekit.dates import resolve_range

        first, last = resolve_range(start, end)
        if self.source == "live":
            return sync_store(
                self._own_settings(),
                first,
                last,
                refresh=refresh,
                datasets=datasets,
                progress=progress,
            )
        args = ["sync", "--sandbox", "--json", "--from", str(first), "--to", str(last)]
        if refresh:
            args.append("--refresh")
        if datasets:
            args += ["--datasets", ",".join(datasets)]
        return _result_from_json(self._cli(*args))

    def _cli(self, *args: str) -> str:
        """``python -m livekit ARGS`` against this kit's base home; its stdout, or one error line."""
        env = {**os.environ, "LIVEKIT_HOME": str(self._base.home), "NO_COLOR": "1"}
        env["PYTHONIOENCODING"] = "utf-8"
        try:
            done = subprocess.run(
                [sys.executable, "-m", "livekit", *args],
                capture_output=True,
                text=True,
                encoding="utf-8",
                env=env,
                timeout=SUBPROCESS_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise LivekitError(
                f"沙盒命令 livekit {' '.join(args)} 超过 {SUBPROCESS_TIMEOUT:.0f} 秒未完成"
            ) from None
        if done.returncode != 0:
            lines = [x.strip() for x in done.stderr.splitlines() if x.strip()]
            said = next((x for x in lines if x.startswith("错误：")), lines[-1] if lines else "")
            raise LivekitError(
                f"沙盒命令 livekit {' '.join(args)} 失败（退出码 {done.returncode}）："
                f"{said.removeprefix('错误：')}"
            )
        return done.stdout


def _no_shows(store: Store, d: date) -> bool:
    """True when the rooms of day ``d`` are stored and there were none (nothing to record)."""
    meta = store.partition_meta("rooms", d)
    return meta is not None and meta.get("rows") == "0"


def _older_schema(ds: Dataset, meta: dict[str, str] | None) -> bool:
    """True when a synced partition was written under another schema (imports carry none)."""
    from livekit.ingest.plan import schema_tag

    return meta is not None and "schema" in meta and meta["schema"] != schema_tag(ds)


def _fetched_at(meta: dict[str, str]) -> datetime | None:
    try:
        return datetime.fromisoformat(meta["fetched_at"])
    except (KeyError, ValueError):
        return None


def _range(start: date | str | None, end: date | str | None) -> tuple[date | None, date | None]:
    from livekit.dates import resolve_day, resolve_range

    if start is None:
        return None, resolve_day(end, name="end") if end is not None else None
    return resolve_range(start, end)


def _range_required(start: date | str, end: date | str | None) -> tuple[date, date]:
    from livekit.dates import resolve_range

    return resolve_range(start, end)


def _result_from_json(text: str) -> SyncResult:
    from livekit.ingest.run import DatasetResult, SyncResult

    line = next((x for x in reversed(text.splitlines()) if x.startswith("{")), None)
    if line is None:
        raise LivekitError("沙盒同步没有返回结果摘要")
    raw = json.loads(line)
    return SyncResult(
        date.fromisoformat(raw["start"]),
        date.fromisoformat(raw["end"]),
        {k: DatasetResult(**v) for k, v in raw["datasets"].items()},
        raw.get("accounts", []),
        float(raw.get("seconds", 0.0)),
        shop=raw.get("shop"),
        notes=list(raw.get("notes", [])),
    )


def result_json(result: SyncResult) -> str:
    """A sync's summary as one JSON line (``livekit sync --json``; read by a sandbox kit)."""
    from dataclasses import asdict

    return json.dumps(asdict(result), ensure_ascii=False, default=str)


# ---- the live sync (also used by livekit.jobs for the sandbox's in-process session) -------------
@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar with one line per dataset; yields the sync's progress callback."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:

        def update(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = bar.add_task(_label(name), total=total or 1)
                if total == 0:  # nothing to fetch: show it as complete
                    bar.update(bars[name], completed=1)
                    return
            bar.update(bars[name], completed=done, total=total)

        yield update


def sync_store(
    settings: Settings,
    first: date,
    last: date,
    *,
    refresh: bool = False,
    datasets: Sequence[str] | None = None,
    progress: bool = True,
    now: datetime | None = None,
    viewer_export_url: str | None = None,
    session_arms_url: str | None = None,
    explanations_url: str | None = None,
) -> SyncResult:
    """The ingest for [first, last] into ``settings.home``, synchronously (a running loop is fine)."""
    from livekit.api.runner import run
    from livekit.ingest.run import sync_async

    with progress_bar(progress) as update:
        return run(
            sync_async(
                settings,
                first,
                last,
                refresh=refresh,
                datasets=list(datasets) if datasets is not None else None,
                now=now,
                progress=update,
                viewer_export_url=viewer_export_url,
                session_arms_url=session_arms_url,
                explanations_url=explanations_url,
            )
        )


def open_source(
    source: str = "live",
    *,
    home: str | Path | None = None,
    settings: Settings | None = None,
    shop: str | None = None,
) -> Kit:
    """The :class:`Kit` for ``source`` ("live" or "sandbox"); see :func:`livekit.open`.

    ``shop`` picks the shop (:func:`livekit.shops.select`; None: ``LIVEKIT_SHOP``, else the
    only shop). With several shops and none picked the kit reads named shops only
    (``load(..., shop=...)``); the rest of it says which shops there are to pick from.
    """
    if source not in SOURCES:
        shown = (
            source if isinstance(source, str) and len(source) <= 40 else str(source)[:37] + "..."
        )
        raise LivekitError(f"数据来源 source 只能是 live 或 sandbox，收到 {shown!r}")
    from livekit.config import load_settings, prepare_home

    base = settings or (load_settings(home=Path(home)) if home is not None else load_settings())
    if settings is not None and home is not None:
        base = settings.model_copy(update={"home": Path(home).expanduser()})
        prepare_home(base.home)
    from livekit.shops import ShopError, select, shops_of

    if source == "sandbox":
        if shop is not None:
            raise ShopError(_SANDBOX_ONE_SHOP.format(shop=str(shop)[:40]))
        # the sandbox's data stays local (never in LIVEKIT_STORE_URL, with the real data), and
        # it is one shop whatever the project's shops file lists
        own = base.model_copy(
            update={"home": base.home / "sandbox", "store_url": None, "shop": None}
        )
        return Kit("sandbox", own, base)
    if shop is not None and not isinstance(shop, str):
        raise ShopError(f"店铺 shop 应为店铺 id 文本，收到 {type(shop).__name__}")
    if shop is None and base.shop is None and len(shops_of(base)) > 1:
        try:
            select(base)
        except ShopError as exc:  # several shops, none picked: said when it matters
            return Kit("live", base, base, unpicked=str(exc))
    return Kit("live", select(base, shop), base)
