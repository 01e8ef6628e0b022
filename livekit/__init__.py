"""livekit: analysis kit for merchants who sell through Douyin live streams.

The distribution is ``douyin-livekit``; the import name is ``livekit``. Importing this package
is cheap: heavy libraries (polars, numpy, starlette, ...) load only when a feature needs them.

The everyday surface::

    import livekit
    livekit.sync("2026-11-01", "2026-11-27")        # fetch into the local store
    livekit.datasets()                              # what is stored, with descriptions
    rooms = livekit.load("rooms", "2026-11-01")     # a polars DataFrame

Pass ``sandbox=True`` to work against the built-in offline sandbox (its own store).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from livekit.config import Settings
    from livekit.ingest.run import SyncResult

__version__ = "0.1.0"

__all__ = ["__version__", "datasets", "load", "sync"]


def _settings(sandbox: bool, settings: Settings | None) -> Settings:
    from livekit.config import load_settings

    s = settings or load_settings()
    return s.model_copy(update={"home": s.home / "sandbox"}) if sandbox else s


def _range(start: date | str | None, end: date | str | None) -> tuple[date | None, date | None]:
    from livekit.dates import resolve_day, resolve_range

    if start is None:
        return None, resolve_day(end, name="end") if end is not None else None
    return resolve_range(start, end)


def sync(
    start: date | str,
    end: date | str | None = None,
    *,
    refresh: bool = False,
    datasets: list[str] | None = None,
    sandbox: bool = False,
    progress: bool = True,
    settings: Settings | None = None,
) -> SyncResult:
    """Fetch [start, end] (China-time days; ``end`` defaults to ``start``) into the local store.

    Days may be ISO dates or relative words (``yesterday``, ``7_days_ago``); ``start`` may be
    a range word (``last_7_days``, ``last_month``) with no ``end``: see :mod:`livekit.dates`.

    Closed days already stored and final are not fetched again unless ``refresh``; today always
    is. ``sandbox=True`` runs the same against an in-process sandbox, viewer export included.
    Works in plain Python and inside Jupyter's running event loop.
    """
    from livekit.dates import resolve_range
    from livekit.jobs import run_sync

    first, last = resolve_range(start, end)
    return run_sync(
        first,
        last,
        refresh=refresh,
        datasets=datasets,
        sandbox=sandbox,
        progress=progress,
        settings=settings,
    )


def load(
    name: str,
    start: date | str | None = None,
    end: date | str | None = None,
    *,
    sandbox: bool = False,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """Rows of dataset ``name`` for days in [start, end] (both optional) as a polars frame.

    Dates as in :func:`sync`. With ``sandbox=True`` and a date range, days of the range that are
    not stored yet are first synced from the built-in sandbox, so notebooks run offline as is.
    """
    from livekit.store import Store
    from livekit.store.datasets import get

    ds = get(name)
    s = _settings(sandbox, settings)
    first, last = _range(start, end)
    store = Store(s.store_dir)
    from livekit.store.datasets import MONITOR_DATASETS

    if sandbox and first is not None and last is not None and name in MONITOR_DATASETS:
        # The monitor's datasets are written while shows are on air, never synced: the sandbox
        # replays the missing past days' shows through the monitor instead.
        from datetime import timedelta

        from livekit.jobs import fill_sandbox_monitor

        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        fill_sandbox_monitor(days, settings)
    elif sandbox and first is not None and last is not None:
        from datetime import timedelta

        from livekit.dates import today

        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        wanted = [d for d in days if d < today()] or days  # today's data is always partial
        if any(store.partition_meta(name, d) is None for d in wanted):
            from livekit.jobs import run_sync

            # run_sync holds the sandbox session lock: a concurrent caller syncs after us and
            # then finds every partition present (no request is made twice).
            run_sync(first, last, sandbox=True, progress=False, settings=settings)
    return store.read(name, ds.schema, first, last)


def datasets(*, sandbox: bool = False, settings: Settings | None = None) -> pl.DataFrame:
    """The datasets livekit keeps: name, description, source, and what is stored locally."""
    import polars as pl

    from livekit.store import Store
    from livekit.store.datasets import all_datasets

    store = Store(_settings(sandbox, settings).store_dir)
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
