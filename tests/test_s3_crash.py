"""Crash safety of a real sync on object storage (issue 15, must-show 4).

A sync in a child process, as an Airflow worker runs one shop's sync task
(``tests.helpers.sync_child``: the ingest against the frozen sandbox on loopback, configured
only by LIVEKIT_* variables: ``LIVEKIT_STORE_URL=s3://…`` on moto, a shops file and
``LIVEKIT_SHOP``, so the data land under ``shop=<id>/``) is SIGKILLed at seeded random
partition PUTs (tests/helpers/s3_crash.py: before the object is stored, after it is stored
but before the answer, or a moment after the answer). After every
kill the bucket holds nothing but whole partitions, each readable through the store and by
polars in place and equal to that partition of a clean run; the retried sync then makes the
store equal the clean run, partition by partition. tests/test_store_s3.py covers the store
alone (a writer loop killed by a timer); this is the worker's whole task.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from livekit.config import load_settings
from livekit.jobs import sandbox_session
from livekit.store import open_store
from livekit.store.datasets import get
from livekit.store.objects import ObjectStore
from tests.helpers.s3 import S3Server
from tests.helpers.s3_crash import PHASES, running_s3_with_switch
from tests.helpers.sandbox import TODAY, make_config
from tests.helpers.sync import DATASETS, ROOT, child_env, make_settings, spawn

START, END = TODAY - timedelta(days=6), TODAY  # today included: its partitions are rewritten
SEED = 20261205
PARTITION_KEY = re.compile(r"(?P<dataset>[a-z_]+)/date=(?P<day>\d{4}-\d\d-\d\d)/part\.parquet")
SHOP = "s1"  # the sandbox's one shop, as `livekit sandbox shops` lists it
META_COMPARED = ("final", "rows", "schema", "dataset", "date")  # fetched_at may differ
DETAILS_OF = {"rooms": ("room_products", "room_flow", "room_audience"), "orders": ("order_items",)}


def _store(s3: S3Server, url: str) -> ObjectStore:
    store = open_store(load_settings(**s3.settings_changes(url)))
    assert isinstance(store, ObjectStore)
    return store


def _keys(s3: S3Server, bucket: str) -> list[str]:
    """Every object in the bucket (boto3: the test's own S3 client, not the store's)."""
    import boto3  # type: ignore[import-untyped]

    from tests.helpers.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _sorted(frame: pl.DataFrame, dataset: str) -> pl.DataFrame:
    key = list(get(dataset).key)
    return frame.sort([*key, *(c for c in frame.columns if c not in key)])


def _partitions(keys: list[str], prefix: str) -> dict[str, list[date]]:
    """The partitions the keys under ``prefix/`` name; any other object fails the test."""
    out: dict[str, list[date]] = {}
    for key in keys:
        if not key.startswith(prefix + "/"):
            continue
        match = PARTITION_KEY.fullmatch(key.removeprefix(prefix + "/"))
        assert match is not None, f"not a partition (temp or partial object?): {key}"
        assert match["dataset"] in DATASETS, key
        out.setdefault(match["dataset"], []).append(date.fromisoformat(match["day"]))
    return {name: sorted(days) for name, days in out.items()}


def _check_whole(store: ObjectStore, found: dict[str, list[date]], clean: ObjectStore) -> None:
    """Every partition reads through the store and by polars in place, and equals the clean
    run's partition of that day (the sandbox's clock is frozen: same data, same flags)."""
    for name, days in found.items():
        assert store.partitions(name) == days, name
        schema = get(name).schema
        for day in days:
            meta = store.partition_meta(name, day)
            assert meta is not None, f"{name} {day}: no readable footer"
            frame = store.read(name, schema, day, day)
            assert frame.height == int(meta["rows"]), (name, day)
            outside = pl.read_parquet(
                f"{store.url}/{name}/date={day}/part.parquet",
                storage_options=store.storage_options(),
            )
            assert_frame_equal(outside, frame.drop("date"))
            reference = clean.read(name, schema, day, day)
            assert_frame_equal(_sorted(frame, name), _sorted(reference, name))
            clean_meta = clean.partition_meta(name, day)
            assert clean_meta is not None
            assert {k: meta[k] for k in META_COMPARED} == {k: clean_meta[k] for k in META_COMPARED}
        # a day's rooms (orders) are written last: once stored, the day's details are too
        for detail in DETAILS_OF.get(name, ()):
            assert set(days) <= set(found.get(detail, [])), (name, detail)


@pytest.mark.scale
@pytest.mark.slow
def test_a_sync_killed_at_random_puts_leaves_whole_partitions_and_its_retry_equals_a_clean_run(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    shops_file = tmp_path / "shops.yaml"
    subprocess.run(
        [sys.executable, "-m", "livekit", "sandbox", "shops", "--shops", "1", "--out", shops_file],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with (
        running_s3_with_switch() as (s3, switch),
        sandbox_session(make_settings(tmp_path), make_config()) as session,
    ):
        bucket = s3.new_bucket()
        clean_url, crashed_url = f"s3://{bucket}/clean", f"s3://{bucket}/crashed"
        base = child_env(
            session, LIVEKIT_QPS="1000", LIVEKIT_SHOPS_FILE=str(shops_file), LIVEKIT_SHOP=SHOP
        )
        level = f"shop={SHOP}"

        # the clean run: the store every crashed run is measured against
        switch.reset()
        child = spawn({**base, **s3.env(clean_url)}, START, END)
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        planned = switch.puts
        clean = _store(s3, f"{clean_url}/{level}")
        keys = _keys(s3, bucket)
        assert all(key.startswith(f"clean/{level}/") for key in keys), keys
        clean_parts = _partitions(keys, f"clean/{level}")
        assert sum(map(len, clean_parts.values())) == planned  # one PUT per partition
        assert set(clean_parts) == set(DATASETS), clean_parts

        crashed = _store(s3, f"{crashed_url}/{level}")
        env = {**base, **s3.env(crashed_url)}
        outcomes = []
        phases = [*rng.sample(PHASES, len(PHASES)), rng.choice(PHASES)]
        for phase in phases:
            found = _partitions(_keys(s3, bucket), f"crashed/{level}")
            stored = sum(map(len, found.values()))
            today = sum(TODAY in days for days in found.values())
            # this run writes what is missing and rewrites today's partitions
            k = rng.randint(1, planned - stored + today)
            child = spawn(env, START, END)
            switch.arm(child.pid, k, phase, delay=rng.uniform(0.0, 0.3))
            _, err = child.communicate(timeout=120)
            switch.settle()
            keys = _keys(s3, bucket)
            assert all(key.startswith((f"clean/{level}/", f"crashed/{level}/")) for key in keys)
            found = _partitions(keys, f"crashed/{level}")
            outcomes.append((k, phase, child.returncode, sum(map(len, found.values()))))
            assert child.returncode in (0, -signal.SIGKILL), err[-2000:]
            _check_whole(crashed, found, clean)
        switch.reset()
        killed = [o for o in outcomes if o[2] == -signal.SIGKILL]
        assert len(killed) >= len(phases) - 1, outcomes
        assert any(0 < o[3] < planned for o in killed), (outcomes, planned)
        assert {o[1] for o in killed} >= {"before", "after"}, outcomes  # these always fire

        # the retried task finishes and the store equals the clean run's, partition by partition
        child = spawn(env, START, END)
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        found = _partitions(_keys(s3, bucket), f"crashed/{level}")
        assert found == clean_parts, outcomes
        _check_whole(crashed, found, clean)
        for name in DATASETS:
            schema = get(name).schema
            assert_frame_equal(
                _sorted(crashed.read(name, schema), name), _sorted(clean.read(name, schema), name)
            )
        # the workers wrote only to the bucket: no store in their home
        assert not (Path(base["LIVEKIT_HOME"]) / "store").exists()
