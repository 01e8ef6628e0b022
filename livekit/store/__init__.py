"""livekit's store: hive-partitioned Parquet in a plain folder (see :mod:`.parquet`) or, with
``LIVEKIT_STORE_URL``, on S3-compatible object storage (see :mod:`.objects`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livekit.store.parquet import META_PREFIX, SchemaLike, Store, StoreError

if TYPE_CHECKING:
    from livekit.config import Settings

SHOP_LEVEL = "shop="  # the store's shop level: shop=<id>/<dataset>/date=<day>/

__all__ = ["META_PREFIX", "SHOP_LEVEL", "SchemaLike", "Store", "StoreError", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store ``settings`` point at: ``LIVEKIT_STORE_URL`` if set, else ``<home>/store``.

    With ``settings.shop`` (many shops, :mod:`livekit.shops`) it is that shop's part of the
    store, ``shop=<id>/``: the same layout one level down, so a Hive reader over
    ``shop=*/<dataset>/date=*`` reads every shop in place.
    """
    level = f"{SHOP_LEVEL}{settings.shop}" if settings.shop else None
    if settings.store_url is None:
        return Store(settings.store_dir / level if level else settings.store_dir)
    from livekit.store.objects import ObjectStore

    return ObjectStore(
        f"{settings.store_url}/{level}" if level else settings.store_url,
        endpoint=settings.s3_endpoint,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
    )
