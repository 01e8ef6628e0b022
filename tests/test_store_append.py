"""Append-only datasets: chunks written atomically, idempotent by id, compacted without loss."""

from __future__ import annotations

import shutil
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from livekit.store import Store

DAY = date(2026, 11, 22)
SCHEMA = {"k": pl.Int64(), "v": pl.Float64()}


def rows(*pairs: tuple[int, float]) -> pl.DataFrame:
    return pl.DataFrame({"k": [p[0] for p in pairs], "v": [p[1] for p in pairs]}, schema=SCHEMA)


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    return Store(tmp_path / "store")


def read(store: Store) -> pl.DataFrame:
    return store.read("snap", SCHEMA).drop("date").sort("k")


def test_appended_chunks_read_as_one_partition(store: Store) -> None:
    store.append("snap", DAY, rows((1, 1.0), (2, 2.0)), SCHEMA, "t1")
    store.append("snap", DAY, rows((3, 3.0)), SCHEMA, "t2")
    assert store.partitions("snap") == [DAY]
    assert_frame_equal(read(store), rows((1, 1.0), (2, 2.0), (3, 3.0)))


def test_same_chunk_id_replaces_instead_of_duplicating(store: Store) -> None:
    store.append("snap", DAY, rows((1, 1.0)), SCHEMA, "t1")
    store.append("snap", DAY, rows((1, 1.5)), SCHEMA, "t1")  # a redo after a crash
    assert_frame_equal(read(store), rows((1, 1.5)))


def test_compact_keeps_every_row_once_and_removes_chunks(store: Store) -> None:
    for i in range(5):
        store.append("snap", DAY, rows((i, float(i))), SCHEMA, f"t{i}")
    before = read(store)
    assert store.compact("snap", DAY, SCHEMA) == 5
    folder = store.path("snap", DAY).parent
    assert sorted(p.name for p in folder.iterdir()) == ["part.parquet"]
    assert_frame_equal(read(store), before)
    # more appends after a compaction, then a second compaction
    store.append("snap", DAY, rows((9, 9.0)), SCHEMA, "t9")
    assert read(store).height == 6
    assert store.compact("snap", DAY, SCHEMA) == 1
    assert_frame_equal(read(store), pl.concat([before, rows((9, 9.0))]))


def test_crash_between_compaction_and_chunk_removal_counts_rows_once(
    store: Store, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    store.append("snap", DAY, rows((1, 1.0)), SCHEMA, "t1")
    store.append("snap", DAY, rows((2, 2.0)), SCHEMA, "t2")
    folder = store.path("snap", DAY).parent
    saved = tmp_path / "saved"
    shutil.copytree(folder, saved)
    store.compact("snap", DAY, SCHEMA)
    # put the chunks back, as if the process died after writing the part
    for chunk in saved.glob("chunk-*.parquet"):
        shutil.copy(chunk, folder / chunk.name)
    assert_frame_equal(read(store), rows((1, 1.0), (2, 2.0)))
    # a later compaction removes the leftovers without duplicating
    store.compact("snap", DAY, SCHEMA)
    assert_frame_equal(read(store), rows((1, 1.0), (2, 2.0)))


def test_a_chunk_written_after_compaction_is_not_mistaken_for_an_absorbed_one(
    store: Store,
) -> None:
    store.append("snap", DAY, rows((1, 1.0)), SCHEMA, "t1")
    store.compact("snap", DAY, SCHEMA)
    store.append("snap", DAY, rows((1, 1.0)), SCHEMA, "t1")  # same id written again later
    # it was absorbed under that name: the reader must not count it twice
    assert read(store).height == 1


def test_delete_partition_removes_chunks_too(store: Store) -> None:
    store.append("snap", DAY, rows((1, 1.0)), SCHEMA, "t1")
    assert store.delete_partition("snap", DAY)
    assert store.partitions("snap") == []
    assert read(store).height == 0


def test_bad_chunk_id_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="chunk id"):
        store.append("snap", DAY, rows((1, 1.0)), SCHEMA, "../evil")
