"""Dwell time: retention curves (Kaplan-Meier), group comparison and conversion by dwell.

Follows docs/metrics.md ("Dwell time"). A viewer visit is an event "left" at its duration; a
visit still open when the stream ends (or when the data was cut) is censored. Retention is the
Kaplan-Meier curve with pointwise confidence limits, its median, and the log-rank test between
groups, computed from counts per distinct time with the arithmetic of statsmodels
``SurvfuncRight`` and ``survdiff`` (see "Kaplan-Meier" below for why).

Choices pinned here:

* survival confidence limits are pointwise, on the log(-log S) scale ("log-log"; Kalbfleisch &
  Prentice 2002, The Statistical Analysis of Failure Time Data, 2nd ed.) from Greenwood's
  standard error (Greenwood 1926) as statsmodels computes it:
  S^exp(±z·se / (S·ln S)); the limits stay inside [0, 1]. This is the ``conf.type = "log-log"``
  of R's survival package and the ``"cloglog"`` transform statsmodels uses for quantile
  intervals, so the median's interval is the set of times where this band crosses 0.5;
* the median is the first event time with S(t) < 0.5 (strict, SAS's convention, statsmodels
  ``quantile``): ``None`` when the curve never drops below 0.5;
* the log-rank test is ``survdiff`` with unweighted (log-rank) scores, passed explicitly;
* bucket intervals are Wilson score intervals (statsmodels ``proportion_confint``,
  ``method="wilson"``); an empty bucket has no rate and the interval [0, 1].

:func:`dwell_conversion` tests the claim "viewers who stay over 3 minutes convert more" with a
risk ratio and a Katz log interval. Its unit is the **visit** (one row of the viewer export), as
the sandbox plants it (``truth.py``: "paid visits / visits, dwell > threshold vs <= threshold").
It measures association, not cause.

Pure: frames and frozen dataclasses with English names; traffic sources stay codes
(:data:`UNKNOWN_SOURCE`, :data:`OTHER_GROUP` included). Labels, prose and charts are the report
page's (:mod:`livekit.pages.dwell_time`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import proportion_confint

from livekit.analysis.abtest import DEFAULT_ALPHA, ErrorCode
from livekit.vocab.errors import LivekitError

__all__ = [
    "DEFAULT_DWELL_BUCKETS_S",
    "DWELL_THRESHOLD_S",
    "OTHER_GROUP",
    "SURVIVAL_SCHEMA",
    "UNKNOWN_SOURCE",
    "DwellResult",
    "GroupRetention",
    "Retention",
    "dwell_conversion",
    "logrank",
    "median_survival",
    "median_survival_ci",
    "retention",
    "retention_by_group",
    "still_watching",
    "survival",
    "visit_durations",
]

DWELL_THRESHOLD_S = 180.0  # metrics.md: "viewers who stay over 3 minutes"
# Bucket edges in seconds; buckets are [0, 60], (60, 180], (180, 600], (600, 1800], > 1800.
DEFAULT_DWELL_BUCKETS_S: tuple[float, ...] = (0.0, 60.0, 180.0, 600.0, 1800.0)

SURVIVAL_SCHEMA: dict[str, pl.DataType] = {
    "time": pl.Float64(),
    "at_risk": pl.Int64(),
    "events": pl.Int64(),
    "survival": pl.Float64(),
    "std_err": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
}
BUCKET_SCHEMA: dict[str, pl.DataType] = {
    "lower_s": pl.Float64(),
    "upper_s": pl.Float64(),  # null: open-ended
    "visits": pl.Int64(),
    "paid": pl.Int64(),
    "rate": pl.Float64(),  # null when the bucket is empty
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
}

Values: TypeAlias = "npt.ArrayLike | pl.Series"


def _to_numpy(values: Values) -> npt.NDArray[np.generic]:
    raw = values.to_numpy() if isinstance(values, pl.Series) else values
    return np.asarray(raw).ravel()


def _survival_input(
    durations: Values, observed: Values
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    try:
        t = np.asarray(_to_numpy(durations), dtype=np.float64)  # no copy when already float64
    except (TypeError, ValueError):
        raise LivekitError("停留时长须为数值（秒）。") from None
    e = _to_numpy(observed)
    if t.size != e.size:
        raise LivekitError(
            f"停留时长（{t.size} 个）与是否离开的标记（{e.size} 个）数量不同；须一一对应。"
        )
    if not np.isfinite(t).all() or (t < 0).any():
        raise LivekitError("停留时长须为非负的有限数值，不能有空值。")
    try:
        flags = e.astype(np.float64)
    except (TypeError, ValueError):
        raise LivekitError("是否离开的标记须为 0/1 或 True/False。") from None
    if e.dtype != np.bool_ and not np.isin(flags, (0.0, 1.0)).all():
        raise LivekitError("是否离开的标记须为 0/1 或 True/False（1 = 已离开，0 = 删失）。")
    return t, flags


def _z(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise LivekitError(f"显著性水平 alpha 须在 0 与 1 之间（不含端点），收到 {alpha!r}")
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


# ---- Kaplan-Meier ---------------------------------------------------------------------------------
# Hand-written on purpose: statsmodels' SurvfuncRight and survdiff work per observation (a
# np.unique sort of every visit, one bincount per group), which costs seconds on the 10 million
# visits of a season. Kaplan-Meier and the log-rank test only need counts per distinct time
# (whole seconds: a few thousand rows), so we aggregate first with polars and run the same
# arithmetic as statsmodels on the counts. The results are those of SurvfuncRight (surv_prob,
# surv_prob_se, quantile, quantile_ci "cloglog") and survdiff to rounding; statsmodels stays the
# oracle in tests/test_analysis_dwell.py.


@dataclass(frozen=True)
class _Counts:
    """Visits per distinct time, ascending: every time, censored-only times included."""

    time: npt.NDArray[np.float64]
    visits: npt.NDArray[np.int64]
    events: npt.NDArray[np.float64]


# Whole seconds up to this many (48 days) are counted with np.bincount (a slot per second).
_BINCOUNT_MAX = 2**22


# Below this many observations a sort (np.unique) beats starting a polars query.
_SORT_MAX = 1_000_000


def _counts(t: npt.NDArray[np.float64], e: npt.NDArray[np.float64]) -> _Counts:
    # A slot per second pays only while the slots are not far more than the observations: a
    # province's few hundred parcels over 13 days (1.1M seconds) are counted by sorting.
    dense = t.size and t.max() <= min(_BINCOUNT_MAX, 64 * t.size + 65_536)
    if dense and (t == np.floor(t)).all():
        # the common case (exports in whole seconds): counting beats hashing
        slot = t.astype(np.int64)
        visits = np.bincount(slot)
        seen = np.flatnonzero(visits)
        return _Counts(
            time=seen.astype(np.float64),
            visits=visits[seen].astype(np.int64),
            events=np.asarray(np.bincount(slot, weights=e)[seen], dtype=np.float64),
        )
    if t.size <= _SORT_MAX:
        times, inverse, visits = np.unique(t + 0.0, return_inverse=True, return_counts=True)
        return _Counts(
            time=times.astype(np.float64),
            visits=visits.astype(np.int64),
            events=np.bincount(inverse.ravel(), weights=e, minlength=times.size).astype(np.float64),
        )
    frame = (
        pl.DataFrame({"time": t + 0.0, "event": e})  # + 0.0: -0.0 and 0.0 are one time
        .group_by("time")
        .agg(pl.len().alias("visits"), pl.col("event").sum())
        .sort("time")
    )
    return _Counts(
        time=frame["time"].to_numpy().astype(np.float64),
        visits=frame["visits"].to_numpy().astype(np.int64),
        events=frame["event"].to_numpy().astype(np.float64),
    )


@dataclass(frozen=True)
class _KaplanMeier:
    """The curve at the event times (statsmodels' surv_times, n_risk, n_events, ...)."""

    time: npt.NDArray[np.float64]
    at_risk: npt.NDArray[np.int64]
    events: npt.NDArray[np.float64]
    survival: npt.NDArray[np.float64]
    std_err: npt.NDArray[np.float64]


def _kaplan_meier(counts: _Counts) -> _KaplanMeier:
    # at risk just before each time: the visits at this time or later
    n_all = np.cumsum(counts.visits[::-1])[::-1]
    keep = np.flatnonzero(counts.events > 0)
    n, d = n_all[keep], counts.events[keep]
    # S(t) = prod(1 - d_i / n_i), summed on the log scale as statsmodels does (same rounding);
    # a factor of 0 (everyone left) makes S exactly 0 from there on.
    factor = 1 - d / n.astype(np.float64)
    zero = factor < 1e-16
    factor[zero] = 1e-16
    s = np.exp(np.cumsum(np.log(factor)))
    s[zero] = 0
    # Greenwood: Var S = S^2 * sum d_i / (n_i (n_i - d_i)); undefined from the first n_i = d_i on
    terms = d / np.clip(n * (n - d), 1e-12, np.inf).astype(np.float64)
    terms[(n == d) | (n == 0)] = np.nan
    se = np.sqrt(np.cumsum(terms))
    scale = np.isfinite(se) | (s != 0)
    se[scale] *= s[scale]
    se[~scale] = np.nan
    return _KaplanMeier(time=counts.time[keep], at_risk=n, events=d, survival=s, std_err=se)


def _estimate(durations: Values, observed: Values) -> _KaplanMeier | None:
    """The Kaplan-Meier curve of validated input; None without any event."""
    t, e = _survival_input(durations, observed)
    if t.size == 0 or not e.any():
        return None
    return _kaplan_meier(_counts(t, e))


def _curve(km: _KaplanMeier | None, z: float) -> pl.DataFrame:
    if km is None:
        return pl.DataFrame(schema=SURVIVAL_SCHEMA)
    s, se = km.survival, km.std_err
    with np.errstate(divide="ignore", invalid="ignore"):
        # Var(log(-log S)) ≈ se² / (S ln S)²  (delta method; Kalbfleisch & Prentice 2002)
        w = z * se / np.abs(s * np.log(s))
        low = np.where((s > 0) & (s < 1), s ** np.exp(w), np.nan)
        high = np.where((s > 0) & (s < 1), s ** np.exp(-w), np.nan)
    # S = 1 can't happen at an event time; a zero-variance point (se = 0, 0 < S < 1) gives S.
    return pl.DataFrame(
        {
            "time": km.time,
            "at_risk": km.at_risk,
            "events": km.events.astype(np.int64),
            "survival": s,
            "std_err": se,
            "ci_low": low,
            "ci_high": high,
        },
        schema=SURVIVAL_SCHEMA,
    )


def _median(km: _KaplanMeier | None) -> float | None:
    # strict inequality (SAS, statsmodels quantile)
    below = np.flatnonzero(km.survival < 0.5) if km is not None else np.empty(0, np.int64)
    return float(km.time[below[0]]) if km is not None and below.size else None


def _median_ci(km: _KaplanMeier | None, z: float) -> tuple[float, float] | None:
    # Invert the z-test of g(S(t)) = g(0.5) with g(x) = log(-log x): the event times where
    # |g(S) - g(0.5)| / (|g'(S)| se) <= z, g'(x) = -1 / (x ln x); the upper limit is the next
    # event time after the last of them (inf if none). NaN comparisons (S = 0, se undefined,
    # se = 0 at whole-second ties) count as outside, as in statsmodels.
    if km is None:
        return None
    s, se = km.survival, km.std_err
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (np.log(-np.log(s)) - math.log(-math.log(0.5))) / ((-1 / (s * np.log(s))) * se)
        inside = np.flatnonzero(np.abs(r) <= z)
    if inside.size == 0:
        return None
    last = int(inside[-1])
    high = math.inf if last == km.time.size - 1 else float(km.time[last + 1])
    return float(km.time[inside[0]]), high


def survival(durations: Values, observed: Values, *, alpha: float = DEFAULT_ALPHA) -> pl.DataFrame:
    """Kaplan-Meier retention curve: one row per distinct event time.

    ``durations`` are seconds in the room; ``observed`` is 1/True when the viewer was seen
    leaving and 0/False when the visit was censored (still open when the show ended or the data
    was cut). Columns: ``time``, ``at_risk``, ``events``, ``survival`` (share still watching just
    after ``time``), ``std_err`` (Greenwood), ``ci_low``/``ci_high`` (pointwise log-log limits
    at level ``1 - alpha``; NaN where S = 0). No events at all gives an empty frame.
    """
    z = _z(alpha)
    return _curve(_estimate(durations, observed), z)


def median_survival(durations: Values, observed: Values) -> float | None:
    """Median dwell: the first event time with S(t) < 0.5, or None if S never drops below 0.5."""
    return _median(_estimate(durations, observed))


def median_survival_ci(
    durations: Values, observed: Values, *, alpha: float = DEFAULT_ALPHA
) -> tuple[float, float] | None:
    """Interval for the median dwell (Brookmeyer & Crowley 1982, by inverting the log-log test).

    statsmodels ``quantile_ci`` with the ``"cloglog"`` transform, the same transform as the
    survival band; the upper limit is ``inf`` when the band never drops below 0.5. ``None``
    when no time is consistent with the median (no events, or too little data).
    """
    z = _z(alpha)
    return _median_ci(_estimate(durations, observed), z)


def _logrank_counts(
    time: npt.NDArray[np.float64],
    group: npt.NDArray[np.int64],
    visits: npt.NDArray[np.int64],
    events: npt.NDArray[np.float64],
    k: int,
) -> tuple[float, float]:
    """Log-rank χ² and p-value from visits and events per (time, group code 0..k-1).

    At each distinct time with more than one visit at risk, group g expects E_g = D·N_g/N of
    the D events; U = O - E over groups 1..k-1 (group 0 is the reference) and its
    hypergeometric covariance V_ab = Σ D (N - D) / (N - 1) · r_a (δ_ab - r_b), r = N_g / N;
    χ² = U' V⁻¹ U with k - 1 df (Mantel 1966; statsmodels survdiff, weight_type=None).
    """
    times, slot = np.unique(time, return_inverse=True)
    m = times.size
    per_visits = np.zeros((k, m))
    per_events = np.zeros((k, m))
    np.add.at(per_visits, (group, slot), visits)
    np.add.at(per_events, (group, slot), events)
    at_risk = np.cumsum(per_visits[:, ::-1], axis=1)[:, ::-1]
    n = at_risk.sum(axis=0)
    d = per_events.sum(axis=0)
    use = n > 1
    share = at_risk[:, use] / n[use]
    d, n = d[use], n[use]
    u = (per_events[1:, use] - share[1:] * d).sum(axis=1)
    c = d * (n - d) / (n - 1)
    r = share[1:]
    v = np.diag((r * c).sum(axis=1)) - (r * c) @ r.T
    stat = float(u @ np.linalg.solve(v, u))
    return stat, float(1 - stats.chi2.cdf(stat, k - 1))


def logrank(durations: Values, observed: Values, groups: Values) -> tuple[float, float]:
    """Log-rank test that the retention curves of ``groups`` are equal: (χ² statistic, p-value).

    The plain log-rank test (Mantel 1966) as statsmodels ``survdiff`` with
    ``weight_type=None`` computes it, from counts per (time, group); df = number of groups - 1.
    At least two groups are required.
    """
    t, e = _survival_input(durations, observed)
    g = _to_numpy(groups)
    if g.size != t.size:
        raise LivekitError("分组标记须与停留时长一一对应（数量相同）。")
    labels = groups if isinstance(groups, pl.Series) else pl.Series(g.tolist())
    if labels.null_count():
        raise LivekitError("分组标记不能为空值。")
    if labels.n_unique() < 2:
        raise LivekitError("对数秩检验至少需要两个组。")
    codes = labels.rank("dense").cast(pl.Int64) - 1
    counts = (
        pl.DataFrame({"time": t + 0.0, "event": e, "group": codes})
        .group_by("time", "group")
        .agg(pl.len().alias("visits"), pl.col("event").sum())
    )
    return _logrank_counts(
        counts["time"].to_numpy().astype(np.float64),
        counts["group"].to_numpy().astype(np.int64),
        counts["visits"].to_numpy().astype(np.int64),
        counts["event"].to_numpy().astype(np.float64),
        int(labels.n_unique()),
    )


# ---- retention of a report's visits ---------------------------------------------------------------
OTHER_GROUP = "other"  # the groups beyond the largest ones, together
UNKNOWN_SOURCE = "unknown"  # a visit without a traffic source


def visit_durations(viewers: pl.DataFrame, rooms: pl.DataFrame) -> pl.DataFrame:
    """The viewer export with each visit's ``dwell`` (seconds), ``left`` (seen leaving) and
    ``source`` (its ``traffic_source`` code; :data:`UNKNOWN_SOURCE` when it has none).

    A visit that lasts until its show's ``end_time`` (from ``rooms``), or that belongs to a
    show without an end (still on air when exported), is censored: ``left`` is False.
    """
    missing = [c for c in ("room_id", "enter_time", "leave_time") if c not in viewers.columns]
    if missing or not {"room_id", "end_time"} <= set(rooms.columns):
        raise LivekitError(
            "计算停留时长需要观众明细的 room_id、enter_time、leave_time 与场次的 end_time；"
            f"观众明细现有的列：{'、'.join(viewers.columns)}"
        )
    source = (
        pl.col("traffic_source").cast(pl.String)
        if "traffic_source" in viewers.columns
        else pl.lit(None, pl.String)
    )
    return viewers.join(
        rooms.select("room_id", "end_time").unique("room_id"), on="room_id", how="left"
    ).with_columns(
        dwell=(pl.col("leave_time") - pl.col("enter_time")).dt.total_seconds(fractional=True),
        left=(pl.col("leave_time") < pl.col("end_time")).fill_null(False),
        source=source.fill_null(UNKNOWN_SOURCE),
    )


def still_watching(curve: pl.DataFrame, seconds: float) -> float:
    """S(t) of a Kaplan-Meier ``curve`` (:func:`survival`): the share still watching after
    ``seconds`` (1.0 before the first event)."""
    before = curve.filter(pl.col("time") <= seconds)
    return 1.0 if before.height == 0 else float(before["survival"][-1])


@dataclass(frozen=True)
class Retention:
    """How long a set of visits stays: its Kaplan-Meier curve, median and censoring."""

    curve: pl.DataFrame = field(compare=False)  # survival()
    visits: int
    censored: int  # visits still open when the show ended
    median: float | None
    median_ci: tuple[float, float] | None

    @property
    def censored_share(self) -> float | None:
        return self.censored / self.visits if self.visits else None

    def still_watching(self, seconds: float) -> float:
        """Share of visits still watching after ``seconds``."""
        return still_watching(self.curve, seconds)


def retention(durations: Values, observed: Values, *, alpha: float = DEFAULT_ALPHA) -> Retention:
    """:func:`survival`, :func:`median_survival` and :func:`median_survival_ci` in one go."""
    z = _z(alpha)
    t, e = _survival_input(durations, observed)
    km = _estimate(t, e)  # one aggregation for the curve, the median and its interval
    return Retention(
        curve=_curve(km, z),
        visits=int(t.size),
        censored=int(t.size - e.sum()),
        median=_median(km),
        median_ci=_median_ci(km, z),
    )


@dataclass(frozen=True)
class GroupRetention:
    """Retention per group of visits (e.g. traffic source) and the log-rank test between them.

    ``summary`` has one row per group with events: ``group`` (the name), ``visits``,
    ``median``, ``past_1m`` and ``past_3m`` (share still watching after 1 and 3 minutes),
    longest median first (an undefined median, a curve that never drops below 50%, first).
    ``group`` holds the values of the grouping column (traffic source codes), and
    :data:`OTHER_GROUP` for the rest together. ``curves`` stacks their Kaplan-Meier curves with a ``group`` column. ``p_value`` is None
    with fewer than two groups.
    """

    summary: pl.DataFrame
    curves: pl.DataFrame = field(compare=False)
    statistic: float | None
    p_value: float | None

    @property
    def best(self) -> dict[str, Any] | None:
        return self.summary.row(0, named=True) if self.summary.height else None

    @property
    def worst(self) -> dict[str, Any] | None:
        return self.summary.row(-1, named=True) if self.summary.height else None


GROUP_SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "group": pl.String(),
    "visits": pl.Int64(),
    "median": pl.Float64(),
    "past_1m": pl.Float64(),
    "past_3m": pl.Float64(),
}


def retention_by_group(
    visits: pl.DataFrame,
    column: str = "source",
    *,
    top: int = 5,
    other: str = OTHER_GROUP,
) -> GroupRetention:
    """Retention of the ``top`` largest groups of ``column`` and of all the rest together.

    ``visits`` has ``dwell``, ``left`` and ``column`` (:func:`visit_durations`). The log-rank
    test compares every group, the rest included, as the report shows them.
    """
    left = visits.get_column("left")
    if left.dtype != pl.Boolean or left.null_count():
        _survival_input(visits.get_column("dwell"), left)  # survival()'s checks, in full
    elif not visits.schema["dwell"].is_numeric():
        raise LivekitError("停留时长须为数值（秒）。")
    # One aggregation of the visits: visits and departures per (group value, dwell). The top
    # groups, the folding of the rest into ``other``, every curve and the log-rank test come
    # from these counts (see "Kaplan-Meier" above).
    raw = (
        visits.group_by(pl.col(column).cast(pl.String).alias("_value"), "dwell")
        .agg(pl.len().alias("visits"), pl.col("left").cast(pl.Float64).sum().alias("event"))
        .with_columns(time=pl.col("dwell").cast(pl.Float64) + 0.0)  # -0.0 and 0.0: one time
    )
    _survival_input(raw["time"], np.zeros(raw.height))  # dwell checked on its distinct values
    sizes = (
        raw.group_by("_value")
        .agg(pl.col("visits").sum().alias("len"))
        .sort(["len", "_value"], descending=[True, False])
    )
    names = sizes.head(top).get_column("_value").to_list()
    counts = (
        raw.with_columns(
            pl.when(pl.col("_value").is_in(names))
            .then(pl.col("_value"))
            .otherwise(pl.lit(other))
            .alias("_group")
        )
        .group_by("_group", "time")
        .agg(pl.col("visits").sum(), pl.col("event").sum())
        .sort("_group", "time")
    )
    z = _z(DEFAULT_ALPHA)
    curves: list[pl.DataFrame] = []
    rows: list[dict[str, Any]] = []
    parts = counts.partition_by("_group", as_dict=True, include_key=False)
    for name in [*names, other]:
        part = parts.get((name,))
        if part is None or not (part["event"] > 0).any():
            continue
        km = _kaplan_meier(
            _Counts(
                time=part["time"].to_numpy().astype(np.float64),
                visits=part["visits"].to_numpy().astype(np.int64),
                events=part["event"].to_numpy().astype(np.float64),
            )
        )
        curve = _curve(km, z)
        curves.append(curve.with_columns(pl.lit(name).alias("group")))
        rows.append(
            {
                "group": name,
                "visits": int(part["visits"].sum()),
                "median": _median(km),
                "past_1m": still_watching(curve, 60),
                "past_3m": still_watching(curve, 180),
            }
        )
    summary = pl.DataFrame(rows, schema=GROUP_SUMMARY_SCHEMA).sort("median", descending=True)
    statistic: float | None = None
    p_value: float | None = None
    present = sorted(parts, key=str)
    if len(present) >= 2:
        code = {key[0]: i for i, key in enumerate(present)}
        statistic, p_value = _logrank_counts(
            counts["time"].to_numpy().astype(np.float64),
            counts["_group"].replace_strict(code, return_dtype=pl.Int64).to_numpy(),
            counts["visits"].to_numpy().astype(np.int64),
            counts["event"].to_numpy().astype(np.float64),
            len(present),
        )
    stacked = (
        pl.concat(curves)
        if curves
        else pl.DataFrame(schema={**SURVIVAL_SCHEMA, "group": pl.String()})
    )
    return GroupRetention(summary=summary, curves=stacked, statistic=statistic, p_value=p_value)


# ---- conversion by dwell ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DwellResult:
    """Conversion of long visits (dwell > ``threshold_s``) against short ones (≤ threshold).

    ``risk_ratio`` = rate_long / rate_short with a Katz log interval (Katz et al. 1978,
    Biometrics 34:469-474) and the Wald p-value of log RR = 0 (statsmodels ``Table2x2``).
    ``by_bucket`` is conversion per dwell bucket with Wilson intervals (``lower_s``,
    ``upper_s``: the bucket's bounds in seconds, right-closed; ``upper_s`` null for the last,
    open-ended one). The unit is the visit. Association, not cause (see :func:`dwell_conversion`).
    """

    threshold_s: float
    visits_long: int
    paid_long: int
    visits_short: int
    paid_short: int
    rate_long: float
    rate_short: float
    risk_ratio: float
    risk_ratio_ci: tuple[float, float]
    p_value: float
    alpha: float
    by_bucket: pl.DataFrame = field(compare=False)
    unit: str = "visit"
    error: ErrorCode | None = None

    @property
    def visits(self) -> int:
        return self.visits_long + self.visits_short

    @property
    def overall_rate(self) -> float | None:
        """Paid visits / visits over all visits (None without visits)."""
        return (self.paid_long + self.paid_short) / self.visits if self.visits else None


def _buckets(
    dwell: npt.NDArray[np.float64],
    paid: npt.NDArray[np.bool_],
    edges: Sequence[float],
    alpha: float,
) -> pl.DataFrame:
    e = [float(x) for x in edges]
    if len(e) < 2 or e[0] != 0 or any(b <= a for a, b in pairwise(e)):
        raise LivekitError(
            f"停留时长分档须从 0 开始严格递增且至少两个边界（秒），收到 {tuple(edges)!r}"
        )
    uppers = np.asarray(e[1:])
    # right-closed buckets: [0, e1], (e1, e2], ..., (e_k, inf)
    idx = np.searchsorted(uppers, dwell, side="left")
    k = len(e)
    visits = np.bincount(idx, minlength=k)[:k].astype(np.int64)
    paid_n = np.bincount(idx, weights=paid.astype(np.float64), minlength=k)[:k].astype(np.int64)
    rate: list[float | None] = []
    low: list[float] = []
    high: list[float] = []
    for x, n in zip(paid_n.tolist(), visits.tolist(), strict=True):
        if n == 0:
            rate.append(None)
            low.append(0.0)  # no observations: every rate is consistent with the data
            high.append(1.0)
            continue
        lo, hi = proportion_confint(x, n, alpha=alpha, method="wilson", alternative="two-sided")
        rate.append(x / n)
        low.append(float(lo))
        high.append(float(hi))
    upper_s: list[float | None] = [*e[1:], None]
    return pl.DataFrame(
        {
            "lower_s": e,
            "upper_s": upper_s,
            "visits": visits,
            "paid": paid_n,
            "rate": rate,
            "ci_low": low,
            "ci_high": high,
        },
        schema=BUCKET_SCHEMA,
    )


def dwell_conversion(
    viewers: pl.DataFrame,
    *,
    threshold_s: float = DWELL_THRESHOLD_S,
    buckets: Sequence[float] = DEFAULT_DWELL_BUCKETS_S,
    alpha: float = DEFAULT_ALPHA,
) -> DwellResult:
    """Do visits that last longer than ``threshold_s`` convert more? Risk ratio and buckets.

    ``viewers`` is the viewer export (``livekit.viewers.VIEWERS_SCHEMA``: ``enter_time``,
    ``leave_time``, ``paid``), one row per **visit**: the unit of analysis is the visit, as the
    sandbox plants the effect (P(pay) of a visit depends on that visit's dwell). Dwell =
    leave_time - enter_time in seconds; a visit cut by the end of the show (censored) counts
    with the dwell observed so far. Rows are the caller's choice (all rooms, one account, ...).

    Returns the risk ratio rate(dwell > threshold) / rate(dwell ≤ threshold) with a Katz log
    interval, and conversion per dwell bucket (right-closed buckets from ``buckets`` edges, the
    last one open-ended) with Wilson intervals.

    **Association, not cause**: buyers stay longer partly *because* they are buying (choosing,
    paying), and the same products, hosts and traffic sources drive both dwell and conversion.

    Degenerate input is returned as data: no visits on one side gives ``error="empty_arm"``,
    no conversions among short visits ``"zero_baseline"`` and none among long visits
    ``"zero_events"`` (risk ratio 0, no log interval).
    """
    _z(alpha)  # validates alpha
    missing = [c for c in ("enter_time", "leave_time", "paid") if c not in viewers.columns]
    if missing:
        raise LivekitError(
            f"观众明细缺少列：{'、'.join(missing)}；现有的列：{'、'.join(viewers.columns)}"
        )
    frame = viewers.select(
        dwell=(pl.col("leave_time") - pl.col("enter_time")).dt.total_seconds(fractional=True),
        paid=pl.col("paid").cast(pl.Boolean),
    )
    if frame.null_count().sum_horizontal().item():
        raise LivekitError(
            "观众明细的 enter_time、leave_time 或 paid 含有空值；请先补全或去掉这些行。"
        )
    dwell = frame.get_column("dwell").to_numpy().astype(np.float64)
    if (dwell < 0).any():
        raise LivekitError("有访问的离开时间早于进入时间；请检查 enter_time 与 leave_time。")
    paid = frame.get_column("paid").to_numpy().astype(bool)
    by_bucket = _buckets(dwell, paid, buckets, alpha)

    long = dwell > threshold_s
    a, n1 = int(paid[long].sum()), int(long.sum())
    c, n2 = int(paid[~long].sum()), int((~long).sum())
    rate_long = a / n1 if n1 else float("nan")
    rate_short = c / n2 if n2 else float("nan")
    nan = float("nan")
    rr, ci, p = nan, (nan, nan), nan
    error: ErrorCode | None = None
    if n1 == 0 or n2 == 0:
        error = "empty_arm"
    elif c == 0:
        error = "zero_baseline"
    elif a == 0:
        error = "zero_events"
        rr = 0.0
    else:
        # rows: long, short; columns: paid, not paid.  RR = (a/n1) / (c/n2);
        # Katz log interval: exp(ln RR ± z·sqrt(1/a - 1/n1 + 1/c - 1/n2))
        table = Table2x2(np.array([[a, n1 - a], [c, n2 - c]], dtype=np.float64), shift_zeros=False)
        rr = float(table.riskratio)
        low, high = table.riskratio_confint(alpha=alpha, method="normal")
        ci = (float(low), float(high))
        p = float(table.riskratio_pvalue(null=1))
    return DwellResult(
        threshold_s=float(threshold_s),
        visits_long=n1,
        paid_long=a,
        visits_short=n2,
        paid_short=c,
        rate_long=rate_long,
        rate_short=rate_short,
        risk_ratio=rr,
        risk_ratio_ci=ci,
        p_value=p,
        alpha=alpha,
        by_bucket=by_bucket,
        error=error,
    )
