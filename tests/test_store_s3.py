"""The store on object storage (LIVEKIT_STORE_URL=s3://…) against a real S3-compatible server.

moto's server mode runs on 127.0.0.1 for this module; every test gets its own bucket. The
contract tests run against both backends: the local folder and the bucket.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from livekit.api.runner import run
from livekit.config import ConfigError, load_settings
from livekit.ingest.run import sync_async
from livekit.jobs import sandbox_session
from livekit.sandbox.world import CHINA_TZ
from livekit.source import open_source
from livekit.store import Store, StoreError, open_store
from livekit.store.objects import ObjectStore
from livekit.vocab.errors import LivekitError
from tests.helpers.s3 import (
    ACCESS_KEY_ID,
    CRASH_SCHEMA,
    REGION,
    SECRET_ACCESS_KEY,
    S3Server,
    crash_frame,
    running_s3,
)
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import DATASETS, ROOT, make_settings, read_all

TIME = pl.Datetime("us", "Asia/Shanghai")
SCHEMA: dict[str, pl.DataType] = {
    "room_id": pl.Int64(),
    "title": pl.String(),
    "start_time": TIME,
    "covers": pl.List(pl.String()),
    "cost": pl.Float64(),
}
D1, D2, D3 = date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 28)
BIG_ID = 7712353117074129283


def rooms(day: date, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "room_id": [BIG_ID + i if i % 3 else None for i in range(n)],
            "title": [f"{day} 场次 {i}" if i % 4 else None for i in range(n)],
            "start_time": [
                datetime(day.year, day.month, day.day, 20, i % 60, tzinfo=CHINA_TZ)
                for i in range(n)
            ],
            "covers": [[f"https://x/{i}.jpeg"] if i % 2 else None for i in range(n)],
            "cost": [i * 1.25 if i % 6 else None for i in range(n)],
        },
        schema=SCHEMA,
    )


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


def s3_store(s3: S3Server, prefix: str = "team/shop-1") -> ObjectStore:
    settings = load_settings(**s3.settings_changes(f"s3://{s3.new_bucket()}/{prefix}"))
    store = open_store(settings)
    assert isinstance(store, ObjectStore)
    return store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return Store(tmp_path / "store")
    return s3_store(request.getfixturevalue("s3"))


def put_raw(s3: S3Server, store: ObjectStore, key: str, data: bytes) -> None:
    """Write an object behind the store's back (boto3: the test's own S3 client)."""
    import boto3  # type: ignore[import-untyped]

    bucket, _, prefix = store.url.removeprefix("s3://").partition("/")
    boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    ).put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)


# ---- the contract, on both backends --------------------------------------------------------------
def test_round_trip_range_and_meta(store: Store) -> None:
    store.write_partition("rooms", D1, rooms(D1, 7), SCHEMA, {"fetched_at": "a", "final": "true"})
    store.write_partition("rooms", D3, rooms(D3, 0), SCHEMA, {"fetched_at": "b"})  # fetched, empty
    store.write_partition("orders_x", D2, rooms(D2, 2), SCHEMA, {})
    assert store.datasets() == ["orders_x", "rooms"]
    assert store.partitions("rooms") == [D1, D3]
    out = store.read("rooms", SCHEMA)
    assert out.schema == pl.Schema({"date": pl.Date(), **SCHEMA})
    expected = rooms(D1, 7).with_columns(pl.lit(D1).alias("date")).select(out.columns)
    assert_frame_equal(out, expected)
    assert store.read("rooms", SCHEMA, D2, D3).height == 0
    assert store.partition_meta("rooms", D1) == {
        "fetched_at": "a",
        "final": "true",
        "dataset": "rooms",
        "date": D1.isoformat(),
        "rows": "7",
    }
    assert store.partition_meta("rooms", D2) is None
    assert store.read("nothing_here", SCHEMA).height == 0
    assert store.partitions("nothing_here") == []


def test_rewrite_replaces_and_delete_removes(store: Store) -> None:
    store.write_partition("rooms", D1, rooms(D1, 6), SCHEMA, {"fetched_at": "a"})
    store.write_partition("rooms", D1, rooms(D1, 4), SCHEMA, {"fetched_at": "b"})
    assert store.read("rooms", SCHEMA).height == 4
    meta = store.partition_meta("rooms", D1)
    assert meta is not None
    assert (meta["fetched_at"], meta["rows"]) == ("b", "4")
    with pytest.raises(ValueError, match="reserved"):
        store.write_partition("rooms", D1, rooms(D1, 1), SCHEMA, {"rows": "9"})
    with pytest.raises(ValueError, match="dataset name"):
        store.write_partition("../x", D1, rooms(D1, 1), SCHEMA, {})
    store.write_partition("rooms", D2, rooms(D2, 3), SCHEMA, {})
    assert store.delete_partition("rooms", D1) is True
    assert store.delete_partition("rooms", D1) is False
    assert store.partitions("rooms") == [D2]
    assert store.read("rooms", SCHEMA).height == 3


def test_damaged_partition_counts_as_absent_and_a_rewrite_heals_it(
    store: Store, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    path = store.write_partition("rooms", D1, rooms(D1, 50), SCHEMA, {"fetched_at": "x"})
    if isinstance(store, ObjectStore):
        put_raw(request.getfixturevalue("s3"), store, "rooms/date=2026-11-26/part.parquet", b"PAR1")
    else:
        path.write_bytes(path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="livekit.store"):
        assert store.partition_meta("rooms", D1) is None
    assert "unreadable" in caplog.text
    with pytest.raises(StoreError, match="重新同步"):
        store.read("rooms", SCHEMA)
    store.write_partition("rooms", D1, rooms(D1, 2), SCHEMA, {"fetched_at": "y"})
    assert store.read("rooms", SCHEMA).height == 2


# ---- object storage only -------------------------------------------------------------------------
def test_stray_objects_are_ignored(s3: S3Server) -> None:
    store = s3_store(s3)
    store.write_partition("rooms", D1, rooms(D1, 3), SCHEMA, {})
    for key in (
        "rooms/README.txt",
        "rooms/date=garbage/part.parquet",
        "rooms/date=2026-11-28/other.parquet",
        ".tmp/rooms.x.parquet.tmp",
        "bad name/date=2026-11-26/part.parquet",
    ):
        put_raw(s3, store, key, b"junk")
    assert store.partitions("rooms") == [D1]
    assert store.read("rooms", SCHEMA).height == 3
    assert store.datasets() == ["rooms"]
    assert store.cleanup_temp() == 0  # single PUTs leave nothing to clean


def test_chunked_datasets_are_refused_in_one_chinese_line(s3: S3Server) -> None:
    store = s3_store(s3)
    with pytest.raises(LivekitError, match="暂不支持分块追加的数据集 live_snapshots") as err:
        store.append("live_snapshots", D1, rooms(D1, 1), SCHEMA, "c1")
    assert "\n" not in str(err.value)
    with pytest.raises(LivekitError, match="直播监控"):
        store.compact("live_snapshots", D1, SCHEMA)
    assert store.datasets() == []


def test_polars_reads_the_layout_in_place(s3: S3Server) -> None:
    """What an outside reader does: scan the hive layout with storage_options."""
    store = s3_store(s3, prefix="lake")
    for day, n in ((D1, 5), (D2, 3)):
        store.write_partition("rooms", day, rooms(day, n), SCHEMA, {"fetched_at": "z"})
    lazy = pl.scan_parquet(
        f"{store.url}/rooms/",
        hive_partitioning=True,
        storage_options=store.storage_options(),
    )
    outside = lazy.collect().sort("date", "start_time")
    mine = store.read("rooms", SCHEMA).sort("date", "start_time")
    assert_frame_equal(outside.select(mine.columns), mine)


def test_settings_validate_the_url_and_keep_the_secret(s3: S3Server) -> None:
    settings = load_settings(**s3.settings_changes("s3://bucket-a/some/prefix/"))
    assert settings.store_url == "s3://bucket-a/some/prefix"
    assert SECRET_ACCESS_KEY not in repr(settings)
    store = open_store(settings)
    assert repr(store) == "ObjectStore('s3://bucket-a/some/prefix')"
    assert SECRET_ACCESS_KEY not in repr(store)
    # a missing bucket: one readable line, no secret in it
    with pytest.raises(StoreError, match="对象存储列举失败") as err:
        store.partitions("rooms")
    assert SECRET_ACCESS_KEY not in str(err.value)
    for bad in ("bucket/prefix", "s3://", "https://bucket/p"):
        with pytest.raises(ConfigError, match="LIVEKIT_STORE_URL") as cerr:
            load_settings(store_url=bad)
        assert "\n" not in str(cerr.value)
    assert isinstance(open_store(load_settings(store_url="")), Store)
    assert not isinstance(open_store(load_settings()), ObjectStore)
    # the sandbox never writes into the real data's bucket
    assert settings.for_sandbox("http://127.0.0.1:1").store_url is None


# ---- a sync of the sandbox, and kit.load ---------------------------------------------------------
def test_sandbox_sync_into_s3_equals_a_local_sync_and_kit_load_reads_it(
    s3: S3Server, tmp_path: Path
) -> None:
    start, end = TODAY - timedelta(days=3), TODAY - timedelta(days=1)
    url = f"s3://{s3.new_bucket()}/agency/shop-1"
    with sandbox_session(make_settings(tmp_path), make_config()) as session:
        local = session.settings
        remote = local.model_copy(update=s3.settings_changes(url))
        for settings in (local, remote):
            run(
                sync_async(
                    settings, start, end, now=NOW, viewer_export_url=session.viewer_export_url
                )
            )
    expected = read_all(tmp_path / "sandbox", start, end)
    store = open_store(remote)
    assert isinstance(store, ObjectStore)
    for name in DATASETS:
        assert expected[name].height > 0, name
        got = store.read(name, dict(expected[name].drop("date").schema), start, end)
        assert_frame_equal(got.sort(expected[name].columns), expected[name].sort(got.columns))
        local_meta = Store(tmp_path / "sandbox" / "store").partition_meta(name, end)
        remote_meta = store.partition_meta(name, end)
        assert local_meta is not None
        assert remote_meta is not None
        assert remote_meta["rows"] == local_meta["rows"]
    # a live kit pointed at the bucket (as a worker with an empty home) reads it
    kit = open_source("live", settings=remote.model_copy(update={"home": tmp_path / "empty"}))
    assert_frame_equal(
        kit.load("rooms", start, end).sort("date", "room_id"),
        expected["rooms"].sort("date", "room_id"),
        check_column_order=False,
    )
    assert not (tmp_path / "empty" / "store").exists()


# ---- crash safety: a writer process killed at random points ----------------------------------
def _spawn(env: dict[str, str], n: int, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.s3_writer", str(n), mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_killed_writer_leaves_every_partition_whole_and_a_retry_equals_a_clean_run(
    s3: S3Server, tmp_path: Path
) -> None:
    import os

    from tests.helpers.s3_writer import DAYS, FINAL, FIRST

    n = 60_000  # about 1 MB a partition: a kill often lands mid-PUT
    schema = {k: getattr(pl, v)() for k, v in CRASH_SCHEMA.items()}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "AWS_"))}
    base["LIVEKIT_HOME"] = str(tmp_path / "home")
    crashed_url = f"s3://{s3.new_bucket()}/crash"
    env = {**base, **s3.env(crashed_url)}
    store = open_store(load_settings(**s3.settings_changes(crashed_url)))
    rng = random.Random()
    seen_versions: set[int] = set()
    for _attempt in range(5):
        proc = _spawn(env, n, "loop")
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        for day in store.partitions("big"):
            meta = store.partition_meta("big", day)
            assert meta is not None, f"{day} unreadable after a kill"
            version = int(meta["version"])
            seen_versions.add(version)
            expected = crash_frame((day - FIRST).days, version, n)
            got = store.read("big", schema, day, day).drop("date")
            assert_frame_equal(got, expected)  # exactly the version its footer names
    assert seen_versions, "the writer never finished a partition"
    # the retried task, then a clean run in a fresh bucket: the same store
    retry = _spawn(env, n, "final")
    assert retry.wait(timeout=120) == 0
    assert retry.stdout is not None
    retry.stdout.close()
    clean_url = f"s3://{s3.new_bucket()}/crash"
    clean_run = _spawn({**base, **s3.env(clean_url)}, n, "final")
    assert clean_run.wait(timeout=120) == 0
    assert clean_run.stdout is not None
    clean_run.stdout.close()
    clean = open_store(load_settings(**s3.settings_changes(clean_url)))
    assert store.partitions("big") == clean.partitions("big")
    assert len(clean.partitions("big")) == DAYS
    assert_frame_equal(store.read("big", schema), clean.read("big", schema))
    for day in clean.partitions("big"):
        assert store.partition_meta("big", day) == clean.partition_meta("big", day)
        meta = clean.partition_meta("big", day)
        assert meta is not None
        assert meta["version"] == str(FINAL)


def test_the_monitor_refuses_an_object_store_in_one_line(s3: S3Server, tmp_path: Path) -> None:
    from livekit.monitor.rules import load_rules
    from livekit.monitor.run import Monitor

    ruleset = load_rules(ROOT / "params" / "alerts.yaml")
    settings = make_settings(tmp_path, **s3.settings_changes(f"s3://{s3.new_bucket()}/m"))
    with pytest.raises(LivekitError, match="LIVEKIT_STORE_URL") as err:
        Monitor(settings, ruleset, {})
    assert "\n" not in str(err.value)
    assert Monitor(make_settings(tmp_path), ruleset, {}).store.root == tmp_path / "store"


def test_metadata_comes_from_the_footer_of_large_partitions(s3: S3Server) -> None:
    """Small, large (footer read alone) and large-footer (whole GET) files give the same meta."""
    store = s3_store(s3)
    long_note = "备注" * 40_000  # a footer longer than the tail that is fetched first
    cases = {D1: (5, "short"), D2: (40_000, "short"), D3: (40_000, long_note)}
    for day, (n, note) in cases.items():
        store.write_partition("rooms", day, rooms(day, n), SCHEMA, {"note": note})
    for day, (n, note) in cases.items():
        meta = store.partition_meta("rooms", day)
        assert meta is not None
        assert (meta["rows"], meta["note"]) == (str(n), note)
    # a damaged large object (no Parquet tail) counts as absent, as on disk
    put_raw(s3, store, "rooms/date=2026-11-27/part.parquet", b"\0" * 100_000)  # not Parquet
    assert store.partition_meta("rooms", D2) is None
