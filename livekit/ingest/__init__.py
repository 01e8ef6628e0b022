"""API → store: which calls, in what order, what is already fresh (``livekit sync``).

(The layer is called ``ingest`` rather than ``sync`` so that ``livekit.sync`` can be the public
function users call; a subpackage of that name would shadow it.)

``SyncResult`` and ``sync_async`` load lazily: reading what is stored and fresh
(``livekit.ingest.plan``, which every report's coverage check uses) must not import the HTTP
client (httpx, stamina, the API modules), which only a sync needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livekit.ingest.run import SyncResult, sync_async

__all__ = ["SyncResult", "sync_async"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from livekit.ingest import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
