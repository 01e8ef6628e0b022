"""The store: round trips with exact dtypes, range reads, metadata, atomic replacement."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from livekit.sandbox.world import CHINA_TZ
from livekit.store import Store, StoreError

BIG_ID = 7712353117074129283  # a 19-digit room id, > 2**53: a float round trip would change it
TIME = pl.Datetime("us", "Asia/Shanghai")
SCHEMA: dict[str, pl.DataType] = {
    "room_id": pl.Int64(),
    "title": pl.String(),
    "start_time": TIME,
    "covers": pl.List(pl.String()),
    "cost": pl.Float64(),
    "live": pl.Boolean(),
}
D1, D2, D3 = date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 28)


def rooms(day: date, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "room_id": [BIG_ID + i if i % 3 else None for i in range(n)],
            "title": [f"{day} 场次 {i}" if i % 4 else None for i in range(n)],
            "start_time": [
                datetime(day.year, day.month, day.day, 20, i % 60, tzinfo=CHINA_TZ)
                if i % 5
                else None
                for i in range(n)
            ],
            "covers": [[f"https://x/{i}.jpeg", "b"] if i % 2 else None for i in range(n)],
            "cost": [i * 1.25 if i % 6 else None for i in range(n)],
            "live": [i % 2 == 0 for i in range(n)],
        },
        schema=SCHEMA,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def test_round_trip_keeps_dtypes_ids_times_lists_and_nulls(store: Store) -> None:
    frames = {D1: rooms(D1, 7), D2: rooms(D2, 5)}
    for day, frame in frames.items():
        store.write_partition("rooms", day, frame, SCHEMA, {"fetched_at": "2026-11-28T21:00:00"})

    out = store.read("rooms", SCHEMA)

    assert out.schema == pl.Schema({"date": pl.Date(), **SCHEMA})
    expected = pl.concat([f.select(pl.lit(d).alias("date"), pl.all()) for d, f in frames.items()])
    assert_frame_equal(out, expected)
    assert out.get_column("room_id").max() == BIG_ID + 5
    assert BIG_ID + 4 in out.get_column("room_id").to_list()
    first = out.row(1, named=True)
    assert first["start_time"] == datetime(2026, 11, 26, 20, 1, tzinfo=CHINA_TZ)
    assert first["covers"] == ["https://x/1.jpeg", "b"]


def test_frame_is_cast_to_schema_order_and_types(store: Store) -> None:
    loose = pl.DataFrame(
        {
            "live": [True],
            "cost": [3],  # Int64 in the frame, Float64 in the schema
            "covers": [["a"]],
            "start_time": [datetime(2026, 11, 26, 12, tzinfo=CHINA_TZ)],
            "title": ["t"],
            "room_id": [BIG_ID],
            "date": [D1],  # tolerated when it equals the partition's day; not stored
        }
    ).with_columns(pl.col("start_time").dt.convert_time_zone("UTC"))
    path = store.write_partition("rooms", D1, loose, SCHEMA, {})
    stored = pl.read_parquet(path)
    assert stored.schema == pl.Schema(SCHEMA)
    out = store.read("rooms", SCHEMA)
    assert out.row(0) == (
        D1,
        BIG_ID,
        "t",
        datetime(2026, 11, 26, 12, tzinfo=CHINA_TZ),
        ["a"],
        3.0,
        True,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("cost"), "'cost'"),
        (lambda f: f.with_columns(pl.lit(1).alias("surprise")), "'surprise'"),
        (lambda f: f.with_columns(pl.col("start_time").dt.replace_time_zone(None)), "naive"),
        (lambda f: f.with_columns(pl.lit(D2).alias("date")), "date"),
        (lambda f: f.with_columns(pl.lit("x").alias("cost")), "schema"),
    ],
)
def test_write_rejects_frames_that_do_not_fit(
    store: Store, change: Callable[[pl.DataFrame], pl.DataFrame], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.write_partition("rooms", D1, change(rooms(D1, 3)), SCHEMA, {})
    assert store.partitions("rooms") == []


def test_range_filters(store: Store) -> None:
    for day, n in ((D1, 2), (D2, 3), (D3, 4)):
        store.write_partition("rooms", day, rooms(day, n), SCHEMA, {})

    def days(start: date | None, end: date | None) -> list[date]:
        return store.read("rooms", SCHEMA, start, end).get_column("date").unique().sort().to_list()

    assert days(None, None) == [D1, D2, D3]
    assert days(D2, None) == [D2, D3]
    assert days(None, D2) == [D1, D2]
    assert days(D2, D2) == [D2]
    assert store.read("rooms", SCHEMA, D2, D2).height == 3
    none = store.read("rooms", SCHEMA, date(2026, 12, 1), None)
    assert none.height == 0
    assert none.schema == pl.Schema({"date": pl.Date(), **SCHEMA})


def test_empty_and_all_null_partitions_read_with_the_schema(store: Store) -> None:
    store.write_partition("rooms", D1, rooms(D1, 0), SCHEMA, {"fetched_at": "x"})
    all_null = pl.DataFrame({c: [None, None] for c in SCHEMA})  # every column pl.Null
    store.write_partition("rooms", D2, all_null, SCHEMA, {"fetched_at": "x"})

    assert store.partitions("rooms") == [D1, D2]
    assert store.partition_meta("rooms", D1) == {
        "dataset": "rooms",
        "date": "2026-11-26",
        "rows": "0",
        "fetched_at": "x",
    }
    for start in (D1, D2):
        out = store.read("rooms", SCHEMA, start)
        assert out.schema == pl.Schema({"date": pl.Date(), **SCHEMA})
    assert store.read("rooms", SCHEMA).height == 2
    # the plain folder reads in place with polars' own hive reader, dtypes included
    scanned = pl.scan_parquet(store.root / "rooms", hive_partitioning=True).collect()
    assert scanned.height == 2
    assert scanned.schema["start_time"] == TIME
    assert scanned.schema["covers"] == pl.List(pl.String())


def test_missing_dataset_reads_empty_with_schema(store: Store) -> None:
    out = store.read("nothing_here", SCHEMA)
    assert out.height == 0
    assert out.schema == pl.Schema({"date": pl.Date(), **SCHEMA})
    assert store.partitions("nothing_here") == []
    assert store.partition_meta("nothing_here", D1) is None


def test_rewrite_replaces_and_updates_meta(store: Store) -> None:
    store.write_partition("rooms", D1, rooms(D1, 6), SCHEMA, {"fetched_at": "a", "final": "false"})
    store.write_partition("rooms", D1, rooms(D1, 4), SCHEMA, {"fetched_at": "b", "final": "true"})
    assert store.read("rooms", SCHEMA).height == 4
    meta = store.partition_meta("rooms", D1)
    assert meta is not None
    assert (meta["fetched_at"], meta["final"], meta["rows"]) == ("b", "true", "4")
    with pytest.raises(ValueError, match="reserved"):
        store.write_partition("rooms", D1, rooms(D1, 1), SCHEMA, {"rows": "9"})
    assert list((store.root / "rooms").iterdir()) == [store.path("rooms", D1).parent]


def test_stray_files_and_temp_folder_are_ignored(store: Store) -> None:
    store.write_partition("rooms", D1, rooms(D1, 3), SCHEMA, {})
    (store.root / ".tmp" / "rooms.2026-11-27.123.parquet.tmp").write_bytes(b"PAR1 half a file")
    (store.root / "rooms" / "README.txt").write_text("notes")
    (store.root / "rooms" / "date=garbage").mkdir()
    (store.root / "rooms" / "date=garbage" / "part.parquet").write_bytes(b"junk")
    (store.root / "rooms" / "date=2026-11-28").mkdir()  # an empty folder, no file
    assert store.partitions("rooms") == [D1]
    assert store.read("rooms", SCHEMA).height == 3
    assert store.datasets() == ["rooms"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_partition_counts_as_absent(
    store: Store, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = store.write_partition("rooms", D1, rooms(D1, 50), SCHEMA, {"fetched_at": "x"})
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "garbage": os.urandom(300), "empty": b""}
    path.write_bytes(damaged[damage])
    with caplog.at_level(logging.WARNING, logger="livekit.store"):
        assert store.partition_meta("rooms", D1) is None
    assert "unreadable" in caplog.text
    with pytest.raises(StoreError, match="重新同步"):
        store.read("rooms", SCHEMA)
    # a re-fetch heals it
    store.write_partition("rooms", D1, rooms(D1, 2), SCHEMA, {"fetched_at": "y"})
    assert store.partition_meta("rooms", D1) is not None
    assert store.read("rooms", SCHEMA).height == 2


def test_delete_partition(store: Store) -> None:
    store.write_partition("rooms", D1, rooms(D1, 3), SCHEMA, {})
    store.write_partition("rooms", D2, rooms(D2, 3), SCHEMA, {})
    assert store.delete_partition("rooms", D1) is True
    assert store.delete_partition("rooms", D1) is False
    assert store.partitions("rooms") == [D2]
    assert not store.path("rooms", D1).parent.exists()
    assert list(store.temp_dir.iterdir()) == []
    store.write_partition("rooms", D1, rooms(D1, 1), SCHEMA, {})
    assert store.partitions("rooms") == [D1, D2]


def test_dataset_names_cannot_escape_the_store(store: Store) -> None:
    for bad in ("../x", ".tmp", "a/b", ""):
        with pytest.raises(ValueError, match="dataset name"):
            store.write_partition(bad, D1, rooms(D1, 1), SCHEMA, {})


def test_cleanup_temp_removes_only_old_files(store: Store) -> None:
    store.temp_dir.mkdir(parents=True)
    old = store.temp_dir / "rooms.2026-11-26.old.parquet.tmp"
    fresh = store.temp_dir / "rooms.2026-11-26.fresh.parquet.tmp"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert store.cleanup_temp() == 1
    assert not old.exists()
    assert fresh.exists()
    assert store.cleanup_temp(older_than_s=3600) == 0
    assert Store(store.root / "nowhere").cleanup_temp() == 0


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pathlib import Path

    import numpy as np
    import polars as pl

    from livekit.store import Store

    store = Store(Path(sys.argv[1]))
    n = int(sys.argv[2])
    rng = np.random.default_rng(int(sys.argv[3]))
    schema = {"id": pl.Int64(), "viewer": pl.String(), "x": pl.Float64()}
    frame = pl.DataFrame(
        {"id": rng.integers(0, 2**62, n), "viewer": [f"v{i:015d}" for i in range(n)], "x": rng.random(n)}
    )
    print("ready", flush=True)
    i = 0
    while True:
        day = date(2026, 11, 1 + i % 4)
        rows = n - i % 7  # each version of a partition has a recognizable size
        store.write_partition("big", day, frame.head(rows), schema, {"rows_written": str(rows)})
        i += 1
    """
)


def test_killed_writer_never_leaves_a_broken_partition(store: Store, tmp_path: Path) -> None:
    schema = {"id": pl.Int64(), "viewer": pl.String(), "x": pl.Float64()}
    n = 200_000
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random()
    for attempt in range(4):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(store.root), str(n), str(attempt)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        delay = rng.uniform(0.02, 0.3)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()

        for day in store.partitions("big"):
            meta = store.partition_meta("big", day)
            assert meta is not None, f"attempt {attempt}, killed after {delay:.3f}s: {day} broken"
            part = store.read("big", schema, day, day)
            assert part.height == int(meta["rows"]) == int(meta["rows_written"])
            assert part.height > n - 7
    assert store.partitions("big"), "the writer never finished a partition"
    # temp files of the killed writers are fresh: kept now, removed once old
    leftovers = list(store.temp_dir.iterdir())
    assert store.cleanup_temp() == 0
    long_ago = time.time() - 7200
    for f in leftovers:
        os.utime(f, (long_ago, long_ago))
    assert store.cleanup_temp() == len(leftovers)
    assert list(store.temp_dir.iterdir()) == []
