"""A/B statistics against independent computations and published worked examples."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from livekit.analysis.abtest import (
    MeanStatistic,
    RatioStatistic,
    adjust_pvalues,
    compare_means,
    compare_proportions,
    compare_sessions,
    ratio_metric,
    sample_size,
    srm,
)
from livekit.vocab.errors import LivekitError


def with_moments(mean: float, sd: float, n: int, seed: int) -> npt.NDArray[np.float64]:
    """n values with exactly this mean and sample standard deviation."""
    z = np.random.default_rng(seed).standard_normal(n)
    z = (z - z.mean()) / z.std(ddof=1)
    out: npt.NDArray[np.float64] = mean + sd * z
    return out


def growthbook_lift(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], var_ddof: int, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Independent re-computation of gbstats' relative lift interval from raw arrays."""
    ma, mb = a.mean(), b.mean()
    va, vb = a.var(ddof=var_ddof), b.var(ddof=var_ddof)
    na, nb = a.size, b.size
    var = vb / (ma**2 * nb) + mb**2 * va / (ma**4 * na)
    df = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    half = float(stats.t.ppf(1 - alpha / 2, df)) * math.sqrt(var)
    lift = mb / ma - 1
    return lift, lift - half, lift + half


# ---- proportions -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x_a", "n_a", "x_b", "n_b"),
    [(120, 1000, 150, 1000), (3, 40, 9, 35), (812, 31_000, 905, 30_500), (1, 34, 7, 34)],
)
def test_pooled_z_p_value_equals_pearson_chi2(x_a: int, n_a: int, x_b: int, n_b: int) -> None:
    c = compare_proportions(x_a, n_a, x_b, n_b)
    table = np.array([[x_a, n_a - x_a], [x_b, n_b - x_b]])
    _chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    assert dof == 1
    assert c.p_value == pytest.approx(p, rel=1e-10)
    assert c.diff == pytest.approx(x_b / n_b - x_a / n_a)
    assert (c.mean_a, c.mean_b, c.n_a, c.n_b) == (x_a / n_a, x_b / n_b, n_a, n_b)


# Newcombe (1998), Stat Med 17:873-890, Table II, method 10 (hybrid score, no continuity
# correction): (x1, n1, x2, n2) -> limits for p1 - p2. Here arm B is group 1.
NEWCOMBE_TABLE_II = [
    (56, 70, 48, 80, (0.0524, 0.3339)),
    (9, 10, 3, 10, (0.1705, 0.8090)),
    (5, 56, 0, 29, (-0.0381, 0.1926)),
    (0, 10, 0, 20, (-0.1611, 0.2775)),
    (0, 10, 0, 10, (-0.2775, 0.2775)),
    (10, 10, 0, 20, (0.6791, 1.0000)),
    (10, 10, 0, 10, (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "limits"), NEWCOMBE_TABLE_II)
def test_newcombe_hybrid_score_matches_newcombe_1998(
    x1: int, n1: int, x2: int, n2: int, limits: tuple[float, float]
) -> None:
    c = compare_proportions(x2, n2, x1, n1)
    assert c.diff_ci == pytest.approx(limits, abs=6e-5)
    ref = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff", alpha=0.05)
    assert c.diff_ci == pytest.approx(tuple(ref), abs=1e-12)


# Fagerland, Lydersen & Laake (2015), Stat Methods Med Res 24:224-254, worked example
# 7/34 vs 1/34, 95% limits for the difference, two decimals as printed.
@pytest.mark.parametrize(
    ("method", "limits"),
    [
        ("pooled-z", (0.019, 0.34)),  # Newcombe hybrid score
        ("wald", (0.029, 0.32)),
        ("agresti-caffo", (0.012, 0.32)),
        ("score", (0.028, 0.34)),  # Miettinen-Nurminen
    ],
)
def test_difference_intervals_match_fagerland_2015(
    method: str, limits: tuple[float, float]
) -> None:
    c = compare_proportions(1, 34, 7, 34, method=method)  # type: ignore[arg-type]
    assert c.diff_ci[0] == pytest.approx(limits[0], abs=0.0015)
    assert c.diff_ci[1] == pytest.approx(limits[1], abs=0.005)
    assert c.p_value == compare_proportions(1, 34, 7, 34).p_value  # p-value never changes
    assert method in c.method


def test_proportion_lift_is_growthbooks_delta_method() -> None:
    a = np.r_[np.ones(130), np.zeros(870)]
    b = np.r_[np.ones(160), np.zeros(840)]
    c = compare_proportions(130, 1000, 160, 1000, alpha=0.1)
    lift, low, high = growthbook_lift(a, b, var_ddof=0, alpha=0.1)  # Bernoulli p(1-p)
    assert c.lift == pytest.approx(lift)
    assert c.lift_ci == pytest.approx((low, high), rel=1e-12)
    assert c.alpha == 0.1


def test_proportion_degenerate_inputs_are_data() -> None:
    empty = compare_proportions(0, 0, 5, 100)
    assert empty.error == "empty_arm"
    assert math.isnan(empty.p_value)
    assert math.isnan(empty.lift)
    assert empty.error_message is not None
    assert "没有样本" in empty.error_message
    zero_base = compare_proportions(0, 100, 5, 100)
    assert zero_base.error == "zero_baseline"
    assert math.isnan(zero_base.lift)
    assert math.isnan(zero_base.lift_ci[0])
    assert 0 < zero_base.p_value < 0.05
    assert zero_base.diff_ci[0] > 0
    nothing = compare_proportions(0, 100, 0, 120)
    assert nothing.error == "zero_variance"
    assert math.isnan(nothing.p_value)
    assert nothing.diff == 0
    assert nothing.diff_ci[0] < 0 < nothing.diff_ci[1]
    assert not nothing.significant


def test_proportion_misuse_raises() -> None:
    with pytest.raises(LivekitError, match="成功数"):
        compare_proportions(11, 10, 1, 10)
    with pytest.raises(LivekitError, match="可选"):
        compare_proportions(1, 10, 1, 10, method="clopper")  # type: ignore[arg-type]
    with pytest.raises(LivekitError, match="alpha"):
        compare_proportions(1, 10, 1, 10, alpha=1.5)


def test_comparison_is_immutable() -> None:
    c = compare_proportions(1, 10, 2, 10)
    with pytest.raises(FrozenInstanceError):
        c.p_value = 0.0  # type: ignore[misc]


# ---- means ----------------------------------------------------------------------------------------
def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.lognormal(5.0, 1.2, 400)
    b = rng.lognormal(5.1, 1.4, 250)
    c = compare_means(a.tolist(), pl.Series(b), alpha=0.05)
    ref = stats.ttest_ind(b, a, equal_var=False, alternative="two-sided")
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert c.df == pytest.approx(ref.df, rel=1e-10)
    ci = ref.confidence_interval(confidence_level=0.95)
    assert c.diff_ci == pytest.approx((ci.low, ci.high), rel=1e-10)
    lift, low, high = growthbook_lift(a, b, var_ddof=1)
    assert (c.lift, *c.lift_ci) == pytest.approx((lift, low, high), rel=1e-10)


def test_welch_differs_from_the_pooled_default() -> None:
    """statsmodels/scipy default to pooled variance; unequal arms make the difference visible."""
    a = with_moments(10.0, 1.0, 200, seed=1)
    b = with_moments(10.6, 6.0, 20, seed=2)
    pooled = stats.ttest_ind(b, a, equal_var=True).pvalue
    c = compare_means(a, b)
    assert c.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert abs(c.p_value - pooled) > 0.1


def test_lift_matches_growthbook_reference_numbers() -> None:
    """gbstats tests/frequentist/test_tests.py: control 0.41 (sd 3.9, n 3407), treatment
    0.70 (sd 6.2, n 3461) -> relative lift 0.70732, 95% CI [-0.03526, 1.44989], sd 0.37879."""
    a = with_moments(0.41, 3.9, 3407, seed=5)
    b = with_moments(0.70, 6.2, 3461, seed=6)
    c = compare_means(a, b)
    assert c.lift == pytest.approx(0.70732, abs=5e-6)
    assert c.lift_ci == pytest.approx((-0.03526, 1.44989), abs=5e-6)
    assert (c.lift_ci[1] - c.lift) / stats.t.ppf(0.975, c.df) == pytest.approx(0.37879, abs=5e-6)


def test_mean_degenerate_inputs_are_data() -> None:
    assert compare_means([], [1.0, 2.0]).error == "empty_arm"
    assert compare_means([1.0], [1.0, 2.0]).error == "too_few_units"
    flat = compare_means([3.0, 3.0, 3.0], [3.0, 3.0])
    assert flat.error == "zero_variance"
    assert flat.diff == 0
    assert math.isnan(flat.p_value)
    zero = compare_means([0.0, 0.0, 0.0], [1.0, 2.0, 0.0])
    assert zero.error == "zero_baseline"
    assert math.isnan(zero.lift)
    assert not math.isnan(zero.p_value)
    assert not math.isnan(zero.diff_ci[0])
    with pytest.raises(LivekitError, match="空值"):
        compare_means(pl.Series([1.0, None, 2.0]), [1.0, 2.0])


def test_mean_statistic_from_sums_matches_numpy() -> None:
    x = np.random.default_rng(9).normal(1000.0, 30.0, 5000)
    s = MeanStatistic.of(x)
    assert s.mean == pytest.approx(x.mean())
    assert s.variance == pytest.approx(x.var(ddof=1), rel=1e-9)


# ---- ratio metrics ---------------------------------------------------------------------------------
def sessions(seed: int, n: int, rate: float) -> tuple[npt.NDArray[np.float64], ...]:
    rng = np.random.default_rng(seed)
    visits = rng.integers(500, 5000, n).astype(float)
    clicks = rng.binomial(visits.astype(int), rate * rng.lognormal(0, 0.1, n)).astype(float)
    return clicks, visits


def test_ratio_variance_is_the_linearized_residual_variance() -> None:
    """Delta method = variance of the linearized residuals x - r·y (Cochran 1977, ch. 6)."""
    x, y = sessions(1, 30, 0.06)
    s = RatioStatistic.of(x, y)
    r = x.sum() / y.sum()
    assert s.mean == pytest.approx(r)
    assert s.covariance == pytest.approx(np.cov(x, y, ddof=1)[0, 1])
    assert s.variance == pytest.approx((x - r * y).var(ddof=1) / y.mean() ** 2, rel=1e-9)


def test_ratio_metric_with_unit_denominators_is_welch() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.gamma(2.0, 50.0, 300), rng.gamma(2.2, 50.0, 280)
    r = ratio_metric(a, np.ones(a.size), b, np.ones(b.size))
    m = compare_means(a, b)
    assert r.diff_ci == pytest.approx(m.diff_ci, rel=1e-9)
    assert r.lift_ci == pytest.approx(m.lift_ci, rel=1e-9)
    assert r.p_value == pytest.approx(m.p_value, rel=1e-9)


def test_ratio_metric_interval_by_hand() -> None:
    xa, ya = sessions(2, 14, 0.06)
    xb, yb = sessions(3, 12, 0.075)
    c = ratio_metric(xa, ya, xb, yb)
    v = {}
    for arm, (x, y) in {"a": (xa, ya), "b": (xb, yb)}.items():
        r = x.sum() / y.sum()
        v[arm] = (r, (x - r * y).var(ddof=1) / y.mean() ** 2, x.size)
    (ra, va, na), (rb, vb, nb) = v["a"], v["b"]
    se = math.sqrt(va / na + vb / nb)
    df = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    q = stats.t.ppf(0.975, df)
    assert (c.mean_a, c.mean_b) == pytest.approx((ra, rb))
    assert c.diff_ci == pytest.approx((rb - ra - q * se, rb - ra + q * se), rel=1e-9)
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(rb - ra) / se, df), rel=1e-9)
    lift_se = math.sqrt(vb / (ra**2 * nb) + rb**2 * va / (ra**4 * na))
    assert c.lift_ci == pytest.approx((rb / ra - 1 - q * lift_se, rb / ra - 1 + q * lift_se))


def test_ratio_degenerate_inputs_are_data() -> None:
    assert ratio_metric([], [], [1.0, 2.0], [3.0, 4.0]).error == "empty_arm"
    assert ratio_metric([1.0, 1.0], [0.0, 0.0], [1.0, 2.0], [3.0, 4.0]).error == (
        "zero_denominator"
    )
    assert ratio_metric([1.0], [2.0], [1.0, 2.0], [3.0, 4.0]).error == "too_few_units"
    flat = ratio_metric([1.0, 2.0], [10.0, 20.0], [1.0, 3.0], [10.0, 30.0])
    assert flat.error == "zero_variance"
    assert flat.diff == 0
    with pytest.raises(LivekitError, match="一一对应"):
        ratio_metric([1.0, 2.0], [1.0], [1.0], [1.0])


# ---- session-randomized experiments ----------------------------------------------------------------
def visit_rows(n_sessions: dict[str, int], seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    room = 0
    for arm, k in n_sessions.items():
        for _ in range(k):
            room += 1
            visits = int(rng.integers(50, 300))
            p = (0.06 if arm == "A" else 0.08) * float(rng.lognormal(0.0, 0.2))
            frames.append(
                pl.DataFrame(
                    {
                        "room_id": [room] * visits,
                        "arm": [arm] * visits,
                        "clicked": rng.random(visits) < p,
                        "gmv": rng.gamma(1.0, 30.0, visits),
                    }
                )
            )
    return pl.concat(frames)


def test_compare_sessions_aggregates_to_the_randomized_unit() -> None:
    rows = visit_rows({"A": 12, "B": 13})
    rows = pl.concat([rows, rows.head(5).with_columns(arm=pl.lit(None, pl.String))])
    c = compare_sessions(rows, numerator="clicked", unit="room_id", variant="arm")
    per = (
        rows.filter(pl.col("arm").is_not_null())
        .group_by("room_id", "arm")
        .agg(clicks=pl.col("clicked").sum(), visits=pl.len())
        .sort("room_id")
    )
    a, b = per.filter(pl.col("arm") == "A"), per.filter(pl.col("arm") == "B")
    ref = ratio_metric(a["clicks"], a["visits"], b["clicks"], b["visits"], method="jackknife")
    assert (c.n_a, c.n_b) == (12, 13)
    assert c.method.startswith("session-jackknife")
    assert c.lift_ci == pytest.approx(ref.lift_ci)
    assert c.diff_ci == pytest.approx(ref.diff_ci)
    assert c.p_value == pytest.approx(ref.p_value)
    assert c.warnings == ()
    # the delta method stays available by name, and is ratio_metric's default
    delta = compare_sessions(rows, numerator="clicked", variant="arm", method="delta")
    ref = ratio_metric(a["clicks"], a["visits"], b["clicks"], b["visits"])
    assert "delta-method" in delta.method
    assert (*delta.lift_ci, delta.p_value) == pytest.approx((*ref.lift_ci, ref.p_value))
    gmv = compare_sessions(
        rows, numerator="gmv", denominator=pl.lit(1), unit="room_id", variant="arm"
    )
    assert gmv.mean_a == pytest.approx(rows.filter(pl.col("arm") == "A")["gmv"].mean())


def test_compare_sessions_warns_with_few_units() -> None:
    c = compare_sessions(visit_rows({"A": 4, "B": 6}), numerator="clicked", variant="arm")
    assert c.error is None
    assert len(c.warnings) == 1
    assert "A 组 4 个" in c.warnings[0]
    assert "至少 10 个" in c.warnings[0]


def jackknife_by_hand(
    xa: npt.NDArray[np.float64],
    ya: npt.NDArray[np.float64],
    xb: npt.NDArray[np.float64],
    yb: npt.NDArray[np.float64],
) -> dict[str, float]:
    """Tukey's pseudo-values, one deleted unit at a time with np.delete, per arm."""
    out: dict[str, float] = {}
    for arm, (x, y) in {"a": (xa, ya), "b": (xb, yb)}.items():
        n = x.size
        full = x.sum() / y.sum()
        loo = np.array([np.delete(x, i).sum() / np.delete(y, i).sum() for i in range(n)])
        for scale, f in (("lin", lambda r: r), ("log", np.log)):
            pseudo = n * f(full) - (n - 1) * f(loo)  # Tukey (1958) pseudo-values
            out[f"var_{scale}_{arm}"] = float(pseudo.var(ddof=1) / n)
        out[f"r_{arm}"] = float(full)
    return out


def test_session_jackknife_by_hand() -> None:
    xa, ya = sessions(21, 9, 0.06)
    xb, yb = sessions(22, 12, 0.07)
    c = ratio_metric(xa, ya, xb, yb, method="jackknife")
    h = jackknife_by_hand(xa, ya, xb, yb)
    ra, rb = h["r_a"], h["r_b"]
    df = min(xa.size, xb.size) - 1  # 8
    q = stats.t.ppf(0.975, df)
    se_diff = math.sqrt(h["var_lin_a"] + h["var_lin_b"])
    se_log = math.sqrt(h["var_log_a"] + h["var_log_b"])
    log_ratio = math.log(rb / ra)
    assert c.df == df
    assert (c.mean_a, c.mean_b, c.lift) == pytest.approx((ra, rb, rb / ra - 1))
    assert c.diff_ci == pytest.approx((rb - ra - q * se_diff, rb - ra + q * se_diff), rel=1e-9)
    assert c.lift_ci == pytest.approx(
        (math.exp(log_ratio - q * se_log) - 1, math.exp(log_ratio + q * se_log) - 1), rel=1e-9
    )
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(log_ratio) / se_log, df), rel=1e-9)
    # the lift interval and the p-value agree: 0 is outside exactly when p < alpha
    assert c.significant == (not c.lift_ci[0] <= 0.0 <= c.lift_ci[1])
    # the delta method on the same units is narrower (and on more df): the point of the change
    d = ratio_metric(xa, ya, xb, yb)
    assert d.df > c.df
    assert d.lift_ci[1] - d.lift_ci[0] < c.lift_ci[1] - c.lift_ci[0]


def test_session_jackknife_of_a_mean_is_welchs_standard_error() -> None:
    """With every denominator 1 the ratio is a mean, and the jackknife variance of a mean is
    s²/n exactly (Quenouille 1956; Efron & Stein 1981): the difference interval is Welch's
    standard error with a t quantile on min(n) - 1 df."""
    rng = np.random.default_rng(5)
    a, b = rng.gamma(2.0, 50.0, 7), rng.gamma(2.4, 50.0, 11)
    c = ratio_metric(a, np.ones(a.size), b, np.ones(b.size), method="jackknife")
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    half = stats.t.ppf(0.975, 6) * se
    diff = b.mean() - a.mean()
    assert c.diff_ci == pytest.approx((diff - half, diff + half), rel=1e-9)


def _simulated_coverage(k: int, reps: int, seed: int) -> dict[str, float]:
    """Coverage of the 95% lift interval over simulated switchbacks with k sessions per arm.

    Sessions have log-normal traffic (a few big shows dominate Σ visits) and a log-normal
    session effect on the click rate; arm B multiplies the rate by 1.2, so the true lift of
    Σ clicks / Σ visits is 0.2.
    """
    rng = np.random.default_rng(seed)
    hits = {"jackknife": 0, "delta": 0}
    for _ in range(reps):
        arrays = []
        for mult in (1.0, 1.2):
            visits = np.round(rng.lognormal(7.0, 1.0, k)) + 1.0
            p = np.minimum(0.05 * mult * rng.lognormal(0.0, 0.25, k), 1.0)
            arrays += [rng.binomial(visits.astype(np.int64), p).astype(np.float64), visits]
        for method in hits:
            c = ratio_metric(*arrays, method=method)  # type: ignore[arg-type]
            hits[method] += c.lift_ci[0] <= 0.2 <= c.lift_ci[1]
    return {m: h / reps for m, h in hits.items()}


def test_session_jackknife_holds_its_level_with_few_sessions() -> None:
    """The property the jackknife is for: ~95% coverage with 8 sessions per arm, where the
    large-sample delta method covers far less (1000 worlds: binomial s.e. 0.7 points)."""
    cover = _simulated_coverage(k=8, reps=1000, seed=11)
    assert 0.93 <= cover["jackknife"] <= 0.97, cover
    assert cover["delta"] < 0.91, cover


def test_session_jackknife_with_very_few_sessions() -> None:
    two = compare_sessions(visit_rows({"A": 2, "B": 2}, seed=3), numerator="clicked", variant="arm")
    assert two.error is None
    assert two.df == 1  # min(2, 2) - 1: a t quantile of 12.7, honestly wide
    assert len(two.warnings) == 1
    assert "A 组 2 个" in two.warnings[0]
    assert two.lift_ci[0] < two.lift < two.lift_ci[1]
    twelve = compare_sessions(
        visit_rows({"A": 12, "B": 12}, seed=3), numerator="clicked", variant="arm"
    )
    assert two.lift_ci[1] - two.lift_ci[0] > 3 * (twelve.lift_ci[1] - twelve.lift_ci[0])
    one = compare_sessions(visit_rows({"A": 1, "B": 3}), numerator="clicked", variant="arm")
    assert one.error == "too_few_units"
    assert math.isnan(one.lift_ci[0])
    assert math.isnan(one.p_value)
    assert one.mean_a > 0  # the point estimates are still reported


def test_session_jackknife_degenerate_inputs() -> None:
    x, y = np.array([3.0, 5.0, 4.0]), np.array([100.0, 120.0, 90.0])
    # B's events all in one session: log scale undefined, linear fallback with a warning
    c = ratio_metric(x, y, [0.0, 9.0, 0.0], y, method="jackknife")
    assert c.error is None
    assert len(c.warnings) == 1
    assert "线性尺度" in c.warnings[0]
    assert c.lift_ci[0] < c.lift < c.lift_ci[1]
    se_diff = (c.diff_ci[1] - c.diff) / stats.t.ppf(0.975, 2)  # df = min(3, 3) - 1
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(c.diff) / se_diff, 2))  # by the diff
    # no events at all in B, or every control event in one session: no lift interval
    for c in (
        ratio_metric(x, y, np.zeros(3), y, method="jackknife"),
        ratio_metric([0.0, 7.0, 0.0], y, x, y, method="jackknife"),
    ):
        assert math.isnan(c.lift_ci[0]), c
        assert not math.isnan(c.diff_ci[0]), c
        assert len(c.warnings) == 1
        assert "无法估计" in c.warnings[0]
    # one unit carries every denominator: no leave-one-out ratio for it
    assert ratio_metric(x, [0.0, 50.0, 0.0], x, y, method="jackknife").error == "too_few_units"
    flat = ratio_metric([1.0, 2.0], [10.0, 20.0], [1.0, 3.0], [10.0, 30.0], method="jackknife")
    assert flat.error == "zero_variance"
    zero = ratio_metric(np.zeros(3), y, x, y, method="jackknife")
    assert zero.error == "zero_baseline"
    assert math.isnan(zero.lift_ci[0])
    assert not math.isnan(zero.p_value)
    with pytest.raises(LivekitError, match="jackknife"):
        ratio_metric(x, y, x, y, method="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(LivekitError, match="jackknife"):
        compare_sessions(
            visit_rows({"A": 3, "B": 3}), numerator="clicked", variant="arm", method="x"
        )  # type: ignore[arg-type]


def test_compare_sessions_rejects_a_unit_in_both_arms() -> None:
    rows = visit_rows({"A": 3, "B": 3})
    mixed = rows.with_columns(
        arm=pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("A")).otherwise(pl.lit("B"))
    )
    with pytest.raises(LivekitError, match="不是随机化单元"):
        compare_sessions(mixed, numerator="clicked", variant="arm")
    with pytest.raises(LivekitError, match="需要列"):
        compare_sessions(rows, numerator="clicked")  # no "variant" column


# ---- SRM, sample size, multiplicity ----------------------------------------------------------------
def test_srm_is_pearson_goodness_of_fit() -> None:
    r = srm([10_000, 10_500], [0.5, 0.5])
    ref = stats.chisquare([10_000, 10_500], [10_250, 10_250])
    assert r.statistic == pytest.approx(ref.statistic)
    assert r.p_value == pytest.approx(ref.pvalue)
    assert r.p_value < 0.001
    assert r.warning
    ok = srm([5020, 4980], [1, 1])
    assert ok.p_value > 0.001
    assert not ok.warning
    uneven = srm([2000, 8100], [0.2, 0.8])
    assert uneven.expected == pytest.approx((2020.0, 8080.0))
    assert uneven.p_value == pytest.approx(stats.chisquare([2000, 8100], [2020, 8080]).pvalue)
    empty = srm([0, 0], [1, 1])
    assert empty.error == "empty_arm"
    assert not empty.warning
    with pytest.raises(LivekitError):
        srm([1, 2, 3], [1, 1])


def cohen_ps(h: float) -> tuple[float, float]:
    """(p_a, p_b) with Cohen's h = 2 asin(sqrt(p_b)) - 2 asin(sqrt(p_a)) exactly h."""
    return 0.5, math.sin(math.pi / 4 + h / 2) ** 2


@pytest.mark.parametrize(
    ("h", "cohen_n"),
    # Cohen (1988), Statistical Power Analysis, Table 6.4.1: a2 = .05, power .80
    [(0.1, 1570), (0.2, 392), (0.3, 174), (0.5, 63), (0.8, 25)],
)
def test_sample_size_matches_cohen_tables(h: float, cohen_n: int) -> None:
    p_a, p_b = cohen_ps(h)
    n = sample_size(p_a, p_b, alpha=0.05, power=0.8)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert n == math.ceil(2 * (z / h) ** 2 - 1e-6)  # normal approximation, rounded up
    assert abs(n - cohen_n) <= 1  # Cohen rounds to the nearest unit


def test_sample_size_for_a_conversion_lift() -> None:
    n = sample_size(0.025, 0.025 * 1.15)
    assert 25_000 < n < 35_000
    assert sample_size(0.025 * 1.15, 0.025) == n  # symmetric in direction
    with pytest.raises(LivekitError, match="相同"):
        sample_size(0.1, 0.1)
    with pytest.raises(LivekitError, match="p_a"):
        sample_size(0.0, 0.1)


def test_adjust_pvalues_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> running max 0.02, 0.03, 0.06, 0.06
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: 0.04*4/4, 0.03*4/3, 0.01*4/2, 0.005*4/1 -> running min from the top
    assert adjust_pvalues(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_pvalues([], "bh") == []
    assert adjust_pvalues([0.5], "holm") == [0.5]


def test_adjust_pvalues_is_not_holm_sidak() -> None:
    p = [0.01, 0.02, 0.03]
    sidak_first = 1 - (1 - 0.01) ** 3
    assert adjust_pvalues(p, "holm")[0] == pytest.approx(0.03)
    assert adjust_pvalues(p, "holm")[0] != pytest.approx(sidak_first)


def test_adjust_pvalues_rejects_unknown_methods_and_bad_values() -> None:
    with pytest.raises(LivekitError, match="holm"):
        adjust_pvalues([0.1], "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(LivekitError, match="0 与 1"):
        adjust_pvalues([0.1, 1.2], "bh")


def test_one_unit_in_an_arm_leaves_the_lift_interval_undefined_not_a_crash() -> None:
    """Welch's df needs two units per arm; with one, the lift interval is undefined (NaN) while
    the pooled z-test and the difference interval (statsmodels) still stand."""
    from statsmodels.stats.proportion import proportions_ztest

    got = compare_proportions(1, 1, 0, 5)
    assert math.isnan(got.df)
    assert all(math.isnan(v) for v in got.lift_ci)
    _, p = proportions_ztest([0, 1], [5, 1])
    assert got.p_value == pytest.approx(p)
