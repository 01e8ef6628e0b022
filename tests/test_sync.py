"""`livekit sync` against the sandbox over real HTTP on loopback (issue 3, points 1, 2, 6, 8).

One clean 30-day sync (module fixture) is the reference: its totals must equal the sandbox's
own, and a sync under faults and a tight rate limit must store exactly the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from livekit.api.runner import run
from livekit.ingest.run import SyncResult, sync_async
from livekit.jobs import SandboxSession, sandbox_session
from livekit.sandbox.config import Faults
from livekit.store import Store
from livekit.store.datasets import ORDERS, ROOMS, get
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import DATASETS, make_settings, read_all

START = TODAY - timedelta(days=29)  # 30 days, today (with a show on air) included
END = TODAY


@dataclass
class Synced:
    session: SandboxSession
    result: SyncResult
    home: Path  # the sandbox home (LIVEKIT_HOME/sandbox)
    log_text: str

    def totals(self, start: date, end: date) -> dict[str, Any]:
        r = httpx.get(
            self.session.url + "/sandbox/totals",
            params={"start_date": start.isoformat(), "end_date": end.isoformat()},
        )
        out: dict[str, Any] = r.json()
        return out


def _sync(session: SandboxSession, start: date, end: date, **kw: Any) -> SyncResult:
    return run(
        sync_async(
            session.settings,
            start,
            end,
            now=NOW,
            viewer_export_url=session.viewer_export_url,
            session_arms_url=session.session_arms_url,
            **kw,
        )
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    home = tmp_path_factory.mktemp("clean")
    log_path = home.parent / f"{home.name}.log"
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with sandbox_session(make_settings(home), make_config()) as session:
            result = _sync(session, START, END)
            handler.flush()
            yield Synced(session, result, home / "sandbox", log_path.read_text("utf-8"))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def test_stored_totals_equal_the_sandbox_totals(clean: Synced) -> None:
    t = clean.totals(START, END)
    stored = read_all(clean.home, START, END)
    rooms, orders, items = stored["rooms"], stored["orders"], stored["order_items"]
    assert t["rooms"] > 40  # a real month of a small shop
    assert t["orders"] > 1000
    assert rooms.height == t["rooms"]
    assert rooms["total_live_watch_cnt"].sum() == t["total_live_watch_cnt"]
    assert rooms["live_pay_order_count_alias"].sum() == t["live_pay_order_count_alias"]
    # money: yuan with two decimals; exact to the fen
    assert round(rooms["live_pay_order_gmv_alias"].sum() * 100) == round(
        t["live_pay_order_gmv_alias"] * 100
    )
    assert round(rooms["stat_cost"].sum() * 100) == round(t["stat_cost"] * 100)
    assert orders.height == t["orders"]
    assert items.height == t["order_items"]
    paid = orders.filter(pl.col("pay_time").is_not_null())
    assert paid.height == t["paid_orders"]
    assert round(paid["pay_amount"].sum() * 100) == round(t["paid_amount_yuan"] * 100)
    assert rooms.filter(pl.col("room_status") == "LIVING").height >= 1  # today is in the range


def test_datasets_agree_with_each_other(clean: Synced) -> None:
    s = read_all(clean.home, START, END)
    rooms = s["rooms"]
    per_room = rooms.select("room_id", "total_live_watch_cnt", "live_pay_order_gmv_alias")
    flow = s["room_flow"].group_by("room_id").agg(pl.col("value").sum().alias("flow"))
    products = (
        s["room_products"]
        .group_by("room_id")
        .agg(pl.col("live_pay_order_gmv_alias").sum().alias("p"))
    )
    joined = per_room.join(flow, on="room_id").join(products, on="room_id")
    assert joined.height == rooms.height
    assert (joined["flow"] == joined["total_live_watch_cnt"]).all()
    assert ((joined["p"] - joined["live_pay_order_gmv_alias"]).abs() < 0.005).all()
    # the viewer export has one row per visit
    assert s["viewers"].height == rooms["total_live_watch_cnt"].sum()
    # T+1 analysis: every finished day's room, none for today
    closed = rooms.filter(pl.col("date") < TODAY)
    assert sorted(s["room_analysis"]["room_id"].to_list()) == sorted(closed["room_id"].to_list())
    # the daily ad report's spend is the rooms' spend, day by day
    ad = s["ad_daily"].group_by("date").agg(pl.col("stat_cost").sum().alias("ad"))
    live = rooms.group_by("date").agg(pl.col("stat_cost").sum().alias("live"))
    both = ad.join(live, on="date")
    assert both.height >= 25
    assert ((both["ad"] - both["live"]).abs() < 0.005).all()
    # order items belong to stored orders, and their amounts add up to the order's
    by_order = s["order_items"].group_by("parent_order_id").agg(pl.col("pay_amount").sum())
    check = s["orders"].join(by_order, left_on="order_id", right_on="parent_order_id")
    assert check.height == s["orders"].height
    assert ((check["pay_amount"] - check["pay_amount_right"]).abs() < 0.005).all()


def test_the_switchback_schedule_is_synced_as_published(clean: Synced) -> None:
    """session_arms holds the sessions of the sandbox's switchback that started by NOW, each in
    the partition of its day: the schedule its published truth lists (issue 11, point 2)."""
    truth = httpx.get(clean.session.url + "/sandbox/truth").json()["switchback_experiment"]
    published = sorted((int(s["room_id"]), s["day"], s["variant"]) for s in truth["sessions"])
    assert len(published) > 10
    arms = Store(clean.home / "store").read("session_arms", get("session_arms").schema)
    assert arms.schema == pl.Schema(
        {"date": pl.Date, "room_id": pl.Int64, "aweme_id": pl.Int64, "variant": pl.String}
    )
    stored = sorted(
        (r["room_id"], r["date"].isoformat(), r["variant"]) for r in arms.iter_rows(named=True)
    )
    assert stored == [p for p in published if START.isoformat() <= p[1] <= END.isoformat()]
    assert set(arms["aweme_id"]) == {truth["aweme_id"]}
    # every day of the range has a partition (empty outside the experiment): nothing to refetch
    assert Store(clean.home / "store").partitions("session_arms") == [
        START + timedelta(days=i) for i in range((END - START).days + 1)
    ]


def test_types_ids_and_times(clean: Synced) -> None:
    rooms = Store(clean.home / "store").read("rooms", ROOMS.schema, START, END)
    assert rooms.schema["room_id"] == pl.Int64
    smallest: int = rooms["room_id"].min()  # type: ignore[assignment]
    assert smallest > 2**53  # 19-digit ids, exact
    start = rooms["start_time"]
    assert start.dtype == pl.Datetime("us", "Asia/Shanghai")
    # a room is stored in the partition of the China-time day it started
    assert (rooms["date"] == start.dt.date()).all()
    orders = Store(clean.home / "store").read("orders", ORDERS.schema, START, END)
    assert (orders["date"] == orders["create_time"].dt.date()).all()
    assert orders["order_id"].n_unique() == orders.height
    for name in DATASETS:
        frame = read_all(clean.home, START, END)[name]
        from livekit.store.datasets import get

        key = get(name).key
        if name != "viewers":  # visits have no unique key (see livekit.viewers)
            assert frame.select(key).is_duplicated().sum() == 0, name


def test_second_sync_of_closed_days_makes_no_requests(clean: Synced) -> None:
    sb = clean.session.server.sandbox
    sb.reset_stats()
    result = _sync(clean.session, START, END - timedelta(days=1))
    assert not result.fetched_anything
    assert sum(sb.stats.requests.values()) == 0
    # today is always fetched again
    sb.reset_stats()
    result = _sync(clean.session, END, END)
    assert result.datasets["rooms"].fetched_days == 1
    assert result.datasets["room_analysis"].fetched_days == 0  # T+1: nothing for today
    assert sum(sb.stats.requests.values()) > 0


def test_refresh_refetches_and_changes_nothing(clean: Synced) -> None:
    day = END - timedelta(days=20)
    before = read_all(clean.home, day, day)
    result = _sync(clean.session, day, day, refresh=True)
    assert result.datasets["rooms"].fetched_days == 1
    after = read_all(clean.home, day, day)
    for name in DATASETS:
        assert_frame_equal(before[name], after[name])


@pytest.mark.slow
def test_faults_and_a_tight_rate_limit_lose_and_duplicate_nothing(
    clean: Synced, tmp_path: Path
) -> None:
    start, end = END - timedelta(days=13), END
    faults = Faults(
        qps=25,
        rate=0.3,
        slow_seconds=1.5,
        kinds=("5xx", "rate_limit", "slow", "truncated", "revoke"),
        seed=11,
    )
    settings = make_settings(tmp_path, qps=25.0, http_timeout=0.5)
    with sandbox_session(settings, make_config(faults=faults)) as session:
        _sync(session, start, end)
        stats = session.server.sandbox.stats
        injected = dict(stats.faults)
        dead = dict(session.server.sandbox.tokens.dead_refresh_uses)
    assert sum(injected.values()) > 50, injected  # the faults really happened
    assert all(injected.get(k, 0) > 0 for k in faults.kinds), injected
    assert dead == {"qianchuan": 0, "doudian": 0}
    faulty = read_all(tmp_path / "sandbox", start, end)
    reference = read_all(clean.home, start, end)
    for name in DATASETS:
        assert faulty[name].height > 0, name
        assert_frame_equal(faulty[name], reference[name])


def test_no_secret_reaches_the_store_state_or_logs(clean: Synced) -> None:
    sb = clean.session.server.sandbox
    secrets = [sb.config.qianchuan_secret, sb.config.doudian_app_secret]
    tokens = [*sb.tokens.access, *sb.tokens.refresh]
    assert len(tokens) >= 4
    assert "livekit" in clean.log_text or "httpx" in clean.log_text  # the log did capture
    haystacks: dict[str, bytes] = {
        "log": clean.log_text.encode(),
        "exceptions": _exception_texts(clean.session).encode(),
    }
    for path in clean.home.rglob("*"):
        if path.is_file() and not path.name.startswith("tokens.json"):
            haystacks[str(path)] = path.read_bytes()
    assert any("store" in k for k in haystacks)
    for where, data in haystacks.items():
        for needle in [*secrets, *tokens]:
            assert needle.encode() not in data, f"a secret or token leaked into {where}"


def _exception_texts(session: SandboxSession) -> str:
    """str, repr and the full traceback (chained causes included) of errors a sync can raise."""
    import traceback

    from livekit.api.client import Client
    from livekit.vocab.errors import LivekitError

    async def provoke() -> list[BaseException]:
        caught: list[BaseException] = []
        async with Client(session.settings) as client:
            for call in (
                client.qianchuan.get("v1.0/qianchuan/today_live/room/get/", {"advertiser_id": 1}),
                client.qianchuan.get("v1.0/qianchuan/today_live/room/get/", {}),
                client.doudian.call("order.searchList", {"page": -1, "size": 100}),
            ):
                try:
                    await call
                except LivekitError as exc:
                    caught.append(exc)
        return caught

    errors = run(provoke())
    assert len(errors) == 3
    return "\n".join(f"{e}\n{e!r}\n{''.join(traceback.format_exception(e))}" for e in errors)
