"""Funnel: rates from counts, Wilson intervals, flags, and the exact log split of a change."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from livekit.analysis import DEFAULT_STAGES, funnel, funnel_change, funnel_counts
from livekit.config import LivekitError
from livekit.store.datasets import ROOM_ANALYSIS, ROOMS

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
