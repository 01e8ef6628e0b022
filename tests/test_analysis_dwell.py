"""Dwell-time statistics against statsmodels, scipy and published worked examples."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import proportion_confint

from livekit.analysis.dwell import (
    OTHER_GROUP,
    SURVIVAL_SCHEMA,
    UNKNOWN_SOURCE,
    dwell_conversion,
    logrank,
    median_survival,
    median_survival_ci,
    retention,
    retention_by_group,
    survival,
    visit_durations,
)
from livekit.viewers import VIEWERS_SCHEMA
from livekit.vocab.errors import LivekitError

# Freireich et al. (1963) leukaemia remission data (weeks), as tabulated in Kleinbaum & Klein,
# Survival Analysis: A Self-Learning Text, ch. 2; 0 = censored.
MP6_TIME = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP6_EVENT = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO_TIME = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]

# The 6-MP arm's Kaplan-Meier table with log-log 95% limits, as printed by R's survival
# package (survfit(..., conf.type = "log-log")):
#   time n.risk n.event survival std.err lower upper
MP6_KM = [
    (6, 21, 3, 0.857, 0.0764, 0.620, 0.952),
    (7, 17, 1, 0.807, 0.0869, 0.563, 0.923),
    (10, 15, 1, 0.753, 0.0963, 0.503, 0.889),
    (13, 12, 1, 0.690, 0.1068, 0.432, 0.849),
    (16, 11, 1, 0.627, 0.1141, 0.368, 0.805),
    (22, 7, 1, 0.538, 0.1282, 0.268, 0.747),
    (23, 6, 1, 0.448, 0.1346, 0.188, 0.680),
]


def test_kaplan_meier_matches_the_published_6mp_table() -> None:
    km = survival(MP6_TIME, MP6_EVENT)
    assert km.schema == pl.Schema(SURVIVAL_SCHEMA)
    got = km.select("time", "at_risk", "events", "survival", "std_err", "ci_low", "ci_high")
    for row, ref in zip(got.iter_rows(), MP6_KM, strict=True):
        assert row[:3] == ref[:3]
        assert row[3:] == pytest.approx(ref[3:], abs=6e-4)


def test_kaplan_meier_matches_statsmodels() -> None:
    rng = np.random.default_rng(11)
    t = np.round(rng.lognormal(4.0, 1.3, 3000))
    e = rng.random(3000) < 0.8
    km = survival(pl.Series(t), pl.Series(e))
    sf = SurvfuncRight(t, e.astype(float))
    assert km["time"].to_numpy() == pytest.approx(sf.surv_times)
    assert km["survival"].to_numpy() == pytest.approx(sf.surv_prob)
    assert km["std_err"].to_numpy() == pytest.approx(sf.surv_prob_se, nan_ok=True)
    assert km["at_risk"].to_list() == sf.n_risk.astype(int).tolist()
    assert km["events"].to_list() == sf.n_events.astype(int).tolist()


def test_band_is_the_one_statsmodels_inverts_for_the_median() -> None:
    """statsmodels' cloglog median interval = event times whose log-log band contains 0.5."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        t = np.round(rng.exponential(120.0, 400))
        e = rng.random(400) < 0.85
        km = survival(t, e)
        inside = km.filter((pl.col("ci_low") <= 0.5) & (pl.col("ci_high") >= 0.5))
        times = km["time"].to_list()
        last = times.index(inside["time"][-1])
        expected = (inside["time"][0], times[last + 1] if last + 1 < len(times) else math.inf)
        assert median_survival_ci(t, e) == pytest.approx(expected)
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = SurvfuncRight(t, e.astype(float)).quantile_ci(0.5, alpha=0.05, method="cloglog")
        assert median_survival_ci(t, e) == pytest.approx(ref)


def test_median_and_its_interval_for_6mp() -> None:
    assert median_survival(MP6_TIME, MP6_EVENT) == 23.0  # Kleinbaum & Klein: median 23 weeks
    assert median_survival_ci(MP6_TIME, MP6_EVENT) == (13.0, math.inf)  # R: 13, NA
    assert median_survival(PLACEBO_TIME, [1] * 21) == 8.0


def test_degenerate_survival_input() -> None:
    assert median_survival([5, 6, 7, 8], [1, 0, 0, 0]) is None  # S stays at 0.75
    assert survival([1, 2], [0, 0]).height == 0  # no events: no rows
    assert survival([], []).schema == pl.Schema(SURVIVAL_SCHEMA)
    assert median_survival([], []) is None
    with pytest.raises(LivekitError, match="一一对应"):
        survival([1, 2, 3], [1, 0])
    with pytest.raises(LivekitError, match="0/1"):
        survival([1, 2], [1, 2])
    with pytest.raises(LivekitError, match="非负"):
        survival([-1, 2], [1, 1])


def test_logrank_matches_the_published_6mp_example() -> None:
    """Kleinbaum & Klein report log-rank χ² = 16.79 (1 df) for 6-MP vs placebo."""
    stat, p = logrank(
        MP6_TIME + PLACEBO_TIME, MP6_EVENT + [1] * 21, ["6-MP"] * 21 + ["placebo"] * 21
    )
    assert stat == pytest.approx(16.79, abs=0.005)
    assert p == pytest.approx(stats.chi2.sf(stat, 1))
    ref = stats.logrank(
        stats.CensoredData.right_censored(MP6_TIME, np.array(MP6_EVENT) == 0),
        stats.CensoredData.right_censored(PLACEBO_TIME, np.zeros(21, dtype=bool)),
    )
    assert stat == pytest.approx(ref.statistic**2, rel=1e-9)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)
    with pytest.raises(LivekitError, match="两个组"):
        logrank([1, 2], [1, 1], ["a", "a"])


# ---- conversion by dwell ----------------------------------------------------------------------
START = datetime(2026, 11, 1, 20, 0, 0)


def visits(rows: list[tuple[float, bool]]) -> pl.DataFrame:
    """A viewer export with one visit per (dwell seconds, paid)."""
    n = len(rows)
    enter = [START + timedelta(seconds=i) for i in range(n)]
    naive = pl.Datetime("us")
    frame = pl.DataFrame(
        {
            "room_id": [1] * n,
            "viewer_id": [f"v{i}" for i in range(n)],
            "enter_time": enter,
            "leave_time": [e + timedelta(seconds=d) for e, (d, _) in zip(enter, rows, strict=True)],
            "province": ["广东"] * n,
            "traffic_source": ["video"] * n,
            "clicked_product_id": [None] * n,
            "click_time": [None] * n,
            "paid": [p for _, p in rows],
            "pay_amount": [0.0] * n,
            "variant": [None] * n,
        },
        schema_overrides={"enter_time": naive, "leave_time": naive, "paid": pl.Boolean},
    )
    return frame.with_columns(
        pl.col("enter_time", "leave_time").dt.replace_time_zone("Asia/Shanghai")
    ).cast(VIEWERS_SCHEMA)  # type: ignore[arg-type]


def table_rows(a: int, n1: int, c: int, n2: int) -> list[tuple[float, bool]]:
    """a of n1 long visits (10 min) and c of n2 short visits (1 min) paid."""
    return [(600.0, i < a) for i in range(n1)] + [(60.0, i < c) for i in range(n2)]


def test_risk_ratio_matches_fagerland_2015_katz_example() -> None:
    """Fagerland, Lydersen & Laake (2015): 7/34 vs 1/34, Katz log interval 0.91 to 54."""
    r = dwell_conversion(visits(table_rows(7, 34, 1, 34)))
    assert (r.paid_long, r.visits_long, r.paid_short, r.visits_short) == (7, 34, 1, 34)
    assert r.risk_ratio == pytest.approx(7.0)
    assert r.risk_ratio_ci[0] == pytest.approx(0.91, abs=0.005)
    assert r.risk_ratio_ci[1] == pytest.approx(54, abs=0.5)
    assert r.unit == "visit"
    assert r.visits == 68
    assert r.overall_rate == pytest.approx(8 / 68)


def test_risk_ratio_matches_statsmodels_and_the_katz_formula() -> None:
    r = dwell_conversion(visits(table_rows(40, 900, 55, 2100)), alpha=0.1)
    t = Table2x2(np.array([[40, 860], [55, 2045]]), shift_zeros=False)
    assert r.risk_ratio == pytest.approx(t.riskratio)
    assert r.risk_ratio_ci == pytest.approx(t.riskratio_confint(alpha=0.1, method="normal"))
    se = math.sqrt(1 / 40 - 1 / 900 + 1 / 55 - 1 / 2100)  # Katz et al. (1978)
    z = stats.norm.ppf(0.95)
    rr = (40 / 900) / (55 / 2100)
    assert r.risk_ratio_ci == pytest.approx((rr * math.exp(-z * se), rr * math.exp(z * se)))
    assert r.p_value == pytest.approx(2 * stats.norm.sf(math.log(rr) / se))


def test_threshold_is_strict_and_buckets_are_right_closed() -> None:
    rows = [(60.0, True), (60.5, False), (180.0, True), (1800.0, False), (1801.0, True)]
    rows += [(0.0, False)]
    r = dwell_conversion(visits(rows))
    assert (r.visits_long, r.paid_long) == (2, 1)  # 1800 and 1801 (180 is not "> 3 min")
    b = r.by_bucket
    assert b["lower_s"].to_list() == [0.0, 60.0, 180.0, 600.0, 1800.0]
    assert b["visits"].to_list() == [2, 2, 0, 1, 1]
    assert b["paid"].to_list() == [1, 1, 0, 0, 1]
    assert b["upper_s"].to_list() == [60.0, 180.0, 600.0, 1800.0, None]
    empty = b.row(2, named=True)
    assert empty["rate"] is None
    assert (empty["ci_low"], empty["ci_high"]) == (0.0, 1.0)


def test_bucket_intervals_are_wilson() -> None:
    rows = [(30.0, i < 3) for i in range(40)] + [(300.0, i < 9) for i in range(50)]
    b = dwell_conversion(visits(rows), buckets=(0, 120)).by_bucket
    assert b["visits"].to_list() == [40, 50]
    for row, (x, n) in zip(b.iter_rows(named=True), [(3, 40), (9, 50)], strict=True):
        assert row["rate"] == pytest.approx(x / n)
        lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
        # Wilson (1927) by hand
        z, p = stats.norm.ppf(0.975), x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((centre - half, centre + half))


def test_dwell_degenerate_inputs_are_data() -> None:
    no_long = dwell_conversion(visits([(30.0, True), (40.0, False)]))
    assert no_long.error == "empty_arm"
    assert math.isnan(no_long.risk_ratio)
    assert no_long.overall_rate == pytest.approx(0.5)
    no_base = dwell_conversion(visits(table_rows(3, 10, 0, 10)))
    assert no_base.error == "zero_baseline"
    assert math.isnan(no_base.risk_ratio_ci[0])
    no_events = dwell_conversion(visits(table_rows(0, 10, 3, 10)))
    assert no_events.error == "zero_events"
    assert no_events.risk_ratio == 0.0
    assert math.isnan(no_events.risk_ratio_ci[1])
    nothing = dwell_conversion(visits([]))
    assert nothing.error == "empty_arm"
    assert nothing.by_bucket["visits"].sum() == 0
    assert nothing.overall_rate is None


def test_dwell_misuse_raises() -> None:
    with pytest.raises(LivekitError, match="缺少列"):
        dwell_conversion(pl.DataFrame({"paid": [True]}))
    with pytest.raises(LivekitError, match="分档"):
        dwell_conversion(visits([(30.0, True)]), buckets=(0, 60, 60))
    backwards = visits([(30.0, True)]).with_columns(
        leave_time=pl.col("enter_time") - pl.duration(seconds=5)
    )
    with pytest.raises(LivekitError, match="早于"):
        dwell_conversion(backwards)


def test_analysis_frames_hold_no_prose() -> None:
    """Pure analysis: English column names, no Chinese text in the frames it returns."""
    r = dwell_conversion(visits(table_rows(7, 34, 1, 34)))
    assert all(name.isascii() for name in r.by_bucket.columns)
    assert not [v for v in r.by_bucket.row(0) if isinstance(v, str)]


# ---- visits and groups (moved here with the labels out of the analysis) --------------------------
CHINA = "Asia/Shanghai"


def _grouped(groups: dict[str, list[float]], censored_after: float = 10**9) -> pl.DataFrame:
    rows = [
        {"source": name, "dwell": float(t), "left": t < censored_after}
        for name, times in groups.items()
        for t in times
    ]
    return pl.DataFrame(rows)


def test_visit_durations_censor_visits_that_last_to_the_end() -> None:
    start = datetime(2026, 11, 20, 20, 0)
    end = start + timedelta(hours=2)
    viewers = pl.DataFrame(
        {
            "room_id": [1, 1, 2],
            "enter_time": [start, start + timedelta(minutes=5), start],
            "leave_time": [start + timedelta(seconds=90), end, start + timedelta(minutes=3)],
            "traffic_source": ["homepage_follow", None, "new_source"],
        }
    ).with_columns(pl.col("enter_time", "leave_time").dt.replace_time_zone(CHINA))
    rooms = pl.DataFrame({"room_id": [1, 2], "end_time": [end, None]}).with_columns(
        pl.col("end_time").dt.replace_time_zone(CHINA)
    )
    out = visit_durations(viewers, rooms)
    assert out["dwell"].to_list() == [90.0, 115 * 60.0, 180.0]
    assert out["left"].to_list() == [True, False, False]  # room 2 has no end: still on air
    # codes stay codes (labels are the page's); no source at all is UNKNOWN_SOURCE
    assert out["source"].to_list() == ["homepage_follow", UNKNOWN_SOURCE, "new_source"]
    no_column = visit_durations(viewers.drop("traffic_source"), rooms)
    assert no_column["source"].to_list() == [UNKNOWN_SOURCE] * 3


def test_retention_by_group_folds_small_sources_into_other() -> None:
    sizes = {"a": 60, "b": 50, "c": 40, "d": 30, "e": 20, "f": 10, "g": 5}
    grouped = _grouped({k: [float(10 + i) for i in range(n)] for k, n in sizes.items()})
    groups = retention_by_group(grouped, top=5)
    summary = dict(zip(groups.summary["group"], groups.summary["visits"], strict=True))
    assert summary == {"a": 60, "b": 50, "c": 40, "d": 30, "e": 20, OTHER_GROUP: 15}
    assert set(groups.curves["group"].unique()) == set(summary)


def test_retention_by_group_orders_by_median_and_tests_the_difference() -> None:
    rng = np.random.default_rng(5)
    scales = {"homepage_follow": 300.0, "homepage_hot": 40.0, "live_pc_qian_chuan": 20.0}
    grouped = _grouped({k: rng.exponential(v, 400).round(1).tolist() for k, v in scales.items()})
    groups = retention_by_group(grouped, top=5)
    medians = {
        k: float(np.sort(grouped.filter(pl.col("source") == k)["dwell"].to_numpy())[200])
        for k in scales
    }  # 400 uncensored visits: S drops below 0.5 at the 201st shortest
    assert groups.summary["group"].to_list() == sorted(medians, key=medians.__getitem__)[::-1]
    assert groups.summary["median"].to_list() == sorted(medians.values(), reverse=True)
    assert groups.p_value is not None
    assert groups.p_value < 0.001
    one = retention_by_group(_grouped({"homepage_follow": [10.0, 20.0, 30.0]}))
    assert one.p_value is None


# ---- counts per distinct time: the same numbers as statsmodels, per observation --------------
def _same(a: object, b: object) -> None:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    assert x.shape == y.shape
    assert np.array_equal(np.isnan(x), np.isnan(y))
    assert x[~np.isnan(x)] == pytest.approx(y[~np.isnan(y)], rel=1e-12, abs=1e-15)


def _assert_matches_statsmodels(t: object, e: object) -> None:
    """survival, the log-log band, the median and its interval = SurvfuncRight on the same data."""
    t = np.asarray(t, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    km = survival(t, e)
    with np.errstate(divide="ignore", invalid="ignore"):
        sf = SurvfuncRight(t, e)
        ref_ci = sf.quantile_ci(0.5, alpha=0.05, method="cloglog")
        s, se = sf.surv_prob, sf.surv_prob_se
        # the band statsmodels inverts for quantile_ci("cloglog"): g(S) ± z·|g'(S)|·se
        g, spread = np.log(-np.log(s)), 1.959963984540054 * se / np.abs(s * np.log(s))
        low = np.where((s > 0) & (s < 1), np.exp(-np.exp(g + spread)), np.nan)
        high = np.where((s > 0) & (s < 1), np.exp(-np.exp(g - spread)), np.nan)
    assert km["time"].to_list() == sf.surv_times.tolist()
    assert km["at_risk"].to_list() == sf.n_risk.astype(int).tolist()
    assert km["events"].to_list() == sf.n_events.astype(int).tolist()
    _same(km["survival"].to_numpy(), s)
    _same(km["std_err"].to_numpy(), se)
    _same(km["ci_low"].to_numpy(), low)
    _same(km["ci_high"].to_numpy(), high)
    q = float(sf.quantile(0.5)) if sf.surv_times.size else math.nan
    assert median_survival(t, e) == (None if math.isnan(q) else q)
    got = median_survival_ci(t, e)
    if math.isnan(float(ref_ci[0])):
        assert got is None
    else:
        assert got == (float(ref_ci[0]), float(ref_ci[1]))
    r = retention(t, e)
    assert r.curve.equals(km)
    assert (r.median, r.median_ci) == (median_survival(t, e), got)


@pytest.mark.parametrize("seed", range(6))
def test_counts_per_time_equal_statsmodels_on_ties_and_censoring(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(50, 3000))
    t = np.round(rng.lognormal(3.0 + seed % 3, 1.0 + 0.2 * seed, n))  # whole seconds: ties
    e = rng.random(n) < rng.uniform(0.5, 0.99)
    _assert_matches_statsmodels(t, e)
    _assert_matches_statsmodels(t / 7.0, e)  # fractional times too


def test_counts_per_time_equal_statsmodels_on_edge_cases() -> None:
    _assert_matches_statsmodels([5.0, 9.0, 9.0], [0, 0, 0])  # all censored: no curve
    _assert_matches_statsmodels([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0], [1] * 8)  # no censoring
    _assert_matches_statsmodels([42.0], [1])  # one observation: S = 0, se undefined
    _assert_matches_statsmodels([42.0], [0])
    _assert_matches_statsmodels([30.0] * 10, [1] * 10)  # all equal times
    _assert_matches_statsmodels([30.0] * 10, [1, 0] * 5)
    _assert_matches_statsmodels([5.0, 6.0, 7.0, 8.0, 9.0], [1, 0, 0, 0, 0])  # median not reached
    _assert_matches_statsmodels([0.0, -0.0, 0.0, 3.0], [1, 1, 0, 1])  # zero dwell, signed zero
    # whole seconds where statsmodels' quantile_ci is NaN: S jumps from 1 to 0.4, then to 0,
    # and no event time has a band containing 0.5; we keep "no interval" (None)
    t, e = [1.0] * 60 + [2.0] * 40, [1] * 100
    with np.errstate(divide="ignore", invalid="ignore"):
        assert math.isnan(SurvfuncRight(t, e).quantile_ci(0.5, method="cloglog")[0])
    assert median_survival_ci(t, e) is None
    _assert_matches_statsmodels(t, e)


def test_sparse_whole_seconds_match_statsmodels() -> None:
    # a few hundred parcels over 13 days of seconds: counted by sorting, not a slot per second
    rng = np.random.default_rng(5)
    t = np.round(rng.uniform(3600, 13 * 86400, 300))
    e = rng.random(300) < 0.8
    _assert_matches_statsmodels(t, e)


def test_the_three_ways_of_counting_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slots per second (dense whole seconds), sorting (small input) and a polars group-by (large
    input) give the same counts per distinct time."""
    from livekit.analysis import dwell as module

    rng = np.random.default_rng(11)
    t = np.concatenate([np.round(rng.lognormal(4.0, 1.0, 4000)), [0.0, -0.0, 0.0]])
    e = (rng.random(t.size) < 0.7).astype(np.float64)

    def counts() -> tuple[list[float], list[int], list[float]]:
        c = module._counts(t, e)
        return c.time.tolist(), c.visits.tolist(), c.events.tolist()

    by_slot = counts()
    monkeypatch.setattr(module, "_BINCOUNT_MAX", -1)
    by_sort = counts()
    monkeypatch.setattr(module, "_SORT_MAX", 0)
    by_query = counts()
    assert by_slot == by_sort == by_query
    assert by_slot[0][0] == 0.0
    assert by_slot[1][0] == 3


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 25), st.booleans(), st.sampled_from("abc")),
        min_size=1,
        max_size=80,
    )
)
def test_counts_per_time_equal_statsmodels_property(rows: list[tuple[int, bool, str]]) -> None:
    t = np.array([float(r[0]) for r in rows])
    e = np.array([r[1] for r in rows], dtype=np.float64)
    _assert_matches_statsmodels(t, e)  # whole seconds: counted by bincount
    _assert_matches_statsmodels(t / 4.0, e)  # fractional: counted by sorting
    groups = [r[2] for r in rows]
    if len(set(groups)) < 2:
        return
    codes = np.unique(groups, return_inverse=True)[1]
    try:
        ref = survdiff(t, e, codes, weight_type=None)
    except np.linalg.LinAlgError:  # a singular covariance (a group never at risk with others)
        with pytest.raises(np.linalg.LinAlgError):
            logrank(t, e, groups)
        return
    stat, p = logrank(t, e, groups)
    assert stat == pytest.approx(float(ref[0]), rel=1e-9, abs=1e-12)
    assert p == pytest.approx(float(ref[1]), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_logrank_from_counts_equals_survdiff(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    n = 4000
    k = 2 + seed
    g = rng.integers(0, k, n)
    t = np.round(rng.exponential(60.0 * (1 + g), n))
    e = rng.random(n) < 0.9
    stat, p = logrank(t, e, [f"g{x}" for x in g])
    ref_stat, ref_p = survdiff(t, e.astype(float), g, weight_type=None)
    assert stat == pytest.approx(ref_stat, rel=1e-10)
    assert p == pytest.approx(ref_p, rel=1e-9, abs=1e-15)


def test_retention_by_group_equals_statsmodels_per_group() -> None:
    rng = np.random.default_rng(9)
    scales = {"a": 30.0, "b": 90.0, "c": 60.0, "d": 20.0}
    grouped = _grouped(
        {k: rng.exponential(v, 500).round().tolist() for k, v in scales.items()},
        censored_after=150.0,
    )
    groups = retention_by_group(grouped, top=2)
    folded = grouped.with_columns(
        pl.when(pl.col("source").is_in(["a", "b"])).then("source").otherwise(pl.lit(OTHER_GROUP))
    )
    for name in ("a", "b", OTHER_GROUP):
        part = folded.filter(pl.col("source") == name)
        sf = SurvfuncRight(part["dwell"].to_numpy(), part["left"].to_numpy().astype(float))
        curve = groups.curves.filter(pl.col("group") == name)
        _same(curve["survival"].to_numpy(), sf.surv_prob)
        _same(curve["std_err"].to_numpy(), sf.surv_prob_se)
        row = groups.summary.filter(pl.col("group") == name).row(0, named=True)
        assert row["visits"] == part.height
        assert row["median"] == sf.quantile(0.5)
    codes = np.unique(folded["source"].to_numpy(), return_inverse=True)[1]
    ref = survdiff(
        folded["dwell"].to_numpy(), folded["left"].to_numpy().astype(float), codes, weight_type=None
    )
    assert groups.statistic == pytest.approx(ref[0], rel=1e-10)
    assert groups.p_value == pytest.approx(ref[1], rel=1e-9, abs=1e-15)


def test_retention_by_group_checks_its_input_like_survival() -> None:
    good = _grouped({"a": [1.0, 2.0, 3.0], "b": [2.0, 4.0]})
    for bad, match in (
        (good.with_columns(dwell=pl.Series([1.0, -2.0, 3.0, 2.0, 4.0])), "非负"),
        (good.with_columns(dwell=pl.Series([1.0, None, 3.0, 2.0, 4.0])), "非负"),
        (good.with_columns(dwell=pl.col("dwell").cast(pl.String)), "数值"),
        (good.with_columns(left=pl.Series([True, None, True, True, False])), "0/1"),
        (good.with_columns(left=pl.Series([1, 2, 1, 1, 0])), "0/1"),
    ):
        with pytest.raises(LivekitError, match=match):
            retention_by_group(bad)
    as_series = logrank(good["dwell"], good["left"], good["source"])
    assert as_series == logrank(good["dwell"], good["left"], good["source"].to_list())
