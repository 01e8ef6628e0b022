"""Funnel: rates from counts, Wilson intervals, flags, the exact log split of a change, and what
the funnel report adds (comparison period, per-account funnels, the gap between accounts, the
weakest step, daily rates)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from livekit.analysis import DEFAULT_STAGES, custom_report, funnel, funnel_change, funnel_counts
from livekit.analysis.funnel import (
    RATE_METRICS,
    account_gap,
    comparison_period,
    daily_rates,
    funnel_by,
    rooms_counted,
    weakest_step,
)
from livekit.store.datasets import ROOM_ANALYSIS, ROOMS
from livekit.vocab.errors import LivekitError

COUNTS = {
    "impressions": 10_000,
    "entered": 2_400,
    "product_exposed": 1_200,
    "clicked": 300,
    "paid": 45,
}


def test_funnel_rates_by_hand() -> None:
    out = funnel(COUNTS)
    names = list(COUNTS)
    assert out["stage"].to_list() == names
    assert out["label"].to_list() == [DEFAULT_STAGES[n] for n in names]
    assert out["count"].to_list() == [float(COUNTS[n]) for n in names]
    for i, row in enumerate(out.iter_rows(named=True)):
        assert row["cumulative_rate"] == pytest.approx(COUNTS[names[i]] / COUNTS["impressions"])
        assert row["flag"] is False
        if i == 0:
            assert row["step_rate"] is None
            assert row["drop_off"] is None
            assert row["ci_low"] is None
            continue
        x, n = COUNTS[names[i]], COUNTS[names[i - 1]]
        assert row["step_rate"] == pytest.approx(x / n)
        assert row["drop_off"] == pytest.approx(1 - x / n)
        low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert row["ci_low"] == pytest.approx(low, abs=1e-12)
        assert row["ci_high"] == pytest.approx(high, abs=1e-12)


def test_funnel_input_forms_agree() -> None:
    expected = funnel(COUNTS)
    shuffled = dict(reversed(list(COUNTS.items())))  # default stages keep the 罗盘 order
    long = pl.DataFrame({"stage": list(COUNTS), "count": list(COUNTS.values())})
    wide = pl.DataFrame({k: [v] for k, v in COUNTS.items()})
    split = pl.DataFrame({k: [v - v // 3, v // 3] for k, v in COUNTS.items()})  # rows summed
    for counts in (shuffled, long, wide, split):
        assert funnel(counts).equals(expected)


def test_funnel_custom_stages_and_flag() -> None:
    counts = {"exposed": 100, "clicked": 50, "ordered": 80, "paid": 40}
    stages = {"exposed": "商品曝光", "clicked": "商品点击", "ordered": "创建订单", "paid": "支付"}
    out = funnel(counts, stages)
    assert out["label"].to_list() == list(stages.values())
    assert out["flag"].to_list() == [False, False, True, False]  # 80 > 50: PV/UV mix
    flagged = out.row(2, named=True)
    assert flagged["step_rate"] == pytest.approx(80 / 50)
    assert flagged["ci_low"] is None
    assert flagged["ci_high"] is None
    # the stage after the flagged one is a proper rate again
    assert out.row(3, named=True)["step_rate"] == pytest.approx(40 / 80)


def test_funnel_degenerate_and_misuse() -> None:
    out = funnel({"a": 0, "b": 0, "c": 0}, ["a", "b", "c"])
    assert out["step_rate"].null_count() == 3
    assert out["cumulative_rate"].null_count() == 3
    with pytest.raises(LivekitError, match="缺少阶段"):
        funnel({"impressions": 10, "entered": 5}, ["impressions", "entered", "paid"])
    with pytest.raises(LivekitError, match="非负"):
        funnel({"a": 10, "b": -1}, ["a", "b"])
    with pytest.raises(LivekitError, match="至少需要两个阶段"):
        funnel({"a": 10})


def test_funnel_change_is_exact() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        before = np.sort(rng.integers(1, 100_000, 5))[::-1]
        after = np.sort(rng.integers(1, 100_000, 5))[::-1]
        b = dict(zip(COUNTS, before.tolist(), strict=True))
        a = dict(zip(COUNTS, after.tolist(), strict=True))
        out = funnel_change(b, a)
        total = math.log(a["paid"] / b["paid"])
        assert out["log_change"].sum() == pytest.approx(total, abs=1e-9)
        if abs(total) > 1e-6:
            assert out["share"].sum() == pytest.approx(1.0, abs=1e-9)


def test_funnel_change_finds_the_stage_that_lost() -> None:
    after = {**COUNTS, "clicked": 150, "paid": 22}  # r3 halves; r4 barely moves
    out = funnel_change(COUNTS, after)
    assert out.filter(pl.col("largest_loss"))["stage"].to_list() == ["clicked"]
    row = out.filter(pl.col("stage") == "clicked").row(0, named=True)
    assert row["log_change"] == pytest.approx(math.log((150 / 1200) / (300 / 1200)))
    assert row["rate_before"] == pytest.approx(300 / 1200)
    assert row["rate_after"] == pytest.approx(150 / 1200)
    # unchanged stages contribute nothing
    unchanged = out.filter(pl.col("stage").is_in(["impressions", "entered", "product_exposed"]))
    assert unchanged["log_change"].to_list() == pytest.approx([0.0, 0.0, 0.0])
    assert out["share"].sum() == pytest.approx(1.0)


def test_funnel_change_degenerate() -> None:
    same = funnel_change(COUNTS, COUNTS)
    assert same["share"].null_count() == same.height  # no change: no shares
    assert not same["largest_loss"].any()
    zero = funnel_change(COUNTS, {**COUNTS, "paid": 0})
    assert zero["log_change"].null_count() == zero.height


def _frame(schema: dict[str, pl.DataType], rows: list[dict[str, object]]) -> pl.DataFrame:
    """Rows in the stored dataset's schema (so the column names are checked too)."""
    filled = [{name: row.get(name) for name in schema} for row in rows]
    return pl.DataFrame(filled, schema=schema)


def test_funnel_counts_from_store_columns() -> None:
    rooms = _frame(
        dict(ROOMS.schema),
        [
            {"room_id": 1, "total_live_watch_cnt": 1000, "live_click_cart_count_alias": 400,
             "live_click_product_count_alias": 90, "live_pay_order_count_alias": 12},
            {"room_id": 2, "total_live_watch_cnt": 500, "live_click_cart_count_alias": 150,
             "live_click_product_count_alias": 40, "live_pay_order_count_alias": 5},
            {"room_id": 3, "total_live_watch_cnt": 70, "live_click_cart_count_alias": 20,
             "live_click_product_count_alias": 4, "live_pay_order_count_alias": 1},
        ],
    )  # fmt: skip
    analysis = _frame(
        dict(ROOM_ANALYSIS.schema),
        [
            {"room_id": 1, "all_live_watch_cnt_td": 1000, "all_live_enter_room_rate_td": 24.0},
            {"room_id": 2, "all_live_watch_cnt_td": 500, "all_live_enter_room_rate_td": 19.1234},
            # room 3 is today's show: no T+1 row yet
        ],
    )
    assert funnel_counts(rooms) == {
        "entered": 1570, "product_exposed": 570, "clicked": 134, "paid": 18,
    }  # fmt: skip
    with_impressions = funnel_counts(rooms, analysis)
    assert with_impressions == {
        "impressions": round(1000 * 100 / 24.0) + round(500 * 100 / 19.1234),
        "entered": 1500,
        "product_exposed": 550,
        "clicked": 130,
        "paid": 17,
    }
    assert funnel(with_impressions)["stage"].to_list() == list(DEFAULT_STAGES)


# ---- what the funnel report adds ------------------------------------------------------------------
def _shop() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Five rooms of two accounts over two days (room 5 has no T+1 row yet)."""
    rooms = _frame(
        dict(ROOMS.schema),
        [
            {"room_id": 1, "aweme_name": "主号", "total_live_watch_cnt": 1000,
             "live_click_cart_count_alias": 400, "live_click_product_count_alias": 90, "live_pay_order_count_alias": 12},
            {"room_id": 2, "aweme_name": "小号", "total_live_watch_cnt": 500,
             "live_click_cart_count_alias": 150, "live_click_product_count_alias": 40, "live_pay_order_count_alias": 5},
            {"room_id": 3, "aweme_name": "主号", "total_live_watch_cnt": 800,
             "live_click_cart_count_alias": 300, "live_click_product_count_alias": 60, "live_pay_order_count_alias": 9},
            {"room_id": 4, "aweme_name": "小号", "total_live_watch_cnt": 300,
             "live_click_cart_count_alias": 100, "live_click_product_count_alias": 30, "live_pay_order_count_alias": 2},
            {"room_id": 5, "aweme_name": "小号", "total_live_watch_cnt": 70,
             "live_click_cart_count_alias": 20, "live_click_product_count_alias": 4, "live_pay_order_count_alias": 1},
        ],
    ).with_columns(  # the store adds each row's day (its partition) on reading
        date=pl.Series([date(2026, 11, 20)] * 2 + [date(2026, 11, 21)] * 3)
    )  # fmt: skip
    analysis = _frame(
        dict(ROOM_ANALYSIS.schema),
        [
            {"room_id": r, "all_live_watch_cnt_td": w, "all_live_enter_room_rate_td": rate}
            for r, w, rate in [(1, 1000, 25.0), (2, 500, 20.0), (3, 800, 16.0), (4, 300, 30.0)]
        ],
    )
    return rooms, analysis


def test_comparison_period() -> None:
    first, last = date(2026, 11, 22), date(2026, 11, 28)
    assert comparison_period(first, last, "previous_period") == (
        date(2026, 11, 15),
        date(2026, 11, 21),
    )
    assert comparison_period(first, last, None) is None
    assert comparison_period(first, last, "none") is None
    assert comparison_period(first, last, "None") is None
    # a start day: the same number of days from there, as a date, ISO text or a relative word
    assert comparison_period(first, last, date(2026, 11, 1)) == (
        date(2026, 11, 1),
        date(2026, 11, 7),
    )
    assert comparison_period(first, last, "2026-11-01") == (date(2026, 11, 1), date(2026, 11, 7))
    assert comparison_period(first, last, "14_days_ago", on=date(2026, 11, 29)) == (
        date(2026, 11, 15),
        date(2026, 11, 21),
    )
    with pytest.raises(LivekitError, match="对比期开始日期"):
        comparison_period(first, last, "previous_weekk")


def test_funnel_by_account_adds_up_to_the_shop() -> None:
    rooms, analysis = _shop()
    per = funnel_by(rooms, analysis, "aweme_name")
    assert per.columns[0] == "aweme_name"
    assert per["aweme_name"].unique(maintain_order=True).to_list() == sorted({"主号", "小号"})
    for name, part in rooms.group_by("aweme_name"):
        expected = funnel(funnel_counts(part, analysis))
        got = per.filter(pl.col("aweme_name") == name[0]).drop("aweme_name")
        assert got.equals(expected)
    # each stage's counts over the accounts are the shop's
    shop = funnel_counts(rooms, analysis)
    sums = per.group_by("stage").agg(pl.col("count").sum())
    assert dict(sums.iter_rows()) == {k: float(v) for k, v in shop.items()}
    empty = funnel_by(rooms.head(0), analysis)
    assert empty.height == 0
    assert empty.columns == per.columns


def test_rooms_counted() -> None:
    rooms, analysis = _shop()
    assert rooms_counted(rooms, analysis) == (5, 4)
    assert rooms_counted(rooms.filter(pl.col("room_id") > 3), analysis) == (2, 1)


def test_account_gap_is_the_largest_ratio_and_says_whether_intervals_overlap() -> None:
    rooms, analysis = _shop()
    per = funnel_by(rooms, analysis)
    gap = account_gap(per)
    assert gap is not None
    rates = per.filter(pl.col("step_rate").is_not_null())
    ratios = {}
    for stage in rates["stage"].unique().to_list():
        r = rates.filter(pl.col("stage") == stage)
        ratios[stage] = r["step_rate"].max() / r["step_rate"].min()  # type: ignore[operator]
    assert gap.stage == max(ratios, key=lambda s: ratios[s])
    at = rates.filter(pl.col("stage") == gap.stage).sort("step_rate")
    assert (gap.worst, gap.best) == tuple(at["aweme_name"].to_list())
    assert (gap.low, gap.high) == tuple(at["step_rate"].to_list())
    assert gap.separated == (at["ci_low"][1] > at["ci_high"][0])
    # one account: no gap; clearly apart: separated
    assert account_gap(per.filter(pl.col("aweme_name") == "主号")) is None
    apart = pl.DataFrame(
        {
            "aweme_name": ["甲", "乙"],
            "stage": ["paid", "paid"],
            "label": ["成交", "成交"],
            "step_rate": [0.3, 0.1],
            "ci_low": [0.28, 0.09],
            "ci_high": [0.32, 0.11],
        }
    )
    found = account_gap(apart)
    assert found is not None
    assert (found.best, found.worst, found.separated) == ("甲", "乙", True)


def test_weakest_step_leaves_the_room_entry_aside() -> None:
    fun = funnel({"impressions": 10_000, "entered": 500, "product_exposed": 400,
                  "clicked": 100, "paid": 30})  # fmt: skip
    assert weakest_step(fun) == "clicked"  # 0.25; entered (0.05) is left aside
    assert weakest_step(funnel({"impressions": 0, "entered": 0, "product_exposed": 0,
                                "clicked": 0, "paid": 0})) is None  # fmt: skip


def test_daily_rates_are_the_custom_report_long() -> None:
    rooms, analysis = _shop()
    long = daily_rates(rooms, analysis)
    assert long.columns == ["date", "metric", "value"]
    assert long["metric"].unique(maintain_order=True).to_list() == list(RATE_METRICS)
    wide = custom_report({"rooms": rooms, "room_analysis": analysis}, list(RATE_METRICS), ["date"])
    for row in wide.iter_rows(named=True):
        for name in RATE_METRICS:
            got = long.filter((pl.col("date") == row["date"]) & (pl.col("metric") == name))
            assert got["value"].to_list() == [row[name]]
    # by hand: the second day's click conversion is (9 + 2 + 1) / (60 + 30 + 4)
    day2 = long.filter(
        (pl.col("date") == date(2026, 11, 21)) & (pl.col("metric") == "click_conversion_rate")
    )
    assert day2["value"][0] == pytest.approx(12 / 94)
    assert long["value"].drop_nulls().is_between(0, 1).all()
