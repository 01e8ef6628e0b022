"""Bayesian CUPED: bayesian_means(covariate_a=, covariate_b=) puts GrowthBook's regression-adjusted
relative lift and its variance into the effect model's posterior. Checked against an independent
numpy computation (pooled OLS slope, the delta method written as a gradient and the arms'
covariance matrices, the normal posterior's closed forms and scipy integration)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from livekit.analysis.abtest import compare_means
from livekit.analysis.bayes import Prior, bayesian_means
from livekit.vocab.errors import LivekitError

REL = 1e-9


def sample(seed: int, rho: float, n: int = 800, lift: float = 0.01) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    xa, xb = rng.normal(10.0, 3.0, n), rng.normal(10.0, 3.0, n + 37)
    noise = math.sqrt(1 - rho**2) * 3.0
    ya = 10.0 + rho * (xa - 10.0) + rng.normal(0, noise, xa.size)
    yb = (10.0 + rho * (xb - 10.0) + rng.normal(0, noise, xb.size)) * (1 + lift)
    return ya, xa, yb, xb


def reference(ya: np.ndarray, xa: np.ndarray, yb: np.ndarray, xb: np.ndarray) -> tuple[float, ...]:
    """(theta, lift estimate, its variance) computed independently of livekit."""
    y, x = np.concatenate([ya, yb]), np.concatenate([xa, xb])
    theta = np.polyfit(x, y, 1)[0]  # the pooled OLS slope = Cov(x, y) / Var(x)
    ma, mb = ya.mean(), yb.mean()
    diff = (mb - theta * xb.mean()) - (ma - theta * xa.mean())
    lift = diff / ma
    # delta method: gradient of lift in (ybar_A, xbar_A) and (ybar_B, xbar_B), with
    # xbar_A ~ xbar_B in the control mean's partial derivative (GrowthBook's approximation)
    grad_a = np.array([-mb / ma**2, theta / ma])
    grad_b = np.array([1 / ma, -theta / ma])
    cov_a = np.cov(np.vstack([ya, xa])) / ya.size
    cov_b = np.cov(np.vstack([yb, xb])) / yb.size
    var = float(grad_a @ cov_a @ grad_a + grad_b @ cov_b @ grad_b)
    return float(theta), float(lift), var


@pytest.mark.parametrize(("seed", "rho"), [(1, 0.3), (2, 0.7), (3, 0.9)])
def test_flat_prior_posterior_matches_an_independent_computation(seed: int, rho: float) -> None:
    ya, xa, yb, xb = sample(seed, rho)
    theta, lift, var = reference(ya, xa, yb, xb)
    got = bayesian_means(ya, yb, covariate_a=xa, covariate_b=xb)
    sd = math.sqrt(var)
    assert got.theta == pytest.approx(theta, rel=REL)
    assert got.lift == pytest.approx(lift, rel=REL)
    assert got.lift_sd == pytest.approx(sd, rel=REL)
    q = stats.norm.ppf(0.975)
    assert got.lift_ci == pytest.approx((lift - q * sd, lift + q * sd), rel=REL)

    def pdf(t: float) -> float:
        return float(stats.norm.pdf(t, lift, sd))

    tol = {"epsabs": 1e-14, "epsrel": 1e-12}
    assert got.chance_to_win == pytest.approx(integrate.quad(pdf, 0, np.inf, **tol)[0], rel=1e-6)
    risk_a = integrate.quad(lambda t: t * pdf(t), 0, np.inf, **tol)[0]
    risk_b = integrate.quad(lambda t: -t * pdf(t), -np.inf, 0, **tol)[0]
    assert got.risk_a == pytest.approx(risk_a, rel=1e-6)
    assert got.risk_b == pytest.approx(risk_b, rel=1e-6)
    # the plain posterior's variance shrinks by the reported reduction, about rho^2
    plain = bayesian_means(ya, yb)
    assert got.variance_reduction == pytest.approx(1 - var / plain.lift_sd**2, rel=1e-9)
    assert got.variance_reduction == pytest.approx(rho**2, abs=0.08)
    assert (got.mean_a, got.mean_b) == (plain.mean_a, plain.mean_b)  # observed means


def test_same_estimate_and_variance_as_compare_means_cuped() -> None:
    ya, xa, yb, xb = sample(4, 0.6)
    frequentist = compare_means(ya, yb, covariate_a=xa, covariate_b=xb)
    bayes = bayesian_means(ya, yb, covariate_a=xa, covariate_b=xb)
    assert bayes.lift == pytest.approx(frequentist.lift, rel=1e-12)
    # the frequentist interval is lift +- t(df) sd: the same sd
    t = stats.t.ppf(0.975, frequentist.df)
    sd = (frequentist.lift_ci[1] - frequentist.lift_ci[0]) / (2 * t)
    assert bayes.lift_sd == pytest.approx(sd, rel=1e-9)
    assert bayes.theta == frequentist.theta
    assert bayes.variance_reduction == frequentist.variance_reduction


def test_proper_prior_is_the_conjugate_update_of_the_cuped_likelihood() -> None:
    ya, xa, yb, xb = sample(5, 0.8)
    _, lift, var = reference(ya, xa, yb, xb)
    prior = Prior(0.0, 0.02**2)
    got = bayesian_means(ya, yb, covariate_a=xa, covariate_b=xb, prior=prior)
    precision = 1 / var + 1 / prior.variance
    assert got.lift_sd == pytest.approx(math.sqrt(1 / precision), rel=REL)
    assert got.lift == pytest.approx((lift / var) / precision, rel=REL)
    assert abs(got.lift) < abs(lift)  # shrunk toward the prior mean 0


def test_constant_covariate_falls_back_to_the_plain_posterior() -> None:
    ya, _, yb, _ = sample(6, 0.5)
    got = bayesian_means(ya, yb, covariate_a=np.zeros(ya.size), covariate_b=np.zeros(yb.size))
    plain = bayesian_means(ya, yb)
    assert got.lift == pytest.approx(plain.lift, rel=1e-12)
    assert got.lift_sd == pytest.approx(plain.lift_sd, rel=1e-12)
    assert (got.theta, got.variance_reduction) == (0.0, 0.0)
    assert got.warnings
    assert "CUPED" in got.warnings[0]


def test_degenerate_and_misuse() -> None:
    got = bayesian_means(
        [0.0, 0.0, 0.0], [1.0, 2.0, 3.0], covariate_a=[1, 2, 3], covariate_b=[1, 2, 3]
    )
    assert got.error == "zero_baseline"
    assert math.isnan(got.chance_to_win)
    one = bayesian_means([1.0], [1.0, 2.0], covariate_a=[1.0], covariate_b=[1.0, 2.0])
    assert one.error == "too_few_units"
    with pytest.raises(LivekitError, match="covariate_a 与 covariate_b 须同时给出"):
        bayesian_means([1.0, 2.0], [1.0, 2.0], covariate_a=[1.0, 2.0])
    with pytest.raises(LivekitError, match="协变量须与实验数据逐个单元对应"):
        bayesian_means([1.0, 2.0], [1.0, 2.0], covariate_a=[1.0], covariate_b=[1.0, 2.0])
