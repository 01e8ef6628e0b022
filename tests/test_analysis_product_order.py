"""The product funnel and the recommended order (Wilson lower bounds, thresholds, role codes).

Hand-made frames counted in plain Python; Wilson bounds against statsmodels; and, on one sandbox
world, the planted best product by click-to-pay among the top three
(tests/helpers/products_truths.py).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from livekit.analysis.products import (
    ROLE_DROP,
    ROLE_EXPLAIN_EARLIER,
    ROLE_OPEN,
    product_funnel,
    recommended_order,
)
from livekit.vocab import CHINA_TZ, LivekitError
from tests.helpers.products_truths import seed_recovery
from tests.helpers.sandbox import NOW, TODAY

T0 = datetime(2026, 11, 20, 19, 0, tzinfo=CHINA_TZ)
TIME = pl.Datetime("us", "Asia/Shanghai")


def test_product_funnel_counts_as_plain_python() -> None:
    rng = random.Random(11)
    rows: list[dict[str, Any]] = []
    for i in range(4000):
        room = rng.choice([1, 2, 3, 4])  # room 4 is not in the report's rooms
        product = rng.choice([10, 20, 30, None, None, None])
        if room == 2 and product == 30:
            product = None  # product 30 is never clicked in room 2
        paid = product is not None and rng.random() < 0.2
        rows.append(
            {
                "room_id": room,
                "viewer_id": f"v{i}",
                "clicked_product_id": product,
                "paid": paid,
                "pay_amount": 10.0 * rng.randint(1, 9) if paid else 0.0,
            }
        )
    viewers = pl.DataFrame(rows)
    rooms = pl.DataFrame({"room_id": [1, 2, 3]})
    out = product_funnel(viewers, rooms)
    visits = {r: sum(1 for x in rows if x["room_id"] == r) for r in (1, 2, 3)}
    expected = {}
    for product in (10, 20, 30):
        mine = [x for x in rows if x["room_id"] in visits and x["clicked_product_id"] == product]
        shows = sorted({x["room_id"] for x in mine})
        expected[product] = (
            len(shows),
            sum(visits[r] for r in shows),
            len(mine),
            sum(x["paid"] for x in mine),
            pytest.approx(sum(x["pay_amount"] for x in mine if x["paid"])),
        )
    assert {r[0]: tuple(r[1:]) for r in out.rows()} == expected
    assert expected[30][0] == 2  # not listed in room 2: its visits are not in the denominator

    # with explanation windows: a product explained in a show is listed there, clicked or not
    windows = pl.DataFrame(
        {
            "room_id": [2, 1, 1],
            "product_id": [30, 30, 10],
            "start_time": [T0 + timedelta(minutes=m) for m in (40, 5, 20)],
            "end_time": [T0 + timedelta(minutes=m) for m in (50, 15, 30)],
        },
        schema_overrides={"start_time": TIME, "end_time": TIME},
    )
    timed = rooms.with_columns(
        start_time=pl.lit(T0, TIME), end_time=pl.lit(T0 + timedelta(hours=3), TIME)
    )
    out = product_funnel(viewers, timed, windows)
    thirty = out.filter(pl.col("product_id") == 30).row(0, named=True)
    assert thirty["shows"] == 3
    assert thirty["visits"] == sum(visits.values())
    assert thirty["explained_minutes"] == pytest.approx(20.0)
    assert thirty["first_explained_minute"] == pytest.approx((40 + 5) / 2)  # median of 2 shows
    twenty = out.filter(pl.col("product_id") == 20).row(0, named=True)
    assert twenty["explained_minutes"] == 0.0
    assert twenty["first_explained_minute"] is None


def funnel(rows: list[tuple[int, int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "product_id": [r[0] for r in rows],
            "visits": [r[1] for r in rows],
            "clicks": [r[2] for r in rows],
            "paid": [r[3] for r in rows],
        }
    )


def test_order_by_wilson_lower_bounds_with_a_data_threshold() -> None:
    rows = [
        (1, 5000, 400, 90),  # 22.5% of 400
        (2, 5000, 40, 10),  # 25% of 40: a higher rate, a lower bound than product 1's
        (3, 5000, 29, 15),  # 52% but under the 30-click threshold: not ranked
        (4, 5000, 300, 66),  # 22% of 300
        (5, 9000, 300, 66),  # the same click-to-pay as 4, a lower click-through
        (6, 5000, 0, 0),  # never clicked
    ]
    out = recommended_order(funnel(rows), min_clicks=30)
    assert out["product_id"].to_list() == [1, 2, 4, 5, 3, 6]
    assert out["rank"].to_list() == [1, 2, 3, 4, None, None]
    assert out["too_little_data"].to_list() == [False] * 4 + [True] * 2
    for row in out.iter_rows(named=True):
        for (x, n), low, high, bound in (
            ((row["paid"], row["clicks"]), "ctp_low", "ctp_high", "ctp_rank_bound"),
            ((row["clicks"], row["visits"]), "ctr_low", "ctr_high", "ctr_rank_bound"),
        ):
            ref = proportion_confint(x, n, alpha=0.05, method="wilson") if n else (0.0, 1.0)
            assert (row[low], row[high]) == pytest.approx(ref, abs=1e-12)
            rank_ref = proportion_confint(x, n, alpha=0.5, method="wilson")[0] if n else 0.0
            assert row[bound] == pytest.approx(rank_ref, abs=1e-12)
    # ranked by the displayed 95% bound instead, product 2's 40 clicks weigh more
    strict = recommended_order(funnel(rows), min_clicks=30, rank_alpha=0.05)
    assert strict["product_id"].to_list() == [1, 4, 5, 2, 3, 6]
    # a lower threshold lets the 29-click product in, and its bound ranks it first
    assert recommended_order(out, min_clicks=20)["product_id"][0] == 3


def test_too_little_data_is_never_ranked_above_a_ranked_product() -> None:
    rng = random.Random(2)
    rows = []
    for product in range(40):
        clicks = rng.randint(0, 80)
        rows.append((product, 3000, clicks, rng.randint(0, clicks)))
    out = recommended_order(funnel(rows), min_clicks=25)
    flags = out["too_little_data"].to_list()
    assert flags == sorted(flags)  # every False (ranked) before every True
    ranked = out.filter(~pl.col("too_little_data"))
    assert ranked["rank"].to_list() == list(range(1, ranked.height + 1))
    assert (ranked["clicks"] >= 25).all()
    assert out.filter(pl.col("too_little_data"))["rank"].null_count() == out.height - ranked.height
    bounds = ranked["ctp_rank_bound"].to_list()
    assert bounds == sorted(bounds, reverse=True)


def test_role_codes() -> None:
    rows = [
        (1, 10000, 800, 160),  # 20%, many clicks: ranked first
        (2, 10000, 1500, 270),  # 18%, the most clicks among the top three: open
        (3, 10000, 200, 36),  # 18% of few clicks: converts well, draws few: explain earlier
        (4, 10000, 600, 60),  # 10%
        (5, 10000, 700, 35),  # 5%: clearly below the median: drop
        (6, 10000, 10, 9),  # too little data: no role
    ]
    out = recommended_order(funnel(rows), min_clicks=30)
    roles = dict(zip(out["product_id"], out["role"], strict=True))
    assert roles[2] == ROLE_OPEN
    assert roles[5] == ROLE_DROP
    assert roles[3] == ROLE_EXPLAIN_EARLIER
    assert roles[6] is None
    assert sum(r == ROLE_OPEN for r in roles.values()) == 1
    assert roles[1] is None  # converts best and draws clicks: nothing to change
    # with first_explained_minute, a good converter short of clicks is flagged only when it is
    # also explained later than most; one explained late that draws clicks anyway is not
    timed = funnel(rows).with_columns(
        first_explained_minute=pl.Series([35.0, 5.0, 38.0, 10.0, 40.0, None])
    )
    late = recommended_order(timed, min_clicks=30)
    late_roles = dict(zip(late["product_id"], late["role"], strict=True))
    assert late_roles[3] == ROLE_EXPLAIN_EARLIER
    assert late_roles[1] is None
    assert late_roles[5] == ROLE_DROP  # explained last, but it converts badly: drop wins
    early = recommended_order(
        funnel(rows).with_columns(
            first_explained_minute=pl.Series([35.0, 5.0, 8.0, 10.0, 40.0, None])
        ),
        min_clicks=30,
    )
    assert dict(zip(early["product_id"], early["role"], strict=True))[3] is None


def test_order_input_errors() -> None:
    with pytest.raises(LivekitError, match="缺少列：paid"):
        recommended_order(pl.DataFrame({"product_id": [1], "visits": [3], "clicks": [2]}))
    with pytest.raises(LivekitError, match="min_clicks"):
        recommended_order(funnel([(1, 10, 5, 1)]), min_clicks=0)
    with pytest.raises(LivekitError, match="alpha"):
        recommended_order(funnel([(1, 10, 5, 1)]), alpha=0.0)
    with pytest.raises(LivekitError, match="缺少列"):
        product_funnel(pl.DataFrame({"room_id": [1]}), pl.DataFrame({"room_id": [1]}))
    # inconsistent counts are data, not a crash: more paid than clicks is never ranked
    odd = recommended_order(funnel([(1, 100, 40, 41), (2, 100, 40, 4)]))
    assert odd.filter(pl.col("product_id") == 1)["rank"][0] is None


def test_recommended_order_on_one_world() -> None:
    """Seed 7, the 14 days before today: the export's funnel against truth_products' expected
    click-to-pay (the must-show over many worlds is bench/coverage.py's)."""
    r = seed_recovery(7, TODAY, NOW, 14, 0.3)
    truth = pl.DataFrame(
        [
            {"product_id": p["product_id"], "true_ctp": p["click_to_pay"]}
            for p in r.truth["products"]
        ]
    )
    order = r.order.join(truth, on="product_id", how="left", maintain_order="left")
    ranked = order.filter(~pl.col("too_little_data"))
    assert ranked.height >= 20
    flags = order["too_little_data"].to_list()
    assert flags == sorted(flags)  # thin products never above a ranked one
    assert (ranked["clicks"] >= 30).all()
    # the ranking follows the planted click-to-pay, and the top three are truly good ones
    assert ranked.select(pl.corr("rank", "true_ctp", method="spearman")).item() < -0.6
    median = ranked["true_ctp"].median()
    assert median is not None
    assert (ranked.head(3)["true_ctp"] > median).all()
    assert ranked.filter(pl.col("role") == ROLE_OPEN).height == 1
    drops = ranked.filter(pl.col("role") == ROLE_DROP)
    assert (drops["true_ctp"] < median).all()
