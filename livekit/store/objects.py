"""The store on S3-compatible object storage (``LIVEKIT_STORE_URL=s3://bucket/prefix``).

Same layout as the local folder, under the URL's prefix::

    s3://bucket/prefix/<dataset>/date=YYYY-MM-DD/part.parquet

:class:`ObjectStore` is a :class:`~livekit.store.parquet.Store` whose file operations are
object operations; the layout, schemas, validation, metadata and reading logic are the local
store's, inherited, not repeated. The guarantees map as follows:

* **Whole or nothing.** A partition is serialized in memory and sent with ONE plain PUT (never a
  multipart upload): S3 makes an object visible only once the PUT completed, so a writer killed
  at any moment leaves the old object or the new one, and no pending upload to clean up
  (:meth:`ObjectStore.cleanup_temp` therefore has nothing to do). A PUT is capped at 5 GB, far
  above one day of one shop's data.
* **Self-describing.** The ``livekit.*`` metadata sits inside the Parquet footer, exactly as on
  disk, so it changes atomically with the data; :meth:`Store.partition_meta` fetches only the
  footer (one suffix GET).
* **No torn reads.** :meth:`Store.read` fetches each partition with one whole-object GET and
  parses the bytes. polars reading in place issues several range GETs that a concurrent
  overwrite can tear (measured in docs/scaleout.md section 4), so outside readers
  (``pl.scan_parquet("s3://…", storage_options=…)``) should retry a partition being rewritten.
* **Chunked datasets stay local in this version.** The live monitor's append/compact
  (``chunk-*.parquet`` next to the part) raise one Chinese error on an object store.
* **Locks are per machine.** :meth:`ObjectStore.lock` is a file lock in the local temp folder:
  it serializes read-merge-write callers (viewer imports) on one machine only.

``obstore`` (the ``s3`` extra) is imported only when an object store is opened.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import polars as pl
from filelock import FileLock

from livekit.store.parquet import (
    _DATASET_RE,
    PART_FILE,
    SchemaLike,
    Store,
    StoreError,
    _check_dataset,
    _first_line,
    damaged,
    partition_day,
)
from livekit.vocab.errors import LivekitError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from obstore.store import S3Store
    from pydantic import SecretStr


NOT_DATASETS = frozenset({"reports"})  # published reports (livekit.reports.publish) sit beside
FOOTER_READ = 64 * 1024  # bytes fetched to read a partition's metadata (its footer is ~1 KiB)
MAGIC = b"PAR1"

CHUNKED_UNSUPPORTED = (
    "对象存储（LIVEKIT_STORE_URL）暂不支持分块追加的数据集 {dataset}（直播监控的快照与告警）："
    "请在本地存储上运行直播监控（不设置 LIVEKIT_STORE_URL）。"
)


class ObjectStore(Store):
    """A store of datasets partitioned by day, under ``s3://bucket/prefix``."""

    def __init__(
        self,
        url: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: SecretStr | None = None,
    ) -> None:
        rest = url.removeprefix("s3://")
        bucket, _, prefix = rest.strip("/").partition("/")
        if rest == url or not bucket:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        super().__init__(Path(url))
        self.url = f"s3://{bucket}/{prefix}".rstrip("/")
        self._options: dict[str, str] = {}
        if endpoint:
            self._options["endpoint"] = endpoint
        if region:
            self._options["region"] = region
        if access_key_id:
            self._options["access_key_id"] = access_key_id
        if secret_access_key is not None:
            self._options["secret_access_key"] = secret_access_key.get_secret_value()
        try:
            from obstore.store import S3Store
        except ImportError:
            raise LivekitError(
                "LIVEKIT_STORE_URL 指向对象存储，需要先安装对象存储支持："
                "pip install 'douyin-livekit[s3]'"
            ) from None
        client = {"allow_http": True} if endpoint and endpoint.startswith("http://") else {}
        # obstore reads the standard AWS_* variables for whatever is not given here
        self._s3: S3Store = S3Store(
            bucket,
            prefix=prefix or None,
            client_options=client,  # type: ignore[arg-type]
            **self._options,  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def storage_options(self) -> dict[str, str]:
        """polars' ``storage_options`` for reading this store in place (holds the secret)."""
        names = {
            "endpoint": "aws_endpoint_url",
            "region": "aws_region",
            "access_key_id": "aws_access_key_id",
            "secret_access_key": "aws_secret_access_key",
        }
        out = {names[k]: v for k, v in self._options.items()}
        if self._options.get("endpoint", "").startswith("http://"):
            out["aws_allow_http"] = "true"
        return out

    # ---- object primitives ----------------------------------------------------------------
    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _where(self, key: str) -> str:
        return f"{self.url}/{key}"

    def _failed(self, what: str, key: str, exc: BaseException) -> StoreError:
        return StoreError(f"对象存储{what}失败：{self._where(key)}（{_first_line(exc)}）")

    def _get(self, key: str, suffix: int | None = None) -> bytes:
        """The whole object, or its last ``suffix`` bytes, in one GET (FileNotFoundError when
        it is absent). One GET always sees one version of the object."""
        import obstore

        options: dict[str, Any] = {} if suffix is None else {"range": {"suffix": suffix}}
        try:
            return bytes(obstore.get(self._s3, key, options=options).bytes())  # type: ignore[arg-type]
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise self._failed("读取", key, exc) from exc

    def _list(self, prefix: str) -> list[str]:
        import obstore

        try:
            return [m["path"] for m in obstore.list(self._s3, prefix=prefix).collect()]
        except Exception as exc:
            raise self._failed("列举", prefix, exc) from exc

    # ---- plain objects (published reports) ------------------------------------------------
    # Generic helpers for what is not a dataset (livekit.reports.publish): keys are relative
    # to the store's prefix; every write is one plain PUT, so an object is whole or absent.
    def put_object(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write ``data`` at ``key`` with one plain PUT (the old object or the new, never half)."""
        import obstore

        attributes = {"Content-Type": content_type} if content_type else None
        try:
            obstore.put(self._s3, key, data, attributes=attributes, use_multipart=False)
        except Exception as exc:
            raise self._failed("写入", key, exc) from exc

    def get_object(self, key: str) -> bytes | None:
        """The object at ``key`` (one GET), or None when there is none."""
        try:
            return self._get(key)
        except FileNotFoundError:
            return None

    def url_of(self, key: str) -> str:
        """``s3://bucket/prefix/<key>``: where an object is, for messages (holds no secret)."""
        return self._where(key)

    def list_objects(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (relative to the store's prefix), sorted."""
        return sorted(self._list(prefix))

    def delete_object(self, key: str) -> None:
        """Delete the object at ``key`` (nothing happens when there is none)."""
        import obstore

        try:
            obstore.delete(self._s3, key)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._failed("删除", key, exc) from exc

    # ---- layout -------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        import obstore

        try:
            found = obstore.list_with_delimiter(self._s3)["common_prefixes"]
        except Exception as exc:
            raise self._failed("列举", "", exc) from exc
        names = (p.rstrip("/").rsplit("/", 1)[-1] for p in found)
        return sorted(n for n in names if _DATASET_RE.fullmatch(n) and n not in NOT_DATASETS)

    def partitions(self, dataset: str) -> list[date]:
        _check_dataset(dataset)
        out: list[date] = []
        for key in self._list(f"{dataset}/"):
            folder, _, name = key.removeprefix(f"{dataset}/").partition("/")
            day = partition_day(folder) if name == PART_FILE else None
            if day is not None:
                out.append(day)
        return sorted(out)

    def lock(self, dataset: str) -> FileLock:
        """A lock for read-modify-write of ``dataset`` on THIS machine (a local file lock)."""
        _check_dataset(dataset)
        tag = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / "livekit-store-locks" / tag
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(folder / f"{dataset}.lock")

    # ---- writing ------------------------------------------------------------------------
    def _write_atomic(
        self, final: Path, dataset: str, day: date, data: pl.DataFrame, meta: Mapping[str, str]
    ) -> Path:
        import obstore

        buf = io.BytesIO()
        data.write_parquet(buf, metadata=self._file_meta(dataset, day, data, meta))
        key = self._key(final)
        try:
            # one plain PUT: the object appears whole or not at all, no upload is left behind
            obstore.put(self._s3, key, buf.getvalue(), use_multipart=False)
        except Exception as exc:
            raise self._failed("写入", key, exc) from exc
        return final

    def append(
        self,
        dataset: str,
        day: date,
        frame: pl.DataFrame,
        schema: SchemaLike,
        chunk_id: str,
        meta: Mapping[str, str] | None = None,
    ) -> NoReturn:
        raise LivekitError(CHUNKED_UNSUPPORTED.format(dataset=dataset))

    def compact(self, dataset: str, day: date, schema: SchemaLike) -> NoReturn:
        raise LivekitError(CHUNKED_UNSUPPORTED.format(dataset=dataset))

    @staticmethod
    def _chunk_files(folder: Path) -> list[Path]:
        return []  # chunks are never written to an object store

    def delete_partition(self, dataset: str, day: date) -> bool:
        import obstore

        key = self._key(self.path(dataset, day))
        try:
            obstore.head(self._s3, key)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._failed("读取", key, exc) from exc
        try:
            obstore.delete(self._s3, key)
        except Exception as exc:
            raise self._failed("删除", key, exc) from exc
        return True

    def cleanup_temp(self, older_than_s: float = 3600) -> int:
        """Nothing to clean: writes are single PUTs, which leave no temp object or upload."""
        return 0

    # ---- reading ------------------------------------------------------------------------
    def _load_meta(self, path: Path) -> dict[str, str]:
        # Only the footer is fetched (a sync asks for the metadata of every day it plans):
        # one suffix GET, so the footer belongs to one version of the object. Hand-written
        # because polars and pyarrow parse a footer only from the whole file: the tail is
        # framed as a file of no data ("PAR1" + footer + its length + "PAR1"), which suffices
        # for the key-value metadata. A footer longer than the tail costs one whole GET.
        key = self._key(path)
        tail = self._get(key, suffix=FOOTER_READ)
        if len(tail) >= FOOTER_READ and tail[-4:] == MAGIC:
            footer = int.from_bytes(tail[-8:-4], "little")
            tail = MAGIC + tail[-(footer + 8) :] if footer + 8 <= len(tail) else self._get(key)
        return pl.read_parquet_metadata(io.BytesIO(tail))

    def _read_file(self, path: Path) -> pl.DataFrame | None:
        key = self._key(path)
        try:
            data = self._get(key)
        except FileNotFoundError:
            return None
        try:
            return pl.read_parquet(io.BytesIO(data))
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise damaged(self._where(key), exc) from exc
