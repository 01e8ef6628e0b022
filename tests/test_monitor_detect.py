"""EWMA and tabular CUSUM against published worked examples and independent computations.

Data: Montgomery, *Introduction to Statistical Quality Control*, Table 9.1 (30 observations,
the first 20 from N(10, 1), the last 10 from N(11, 1)); Example 9.1 charts them with a tabular
CUSUM (μ₀ = 10, σ = 1, k = 0.5, h = 5) and Example 9.2 with an EWMA (λ = 0.1, L = 2.7). The
published results pinned here: C⁺₂₉ = 5.28 and C⁺₃₀ = 5.30, the first CUSUM signal at sample 29
with N⁺ = 7 (the shift began after sample 22); the EWMA column (z₁ = 9.945, z₂ = 9.7495, …) and
its first signal at sample 29 (the values are also tabulated in the spc-kit test suite,
github.com/jchester/spc-kit, spec/montgomery_spec.rb, which was used to cross-check them).
Every step is also checked against a hand-rolled loop written here, and the EWMA against
``scipy.signal.lfilter`` as a second, independent implementation.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.signal import lfilter

from livekit.monitor.detect import (
    SIGMA_FLOOR_ABS,
    Cusum,
    Ewma,
    detector_from_state,
    robust_sigma,
    sigma_floor,
)

TABLE_9_1 = [
    9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34,
    9.03, 11.47, 10.51, 9.40, 10.08, 9.37, 10.62, 10.31, 8.52, 10.84,
    10.90, 9.33, 12.29, 11.50, 10.60, 11.08, 10.38, 11.62, 11.31, 10.52,
]  # fmt: skip

EWMA_PUBLISHED = [
    9.945, 9.7495, 9.70355, 9.8992, 10.1253, 10.1307, 9.92167, 10.0755, 9.98796, 10.0232,
    9.92384, 10.0785, 10.1216, 10.0495, 10.0525, 9.98426, 10.0478, 10.074, 9.91864, 10.0108,
    10.0997, 10.0227, 10.2495, 10.3745, 10.3971, 10.4654, 10.4568, 10.5731, 10.6468, 10.6341,
]  # fmt: skip


def hand_cusum(
    x: list[float], mu0: float, sigma: float, k: float, h: float
) -> list[tuple[float, float, bool]]:
    """Textbook tabular CUSUM, written out independently of the module under test."""
    out, cp, cm = [], 0.0, 0.0
    big_k, big_h = k * sigma, h * sigma
    for xi in x:
        cp = max(0.0, xi - (mu0 + big_k) + cp)
        cm = max(0.0, (mu0 - big_k) - xi + cm)
        out.append((cp, cm, cp > big_h or cm > big_h))
    return out


def hand_ewma(
    x: list[float],
    mu0: float,
    sigma: float,
    lam: float,
    L: float,  # noqa: N803 - Montgomery's symbol
) -> list[tuple[float, float, float]]:
    out, z = [], mu0
    for t, xi in enumerate(x, start=1):
        z = lam * xi + (1 - lam) * z
        w = L * sigma * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
        out.append((z, mu0 - w, mu0 + w))
    return out


# ---- tabular CUSUM ------------------------------------------------------------------------------


def test_cusum_reproduces_montgomery_example_9_1() -> None:
    det = Cusum(0.5, 5.0, mu0=10.0, sigma=1.0, cap=None)
    expected = hand_cusum(TABLE_9_1, 10.0, 1.0, 0.5, 5.0)
    alarms = []
    for i, (x, (cp, cm, alarm)) in enumerate(zip(TABLE_9_1, expected, strict=True), start=1):
        sig = det.update(x)
        assert sig is not None
        assert det.sums == pytest.approx((cp, cm), abs=1e-12)
        assert sig.alarm == alarm
        if sig.alarm:
            alarms.append(i)
    assert alarms[0] == 29  # the published first out-of-control sample
    assert alarms == [29, 30]
    # Published: C+_29 = 5.28, C+_30 = 5.30
    assert round(expected[28][0], 2) == 5.28
    assert round(expected[29][0], 2) == 5.30
    # N+ = 7 consecutive positive C+ before the signal at 29: the shift began after sample 22.
    run = 0
    for cp, _, _ in expected[:29]:
        run = run + 1 if cp > 0 else 0
    assert run == 7


def test_cusum_two_sided_and_direction() -> None:
    down_shift = [10.0] * 5 + [7.0] * 5
    both = Cusum(0.5, 5.0, mu0=10.0, sigma=1.0, direction="both")
    up = Cusum(0.5, 5.0, mu0=10.0, sigma=1.0, direction="up")
    down = Cusum(0.5, 5.0, mu0=10.0, sigma=1.0, direction="down")
    last = {}
    for x in down_shift:
        last = {"both": both.update(x), "up": up.update(x), "down": down.update(x)}
    # C- after 5 points at -3σ: 5 × 2.5 = 12.5 > 5
    assert last["both"] is not None
    assert last["both"].alarm
    assert last["both"].side == "down"
    assert last["down"] is not None
    assert last["down"].alarm
    assert last["up"] is not None
    assert not last["up"].alarm  # out of control, but on a side nobody watches
    assert last["up"].side == "down"


def test_cusum_cap_bounds_the_sum_and_speeds_recovery() -> None:
    shift = [13.0] * 20 + [10.0] * 30
    capped = Cusum(0.5, 5.0, mu0=10.0, sigma=1.0, cap=2.0)
    plain = Cusum(0.5, 5.0, mu0=10.0, sigma=1.0, cap=None)
    first_alarm: dict[str, int] = {}
    cleared_at: dict[str, int] = {}
    for i, x in enumerate(shift, start=1):
        for name, det in (("capped", capped), ("plain", plain)):
            sig = det.update(x)
            assert sig is not None
            if sig.alarm:
                first_alarm.setdefault(name, i)
            elif name in first_alarm:
                cleared_at.setdefault(name, i)
        assert capped.c_plus <= 10.0 + 1e-12
    assert first_alarm["capped"] == first_alarm["plain"] == 3  # the cap never delays a signal
    # capped at 2h = 10, it falls by k = 0.5 a point once the metric is back: 10 points
    assert cleared_at["capped"] == 30
    # the textbook sum reached 20 × 2.5 = 50 and would need 90 points: not within this show
    assert "plain" not in cleared_at


# ---- EWMA -----------------------------------------------------------------------------------


def test_ewma_reproduces_montgomery_example_9_2() -> None:
    det = Ewma(0.1, 2.7, mu0=10.0, sigma=1.0)
    expected = hand_ewma(TABLE_9_1, 10.0, 1.0, 0.1, 2.7)
    alarms = []
    for i, (x, (z, lcl, ucl)) in enumerate(zip(TABLE_9_1, expected, strict=True), start=1):
        sig = det.update(x)
        assert sig is not None
        assert sig.statistic == pytest.approx(z, abs=1e-12)
        assert (sig.lower, sig.upper) == pytest.approx((lcl, ucl), abs=1e-12)
        assert sig.statistic == pytest.approx(EWMA_PUBLISHED[i - 1], abs=6e-5)
        if sig.alarm:
            alarms.append(i)
    assert expected[0][2] == pytest.approx(10.27)  # the published first UCL
    assert alarms == [29, 30]


def test_ewma_matches_scipy_lfilter() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(50.0, 4.0, 200)
    lam, mu0 = 0.25, 50.0
    # z_t = λ x_t + (1-λ) z_{t-1}, z_0 = μ0: an IIR filter with initial state (1-λ)μ0
    reference, _ = lfilter([lam], [1.0, -(1.0 - lam)], x, zi=[(1.0 - lam) * mu0])
    det = Ewma(lam, 3.0, mu0=mu0, sigma=4.0)
    got = []
    for v in x:
        sig = det.update(float(v))
        assert sig is not None
        got.append(sig.statistic)
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-9)


def test_ewma_direction_down_ignores_upward_shift() -> None:
    det = Ewma(0.3, 3.0, mu0=10.0, sigma=1.0, direction="down")
    sig = None
    for _ in range(20):
        sig = det.update(14.0)
    assert sig is not None
    assert sig.side == "up"
    assert not sig.alarm


# ---- baseline from a warm-up ---------------------------------------------------------------------


def test_warmup_sets_median_and_mad_sigma() -> None:
    warm = [10.0, 12.0, 11.0, 9.0, 30.0, 10.5]  # one spike: the median and the MAD ignore it
    det = Cusum(0.5, 5.0, warmup=len(warm))
    for v in warm:
        assert det.update(v) is None  # no verdict while the baseline is being estimated
    assert det.ready
    assert det.mu0 == pytest.approx(float(np.median(warm)))
    mad = float(np.median(np.abs(np.array(warm) - np.median(warm))))
    assert det.sigma == pytest.approx(1.4826 * mad)
    sig = det.update(10.0)
    assert sig is not None
    assert det.t == 1


def test_flat_warmup_gets_a_floor_not_zero() -> None:
    det = Ewma(0.2, 3.0, warmup=5)
    for _ in range(5):
        det.update(20.0)
    assert det.sigma == pytest.approx(sigma_floor(20.0))  # 10% of the level
    assert det.sigma == pytest.approx(2.0)
    sig = det.update(20.5)  # a tiny wiggle is not an alarm
    assert sig is not None
    assert not sig.alarm

    zero = Cusum(0.5, 5.0, warmup=4)
    for _ in range(4):
        zero.update(0.0)
    assert zero.sigma == SIGMA_FLOOR_ABS  # a product nobody clicked yet: μ0 = 0


def test_min_sigma_overrides_the_relative_floor() -> None:
    det = Cusum(1.0, 5.0, warmup=3, min_sigma=3.0)
    for v in (1.0, 1.0, 1.0):
        det.update(v)
    assert det.sigma == 3.0


def test_robust_sigma() -> None:
    rng = np.random.default_rng(11)
    sample = rng.normal(0.0, 2.0, 20_000)
    assert robust_sigma(sample.tolist()) == pytest.approx(2.0, rel=0.03)
    # more than half equal: MAD = 0, the sample standard deviation steps in
    mostly_equal = [5.0, 5.0, 5.0, 5.0, 9.0]
    assert robust_sigma(mostly_equal) == pytest.approx(float(np.std(mostly_equal, ddof=1)))
    assert robust_sigma([], floor=0.5) == 0.5
    assert robust_sigma([3.0, 3.0, 3.0], floor=0.25) == 0.25


# ---- state -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [lambda: Ewma(0.2, 3.0, warmup=4), lambda: Cusum(0.5, 4.0, warmup=4)]
)
def test_state_round_trip_continues_identically(make: object) -> None:
    rng = np.random.default_rng(5)
    xs = [float(v) for v in rng.normal(10.0, 1.0, 40)] + [6.0] * 10
    straight = make()  # type: ignore[operator]
    resumed = make()  # type: ignore[operator]
    a, b = [], []
    for i, x in enumerate(xs):
        if i % 7 == 3:  # persist and reload, through JSON, every few points
            resumed = detector_from_state(json.loads(json.dumps(resumed.to_state())))
        sa, sb = straight.update(x), resumed.update(x)
        a.append(None if sa is None else (sa.alarm, sa.statistic))
        b.append(None if sb is None else (sb.alarm, sb.statistic))
    assert a == b
    assert any(v is not None and v[0] for v in a)  # the final shift is caught


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lambda"):
        Ewma(0.0, 3.0)
    with pytest.raises(ValueError, match="both"):
        Cusum(0.5, 5.0, mu0=1.0)
    with pytest.raises(ValueError, match="finite"):
        Cusum(0.5, 5.0, mu0=1.0, sigma=1.0).update(math.nan)
    with pytest.raises(ValueError, match="unknown detector"):
        detector_from_state({"kind": "shewhart"})
