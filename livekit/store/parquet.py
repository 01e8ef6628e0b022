"""Hive-partitioned Parquet in a plain folder, one file per (dataset, day), replaced atomically.

Layout::

    root/
      <dataset>/date=YYYY-MM-DD/part.parquet   one file per partition (a calendar day, China time)
      <dataset>/date=YYYY-MM-DD/chunk-*.parquet rows appended since (append-only datasets)
      .tmp/                                    temp files of writers in progress (and of deletes)
      .locks/                                  lock files for read-modify-write callers

The ``date`` column is not stored in the files: it comes from the hive path, so DuckDB, polars
(``hive_partitioning=True``), Spark or Trino read the folder in place. Hidden folders
(``.tmp``, ``.locks``) are skipped by those readers and by :meth:`Store.read`.

Guarantees:

* **Atomic replacement.** A partition is written to a unique temp file under ``root/.tmp/``
  (same file system), flushed and fsynced, then ``os.replace``\\ d onto its final path, and the
  directory is fsynced. Readers see either the old file or the new one, never half a file; a
  crash at any moment leaves the old or the new partition, plus at most a stale temp file that
  :meth:`Store.cleanup_temp` removes later. Deleting renames the file away first, then unlinks.
* **Re-fetching replaces, never duplicates.** A partition is the complete set of rows of that
  day; writing it again replaces it.
* **Exact schemas.** Files are written with exactly the caller's schema (column order and
  dtypes), so empty partitions and all-null columns keep their types; :meth:`Store.read` casts
  back to the schema it is given.
* **Self-describing.** Each file carries ``livekit.*`` key-value metadata (``dataset``, ``date``,
  ``rows`` plus the caller's keys such as ``fetched_at`` and ``final``), readable without
  loading the data (:meth:`Store.partition_meta`).
* **Appending is atomic too.** Datasets written while something happens (the live monitor's
  snapshots and alerts) add rows with :meth:`Store.append`: each call writes one whole
  ``chunk-<id>.parquet`` the same atomic way, and the same ``chunk_id`` written twice replaces
  instead of duplicating (a writer that crashed and redoes its last step writes the same id).
  :meth:`Store.compact` folds the chunks into ``part.parquet``, recording their names in the
  part's metadata *before* removing them, so a crash half-way leaves rows counted once: a reader
  skips chunks the part says it already holds.
* **Concurrent writers are safe.** Two processes may write at once: every replacement is atomic
  and the last one wins. Callers that read, merge and write back (imports) hold
  :meth:`Store.lock` around it.

The store holds nothing secret: tokens and credentials live elsewhere (``livekit.config``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import polars as pl
from filelock import FileLock

from livekit._files import fsync_dir
from livekit.vocab.errors import LivekitError

logger = logging.getLogger(__name__)

META_PREFIX = "livekit."
PART_FILE = "part.parquet"
CHUNK_PREFIX = "chunk-"
COMPACTED_META = "compacted_chunks"  # names of the chunk files a compacted part already holds
TEMP_DIR = ".tmp"
LOCK_DIR = ".locks"
RESERVED_META = frozenset({"dataset", "date", "rows"})

SchemaLike = Mapping[str, pl.DataType | type[pl.DataType]]
"""Column name to polars dtype (instances such as ``pl.Datetime("us", tz)`` or plain classes)."""

_DATASET_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_PARTITION_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def partition_day(name: str) -> date | None:
    """The day of a partition folder name ``date=YYYY-MM-DD`` (None for any other name)."""
    m = _PARTITION_RE.fullmatch(name)
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


_CHUNK_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,120}$")


class StoreError(LivekitError):
    """A stored partition exists but cannot be read (damaged outside of livekit)."""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def damaged(where: str, exc: BaseException) -> StoreError:
    """The error for a stored file that exists but cannot be read."""
    return StoreError(
        f"数据分区已损坏，无法读取：{where}（{_first_line(exc)}）。"
        "请重新同步该日期的数据（损坏的分区会被视为缺失并重新获取），或删除该文件。"
    )


def _check_dataset(dataset: str) -> None:
    if not _DATASET_RE.fullmatch(dataset):
        raise ValueError(f"invalid dataset name {dataset!r}: use letters, digits, '_' or '-'")


def _ensure_dir(path: Path) -> None:
    """``mkdir -p`` that also fsyncs the parent of every directory it creates."""
    if path.is_dir():
        return
    _ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def _conform(frame: pl.DataFrame, day: date, schema: SchemaLike) -> pl.DataFrame:
    """``frame`` with exactly the columns and dtypes of ``schema``; ValueError otherwise."""
    if "date" in schema:
        raise ValueError("'date' is the partition column: it must not be part of the schema")
    extra = [c for c in frame.columns if c not in schema and c != "date"]
    if extra:
        raise ValueError(f"columns not in the schema: {', '.join(map(repr, extra))}")
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"columns missing from the frame: {', '.join(map(repr, missing))}")
    if "date" in frame.columns:
        dates = frame.get_column("date")
        if dates.dtype != pl.Date or dates.null_count() or (dates != day).any():
            raise ValueError(
                f"the frame's 'date' column must be pl.Date and equal {day} throughout"
            )
    exprs: list[pl.Expr] = []
    for name, dtype in schema.items():
        src = frame.schema[name]
        if (
            isinstance(dtype, pl.Datetime)
            and dtype.time_zone is not None
            and isinstance(src, pl.Datetime)
            and src.time_zone is None
        ):
            raise ValueError(
                f"column {name!r} is a naive datetime; attach its time zone before storing "
                f"(a cast to {dtype} would read it as UTC)"
            )
        exprs.append(pl.col(name).cast(dtype, strict=True))
    try:
        return frame.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"frame does not fit the schema: {exc}") from exc


class Store:
    """A store of datasets partitioned by day, in the plain folder ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---- layout -------------------------------------------------------------------------
    def path(self, dataset: str, day: date) -> Path:
        """Where the partition of ``dataset`` for ``day`` lives (whether or not it exists)."""
        _check_dataset(dataset)
        return self.root / dataset / f"date={day.isoformat()}" / PART_FILE

    @property
    def temp_dir(self) -> Path:
        return self.root / TEMP_DIR

    def datasets(self) -> list[str]:
        """Names of the datasets that have a folder in the store."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and _DATASET_RE.fullmatch(p.name)
        )

    def partitions(self, dataset: str) -> list[date]:
        """The days stored for ``dataset``, ascending (stray files and folders are ignored)."""
        _check_dataset(dataset)
        base = self.root / dataset
        if not base.is_dir():
            return []
        out: list[date] = []
        for entry in base.iterdir():
            day = partition_day(entry.name)
            if day is not None and ((entry / PART_FILE).is_file() or self._chunk_files(entry)):
                out.append(day)
        return sorted(out)

    def lock(self, dataset: str) -> FileLock:
        """An inter-process lock for read-modify-write of ``dataset`` (``with store.lock(...)``)."""
        _check_dataset(dataset)
        _ensure_dir(self.root / LOCK_DIR)
        return FileLock(self.root / LOCK_DIR / f"{dataset}.lock")

    # ---- writing ------------------------------------------------------------------------
    def write_partition(
        self,
        dataset: str,
        day: date,
        frame: pl.DataFrame,
        schema: SchemaLike,
        meta: Mapping[str, str],
    ) -> Path:
        """Replace the partition ``(dataset, day)`` by ``frame`` atomically; return its path.

        ``frame`` is cast to ``schema`` (a missing or extra column raises ``ValueError``; a
        ``date`` column, if present, must equal ``day`` and is dropped: the path carries it).
        Zero rows are a valid partition ("fetched, nothing there"). ``meta`` is stored as
        ``livekit.<key>`` Parquet key-value metadata next to ``dataset``, ``date`` and ``rows``.
        """
        final = self.path(dataset, day)
        for key, value in meta.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"meta must map str to str, got {key!r}: {value!r}")
            if key in RESERVED_META or key.startswith(META_PREFIX):
                raise ValueError(f"meta key {key!r} is reserved or already prefixed")
        data = _conform(frame, day, schema)
        return self._write_atomic(final, dataset, day, data, meta)

    @staticmethod
    def _file_meta(
        dataset: str, day: date, data: pl.DataFrame, meta: Mapping[str, str]
    ) -> dict[str, str]:
        """The Parquet key-value metadata a partition file carries."""
        return {
            **{META_PREFIX + k: v for k, v in meta.items()},
            META_PREFIX + "dataset": dataset,
            META_PREFIX + "date": day.isoformat(),
            META_PREFIX + "rows": str(data.height),
        }

    def _write_atomic(
        self, final: Path, dataset: str, day: date, data: pl.DataFrame, meta: Mapping[str, str]
    ) -> Path:
        kv = self._file_meta(dataset, day, data, meta)
        _ensure_dir(self.temp_dir)
        fd, name = tempfile.mkstemp(
            prefix=f"{dataset}.{day.isoformat()}.", suffix=".parquet.tmp", dir=self.temp_dir
        )
        os.close(fd)
        tmp = Path(name)
        try:
            data.write_parquet(tmp, metadata=kv)
            with tmp.open("rb+") as f:
                os.fsync(f.fileno())
            for attempt in range(5):
                _ensure_dir(final.parent)
                try:
                    os.replace(tmp, final)
                    break
                except FileNotFoundError:
                    # a concurrent delete removed the empty partition folder in between
                    if attempt == 4:
                        raise
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(final.parent)
        return final

    def append(
        self,
        dataset: str,
        day: date,
        frame: pl.DataFrame,
        schema: SchemaLike,
        chunk_id: str,
        meta: Mapping[str, str] | None = None,
    ) -> Path:
        """Add ``frame``'s rows to ``(dataset, day)`` as one atomically written chunk file.

        ``chunk_id`` names the chunk (letters, digits, ``_.-``). Appending the same id again
        replaces that chunk, so redoing a step after a crash never duplicates rows. Readers see
        the chunk whole or not at all.
        """
        if not _CHUNK_ID_RE.fullmatch(chunk_id):
            raise ValueError(f"bad chunk id {chunk_id!r}")
        final = self.path(dataset, day).with_name(f"{CHUNK_PREFIX}{chunk_id}.parquet")
        return self._write_atomic(final, dataset, day, _conform(frame, day, schema), meta or {})

    def compact(self, dataset: str, day: date, schema: SchemaLike) -> int:
        """Fold the chunks of ``(dataset, day)`` into its ``part.parquet``; return how many.

        The new part lists the chunks it absorbed in its metadata and is in place before any
        chunk is removed, so readers never count a row twice or miss one, whenever a crash
        happens. Callers hold :meth:`lock` so that two compactions don't race.
        """
        folder = self.path(dataset, day).parent
        chunks = self._chunk_files(folder)
        if not chunks:
            return 0
        already = self._compacted(folder)
        pieces = [self._read_file(folder / PART_FILE)]
        pieces += [self._read_file(c) for c in chunks if c.name not in already]
        frame = pl.concat(
            [_conform(p, day, schema) for p in pieces if p is not None]
            or [pl.DataFrame(schema=dict(schema))],
            how="vertical",
        )
        absorbed = sorted({*already, *(c.name for c in chunks)})
        meta = dict(self.partition_meta(dataset, day) or {})
        for key in (*RESERVED_META, COMPACTED_META):
            meta.pop(key, None)
        meta[COMPACTED_META] = ",".join(absorbed)
        self._write_atomic(folder / PART_FILE, dataset, day, _conform(frame, day, schema), meta)
        for chunk in chunks:
            chunk.unlink(missing_ok=True)
        fsync_dir(folder)
        return len(chunks)

    @staticmethod
    def _chunk_files(folder: Path) -> list[Path]:
        try:
            return sorted(
                p
                for p in folder.iterdir()
                if p.name.startswith(CHUNK_PREFIX) and p.name.endswith(".parquet")
            )
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _compacted(self, folder: Path) -> set[str]:
        try:
            kv = self._load_meta(folder / PART_FILE)
        except (OSError, pl.exceptions.PolarsError):
            return set()
        return {n for n in kv.get(META_PREFIX + COMPACTED_META, "").split(",") if n}

    def delete_partition(self, dataset: str, day: date) -> bool:
        """Remove a partition atomically (rename away, then unlink); False if it wasn't there."""
        final = self.path(dataset, day)
        _ensure_dir(self.temp_dir)
        found = False
        for path in [final, *self._chunk_files(final.parent)]:
            doomed = self.temp_dir / f"{dataset}.{day.isoformat()}.{uuid.uuid4().hex}.deleted"
            try:
                os.replace(path, doomed)
            except FileNotFoundError:
                continue
            found = True
            doomed.unlink(missing_ok=True)
        if not found:
            return False
        fsync_dir(final.parent)
        with contextlib.suppress(OSError):  # not empty (a writer just wrote there) or gone
            final.parent.rmdir()
        return True

    def cleanup_temp(self, older_than_s: float = 3600) -> int:
        """Remove temp files older than ``older_than_s`` left by crashed writers; return the count.

        Only old files go: another process may be writing a fresh one right now.
        """
        if not self.temp_dir.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for entry in self.temp_dir.iterdir():
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # its writer renamed or removed it meanwhile
        if removed:
            logger.info("removed %d stale temp file(s) from %s", removed, self.temp_dir)
        return removed

    # ---- reading ------------------------------------------------------------------------
    def partition_meta(self, dataset: str, day: date) -> dict[str, str] | None:
        """The ``livekit.*`` metadata of a partition (prefix stripped); None if absent or damaged.

        A damaged file counts as absent (with a warning) so that a sync fetches it again.
        """
        path = self.path(dataset, day)
        try:
            kv = self._load_meta(path)
        except FileNotFoundError:
            return None
        except (OSError, pl.exceptions.PolarsError) as exc:
            logger.warning("partition %s is unreadable, treating it as absent: %s", path, exc)
            return None
        return {k.removeprefix(META_PREFIX): v for k, v in kv.items() if k.startswith(META_PREFIX)}

    def _load_meta(self, path: Path) -> dict[str, str]:
        """A partition file's key-value metadata (FileNotFoundError when it is absent)."""
        return pl.read_parquet_metadata(path)

    def read(
        self,
        dataset: str,
        schema: SchemaLike,
        start: date | None = None,
        end: date | None = None,
    ) -> pl.DataFrame:
        """Rows of the partitions with ``start <= date <= end`` (bounds optional).

        Columns: ``date`` (``pl.Date``) then the schema's columns with exactly its dtypes. No
        partitions give an empty frame of that shape. A column missing from an older file reads
        as null; columns not in ``schema`` are dropped. Each file is read through one open
        handle, so a concurrent replacement can't mix two versions; a partition deleted
        meanwhile is skipped. A damaged file raises :class:`StoreError`.
        """
        if "date" in schema:
            raise ValueError("'date' is the partition column: it must not be part of the schema")
        frames: list[pl.DataFrame] = []
        for day in self.partitions(dataset):
            if (start is not None and day < start) or (end is not None and day > end):
                continue
            part = self._read_day(dataset, day, schema)
            if part is not None:
                frames.append(part)
        if not frames:
            return pl.DataFrame(schema={"date": pl.Date(), **schema})
        return pl.concat(frames, how="vertical")

    def _read_day(self, dataset: str, day: date, schema: SchemaLike) -> pl.DataFrame | None:
        """One day's rows (part plus chunks not yet compacted); None if nothing is there."""
        final = self.path(dataset, day)
        for _ in range(5):
            chunks = self._chunk_files(final.parent)
            pieces: list[pl.DataFrame] = []
            part = self._read_file(final)
            absorbed: set[str] = set()
            if part is not None:
                pieces.append(part)
                if chunks:
                    absorbed = self._compacted(final.parent)
            vanished = False
            for chunk in chunks:
                if chunk.name in absorbed:
                    continue
                piece = self._read_file(chunk)
                if piece is None:  # compacted meanwhile: its rows are in a newer part
                    vanished = True
                    break
                pieces.append(piece)
            if not vanished:
                break
        if not pieces:
            return None
        out: list[pl.DataFrame] = []
        for piece in pieces:
            missing = [pl.lit(None, dtype=t).alias(n) for n, t in schema.items() if n not in piece]
            piece = piece.with_columns(pl.lit(day, dtype=pl.Date).alias("date"), *missing)
            casts = [pl.col(n).cast(t, strict=True) for n, t in schema.items()]
            out.append(piece.select(pl.col("date"), *casts))
        return pl.concat(out, how="vertical") if len(out) > 1 else out[0]

    def _read_file(self, path: Path) -> pl.DataFrame | None:
        try:
            with path.open("rb") as f:
                return pl.read_parquet(f)
        except FileNotFoundError:
            return None
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise damaged(str(path), exc) from exc
