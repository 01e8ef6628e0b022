"""Wilson intervals (against statsmodels), Wilson-bound ranking, and the region index."""

from __future__ import annotations

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from livekit.analysis import product_conversions, rank_products, region_index, wilson_interval
from livekit.analysis.products import with_titles
from livekit.vocab.errors import LivekitError

CASES = [(0, 1), (0, 10), (1, 1), (5, 10), (10, 10), (40, 100), (3, 1000), (999, 1000), (12, 37)]


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.2])
@pytest.mark.parametrize(("successes", "trials"), CASES)
def test_wilson_matches_statsmodels(successes: int, trials: int, alpha: float) -> None:
    low, high = proportion_confint(successes, trials, alpha=alpha, method="wilson")
    assert wilson_interval(successes, trials, alpha) == pytest.approx((low, high), abs=1e-12)


def test_wilson_degenerate_and_misuse() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for bad in ((-1, 10), (11, 10), (1, -1)):
        with pytest.raises(LivekitError):
            wilson_interval(*bad)
    with pytest.raises(LivekitError, match="alpha"):
        wilson_interval(1, 2, alpha=1.5)


def test_rank_by_lower_bound() -> None:
    frame = pl.DataFrame(
        {
            "product": ["small", "big", "tiny", "none", "odd"],
            "paid": [5, 40, 2, 0, 9],
            "clicks": [10, 100, 3, 0, 4],  # "odd": more successes than trials
        }
    )
    out = rank_products(frame, min_trials=5)
    # 5/10 has the higher raw rate but the lower Wilson bound: 40/100 ranks first
    assert out["product"].to_list()[:2] == ["big", "small"]
    assert out["rank"].to_list()[:2] == [1, 2]
    assert out.filter(pl.col("rank").is_null())["product"].sort().to_list() == [
        "none",
        "odd",
        "tiny",
    ]
    for row in out.iter_rows(named=True):
        x, n = row["paid"], row["clicks"]
        if n > 0 and x <= n:
            low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=1e-12)
            assert row["rate"] == pytest.approx(x / n)
    none = out.filter(pl.col("product") == "none").row(0, named=True)
    assert none["rate"] is None
    assert (none["ci_low"], none["ci_high"]) == (0.0, 1.0)
    odd = out.filter(pl.col("product") == "odd").row(0, named=True)
    assert odd["ci_low"] is None


def test_rank_sums_rows_per_product() -> None:
    frame = pl.DataFrame(
        {"product_id": [1, 1, 2], "room_id": [10, 11, 10], "paid": [3, 2, 30], "clicks": [5, 5, 90]}
    )
    out = rank_products(frame, by="product_id")
    assert out.select("product_id", "paid", "clicks").rows() == [(2, 30, 90), (1, 5, 10)]
    with pytest.raises(LivekitError, match="缺少列"):
        rank_products(frame, successes="orders")


def test_product_conversions_from_viewers() -> None:
    viewers = pl.DataFrame(
        {
            "clicked_product_id": [7, 7, 7, 8, None, 8],
            "paid": [True, False, True, False, False, True],
            "pay_amount": [10.0, 0.0, 12.5, 0.0, 0.0, 99.0],
        }
    )
    out = product_conversions(viewers)
    assert out.rows() == [(7, 3, 2, 22.5), (8, 2, 1, 99.0)]


def test_with_titles_joins_the_first_title_and_keeps_rows_and_order() -> None:
    ranked = pl.DataFrame({"product_id": [12, 11, 15], "rank": [1, 2, None]})
    room_products = pl.DataFrame(
        {"productId": [11, 12, 12, 15], "title": ["保温杯", "纯棉T恤", "纯棉T恤 新款", None]}
    )
    out = with_titles(ranked, room_products)
    # one row per product as before, in its order; the first title of a product; no title: the id
    assert out.select("product_id", "title").rows() == [(12, "纯棉T恤"), (11, "保温杯"), (15, "15")]
    again = with_titles(out, room_products.head(1))  # an old title column is replaced
    assert again["title"].to_list() == ["12", "保温杯", "15"]
    with pytest.raises(LivekitError, match="room_products"):
        with_titles(ranked, pl.DataFrame({"productId": [1]}))


def test_region_index_from_viewers() -> None:
    # 广东: 4 viewers (2 buyers); 江苏: 4 viewers (1 buyer, who visited twice); 山东: 2 (0)
    viewers = pl.DataFrame(
        {
            "viewer_id": ["a", "b", "c", "d", "e", "f", "g", "h", "h", "i", "j"],
            "province": ["广东"] * 4 + ["江苏"] * 5 + ["山东"] * 2,
            "paid": [True, True, False, False, False, False, False, True, False, False, False],
        }
    )
    out = region_index(viewers)
    gd = out.filter(pl.col("region") == "广东").row(0, named=True)
    assert (gd["viewers"], gd["buyers"]) == (4, 2)
    assert gd["index"] == pytest.approx((2 / 3) / (4 / 10))
    # the interval's own tests: tests/test_analysis_regions.py (region_index lives in regions)
    assert gd["ci_low"] < gd["index"] < gd["ci_high"]
    js = out.filter(pl.col("region") == "江苏").row(0, named=True)
    assert (js["viewers"], js["buyers"]) == (4, 1)
    assert out["region"].to_list() == ["广东", "江苏", "山东"]  # highest index first
    assert out["viewer_share"].sum() == pytest.approx(1.0)
    assert out["buyer_share"].sum() == pytest.approx(1.0)


def test_region_index_from_audience() -> None:
    audience = pl.DataFrame(
        {
            "room_id": [1, 1, 1, 2, 2, 1],
            "action_event": ["ENTER", "ENTER", "PAY", "ENTER", "PAY", "ENTER"],
            "dimension": ["CITY", "CITY", "CITY", "CITY", "CITY", "GENDER"],
            "name": ["广州", "南京", "广州", "广州", "南京", "female"],
            "value": [100, 50, 6, 40, 2, 150],
        }
    )
    out = region_index(audience)
    gz = out.filter(pl.col("region") == "广州").row(0, named=True)
    assert (gz["viewers"], gz["buyers"]) == (140, 6)
    assert gz["index"] == pytest.approx((6 / 8) / (140 / 190))
    with pytest.raises(LivekitError, match="地域分析"):
        region_index(pl.DataFrame({"x": [1]}))
