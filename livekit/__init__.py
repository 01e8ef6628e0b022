"""livekit: analysis kit for merchants who sell through Douyin live streams.

The distribution is ``douyin-livekit``; the import name is ``livekit``. Importing this package
is cheap: heavy libraries (polars, numpy, starlette, ...) load only when a feature needs them.

The everyday surface::

    import livekit
    kit = livekit.open()                            # live data ("sandbox": the offline sandbox)
    kit.sync("2026-11-01", "2026-11-27")            # fetch into the local store (explicit)
    cov = kit.prepare("2026-11-01", "2026-11-27", datasets=("rooms",))
    cov.note                                        # one Chinese line if not fully synced
    rooms = kit.load("rooms", "2026-11-01", "2026-11-27")   # a pure read: a polars DataFrame
    kit.datasets()                                  # what is stored, with descriptions

With a shops file (an agency's many shops, see :mod:`livekit.shops`)::

    kit = livekit.open(shop="flagship")             # one shop's data (shop=<id>/ of the store)
    kit.load("rooms", "2026-11-01", shop="*")       # every shop, with a leading "shop" column
    kit.shops()                                     # the shops file as a frame

``livekit.sync``, ``livekit.load`` and ``livekit.datasets`` are shortcuts on ``livekit.open()``.
This module imports only :mod:`livekit.source` (lazily) and the layers below it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from livekit.config import Settings
    from livekit.ingest.run import SyncResult
    from livekit.source import Kit

__version__ = "0.1.0"

__all__ = ["__version__", "datasets", "load", "open", "sync"]


def open(  # livekit.open(source) is the public name, like io.open
    source: str = "live",
    *,
    home: str | Path | None = None,
    settings: Settings | None = None,
    shop: str | None = None,
) -> Kit:
    """The data source ``source``: ``"live"`` (the shop's synced data, the default) or
    ``"sandbox"`` (the built-in offline sandbox, its own store under ``LIVEKIT_HOME/sandbox``).

    ``home`` reads another LIVEKIT_HOME; ``settings`` gives the settings outright. Any other
    ``source`` is one Chinese :class:`LivekitError` naming the valid values.

    ``shop`` picks a shop of the shops file (None: ``LIVEKIT_SHOP``, else the only shop; no
    shops file: the one shop, as always). An unknown id is one :class:`ShopError` line; the
    sandbox has one shop, so ``open("sandbox", shop=...)`` is one too.
    """
    from livekit.source import open_source

    return open_source(source, home=home, settings=settings, shop=shop)


def sync(
    start: date | str,
    end: date | str | None = None,
    *,
    refresh: bool = False,
    datasets: list[str] | None = None,
    progress: bool = True,
    settings: Settings | None = None,
) -> SyncResult:
    """``livekit.open().sync(...)``: fetch [start, end] of the live data into the local store.

    Days may be ISO dates or relative words (``yesterday``, ``7_days_ago``); ``start`` may be
    a range word (``last_7_days``, ``last_month``) with no ``end``: see :mod:`livekit.dates`.
    Closed days already stored and final are not fetched again unless ``refresh``; today always
    is. Works in plain Python and inside Jupyter's running event loop.
    """
    return open(settings=settings).sync(
        start, end, datasets=datasets, refresh=refresh, progress=progress
    )


def load(
    name: str,
    start: date | str | None = None,
    end: date | str | None = None,
    *,
    settings: Settings | None = None,
    shop: str | list[str] | tuple[str, ...] | None = None,
) -> pl.DataFrame:
    """``livekit.open().load(...)``: rows of dataset ``name`` for days in [start, end] (both
    optional) from the local store, as a polars frame. A pure read: nothing is fetched.
    ``shop`` as :meth:`livekit.source.Kit.load` takes it (one id, several, or ``"*"``)."""
    return open(settings=settings).load(name, start, end, shop=shop)


def datasets(*, settings: Settings | None = None) -> pl.DataFrame:
    """``livekit.open().datasets()``: name, description, source, and what is stored locally."""
    return open(settings=settings).datasets()
