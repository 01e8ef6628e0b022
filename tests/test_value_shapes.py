"""Values of an unexpected shape (issue 10, point 1, third bullet).

Converted where nothing is lost (``34397.0`` → 34397, ``"12"`` → 12, ``"12.50"`` → 12.5, a
19-digit id in a string → that exact int); otherwise one ValueShapeError naming endpoint,
field, value and request id, and nothing of that data written. The sandbox sends numbers as
floats, strings, a mix, or with one lossy value (``Faults.number_shape``).
"""

from __future__ import annotations

import math
import os
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from livekit.api.payload import Payload, tag
from livekit.api.runner import run
from livekit.ingest import convert
from livekit.ingest.convert import ValueShapeError
from livekit.ingest.run import sync_async
from livekit.jobs import SandboxSession, sandbox_session
from livekit.sandbox.config import Faults
from livekit.sandbox.shapes import NUMBER_SHAPES, shape_numbers
from livekit.store import Store
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import DATASETS, child_env, cli, make_settings, read_all

START, END = TODAY - timedelta(days=4), TODAY  # today included: a show is on air at NOW
ADV = 1_700_000_000_000_001
BIG_ID = 1_800_000_000_000_000_001  # > 2**53: exact only as an int or a string
REPORT = "v1.0/qianchuan/report/advertiser/get/"
CHINA = ZoneInfo("Asia/Shanghai")


# ---- the converter, value by value ---------------------------------------------------------
def _ad_row(**values: Any) -> dict[str, Any]:
    return {"advertiser_id": ADV, "stat_datetime": "2026-11-20 00:00:00", **values}


def _ad(value: Any, field: str = "show_cnt", request_id: str = "RID-1") -> pl.DataFrame:
    data = tag({"list": [_ad_row(**{field: value})]}, REPORT, request_id)
    return convert.ad_daily(data["list"], ADV, "LIVE_PROM_GOODS")


@pytest.mark.parametrize(
    "value",
    [34397, 34397.0, "34397", " 34397 ", "34397.0", "+34397", "3.4397e4", "\t34397\n"],
)
def test_lossless_counts(value: Any) -> None:
    frame = _ad(value)
    assert frame.schema["show_cnt"] == pl.Int64
    assert frame["show_cnt"].to_list() == [34397]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.50", 12.5), (" 12.5 ", 12.5), (12, 12.0), ("7", 7.0), (0.1, 0.1), ("-3.25", -3.25)],
)
def test_lossless_money(value: Any, expected: float) -> None:
    frame = _ad(value, "stat_cost")
    assert frame.schema["stat_cost"] == pl.Float64
    assert frame["stat_cost"].to_list() == [expected]


@pytest.mark.parametrize("value", [BIG_ID, str(BIG_ID), f" {BIG_ID} ", float(2**52)])
def test_lossless_ids(value: Any) -> None:
    rows = tag({"list": [{"productId": value, "title": "t"}]}, "p/", "R")["list"]
    frame = convert.room_products(rows, 1, ADV)
    assert frame["productId"].to_list() == [int(str(value).strip().removesuffix(".0"))]


def test_a_number_in_a_text_column_keeps_its_digits() -> None:
    order = {"order_id": 6920000000000000001, "create_time": 1764300000, "pay_amount": 100}
    heads, _ = convert.orders([order])
    assert heads["order_id"].to_list() == ["6920000000000000001"]


LOSSY = [
    (34397.5, "不是整数"),
    ("34397.5", "不是整数"),
    ("abc", "不是数字"),
    ("", "不是数字"),
    ("0x10", "不是数字"),
    ("1_000", "不是数字"),
    (True, "布尔值"),
    (False, "布尔值"),
    ([1], "数组"),
    ({"v": 1}, "对象"),
    (math.nan, "有限"),
    (math.inf, "有限"),
    (-math.inf, "有限"),
    ("NaN", "不是数字"),
    ("inf", "不是数字"),
    (2**63, "64 位"),
    (str(2**63), "64 位"),
    ("1e9999", "64 位"),
    (float(2**53 + 2), "2^53"),
    (1.8e18, "2^53"),
]


@pytest.mark.parametrize(("value", "reason"), LOSSY)
def test_lossy_counts_are_one_clear_error(value: Any, reason: str) -> None:
    with pytest.raises(ValueShapeError) as info:
        _ad(value, request_id="20261128210000ABCDEF")
    err = info.value
    text = str(err)
    assert (err.endpoint, err.field, err.request_id) == (REPORT, "show_cnt", "20261128210000ABCDEF")
    assert reason in err.reason
    assert f"巨量千川接口 {REPORT}" in text
    assert "show_cnt" in text
    assert "request_id 20261128210000ABCDEF" in text
    assert convert.show_value(value) in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "有限"),
        ("1e999", "范围"),
        (True, "布尔值"),
        ("12,5", "不是数字"),
        (2**60, "精度"),
    ],
)
def test_lossy_money(value: Any, reason: str) -> None:
    with pytest.raises(ValueShapeError, match=reason):
        _ad(value, "stat_cost")


def test_an_id_sent_as_a_float_beyond_2_53_is_refused() -> None:
    rows = tag({"list": [{"productId": float(BIG_ID), "title": "t"}]}, "p/", "RID")["list"]
    with pytest.raises(ValueShapeError) as info:
        convert.room_products(rows, 1, ADV)
    assert info.value.field == "productId"
    assert "2^53" in str(info.value)


def test_each_row_names_its_own_page() -> None:
    """Rows of several pages keep each their own response's request id."""
    page1 = tag({"list": [_ad_row(show_cnt=1)]}, REPORT, "PAGE-1")
    page2 = tag({"list": [_ad_row(show_cnt=2.5)]}, REPORT, "PAGE-2")
    with pytest.raises(ValueShapeError) as info:
        convert.ad_daily([*page1["list"], *page2["list"]], ADV, "LIVE_PROM_GOODS")
    assert info.value.request_id == "PAGE-2"


def test_values_are_shown_short_quoted_and_on_one_line() -> None:
    hostile = "[bold]x[/]\n\u202e<script>" + "y" * 10_000
    shown = convert.show_value(hostile)
    assert len(shown) <= 80
    assert shown.startswith("'[bold]x[/]\\n\\u202e<script>")
    assert "\n" not in shown
    assert "\u202e" not in shown
    with pytest.raises(ValueShapeError) as info:
        _ad(hostile)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 400


def test_times() -> None:
    bad = tag({"list": [_ad_row(stat_datetime="2026-13-45 00:00:00")]}, REPORT, "R")["list"]
    with pytest.raises(ValueShapeError, match="stat_datetime"):
        convert.ad_daily(bad, ADV, "LIVE_PROM_GOODS")
    with pytest.raises(ValueShapeError, match="create_time"):
        convert.orders([{"order_id": "1", "create_time": 10**15}])
    ok = convert.orders([{"order_id": "1", "create_time": "1764300000", "pay_time": 0.0}])[0]
    assert ok["create_time"].to_list() == [datetime.fromtimestamp(1764300000, CHINA)]
    assert ok["pay_time"].to_list() == [None]


def test_doudian_fen_as_floats_and_strings() -> None:
    sku = {"order_id": "s1", "product_id": "3", "item_num": "2", "pay_amount": 1999.0}
    order = {
        "order_id": "o1",
        "create_time": 1764300000,
        "pay_amount": "1999",
        "order_amount": " 2000 ",
        "sku_order_list": [sku],
    }
    heads, items = convert.orders([order])
    assert heads["pay_amount"].to_list() == [19.99]
    assert heads["order_amount"].to_list() == [20.0]
    assert items["pay_amount"].to_list() == [19.99]
    assert items["item_num"].to_list() == [2]


def test_doudian_lossy_fen_and_sku_fields_name_the_log_id() -> None:
    data = tag(
        {"shop_order_list": [{"order_id": "o1", "create_time": 1764300000, "pay_amount": 1999.5}]},
        "order.searchList",
        "LOG-9",
    )
    with pytest.raises(ValueShapeError) as info:
        convert.orders(data["shop_order_list"])
    assert (info.value.field, info.value.request_id) == ("pay_amount", "LOG-9")
    assert "抖店接口 order.searchList" in str(info.value)
    assert "log_id LOG-9" in str(info.value)
    sku = {"order_id": "s1", "item_num": "two"}
    data = tag(
        {"shop_order_list": [{"order_id": "o1", "create_time": 1, "sku_order_list": [sku]}]},
        "order.searchList",
        "LOG-10",
    )
    with pytest.raises(ValueShapeError) as info:
        convert.orders(data["shop_order_list"])
    assert (info.value.field, info.value.request_id) == ("sku_order_list[].item_num", "LOG-10")


def test_flow_counts_in_any_lossless_shape() -> None:
    data = tag(
        {"homepage_follow": 3.0, "general_search": " 4 ", "video_to_live": 5, "note": "x"},
        "flow/",
        "R",
    )
    frame = convert.room_flow(data, 1, ADV)
    assert dict(zip(frame["flow_source"], frame["value"], strict=True)) == {
        "homepage_follow": 3,
        "general_search": 4,
        "video_to_live": 5,
    }
    with pytest.raises(ValueShapeError, match="homepage_follow"):
        convert.room_flow(tag({"homepage_follow": 3.5}, "flow/", "R"), 1, ADV)


def test_audience_values() -> None:
    data = tag(
        {
            "city": [{"city_name": "浙江", "value": "12"}],
            "gender": [{"gender_type": "F", "value": 1.5}],
        },
        "user/",
        "R-A",
    )
    with pytest.raises(ValueShapeError) as info:
        convert.room_audience(data, "ENTER", 1, ADV)
    assert (info.value.field, info.value.request_id) == ("gender[].value", "R-A")


def test_a_row_that_is_not_an_object() -> None:
    data = tag({"list": [_ad_row(show_cnt=1), "oops"]}, REPORT, "R-ROW")
    with pytest.raises(ValueShapeError) as info:
        convert.ad_daily(data["list"], ADV, "LIVE_PROM_GOODS")
    assert (info.value.field, info.value.value) == ("列表项", "oops")
    data = tag(
        {"shop_order_list": [{"order_id": "o", "sku_order_list": [7]}]}, "order.searchList", "L"
    )
    with pytest.raises(ValueShapeError) as info:
        convert.orders(data["shop_order_list"])
    assert (info.value.field, info.value.request_id) == ("sku_order_list", "L")
    with pytest.raises(ValueShapeError, match="应为对象数组"):
        convert.objects("nope", "shop_order_list", "doudian")


def test_error_pickles_whole() -> None:
    import pickle

    err = ValueShapeError("doudian", "order.searchList", "pay_amount", 1.5, "不是整数", "L")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err)
    payload = pickle.loads(pickle.dumps(Payload({"a": 1}, "e/", "r")))
    assert (payload, payload.endpoint, payload.request_id) == ({"a": 1}, "e/", "r")


# ---- the sandbox's shapes --------------------------------------------------------------------
def test_sandbox_shapes() -> None:
    data = {
        "list": [
            {"room_id": BIG_ID, "show_cnt": 3.0, "click_cnt": 4, "stat_cost": 1.5, "ok": True}
        ],
        "page_info": {"page": 1, "total_number": 1},
    }
    before = repr(data)
    assert shape_numbers(data, "native") is data
    f = shape_numbers(data, "float")["list"][0]
    assert f == {"room_id": BIG_ID, "show_cnt": 3.0, "click_cnt": 4.0, "stat_cost": 1.5, "ok": True}
    assert type(f["click_cnt"]) is float
    assert type(f["room_id"]) is int
    s = shape_numbers(data, "string")
    assert s["list"][0] == {
        "room_id": str(BIG_ID),
        "show_cnt": "3.0",
        "click_cnt": "4",
        "stat_cost": "1.5",
        "ok": True,
    }
    assert s["page_info"] == {"page": "1", "total_number": "1"}  # paging too
    lossy = shape_numbers(data, "lossy")["list"][0]
    assert (lossy["show_cnt"], lossy["click_cnt"]) == (3.5, 4.0)  # one lossy value per answer
    paged = shape_numbers({"page": 0, "size": 100, "list": [{"n": 1}, {"n": 2}]}, "lossy")
    assert paged == {"page": 0.0, "size": 100.0, "list": [{"n": 1.5}, {"n": 2.0}]}
    assert repr(data) == before  # never modified in place
    with pytest.raises(ValueError, match="number_shape"):
        Faults(number_shape="decimal")
    assert set(NUMBER_SHAPES) == {"native", "float", "string", "mixed", "lossy"}


def test_faults_endpoint_switches_the_shape() -> None:
    from livekit.sandbox.server import running_sandbox

    with running_sandbox(make_config()) as sb:
        r = httpx.post(sb.url + "/sandbox/faults", json={"number_shape": "string"})
        assert r.status_code == 200, r.text
        assert sb.sandbox.faults.number_shape == "string"
        r = httpx.post(sb.url + "/sandbox/faults", json={"number_shape": "octal"})
        assert r.status_code == 400
        assert sb.sandbox.faults.number_shape == "string"


# ---- syncs over real HTTP ----------------------------------------------------------------------
def _sync_store(home: Path, shape: str) -> dict[str, pl.DataFrame]:
    config = make_config(faults=Faults(number_shape=shape))
    with sandbox_session(make_settings(home), config) as session:
        run(
            sync_async(
                session.settings, START, END, now=NOW, viewer_export_url=session.viewer_export_url
            )
        )
        counts = run(_raw_counts(session))
    kinds = {type(v) for v in counts}
    expected = {"native": {int}, "float": {float}, "string": {str}, "mixed": {int, float, str}}
    assert kinds == expected[shape], counts  # the sandbox really sent them that way
    return read_all(home / "sandbox", START, END)


async def _raw_counts(session: SandboxSession) -> list[Any]:
    """Counts from 巨量千川 and 抖店 as they came over the wire."""
    from livekit.api.client import Client

    world = session.server.sandbox.world
    async with Client(session.settings) as client:
        rooms = await client.qianchuan.rooms(
            world.advertiser_id, world.accounts[0].aweme_id, TODAY, ["total_live_watch_cnt"]
        )
        day = int(datetime.combine(TODAY, datetime.min.time(), CHINA).timestamp())
        orders = await client.doudian.search_orders(day, int(NOW.timestamp()), 0)
    fields = ("order_status", "b_type", "create_time", "order_amount")
    return [rooms[0]["total_live_watch_cnt"]] + [
        o[f] for o in orders["shop_order_list"] for f in fields
    ]


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    return _sync_store(tmp_path_factory.mktemp("native"), "native")


@pytest.mark.parametrize("shape", ["float", "string", "mixed"])
def test_sync_with_numbers_in_another_shape_equals_a_clean_sync(
    shape: str, clean_store: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    shaped = _sync_store(tmp_path, shape)
    for name in DATASETS:
        assert clean_store[name].height > 0, name
        assert_frame_equal(shaped[name], clean_store[name])


# ---- the CLI: one line, no traceback, nothing written ------------------------------------------
def _no_partition(home: Path, dataset: str, day: date) -> None:
    store = Store(home / "store")
    assert day not in store.partitions(dataset)
    assert not list((home / "store").rglob("*.parquet")), "a partition was written"
    tmp = home / "store" / ".tmp"
    assert not tmp.exists() or not any(tmp.iterdir()), "a half-written file was left"


@pytest.mark.parametrize(
    ("dataset", "endpoint", "field", "label"),
    [
        ("orders", "抖店接口 order.searchList", "order_status", "log_id"),
        ("ad_daily", f"巨量千川接口 {REPORT}", "show_cnt", "request_id"),
    ],
)
def test_cli_sync_with_a_lossy_value(
    dataset: str, endpoint: str, field: str, label: str, tmp_path: Path
) -> None:
    day = TODAY - timedelta(days=2)
    config = make_config(faults=Faults(number_shape="lossy"))
    with sandbox_session(make_settings(tmp_path), config) as session:
        env = child_env(session)
        result = cli(env, "sync", "--from", str(day), "--to", str(day), "--datasets", dataset, "-q")
        home = Path(env["LIVEKIT_HOME"])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("错误：" + endpoint), line
    assert f"字段 {field} 取值 " in line, line
    assert ".5 不是整数" in line, line
    assert re.search(rf"{label} \d{{14}}[0-9A-F]{{18}}", line), line
    _no_partition(home, dataset, day)


def test_serve_refuses_an_unknown_number_shape(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update({"LIVEKIT_HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"})
    result = cli(env, "sandbox", "serve", "--number-shape", "octal", "--port", "1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("错误：--number-shape")
    assert "'octal'" in result.stderr
    assert "native、float、string、mixed、lossy" in result.stderr


# ---- any JSON value: converted exactly, or one ValueShapeError -----------------------------------
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.from_regex(r"\s?[+-]?\d{1,22}(\.\d{0,4})?([eE][+-]?\d{1,3})?\s?", fullmatch=True),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES)
def test_any_value_converts_exactly_or_is_one_error(value: Any) -> None:
    for field in ("show_cnt", "stat_cost"):
        refused: ValueShapeError | None = None
        try:
            got = _ad(value, field)[field][0]
        except ValueShapeError as err:
            refused = err
        if refused is not None:  # refused, naming the field and the response
            assert (refused.field, refused.request_id) == (field, "RID-1")
            continue
        if value is None:
            assert got is None
            continue
        assert not isinstance(value, bool | list | dict)
        exact = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
        if field == "show_cnt":
            assert isinstance(got, int)
            assert Decimal(got) == exact  # not one unit lost
        else:
            assert isinstance(got, float)
            assert math.isfinite(got)
            assert got == float(value)
