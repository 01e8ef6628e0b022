"""livekit's local store: hive-partitioned Parquet in a plain folder (see :mod:`.parquet`)."""

from livekit.store.parquet import META_PREFIX, SchemaLike, Store, StoreError

__all__ = ["META_PREFIX", "SchemaLike", "Store", "StoreError"]
