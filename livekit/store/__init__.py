"""livekit's store: hive-partitioned Parquet in a plain folder (see :mod:`.parquet`) or, with
``LIVEKIT_STORE_URL``, on S3-compatible object storage (see :mod:`.objects`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livekit.store.parquet import META_PREFIX, SchemaLike, Store, StoreError

if TYPE_CHECKING:
    from livekit.config import Settings

__all__ = ["META_PREFIX", "SchemaLike", "Store", "StoreError", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store ``settings`` point at: ``LIVEKIT_STORE_URL`` if set, else ``<home>/store``."""
    if settings.store_url is None:
        return Store(settings.store_dir)
    from livekit.store.objects import ObjectStore

    return ObjectStore(
        settings.store_url,
        endpoint=settings.s3_endpoint,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
    )
