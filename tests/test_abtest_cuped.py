"""CUPED (regression adjustment) in compare_means: agreement with GrowthBook, an independent
numpy computation, and the variance reduction a correlated covariate buys.

Reference numbers come from GrowthBook's own tests (gbstats, ``packages/stats/tests``):
``test_gbstats.py`` (``TestAnalyzeMetricDfRegressionAdjustment.test_analyze_metric_df_ra``,
``TestThreeArmedCuped``) and ``frequentist/test_tests.py``
(``TestSequentialTTest.test_sequential_test_runs_ra``). They give sufficient statistics (n,
sums, sums of squares, sum of products); ``_arm`` builds per-unit values with exactly those
statistics so that they can enter the public ``compare_means``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import livekit.analysis as la
from livekit.analysis.abtest import Comparison
from livekit.vocab.errors import LivekitError

REL = 1e-3


def _arm(
    n: int, total: float, sum_squares: float, cov_total: float, cov_squares: float, xp: float
) -> tuple[np.ndarray, np.ndarray]:
    """Outcome y and covariate x of n units with exactly these sums, sums of squares and
    Σ x·y (two orthonormal directions orthogonal to the constant vector)."""
    rng = np.random.default_rng(n)
    m = rng.standard_normal((n, 2))
    m -= m.mean(axis=0)
    q, _ = np.linalg.qr(m)
    u, v = q[:, 0], q[:, 1]
    ym, xm = total / n, cov_total / n
    syy, sxx = sum_squares - n * ym**2, cov_squares - n * xm**2
    r = (xp - n * xm * ym) / math.sqrt(syy * sxx)
    y = ym + math.sqrt(syy) * u
    x = xm + math.sqrt(sxx) * (r * u + math.sqrt(1 - r * r) * v)
    return y, x


# GrowthBook's RA_STATISTICS_DF / THREE_ARMED_CUPED_DF: (n, Σy, Σy², Σx, Σx², Σxy)
ZERO = (3001, 300.0, 600.0, 210.0, 415.0, -20.0)  # control
ONE = (3000, 222.0, 555.0, 120.0, 405.0, -10.0)
TWO = (4000, 450.0, 900.0, 300.0, 600.0, -30.0)


# ---- agreement with GrowthBook's published cases ---------------------------------------------------
def test_growthbook_regression_adjusted_case() -> None:
    ya, xa = _arm(*ZERO)
    yb, xb = _arm(*ONE)
    r = la.compare_means(ya, yb, covariate_a=xa, covariate_b=xb)
    assert r.error is None
    assert r.mean_a == pytest.approx(0.099966678, rel=REL)  # reported unadjusted
    assert r.mean_b == pytest.approx(0.074, rel=REL)
    assert r.lift == pytest.approx(-0.281707154, rel=REL)
    assert r.p_value == pytest.approx(0.003732549, rel=REL)
    # the adjusted lift is not the plain one (GrowthBook's own check)
    plain = la.compare_means(ya, yb)
    assert abs(r.lift - plain.lift) > 1e-3
    assert "CUPED" in r.method


def test_growthbook_three_armed_adjusted_stddevs() -> None:
    # TestThreeArmedCuped: with theta from "zero" vs "two", the adjusted per-unit standard
    # deviations are 0.434288923 (zero) and 0.458953951 (two); they make the difference's se.
    ya, xa = _arm(*ZERO)
    yb, xb = _arm(*TWO)
    r = la.compare_means(ya, yb, covariate_a=xa, covariate_b=xb)
    se = math.sqrt(0.434288923**2 / 3001 + 0.458953951**2 / 4000)
    half = (r.diff_ci[1] - r.diff_ci[0]) / 2
    assert half / stats.t.ppf(0.975, r.df) == pytest.approx(se, rel=REL)


def test_growthbook_sequential_regression_adjusted_case() -> None:
    # test_sequential_test_runs_ra: default N* = 5000
    ya, xa = _arm(3000, 1396.87, 52377.9767, 16.87, 527.9767, 1.0)
    yb, xb = _arm(3461, 2422.7, 134698.29, 22.7, 1348.29, 1.0)
    r = la.compare_means(ya, yb, covariate_a=xa, covariate_b=xb, sequential=True)
    assert r.lift == pytest.approx(0.50338, rel=REL)
    assert r.lift_ci[0] == pytest.approx(-0.50969, rel=REL)
    assert r.lift_ci[1] == pytest.approx(1.51646, rel=REL)
    assert r.p_value == 1.0
    assert "sequential" in r.method
    assert "CUPED" in r.method


# ---- agreement with an independent numpy computation -----------------------------------------------
def _viewers(n: int, rho: float, lift: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    out = []
    for arm_lift in (0.0, lift):
        x = rng.standard_normal(n)
        e = rng.standard_normal(n)
        y = 10.0 * (1 + arm_lift) + 3.0 * (rho * x + math.sqrt(1 - rho**2) * e)
        out += [y, 5.0 + 2.0 * x]
    return tuple(out)


@pytest.mark.parametrize(("rho", "seed"), [(0.7, 1), (0.3, 2), (-0.5, 3)])
def test_matches_numpy_reference(rho: float, seed: int) -> None:
    ya, xa, yb, xb = _viewers(1500, rho, 0.03, seed)
    r = la.compare_means(ya, yb, covariate_a=xa, covariate_b=xb)
    # theta: least-squares slope of y on x over both arms together
    theta = np.polyfit(np.concatenate([xa, xb]), np.concatenate([ya, yb]), 1)[0]
    assert r.theta == pytest.approx(theta, rel=1e-9)
    # adjusted values y - theta x: their Welch comparison gives the difference and its interval
    adj_a, adj_b = ya - theta * xa, yb - theta * xb
    welch = stats.ttest_ind(adj_b, adj_a, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert r.diff == pytest.approx(adj_b.mean() - adj_a.mean(), rel=1e-9)
    assert r.diff_ci == pytest.approx((ci.low, ci.high), rel=1e-9)
    # lift variance: gradient of (m_B - m_A) / ȳ_A (x̄_A ≈ x̄_B) with each arm's covariance
    ma = ya.mean()
    grad_a = np.array([-yb.mean() / ma**2, theta / ma])  # w.r.t. (ȳ_A, x̄_A)
    grad_b = np.array([1 / ma, -theta / ma])  # w.r.t. (ȳ_B, x̄_B)
    var = grad_a @ np.cov(ya, xa) @ grad_a / ya.size + grad_b @ np.cov(yb, xb) @ grad_b / yb.size
    lift = (adj_b.mean() - adj_a.mean()) / ma
    q = stats.t.ppf(0.975, welch.df)
    assert r.lift == pytest.approx(lift, rel=REL)
    assert r.lift_ci == pytest.approx((lift - q * var**0.5, lift + q * var**0.5), rel=REL)
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(lift) / var**0.5, welch.df), rel=REL)
    plain = la.compare_means(ya, yb)
    plain_se = (plain.lift_ci[1] - plain.lift_ci[0]) / 2 / stats.t.ppf(0.975, plain.df)
    assert r.variance_reduction == pytest.approx(1 - var / plain_se**2, rel=REL)


# ---- what CUPED buys ------------------------------------------------------------------------------
def _width(r: Comparison) -> float:
    return float(r.lift_ci[1] - r.lift_ci[0])


def test_uncorrelated_covariate_changes_little() -> None:
    ya, xa, yb, xb = _viewers(5000, 0.0, 0.02, 7)
    r = la.compare_means(ya, yb, covariate_a=xa, covariate_b=xb)
    plain = la.compare_means(ya, yb)
    assert _width(r) / _width(plain) == pytest.approx(1.0, abs=0.01)
    assert abs(r.variance_reduction) < 0.01


@pytest.mark.parametrize("rho", [0.6, 0.8, 0.95])
def test_correlated_covariate_narrows_by_sqrt_one_minus_rho2(rho: float) -> None:
    ya, xa, yb, xb = _viewers(5000, rho, 0.02, 11)
    r = la.compare_means(ya, yb, covariate_a=xa, covariate_b=xb)
    plain = la.compare_means(ya, yb)
    assert _width(r) / _width(plain) == pytest.approx(math.sqrt(1 - rho**2), rel=0.05)
    assert r.variance_reduction == pytest.approx(rho**2, abs=0.03)
    seq = la.compare_means(ya, yb, covariate_a=xa, covariate_b=xb, sequential=True)
    seq_plain = la.compare_means(ya, yb, sequential=True)
    assert _width(seq) / _width(seq_plain) == pytest.approx(math.sqrt(1 - rho**2), rel=0.05)


# ---- no covariate: unchanged; misuse and degenerate input --------------------------------------------
def test_without_covariates_nothing_changes() -> None:
    ya, _, yb, _ = _viewers(200, 0.5, 0.1, 3)
    r = la.compare_means(ya, yb)
    assert r == la.compare_means(ya, yb, covariate_a=None, covariate_b=None)
    assert math.isnan(r.theta)
    assert math.isnan(r.variance_reduction)
    assert "CUPED" not in r.method
    welch = stats.ttest_ind(yb, ya, equal_var=False)
    assert r.p_value == pytest.approx(welch.pvalue, rel=1e-12)


def test_constant_covariate_falls_back_to_plain_like_growthbook() -> None:
    ya, _, yb, _ = _viewers(300, 0.5, 0.1, 4)
    r = la.compare_means(ya, yb, covariate_a=np.ones(300), covariate_b=np.ones(300))
    plain = la.compare_means(ya, yb)
    assert r.theta == 0.0
    assert r.variance_reduction == 0.0
    assert (r.lift, r.lift_ci, r.p_value, r.diff_ci) == (
        plain.lift,
        plain.lift_ci,
        plain.p_value,
        plain.diff_ci,
    )
    assert r.warnings
    assert "CUPED" in r.warnings[-1]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"covariate_a": np.ones(50)}, "covariate_b"),
        ({"covariate_b": np.ones(50)}, "covariate_a"),
        ({"covariate_a": np.ones(49), "covariate_b": np.ones(50)}, "长度"),
        ({"covariate_a": [1.0] * 49 + [float("nan")], "covariate_b": np.ones(50)}, "NaN"),
    ],
)
def test_misuse_is_a_chinese_error(kwargs: dict[str, object], fragment: str) -> None:
    ya, _, yb, _ = _viewers(50, 0.5, 0.1, 5)
    with pytest.raises(LivekitError, match=fragment) as info:
        la.compare_means(ya, yb, **kwargs)  # type: ignore[arg-type]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(info.value))


def test_degenerate_arms_are_data() -> None:
    r = la.compare_means([1.0], [2.0, 3.0], covariate_a=[1.0], covariate_b=[1.0, 2.0])
    assert r.error == "too_few_units"
    assert math.isnan(r.p_value)
    r = la.compare_means(
        [0.0, 0.0, 0.0], [1.0, 2.0, 4.0], covariate_a=[1.0, 2.0, 3.0], covariate_b=[2.0, 1.0, 5.0]
    )
    assert r.error == "zero_baseline"
    assert math.isnan(r.lift)
