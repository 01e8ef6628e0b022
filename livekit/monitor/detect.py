"""Change detectors for live metrics: the EWMA control chart and the tabular CUSUM.

Both follow Montgomery, *Introduction to Statistical Quality Control*, ch. 9 (docs/metrics.md,
"Alerts"):

* EWMA: ``z_t = λ x_t + (1 − λ) z_{t−1}``, ``z_0 = μ₀``; out of control when ``z_t`` leaves
  ``μ₀ ± L σ √(λ / (2 − λ) · (1 − (1 − λ)^{2t}))``;
* tabular CUSUM, in σ units: ``C⁺_t = max(0, x_t − (μ₀ + kσ) + C⁺_{t−1})`` and
  ``C⁻_t = max(0, (μ₀ − kσ) − x_t + C⁻_{t−1})``; out of control when one exceeds ``hσ``.

``direction`` says which side may signal (``up``, ``down`` or ``both``). μ₀ and σ are either
given (the textbook examples) or estimated from the first ``warmup`` points: μ₀ the median, σ
from the median absolute deviation (:func:`robust_sigma`). A live show's first minutes contain
spikes (the start-of-show push) that would inflate a plain standard deviation.

For alerting, the CUSUM sums are capped at ``cap × h`` (default 2): after a long shift a textbook
CUSUM keeps growing and then needs as many points to come back as it spent above ``h``, so an
alert would stay open long after the metric recovered. With the cap it clears within about
``h / k`` points of the recovery; the first signal is unchanged (it happens at ``h``).

Detectors are plain values with explicit state: :meth:`to_state` gives a JSON-serializable
dict and :meth:`from_state` rebuilds the detector, so the alert engine can persist them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Direction = Literal["up", "down", "both"]
Side = Literal["up", "down"]

MAD_TO_SIGMA = 1.4826  # σ = 1.4826 × MAD for normal data
# σ may not fall below this share of |μ₀|. A warm-up that happens to be flat (or nearly: the
# same order count five minutes running, a product nobody clicked yet) has MAD = 0; with σ = 0
# any later change is infinitely many σ away and every point would alarm. 10% of the level is
# about the smallest spread a live metric ever shows over a few minutes.
SIGMA_FLOOR_SHARE = 0.1
SIGMA_FLOOR_ABS = 1e-6  # ...and never 0 even when μ₀ = 0
DEFAULT_CUSUM_CAP = 2.0


def robust_sigma(values: Sequence[float], floor: float = SIGMA_FLOOR_ABS) -> float:
    """σ estimated as 1.4826 × MAD; the sample standard deviation when the MAD is 0 (more
    than half the points equal) but the points are not all equal; never below ``floor``."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return floor
    mad = float(np.median(np.abs(x - np.median(x))))
    sigma = MAD_TO_SIGMA * mad
    if sigma == 0.0 and x.size > 1:
        sigma = float(np.std(x, ddof=1))
    return max(sigma, floor)


def sigma_floor(mu0: float, min_sigma: float | None = None) -> float:
    """The smallest σ allowed at level ``mu0`` (``min_sigma`` when the rule gives one)."""
    if min_sigma is not None:
        return min_sigma
    return max(SIGMA_FLOOR_SHARE * abs(mu0), SIGMA_FLOOR_ABS)


@dataclass(frozen=True)
class Signal:
    """What a detector says about one point."""

    alarm: bool  # out of control on a watched side
    side: Side | None  # which side is out of control (also when that side is not watched)
    statistic: float  # EWMA: z_t; CUSUM: max(C⁺, C⁻) in σ units
    mu0: float
    sigma: float
    lower: float | None = None  # EWMA control limits at this point
    upper: float | None = None


def _watched(direction: Direction, side: Side | None) -> bool:
    return side is not None and direction in (side, "both")


class _Detector:
    """Warm-up and baseline shared by both charts."""

    kind = ""

    def __init__(
        self,
        *,
        direction: Direction = "both",
        warmup: int = 6,
        min_sigma: float | None = None,
        mu0: float | None = None,
        sigma: float | None = None,
    ) -> None:
        if (mu0 is None) != (sigma is None):
            raise ValueError("give both mu0 and sigma, or neither")
        if sigma is not None and sigma <= 0:
            raise ValueError("sigma must be positive")
        if warmup < 1:
            raise ValueError("warmup must be at least 1")
        self.direction: Direction = direction
        self.warmup = warmup
        self.min_sigma = min_sigma
        self.mu0 = mu0
        self.sigma = sigma
        self.warm: list[float] = []
        self.t = 0  # points charted since the baseline was fixed

    @property
    def ready(self) -> bool:
        return self.mu0 is not None

    def update(self, x: float) -> Signal | None:
        """Add one point; None while the baseline is still being estimated."""
        if not math.isfinite(x):
            raise ValueError("points must be finite")
        if self.mu0 is None:
            self.warm.append(float(x))
            if len(self.warm) < self.warmup:
                return None
            mu0 = float(np.median(self.warm))
            self.mu0 = mu0
            self.sigma = robust_sigma(self.warm, sigma_floor(mu0, self.min_sigma))
            self.warm = []
            self._reset()
            return None
        self.t += 1
        return self._chart(float(x))

    def _reset(self) -> None:
        raise NotImplementedError

    def _chart(self, x: float) -> Signal:
        raise NotImplementedError

    def _base_state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "direction": self.direction,
            "warmup": self.warmup,
            "min_sigma": self.min_sigma,
            "mu0": self.mu0,
            "sigma": self.sigma,
            "warm": list(self.warm),
            "t": self.t,
        }

    def _load_base(self, state: Mapping[str, Any]) -> None:
        self.warm = [float(v) for v in state.get("warm", [])]
        self.t = int(state.get("t", 0))


class Ewma(_Detector):
    """EWMA control chart with time-varying limits (Montgomery eq. 9.25–9.27)."""

    kind = "ewma"

    def __init__(
        self,
        lam: float = 0.2,
        L: float = 3.0,  # noqa: N803 - Montgomery's symbol, as in the rules file
        *,
        direction: Direction = "both",
        warmup: int = 6,
        min_sigma: float | None = None,
        mu0: float | None = None,
        sigma: float | None = None,
    ) -> None:
        if not 0 < lam <= 1:
            raise ValueError("lambda must be in (0, 1]")
        super().__init__(
            direction=direction, warmup=warmup, min_sigma=min_sigma, mu0=mu0, sigma=sigma
        )
        self.lam = lam
        self.L = L
        self.z: float | None = mu0

    def _reset(self) -> None:
        self.z = self.mu0
        self.t = 0

    def limits(self, t: int) -> tuple[float, float]:
        """(lower, upper) control limits at point ``t`` (1-based)."""
        assert self.mu0 is not None
        assert self.sigma is not None
        lam = self.lam
        width = self.L * self.sigma * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
        return self.mu0 - width, self.mu0 + width

    def _chart(self, x: float) -> Signal:
        assert self.mu0 is not None
        assert self.sigma is not None
        assert self.z is not None
        self.z = self.lam * x + (1 - self.lam) * self.z
        lower, upper = self.limits(self.t)
        side: Side | None = "up" if self.z > upper else "down" if self.z < lower else None
        return Signal(
            alarm=_watched(self.direction, side),
            side=side,
            statistic=self.z,
            mu0=self.mu0,
            sigma=self.sigma,
            lower=lower,
            upper=upper,
        )

    def to_state(self) -> dict[str, Any]:
        return {**self._base_state(), "lam": self.lam, "L": self.L, "z": self.z}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Ewma:
        det = cls(
            float(state["lam"]),
            float(state["L"]),
            direction=state["direction"],
            warmup=int(state["warmup"]),
            min_sigma=state.get("min_sigma"),
            mu0=state.get("mu0"),
            sigma=state.get("sigma"),
        )
        det._load_base(state)
        det.z = state.get("z")
        return det


class Cusum(_Detector):
    """Tabular (two-sided) CUSUM with reference value ``k`` and decision interval ``h``, both
    in σ units (Montgomery §9.1.2); ``cap`` (× h) bounds the sums, None for the textbook form."""

    kind = "cusum"

    def __init__(
        self,
        k: float = 0.5,
        h: float = 5.0,
        *,
        direction: Direction = "both",
        warmup: int = 6,
        min_sigma: float | None = None,
        mu0: float | None = None,
        sigma: float | None = None,
        cap: float | None = DEFAULT_CUSUM_CAP,
    ) -> None:
        if k < 0 or h <= 0:
            raise ValueError("k must be >= 0 and h > 0")
        if cap is not None and cap < 1:
            raise ValueError("cap must be at least 1 (× h)")
        super().__init__(
            direction=direction, warmup=warmup, min_sigma=min_sigma, mu0=mu0, sigma=sigma
        )
        self.k = k
        self.h = h
        self.cap = cap
        self.c_plus = 0.0  # in σ units
        self.c_minus = 0.0

    def _reset(self) -> None:
        self.c_plus = self.c_minus = 0.0
        self.t = 0

    def _chart(self, x: float) -> Signal:
        assert self.mu0 is not None
        assert self.sigma is not None
        u = (x - self.mu0) / self.sigma
        self.c_plus = max(0.0, u - self.k + self.c_plus)
        self.c_minus = max(0.0, -self.k - u + self.c_minus)
        if self.cap is not None:
            top = self.cap * self.h
            self.c_plus, self.c_minus = min(self.c_plus, top), min(self.c_minus, top)
        up = self.c_plus > self.h
        down = self.c_minus > self.h
        alarm_up, alarm_down = (
            up and _watched(self.direction, "up"),
            down and _watched(self.direction, "down"),
        )
        side: Side | None
        if alarm_up or alarm_down:  # report the side that alarms (the larger if both do)
            side = "up" if alarm_up and (not alarm_down or self.c_plus >= self.c_minus) else "down"
        else:
            side = "up" if up else "down" if down else None
        return Signal(
            alarm=alarm_up or alarm_down,
            side=side,
            statistic=max(self.c_plus, self.c_minus),
            mu0=self.mu0,
            sigma=self.sigma,
        )

    @property
    def sums(self) -> tuple[float, float]:
        """(C⁺, C⁻) in the metric's units (σ × the σ-unit sums), as Montgomery tabulates them."""
        sigma = self.sigma or 0.0
        return self.c_plus * sigma, self.c_minus * sigma

    def to_state(self) -> dict[str, Any]:
        return {
            **self._base_state(),
            "k": self.k,
            "h": self.h,
            "cap": self.cap,
            "c_plus": self.c_plus,
            "c_minus": self.c_minus,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Cusum:
        det = cls(
            float(state["k"]),
            float(state["h"]),
            direction=state["direction"],
            warmup=int(state["warmup"]),
            min_sigma=state.get("min_sigma"),
            mu0=state.get("mu0"),
            sigma=state.get("sigma"),
            cap=state.get("cap"),
        )
        det._load_base(state)
        det.c_plus = float(state.get("c_plus", 0.0))
        det.c_minus = float(state.get("c_minus", 0.0))
        return det


Detector = Ewma | Cusum


def detector_from_state(state: Mapping[str, Any]) -> Detector:
    """Rebuild an :class:`Ewma` or :class:`Cusum` from :meth:`to_state` output."""
    kind = state.get("kind")
    if kind == "ewma":
        return Ewma.from_state(state)
    if kind == "cusum":
        return Cusum.from_state(state)
    raise ValueError(f"unknown detector kind {kind!r}")
