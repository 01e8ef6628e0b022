"""Planning (livekit.analysis.plan): the history's numbers by hand and window by window against
per_viewer / with_pre_period and numpy, power and MDE against independent computations
(statsmodels' normal power, the MDE's power by hand, a Monte Carlo of the analysis's own lift
interval and of the noncentral t), the switchback's shows and ratio variance, and the Chinese
errors."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from scipy.optimize import brentq
from statsmodels.stats.power import NormalIndPower

from livekit.analysis.abtest import RatioStatistic, compare_proportions
from livekit.analysis.experiment import per_viewer, with_pre_period
from livekit.analysis.plan import (
    check_plan_inputs,
    days_needed,
    lift_se,
    lift_table,
    mde,
    plan_sessions,
    plan_viewers,
    power_at,
    viewer_windows,
)
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

D0 = date(2026, 3, 2)


def _visits(rows: list[tuple[str, int, bool, float]]) -> pl.DataFrame:
    """Visits (viewer, day offset from D0, paid, watch seconds) as viewer-export columns."""
    enter = [
        datetime.combine(D0 + timedelta(days=d), datetime.min.time(), CHINA_TZ)
        + timedelta(hours=20)
        for _, d, _, _ in rows
    ]
    return pl.DataFrame(
        {
            "viewer_id": [r[0] for r in rows],
            "enter_time": enter,
            "leave_time": [e + timedelta(seconds=r[3]) for e, r in zip(enter, rows, strict=True)],
            "paid": [r[2] for r in rows],
            "clicked_product_id": [1 if r[2] else None for r in rows],
            "pay_amount": [10.0 if r[2] else 0.0 for r in rows],
        },
        schema_overrides={"clicked_product_id": pl.Int64},
    )


# ---- the history, by hand -----------------------------------------------------------------------
HAND = [
    # pre-period: day 0
    ("a", 0, True, 60.0),
    ("b", 0, False, 30.0),
    # history: days 1..3
    ("a", 1, False, 100.0),
    ("b", 1, False, 50.0),
    ("c", 1, True, 10.0),
    ("a", 2, True, 20.0),
    ("d", 2, False, 40.0),
    ("c", 3, False, 70.0),
    ("e", 3, False, 5.0),
]


def test_windows_by_hand() -> None:
    w = viewer_windows(
        _visits(HAND),
        "conversion",
        start=D0 + timedelta(days=1),
        end=D0 + timedelta(days=3),
        max_days=3,
        pre_period_days=1,
    )
    row = {(r["start"], r["days"]): r for r in w.iter_rows(named=True)}
    assert w.height == 3 + 2 + 1
    # day 1 alone: a, b, c; converted 0, 0, 1; a converted in the pre-period, b did not, c unseen
    one = row[(D0 + timedelta(days=1), 1)]
    assert one["viewers"] == 3
    assert one["mean"] == pytest.approx(1 / 3)
    assert one["variance"] == pytest.approx(np.var([0, 0, 1], ddof=1))
    # y = (0, 0, 1), x = (1, 0, 0): corr = -0.5
    assert one["rho2"] == pytest.approx(0.25)
    # days 1..2: a (converted on day 2), b, c (day 1), d: converted 1, 0, 1, 0
    two = row[(D0 + timedelta(days=1), 2)]
    assert two["viewers"] == 4
    assert two["mean"] == pytest.approx(0.5)
    # days 1..3: five viewers, a and c converted
    three = row[(D0 + timedelta(days=1), 3)]
    assert (three["viewers"], three["mean"]) == (5, pytest.approx(0.4))
    # day 3 alone: pre-period is day 2 (a converted, d not): c, e unseen then -> x constant
    last = row[(D0 + timedelta(days=3), 1)]
    assert last["viewers"] == 2
    assert last["mean"] == 0.0
    assert math.isnan(last["rho2"])
    # the plan averages the windows of each length: N(1) = (3 + 2 + 2) / 3
    plan = plan_viewers(
        _visits(HAND),
        "conversion",
        start=D0 + timedelta(days=1),
        end=D0 + timedelta(days=3),
        max_days=3,
        pre_period_days=1,
    )
    by = plan.by_days
    assert by["days"].to_list() == [1, 2, 3]
    assert by["windows"].to_list() == [3, 2, 1]
    assert by["viewers"][0] == pytest.approx((3 + 2 + 2) / 3)
    assert by["viewers"][2] == 5
    assert by["n_a"][2] == pytest.approx(2.5)
    # the proportion's per-unit variance is p(1 - p), as the analysis uses it
    assert by["variance"][2] == pytest.approx(0.4 * 0.6)


def _random_visits(seed: int, days: int = 12, viewers: int = 60) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    activity = rng.gamma(0.7, 1.0, viewers)  # some viewers come back often, most rarely
    for d in range(days):
        for v in np.flatnonzero(rng.random(viewers) < np.minimum(activity * 0.3, 0.95)):
            for _ in range(int(rng.integers(1, 3))):
                rows.append(
                    (
                        f"v{v}",
                        d,
                        bool(rng.random() < 0.05 + 0.1 * activity[v] / 3),
                        float(rng.exponential(60 * (1 + activity[v]))),
                    )
                )
    return _visits(rows)


@pytest.mark.parametrize(
    "metric", ["conversion", "click", "watch_seconds", "gmv_per_viewer", "visits"]
)
def test_every_window_is_per_viewer_and_with_pre_period(metric: str) -> None:
    """The running sums give, window by window, what per_viewer over the window's visits and
    with_pre_period over the pre-period's give: viewers, mean, variance, corrcoef²."""
    visits = _random_visits(3)
    pre, start, end = 3, D0 + timedelta(days=3), D0 + timedelta(days=11)
    column = {"conversion": "converted", "click": "clicked", "gmv_per_viewer": "gmv"}.get(
        metric, metric
    )
    windows = viewer_windows(visits, metric, start=start, end=end, max_days=5, pre_period_days=pre)
    assert windows.height == sum(min(5, 9 - k) for k in range(9))
    day = pl.col("enter_time").dt.date()
    for r in windows.iter_rows(named=True):
        s, d = r["start"], r["days"]
        inside = visits.filter(day.is_between(s, s + timedelta(days=d - 1)))
        before = visits.filter(day.is_between(s - timedelta(days=pre), s - timedelta(days=1)))
        units = with_pre_period(per_viewer(inside), before)
        y = units[column].cast(pl.Float64).to_numpy()
        x = units[f"pre_{column}"].to_numpy()
        assert r["viewers"] == units.height
        assert r["mean"] == pytest.approx(y.mean(), rel=1e-9)
        assert r["variance"] == pytest.approx(np.var(y, ddof=1), rel=1e-9, abs=1e-12)
        if np.var(x) > 0 and np.var(y) > 0:
            assert r["rho2"] == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-7, abs=1e-12)
        else:
            assert math.isnan(r["rho2"])


# ---- power and MDE ----------------------------------------------------------------------------------
def test_normal_power_is_statsmodels() -> None:
    for lift, se, alpha in [(0.1, 0.04, 0.05), (0.05, 0.03, 0.1), (0.2, 0.12, 0.01)]:
        n = 1000  # statsmodels' standardized effect d with sqrt(n/2)·d = lift / se
        ours = power_at(lift, se, alpha=alpha)
        theirs = NormalIndPower().power(
            effect_size=lift / se / math.sqrt(n / 2),
            nobs1=n,
            alpha=alpha,
            ratio=1.0,
            alternative="two-sided",
        )
        assert ours == pytest.approx(float(theirs), rel=1e-9)


def test_t_power_is_the_noncentral_t_by_simulation() -> None:
    rng = np.random.default_rng(11)
    df, lift, se = 6.0, 0.3, 0.12
    t = (rng.standard_normal(400_000) + lift / se) / np.sqrt(rng.chisquare(df, 400_000) / df)
    crit = stats.t.ppf(0.975, df)
    simulated = float(np.mean(np.abs(t) > crit))
    assert power_at(lift, se, alpha=0.05, df=df) == pytest.approx(simulated, abs=0.004)


def test_the_mde_is_found_as_often_as_promised_by_the_analysis_interval() -> None:
    """Monte Carlo of the analysis itself: binomial arms at the planner's MDE, the relative
    lift's interval as compare_proportions computes it (checked on the first draws), lying
    above 0 in 80% of 200,000 experiments (s.e. 0.1 points; the delta method's second-order
    terms leave about one point)."""
    rng = np.random.default_rng(5)
    for n, p in ((45_000, 0.0195), (8_000, 0.05)):
        lift = mde(
            mean=p, variance=p * (1 - p), n_a=n, n_b=n, kind="proportion", alpha=0.05, power=0.8
        )
        assert lift is not None
        xa, xb = rng.binomial(n, p, 200_000), rng.binomial(n, p * (1 + lift), 200_000)
        pa, pb = xa / n, xb / n
        var = pb * (1 - pb) / (pa**2 * n) + pb**2 * pa * (1 - pa) / (pa**4 * n)
        low = pb / pa - 1 - stats.norm.ppf(0.975) * np.sqrt(var)
        for k in range(3):
            c = compare_proportions(int(xa[k]), n, int(xb[k]), n)
            assert c.lift_ci[0] == pytest.approx(low[k], rel=1e-3)
        assert float(np.mean(low > 0)) == pytest.approx(0.8, abs=0.02)
        # GrowthBook's constant-se formula promises 80% for a larger lift than needed
        se = lift_se(lift, mean=p, variance=p * (1 - p), n_a=n, n_b=n, kind="proportion")
        assert power_at(lift, se, alpha=0.05) < 0.8


def test_proportion_mde_has_the_promised_power_by_hand() -> None:
    p, n_a, n_b = 0.02, 40_000.0, 30_000.0
    found = mde(
        mean=p, variance=p * (1 - p), n_a=n_a, n_b=n_b, kind="proportion", alpha=0.05, power=0.8
    )
    assert found is not None

    def se(lift: float) -> float:
        pb = p * (1 + lift)
        return math.sqrt((pb * (1 - pb) / n_b + (1 + lift) ** 2 * p * (1 - p) / n_a) / p**2)

    z = stats.norm.ppf(0.975)
    upper = brentq(lambda c: c - z * se(c), 0.0, 10.0)  # the interval just touches 0
    lower = brentq(lambda c: c + z * se(c), -1.0 + 1e-9, 0.0)
    hand = stats.norm.sf((upper - found) / se(found)) + stats.norm.cdf((lower - found) / se(found))
    assert hand == pytest.approx(0.8, abs=1e-8)
    assert lift_se(
        found, mean=p, variance=p * (1 - p), n_a=n_a, n_b=n_b, kind="proportion"
    ) == pytest.approx(se(found))
    # CUPED: the per-unit variance shrinks by 1 - rho², and so does the MDE, about by its root
    cuped = mde(
        mean=p,
        variance=p * (1 - p) * 0.5,
        n_a=n_a,
        n_b=n_b,
        kind="proportion",
        alpha=0.05,
        power=0.8,
    )
    assert cuped is not None
    assert cuped == pytest.approx(found * math.sqrt(0.5), rel=0.05)
    assert cuped < found


def test_mde_none_when_nothing_can_be_detected() -> None:
    assert (
        mde(mean=0.5, variance=0.25, n_a=1.0, n_b=5.0, kind="proportion", alpha=0.05, power=0.8)
        is None
    )
    assert (
        mde(mean=0.0, variance=1.0, n_a=100.0, n_b=100.0, kind="mean", alpha=0.05, power=0.8)
        is None
    )
    # a proportion near 1 cannot grow much: with few viewers no lift reaches 80%
    assert (
        mde(mean=0.9, variance=0.09, n_a=3.0, n_b=3.0, kind="proportion", alpha=0.05, power=0.8)
        is None
    )


def test_days_needed_is_the_first_duration_reaching_the_lift() -> None:
    table = pl.DataFrame({"days": [1, 2, 3, 4], "mde": [0.5, 0.2, None, 0.1]})
    assert days_needed(table, 0.2) == 2
    assert days_needed(table, 0.15) == 4
    assert days_needed(table, 0.05) is None


# ---- the switchback -----------------------------------------------------------------------------------
def _rooms(clicks: list[int], watches: list[int], days: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "room_id": list(range(1, len(clicks) + 1)),
            "start_time": [
                datetime.combine(D0 + timedelta(days=d), datetime.min.time(), CHINA_TZ)
                + timedelta(hours=19)
                for d in days
            ],
            "live_click_product_count_alias": clicks,
            "total_live_watch_cnt": watches,
        }
    )


def test_session_plan_by_hand() -> None:
    clicks = [70, 90, 40, 120, 60, 80, 50, 110]
    watches = [1000, 1100, 700, 1500, 900, 1000, 800, 1300]
    rooms = _rooms(clicks, watches, [0, 0, 1, 1, 2, 3, 3, 9])  # the last one is outside
    plan = plan_sessions(
        rooms,
        pl.DataFrame({"room_id": []}, schema={"room_id": pl.Int64}),
        "watch_click_rate",
        start=D0,
        end=D0 + timedelta(days=3),
        max_days=6,
        power=0.8,
    )
    assert plan.shows == 7
    assert plan.history_days == 4
    assert plan.shows_per_day == pytest.approx(7 / 4)
    ref = RatioStatistic.of(np.array(clicks[:7], float), np.array(watches[:7], float))
    assert plan.mean == pytest.approx(sum(clicks[:7]) / sum(watches[:7]))
    assert plan.variance == pytest.approx(ref.variance)
    by = plan.by_days
    assert by["n_a"].to_list() == pytest.approx([d * 7 / 8 for d in range(1, 7)])
    assert by["mde"][0] is None  # fewer than two shows per arm
    for r in by.filter(pl.col("mde").is_not_null()).iter_rows(named=True):
        # the arms are coin flips: the power is the mean over the binomial count of A's shows
        total, lift, expected = round(r["shows"]), r["mde"], 0.0
        for k in range(2, total - 1):
            # arm B's spread grows with its level: variance (1 + L)² in both terms
            se = (1 + lift) * math.sqrt(plan.variance / plan.mean**2 * (1 / k + 1 / (total - k)))
            weight = stats.binom.pmf(k, total, 0.5)
            expected += weight * power_at(lift, se, alpha=0.05, df=min(k, total - k) - 1)
        assert expected == pytest.approx(0.8, abs=1e-6)
        assert plan.power_after(lift, r["days"]) == pytest.approx(0.8, abs=1e-6)
    # the viewer metric's room counterpart is accepted, as the A/B report does
    same = plan_sessions(
        rooms, pl.DataFrame(), "click", start=D0, end=D0 + timedelta(days=3), max_days=6
    )
    assert same.mean == plan.mean
    table = lift_table(None, plan, [0.5, 5.0], 6)
    assert table["viewer_days"].to_list() == [None, None]
    assert table["session_days"][1] is not None
    assert table["session_power"][1] > table["session_power"][0]


# ---- mistakes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"metric": "gmv"}, "未知的指标"),
        ({"max_days": 9}, "少于要规划的最长天数"),
        ({"alpha": 1.5}, "alpha"),
        ({"power": 0}, "power"),
        ({"power": True}, "power"),
        ({"split": (1, 0)}, "planned_split"),
        ({"split": (0.5, 0.3, 0.2)}, "planned_split"),
        ({"max_days": 0}, "max_days"),
        ({"pre_period_days": -1}, "pre_period_days"),
        (
            {"start": D0 + timedelta(days=30), "end": D0 + timedelta(days=32), "max_days": 2},
            "不足两位观众",
        ),
    ],
)
def test_mistakes_are_one_chinese_line(kwargs: dict[str, object], words: str) -> None:
    args: dict[str, object] = {
        "start": D0 + timedelta(days=1),
        "end": D0 + timedelta(days=3),
        "max_days": 3,
        "pre_period_days": 1,
    }
    args.update(kwargs)
    metric = str(args.pop("metric", "conversion"))
    with pytest.raises(LivekitError) as err:
        plan_viewers(_visits(HAND), metric, **args)  # type: ignore[arg-type]
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_no_variation_and_too_few_shows_are_errors() -> None:
    flat = _visits([(v, d, False, 10.0) for v in "abc" for d in range(3)])
    with pytest.raises(LivekitError, match="没有任何波动"):
        plan_viewers(
            flat, "conversion", start=D0, end=D0 + timedelta(days=2), max_days=2, pre_period_days=0
        )
    with pytest.raises(LivekitError, match="至少要 4 场"):
        plan_sessions(
            _rooms([1, 2], [10, 20], [0, 1]),
            pl.DataFrame(),
            start=D0,
            end=D0 + timedelta(days=3),
            max_days=3,
        )
    with pytest.raises(LivekitError, match="按场次分析时未知的指标"):
        plan_sessions(
            _rooms([1, 2], [10, 20], [0, 1]), pl.DataFrame(), "nope", start=D0, end=D0, max_days=1
        )
    with pytest.raises(LivekitError, match="lifts"):
        check_plan_inputs(alpha=0.05, power=0.8, split=(1, 1), max_days=3, lifts=[0.1, -0.1])
