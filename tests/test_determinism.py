"""Same seed, same day, same frozen moment: the same shop, byte for byte.

Two sandboxes are served over HTTP side by side and asked the same sequence of data requests.
Tokens are random, but they travel in headers and query strings only, so every data response
body, including its request_id / log_id (deterministic under a frozen clock by design), must be
identical. A different seed must give a different shop.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from livekit.sandbox.server import running_sandbox
from tests.helpers.raw_client import Client, request_sequence
from tests.helpers.sandbox import TODAY, Doudian, Qianchuan, make_config


@pytest.fixture(scope="module")
def two_runs() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    runs = []
    for _ in range(2):
        with (
            running_sandbox(make_config()) as running,
            httpx.Client(base_url=running.url, timeout=60) as http,
        ):
            config = running.sandbox.config
            runs.append(
                request_sequence(Client(http, Qianchuan(http, config), Doudian(http, config)))
            )
    return runs[0], runs[1]


def test_same_seed_gives_byte_identical_bodies(
    two_runs: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]],
) -> None:
    first, second = two_runs
    assert [name for name, _ in first] == [name for name, _ in second]
    assert len(first) > 40
    for (name, a), (_, b) in zip(first, second, strict=True):
        assert a == b, name


def test_the_compared_bodies_carry_data(
    two_runs: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]],
) -> None:
    """Guard against comparing two empty answers: the sequence really returns a shop."""
    bodies = dict(two_runs[0])
    rooms = json.loads(
        bodies[
            f"rooms {json.loads(bodies['aweme'])['data']['aweme_id_list'][0]['aweme_id']} {TODAY}"
        ]
    )
    assert rooms["data"]["room_list"]
    assert json.loads(bodies["orders 0 create_time"])["data"]["total"] > 100
    rows = list(csv.reader(io.StringIO(bodies["export csv"].decode())))
    assert len(rows) > 1000
    assert bodies["export parquet"][:4] == b"PAR1"


def test_request_ids_are_deterministic_but_not_repeated(
    two_runs: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]],
) -> None:
    first = two_runs[0]
    orders = [json.loads(b) for name, b in first if name == "orders 0 create_time"]
    assert len(orders) == 2
    assert orders[0]["data"] == orders[1]["data"]
    assert orders[0]["log_id"] != orders[1]["log_id"]
    ids = [
        json.loads(b).get("request_id") or json.loads(b).get("log_id")
        for name, b in first
        if not name.startswith(("export", "totals", "truth"))
    ]
    assert len(set(ids)) == len(ids)


def _plain(seed: int) -> dict[str, Any]:
    with (
        running_sandbox(make_config(seed=seed)) as running,
        httpx.Client(base_url=running.url, timeout=60) as client,
    ):
        window = {
            "start_date": (TODAY - timedelta(days=2)).isoformat(),
            "end_date": TODAY.isoformat(),
        }
        export = client.get("/sandbox/export/viewers", params={"format": "csv", **window})
        totals = client.get("/sandbox/totals", params=window).json()
        rooms = {int(r["room_id"]) for r in csv.DictReader(io.StringIO(export.text))}
        return {"rooms": rooms, "totals": totals, "csv": export.content}


def test_a_different_seed_gives_a_different_shop() -> None:
    seven, eight, seven_again = _plain(7), _plain(8), _plain(7)
    assert seven == seven_again
    assert seven["rooms"]
    assert eight["rooms"]
    assert seven["rooms"].isdisjoint(eight["rooms"])
    for key in (
        "total_live_watch_cnt",
        "live_pay_order_gmv_alias",
        "stat_cost",
        "paid_amount_yuan",
    ):
        assert seven["totals"][key] != eight["totals"][key], key
    assert seven["csv"] != eight["csv"]


def test_load_test_accounts_leave_the_shop_unchanged_and_go_live_together() -> None:
    from datetime import datetime

    import numpy as np

    from livekit.sandbox.world import CHINA_TZ, World

    plain = World(7, TODAY, 10, 0.1)
    loaded = World(7, TODAY, 10, 0.1, extra_accounts=12)
    assert loaded.accounts[:2] == plain.accounts
    day = TODAY - timedelta(days=3)
    ours = [s for s in loaded.sessions_on(day) if s.account.index < 2]
    theirs = plain.sessions_on(day)
    assert [s.room_id for s in ours] == [s.room_id for s in theirs]
    assert all(
        np.array_equal(a.visits.enter_s, b.visits.enter_s)
        for a, b in zip(ours, theirs, strict=True)
    )
    now = datetime.combine(day, datetime.min.time(), CHINA_TZ).replace(hour=21).timestamp()
    extra = [s for s in loaded.sessions_on(day) if s.account.index >= 2]
    assert len(extra) == 12
    assert all(s.start_ts <= now < s.end_ts for s in extra)
