"""livekit.analysis.delivery: delivery times, Kaplan–Meier curves per province, late shipping,
refunds by delay and the promise advice; statsmodels as the independent reference, and the
sandbox's planted delivery truths recovered on one world."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from livekit.analysis.delivery import (
    ADVICE_CODES,
    DeliveryCurves,
    delivery_curves,
    delivery_times,
    late_ship_share,
    newcombe_interval,
    promise_advice,
    refund_by_delay,
)
from livekit.api.runner import run
from livekit.ingest.run import sync_async
from livekit.jobs import sandbox_session
from livekit.sandbox.delivery import CARRIERS
from livekit.sandbox.world import World
from livekit.store import Store
from livekit.store.datasets import ORDER_ITEMS, ORDERS
from livekit.vocab import CHINA_TZ, LivekitError
from tests.helpers import regions_truths as rt
from tests.helpers.sandbox import make_config
from tests.helpers.sync import make_settings

NOW = datetime(2026, 11, 28, 21, 0, 0, tzinfo=CHINA_TZ)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _orders(rows: list[dict[str, object]]) -> pl.DataFrame:
    base: dict[str, object] = {
        "order_status": 5,
        "main_status": 5,
        "exp_ship_time": None,
        "ship_time": None,
        "receipt_time": None,
        "finish_time": None,
        "pay_amount": 10.0,
        "post_addr_province": "广东省",
        "logistics_company": "中通快递",
    }
    full = [{**base, **r} for r in rows]
    for r in full:
        if r["exp_ship_time"] is None and r.get("pay_time") is not None:
            r["exp_ship_time"] = r["pay_time"] + 48 * HOUR  # type: ignore[operator]
    return pl.DataFrame(full, schema={c: ORDERS.schema[c] for c in rt.ORDER_COLUMNS})


PAY = NOW - 10 * DAY


def test_delivery_times_excludes_refunded_before_ship_and_censors_at_now() -> None:
    orders = _orders(
        [
            # received in 2 days, shipped in 20 h (on time)
            {
                "order_id": "a",
                "pay_time": PAY,
                "ship_time": PAY + 20 * HOUR,
                "receipt_time": PAY + 2 * DAY,
            },
            # refunded before shipping: no delivery at all
            {"order_id": "b", "pay_time": PAY, "order_status": 4, "main_status": 21},
            # never paid
            {"order_id": "c", "pay_time": None, "order_status": 4, "main_status": 4},
            # shipped late (60 h > 48 h), still on the way at now: censored at now
            {
                "order_id": "d",
                "pay_time": NOW - 3 * DAY,
                "ship_time": NOW - 3 * DAY + 60 * HOUR,
                "order_status": 3,
                "main_status": 3,
                "post_addr_province": "内蒙古自治区",
            },
            # not shipped, promise passed: late; not shipped, promise open: undecided
            {"order_id": "e", "pay_time": NOW - 3 * DAY, "order_status": 2, "main_status": 2},
            {"order_id": "f", "pay_time": NOW - HOUR, "order_status": 2, "main_status": 2},
            # a festival order, refunded after receipt
            {
                "order_id": "g",
                "pay_time": datetime(2026, 11, 11, 20, 0, tzinfo=CHINA_TZ),
                "ship_time": datetime(2026, 11, 12, 20, 0, tzinfo=CHINA_TZ),
                "receipt_time": datetime(2026, 11, 16, 8, 0, tzinfo=CHINA_TZ),
                "main_status": 39,
            },
            # an event after now has not happened yet
            {
                "order_id": "h",
                "pay_time": NOW - DAY,
                "ship_time": NOW + HOUR,
                "order_status": 3,
                "main_status": 3,
            },
        ]
    )
    times = delivery_times(orders, NOW).sort("order_id")
    rows = {r["order_id"]: r for r in times.iter_rows(named=True)}
    assert set(rows) == {"a", "d", "e", "f", "g", "h"}
    a = rows["a"]
    assert (a["shipped"], a["received"], a["late_ship"], a["refunded"]) == (
        True,
        True,
        False,
        False,
    )
    assert a["ship_hours"] == pytest.approx(20.0)
    assert a["receipt_days"] == pytest.approx(2.0)
    assert a["province"] == "广东"
    d = rows["d"]
    assert (d["shipped"], d["received"], d["late_ship"]) == (True, False, True)
    assert d["receipt_days"] == pytest.approx(3.0)  # censored at now
    assert d["province"] == "内蒙古"
    assert rows["e"]["late_ship"] is True
    assert rows["e"]["ship_hours"] == pytest.approx(72.0)
    assert rows["f"]["late_ship"] is None
    g = rows["g"]
    assert (g["festival"], g["refunded"], a["festival"]) == (True, True, False)
    assert g["receipt_days"] == pytest.approx(4.5)
    assert rows["h"]["shipped"] is False
    assert rows["h"]["ship_hours"] == pytest.approx(24.0)


def test_sku_refunds_count_where_the_shop_order_does_not_show_them() -> None:
    orders = _orders(
        [
            {"order_id": "r", "pay_time": PAY, "ship_time": PAY + HOUR, "receipt_time": PAY + DAY},
            {"order_id": "u", "pay_time": PAY, "order_status": 2, "main_status": 2},
            {"order_id": "k", "pay_time": PAY, "ship_time": PAY + HOUR, "receipt_time": PAY + DAY},
        ]
    )
    items = pl.DataFrame(
        {
            "parent_order_id": ["r", "r", "u", "k"],
            "refund_status": [0, 3, 3, 1],  # k: a refund still pending
            "after_sale_type": [0, 0, 2, 0],
        }
    )
    plain = delivery_times(orders, NOW)
    assert not plain["refunded"].any()
    assert plain.height == 3
    with_items = delivery_times(orders, NOW, items)
    refunded = dict(zip(with_items["order_id"], with_items["refunded"], strict=True))
    assert refunded == {"r": True, "k": False}  # u: refunded before shipping, excluded
    with pytest.raises(LivekitError, match="子订单"):
        delivery_times(orders, NOW, items.drop("after_sale_type"))


def test_delivery_times_refuses_bad_input() -> None:
    bad = _orders(
        [{"order_id": "x", "pay_time": PAY, "ship_time": PAY + HOUR, "receipt_time": PAY - HOUR}]
    )
    with pytest.raises(LivekitError, match="订单 x"):
        delivery_times(bad, NOW)
    with pytest.raises(LivekitError, match="时区"):
        delivery_times(bad, NOW.replace(tzinfo=None))
    with pytest.raises(LivekitError, match="缺少列"):
        delivery_times(bad.drop("ship_time"), NOW)
    times = _random_times(1, 10)
    with pytest.raises(LivekitError, match="配送时长"):
        delivery_curves(times.with_columns(receipt_days=pl.lit(-1.0)))
    with pytest.raises(LivekitError, match="收货"):
        delivery_curves(times.with_columns(received=pl.lit(None, pl.Boolean)))
    with pytest.raises(LivekitError, match="what"):
        delivery_curves(delivery_times(bad.head(0), NOW), what="arrival")  # type: ignore[arg-type]


def _random_times(seed: int, n: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    province = rng.choice(["广东", "新疆", "浙江"], n, p=[0.5, 0.2, 0.3])
    scale = np.where(province == "新疆", 5.5, np.where(province == "广东", 1.9, 1.2))
    days = np.round((rng.lognormal(np.log(scale), 0.35) + 0.7) * 86400) / 86400
    received = rng.random(n) < 0.85
    return pl.DataFrame(
        {
            "province": province,
            "receipt_days": days,
            "received": received,
            "ship_hours": np.round(rng.lognormal(np.log(16), 0.7, n) * 3600) / 3600,
            "shipped": rng.random(n) < 0.95,
        }
    )


def test_curves_match_statsmodels_survfunc() -> None:
    times = _random_times(3, 1500)
    for what, dur, obs, unit in (
        ("receipt", "receipt_days", "received", 86400),
        ("ship", "ship_hours", "shipped", 3600),
    ):
        result = delivery_curves(times, what=what)  # type: ignore[arg-type]
        assert isinstance(result, DeliveryCurves)
        assert result.summary["group"].to_list() == ["广东", "新疆", "浙江"]
        for row in result.summary.iter_rows(named=True):
            part = times.filter(pl.col("province") == row["group"])
            t = np.round(part[dur].to_numpy() * unit)
            e = part[obs].to_numpy().astype(float)
            sf = SurvfuncRight(t, e)
            assert row["median_days"] == pytest.approx(sf.quantile(0.5) / 86400)
            assert row["p90_days"] == pytest.approx(sf.quantile(0.9) / 86400)
            assert row["promise_days"] == math.ceil(sf.quantile(0.9) / 86400)
            with np.errstate(divide="ignore", invalid="ignore"):
                low, high = sf.quantile_ci(0.5, alpha=0.05, method="cloglog")
            assert (row["median_ci_low"], row["median_ci_high"]) == pytest.approx(
                (low / 86400, high / 86400)
            )
            assert row["orders"] == part.height
            assert row["censored_share"] == pytest.approx(1 - e.mean())
            later = np.flatnonzero(sf.surv_times <= 4 * 86400)
            s4 = sf.surv_prob[later[-1]] if later.size else 1.0
            assert row["late_share"] == pytest.approx(s4)
    assert not result.summary["too_little_data"].any()
    few = delivery_curves(times.head(40)).summary  # 新疆 has fewer than 10 orders there
    xj = few.filter(pl.col("group") == "新疆").row(0, named=True)
    assert xj["orders"] < 10
    assert xj["too_little_data"]
    assert xj["median_ci_low"] is None
    assert xj["median_days"] is not None
    assert not few.filter(pl.col("group") == "广东")["too_little_data"][0]
    overall = delivery_curves(times, by=None).summary
    assert overall["group"].to_list() == ["all"]
    assert overall["orders"][0] == times.height
    curves = delivery_curves(times).curves
    assert set(curves["group"].unique()) == {"广东", "新疆", "浙江"}
    assert float(curves["time"].to_numpy().max()) < 30  # days, not seconds


def test_late_ship_share_is_wilson() -> None:
    times = pl.DataFrame(
        {
            "province": ["广东"] * 7 + ["新疆"] * 3 + ["浙江"],
            "late_ship": [True, True, False, False, False, None, False, True, True, False, None],
        }
    )
    out = late_ship_share(times)
    gd = out.filter(pl.col("group") == "广东").row(0, named=True)
    assert (gd["orders"], gd["late"]) == (6, 2)  # the undecided one is left out
    low, high = proportion_confint(2, 6, alpha=0.05, method="wilson")
    assert (gd["ci_low"], gd["ci_high"]) == pytest.approx((low, high))
    assert out["group"].to_list() == ["新疆", "广东"]  # highest share first; 浙江 undecided
    whole = late_ship_share(times, by=None).row(0, named=True)
    assert (whole["orders"], whole["late"]) == (9, 4)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"),
    [(56, 70, 48, 80), (9, 10, 3, 10), (0, 25, 2, 30), (81, 451, 150, 1837), (5, 5, 0, 7)],
)
def test_newcombe_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    ref = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    assert newcombe_interval(x1, n1, x2, n2) == pytest.approx(ref)


def test_newcombe_reproduces_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, Table II example (56/70 vs 48/80):
    # method 10 gives 0.0524 to 0.3339
    low, high = newcombe_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    with pytest.raises(LivekitError):
        newcombe_interval(1, 0, 1, 2)


def test_refund_by_delay_buckets_and_difference() -> None:
    settled = NOW - 7 * DAY
    received = settled - DAY
    days = [1.5, 2.0, 2.5, 3.0, 4.0, 4.5, 5.5, 6.5, 8.0, 1.0, 3.5]
    refunded = [False, True, False, False, True, True, False, True, True, False, False]
    times = pl.DataFrame(
        {
            "receipt_days": days,
            "received": [True] * 10 + [False],  # the last one is still on the way
            "receipt_time": [received] * 9 + [settled + HOUR, received],  # 10th: too recent
            "refunded": refunded,
        },
        schema_overrides={"receipt_time": pl.Datetime("us", "Asia/Shanghai")},
    )
    result = refund_by_delay(times, settled_before=settled)
    buckets = result.by_bucket
    assert buckets["bucket"].to_list() == ["≤2", "3", "4", "5", "6", "≥7"]
    assert buckets["orders"].to_list() == [2, 2, 1, 1, 1, 2]
    assert buckets["refunds"].to_list() == [1, 0, 1, 1, 0, 2]
    low, high = proportion_confint(1, 2, alpha=0.05, method="wilson")
    assert (buckets["ci_low"][0], buckets["ci_high"][0]) == pytest.approx((low, high))
    assert (result.orders_late, result.refunds_late) == (4, 3)  # > 4 days
    assert (result.orders_on_time, result.refunds_on_time) == (5, 2)
    assert result.difference == pytest.approx(3 / 4 - 2 / 5)
    assert result.difference_ci == pytest.approx(newcombe_interval(3, 4, 2, 5))
    empty = refund_by_delay(times.head(0), settled_before=settled)
    assert empty.error == "empty_arm"
    assert empty.difference_ci is None
    assert not empty.detected
    with pytest.raises(LivekitError, match="分档"):
        refund_by_delay(times, settled_before=settled, buckets=(3.0, 2.0))


def test_promise_advice_codes() -> None:
    summary = pl.DataFrame(
        {
            "group": ["浙江", "新疆", "广东", "西藏", "四川"],
            "orders": [400, 120, 500, 10, 300],
            "median_days": [1.9, 6.1, 2.6, 6.0, 3.4],
            "promise_days": [2, 9, 4, 9, 5],
            "late_share": [0.01, 0.85, 0.08, 0.8, 0.3],
        }
    )
    table = pl.DataFrame(
        {
            "province": ["浙江", "新疆", "广东", "西藏", "四川"],
            "orders": [400, 120, 500, 10, 300],
            "order_gmv": [4e4, 1.2e4, 5e4, 1e3, 3e4],
        }
    )
    refunds = refund_by_delay(
        pl.DataFrame(
            {
                "receipt_days": [1.0] * 10 + [6.0] * 10,
                "received": [True] * 20,
                "receipt_time": [NOW - 9 * DAY] * 20,
                "refunded": [False] * 9 + [True] + [False] * 8 + [True] * 2,
            },
            schema_overrides={"receipt_time": pl.Datetime("us", "Asia/Shanghai")},
        ),
        settled_before=NOW - 7 * DAY,
    )
    out = promise_advice(summary, table, refunds=refunds)
    advice = dict(zip(out["province"], out["advice"], strict=True))
    assert advice == {
        "浙江": "faster_promise",
        "新疆": "second_warehouse",
        "广东": "keep",
        "西藏": "too_little_data",
        "四川": "second_warehouse",
    }
    assert set(advice.values()) <= set(ADVICE_CODES)
    xj = out.filter(pl.col("province") == "新疆").row(0, named=True)
    assert xj["refund_cost"] == pytest.approx(1.2e4 * 0.85 * (0.2 - 0.1))
    # the largest cost first: 新疆 1.2e4 × 0.85 × 0.1 = 1020 over 四川 3e4 × 0.3 × 0.1 = 900
    assert out["province"].head(2).to_list() == ["新疆", "四川"]
    assert promise_advice(summary)["refund_cost"].null_count() == 5  # no cost without table


# ---- the sandbox's planted truths, on one world ----------------------------------------------
TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def world() -> World:
    return World(7, TODAY, scale=0.3)


def test_median_delivery_days_recovered(world: World) -> None:
    """Ordinary days after the 双11 backlog: each province's KM median interval covers the
    planted median for nearly every province, and the provinces with enough orders rank by
    delivery time as planted."""
    result = rt.median_coverage(world, date(2026, 11, 14), date(2026, 11, 27), NOW)
    judged = [v for v in result["covered"].values() if v is not None]
    assert len(judged) >= 20
    assert sum(judged) >= 0.8 * len(judged)  # 95% intervals: a miss or two is expected
    curves = result["curves"].filter(pl.col("orders") >= 20)
    planted = [result["planted"][p] for p in curves["group"]]
    rho = spearmanr(curves["median_days"].to_numpy(), planted).statistic
    assert rho > 0.6, rho  # the far provinces are found slower than the near ones


def test_late_refund_difference_recovered(world: World) -> None:
    first, last = TODAY - 40 * DAY, TODAY - 10 * DAY
    result = rt.late_refund_coverage(world, first, last, rt.day_start(TODAY - 7 * DAY), NOW)
    assert result["covered"], (result["result"].difference_ci, result["truth"]["difference"])
    assert result["detected"]  # late parcels are refunded more, and the interval says so


# ---- through the client: a real sync of the sandbox's 抖店 orders ----------------------------
def test_delivery_through_a_real_sync(tmp_path: Path) -> None:
    """The stored ``orders`` (loopback HTTP, the real ingest) give the same delivery times as
    the world's own orders, and late parcels among them are refunded more."""
    first, last = TODAY - 16 * DAY, TODAY - 10 * DAY  # includes the tail of the festival
    with sandbox_session(make_settings(tmp_path), make_config()) as session:
        run(sync_async(session.settings, first, last, now=NOW, datasets=["orders", "order_items"]))
        store = Store(tmp_path / "sandbox" / "store")
        stored = store.read("orders", ORDERS.schema, first, last)
        items = store.read("order_items", ORDER_ITEMS.schema, first, last)
        world: World = session.server.sandbox.world
    paid_day = pl.col("pay_time").dt.date()
    ours = delivery_times(stored, NOW).filter(paid_day.is_between(first, last))
    direct = delivery_times(rt.orders_frame(world, first, last, NOW), NOW)
    # orders are stored by creation day: an order made before `first` and paid in it is not
    direct = direct.filter(pl.col("order_id").is_in(stored["order_id"].implode()))
    assert ours.height > 300
    assert ours.sort("order_id").equals(direct.sort("order_id"))
    # the skus' after-sale info agrees with the shop orders' main_status
    both = delivery_times(stored, NOW, items).filter(paid_day.is_between(first, last))
    assert both.sort("order_id").equals(ours.sort("order_id"))
    assert ours["festival"].any()
    assert not ours["festival"].all()
    assert set(ours["carrier"].drop_nulls()) <= {c.name for c in CARRIERS}
    result = refund_by_delay(ours, settled_before=rt.day_start(TODAY - 7 * DAY))
    assert result.orders_late > 50
    assert result.rate_late is not None
    assert result.rate_on_time is not None
    assert result.rate_late > result.rate_on_time


def test_festival_is_paid_1101_to_1113_china_time_any_year() -> None:
    def at(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
        return datetime(year, month, day, hour, minute, tzinfo=CHINA_TZ)

    pays = {
        "y1": at(2025, 11, 5, 12, 0),
        "first": at(2026, 11, 1, 0, 0),
        "last": at(2026, 11, 13, 23, 59),
        "after": at(2026, 11, 14, 0, 0),
        "before": at(2026, 10, 31, 23, 59),
    }
    orders = _orders([{"order_id": k, "pay_time": v} for k, v in pays.items()])
    times = delivery_times(orders, NOW)
    festival = dict(zip(times["order_id"], times["festival"], strict=True))
    assert festival == {"y1": True, "first": True, "last": True, "after": False, "before": False}
