"""livekit.analysis.regions: province names, the region table and the region index with its
interval; statsmodels and a simulation as independent references, and the sandbox's planted
province conversion recovered on one world."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from livekit.analysis import products
from livekit.analysis.regions import (
    REGION_TABLE_SCHEMA,
    normalize_province,
    province_expr,
    province_series,
    region_index,
    region_table,
)
from livekit.sandbox import catalog
from livekit.sandbox.world import World
from livekit.vocab import CHINA_TZ, LivekitError
from tests.helpers import regions_truths as rt


@pytest.mark.parametrize(
    ("raw", "short"),
    [
        ("北京市", "北京"),
        ("北京", "北京"),
        ("内蒙古自治区", "内蒙古"),
        ("广西壮族自治区", "广西"),
        ("宁夏回族自治区", "宁夏"),
        ("新疆维吾尔自治区", "新疆"),
        ("西藏自治区", "西藏"),
        ("香港特别行政区", "香港"),
        ("黑龙江省", "黑龙江"),
        (" 广东省 ", "广东"),
        ("", None),
        (None, None),
    ],
)
def test_province_names_normalised(raw: str | None, short: str | None) -> None:
    assert normalize_province(raw) == short
    frame = pl.DataFrame({"p": [raw]}, schema={"p": pl.String})
    assert frame.select(province_expr("p")).item() == short


def test_province_series_normalises_once_per_name() -> None:
    raw = pl.Series("p", ["广东省", None, "广东", "内蒙古自治区", "", "广东省"])
    assert province_series(raw).to_list() == ["广东", None, "广东", "内蒙古", None, "广东"]
    short = pl.Series("p", ["广东", "江苏"])
    assert province_series(short).to_list() == ["广东", "江苏"]


def test_every_catalog_province_has_an_official_long_name_that_normalises_back() -> None:
    for short, _, _ in catalog.PROVINCES:
        assert normalize_province(rt._long_name(short)) == short


def _ratio_index(b: int, n: int, total_b: int, total_n: int) -> tuple[float, float]:
    """The reference: statsmodels' log-adjusted interval of (b/n) / (rest's rate), mapped to
    the index through index = ρ / (wρ + 1 − w)."""
    low, high = confint_proportions_2indep(
        b, n, total_b - b, total_n - n, compare="ratio", method="log-adjusted", alpha=0.05
    )
    w = n / total_n
    return low / (w * low + 1 - w), high / (w * high + 1 - w)


def test_index_interval_matches_statsmodels_ratio_mapped() -> None:
    audience = pl.DataFrame(
        {
            "action_event": ["ENTER", "PAY"] * 4,
            "dimension": ["PROVINCE"] * 8,
            "name": [
                "广东省",
                "广东省",
                "江苏",
                "江苏",
                "西藏自治区",
                "西藏自治区",
                "上海市",
                "上海市",
            ],
            "value": [5000, 160, 3000, 75, 40, 0, 1500, 60],
        }
    )
    out = region_index(audience, dimension="PROVINCE")
    assert set(out["region"]) == {"广东", "江苏", "西藏", "上海"}
    total_b, total_n = 295, 9540
    for row in out.iter_rows(named=True):
        b, n = row["buyers"], row["viewers"]
        assert row["index"] == pytest.approx((b / n) / (total_b / total_n))
        low, high = _ratio_index(b, n, total_b, total_n)
        if b == 0:  # the estimate 0 lies below the adjusted interval: it is widened to hold it
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.0, high))
        else:
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert out["region"].to_list()[0] == "上海"  # highest index first


def test_index_interval_covers_in_a_simulation() -> None:
    """Binomial buyers per province (catalog weights, unequal conversion): the interval covers
    the true index 93–97% of the time over all provinces, and holds its level for the largest
    ones, whose weight in the overall rate the interval accounts for (the smallest, with about
    two expected buyers, covers less: about 87%)."""
    rng = np.random.default_rng(2026)
    weights = np.array([w for _, _, w in catalog.PROVINCES])
    viewers = np.maximum(np.round(40_000 * weights / weights.sum()), 1).astype(int)
    conv = 0.03 * rng.lognormal(0.0, 0.3, weights.size)
    true_index = conv / (viewers @ conv / viewers.sum())
    names = [p for p, _, _ in catalog.PROVINCES]
    hits = np.zeros(weights.size)
    runs = 400
    for _ in range(runs):
        buyers = rng.binomial(viewers, conv)
        frame = pl.DataFrame(
            {
                "action_event": ["ENTER"] * len(names) + ["PAY"] * len(names),
                "dimension": "PROVINCE",
                "name": names * 2,
                "value": np.concatenate([viewers, buyers]),
            }
        )
        out = region_index(frame, dimension="PROVINCE").sort(
            pl.col("region").replace_strict({n: i for i, n in enumerate(names)})
        )
        hits += (out["ci_low"].to_numpy() <= true_index) & (true_index <= out["ci_high"].to_numpy())
    coverage = hits.sum() / (runs * weights.size)
    assert 0.93 <= coverage <= 0.97, coverage
    big = np.argsort(weights)[-3:]  # where the overall rate's own uncertainty matters most
    assert (hits[big] / runs).min() >= 0.91, hits[big] / runs


def test_region_table_counts_gmv_and_orders() -> None:
    viewers = pl.DataFrame(
        {
            # h visits twice and pays once; k is written "江苏省" once and "江苏" once
            "viewer_id": ["a", "b", "c", "h", "h", "k", "k", "m", "n"],
            "province": ["广东", "广东", "广东", "江苏", "江苏", "江苏省", "江苏", None, "西藏"],
            "paid": [True, False, False, True, False, False, True, False, False],
            "pay_amount": [99.0, 0.0, 0.0, 30.5, 0.0, 0.0, 12.0, 0.0, 0.0],
        }
    )
    orders = pl.DataFrame(
        {
            "pay_time": [datetime(2026, 11, 1, tzinfo=CHINA_TZ)] * 3 + [None],
            "pay_amount": [99.0, 30.5, 12.0, 50.0],
            "post_addr_province": ["广东省", "江苏省", "江苏", "广东省"],
        }
    )
    out = region_table(viewers, orders)
    assert out.columns == list(REGION_TABLE_SCHEMA)
    rows = {r["province"]: r for r in out.iter_rows(named=True)}
    assert set(rows) == {"广东", "江苏", "西藏", None}
    gd, js = rows["广东"], rows["江苏"]
    assert (gd["viewers"], gd["buyers"], gd["gmv"], gd["orders"]) == (3, 1, 99.0, 1)
    assert (js["viewers"], js["buyers"], js["gmv"], js["orders"]) == (2, 2, 42.5, 2)
    assert js["order_gmv"] == pytest.approx(42.5)
    assert js["conversion"] == 1.0
    assert js["index"] == pytest.approx(1.0 / (3 / 7))
    assert rows["西藏"]["orders"] is None
    assert out["viewer_share"].sum() == pytest.approx(1.0)
    assert out["province"][0] == "江苏"
    without = region_table(viewers)
    assert without["orders"].null_count() == without.height


def test_region_input_errors_are_readable() -> None:
    with pytest.raises(LivekitError, match="缺少列：pay_amount"):
        region_table(pl.DataFrame({"viewer_id": ["a"], "province": ["广东"], "paid": [True]}))
    with pytest.raises(LivekitError, match="地域分析"):
        region_index(pl.DataFrame({"x": [1]}))
    bad = pl.DataFrame(
        {"action_event": ["ENTER", "PAY"], "dimension": "CITY", "name": "广州", "value": [3, 5]}
    )
    with pytest.raises(LivekitError, match="广州"):
        region_index(bad)
    with pytest.raises(LivekitError, match="alpha"):
        region_table(
            pl.DataFrame(
                {"viewer_id": ["a"], "province": ["广东"], "paid": [True], "pay_amount": [1.0]}
            ),
            alpha=1.5,
        )


def test_one_home_for_region_index() -> None:
    assert products.region_index is region_index


# ---- the sandbox's planted province conversion, on one world ---------------------------------
TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 21, 0, 0, tzinfo=CHINA_TZ)


def test_region_index_recovered_on_one_world() -> None:
    world = World(7, TODAY, scale=0.3)
    first, last = TODAY - timedelta(days=30), TODAY - timedelta(days=1)
    result = rt.region_coverage(world, first, last, NOW)
    covered = list(result["covered"].values())
    assert len(covered) == len(catalog.PROVINCES)
    assert sum(covered) >= len(covered) - 4  # 95% intervals: one or two misses are expected
    table = result["table"]
    index = dict(zip(table["province"], table["index"], strict=True))
    # the planted over- and under-converters come out on their side of 1
    assert index["上海"] > 1 > index["甘肃"]
    assert index["北京"] > 1 > index["河南"]
