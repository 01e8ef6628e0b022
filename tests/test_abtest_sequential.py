"""Sequential (always-valid) A/B comparisons: agreement with GrowthBook, shape, peeking safety.

Reference numbers come from two places, neither of which calls livekit:

* GrowthBook's own unit tests of ``SequentialTwoSidedTTest`` (gbstats,
  ``packages/stats/tests/frequentist/test_tests.py``, ``TestSequentialTTest``): the inputs and
  the published results (5 decimals) are written in below;
* ``_reference``: the published formulas (Waudby-Smith et al. 2023, arXiv:2103.06476v7,
  eqs. 9, 155 and 161, as GrowthBook applies them to the delta-method variance of the
  relative lift) evaluated with numpy on the sufficient statistics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import livekit.analysis as la
from livekit.analysis.abtest import DEFAULT_SEQUENTIAL_TUNING
from livekit.vocab.errors import LivekitError

REL = 1e-3
WRITTEN_IN_LIFT_CI = (0.0595632, 0.1404368)
WRITTEN_IN_P = 6.72373e-11


def _values(total: float, sum_squares: float, n: int) -> np.ndarray:
    """n values with exactly this sum and sum of squares (mean ± s, one value at the mean
    when n is odd): lets GrowthBook's sufficient statistics enter ``compare_means``."""
    mean = total / n
    z = np.zeros(n)
    k = n // 2
    z[:k], z[k : 2 * k] = 1.0, -1.0
    s = math.sqrt((sum_squares - n * mean**2) / float((z**2).sum()))
    return mean + s * z


def _reference(
    mean_a: float,
    var_a: float,
    n_a: int,
    mean_b: float,
    var_b: float,
    n_b: int,
    alpha: float,
    tuning: float,
) -> dict[str, float]:
    """Independent evaluation of the asymptotic confidence sequence (GrowthBook's recipe)."""
    n = n_a + n_b
    rho2 = (-2 * np.log(alpha) + np.log(1 - 2 * np.log(alpha))) / tuning
    lift = mean_b / mean_a - 1
    var_lift = var_b / (mean_a**2 * n_b) + mean_b**2 * var_a / (mean_a**4 * n_a)
    var_diff = var_a / n_a + var_b / n_b
    c = 2 * (n * rho2 + 1) / (n**2 * rho2) * np.log(np.sqrt(n * rho2 + 1) / alpha)
    half_lift = np.sqrt(var_lift * n * c)
    half_diff = np.sqrt(var_diff * n * c)
    evalue = np.exp(rho2 * n * lift**2 / var_lift / (2 * (n * rho2 + 1))) / np.sqrt(n * rho2 + 1)
    diff = mean_b - mean_a
    return {
        "lift": lift,
        "lift_lo": lift - half_lift,
        "lift_hi": lift + half_lift,
        "diff_lo": diff - half_diff,
        "diff_hi": diff + half_diff,
        "p": min(1.0, 1 / evalue),
    }


# ---- agreement with GrowthBook's published test cases --------------------------------------------
def test_means_match_gbstats_sequential_test_case() -> None:
    # gbstats TestSequentialTTest.test_sequential_test_runs: SampleMeanStatistic
    # (sum=1396.87, sum_squares=52377.9767, n=3000) vs (2422.7, 134698.29, 3461), N* = 1000
    a = _values(1396.87, 52377.9767, 3000)
    b = _values(2422.7, 134698.29, 3461)
    r = la.compare_means(a, b, sequential=True, sequential_tuning=1000)
    assert r.lift == pytest.approx(0.50336, rel=REL)
    assert r.lift_ci[0] == pytest.approx(-0.55844, rel=REL)
    assert r.lift_ci[1] == pytest.approx(1.56516, rel=REL)
    assert r.p_value == 1.0
    assert "sequential" in r.method
    assert r.error is None


def test_proportions_match_gbstats_sequential_test_case() -> None:
    # gbstats TestSequentialTTest.test_sequential_test_runs_prop: ProportionStatistic
    # (sum=1396, n=3000) vs (2422, 3461), default N* = 5000
    r = la.compare_proportions(1396, 3000, 2422, 3461, sequential=True)
    assert r.lift == pytest.approx(0.50386, rel=REL)
    assert r.lift_ci[0] == pytest.approx(0.40098, rel=REL)
    assert r.lift_ci[1] == pytest.approx(0.60675, rel=REL)
    assert r.p_value < 5e-6  # published as 0.0 at 5 decimals
    fixed = la.compare_proportions(1396, 3000, 2422, 3461)
    assert r.p_value > fixed.p_value  # the always-valid p-value is the more cautious


# ---- agreement with the formula, evaluated independently -------------------------------------------
@pytest.mark.parametrize(
    ("x_a", "n_a", "x_b", "n_b", "alpha", "tuning"),
    [
        (100, 1000, 125, 1000, 0.05, 5000),
        (480, 4000, 560, 4100, 0.05, 5000),
        (37, 900, 61, 880, 0.10, 2000),
        (2000, 20000, 2150, 20000, 0.01, 10000),
    ],
)
def test_proportions_match_formula(
    x_a: int, n_a: int, x_b: int, n_b: int, alpha: float, tuning: float
) -> None:
    pa, pb = x_a / n_a, x_b / n_b
    ref = _reference(pa, pa * (1 - pa), n_a, pb, pb * (1 - pb), n_b, alpha, tuning)
    r = la.compare_proportions(
        x_a, n_a, x_b, n_b, alpha=alpha, sequential=True, sequential_tuning=tuning
    )
    assert r.lift == pytest.approx(ref["lift"], rel=REL)
    assert r.lift_ci == pytest.approx((ref["lift_lo"], ref["lift_hi"]), rel=REL)
    assert r.diff_ci == pytest.approx((ref["diff_lo"], ref["diff_hi"]), rel=REL)
    assert r.p_value == pytest.approx(ref["p"], rel=REL)


def test_means_match_formula_and_written_in_numbers() -> None:
    rng = np.random.default_rng(7)
    a = rng.gamma(2.0, 30.0, 1500)
    b = rng.gamma(2.0, 33.0, 1700)
    ref = _reference(a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size, 0.05, 5000)
    r = la.compare_means(a, b, sequential=True)
    assert r.lift_ci == pytest.approx((ref["lift_lo"], ref["lift_hi"]), rel=REL)
    assert r.diff_ci == pytest.approx((ref["diff_lo"], ref["diff_hi"]), rel=REL)
    assert r.p_value == pytest.approx(ref["p"], rel=REL)
    # fixed sufficient statistics, numbers written in (checked by hand from eqs. 9/155/161:
    # mean 10 against 11, per-unit sd 4 (sample variance 16·2000/1999), 2000 units per arm;
    # rho² = 7.9362/5000, n·rho² + 1 = 7.3489, Var(lift) = 1.7689e-4, half-width 0.040437)
    a2 = _values(20000.0, 232000.0, 2000)
    b2 = _values(22000.0, 274000.0, 2000)
    ref2 = _reference(10.0, 16 * 2000 / 1999, 2000, 11.0, 16 * 2000 / 1999, 2000, 0.05, 5000)
    r2 = la.compare_means(a2, b2, sequential=True)
    assert r2.lift_ci == pytest.approx((ref2["lift_lo"], ref2["lift_hi"]), rel=REL)
    assert r2.lift_ci == pytest.approx(WRITTEN_IN_LIFT_CI, rel=REL)
    assert r2.p_value == pytest.approx(WRITTEN_IN_P, rel=REL)


# ---- shape: wider than the fixed interval, narrowing as n grows towards N* ---------------------------
def _widths(n: int, tuning: float = DEFAULT_SEQUENTIAL_TUNING) -> tuple[float, float]:
    x_a, x_b = round(0.10 * n), round(0.12 * n)
    seq = la.compare_proportions(x_a, n, x_b, n, sequential=True, sequential_tuning=tuning)
    fixed = la.compare_proportions(x_a, n, x_b, n)
    return seq.lift_ci[1] - seq.lift_ci[0], fixed.lift_ci[1] - fixed.lift_ci[0]


def test_sequential_interval_is_wider_and_narrows_with_n() -> None:
    sizes = [100, 250, 500, 1000, 2500, 5000, 10000]  # per arm; N* = 5000 in both arms
    widths = [_widths(n) for n in sizes]
    for seq, fixed in widths:
        assert seq > fixed
    seq_widths = [w[0] for w in widths]
    assert seq_widths == sorted(seq_widths, reverse=True)  # narrows as n grows
    ratios = [seq / fixed for seq, fixed in widths]
    # the price of peeking falls as n approaches N* (total 2n = 5000 at n = 2500)
    assert ratios[0] > ratios[2] > ratios[4]
    assert ratios[0] > 2.0
    assert ratios[4] < 1.6


def test_tuning_parameter_puts_the_narrowest_interval_at_n_star() -> None:
    n = 2500  # per arm: 5000 units in all
    at, below, above = _widths(n, 5000)[0], _widths(n, 500)[0], _widths(n, 50000)[0]
    assert at < below
    assert at < above


def test_p_value_agrees_with_the_interval() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_a, n_b = (int(v) for v in rng.integers(200, 5000, 2))
        x_a = int(rng.binomial(n_a, 0.1))
        x_b = int(rng.binomial(n_b, 0.1 * rng.uniform(0.8, 1.4)))
        r = la.compare_proportions(x_a, n_a, x_b, n_b, sequential=True)
        excludes_zero = r.lift_ci[0] > 0 or r.lift_ci[1] < 0
        assert excludes_zero == (r.p_value < r.alpha)


# ---- default unchanged, degenerate input, misuse ----------------------------------------------------
def test_default_is_the_fixed_horizon_test() -> None:
    assert la.compare_proportions(30, 400, 45, 410) == la.compare_proportions(
        30, 400, 45, 410, sequential=False, sequential_tuning=123
    )
    a, b = np.arange(1.0, 40.0), np.arange(3.0, 45.0)
    fixed = la.compare_means(a, b)
    assert fixed == la.compare_means(a, b, sequential=False)
    assert "sequential" not in fixed.method
    seq = la.compare_means(a, b, sequential=True)
    assert seq.lift == fixed.lift
    assert seq.diff == fixed.diff
    assert seq.lift_ci != fixed.lift_ci


def test_degenerate_input_stays_data() -> None:
    empty = la.compare_proportions(0, 0, 3, 10, sequential=True)
    assert empty.error == "empty_arm"
    assert math.isnan(empty.p_value)
    base = la.compare_proportions(0, 500, 9, 500, sequential=True)
    assert base.error == "zero_baseline"
    assert math.isnan(base.lift_ci[0])
    assert 0.0 < base.p_value <= 1.0
    assert base.diff_ci[0] < base.diff < base.diff_ci[1]
    flat = la.compare_proportions(0, 50, 0, 60, sequential=True)
    assert flat.error == "zero_variance"
    assert math.isnan(flat.p_value)
    one = la.compare_means([1.0], [2.0, 3.0], sequential=True)
    assert one.error == "too_few_units"


@pytest.mark.parametrize("tuning", [0, -5, float("nan"), float("inf"), "5000", True, None])
def test_bad_tuning_is_a_readable_error(tuning: object) -> None:
    with pytest.raises(LivekitError, match="sequential_tuning"):
        la.compare_proportions(1, 10, 2, 10, sequential=True, sequential_tuning=tuning)  # type: ignore[arg-type]
    with pytest.raises(LivekitError, match="须为正数"):
        la.compare_means([1.0, 2.0], [2.0, 3.0], sequential=True, sequential_tuning=tuning)  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_bad_sequential_flag_is_a_readable_error(flag: object) -> None:
    with pytest.raises(LivekitError, match="sequential 须为 True 或 False"):
        la.compare_proportions(1, 10, 2, 10, sequential=flag)  # type: ignore[arg-type]
    with pytest.raises(LivekitError, match="sequential 须为 True 或 False"):
        la.compare_means([1.0, 2.0], [2.0, 3.0], sequential=flag)  # type: ignore[arg-type]


# ---- peeking under the null -------------------------------------------------------------------------
def test_peeking_after_every_batch_keeps_the_false_positive_rate() -> None:
    """200 null experiments (10% conversion in both arms), looked at after each of 20 batches of
    250 viewers per arm, stopped at the first p < 0.05: the fixed-horizon test "finds" an effect
    far more often than 5%, the sequential one stays below it."""
    rng = np.random.default_rng(20261205)
    sims, looks, batch, rate = 200, 20, 250, 0.10
    hits_fixed = hits_seq = 0
    for _ in range(sims):
        x_a = rng.binomial(batch, rate, looks).cumsum()
        x_b = rng.binomial(batch, rate, looks).cumsum()
        fixed = seq = False
        for k in range(looks):
            n = (k + 1) * batch
            counts = (int(x_a[k]), n, int(x_b[k]), n)
            fixed = fixed or la.compare_proportions(*counts).p_value < 0.05
            seq = seq or la.compare_proportions(*counts, sequential=True).p_value < 0.05
        hits_fixed += fixed
        hits_seq += seq
    assert hits_seq / sims <= 0.05
    assert hits_fixed / sims > 0.12  # several times the nominal 5%


def test_peeking_on_skewed_means_keeps_the_false_positive_rate() -> None:
    """The same for a mean (right-skewed watch seconds, equal in both arms): 200 experiments,
    15 looks after every 200 viewers per arm."""
    rng = np.random.default_rng(1205)
    sims, looks, batch = 200, 15, 200
    hits_fixed = hits_seq = 0
    for _ in range(sims):
        a = rng.gamma(0.8, 60.0, looks * batch)
        b = rng.gamma(0.8, 60.0, looks * batch)
        fixed = seq = False
        for k in range(looks):
            m = (k + 1) * batch
            fixed = fixed or la.compare_means(a[:m], b[:m]).p_value < 0.05
            seq = seq or la.compare_means(a[:m], b[:m], sequential=True).p_value < 0.05
        hits_fixed += fixed
        hits_seq += seq
    assert hits_seq / sims <= 0.05
    assert hits_fixed / sims > 0.12
