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


def _day(value: date | str | None, what: str) -> date | None:
    from livekit.config import LivekitError

    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise LivekitError(f"{what} 应为 YYYY-MM-DD 格式的日期，收到 {value!r}") from None


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

    Closed days already stored and final are not fetched again unless ``refresh``; today always
    is. ``sandbox=True`` runs the same against an in-process sandbox, viewer export included.
    Works in plain Python and inside Jupyter's running event loop.
    """
    from livekit.jobs import run_sync

    first = _day(start, "start")
    assert first is not None
    last = _day(end, "end") or first
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
    """Rows of dataset ``name`` for days in [start, end] (both optional) as a polars frame."""
    from livekit.store import Store
    from livekit.store.datasets import get

    ds = get(name)
    s = _settings(sandbox, settings)
    return Store(s.store_dir).read(name, ds.schema, _day(start, "start"), _day(end, "end"))


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
