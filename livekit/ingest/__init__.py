"""API → store: which calls, in what order, what is already fresh (``livekit sync``).

(The layer is called ``ingest`` rather than ``sync`` so that ``livekit.sync`` can be the public
function users call; a subpackage of that name would shadow it.)
"""

from livekit.ingest.run import SyncResult, sync_async

__all__ = ["SyncResult", "sync_async"]
