"""The evening status of a running experiment: decided, stop for futility, or keep running.

A team looks at a running experiment every evening. With fixed-horizon p-values that habit
inflates false positives several-fold (stopping at the first "significant" look); with the
always-valid comparisons of :mod:`livekit.analysis.abtest` (``sequential=True``: GrowthBook's
asymptotic confidence sequences) every look is valid, so the status below may be read as often
as one likes. Each metric gets one of:

* ``"decided"``: the always-valid p-value, after the report's multiplicity correction (Holm or
  BH over the metrics), is below ``alpha``. Then the metric's own sequential interval excludes
  0 as well (the sequential p-value is below ``alpha`` exactly when the interval excludes 0,
  and a corrected p-value is never smaller than the raw one). ``direction`` is ``"up"`` (B
  higher) or ``"down"`` (B lower).
* ``"futile"``: not decided, and the whole sequential interval of the relative lift lies
  inside ``(-mde, +mde)``: even the most favourable effect still plausible is smaller than the
  minimum detectable effect worth having (``mde``, relative, 0.05 by default). Running longer
  can only narrow the interval further inside that band, so the experiment may stop. The
  interval is always valid, so this stop is as safe at any look as the decision is.
* ``"running"``: neither; keep collecting data.
* ``"srm"``: the sample-ratio check failed; nothing may be concluded until the split is fixed.
* ``"error"``: the comparison could not produce a p-value (no data, no variance).

The experiment's status is its **primary metric's** (the first metric, the one the experiment
was designed to move); the other metrics are guardrails and context: a guardrail decided
``"down"`` is listed in :attr:`ExperimentStatus.harmed` so that a win on the primary metric is
weighed against it, but it does not change the status. An SRM overrides everything.

Pure: Comparisons and reports in, frozen dataclasses and frames out (English columns, lifts as
fractions); the page (:mod:`livekit.pages.ab_status`) words them, the CLI alerts on them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import polars as pl

from livekit.analysis.abtest import (
    DEFAULT_ALPHA,
    DEFAULT_SEQUENTIAL_TUNING,
    Comparison,
    adjust_pvalues,
)
from livekit.analysis.experiment import ExperimentReport, analyse_experiment, viewer_units
from livekit.vocab.errors import LivekitError

__all__ = [
    "DEFAULT_MDE",
    "EVENINGS_SCHEMA",
    "STATUS_CODES",
    "STATUS_SCHEMA",
    "Direction",
    "ExperimentStatus",
    "MetricStatus",
    "StatusCode",
    "check_mde",
    "evenings",
    "experiment_status",
    "metric_status",
    "status_frame",
    "status_of_comparisons",
]

StatusCode: TypeAlias = Literal["decided", "futile", "running", "srm", "error"]
Direction: TypeAlias = Literal["up", "down"]
STATUS_CODES: tuple[StatusCode, ...] = ("decided", "futile", "running", "srm", "error")

# The smallest relative lift worth detecting, unless the caller says otherwise: 5 %.
DEFAULT_MDE = 0.05


def check_mde(mde: object) -> float:
    """``mde`` as a float in (0, 1]; a Chinese error otherwise (bools are not effects).

    The minimum detectable effect is relative (0.05 = 5 %), so 5 (meaning 5 %) is refused
    rather than read as +500 %."""
    if (
        isinstance(mde, bool)
        or not isinstance(mde, numbers.Real)
        or not math.isfinite(float(mde))
        or not 0 < float(mde) <= 1
    ):
        raise LivekitError(
            f"mde（最小值得检测的相对提升）须为 0 到 1 之间的小数，如 0.05 表示 5%，收到 {mde!r}"
        )
    return float(mde)


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < float(alpha) < 1:
        raise LivekitError(f"显著性水平 alpha 须在 0 与 1 之间（不含端点），收到 {alpha!r}")
    return float(alpha)


@dataclass(frozen=True)
class MetricStatus:
    """One metric's status (see the module docstring for the codes).

    ``lift``/``lift_ci`` are the comparison's relative lift and its (sequential) interval at
    level ``1 - alpha``; ``p_value`` its always-valid p-value and ``adjusted_p`` after the
    multiplicity correction (None when no p-value could be computed); ``n_a``/``n_b`` the
    units per arm so far. ``within_mde``: the whole lift interval lies inside
    ``(-mde, +mde)`` (for a decided metric: the effect is real but small).
    """

    metric: str
    status: StatusCode
    direction: Direction | None
    lift: float
    lift_ci: tuple[float, float]
    diff: float
    p_value: float
    adjusted_p: float | None
    n_a: int
    n_b: int
    mde: float
    within_mde: bool


@dataclass(frozen=True)
class ExperimentStatus:
    """The status of an experiment and of each of its metrics.

    ``status``/``direction`` are the primary metric's (``primary``, the first metric), or
    ``"srm"`` when the split check failed. ``observed`` counts units per arm; ``days`` is how
    many days the experiment has run so far when the caller knows it.
    """

    status: StatusCode
    direction: Direction | None
    primary: str
    metrics: dict[str, MetricStatus]
    alpha: float
    mde: float
    correction: str
    observed: tuple[int, int]
    srm_warning: bool = False
    days: int | None = None

    @property
    def decision(self) -> str | None:
        """What was decided, as a stable code for alert keys: ``"decided-up"``,
        ``"decided-down"``, ``"futile"``; None while running (or when nothing can be said)."""
        if self.status == "decided" and self.direction is not None:
            return f"decided-{self.direction}"
        if self.status == "futile":
            return "futile"
        return None

    @property
    def harmed(self) -> tuple[str, ...]:
        """Guardrails (metrics other than the primary) decided ``"down"``: B made them worse."""
        return tuple(
            n
            for n, m in self.metrics.items()
            if n != self.primary and m.status == "decided" and m.direction == "down"
        )


def metric_status(
    name: str,
    c: Comparison,
    adjusted_p: float | None,
    *,
    alpha: float = DEFAULT_ALPHA,
    mde: float = DEFAULT_MDE,
    srm_warning: bool = False,
) -> MetricStatus:
    """The status of one metric from its sequential comparison ``c`` and its corrected
    p-value ``adjusted_p`` (None: not tested, e.g. the p-value could not be computed)."""
    alpha = _check_alpha(alpha)
    mde = check_mde(mde)
    low, high = c.lift_ci
    within = bool(math.isfinite(low) and math.isfinite(high) and -mde < low and high < mde)
    status: StatusCode
    direction: Direction | None = None
    if srm_warning:
        status = "srm"
    elif not math.isfinite(c.p_value):
        status = "error"
    elif adjusted_p is not None and adjusted_p < alpha:
        status = "decided"
        direction = "up" if c.diff > 0 else "down"
    elif within:
        status = "futile"
    else:
        status = "running"
    return MetricStatus(
        metric=name,
        status=status,
        direction=direction,
        lift=c.lift,
        lift_ci=(low, high),
        diff=c.diff,
        p_value=c.p_value,
        adjusted_p=adjusted_p,
        n_a=c.n_a,
        n_b=c.n_b,
        mde=mde,
        within_mde=within,
    )


def _roll_up(
    metrics: dict[str, MetricStatus],
    *,
    alpha: float,
    mde: float,
    correction: str,
    observed: tuple[int, int],
    srm_warning: bool,
    days: int | None,
) -> ExperimentStatus:
    if not metrics:
        raise LivekitError("metrics 不能为空：请至少给出一个指标。")
    primary = next(iter(metrics))
    head = metrics[primary]
    return ExperimentStatus(
        status="srm" if srm_warning else head.status,
        direction=None if srm_warning else head.direction,
        primary=primary,
        metrics=metrics,
        alpha=alpha,
        mde=mde,
        correction=correction,
        observed=observed,
        srm_warning=srm_warning,
        days=days,
    )


def status_of_comparisons(
    comparisons: Mapping[str, Comparison],
    *,
    alpha: float = DEFAULT_ALPHA,
    mde: float = DEFAULT_MDE,
    correction: Literal["holm", "bh"] = "holm",
    srm_warning: bool = False,
    days: int | None = None,
) -> ExperimentStatus:
    """The status of an experiment given its sequential comparisons, in order (the first is
    the primary metric): the p-values that could be computed are corrected together with
    ``correction`` ("holm" or "bh", as :func:`~livekit.analysis.experiment.analyse_experiment`
    does), then each metric is judged by :func:`metric_status`.

    The comparisons must be the always-valid ones (``sequential=True``): with fixed-horizon
    comparisons the status would be wrong at every look but the planned last one.
    """
    alpha = _check_alpha(alpha)
    mde = check_mde(mde)
    if correction not in ("holm", "bh"):
        raise LivekitError(f"未知的多重比较校正方法 {correction!r}；可选：holm 或 bh。")
    tested = [n for n, c in comparisons.items() if math.isfinite(c.p_value)]
    adjusted = dict(
        zip(
            tested,
            adjust_pvalues([comparisons[n].p_value for n in tested], correction),
            strict=True,
        )
    )
    metrics = {
        n: metric_status(n, c, adjusted.get(n), alpha=alpha, mde=mde, srm_warning=srm_warning)
        for n, c in comparisons.items()
    }
    first = next(iter(comparisons.values()), None)
    observed = (first.n_a, first.n_b) if first is not None else (0, 0)
    return _roll_up(
        metrics,
        alpha=alpha,
        mde=mde,
        correction=correction,
        observed=observed,
        srm_warning=srm_warning,
        days=days,
    )


def experiment_status(
    report: ExperimentReport, *, mde: float = DEFAULT_MDE, days: int | None = None
) -> ExperimentStatus:
    """The status of an experiment analysed by
    :func:`~livekit.analysis.experiment.analyse_experiment` with ``sequential=True``: its
    corrected p-values, alpha and SRM check, each metric judged by :func:`metric_status`.

    A report analysed with fixed-horizon comparisons (``sequential=False``) is refused: its
    p-values are valid at the planned end only, not at every evening's look.
    """
    if getattr(report, "engine", "frequentist") != "frequentist" or (
        getattr(report, "sequential", None) is False
    ):
        raise LivekitError(
            "实验状态需要序贯检验的结果（analyse_experiment(..., sequential=True)）："
            "固定样本量的 p 值只在计划的终点有效，每天查看会高估显著性。"
        )
    mde = check_mde(mde)
    metrics = {
        n: metric_status(
            n,
            c,
            report.adjusted.get(n),
            alpha=report.alpha,
            mde=mde,
            srm_warning=report.srm.warning,
        )
        for n, c in report.comparisons.items()
    }
    return _roll_up(
        metrics,
        alpha=report.alpha,
        mde=mde,
        correction=report.correction,
        observed=report.observed,
        srm_warning=report.srm.warning,
        days=days,
    )


STATUS_SCHEMA: dict[str, type[pl.DataType]] = {
    "metric": pl.String,
    "status": pl.String,
    "direction": pl.String,
    "lift": pl.Float64,
    "lift_low": pl.Float64,
    "lift_high": pl.Float64,
    "p_value": pl.Float64,
    "adjusted_p": pl.Float64,
    "n_a": pl.Int64,
    "n_b": pl.Int64,
    "mde": pl.Float64,
    "within_mde": pl.Boolean,
}


def status_frame(status: ExperimentStatus, names: Sequence[str] | None = None) -> pl.DataFrame:
    """One row per metric (in order, or those of ``names``): the columns of
    :data:`STATUS_SCHEMA` (lifts and their interval as fractions)."""
    chosen = list(status.metrics) if names is None else list(names)
    rows = [status.metrics[n] for n in chosen]
    return pl.DataFrame(
        {
            "metric": [m.metric for m in rows],
            "status": [m.status for m in rows],
            "direction": [m.direction for m in rows],
            "lift": [m.lift for m in rows],
            "lift_low": [m.lift_ci[0] for m in rows],
            "lift_high": [m.lift_ci[1] for m in rows],
            "p_value": [m.p_value for m in rows],
            "adjusted_p": [m.adjusted_p for m in rows],
            "n_a": [m.n_a for m in rows],
            "n_b": [m.n_b for m in rows],
            "mde": [m.mde for m in rows],
            "within_mde": [m.within_mde for m in rows],
        },
        schema=STATUS_SCHEMA,
    )


# ---- the evenings so far ---------------------------------------------------------------------
EVENINGS_SCHEMA: dict[str, type[pl.DataType]] = {
    "day": pl.Date,
    "n_a": pl.Int64,
    "n_b": pl.Int64,
    "lift": pl.Float64,
    "lift_low": pl.Float64,
    "lift_high": pl.Float64,
    "p_value": pl.Float64,
    "status": pl.String,
}


def evenings(
    visits: pl.DataFrame,
    metrics: Sequence[str] | str,
    *,
    alpha: float = DEFAULT_ALPHA,
    mde: float = DEFAULT_MDE,
    correction: str = "holm",
    planned_split: Sequence[float] = (0.5, 0.5),
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> pl.DataFrame:
    """What each evening's look at a viewer experiment showed for its primary metric (the
    first of ``metrics``): for every day with visits in the test (``variant`` set), the
    analysis of :func:`~livekit.analysis.experiment.analyse_experiment` (``sequential=True``,
    every metric, the same correction and split check) over the visits up to the end of that
    day, and the primary metric's comparison and status that evening. The columns of
    :data:`EVENINGS_SCHEMA`, one row per day; the last row is the analysis of the whole period.

    Because the intervals are always valid, every row is a legitimate look: the chance that
    any of them ever excluded 0 under no effect stays below ``alpha``.
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise LivekitError("metrics 不能为空：请至少给出一个指标。")
    primary = names[0]
    mde = check_mde(mde)
    in_test = visits.filter(pl.col("variant").is_not_null()).with_columns(
        _day=pl.col("enter_time").dt.date()
    )
    rows: list[dict[str, object]] = []
    for day in sorted(in_test.get_column("_day").unique().drop_nulls().to_list()):
        units = viewer_units(in_test.filter(pl.col("_day") <= day).drop("_day")).units
        arms = set(units.get_column("arm").unique().to_list())
        if not {"A", "B"} <= arms:
            continue
        report = analyse_experiment(
            units,
            names,
            unit="viewer",
            alpha=alpha,
            correction=correction,
            planned_split=planned_split,
            sequential=True,
            sequential_tuning=sequential_tuning,
        )
        c = report.comparisons[primary]
        m = metric_status(
            primary,
            c,
            report.adjusted.get(primary),
            alpha=alpha,
            mde=mde,
            srm_warning=report.srm.warning,
        )
        rows.append(
            {
                "day": day,
                "n_a": c.n_a,
                "n_b": c.n_b,
                "lift": c.lift,
                "lift_low": c.lift_ci[0],
                "lift_high": c.lift_ci[1],
                "p_value": c.p_value,
                "status": m.status,
            }
        )
    return pl.DataFrame(rows, schema=EVENINGS_SCHEMA)
