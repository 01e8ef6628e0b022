"""Small statistical helpers shared by the analysis modules (private).

Defaults are pinned here and passed explicitly everywhere; nothing relies on a library default.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import polars as pl

from livekit.vocab.errors import LivekitError

ALPHA = 0.05  # two-sided: 95% intervals unless a caller asks otherwise


def z_value(alpha: float) -> float:
    """The two-sided standard-normal quantile z_{1-alpha/2} (1.959964 for alpha = 0.05)."""
    if not 0.0 < alpha < 1.0:
        raise LivekitError(f"显著性水平 alpha 须在 0 与 1 之间（不含端点），收到 {alpha!r}")
    # the standard library's inverse normal CDF (Wichura's AS 241, ~1e-16 relative error) keeps
    # scipy out of the import path of the light modules
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def wilson_bounds(successes: float, trials: float, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (see :func:`wilson_exprs` for the formula).

    ``trials == 0`` gives ``(0.0, 1.0)``: with no observations every rate is consistent with the
    data (it is also the limit of the formula as n -> 0). Counts that are negative, or more
    successes than trials, are a misuse and raise :class:`LivekitError`.
    """
    if not (math.isfinite(successes) and math.isfinite(trials)):
        raise LivekitError(f"成功数与试验数须为有限数值，收到 {successes!r}/{trials!r}")
    if successes < 0 or trials < 0:
        raise LivekitError(f"成功数与试验数不能为负，收到 {successes!r}/{trials!r}")
    if successes > trials:
        raise LivekitError(f"成功数 {successes!r} 大于试验数 {trials!r}：比例须在 0 到 1 之间")
    if trials == 0:
        return 0.0, 1.0
    z = z_value(alpha)
    p = successes / trials
    z2n = z * z / trials
    # Wilson (1927), JASA 22:209; as written in Brown, Cai & DasGupta (2001), Statistical
    # Science 16(2):101-133, eq. (4):  (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / trials + z2n / (4.0 * trials)) / (1.0 + z2n)
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_exprs(
    successes: pl.Expr, trials: pl.Expr, alpha: float = ALPHA
) -> tuple[pl.Expr, pl.Expr]:
    """(low, high) expressions of the Wilson interval, the same formula as :func:`wilson_bounds`.

    Row by row: ``trials == 0`` gives ``(0, 1)``; a null count, a negative count or more
    successes than trials gives nulls (degenerate rows stay in the frame as data).
    """
    z = z_value(alpha)
    s = successes.cast(pl.Float64)
    n = trials.cast(pl.Float64)
    p = s / n
    z2n = z * z / n
    # Wilson (1927); Brown, Cai & DasGupta (2001) eq. (4), as in wilson_bounds
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * (p * (1.0 - p) / n + z2n / (4.0 * n)).sqrt() / (1.0 + z2n)
    valid = (s >= 0) & (n >= 0) & (s <= n)
    low = (
        pl.when(valid & (n == 0))
        .then(pl.lit(0.0))
        .when(valid)
        .then(pl.max_horizontal(pl.lit(0.0), centre - half))
        .otherwise(pl.lit(None, pl.Float64))
    )
    high = (
        pl.when(valid & (n == 0))
        .then(pl.lit(1.0))
        .when(valid)
        .then(pl.min_horizontal(pl.lit(1.0), centre + half))
        .otherwise(pl.lit(None, pl.Float64))
    )
    return low, high


def safe_ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null where the denominator is zero or null (never inf/NaN)."""
    return (
        pl.when(denominator.is_not_null() & (denominator != 0))
        .then(numerator.cast(pl.Float64) / denominator.cast(pl.Float64))
        .otherwise(pl.lit(None, pl.Float64))
    )


def require_columns(frame: pl.DataFrame, columns: list[str] | tuple[str, ...], what: str) -> None:
    """Raise a readable :class:`LivekitError` naming the columns ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LivekitError(
            f"{what}缺少列：{'、'.join(missing)}；现有的列：{'、'.join(frame.columns) or '（无）'}"
        )
