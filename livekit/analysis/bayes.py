"""Bayesian A/B comparisons: chance to win, risk and a credible interval for the relative lift.

Follows GrowthBook's Bayesian engine, its "effect" model (github.com/growthbook/growthbook,
``packages/stats/gbstats/bayesian/tests.py``, ``EffectBayesianABTest``; described in
docs.growthbook.io/statistics/details). Re-derived here from the formulas, not copied:

* the data enter only through the estimate of the relative lift ``Δ = m_B / m_A - 1`` and its
  delta-method variance ``v = s_B² / (m_A² n_B) + m_B² s_A² / (m_A⁴ n_A)`` (the same per-unit
  variances as :mod:`livekit.analysis.abtest`: p(1 - p) for a proportion, the n - 1 sample
  variance for a mean), treated as a normal likelihood ``Δ̂ ~ N(Δ, v)``;
* the default prior on Δ is improper and flat, so the posterior is ``N(Δ̂, v)``; a proper prior
  ``N(μ₀, τ²)`` gives the conjugate normal posterior with precision ``1/v + 1/τ²`` and mean
  ``(Δ̂/v + μ₀/τ²) / (1/v + 1/τ²)`` (Gelman et al., Bayesian Data Analysis, 3rd ed., §2.5);
* chance to win is ``P(Δ > 0)``; the credible interval is the central ``1 - alpha`` interval of
  the posterior (normal quantiles, not t);
* risk is the expected loss of a choice, on the relative scale: choosing A loses Δ when B was
  better, ``risk_a = E[max(Δ, 0)]``; choosing B loses -Δ when A was better,
  ``risk_b = E[max(-Δ, 0)]``. For ``Δ ~ N(μ, σ²)`` these have the closed forms
  ``μ Φ(μ/σ) + σ φ(μ/σ)`` and ``-μ Φ(-μ/σ) + σ φ(μ/σ)`` (the mean of a normal truncated at 0;
  Johnson, Kotz & Balakrishnan, Continuous Univariate Distributions, vol. 1, §10.1), written
  out here because no library exposes the partial expectation directly.

Because the lift is relative to arm A, the model is not exactly symmetric in the arms: swapping
them moves the baseline, so chance to win becomes about (not exactly) ``1 - chance_to_win`` and
the risks about trade places; with equal data in both arms it is 0.5 and equal risks exactly.

CUPED: :func:`bayesian_means` with ``covariate_a``/``covariate_b`` feeds the same posterior the
regression-adjusted lift and its variance, exactly those of
:func:`~livekit.analysis.abtest.compare_means` with the same covariates (one theta pooled over both
arms). That is what GrowthBook's Bayesian engine does: its effect model takes the estimate and
variance of the frequentist engine's statistic, the regression-adjusted one when CUPED is on.

Degenerate data are returned as data, as in :mod:`livekit.analysis.abtest` (``error`` code and
NaN): a zero baseline, an arm with a single unit, no variance in either arm. Misuse (negative
counts, more successes than units, an empty arm, a bad prior) raises
:class:`~livekit.vocab.errors.LivekitError` with a Chinese message.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from livekit.analysis.abtest import (
    DEFAULT_ALPHA,
    ERROR_MESSAGES,
    ErrorCode,
    MeanStatistic,
    ProportionStatistic,
    Values,
    _as_array,
    _check_alpha,
    _compare_means_cuped,
    _covariate_arrays,
)
from livekit.vocab.errors import LivekitError

__all__ = [
    "BayesianComparison",
    "Prior",
    "bayesian_means",
    "bayesian_proportions",
]

NAN = float("nan")


def _is_real(x: object) -> bool:
    """A real number (numpy scalars included), but not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


@dataclass(frozen=True)
class Prior:
    """A proper normal prior on the relative lift B / A - 1: mean and variance (not sd).

    E.g. ``Prior(0.0, 0.3**2)``: lifts beyond ±60% are thought unlikely before the data.
    """

    mean: float
    variance: float

    def __post_init__(self) -> None:
        if not _is_real(self.mean) or not math.isfinite(self.mean):
            raise LivekitError(f"先验均值须为有限的数值，收到 {self.mean!r}")
        if not _is_real(self.variance) or not math.isfinite(self.variance) or self.variance <= 0:
            raise LivekitError(f"先验方差须为有限的正数，收到 {self.variance!r}")


@dataclass(frozen=True)
class BayesianComparison:
    """Arm B (treatment) against arm A (control), Bayesian, on the relative lift B / A - 1.

    ``lift`` and ``lift_sd`` are the posterior mean and sd of the lift, ``lift_ci`` its central
    ``1 - alpha`` credible interval; ``chance_to_win`` is P(B better than A); ``risk_a`` and
    ``risk_b`` are the expected relative loss of choosing A and of choosing B. ``prior`` is the
    proper prior used, or None for GrowthBook's default improper flat prior. When something
    cannot be computed, ``error`` holds a code (see ``ERROR_MESSAGES`` in
    :mod:`livekit.analysis.abtest`) and the posterior numbers are NaN. ``theta`` and
    ``variance_reduction`` are set by a CUPED comparison only (as in
    :class:`~livekit.analysis.abtest.Comparison`), with its Chinese ``warnings``.
    """

    method: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    lift: float
    lift_sd: float
    lift_ci: tuple[float, float]
    chance_to_win: float
    risk_a: float
    risk_b: float
    prior: Prior | None
    alpha: float
    error: ErrorCode | None = None
    theta: float = NAN
    variance_reduction: float = NAN
    warnings: tuple[str, ...] = ()

    @property
    def error_message(self) -> str | None:
        return ERROR_MESSAGES[self.error] if self.error else None


def _check_prior(prior: object) -> Prior | None:
    if prior is None or isinstance(prior, Prior):
        return prior
    raise LivekitError(
        f"先验须为 Prior(均值, 方差)（相对提升上的正态先验）或 None（默认的平坦先验），收到 {prior!r}"
    )


def _posterior(
    a_mean: float,
    a_var: float,
    n_a: int,
    b_mean: float,
    b_var: float,
    n_b: int,
    prior: Prior | None,
    alpha: float,
    method: str,
) -> BayesianComparison:
    base = _unfitted(method, n_a, n_b, a_mean, b_mean, prior, alpha)
    blocked = _blocked(base)
    if blocked is not None:
        return blocked
    lift_hat = b_mean / a_mean - 1.0
    data_var = b_var / (a_mean**2 * n_b) + b_mean**2 * a_var / (a_mean**4 * n_a)
    return _update(base, lift_hat, data_var)


def _unfitted(
    method: str,
    n_a: int,
    n_b: int,
    mean_a: float,
    mean_b: float,
    prior: Prior | None,
    alpha: float,
    **extra: Any,
) -> BayesianComparison:
    """The comparison before the posterior: its inputs, every posterior number NaN."""
    return BayesianComparison(
        method=method,
        n_a=n_a,
        n_b=n_b,
        mean_a=mean_a,
        mean_b=mean_b,
        lift=NAN,
        lift_sd=NAN,
        lift_ci=(NAN, NAN),
        chance_to_win=NAN,
        risk_a=NAN,
        risk_b=NAN,
        prior=prior,
        alpha=alpha,
        **extra,
    )


def _blocked(base: BayesianComparison) -> BayesianComparison | None:
    """``base`` with its error code when no lift can be estimated (a zero baseline, fewer than
    two units in an arm), else None."""
    if base.mean_a == 0:
        return replace(base, error="zero_baseline")
    if base.n_a < 2 or base.n_b < 2:
        return replace(base, error="too_few_units")
    return None


def _update(base: BayesianComparison, lift_hat: float, data_var: float) -> BayesianComparison:
    """``base`` with the posterior of the lift given its estimate and the estimate's variance
    (the normal likelihood of the module docstring); ``"zero_variance"`` without variance."""
    if not data_var > 0:
        return replace(base, error="zero_variance")
    prior, alpha = base.prior, base.alpha
    if prior is None:
        mu, var = lift_hat, data_var
    else:
        precision = 1.0 / data_var + 1.0 / prior.variance
        var = 1.0 / precision
        mu = (lift_hat / data_var + prior.mean / prior.variance) * var
    sd = math.sqrt(var)
    z = mu / sd
    pdf = float(stats.norm.pdf(z))
    q = float(stats.norm.ppf(1.0 - alpha / 2.0))
    return replace(
        base,
        lift=mu,
        lift_sd=sd,
        lift_ci=(mu - q * sd, mu + q * sd),
        chance_to_win=float(stats.norm.sf(-z)),
        risk_a=mu * float(stats.norm.cdf(z)) + sd * pdf,
        risk_b=-mu * float(stats.norm.cdf(-z)) + sd * pdf,
    )


def _method(kind: str, prior: Prior | None) -> str:
    label = (
        "improper flat prior"
        if prior is None
        else f"normal prior N({prior.mean:g}, {prior.variance:g})"
    )
    return f"bayesian {kind}: normal posterior of the delta-method relative lift, {label}"


def bayesian_proportions(
    x_a: int,
    n_a: int,
    x_b: int,
    n_b: int,
    *,
    prior: Prior | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> BayesianComparison:
    """Bayesian comparison of two proportions x_A/n_A (control) and x_B/n_B (treatment).

    GrowthBook's effect model (see the module docstring) with per-unit variance p(1 - p).
    No successes in A gives ``error="zero_baseline"``; 0% or 100% in both arms gives
    ``"zero_variance"``; a single unit in an arm gives ``"too_few_units"``.
    """
    _check_alpha(alpha)
    prior = _check_prior(prior)
    for x, n, arm in ((x_a, n_a, "A"), (x_b, n_b, "B")):
        if (
            not _is_real(x)
            or not _is_real(n)
            or x < 0
            or n <= 0
            or x > n
            or int(x) != x
            or int(n) != n
        ):
            raise LivekitError(
                f"{arm} 组的计数无效：成功数 {x!r}、样本数 {n!r}；"
                f"须为非负整数，样本数大于 0，且成功数不大于样本数。"
            )
    a = ProportionStatistic(int(n_a), int(x_a))
    b = ProportionStatistic(int(n_b), int(x_b))
    return _posterior(
        a.mean,
        a.variance,
        a.n,
        b.mean,
        b.variance,
        b.n,
        prior,
        alpha,
        _method("proportions", prior),
    )


def bayesian_means(
    a: Values,
    b: Values,
    *,
    prior: Prior | None = None,
    alpha: float = DEFAULT_ALPHA,
    covariate_a: Values | None = None,
    covariate_b: Values | None = None,
) -> BayesianComparison:
    """Bayesian comparison of the means of per-unit values (lists, numpy arrays, polars Series).

    GrowthBook's effect model (see the module docstring) with the n - 1 sample variance of
    each arm. Nulls/NaN and empty arms are a misuse; a zero mean in A gives
    ``error="zero_baseline"``, one unit in an arm ``"too_few_units"``, no variance in either
    arm ``"zero_variance"``.

    ``covariate_a``/``covariate_b`` (both or neither, one value per unit, e.g. each viewer's
    metric before the experiment) turn on CUPED: the likelihood is the regression-adjusted
    relative lift and its variance of :func:`~livekit.analysis.abtest.compare_means` with the
    same covariates (one theta pooled over both arms), as GrowthBook's Bayesian engine does;
    ``theta`` and ``variance_reduction`` report the adjustment. Without any variation in the
    covariate it falls back to the plain comparison (theta = 0, a Chinese warning).
    """
    _check_alpha(alpha)
    prior = _check_prior(prior)
    va, vb = _as_array(a, "A 组的数值"), _as_array(b, "B 组的数值")
    for values, arm in ((va, "A"), (vb, "B")):
        if values.size == 0:
            raise LivekitError(f"{arm} 组没有数据：贝叶斯比较需要两组都有样本。")
    covariates = _covariate_arrays(covariate_a, covariate_b, va, vb)
    if covariates is not None:
        return _bayesian_cuped(va, covariates[0], vb, covariates[1], prior, alpha)
    sa, sb = MeanStatistic.of(va), MeanStatistic.of(vb)
    return _posterior(
        sa.mean,
        sa.variance,
        sa.n,
        sb.mean,
        sb.variance,
        sb.n,
        prior,
        alpha,
        _method("means", prior),
    )


def _bayesian_cuped(
    ya: npt.NDArray[np.float64],
    xa: npt.NDArray[np.float64],
    yb: npt.NDArray[np.float64],
    xb: npt.NDArray[np.float64],
    prior: Prior | None,
    alpha: float,
) -> BayesianComparison:
    """The posterior of the CUPED lift: compare_means' adjusted estimate and variance."""
    cuped, _, var_lift = _compare_means_cuped(ya, xa, yb, xb, alpha)
    base = _unfitted(
        _method("means, CUPED (pooled theta)", prior),
        int(ya.size),
        int(yb.size),
        cuped.mean_a,
        cuped.mean_b,
        prior,
        alpha,
        theta=cuped.theta,
        variance_reduction=cuped.variance_reduction,
        warnings=cuped.warnings,
    )
    return _blocked(base) or _update(base, cuped.lift, var_lift)
