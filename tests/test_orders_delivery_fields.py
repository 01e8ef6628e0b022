"""The 抖店 delivery fields (issue 12, point 1 and must-show 3): the client's parsing of them.

Hand-made ``order.searchList`` payloads in every form a source sends (int64 seconds, numeric
strings, the legacy ``YYYY-MM-DD HH:MM:SS`` China time, 0, missing keys), the derivations that
hold under every source (docs/upstream/orders-explanations-clicks.md §1.3, §4), and readable
errors for values that are none of those.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import polars as pl
import pytest

from livekit.api.payload import tag
from livekit.ingest import convert
from livekit.ingest.convert import ValueShapeError
from livekit.ingest.plan import needs_fetch, partition_meta, schema_tag
from livekit.sandbox.server import RunningSandbox
from livekit.store import Store
from livekit.store.datasets import ORDER_ITEMS, ORDERS, TIME, Dataset
from tests.helpers.sandbox import NOW, Doudian

CHINA = ZoneInfo("Asia/Shanghai")
CREATE = int(datetime(2026, 11, 28, 11, 20, tzinfo=CHINA).timestamp())
PAY, EXP, SHIP, SHIP2, SIGNED, CONFIRMED, FINISHED = (
    CREATE + 60,
    CREATE + 48 * 3600,
    CREATE + 20 * 3600,
    CREATE + 30 * 3600,
    CREATE + 3 * 86400,
    CREATE + 5 * 86400,
    CREATE + 5 * 86400 + 10,
)


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, CHINA)


def china_text(ts: int) -> str:
    return at(ts).strftime("%Y-%m-%d %H:%M:%S")


def sku(order_id: str = "s1", **fields: Any) -> dict[str, Any]:
    return {"order_id": order_id, "product_id": 3, "item_num": 1, "pay_amount": 1999, **fields}


def order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "order_id": "o1",
        "create_time": CREATE,
        "pay_time": PAY,
        "order_status": 5,
        "post_addr": {
            "province": {"name": "浙江", "id": "33"},
            "city": {"name": "杭州", "id": "3301"},
        },
    }
    return {**base, **fields}


def head(o: dict[str, Any]) -> dict[str, Any]:
    heads, _ = convert.orders([o])
    assert heads.height == 1
    row: dict[str, Any] = heads.row(0, named=True)
    return row


def items(o: dict[str, Any]) -> list[dict[str, Any]]:
    _, frame = convert.orders([o])
    return frame.to_dicts()


# ---- the columns other helpers code against ----------------------------------------------------
def test_the_new_columns_and_their_types() -> None:
    for name in ("exp_ship_time", "ship_time", "receipt_time", "finish_time"):
        assert ORDERS.schema[name] == TIME
    assert ORDERS.schema["main_status"] == pl.Int64
    assert ORDERS.schema["logistics_company"] == pl.String
    assert ORDERS.schema["post_addr_province"] == ORDERS.schema["post_addr_city"] == pl.String
    for name in (
        "exp_ship_time",
        "ship_time",
        "logistics_receipt_time",
        "confirm_receipt_time",
        "finish_time",
    ):
        assert ORDER_ITEMS.schema[name] == TIME
    assert ORDER_ITEMS.schema["main_status"] == pl.Int64
    # no personal data beyond province and city
    assert not {c for c in ORDERS.schema if "tel" in c or "receiver" in c or "detail" in c}


# ---- the current API: int64 seconds, 0 = not yet ----------------------------------------------
def test_a_received_order_as_the_current_api_sends_it() -> None:
    o = order(
        main_status=5,
        exp_ship_time=EXP,
        ship_time=SHIP,
        finish_time=FINISHED,
        logistics_info=[
            {"tracking_no": "ZT1", "company": "zhongtong", "company_name": "中通快递", "ship_time": SHIP},
            {"tracking_no": "SF2", "company": "shunfeng", "company_name": "顺丰速运", "ship_time": SHIP2},
        ],
        sku_order_list=[
            sku("s1", main_status=5, exp_ship_time=EXP, ship_time=SHIP, logistics_receipt_time=SIGNED,
                confirm_receipt_time=CONFIRMED, finish_time=FINISHED),
            sku("s2", main_status=5, exp_ship_time=EXP, ship_time=SHIP2,
                logistics_receipt_time=SIGNED + 3600, confirm_receipt_time=CONFIRMED,
                finish_time=FINISHED),
        ],
    )  # fmt: skip
    h = head(o)
    assert (h["exp_ship_time"], h["ship_time"], h["finish_time"]) == (
        at(EXP),
        at(SHIP),
        at(FINISHED),
    )
    assert h["receipt_time"] == at(SIGNED + 3600)  # the last parcel's delivery
    assert h["main_status"] == 5
    assert h["logistics_company"] == "中通快递"  # the first parcel's carrier, by name
    assert (h["post_addr_province"], h["post_addr_city"]) == ("浙江", "杭州")
    rows = items(o)
    assert [r["ship_time"] for r in rows] == [at(SHIP), at(SHIP2)]
    assert [r["logistics_receipt_time"] for r in rows] == [at(SIGNED), at(SIGNED + 3600)]
    assert [r["confirm_receipt_time"] for r in rows] == [at(CONFIRMED)] * 2
    assert [r["finish_time"] for r in rows] == [at(FINISHED)] * 2
    assert [r["exp_ship_time"] for r in rows] == [at(EXP)] * 2
    assert [r["main_status"] for r in rows] == [5, 5]


def test_zero_empty_and_missing_mean_not_yet() -> None:
    paid_not_shipped = order(
        order_status=2,
        main_status=2,
        exp_ship_time=EXP,
        ship_time=0,
        finish_time=0,
        logistics_info=[],
        sku_order_list=[sku(ship_time=0, logistics_receipt_time="", confirm_receipt_time=0)],
    )
    h = head(paid_not_shipped)
    assert h["exp_ship_time"] == at(EXP)
    assert (h["ship_time"], h["receipt_time"], h["finish_time"]) == (None, None, None)
    assert h["logistics_company"] is None
    [r] = items(paid_not_shipped)
    assert (r["ship_time"], r["logistics_receipt_time"], r["confirm_receipt_time"]) == (
        None,
        None,
        None,
    )
    bare = head(order(order_status=1, pay_time=0))  # an unpaid order from an older source
    for name in ("pay_time", "exp_ship_time", "ship_time", "receipt_time", "finish_time"):
        assert bare[name] is None, name
    assert bare["main_status"] is None
    assert bare["logistics_company"] is None


# ---- other sources: numeric strings, the legacy text form -------------------------------------
@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda ts: ts, id="int"),
        pytest.param(lambda ts: str(ts), id="numeric-string"),
        pytest.param(lambda ts: f" {ts} ", id="padded-string"),
        pytest.param(lambda ts: float(ts), id="whole-float"),
        pytest.param(china_text, id="legacy-china-time"),
    ],
)
def test_every_time_form_gives_the_same_moment(form: Any) -> None:
    o = order(
        create_time=form(CREATE),
        pay_time=form(PAY),
        exp_ship_time=form(EXP),
        ship_time=form(SHIP),
        finish_time=form(FINISHED),
        update_time=form(FINISHED),
        sku_order_list=[
            sku(ship_time=form(SHIP), logistics_receipt_time=form(SIGNED),
                confirm_receipt_time=form(CONFIRMED), exp_ship_time=form(EXP))
        ],
    )  # fmt: skip
    h = head(o)
    assert h["create_time"] == at(CREATE)
    assert (h["pay_time"], h["exp_ship_time"], h["ship_time"]) == (at(PAY), at(EXP), at(SHIP))
    assert (h["receipt_time"], h["finish_time"]) == (at(SIGNED), at(FINISHED))
    [r] = items(o)
    assert (r["ship_time"], r["logistics_receipt_time"], r["confirm_receipt_time"]) == (
        at(SHIP),
        at(SIGNED),
        at(CONFIRMED),
    )
    heads, _ = convert.orders([o])
    assert heads[convert.DAY].to_list() == [date(2026, 11, 28)]  # the China-time create day


def test_the_legacy_text_is_china_time() -> None:
    # 2026-11-28 08:00:00 in Beijing is 00:00 UTC: an 8-hour error would show here
    h = head(order(ship_time="2026-11-28 08:00:00", finish_time=0, order_status=3))
    assert h["ship_time"] == datetime(2026, 11, 28, 0, 0, tzinfo=ZoneInfo("UTC"))
    assert h["ship_time"].tzinfo is not None


# ---- the derivations valid under every source ---------------------------------------------------
def test_shipped_falls_back_to_the_first_parcel_then_the_legacy_field() -> None:
    parcels = [
        {"company_name": "顺丰速运", "ship_time": SHIP2},
        {"company_name": "中通快递", "ship_time": str(SHIP)},
        {"company_name": "中国邮政", "ship_time": 0},
    ]
    assert head(order(ship_time=0, logistics_info=parcels))["ship_time"] == at(SHIP)
    assert head(order(logistics_info=parcels))["logistics_company"] == "顺丰速运"
    legacy = order(logistics_time=china_text(SHIP2))  # order.list (2020): 发货时间
    assert head(legacy)["ship_time"] == at(SHIP2)
    # the current field wins over the fallbacks
    both = order(ship_time=SHIP, logistics_info=[{"ship_time": SHIP2}], logistics_time=SHIP2)
    assert head(both)["ship_time"] == at(SHIP)


def test_received_falls_back_in_the_documented_order() -> None:
    def received(**fields: Any) -> Any:
        skus = fields.pop("skus", [sku()])
        return head(order(sku_order_list=skus, **fields))["receipt_time"]

    signed = [sku("a", logistics_receipt_time=SIGNED), sku("b", logistics_receipt_time=0)]
    assert received(skus=signed, finish_time=FINISHED) == at(SIGNED)
    confirmed = [
        sku("a", confirm_receipt_time=CONFIRMED - 5),
        sku("b", confirm_receipt_time=CONFIRMED),
    ]
    assert received(skus=confirmed, finish_time=FINISHED) == at(CONFIRMED)
    # no receipt on any sku: a finished order (status 5) was received when it finished
    assert received(order_status=5, finish_time=FINISHED) == at(FINISHED)
    assert received(order_status="5", finish_time=str(FINISHED)) == at(FINISHED)
    # finish_time of an order that is not "finished" says nothing about receipt
    assert received(order_status=4, finish_time=FINISHED) is None
    assert received(order_status=3, finish_time=FINISHED) is None
    # the legacy order.list's receipt_time, last
    assert received(order_status=3, receipt_time=china_text(SIGNED)) == at(SIGNED)
    assert received(order_status=5, finish_time=FINISHED, receipt_time=SIGNED) == at(FINISHED)
    assert received(order_status=3) is None


# ---- values that are no time ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (order(ship_time="yesterday"), "ship_time", "YYYY-MM-DD HH:MM:SS"),
        (order(exp_ship_time="2026-02-30 10:00:00"), "exp_ship_time", "不是有效的时间"),
        (order(ship_time=0, logistics_info=[{"ship_time": 1.5}]), "logistics_info[].ship_time", "不是整数"),
        (order(logistics_info={"ship_time": SHIP}), "logistics_info", "应为对象数组"),
        (order(logistics_info=[{"company_name": 7}]), "logistics_info[].company_name", "应为文本"),
        (order(sku_order_list=[sku(logistics_receipt_time=True)]), "sku_order_list[].logistics_receipt_time", "布尔"),
        (order(sku_order_list=[sku(exp_ship_time="soon")]), "sku_order_list[].exp_ship_time", "不是"),
        (order(finish_time=10**15), "finish_time", "Unix 时间戳"),
        (order(order_status="five", finish_time=FINISHED), "order_status", "不是数字"),
        (order(main_status=[5]), "main_status", "数组"),
    ],
)  # fmt: skip
def test_a_value_that_is_no_time_is_one_error_naming_field_and_log_id(
    payload: dict[str, Any], field: str, reason: str
) -> None:
    data = tag({"shop_order_list": [payload]}, "order.searchList", "LOG-12")
    with pytest.raises(ValueShapeError) as info:
        convert.orders(data["shop_order_list"])
    assert (info.value.field, info.value.request_id) == (field, "LOG-12")
    message = str(info.value)
    assert reason in message
    assert "log_id LOG-12" in message
    assert "\n" not in message


# ---- a store synced before the schema change -----------------------------------------------------
def _before_issue_12(ds: Dataset, new: tuple[str, ...]) -> Dataset:
    return Dataset(
        ds.name,
        ds.description,
        {k: v for k, v in ds.schema.items() if k not in new},
        ds.key,
        ds.source,
    )


OLD_ORDERS = _before_issue_12(
    ORDERS, ("main_status", "exp_ship_time", "ship_time", "receipt_time", "logistics_company")
)


def test_a_final_partition_of_the_old_schema_is_fetched_again_and_reads_with_nulls(
    tmp_path: Any,
) -> None:
    day = date(2026, 10, 1)
    long_after = datetime(2026, 11, 28, 21, 0, tzinfo=CHINA)
    assert schema_tag(OLD_ORDERS) != schema_tag(ORDERS)
    store = Store(tmp_path / "store")
    old_rows = pl.DataFrame(
        {"order_id": ["o1"], "create_time": [at(CREATE)]},
        schema={"order_id": pl.String, "create_time": TIME},
    ).with_columns(
        [pl.lit(None, t).alias(n) for n, t in OLD_ORDERS.schema.items() if n not in ("order_id", "create_time")]
    )  # fmt: skip
    meta = partition_meta(OLD_ORDERS, day, long_after)
    assert meta["final"] == "true"
    store.write_partition("orders", day, old_rows, OLD_ORDERS.schema, meta)
    stored = store.partition_meta("orders", day)
    assert not needs_fetch(OLD_ORDERS, day, stored, long_after, refresh=False)  # final then
    assert needs_fetch(ORDERS, day, stored, long_after, refresh=False)  # not any more
    back = store.read("orders", ORDERS.schema, day, day)
    assert back.columns == ["date", *ORDERS.schema]
    assert back.row(0, named=True)["ship_time"] is None
    assert back.row(0, named=True)["order_id"] == "o1"


# ---- the sandbox's 抖店 over real HTTP: the protocol shape of the new fields ---------------------
SHOP_TIMES = ("create_time", "pay_time", "update_time", "exp_ship_time", "ship_time", "finish_time")
SKU_TIMES = (
    "create_time",
    "pay_time",
    "update_time",
    "exp_ship_time",
    "ship_time",
    "logistics_receipt_time",
    "confirm_receipt_time",
    "finish_time",
)
CARRIER_NAMES = {"zhongtong": "中通快递", "shunfeng": "顺丰速运", "youzhengguonei": "中国邮政"}
PROMISE_S = 48 * 3600  # the 抖店 standard ship-by: 48 hours after payment
REFUND_DONE = {21, 22, 39}  # main_status: refund completed before ship / after ship / after receipt
FIRST_TS = int(datetime(2026, 11, 8, tzinfo=CHINA).timestamp())
NOW_TS = int(NOW.timestamp())


@pytest.fixture(scope="module")
def served(server: RunningSandbox) -> list[dict[str, Any]]:
    """Every shop order created 11-08 .. NOW, as order.searchList serves it at NOW."""
    with httpx.Client(base_url=server.url, timeout=30) as h:
        dd = Doudian(h, server.sandbox.config)
        token = dd.login()["access_token"]
        out: list[dict[str, Any]] = []
        page = 0
        while True:
            body = {"create_time_start": FIRST_TS, "create_time_end": NOW_TS, "page": page,
                    "size": 100, "order_asc": True}  # fmt: skip
            data = dd.call("order.searchList", body, token)["data"]
            out += data["shop_order_list"]
            page += 1
            if page * 100 >= data["total"]:
                return out


def is_int(v: Any) -> bool:
    return type(v) is int


def test_new_fields_have_the_platform_types(served: list[dict[str, Any]]) -> None:
    assert len(served) > 1000
    for o in served:
        for name in (*SHOP_TIMES, "main_status", "order_status"):
            assert is_int(o[name]), (name, o[name])
        for name in SHOP_TIMES:
            assert o[name] >= 0
            if name != "exp_ship_time":  # a promise may lie ahead; events have happened
                assert o[name] <= NOW_TS, name
        assert isinstance(o["logistics_info"], list)
        for parcel in o["logistics_info"]:
            assert set(parcel) >= {"tracking_no", "company", "company_name", "ship_time",
                                   "delivery_id", "product_info"}  # fmt: skip
            assert all(isinstance(parcel[k], str) and parcel[k] for k in
                       ("tracking_no", "company", "company_name", "delivery_id"))  # fmt: skip
            assert is_int(parcel["ship_time"])
            for line in parcel["product_info"]:
                assert is_int(line["product_id"])
                assert line["product_id_str"] == str(line["product_id"])
                assert isinstance(line["sku_order_id"], str)
                assert is_int(line["product_count"])
                assert is_int(line["price"])
        province, city = o["post_addr"]["province"], o["post_addr"]["city"]
        assert isinstance(province["name"], str)
        assert isinstance(province["id"], str)
        assert isinstance(city["name"], str)
        assert isinstance(city["id"], str)
        for s in o["sku_order_list"]:
            for name in (*SKU_TIMES, "main_status", "order_status"):
                assert is_int(s[name]), (name, s[name])
            for name in SKU_TIMES:
                assert 0 <= s[name] <= (NOW_TS if name != "exp_ship_time" else 2**62)
            assert s["post_addr"] == o["post_addr"]


def test_events_follow_each_other_and_zero_is_not_yet(
    served: list[dict[str, Any]], server: RunningSandbox
) -> None:
    truth = {o.order_id: o for o in server.sandbox.world.orders_between(FIRST_TS, NOW_TS)}
    for o in served:
        t = truth[o["order_id"]]
        seen = {k: (v if 0 < v <= NOW_TS else 0) for k, v in
                (("ship", t.ship_ts), ("receipt", t.receipt_ts), ("confirm", t.confirm_ts))}  # fmt: skip
        assert o["ship_time"] == seen["ship"]
        assert o["finish_time"] == seen["confirm"]
        if not o["pay_time"]:
            assert (o["exp_ship_time"], o["ship_time"], o["finish_time"]) == (0, 0, 0)
            assert o["logistics_info"] == []
            continue
        assert o["exp_ship_time"] == o["pay_time"] + PROMISE_S
        events = [o["pay_time"], o["ship_time"]]
        events += [max(s["logistics_receipt_time"] for s in o["sku_order_list"]), o["finish_time"]]
        happened = [e for e in events if e]
        assert happened == sorted(happened), events  # pay <= ship <= receipt <= finish
        assert happened == events[: len(happened)], events  # nothing after a missing event
        for s in o["sku_order_list"]:
            assert s["ship_time"] == o["ship_time"]
            assert s["logistics_receipt_time"] == seen["receipt"]
            assert s["confirm_receipt_time"] == s["finish_time"] == o["finish_time"]
            assert s["exp_ship_time"] == o["exp_ship_time"]
        if o["ship_time"]:
            [parcel] = o["logistics_info"]
            assert parcel["ship_time"] == o["ship_time"]
            assert CARRIER_NAMES[parcel["company"]] == parcel["company_name"]
            assert parcel["delivery_id"] == f"{parcel['company']}_{parcel['tracking_no']}"
            assert [x["sku_order_id"] for x in parcel["product_info"]] == [
                s["order_id"] for s in o["sku_order_list"]
            ]
            assert [x["product_count"] for x in parcel["product_info"]] == [
                s["item_num"] for s in o["sku_order_list"]
            ]
        else:
            assert o["logistics_info"] == []
        assert o["update_time"] >= max(o["create_time"], o["pay_time"])
        if o["main_status"] not in REFUND_DONE:  # a completed refund closes the order
            assert o["update_time"] == max(happened)


def test_status_codes_agree_with_the_times(served: list[dict[str, Any]]) -> None:
    seen_status: set[int] = set()
    seen_main: set[int] = set()
    for o in served:
        status, main = o["order_status"], o["main_status"]
        skus = o["sku_order_list"]
        after = {
            (s["after_sale_info"]["after_sale_type"], s["after_sale_info"]["refund_status"])
            for s in skus
        }
        seen_status.add(status)
        seen_main.add(main)
        assert all(s["order_status"] == status and s["main_status"] == main for s in skus)
        if not o["pay_time"]:
            assert status in (1, 4)
            assert main == status
            continue
        refunded = main in REFUND_DONE
        assert refunded == (after != {(0, 0)}), (main, after)
        if main == 21:  # refunded before shipping: cancelled, nothing ships
            assert (status, o["ship_time"], after) == (4, 0, {(2, 3)})
        elif main == 22:  # refunded after shipping, before the parcel arrived
            assert o["ship_time"]
            assert after == {(1, 3)}
        elif main == 39:  # returned and refunded after receipt
            assert o["ship_time"]
            assert after == {(0, 3)}
            assert all(s["logistics_receipt_time"] for s in skus)
        else:
            assert main == status
        if status == 2:
            assert o["ship_time"] == 0
            assert o["finish_time"] == 0
        elif status == 3:
            assert o["ship_time"]
            assert not o["finish_time"]
        elif status == 5:
            assert o["ship_time"]
            assert o["finish_time"]
            assert all(s["logistics_receipt_time"] for s in skus)
        else:
            assert status == 4
            assert main == 21
    assert {2, 3, 5} <= seen_status
    assert {21, 22} <= seen_main


def test_the_client_reads_the_served_orders_as_the_platform_means_them(
    served: list[dict[str, Any]],
) -> None:
    heads, items = convert.orders(served)
    by_id = {o["order_id"]: o for o in served}
    rows = heads.to_dicts()
    assert len(rows) == len(served)
    received = 0
    for h in rows:
        o = by_id[h["order_id"]]

        def moment(ts: int) -> datetime | None:
            return at(ts) if ts else None

        assert h["exp_ship_time"] == moment(o["exp_ship_time"])
        assert h["ship_time"] == moment(o["ship_time"])
        assert h["finish_time"] == moment(o["finish_time"])
        signed = max(s["logistics_receipt_time"] for s in o["sku_order_list"])
        assert h["receipt_time"] == moment(signed)
        received += signed > 0
        assert h["main_status"] == o["main_status"]
        parcels = o["logistics_info"]
        assert h["logistics_company"] == (parcels[0]["company_name"] if parcels else None)
        assert (h["post_addr_province"], h["post_addr_city"]) == (
            o["post_addr"]["province"]["name"],
            o["post_addr"]["city"]["name"],
        )
    assert received > 100
    assert items.height == sum(len(o["sku_order_list"]) for o in served)
    assert set(items["main_status"].unique().to_list()) == set(
        heads["main_status"].unique().to_list()
    )
