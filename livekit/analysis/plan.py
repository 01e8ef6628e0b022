"""Planning an A/B test: how small an effect it can find, and how many days it needs.

Two designs, both planned from the store's own history:

* **viewer-randomized** (:func:`plan_viewers`): from the viewer export over a history window,
  for every duration D = 1 .. ``max_days``: the distinct viewers a D-day experiment reaches
  (averaged over every D-day window of the history; returning viewers make it grow slower
  than D), the per-viewer metric's mean and variance over D days, and the share of that
  variance CUPED removes, rho², where rho is the correlation of the metric over the window
  with the same metric over the ``pre_period_days`` before it (the covariate
  :func:`~livekit.analysis.experiment.with_pre_period` builds for the analysis);
* **session-randomized** (switchback, :func:`plan_sessions`): from the shows of the history
  and their T+1 analysis: shows per day, and the per-show ratio metric's mean and
  delta-method variance; D days give D x shows per day x split shows per arm.

The minimum detectable effect (MDE) is a relative lift, and the variance of the lift's
estimate is the one the analysis will use: the delta method on the ratio of the arms' means
(:func:`livekit.analysis.abtest._lift_variance`, GrowthBook's), with the per-unit variance
p(1 - p) of a proportion (p of arm B under the alternative), the sample variance of a mean
(the same in both arms, as GrowthBook's power calculation assumes) or the delta-method
variance of a per-show ratio (in arm B scaled by (1 + lift)²: show-to-show differences are
multiplicative). Power starts from GrowthBook's two-sided frequentist power (GrowthBook
docs, "Power analysis technical details"):

    power(L) = 1 - Phi(z_{1-alpha/2} - L / se(L)) + Phi(-z_{1-alpha/2} - L / se(L)),

(:func:`power_at`), with se(L) at the critical value replaced by the se the analysis will
compute there (:func:`delta_power`: the analysis takes the variance from the estimates, and
for a proportion GrowthBook's form understates the power by about 3 points at 80%), and
with a noncentral t on min(shows per arm) - 1 degrees of freedom for sessions (the df of the
session jackknife the switchback analysis uses, :func:`~livekit.analysis.abtest.compare_sessions`),
averaged over the coin flips that give each show its arm (:func:`switchback_power`),
and MDE(D) is the lift at which it reaches the target power (se(L) grows with L, so the
equation is solved numerically; scipy's brentq, power being increasing in L). CUPED
multiplies the per-unit variance by 1 - rho²; it is not offered for sessions (a dozen shows
per arm give no stable pre-period regression).

Pure: frames in, frames and frozen dataclasses out, English columns, rates and lifts as
fractions. A user mistake raises :class:`~livekit.vocab.errors.LivekitError` with one
Chinese line.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from livekit.analysis.abtest import RatioStatistic, _lift_variance
from livekit.analysis.experiment import experiment_metric, per_viewer
from livekit.vocab.errors import LivekitError

__all__ = [
    "LIFT_SCHEMA",
    "SESSION_SCHEMA",
    "VIEWER_SCHEMA",
    "WINDOW_SCHEMA",
    "Kind",
    "SessionPlan",
    "ViewerPlan",
    "check_plan_inputs",
    "days_needed",
    "delta_power",
    "lift_se",
    "lift_table",
    "mde",
    "plan_sessions",
    "plan_viewers",
    "power_at",
    "switchback_power",
    "viewer_windows",
]

Kind: TypeAlias = Literal["proportion", "mean", "ratio"]

WINDOW_SCHEMA: dict[str, type[pl.DataType]] = {
    "start": pl.Date,
    "days": pl.Int64,
    "viewers": pl.Int64,
    "mean": pl.Float64,
    "variance": pl.Float64,
    "rho2": pl.Float64,
}
VIEWER_SCHEMA: dict[str, type[pl.DataType]] = {
    "days": pl.Int64,
    "windows": pl.Int64,
    "viewers": pl.Float64,
    "n_a": pl.Float64,
    "n_b": pl.Float64,
    "mean": pl.Float64,
    "variance": pl.Float64,
    "rho2": pl.Float64,
    "mde": pl.Float64,
    "mde_cuped": pl.Float64,
}
SESSION_SCHEMA: dict[str, type[pl.DataType]] = {
    "days": pl.Int64,
    "shows": pl.Float64,
    "n_a": pl.Float64,
    "n_b": pl.Float64,
    "mde": pl.Float64,
}
LIFT_SCHEMA: dict[str, type[pl.DataType]] = {
    "lift": pl.Float64,
    "viewer_days": pl.Int64,
    "viewer_days_cuped": pl.Int64,
    "session_days": pl.Int64,
    "viewer_power": pl.Float64,
    "viewer_power_cuped": pl.Float64,
    "session_power": pl.Float64,
}
_ANY = ("converted", "clicked")  # per-viewer columns that are "at least once", not sums
_MAX_LIFT = 100.0  # the largest relative lift the MDE search considers for means and ratios


# ---- inputs -------------------------------------------------------------------------------------
def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value: object) -> float | None:
    """``value`` as a finite float, None for anything else (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def check_plan_inputs(
    *,
    alpha: object,
    power: object,
    split: object,
    max_days: object,
    pre_period_days: object = 0,
    lifts: Sequence[object] = (),
) -> tuple[float, float]:
    """Check the planning parameters; returns the split as the arms' shares (A, B).

    A Chinese :class:`LivekitError` names the first mistake: alpha or power outside (0, 1),
    a split that is not two positive numbers, ``max_days`` not a whole number >= 1,
    ``pre_period_days`` negative, a lift that is not a positive fraction.
    """
    a = _real(alpha)
    if a is None or not 0 < a < 1:
        raise LivekitError(f"显著性水平 alpha 须在 0 与 1 之间（不含端点），收到 {alpha!r}")
    p = _real(power)
    if p is None or not 0 < p < 1:
        raise LivekitError(f"检验功效 power 须在 0 与 1 之间（不含端点，常用 0.8），收到 {power!r}")
    values = (
        [_real(v) for v in split]
        if isinstance(split, Sequence) and not isinstance(split, str)
        else []
    )
    shares = [v for v in values if v is not None and v > 0]
    if len(values) != 2 or len(shares) != 2:
        raise LivekitError(f"planned_split 须是两个正数 [A, B]，例如 [0.5, 0.5]；收到 {split!r}")
    if not _is_int(max_days) or int(max_days) < 1:  # type: ignore[call-overload]
        raise LivekitError(f"max_days 须为不小于 1 的整数（天），收到 {max_days!r}")
    if not _is_int(pre_period_days) or int(pre_period_days) < 0:  # type: ignore[call-overload]
        raise LivekitError(f"pre_period_days 须为不小于 0 的整数（天），收到 {pre_period_days!r}")
    for lift in lifts:
        value = _real(lift)
        if value is None or value <= 0:
            raise LivekitError(f"lifts 须为正的相对提升（小数，0.1 表示提升 10%），收到 {lift!r}")
    return shares[0] / (shares[0] + shares[1]), shares[1] / (shares[0] + shares[1])


# ---- power and MDE ---------------------------------------------------------------------------------
def lift_se(
    lift: float, *, mean: float, variance: float, n_a: float, n_b: float, kind: Kind
) -> float:
    """Standard error of the relative lift's estimate when the true lift is ``lift``.

    ``mean`` and ``variance`` are arm A's per-unit mean and variance (for a proportion the
    variance is p(1 - p) of ``mean``, scaled by ``variance / (p (1 - p))`` when CUPED shrank
    it); arm B has mean ``mean (1 + lift)`` and, for a proportion, the Bernoulli variance of
    that mean (same scaling); for a per-show ratio ``variance (1 + lift)²`` (a show's rate
    differs from the next by a factor: traffic mix, host, products; so its spread grows with
    its level, and the switchback bench found the planted lift less often than promised when
    arm B was given A's spread); for a mean ``variance``, as GrowthBook's power calculation
    assumes. The delta method of :func:`~livekit.analysis.abtest._lift_variance`, as the
    analysis computes it.
    """
    mean_b = mean * (1.0 + lift)
    var_b = variance * (1.0 + lift) ** 2 if kind == "ratio" else variance
    if kind == "proportion":
        base = mean * (1.0 - mean)
        shrink = variance / base if base > 0 else 1.0
        var_b = max(mean_b * (1.0 - mean_b), 0.0) * shrink
    return math.sqrt(_lift_variance(mean, variance, n_a, mean_b, var_b, n_b))  # type: ignore[arg-type]


def power_at(lift: float, se: float, *, alpha: float, df: float = math.inf) -> float:
    """Two-sided power of a test of "no lift" at level ``alpha`` when the true lift is ``lift``
    and its estimate has standard error ``se``: GrowthBook's normal formula, or the noncentral
    t with ``df`` degrees of freedom when ``df`` is finite (few units)."""
    from scipy import stats

    if not (se > 0 and math.isfinite(se)):
        return math.nan
    delta = lift / se
    if math.isinf(df):
        z = float(stats.norm.ppf(1.0 - alpha / 2.0))
        return float(stats.norm.sf(z - delta) + stats.norm.cdf(-z - delta))
    t = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    sides = [float(stats.nct.sf(t, df, delta)), float(stats.nct.cdf(-t, df, delta))]
    for i, (crit, sign) in enumerate(((t, 1.0), (-t, -1.0))):
        if not math.isfinite(sides[i]):
            # scipy's noncentral t loses its way far in the tail (NaN); there the normal
            # approximation of the noncentral t (Johnson & Welch 1940) is as good as exact
            z = (crit * (1.0 - 1.0 / (4.0 * df)) - delta) / math.sqrt(1.0 + crit**2 / (2.0 * df))
            sides[i] = float(stats.norm.sf(z) if sign > 0 else stats.norm.cdf(z))
    return sides[0] + sides[1]


def delta_power(
    lift: float, *, mean: float, variance: float, n_a: float, n_b: float, kind: Kind, alpha: float
) -> float:
    """Power of the analysis's test of the relative lift (its interval excludes 0) when the
    true lift is ``lift``, with many units (normal).

    The analysis computes the lift's variance from the *estimated* means, so an estimate is
    significant (upwards) when it exceeds c, the lift at which z_{1-alpha/2} x se(c) = c (the
    interval just touches 0), and the estimate's spread is se(lift): power =
    Phi((lift - c) / se(lift)) + Phi((c' - lift) / se(lift)), c' the same bound below 0.
    GrowthBook's formula (:func:`power_at`) takes se(lift) for both; for a proportion, whose
    variance grows with its rate, that understates the power by about 3 points at 80% (the
    tests' Monte Carlo of the analysis's own interval), and the sandbox bench found the
    planted lift that much more often than promised.
    """
    from scipy import stats
    from scipy.optimize import brentq

    def se(at: float) -> float:
        return lift_se(at, mean=mean, variance=variance, n_a=n_a, n_b=n_b, kind=kind)

    spread = se(lift)
    if not (spread > 0 and math.isfinite(spread)):
        return math.nan
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    top = 1.0 / mean - 1.0 - 1e-9 if kind == "proportion" else _MAX_LIFT
    upper = z * se(0.0)
    if top > 0 and z * se(top) < top:  # else the bound lies beyond every possible lift
        upper = float(brentq(lambda c: c - z * se(c), 0.0, top, xtol=1e-12))
    lower = -z * se(0.0)
    if -1.0 + 1e-9 - (-z * se(-1.0 + 1e-9)) < 0:  # the bound below 0 lies above -100%
        lower = float(brentq(lambda c: c + z * se(c), -1.0 + 1e-9, 0.0, xtol=1e-12))
    return float(stats.norm.sf((upper - lift) / spread) + stats.norm.cdf((lower - lift) / spread))


def mde(
    *,
    mean: float,
    variance: float,
    n_a: float,
    n_b: float,
    kind: Kind,
    alpha: float,
    power: float,
) -> float | None:
    """The smallest relative lift found with probability ``power`` (:func:`delta_power`);
    None when no lift can be (too few units, no variance or a zero mean). For a proportion
    the lift is bounded by the rate reaching 1."""
    from scipy.optimize import brentq

    if not (mean > 0 and variance > 0 and n_a >= 2 and n_b >= 2):
        return None
    top = min(_MAX_LIFT, 1.0 / mean - 1.0 - 1e-9) if kind == "proportion" else _MAX_LIFT
    if top <= 0:
        return None

    def gap(lift: float) -> float:
        found = delta_power(
            lift, mean=mean, variance=variance, n_a=n_a, n_b=n_b, kind=kind, alpha=alpha
        )
        return found - power

    if not gap(top) >= 0:
        return None
    return float(brentq(gap, 1e-12, top, xtol=1e-10, rtol=1e-10))


def days_needed(table: pl.DataFrame, lift: float, column: str = "mde") -> int | None:
    """The first duration (``days``) whose MDE in ``column`` is at most ``lift``; None when
    no duration of the table reaches it."""
    hit = table.filter(pl.col(column).is_not_null() & (pl.col(column) <= lift))
    return int(hit["days"].min()) if hit.height else None  # type: ignore[arg-type]


# ---- viewer-randomized design ---------------------------------------------------------------------
def _day_column(visits: pl.DataFrame) -> pl.Expr:
    dtype = visits.schema.get("enter_time")
    if dtype is None:
        raise LivekitError("观众明细缺少列：enter_time")
    return pl.col("enter_time").dt.date() if dtype != pl.Date else pl.col("enter_time")


Daily: TypeAlias = dict[date, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]


def _daily(visits: pl.DataFrame, column: str) -> Daily:
    """Per calendar day of the visits: (viewer codes, metric value) of each viewer that day,
    from :func:`per_viewer` on the day's visits; viewer codes index all viewers seen."""
    with_day = visits.with_columns(_day=_day_column(visits))
    codes = with_day.select(pl.col("viewer_id").unique().sort()).with_row_index("_code")
    days: Daily = {}
    for (day,), rows in with_day.partition_by("_day", as_dict=True, include_key=False).items():
        one = per_viewer(rows).join(codes, on="viewer_id", how="left")
        value = one.get_column(column).cast(pl.Float64).to_numpy()
        days[day] = (one.get_column("_code").to_numpy().astype(np.int64), value)
    return days


def viewer_windows(
    visits: pl.DataFrame,
    metric: str,
    *,
    start: date,
    end: date,
    max_days: int,
    pre_period_days: int = 28,
) -> pl.DataFrame:
    """Every D-day window [s, s + D - 1] inside [``start``, ``end``] (D = 1 .. ``max_days``):
    the distinct ``viewers`` with a visit in it, the per-viewer metric's ``mean`` and sample
    ``variance`` (n - 1) over them, and ``rho2``, the squared correlation of the metric over
    the window with the same metric over the ``pre_period_days`` days before ``s`` (0 for a
    viewer not seen then; NaN when either has no variance or ``pre_period_days`` is 0).

    The values are those of :func:`~livekit.analysis.experiment.per_viewer` on the window's
    visits and :func:`~livekit.analysis.experiment.with_pre_period` on the pre-period's
    (the tests check it window by window). ``visits`` must reach back to
    ``start - pre_period_days`` for full pre-periods; earlier days are not needed.
    """
    column = experiment_metric(metric, "viewer").column
    assert column is not None
    any_of = column in _ANY
    daily = _daily(visits, column)
    n_codes = 1 + max((int(c.max()) for c, _ in daily.values() if c.size), default=-1)
    rows: list[dict[str, object]] = []
    span = (end - start).days + 1
    # Running sums per start day: every window starting at s extends the one a day shorter by
    # one day's viewers, and the pre-period of s is the same for every D. Hand-written (numpy
    # scatter updates) because the 400-odd windows of a 4-week history would otherwise each
    # group a month of visits again; the tests compare every window with per_viewer.
    pre_raw = np.zeros(n_codes)
    for k in range(pre_period_days):
        day = start - timedelta(days=pre_period_days - k)
        if day in daily:
            codes, value = daily[day]
            pre_raw[codes] += value > 0 if any_of else value
    for offset in range(span):
        s = start + timedelta(days=offset)
        if offset:
            for day, sign in (
                (s - timedelta(days=1), 1.0),
                (s - timedelta(days=pre_period_days + 1), -1.0),
            ):
                if pre_period_days and day in daily:
                    codes, value = daily[day]
                    pre_raw[codes] += sign * ((value > 0) if any_of else value)
        x_all = (pre_raw > 0.5).astype(float) if any_of else pre_raw.copy()
        raw = np.zeros(n_codes)
        present = np.zeros(n_codes, dtype=bool)
        n = 0
        sy = syy = sx = sxx = sxy = 0.0
        for d in range(1, min(max_days, span - offset) + 1):
            day = s + timedelta(days=d - 1)
            if day in daily:
                codes, value = daily[day]
                new = ~present[codes]
                old_y = _effective(raw[codes], any_of)
                raw[codes] += value
                new_y = _effective(raw[codes], any_of)
                x = x_all[codes]
                present[codes] = True
                n += int(new.sum())
                sx += float(x[new].sum())
                sxx += float((x[new] ** 2).sum())
                sy += float((new_y - old_y).sum())
                syy += float((new_y**2 - old_y**2).sum())
                sxy += float((x * (new_y - old_y)).sum())
            rows.append(
                {"start": s, "days": d, **_moments(n, sy, syy, sx, sxx, sxy, pre_period_days)}
            )
    return pl.DataFrame(rows, schema=WINDOW_SCHEMA)


def _effective(raw: npt.NDArray[np.float64], any_of: bool) -> npt.NDArray[np.float64]:
    return (raw > 0).astype(float) if any_of else raw


def _moments(
    n: int, sy: float, syy: float, sx: float, sxx: float, sxy: float, pre_days: int
) -> dict[str, float | int]:
    if n < 2:
        return {
            "viewers": n,
            "mean": sy / n if n else math.nan,
            "variance": math.nan,
            "rho2": math.nan,
        }
    mean = sy / n
    var_y = max((syy - sy * sy / n) / (n - 1), 0.0)
    var_x = max((sxx - sx * sx / n) / (n - 1), 0.0)
    cov = (sxy - sx * sy / n) / (n - 1)
    rho2 = cov * cov / (var_x * var_y) if pre_days and var_x > 0 and var_y > 0 else math.nan
    return {"viewers": n, "mean": mean, "variance": var_y, "rho2": min(rho2, 1.0)}


@dataclass(frozen=True)
class ViewerPlan:
    """The viewer-randomized plan of one metric over a history window.

    ``by_days`` has one row per duration ``days`` (1 .. max_days): the D-day ``windows``
    averaged, the expected distinct ``viewers`` and their split ``n_a`` / ``n_b``, the
    per-viewer ``mean`` and ``variance``, CUPED's ``rho2`` (NaN without a pre-period), and
    the relative ``mde`` without and ``mde_cuped`` with CUPED (null: not reachable).
    """

    metric: str
    label: str
    kind: Kind
    start: date
    end: date
    pre_period_days: int
    split: tuple[float, float]
    alpha: float
    power: float
    by_days: pl.DataFrame

    def days_needed(self, lift: float, *, cuped: bool = False) -> int | None:
        return days_needed(self.by_days, lift, "mde_cuped" if cuped else "mde")

    def power_after(self, lift: float, days: int, *, cuped: bool = False) -> float:
        """Power at relative ``lift`` after ``days`` days (NaN beyond the plan's durations)."""
        row = self.by_days.filter(pl.col("days") == days)
        if row.height == 0:
            return math.nan
        r = row.row(0, named=True)
        variance = _variance(r["mean"], r["variance"], self.kind)
        if cuped:
            variance *= 1.0 - (
                r["rho2"] if r["rho2"] is not None and math.isfinite(r["rho2"]) else 0.0
            )
        return delta_power(
            lift,
            mean=r["mean"],
            variance=variance,
            n_a=r["n_a"],
            n_b=r["n_b"],
            kind=self.kind,
            alpha=self.alpha,
        )


def _variance(mean: float, variance: float, kind: Kind) -> float:
    """The per-unit variance the analysis uses: p(1 - p) for a proportion (as
    :class:`~livekit.analysis.abtest.ProportionStatistic`), the sample variance otherwise."""
    return mean * (1.0 - mean) if kind == "proportion" else variance


def plan_viewers(
    visits: pl.DataFrame,
    metric: str = "conversion",
    *,
    start: date,
    end: date,
    max_days: int = 28,
    pre_period_days: int = 28,
    alpha: float = 0.05,
    power: float = 0.8,
    split: Sequence[float] = (0.5, 0.5),
) -> ViewerPlan:
    """The viewer-randomized plan from the viewer export ``visits`` (history [``start``,
    ``end``] and, for CUPED, the ``pre_period_days`` before it).

    Durations go up to ``max_days``, which may not exceed the history's days. A Chinese
    error when the metric is unknown, a parameter is out of range, or the history has too
    few viewers or no variation in the metric.
    """
    m = experiment_metric(metric, "viewer")
    share = check_plan_inputs(
        alpha=alpha, power=power, split=split, max_days=max_days, pre_period_days=pre_period_days
    )
    span = (end - start).days + 1
    if span < max_days:
        raise LivekitError(
            f"历史只有 {span} 天（{start} 至 {end}），少于要规划的最长天数 max_days = {max_days}："
            "请加长 history_days 或减小 max_days。"
        )
    missing = [c for c in ("viewer_id", "enter_time") if c not in visits.columns]
    if missing:
        raise LivekitError(f"观众明细缺少列：{'、'.join(missing)}")
    first = start - timedelta(days=pre_period_days)
    day = _day_column(visits)
    used = visits.filter(day.is_between(first, end))
    in_history = used.filter(day.is_between(start, end))
    if in_history.get_column("viewer_id").n_unique() < 2:
        raise LivekitError(
            f"{start} 至 {end} 的观众明细不足两位观众，无法估计人数与波动：请先导入观众明细，或换一段有直播的历史。"
        )
    windows = viewer_windows(
        used, metric, start=start, end=end, max_days=max_days, pre_period_days=pre_period_days
    )
    by = (
        windows.group_by("days")
        .agg(
            pl.len().alias("windows"),
            pl.col("viewers").mean().alias("viewers"),
            pl.col("mean").mean(),
            pl.col("variance").mean(),
            pl.col("rho2").fill_nan(None).mean(),
        )
        .sort("days")
    )
    if not (by["mean"].max() or 0) > 0 or not (by["variance"].max() or 0) > 0:  # type: ignore[operator]
        raise LivekitError(
            f"{start} 至 {end} 的历史里「{m.label}」没有任何波动（全为 0 或全相同），无法规划实验。"
        )
    kind: Kind = "proportion" if m.kind == "proportion" else "mean"
    rows = []
    for r in by.iter_rows(named=True):
        n_a, n_b = r["viewers"] * share[0], r["viewers"] * share[1]
        variance = (
            _variance(r["mean"], r["variance"], kind) if r["variance"] is not None else math.nan
        )
        rho2 = r["rho2"] if r["rho2"] is not None else math.nan
        reduced = variance * (1.0 - rho2) if math.isfinite(rho2) else variance
        plain, cuped = (
            mde(
                mean=r["mean"],
                variance=v,
                n_a=n_a,
                n_b=n_b,
                kind=kind,
                alpha=alpha,
                power=power,
            )
            if math.isfinite(v)
            else None
            for v in (variance, reduced)
        )
        rows.append(
            {
                "days": r["days"],
                "windows": r["windows"],
                "viewers": r["viewers"],
                "n_a": n_a,
                "n_b": n_b,
                "mean": r["mean"],
                "variance": variance,
                "rho2": rho2,
                "mde": plain,
                "mde_cuped": cuped,
            }
        )
    return ViewerPlan(
        metric=metric,
        label=m.label,
        kind=kind,
        start=start,
        end=end,
        pre_period_days=pre_period_days,
        split=share,
        alpha=float(alpha),
        power=float(power),
        by_days=pl.DataFrame(rows, schema=VIEWER_SCHEMA),
    )


# ---- session-randomized design (switchback) ------------------------------------------------------
@dataclass(frozen=True)
class SessionPlan:
    """The switchback plan of one room metric: ``shows`` in the history's ``history_days``
    days, their ``shows_per_day``, the per-show ratio's ``mean`` (Σ numerator / Σ
    denominator) and per-show delta-method ``variance``; ``by_days`` one row per duration
    with the expected ``shows``, per arm ``n_a`` / ``n_b``, and the relative ``mde`` over
    the coin flips of the arms (null: not reachable, e.g. too few shows)."""

    metric: str
    label: str
    start: date
    end: date
    history_days: int
    shows: int
    shows_per_day: float
    mean: float
    variance: float
    split: tuple[float, float]
    alpha: float
    power: float
    by_days: pl.DataFrame

    def days_needed(self, lift: float) -> int | None:
        return days_needed(self.by_days, lift)

    def power_after(self, lift: float, days: int) -> float:
        """Power at relative ``lift`` after ``days`` days (over the coin flips of the arms)."""
        return switchback_power(
            lift,
            mean=self.mean,
            variance=self.variance,
            shows=days * self.shows_per_day,
            split=self.split[0],
            alpha=self.alpha,
        )


def switchback_power(
    lift: float, *, mean: float, variance: float, shows: float, split: float, alpha: float
) -> float:
    """Power of a switchback of ``shows`` shows (rounded) whose arms are drawn show by show
    (B with probability ``1 - split``), analysed as the A/B report does: the lift's
    delta-method variance from the per-show ``variance``, a t on min(shows per arm) - 1
    degrees of freedom, nothing found with fewer than two shows in an arm. The mean over the
    binomial number of shows in A: with ten shows an arm of three (df 2) is common, and its
    t quantile (4.3) costs far more power than the planned five and five suggest."""
    from scipy import stats

    total = round(shows)
    k = np.arange(total + 1)
    weight = stats.binom.pmf(k, total, split)
    keep = (np.minimum(k, total - k) >= 2) & (weight > 1e-12)
    if not keep.any():
        return 0.0
    n_a, n_b, weight = k[keep].astype(float), (total - k[keep]).astype(float), weight[keep]
    mean_b = mean * (1.0 + lift)
    var_b = variance * (1.0 + lift) ** 2  # the spread grows with the level (see lift_se)
    var = var_b / (mean**2 * n_b) + mean_b**2 * variance / (mean**4 * n_a)  # _lift_variance
    delta = lift / np.sqrt(var)
    df = np.minimum(n_a, n_b) - 1.0
    t = stats.t.ppf(1.0 - alpha / 2.0, df)
    pos = stats.nct.sf(t, df, delta)
    neg = stats.nct.cdf(-t, df, delta)
    # scipy's noncentral t loses its way far in the tail (NaN): there the normal
    # approximation of the noncentral t (Johnson & Welch 1940) is as good as exact
    scale = np.sqrt(1.0 + t**2 / (2.0 * df))
    shrink = 1.0 - 1.0 / (4.0 * df)
    pos = np.where(np.isfinite(pos), pos, stats.norm.sf((t * shrink - delta) / scale))
    neg = np.where(np.isfinite(neg), neg, stats.norm.cdf((-t * shrink - delta) / scale))
    return float(np.sum(weight * (pos + neg)))


def plan_sessions(
    rooms: pl.DataFrame,
    room_analysis: pl.DataFrame,
    metric: str = "watch_click_rate",
    *,
    start: date,
    end: date,
    max_days: int = 28,
    alpha: float = 0.05,
    power: float = 0.8,
    split: Sequence[float] = (0.5, 0.5),
) -> SessionPlan:
    """The switchback plan from the shows started in [``start``, ``end``] (``rooms``, joined
    with ``room_analysis`` for the columns the metric reads). ``metric`` is a registered room
    metric or a viewer metric's room counterpart (as the A/B report accepts them)."""
    m = experiment_metric(metric, "session")
    assert m.room_metric is not None
    share = check_plan_inputs(alpha=alpha, power=power, split=split, max_days=max_days)
    if "start_time" not in rooms.columns or "room_id" not in rooms.columns:
        raise LivekitError("直播场次数据缺少列：room_id、start_time")
    shows = rooms.filter(pl.col("start_time").dt.date().is_between(start, end)).unique(
        "room_id", keep="first", maintain_order=True
    )
    needed = sorted(set(m.room_metric.columns) - set(shows.columns))
    if needed:
        absent = [c for c in needed if c not in room_analysis.columns]
        if absent:
            raise LivekitError(f"直播间分析数据缺少列：{'、'.join(absent)}")
        shows = shows.join(
            room_analysis.select("room_id", *needed).unique("room_id"), on="room_id", how="inner"
        )
    den = m.room_metric.denominator_expr()
    values = shows.select(
        num=m.room_metric.numerator_expr().cast(pl.Float64),
        den=(den if den is not None else pl.lit(1.0)).cast(pl.Float64),
    ).drop_nulls()
    history_days = (end - start).days + 1
    if values.height < 4:
        raise LivekitError(
            f"{start} 至 {end} 只有 {values.height} 场有「{m.label}」数据的直播，至少要 4 场才能估计场次间的波动："
            "请加长 history_days，或先同步直播数据。"
        )
    stat = RatioStatistic.of(values["num"].to_numpy(), values["den"].to_numpy())
    mean, variance = stat.mean, stat.variance
    if not (mean > 0 and variance > 0):
        raise LivekitError(
            f"{start} 至 {end} 各场直播的「{m.label}」没有波动或为 0，无法规划按场次轮换的实验。"
        )
    per_day = values.height / history_days
    rows = []
    for d in range(1, max_days + 1):
        total = d * per_day
        found = _switchback_mde(mean, variance, total, share[0], alpha, power)
        rows.append(
            {
                "days": d,
                "shows": total,
                "n_a": total * share[0],
                "n_b": total * share[1],
                "mde": found,
            }
        )
    return SessionPlan(
        metric=metric,
        label=m.label,
        start=start,
        end=end,
        history_days=history_days,
        shows=values.height,
        shows_per_day=per_day,
        mean=mean,
        variance=variance,
        split=share,
        alpha=float(alpha),
        power=float(power),
        by_days=pl.DataFrame(rows, schema=SESSION_SCHEMA),
    )


def _switchback_mde(
    mean: float, variance: float, shows: float, split: float, alpha: float, power: float
) -> float | None:
    """The lift at which :func:`switchback_power` reaches ``power``; None when it cannot."""
    from scipy.optimize import brentq

    def gap(lift: float) -> float:
        return (
            switchback_power(
                lift, mean=mean, variance=variance, shows=shows, split=split, alpha=alpha
            )
            - power
        )

    if gap(_MAX_LIFT) < 0:
        return None
    return float(brentq(gap, 1e-12, _MAX_LIFT, xtol=1e-10, rtol=1e-10))


# ---- the answer per lift -------------------------------------------------------------------------
def lift_table(
    viewers: ViewerPlan | None,
    sessions: SessionPlan | None,
    lifts: Sequence[float],
    planned_days: int,
) -> pl.DataFrame:
    """One row per relative ``lift``: days needed by the viewer design without and with
    CUPED and by the switchback (null: beyond the plan's durations, or no such plan), and
    the power each has after ``planned_days`` days."""
    rows = []
    for lift in lifts:
        rows.append(
            {
                "lift": float(lift),
                "viewer_days": viewers.days_needed(lift) if viewers else None,
                "viewer_days_cuped": viewers.days_needed(lift, cuped=True) if viewers else None,
                "session_days": sessions.days_needed(lift) if sessions else None,
                "viewer_power": viewers.power_after(lift, planned_days) if viewers else None,
                "viewer_power_cuped": (
                    viewers.power_after(lift, planned_days, cuped=True) if viewers else None
                ),
                "session_power": sessions.power_after(lift, planned_days) if sessions else None,
            }
        )
    return pl.DataFrame(rows, schema=LIFT_SCHEMA)
