"""Bayesian A/B comparisons against GrowthBook's published cases and independent integration.

Reference numbers are written in. Those marked "scipy quad" were computed once, outside the
project, by numerically integrating the normal posterior N(lift, v) whose moments were worked
out by hand (delta-method variance of the relative lift; conjugate normal update for a proper
prior); :func:`quad_reference` repeats that integration at test time from the raw counts.
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import polars as pl
import pytest
from scipy import integrate, stats

import livekit.analysis as la
from livekit.analysis.bayes import BayesianComparison, Prior, bayesian_means, bayesian_proportions
from livekit.vocab.errors import LivekitError

REL = 1e-3


def two_point(mean: float, variance: float, n: int) -> list[float]:
    """n (even) values with exactly this mean and n - 1 sample variance."""
    d = math.sqrt(variance * (n - 1) / n)
    return [mean + d] * (n // 2) + [mean - d] * (n // 2)


def quad_reference(
    ma: float,
    va: float,
    na: int,
    mb: float,
    vb: float,
    nb: int,
    prior: tuple[float, float] | None = None,
) -> tuple[float, float, float]:
    """Chance to win and both risks by numerical integration of the normal posterior."""
    mu = mb / ma - 1.0
    v = vb / (ma**2 * nb) + mb**2 * va / (ma**4 * na)
    if prior is not None:
        m0, t2 = prior
        prec = 1.0 / v + 1.0 / t2
        mu, v = (mu / v + m0 / t2) / prec, 1.0 / prec
    sd = math.sqrt(v)

    def pdf(x: float) -> float:
        return float(stats.norm.pdf(x, mu, sd))

    opts = {"epsabs": 1e-14, "epsrel": 1e-12}
    ctw = integrate.quad(pdf, 0.0, np.inf, **opts)[0]
    risk_a = integrate.quad(lambda x: x * pdf(x), 0.0, np.inf, **opts)[0]
    risk_b = integrate.quad(lambda x: -x * pdf(x), -np.inf, 0.0, **opts)[0]
    return ctw, risk_a, risk_b


# ---- GrowthBook's own cases (gbstats tests/bayesian/test_tests.py, EffectBayesianABTest) ------
# Published rounded to 5 decimals, so compared to half a unit in the fifth decimal.
GB_TOL = 5.1e-6


def test_growthbook_binomial_case() -> None:
    r = bayesian_proportions(49, 100, 51, 100)
    assert r.lift == pytest.approx(0.04082, abs=GB_TOL)
    assert r.lift_sd == pytest.approx(0.14725, abs=GB_TOL)
    assert r.lift_ci[0] == pytest.approx(-0.24779, abs=GB_TOL)
    assert r.lift_ci[1] == pytest.approx(0.32943, abs=GB_TOL)
    assert r.chance_to_win == pytest.approx(0.60918, abs=GB_TOL)
    assert r.risk_a == pytest.approx(0.0814, abs=GB_TOL)
    assert r.risk_b == pytest.approx(0.04058, abs=GB_TOL)
    assert r.prior is None
    assert r.error is None


def gaussian_case() -> tuple[list[float], list[float]]:
    # gbstats' SampleMeanStatistic(n=10, sum=100, sum_squares=1002.25) and
    # (n=10, sum=105, sum_squares=1111.5): means 10 and 10.5, variances 0.25 and 1
    return two_point(10.0, 0.25, 10), two_point(10.5, 1.0, 10)


def test_growthbook_gaussian_case() -> None:
    a, b = gaussian_case()
    r = bayesian_means(a, b)
    assert r.lift == pytest.approx(0.05, abs=GB_TOL)
    assert r.lift_sd == pytest.approx(0.03572, abs=GB_TOL)
    assert r.lift_ci[0] == pytest.approx(-0.02, abs=GB_TOL)
    assert r.lift_ci[1] == pytest.approx(0.12, abs=GB_TOL)
    assert r.chance_to_win == pytest.approx(0.91923, abs=GB_TOL)
    assert r.risk_a == pytest.approx(0.05131, abs=GB_TOL)
    assert r.risk_b == pytest.approx(0.00131, abs=GB_TOL)


def test_growthbook_gaussian_case_with_proper_prior() -> None:
    a, b = gaussian_case()
    r = bayesian_means(a, b, prior=Prior(mean=0.1, variance=0.1))
    assert r.lift == pytest.approx(0.05063, abs=GB_TOL)
    assert r.lift_sd == pytest.approx(0.03549, abs=GB_TOL)
    assert r.lift_ci[0] == pytest.approx(-0.01893, abs=GB_TOL)
    assert r.lift_ci[1] == pytest.approx(0.12019, abs=GB_TOL)
    assert r.chance_to_win == pytest.approx(0.92315, abs=GB_TOL)
    assert r.risk_a == pytest.approx(0.05186, abs=GB_TOL)
    assert r.risk_b == pytest.approx(0.00123, abs=GB_TOL)
    assert r.prior == Prior(0.1, 0.1)


# ---- independent numerical integration (scipy quad), written in ----------------------------------
def test_proportions_against_integration() -> None:
    r = bayesian_proportions(480, 5000, 551, 5100)
    # scipy quad
    assert r.lift == pytest.approx(0.12540849673202614, rel=REL)
    assert r.lift_sd == pytest.approx(0.06660038677176396, rel=REL)
    assert r.chance_to_win == pytest.approx(0.9701497839107466, rel=REL)
    assert r.risk_a == pytest.approx(0.1261778731214696, rel=REL)
    assert r.risk_b == pytest.approx(0.0007693763894434385, rel=REL)
    assert r.lift_ci[0] == pytest.approx(-0.005125862697069078, rel=REL)
    assert r.lift_ci[1] == pytest.approx(0.25594285616112133, rel=REL)
    # and the same integration repeated now from the raw counts
    pa, pb = 480 / 5000, 551 / 5100
    ref = quad_reference(pa, pa * (1 - pa), 5000, pb, pb * (1 - pb), 5100)
    assert (r.chance_to_win, r.risk_a, r.risk_b) == pytest.approx(ref, rel=REL)


def test_proper_prior_against_integration() -> None:
    r = bayesian_proportions(480, 5000, 551, 5100, prior=Prior(0.0, 0.05**2))
    # scipy quad
    assert r.lift == pytest.approx(0.04520455636963924, rel=REL)
    assert r.lift_sd == pytest.approx(0.03998566986867019, rel=REL)
    assert r.chance_to_win == pytest.approx(0.8708711849393082, rel=REL)
    assert r.risk_a == pytest.approx(0.047786808891631824, rel=REL)
    assert r.risk_b == pytest.approx(0.002582252521992569, rel=REL)
    assert r.lift_ci[0] == pytest.approx(-0.03316591647066279, rel=REL)
    assert r.lift_ci[1] == pytest.approx(0.12357502920994125, rel=REL)


def test_means_against_integration() -> None:
    a = [3, 5, 2, 8, 6, 4, 7, 5]
    b = [6, 4, 9, 7, 8, 5, 6, 10]
    for aa, bb in ((a, b), (np.array(a), np.array(b)), (pl.Series(a), pl.Series(b))):
        r = bayesian_means(aa, bb)
        # scipy quad
        assert r.lift == pytest.approx(0.375, rel=REL)
        assert r.lift_sd == pytest.approx(0.24173849507267145, rel=REL)
        assert r.chance_to_win == pytest.approx(0.9395806734429093, rel=REL)
        assert r.risk_a == pytest.approx(0.3812967840989201, rel=REL)
        assert r.risk_b == pytest.approx(0.006296784098920058, rel=REL)
        assert r.lift_ci[0] == pytest.approx(-0.09879874401934946, rel=REL)
        assert r.lift_ci[1] == pytest.approx(0.8487987440193494, rel=REL)
    xa, xb = np.array(a, float), np.array(b, float)
    ref = quad_reference(xa.mean(), xa.var(ddof=1), xa.size, xb.mean(), xb.var(ddof=1), xb.size)
    assert (r.chance_to_win, r.risk_a, r.risk_b) == pytest.approx(ref, rel=REL)


def test_credible_interval_level_follows_alpha() -> None:
    wide = bayesian_proportions(480, 5000, 551, 5100)
    narrow = bayesian_proportions(480, 5000, 551, 5100, alpha=0.2)
    z80, z95 = stats.norm.ppf(0.9), stats.norm.ppf(0.975)
    half = narrow.lift_ci[1] - narrow.lift
    assert half == pytest.approx((wide.lift_ci[1] - wide.lift) * z80 / z95, rel=1e-9)
    assert narrow.chance_to_win == wide.chance_to_win


# ---- properties ----------------------------------------------------------------------------------
def test_identical_arms_are_a_coin_flip() -> None:
    r = bayesian_proportions(300, 3000, 300, 3000)
    assert r.chance_to_win == pytest.approx(0.5, abs=1e-12)
    assert r.risk_a == pytest.approx(r.risk_b, rel=1e-12)
    assert r.risk_a > 0


def test_swapping_arms_swaps_chance_to_win_and_risks() -> None:
    # exact on the relative scale: swapping moves the baseline, so the posterior z of the
    # swapped lift is -(m_B / m_A) times the original one and its sd is (m_A / m_B)² times it
    r = bayesian_proportions(480, 5000, 551, 5100)
    s = bayesian_proportions(551, 5100, 480, 5000)
    ratio = r.mean_b / r.mean_a
    z = stats.norm.ppf(r.chance_to_win)
    assert s.chance_to_win == pytest.approx(stats.norm.cdf(-ratio * z), rel=1e-9)
    assert s.lift_sd == pytest.approx(r.lift_sd / ratio**2, rel=1e-9)
    assert r.chance_to_win > 0.5 > s.chance_to_win
    assert r.risk_a > r.risk_b
    assert s.risk_b > s.risk_a
    # and for a small lift, approximately the plain swap
    r = bayesian_proportions(10000, 100000, 10080, 100000)
    s = bayesian_proportions(10080, 100000, 10000, 100000)
    assert s.chance_to_win == pytest.approx(1.0 - r.chance_to_win, abs=0.01)
    assert s.risk_a == pytest.approx(r.risk_b, rel=0.03)
    assert s.risk_b == pytest.approx(r.risk_a, rel=0.03)


def test_risk_difference_is_the_posterior_mean() -> None:
    # E[max(Δ, 0)] - E[max(-Δ, 0)] = E[Δ]
    for r in (
        bayesian_proportions(49, 100, 51, 100),
        bayesian_proportions(480, 5000, 551, 5100, prior=Prior(-0.02, 0.01)),
        bayesian_means(*gaussian_case()),
    ):
        assert r.risk_a - r.risk_b == pytest.approx(r.lift, rel=1e-9, abs=1e-15)


def test_proper_prior_shrinks_toward_its_mean() -> None:
    flat = bayesian_proportions(480, 5000, 551, 5100)
    previous = flat.lift
    for sd in (0.5, 0.1, 0.05, 0.01, 0.001):
        r = bayesian_proportions(480, 5000, 551, 5100, prior=Prior(0.0, sd**2))
        assert 0.0 < r.lift < previous
        assert r.lift_sd < flat.lift_sd
        previous = r.lift
    assert previous == pytest.approx(0.0, abs=0.001)
    # toward a non-zero mean too, from either side
    toward = bayesian_proportions(480, 5000, 551, 5100, prior=Prior(0.3, 0.05**2))
    assert flat.lift < toward.lift < 0.3
    # a very vague proper prior is the flat one
    vague = bayesian_proportions(480, 5000, 551, 5100, prior=Prior(0.0, 1e8))
    assert vague.chance_to_win == pytest.approx(flat.chance_to_win, rel=1e-9)


def test_degenerate_data_is_returned_as_data() -> None:
    r = bayesian_proportions(0, 100, 5, 100)
    assert r.error == "zero_baseline"
    assert math.isnan(r.chance_to_win)
    assert r.error_message
    assert "对照组" in r.error_message
    assert bayesian_proportions(100, 100, 100, 100).error == "zero_variance"
    assert bayesian_means([1.0], [2.0, 3.0]).error == "too_few_units"
    assert bayesian_means([2.0, 2.0], [3.0, 3.0]).error == "zero_variance"
    assert bayesian_means([-1.0, 1.0], [2.0, 3.0]).error == "zero_baseline"


def test_input_errors_are_chinese() -> None:
    for args in ((-1, 10, 1, 10), (11, 10, 1, 10), (1, 10, 1, 0), (1, 0, 1, 10), (1.5, 10, 1, 10)):
        with pytest.raises(LivekitError, match="计数无效") as err:
            bayesian_proportions(*args)  # type: ignore[arg-type]
        assert "\n" not in str(err.value)
    with pytest.raises(LivekitError, match="B 组没有数据"):
        bayesian_means([1.0, 2.0], [])
    with pytest.raises(LivekitError, match="A 组没有数据"):
        bayesian_means(pl.Series([], dtype=pl.Float64), [1.0, 2.0])
    with pytest.raises(LivekitError, match="空值"):
        bayesian_means([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(LivekitError, match="先验方差"):
        Prior(0.0, 0.0)
    with pytest.raises(LivekitError, match="先验方差"):
        Prior(0.0, -1.0)
    with pytest.raises(LivekitError, match="先验均值"):
        Prior(float("inf"), 1.0)
    with pytest.raises(LivekitError, match="先验须为"):
        bayesian_proportions(1, 10, 2, 10, prior=(0.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(LivekitError, match="alpha"):
        bayesian_means([1.0, 2.0], [1.0, 2.0], alpha=1.5)


def test_result_is_frozen_and_exported() -> None:
    r = la.bayesian_proportions(49, 100, 51, 100, prior=la.Prior(0.0, 1.0))
    assert isinstance(r, BayesianComparison)
    with pytest.raises(FrozenInstanceError):
        r.lift = 0.0  # type: ignore[misc]
    assert la.bayesian_means is bayesian_means


def test_numpy_scalars_are_counts() -> None:
    counts = np.array([49, 100, 51, 100], dtype=np.int64)
    r = bayesian_proportions(*(int(c) for c in counts))
    assert bayesian_proportions(*counts) == r
    assert Prior(np.float64(0.1), np.int64(1)).variance == 1
    with pytest.raises(LivekitError, match="计数无效"):
        bayesian_proportions(True, 10, 1, 10)
