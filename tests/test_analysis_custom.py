"""The metric registry and custom reports: sums first, then ratios; clear errors for bad names."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from livekit.analysis import custom_report, format_value, metric, metrics_of
from livekit.analysis.custom import chosen_metrics, custom_summary
from livekit.analysis.rooms import only_rooms, room_ids
from livekit.store.datasets import get
from livekit.vocab.errors import LivekitError

CN = ZoneInfo("Asia/Shanghai")


def _rooms() -> pl.DataFrame:
    start = [
        datetime(2026, 11, 2, 19, 30, tzinfo=CN),  # Monday
        datetime(2026, 11, 2, 9, 30, tzinfo=CN),
        datetime(2026, 11, 3, 19, 30, tzinfo=CN),
        datetime(2026, 11, 10, 20, 30, tzinfo=CN),  # next week
        datetime(2026, 11, 10, 14, 0, tzinfo=CN),
    ]
    return pl.DataFrame(
        {
            "date": [s.date() for s in start],
            "room_id": [11, 12, 13, 14, 15],
            "aweme_name": ["主号", "主号", "小号", "主号", "小号"],
            "start_time": start,
            "end_time": [s + timedelta(hours=3) for s in start],
            "stat_cost": [100.0, 10.0, 0.0, 300.0, 50.0],
            "live_pay_order_gmv_alias": [400.0, 5.0, 80.0, 600.0, 0.0],
            "live_pay_order_count_alias": [8, 1, 2, 10, 0],
            "live_click_product_count_alias": [100, 2, 40, 150, 0],
            "total_live_watch_cnt": [2000, 10, 500, 4000, 0],
            "live_order_refund_amount_7d": [40.0, 0.0, 0.0, 60.0, 0.0],
        },
        schema_overrides={"start_time": pl.Datetime("us", "Asia/Shanghai")},
    )


def _analysis() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "room_id": [11, 12, 13, 14],  # 15 is missing (T+1 not yet available)
            "all_live_watch_ucnt_td": [1800, 9, 450, 3500],
            "all_avg_live_watch_duration_seconds_td": [60.5, 12.0, 90.25, 45.0],
        }
    )


def _by_hand(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """The expected values: numerators and denominators summed per group, then divided."""
    s = pl.col
    return (
        frame.group_by(by)
        .agg(
            s("live_pay_order_gmv_alias").sum().alias("gmv"),
            s("stat_cost").sum().alias("spend"),
            s("live_pay_order_gmv_alias").sum().alias("_g"),
            s("total_live_watch_cnt").sum().alias("_w"),
            s("live_pay_order_count_alias").sum().alias("_o"),
            s("live_click_product_count_alias").sum().alias("_c"),
        )
        .with_columns(
            pl.when(s("spend") > 0).then(s("_g") / s("spend")).alias("roas"),
            pl.when(s("_w") > 0).then(1000 * s("_g") / s("_w")).alias("gpm"),
            pl.when(s("_c") > 0).then(s("_o") / s("_c")).alias("click_conversion_rate"),
        )
        .select(*by, "gmv", "spend", "roas", "gpm", "click_conversion_rate")
        .sort(by)
    )


CHOSEN = ["gmv", "spend", "roas", "gpm", "click_conversion_rate"]


@pytest.mark.parametrize("by", [["aweme_name"], ["date"], ["aweme_name", "date"]])
def test_report_matches_hand_computation(by: list[str]) -> None:
    rooms = _rooms()
    out = custom_report(rooms, CHOSEN, by)
    assert out.columns == [*by, *CHOSEN]
    expected = _by_hand(rooms, by)
    assert out.select(by).equals(expected.select(by))  # sorted by the dimensions
    for name in CHOSEN:
        assert out[name].to_list() == pytest.approx(expected[name].to_list(), nan_ok=False)


def test_rates_are_not_averages_of_ratios() -> None:
    rooms = _rooms().filter(pl.col("aweme_name") == "主号")
    out = custom_report(rooms, ["roas"], [])
    assert out.height == 1
    assert out["roas"].item() == pytest.approx(1005.0 / 410.0)
    mean_of_ratios = (400 / 100 + 5 / 10 + 600 / 300) / 3
    assert out["roas"].item() != pytest.approx(mean_of_ratios)


def test_derived_dimensions() -> None:
    rooms = _rooms()
    by_week = custom_report(rooms, ["gmv"], ["week"])
    assert by_week.rows() == [(date(2026, 11, 2), 485.0), (date(2026, 11, 9), 600.0)]
    by_weekday = custom_report(rooms, ["orders"], ["weekday"])
    assert by_weekday.rows() == [(1, 9.0), (2, 12.0)]  # Monday, Tuesday
    by_hour = custom_report(rooms, ["spend"], ["hour"])
    assert by_hour.rows() == [(9, 10.0), (14, 50.0), (19, 100.0), (20, 300.0)]


def test_metrics_from_room_analysis_are_joined() -> None:
    rooms, analysis = _rooms(), _analysis()
    out = custom_report(
        {"rooms": rooms, "room_analysis": analysis},
        ["avg_watch_seconds", "uv_value"],
        ["aweme_name"],
    )
    main = out.filter(pl.col("aweme_name") == "主号").row(0, named=True)
    seconds = 60.5 * 1800 + 12.0 * 9 + 45.0 * 3500
    assert main["avg_watch_seconds"] == pytest.approx(seconds / (1800 + 9 + 3500))
    assert main["uv_value"] == pytest.approx((400 + 5 + 600) / (1800 + 9 + 3500))
    # room 15 has no T+1 row: it takes no part in a rate that needs one
    small = out.filter(pl.col("aweme_name") == "小号").row(0, named=True)
    assert small["uv_value"] == pytest.approx(80.0 / 450)
    with pytest.raises(LivekitError, match="room_analysis"):
        custom_report(rooms, ["avg_watch_seconds"], [])


def test_unknown_names_raise_clearly() -> None:
    rooms = _rooms()
    with pytest.raises(LivekitError, match="未知的指标 'gvm'") as err:
        custom_report(rooms, ["gmv", "gvm"], ["date"])
    assert "gmv（成交金额）" in str(err.value)
    # a live (monitor) metric is not a room metric: the custom report lists room metrics only
    with pytest.raises(LivekitError, match="未知的指标 'gmv_per_min'") as err:
        custom_report(rooms, ["gmv_per_min"], ["date"])
    assert "gmv_per_min（" not in str(err.value)
    assert "直播间指标中可用的指标有" in str(err.value)
    with pytest.raises(LivekitError, match="未知的维度：city") as err:
        custom_report(rooms, ["gmv"], ["city"])
    assert "aweme_name" in str(err.value)
    assert "weekday" in str(err.value)
    with pytest.raises(LivekitError, match="未知的维度：stat_cost"):
        custom_report(rooms, ["gmv"], ["stat_cost"])  # a metric field is not a dimension
    with pytest.raises(LivekitError, match="未知的指标 'nope'"):
        metric("nope")


def test_chosen_metrics_in_order_once_with_one_error_for_every_mistake() -> None:
    assert [m.name for m in chosen_metrics(["roas", "gmv", "roas"])] == ["roas", "gmv"]
    assert [m.name for m in chosen_metrics("gmv")] == ["gmv"]
    with pytest.raises(LivekitError, match="请至少选择一个指标"):
        chosen_metrics([])
    with pytest.raises(LivekitError, match="'gvm'、'sepnd'"):
        chosen_metrics(["gvm", "gmv", "sepnd"])


def test_room_ids_and_only_rooms() -> None:
    assert room_ids(None) == ()
    assert room_ids([12, "11", " 12 "]) == (12, 11)
    for bad in ("第一场", "1.5", "-3", True, "１２"):
        with pytest.raises(LivekitError, match="rooms 须为直播间 room_id"):
            room_ids([bad])
    rooms = _rooms()
    assert only_rooms(rooms, ()) is rooms
    assert only_rooms(rooms, (11, 13, 99))["room_id"].to_list() == [11, 13]
    with pytest.raises(LivekitError, match="room_id"):
        only_rooms(rooms.drop("room_id"), (11,))


def test_custom_summary_is_the_report_its_totals_and_its_coarser_tables() -> None:
    rooms, analysis = _rooms(), _analysis()
    frames = {"rooms": rooms, "room_analysis": analysis}
    dims = ["aweme_name", "date", "hour"]
    out = custom_summary(frames, [*CHOSEN, "uv_value"], dims, rooms=["11", 12, 14, 15, 404])
    taken = rooms.filter(pl.col("room_id").is_in([11, 12, 14, 15]))
    picked = {"rooms": taken, "room_analysis": analysis}
    names = [*CHOSEN, "uv_value"]
    assert [m.name for m in out.metrics] == names
    assert out.dimensions == tuple(dims)
    assert out.rows.equals(custom_report(picked, names, dims))
    assert out.totals.equals(custom_report(picked, names, []))
    assert out.by_first is not None
    assert out.by_first.equals(custom_report(picked, names, dims[:1]))
    assert out.by_first_two is not None
    assert out.by_first_two.equals(custom_report(picked, names, dims[:2]))
    assert out.room_count == 4
    assert out.rooms == (11, 12, 14, 15, 404)
    assert out.missing_rooms == (404,)
    # the totals are the sums of the rooms taken, divided once
    assert out.totals["roas"].item() == pytest.approx((400 + 5 + 600 + 0) / (100 + 10 + 300 + 50))
    everything = custom_summary(rooms, ["gmv"], [])
    assert everything.by_first is None
    assert everything.by_first_two is None
    assert everything.room_count == rooms.height
    assert everything.totals["gmv"].item() == pytest.approx(1085.0)


def test_registry_columns_exist_in_the_stored_schemas() -> None:
    for m in metrics_of("room").values():
        available = {c for name in m.datasets for c in get(name).schema}
        missing = [c for c in m.columns if c not in available]
        assert not missing, (m.name, missing)
        assert not m.label.isascii(), m.name  # a Chinese label
        assert m.is_ratio or m.scale == 1.0
        assert m.scale in (1.0, 1000.0), m.name  # rates are fractions: never a scale of 100


def test_format_value() -> None:
    assert format_value(metric("gmv"), 1234.5) == "¥1,234.50"
    assert format_value(metric("click_conversion_rate"), 0.03456) == "3.46%"
    assert format_value(metric("avg_watch_seconds"), 61.25) == "61.2秒"
    assert format_value(metric("roas"), 2.6) == "2.60"
    for missing in (None, float("nan"), float("inf")):
        assert format_value(metric("roas"), missing) == "—"
    assert metric("roas").value(10.0, 0.0) is None
    assert metric("watch_click_rate").value(5.0, 200.0) == pytest.approx(0.025)
    assert metric("gpm").value(5.0, 200.0) == pytest.approx(25.0)  # yuan per 1000 views


def test_import_is_pure() -> None:
    code = (
        "import sys, livekit.analysis\n"
        "bad = [m for m in sys.modules if m.startswith(('livekit.sandbox', 'livekit.store', "
        "'livekit.api', 'livekit.ingest', 'httpx'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
