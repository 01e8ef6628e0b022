"""Issue 12's data through a real sync against the sandbox (loopback HTTP, the real ingest).

* the ``explanations`` dataset equals the sandbox's explanation schedule, day by day;
* the stored 抖店 delivery fields and viewer click times are the sandbox world's;
* consistency: per room, distinct buyers per city in ``orders`` + ``order_items`` equal the
  audience PAY counts per CITY in ``room_audience``;
* a store synced before the schema change fetches its partitions again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from livekit.api.runner import run
from livekit.ingest.plan import partition_meta, schema_tag
from livekit.ingest.run import SyncResult, sync_async
from livekit.jobs import SandboxSession, sandbox_session
from livekit.sandbox.delivery import CARRIERS
from livekit.sandbox.world import World
from livekit.source import open_source
from livekit.store import Store
from livekit.store.datasets import (
    EXPLANATIONS,
    ORDER_ITEMS,
    ORDERS,
    SANDBOX_DATASETS,
    Dataset,
    get,
)
from livekit.vocab.labels import DATASET_LABELS
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import make_settings

START, END = TODAY - timedelta(days=20), TODAY  # 11-08 .. 11-28, the evening show on air
NOW_TS = NOW.timestamp()


@dataclass
class Synced:
    session: SandboxSession
    result: SyncResult
    store: Store

    @property
    def world(self) -> World:
        w: World = self.session.server.sandbox.world
        return w

    def load(self, name: str) -> pl.DataFrame:
        return self.store.read(name, get(name).schema, START, END)


def _sync(session: SandboxSession, start: date, end: date) -> SyncResult:
    return run(
        sync_async(
            session.settings,
            start,
            end,
            now=NOW,
            viewer_export_url=session.viewer_export_url,
            session_arms_url=session.session_arms_url,
            explanations_url=session.explanations_url,
        )
    )


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    home = tmp_path_factory.mktemp("issue12")
    with sandbox_session(make_settings(home), make_config()) as session:
        result = _sync(session, START, END)
        yield Synced(session, result, Store(home / "sandbox" / "store"))


# ---- explanations ---------------------------------------------------------------------------------
def test_explanations_is_a_sandbox_dataset_with_a_label() -> None:
    assert "explanations" in SANDBOX_DATASETS
    assert get("explanations") is EXPLANATIONS
    assert EXPLANATIONS.key == ("room_id", "product_id", "start_time")
    assert list(EXPLANATIONS.schema) == [
        "room_id",
        "aweme_id",
        "product_id",
        "start_time",
        "end_time",
    ]
    assert DATASET_LABELS["explanations"].startswith("讲解排期")


def _schedule(world: World) -> list[tuple[date, int, int, int, datetime, datetime]]:
    """(day, room, aweme, product, start, end) of every explanation window of the shows started
    by NOW, from the world's segment schedule: consecutive segments of one product are one
    window, a window ends where the next begins (the last at the show's end), an open one at NOW.
    """

    def moment(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, CHINA_TZ).replace(microsecond=0)

    out: list[tuple[date, int, int, int, datetime, datetime]] = []
    for s in world.iter_sessions(START, END):
        if s.start_ts > NOW_TS:
            continue
        cut = min(float(s.end_ts), NOW_TS)
        starts = [s.start_ts + float(x) for x in s.segment_start_s.tolist()]
        ends = [*starts[1:], float(s.end_ts)]
        windows: list[list[Any]] = []
        for pos, a, b in zip(s.segment_product.tolist(), starts, ends, strict=True):
            if a >= cut:
                break
            if windows and windows[-1][0] == pos:
                windows[-1][2] = min(b, cut)
            else:
                windows.append([pos, a, min(b, cut)])
        for pos, a, b in windows:
            product = world.products[int(s.lineup[pos])].product_id
            out.append((s.day, s.room_id, s.account.aweme_id, product, moment(a), moment(b)))
    return sorted(out)


def test_explanations_equal_the_sandbox_schedule(synced: Synced) -> None:
    stored = synced.load("explanations")
    assert stored.schema == pl.Schema({"date": pl.Date(), **EXPLANATIONS.schema})
    rows = sorted(
        (r["date"], r["room_id"], r["aweme_id"], r["product_id"], r["start_time"], r["end_time"])
        for r in stored.iter_rows(named=True)
    )
    expected = _schedule(synced.world)
    assert len(expected) > 500
    assert rows == expected
    assert stored.select(EXPLANATIONS.key).is_duplicated().sum() == 0  # the key is a key
    # every day of the range has a partition (and the sync counted it)
    assert synced.store.partitions("explanations") == [
        START + timedelta(days=i) for i in range((END - START).days + 1)
    ]
    assert synced.result.datasets["explanations"].rows == len(expected)


def test_explanations_fit_their_rooms_and_products(synced: Synced) -> None:
    windows = synced.load("explanations")
    rooms = synced.load("rooms").select("room_id", "aweme_id", "start_time", "end_time", "date")
    joined = windows.join(rooms, on="room_id", suffix="_room")
    assert joined.height == windows.height  # every window belongs to a synced room
    assert (joined["date"] == joined["date_room"]).all()  # partitioned by the show's start day
    assert (joined["aweme_id"] == joined["aweme_id_room"]).all()
    now = pl.lit(NOW).dt.convert_time_zone("Asia/Shanghai").dt.cast_time_unit("us")
    show_end = pl.coalesce(pl.col("end_time_room"), now)
    assert (
        joined.select(
            (pl.col("start_time") >= pl.col("start_time_room"))
            & (pl.col("start_time") < pl.col("end_time"))
            & (pl.col("end_time") <= pl.min_horizontal(show_end, now))
        )
        .to_series()
        .all()
    )
    # one product explained at a time: windows of a room do not overlap
    ordered = windows.sort("room_id", "start_time")
    gaps = ordered.select(
        (pl.col("start_time") >= pl.col("end_time").shift(1).over("room_id")).fill_null(True)
    )
    assert gaps.to_series().all()
    # explained products are the room's listed products
    listed = synced.load("room_products").select("room_id", pl.col("productId").alias("product_id"))
    assert windows.join(listed, on=["room_id", "product_id"], how="anti").height == 0
    on_air = joined.filter(pl.col("date") == TODAY).sort("start_time")
    assert on_air.height > 0
    assert on_air["end_time"][-1] == NOW  # the window still open at NOW ends there


# ---- stored delivery fields and click times are the world's -------------------------------------------
def test_stored_delivery_fields_are_the_worlds(synced: Synced) -> None:
    orders = synced.load("orders")
    first = int(datetime.combine(START, datetime.min.time(), CHINA_TZ).timestamp())
    truth = {o.order_id: o for o in synced.world.orders_between(first, int(NOW_TS))}
    assert orders.height == len(truth)

    def seen(ts: int) -> datetime | None:
        return datetime.fromtimestamp(ts, CHINA_TZ) if 0 < ts <= NOW_TS else None

    shipped = received = 0
    for r in orders.iter_rows(named=True):
        o = truth[r["order_id"]]
        paid = seen(o.pay_ts) is not None
        promise = datetime.fromtimestamp(o.exp_ship_ts, CHINA_TZ)  # may lie after NOW
        assert r["exp_ship_time"] == (promise if paid else None)
        assert r["ship_time"] == seen(o.ship_ts)
        assert r["receipt_time"] == seen(o.receipt_ts)
        assert r["finish_time"] == seen(o.confirm_ts)
        assert r["logistics_company"] == (CARRIERS[o.carrier].name if seen(o.ship_ts) else None)
        assert r["main_status"] is not None
        shipped += r["ship_time"] is not None
        received += r["receipt_time"] is not None
    assert shipped > received > 500
    items = synced.load("order_items")
    both = items.join(orders, left_on="parent_order_id", right_on="order_id", suffix="_order")
    assert both.height == items.height
    for name in ("exp_ship_time", "ship_time", "finish_time", "main_status"):
        assert both[name].equals(both[f"{name}_order"], null_equal=True), name
    assert both["logistics_receipt_time"].equals(both["receipt_time"], null_equal=True)


def test_stored_click_times_are_the_exports(synced: Synced) -> None:
    viewers = synced.load("viewers")
    clicks = viewers.filter(pl.col("click_time").is_not_null())
    assert clicks.height > 1000
    assert (viewers["click_time"].is_null() == viewers["clicked_product_id"].is_null()).all()
    assert (
        clicks.select(pl.col("click_time").is_between(pl.col("enter_time"), pl.col("leave_time")))
        .to_series()
        .all()
    )


# ---- consistency: orders by city = the audience's PAY counts by CITY --------------------------------
def test_buyers_per_city_equal_the_audience_pay_counts(synced: Synced) -> None:
    orders = synced.load("orders").filter(pl.col("pay_time").is_not_null())
    items = synced.load("order_items").filter(pl.col("room_id") > 0)
    buyers = (
        items.select("parent_order_id", "room_id")
        .unique()
        .join(orders, left_on="parent_order_id", right_on="order_id")
        .group_by("room_id", pl.col("post_addr_city").alias("name"))
        .agg(pl.col("doudian_open_id").n_unique().alias("buyers"))
    )
    audience = synced.load("room_audience").filter(
        (pl.col("action_event") == "PAY") & (pl.col("dimension") == "CITY")
    )
    rooms = set(synced.load("rooms")["room_id"].to_list())
    # rooms whose first order was created the day after the show (near midnight) are not cut
    both = set(buyers["room_id"].to_list()) & set(audience["room_id"].to_list()) & rooms
    assert len(both) > 30
    got = {
        (r["room_id"], r["name"]): r["buyers"]
        for r in buyers.filter(pl.col("room_id").is_in(list(both))).iter_rows(named=True)
    }
    want = {
        (r["room_id"], r["name"]): r["value"]
        for r in audience.filter(pl.col("room_id").is_in(list(both))).iter_rows(named=True)
    }
    assert got == want
    assert len(Counter(name for _, name in got)) > 10  # many cities, not one


# ---- a store synced before the schema change ---------------------------------------------------------
def _older(ds: Dataset, new: tuple[str, ...]) -> Dataset:
    schema = {k: v for k, v in ds.schema.items() if k not in new}
    return Dataset(ds.name, ds.description, schema, ds.key, ds.source)


OLDER = {
    "orders": _older(
        ORDERS, ("main_status", "exp_ship_time", "ship_time", "receipt_time", "logistics_company")
    ),
    "order_items": _older(
        ORDER_ITEMS,
        (
            "main_status",
            "exp_ship_time",
            "ship_time",
            "logistics_receipt_time",
            "confirm_receipt_time",
            "finish_time",
        ),
    ),
    "viewers": _older(get("viewers"), ("click_time",)),
}


def test_a_store_synced_before_the_new_columns_fetches_them(tmp_path: Path) -> None:
    # closed days whose rooms are final at NOW (8 days of refunds settled)
    days = [TODAY - timedelta(days=12), TODAY - timedelta(days=11)]
    later = NOW + timedelta(days=30)  # every closed day is final by then
    with sandbox_session(make_settings(tmp_path), make_config()) as session:
        store = Store(tmp_path / "sandbox" / "store")
        _sync(session, days[0], days[1])
        fresh = {n: store.read(n, get(n).schema, days[0], days[1]) for n in OLDER}
        # the same partitions as a livekit before issue 12 wrote them: without the new
        # columns, under the old schema tag, final (never fetched again but for the schema)
        for name, ds in OLDER.items():
            for d in days:
                old = store.read(name, ds.schema, d, d).drop("date")
                meta = partition_meta(ds, d, later)
                assert meta["final"] == "true"
                assert meta["schema"] != schema_tag(get(name))
                store.write_partition(name, d, old, ds.schema, meta)
        assert store.read("orders", ORDERS.schema, days[0], days[1])["ship_time"].null_count() > 0
        # a sandbox kit sees them stale (and its prepare would sync them), the rooms not
        kit = open_source(
            "sandbox", settings=session.settings.model_copy(update={"home": tmp_path})
        )
        cov = kit.coverage(days[0], days[1], datasets=("rooms", *OLDER), now=later)
        assert cov.stale == {name: tuple(days) for name in OLDER}
        assert not cov.missing
        result = run(
            sync_async(
                session.settings,
                days[0],
                days[1],
                now=later,
                viewer_export_url=session.viewer_export_url,
                session_arms_url=session.session_arms_url,
                explanations_url=session.explanations_url,
            )
        )
    for name in OLDER:
        assert result.datasets[name].fetched_days == len(days), name
        again = store.read(name, get(name).schema, days[0], days[1])
        new = [c for c in get(name).schema if c not in OLDER[name].schema]
        assert again.select(new).null_count().sum_horizontal()[0] < again.height * len(new)
        # the sandbox's clock stands still: the refetched rows are the first sync's, new
        # columns included
        order = list(again.columns)
        assert again.sort(order).equals(fresh[name].sort(order)), name
    assert result.datasets["rooms"].fetched_days == 0  # final rooms of the same schema: kept
    assert kit.coverage(days[0], days[1], datasets=("rooms", *OLDER), now=later).complete
    assert result.datasets["explanations"].fetched_days == 0
