"""Experiments: from the stored exports to per-metric comparisons and verdicts.

The statistics live in :mod:`livekit.analysis.abtest`; this module is the layer above it that
the A/B report's page (:mod:`livekit.pages.ab_test`) uses:

* the catalog of experiment metrics: per-viewer metrics (:data:`VIEWER_METRICS`) for tests
  randomized by viewer, and registered room metrics (with :data:`SESSION_ALIASES`) for tests
  randomized by session (switchback);
* the randomized units: :func:`viewer_units` (one row per viewer) and :func:`session_units`
  (one row per live session, with its arm);
* switchback refinements: :func:`switches` (each show's previous arm on the same account),
  :func:`session_visits` (a switchback's visits with a ``washout_minutes`` washout after each
  switch, for :func:`~livekit.analysis.abtest.compare_sessions`) and :func:`carryover` (does
  the previous show's arm predict this show's outcome?);
* :func:`analyse_experiment`: the SRM check, one :class:`~livekit.analysis.abtest.Comparison`
  per metric, multiplicity-adjusted p-values, a verdict per metric, a summary and a
  sample-size plan, as a frozen :class:`ExperimentReport`; :func:`results_frame` lays its
  numbers out one row per metric (English columns; rates and lifts as fractions). Options,
  as GrowthBook offers them: ``sequential`` (always-valid intervals and p-values, safe to look
  at every day), ``covariate`` (CUPED on the ``pre_`` columns of :func:`with_pre_period`) and
  ``engine="bayesian"`` (:mod:`livekit.analysis.bayes`: chance to win, risk, credible
  interval).

No prose, no formatted cells: the page words and formats what this module computes. Mistakes
(an unknown metric, an empty arm) raise :class:`~livekit.vocab.errors.LivekitError` with one
Chinese line. Pure: frames in, frames and frozen dataclasses out; no I/O.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import polars as pl

from livekit.analysis.abtest import (
    DEFAULT_SEQUENTIAL_TUNING,
    AdjustMethod,
    Comparison,
    SrmResult,
    adjust_pvalues,
    compare_means,
    compare_proportions,
    compare_sessions,
    sample_size,
    srm,
)
from livekit.analysis.bayes import (
    BayesianComparison,
    Prior,
    bayesian_means,
    bayesian_proportions,
)
from livekit.vocab.errors import LivekitError
from livekit.vocab.metrics import SESSION_COUNTERPARTS, Metric, metric, metrics_of

__all__ = [
    "ARMS",
    "CARRYOVER_ALPHA",
    "CHANCE_TO_WIN_THRESHOLD",
    "ENGINES",
    "EXPERIMENT_METRICS",
    "PLAN_LIFTS",
    "PLAN_SCHEMA",
    "RESULTS_SCHEMA",
    "SESSION_ALIASES",
    "VIEWER_COLUMNS",
    "VIEWER_METRICS",
    "AdjustMethod",
    "Carryover",
    "Engine",
    "ExperimentMetric",
    "ExperimentReport",
    "Unit",
    "VerdictCode",
    "ViewerUnits",
    "analyse_experiment",
    "arms_frame",
    "bayes_verdict",
    "carryover",
    "check_correction",
    "check_engine",
    "check_options",
    "check_unit",
    "check_washout",
    "experiment_metric",
    "experiment_metric_names",
    "per_viewer",
    "resolve_metrics",
    "results_frame",
    "session_units",
    "session_visits",
    "switches",
    "verdict",
    "viewer_units",
    "with_pre_period",
]

Unit: TypeAlias = Literal["viewer", "session"]
MetricKind: TypeAlias = Literal["proportion", "mean", "ratio"]
VerdictCode: TypeAlias = Literal["srm", "error", "up", "down", "none"]
Engine: TypeAlias = Literal["frequentist", "bayesian"]

ENGINES: dict[str, str] = {
    "frequentist": "频率学派（p 值与置信区间）",
    "bayesian": "贝叶斯（胜出概率与风险）",
}
# A Bayesian verdict: B wins when P(B better) reaches this, loses when it is at most 1 - it
# (GrowthBook's default "chance to win" threshold, 95%).
CHANCE_TO_WIN_THRESHOLD = 0.95

ARMS = ("A", "B")  # control, treatment
NAN = float("nan")
_UNIT_WORDS: dict[str, str] = {"viewer": "观众", "session": "场次"}  # for error messages


def _viewer_metrics() -> dict[str, tuple[str, Literal["proportion", "mean"], str]]:
    out: dict[str, tuple[str, Literal["proportion", "mean"], str]] = {}
    for name, m in metrics_of("viewer").items():
        measure: Literal["proportion", "mean"] = "proportion" if m.is_rate else "mean"
        out[name] = (m.label, measure, str(m.numerator))
    return out


# Per-viewer experiment metrics (unit = "viewer"), from the one registry (family "viewer"):
# label, kind, column of the per-viewer table.
VIEWER_METRICS: dict[str, tuple[str, Literal["proportion", "mean"], str]] = _viewer_metrics()
EXPERIMENT_METRICS = VIEWER_METRICS

# With unit = "session" every metric is a registered room metric; the viewer metrics' names
# map to their room counterparts (declared in the registry) so that the same parameter file
# works for both designs.
SESSION_ALIASES: dict[str, str] = dict(SESSION_COUNTERPARTS)

PLAN_LIFTS = (0.05, 0.10, 0.20)  # relative lifts of the sample-size plan
PLAN_SCHEMA: dict[str, type[pl.DataType]] = {
    "lift": pl.Float64,
    "target_rate": pl.Float64,
    "needed_per_arm": pl.Int64,
    "have_per_arm": pl.Int64,
    "enough": pl.Boolean,
}


# ---- the metric catalog -------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentMetric:
    """One metric of an experiment as the user named it.

    Per-viewer metrics (``room_metric is None``) read ``column`` of the per-viewer table;
    session metrics are a registered room :class:`~livekit.vocab.metrics.Metric`.
    """

    name: str
    label: str
    kind: MetricKind
    column: str | None = None
    room_metric: Metric | None = None

    @property
    def registered(self) -> Metric:
        """The registry's metric behind this one: the room metric of a session test, else the
        viewer metric of the same name (its unit, digits and scale say how to show a value)."""
        return self.room_metric if self.room_metric is not None else metric(self.name, "viewer")


def check_unit(unit: str) -> Unit:
    """``unit`` as a :data:`Unit`; a Chinese error unless it is "viewer" or "session"."""
    if unit == "viewer":
        return "viewer"
    if unit == "session":
        return "session"
    raise LivekitError(f"unit 只能是 viewer（按观众随机）或 session（按场次轮换），收到 {unit!r}")


def experiment_metric_names(unit: str) -> list[str]:
    """Every metric name the A/B report accepts for ``unit`` ("viewer" or "session")."""
    if check_unit(unit) == "viewer":
        return list(VIEWER_METRICS)
    rooms = metrics_of("room")
    return [*rooms, *(a for a in SESSION_ALIASES if a not in rooms)]


def experiment_metric(name: str, unit: str) -> ExperimentMetric:
    """The metric called ``name`` for ``unit``; a Chinese error listing the valid names."""
    if check_unit(unit) == "viewer":
        if name not in VIEWER_METRICS:
            known = "、".join(f"{k}（{v[0]}）" for k, v in VIEWER_METRICS.items())
            raise LivekitError(f"按观众分析时未知的指标：{name}；可用：{known}")
        label, kind, column = VIEWER_METRICS[name]
        return ExperimentMetric(name, label, kind, column=column)
    m = metrics_of("room").get(SESSION_ALIASES.get(name, name))
    if m is None:
        known = "、".join(experiment_metric_names("session"))
        raise LivekitError(f"按场次分析时未知的指标：{name}；可用：{known}")
    return ExperimentMetric(name, m.label, "ratio", room_metric=m)


def resolve_metrics(names: Sequence[str], unit: str) -> dict[str, ExperimentMetric]:
    """``names`` resolved for ``unit``, in order; one Chinese error naming every unknown one."""
    check_unit(unit)
    if isinstance(names, str):
        names = [names]
    if not names:
        raise LivekitError("metrics 不能为空：请至少选择一个要比较的指标。")
    valid = set(experiment_metric_names(unit))
    unknown = [n for n in names if n not in valid]
    if unknown:
        if unit == "viewer":
            known = "、".join(f"{k}（{v[0]}）" for k, v in VIEWER_METRICS.items())
            raise LivekitError(f"按观众分析时未知的指标：{'、'.join(unknown)}；可用：{known}")
        known = "、".join(experiment_metric_names(unit))
        raise LivekitError(f"按场次分析时未知的指标：{'、'.join(unknown)}；可用：{known}")
    return {n: experiment_metric(n, unit) for n in names}


# ---- randomized units ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ViewerUnits:
    """Viewers of a viewer-randomized test, one row each.

    ``units``: ``viewer_id, arm, converted, clicked, watch_seconds, gmv, visits`` (viewers seen
    in both arms are dropped); ``visits``: visits with an arm; ``viewers``: distinct viewers
    with an arm, dropped ones included; ``crossed``: viewers seen in both arms.
    """

    units: pl.DataFrame
    visits: int
    viewers: int
    crossed: int


_VIEWER_COLUMNS = (
    "viewer_id",
    "variant",
    "paid",
    "clicked_product_id",
    "enter_time",
    "leave_time",
    "pay_amount",
)


def _check_visit_columns(viewers: pl.DataFrame, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in viewers.columns]
    if missing:
        raise LivekitError(f"观众明细缺少列：{'、'.join(missing)}")


def _per_viewer_aggs() -> list[pl.Expr]:
    return [
        pl.col("paid").fill_null(False).any().alias("converted"),
        pl.col("clicked_product_id").is_not_null().any().alias("clicked"),
        (pl.col("leave_time") - pl.col("enter_time"))
        .dt.total_seconds()
        .sum()
        .cast(pl.Float64)
        .alias("watch_seconds"),
        pl.col("pay_amount").sum().cast(pl.Float64).alias("gmv"),
        pl.len().cast(pl.Int64).alias("visits"),
    ]


VIEWER_COLUMNS = ("converted", "clicked", "watch_seconds", "gmv", "visits")


def per_viewer(visits: pl.DataFrame) -> pl.DataFrame:
    """One row per viewer over all of ``visits`` (variant ignored): ``viewer_id`` and the
    per-viewer metric columns of :data:`VIEWER_COLUMNS` (``converted``, ``clicked``,
    ``watch_seconds``, ``gmv``, ``visits``), sorted by viewer. The same aggregation as
    :func:`viewer_units`, for a pre-period (CUPED covariates) or history (planning)."""
    _check_visit_columns(visits, [c for c in _VIEWER_COLUMNS if c != "variant"])
    return visits.group_by("viewer_id").agg(_per_viewer_aggs()).sort("viewer_id")


def viewer_units(viewers: pl.DataFrame) -> ViewerUnits:
    """Aggregate the viewer export (one row per visit) to one row per viewer in the test.

    Visits without a ``variant`` are outside the experiment. A viewer's metrics cover all
    of their visits: ``converted`` (paid at least once), ``clicked`` (clicked a product at
    least once), ``watch_seconds`` (total), ``gmv`` (total paid, yuan), ``visits``.
    """
    _check_visit_columns(viewers, _VIEWER_COLUMNS)
    in_test = viewers.filter(pl.col("variant").is_not_null())
    per_viewer = (
        in_test.group_by("viewer_id")
        .agg(
            pl.col("variant").first().alias("arm"),
            pl.col("variant").n_unique().alias("arms"),
            *_per_viewer_aggs(),
        )
        .sort("viewer_id")
    )
    crossed = per_viewer.filter(pl.col("arms") > 1).height
    units = per_viewer.filter(pl.col("arms") == 1).drop("arms")
    return ViewerUnits(units, in_test.height, per_viewer.height, crossed)


def with_pre_period(units: pl.DataFrame, pre_visits: pl.DataFrame) -> pl.DataFrame:
    """``units`` (one row per viewer, from :func:`viewer_units`) with a ``pre_<column>`` for
    every per-viewer metric column: the same metric over the viewer's own visits in
    ``pre_visits`` (the visits before the experiment; hashed viewer ids recur across days),
    0 for a viewer not seen then. These are the CUPED covariates (GrowthBook adjusts each
    metric by its own pre-exposure value)."""
    pre = per_viewer(pre_visits).with_columns(pl.col("converted", "clicked").cast(pl.Float64))
    pre = pre.rename({c: f"pre_{c}" for c in VIEWER_COLUMNS})
    out = units.join(pre, on="viewer_id", how="left")
    return out.with_columns(
        pl.col([f"pre_{c}" for c in VIEWER_COLUMNS]).fill_null(0).cast(pl.Float64)
    )


def arms_frame(session_arms: Mapping[str | int, str]) -> pl.DataFrame:
    """``{room_id: "A" | "B"}`` as a frame ``room_id, variant`` (arms trimmed, upper-cased)."""
    return pl.DataFrame(
        {
            "room_id": [int(k) for k in session_arms],
            "variant": [str(v).strip().upper() for v in session_arms.values()],
        },
        schema={"room_id": pl.Int64, "variant": pl.String},
    )


def session_units(
    rooms: pl.DataFrame,
    room_analysis: pl.DataFrame,
    arms: pl.DataFrame,
    metrics: Sequence[str],
) -> pl.DataFrame:
    """One row per live session in the test: the ``rooms`` columns, ``arm``, and the
    ``room_analysis`` columns the ``metrics`` need (joined on ``room_id``).

    ``arms`` is ``room_id, variant``; sessions without an arm are left out.
    """
    bad = arms.filter(~pl.col("variant").is_in(list(ARMS)) | pl.col("variant").is_null())
    if bad.height:
        raise LivekitError(f"session_arms 的组别只能是 A 或 B，收到 {bad['variant'].to_list()[:3]}")
    chosen = resolve_metrics(metrics, "session")
    needed = {
        c for m in chosen.values() if m.room_metric is not None for c in m.room_metric.columns
    } - set(rooms.columns)
    units = rooms.join(arms.select("room_id", "variant"), on="room_id", how="inner")
    if needed:
        absent = sorted(needed - set(room_analysis.columns))
        if absent:
            raise LivekitError(f"直播间分析数据缺少列：{'、'.join(absent)}")
        units = units.join(
            room_analysis.select("room_id", *sorted(needed)).unique("room_id"),
            on="room_id",
            how="left",
        )
    return units.rename({"variant": "arm"})


# ---- switchback refinements ---------------------------------------------------------------------
CARRYOVER_ALPHA = 0.05  # the carryover check warns when the previous arm's p-value is below it


def check_washout(washout_minutes: object) -> int:
    """``washout_minutes`` as an int >= 0; a Chinese error otherwise (bools are not minutes)."""
    if isinstance(washout_minutes, bool) or not isinstance(washout_minutes, int):
        raise LivekitError(f"washout_minutes 必须是非负整数（分钟），收到 {washout_minutes!r}")
    if washout_minutes < 0:
        raise LivekitError(f"washout_minutes 不能为负数，收到 {washout_minutes}")
    return washout_minutes


def switches(rooms: pl.DataFrame, arms: pl.DataFrame) -> pl.DataFrame:
    """One row per show in the test, per account in start order: ``room_id, aweme_id,
    start_time, arm, prev_arm, switched``.

    ``prev_arm`` is the arm of the account's previous show in the test (null for its first);
    ``switched`` is true when the arm differs from it (false for the first show: nothing to
    carry over from).
    """
    missing = [c for c in ("room_id", "aweme_id", "start_time") if c not in rooms.columns]
    if missing:
        raise LivekitError(f"直播场次数据缺少列：{'、'.join(missing)}")
    shows = (
        rooms.select("room_id", "aweme_id", "start_time")
        .unique("room_id", keep="first", maintain_order=True)
        .join(arms.select("room_id", pl.col("variant").alias("arm")), on="room_id", how="inner")
        .sort("aweme_id", "start_time", "room_id")
    )
    return shows.with_columns(
        prev_arm=pl.col("arm").shift(1).over("aweme_id", order_by=["start_time", "room_id"])
    ).with_columns(switched=(pl.col("arm") != pl.col("prev_arm")).fill_null(False))


def session_visits(
    viewers: pl.DataFrame,
    rooms: pl.DataFrame,
    arms: pl.DataFrame,
    *,
    washout_minutes: int = 0,
) -> pl.DataFrame:
    """The viewer visits of a switchback's shows, with the show's ``arm``, ``prev_arm`` and
    ``switched`` (see :func:`switches`), ready for
    :func:`~livekit.analysis.abtest.compare_sessions` (``unit="room_id", variant="arm"``).

    Washout: with ``washout_minutes`` = k > 0, a show that follows a show of the other arm on
    the same account loses the visits that started within its first k minutes (entered
    before ``start_time`` + k). Right after a switch the room still holds the previous arm's
    audience (viewers who came back from the last show, followers notified by it, traffic the
    platform learned from it), so those first minutes measure a mix of both arms and pull the
    difference towards zero. Shows without a switch keep every visit; k = 0 keeps them all.
    """
    k = check_washout(washout_minutes)
    missing = [c for c in ("room_id", "enter_time") if c not in viewers.columns]
    if missing:
        raise LivekitError(f"观众明细缺少列：{'、'.join(missing)}")
    shows = switches(rooms, arms)
    out = viewers.drop("arm", "prev_arm", "switched", strict=False).join(
        shows.select("room_id", "start_time", "arm", "prev_arm", "switched"),
        on="room_id",
        how="inner",
    )
    if k:
        early = pl.col("enter_time") < pl.col("start_time") + pl.duration(minutes=k)
        out = out.filter(~(pl.col("switched") & early))
    return out.drop("start_time")


@dataclass(frozen=True)
class Carryover:
    """The carryover check of a switchback: ``coef`` of the previous show's arm (B = 1) in an
    OLS of the show's outcome on its own arm and the previous arm, with its ``ci`` at
    ``1 - alpha``, ``p_value`` (HC3-robust, t with the residual df), ``n`` shows used (those
    with a previous show) and ``warning`` = p < ``alpha``."""

    coef: float
    ci: tuple[float, float]
    p_value: float
    n: int
    alpha: float
    warning: bool


def carryover(
    units: pl.DataFrame, outcome: str | pl.Expr, *, alpha: float = CARRYOVER_ALPHA
) -> Carryover:
    """Does the arm of the previous show predict this show's outcome?

    ``units`` has one row per show with ``arm`` and ``prev_arm`` (from :func:`switches`; with
    ``aweme_id`` and ``start_time`` instead, e.g. :func:`session_units`' rows, they are
    derived here); ``outcome`` is a column or expression evaluated per show. Shows without a
    previous show are left out. Regresses ``outcome ~ 1 + [arm = B] + [prev_arm = B]`` by OLS
    with HC3 errors (heteroskedasticity-robust and the least liberal of the HC family with a
    dozen or so shows). A warning (p < ``alpha``) means the previous arm's effect lingers:
    a washout (:func:`session_visits`) or longer shows are in order.
    """
    import numpy as np
    import statsmodels.api as sm

    if not 0 < alpha < 1:
        raise LivekitError(f"alpha 必须在 0 和 1 之间，收到 {alpha!r}")
    if "prev_arm" not in units.columns:
        if "arm" not in units.columns:
            raise LivekitError("实验数据缺少分组列 arm。")
        prev = switches(units, units.select("room_id", variant="arm")).select("room_id", "prev_arm")
        units = units.join(prev, on="room_id", how="left")
    y_expr = pl.col(outcome) if isinstance(outcome, str) else outcome
    rows = units.filter(pl.col("prev_arm").is_not_null()).select(
        y=y_expr.cast(pl.Float64),
        arm=(pl.col("arm") == ARMS[1]).cast(pl.Float64),
        prev=(pl.col("prev_arm") == ARMS[1]).cast(pl.Float64),
    )
    rows = rows.drop_nulls().filter(pl.col("y").is_finite())
    n = rows.height
    if n < 5 or rows["prev"].n_unique() < 2 or rows["arm"].n_unique() < 2:
        raise LivekitError(
            f"检查残留效应（carryover）需要至少 5 场有上一场的直播，且本场与上一场都有 A 和 B 两组；"
            f"现在只有 {n} 场可用。"
        )
    x = np.column_stack([np.ones(n), rows["arm"].to_numpy(), rows["prev"].to_numpy()])
    fit = sm.OLS(rows["y"].to_numpy(), x).fit(cov_type="HC3", use_t=True)
    low, high = fit.conf_int(alpha=alpha)[2]
    p = float(fit.pvalues[2])
    return Carryover(
        coef=float(fit.params[2]),
        ci=(float(low), float(high)),
        p_value=p,
        n=n,
        alpha=alpha,
        warning=bool(p < alpha),
    )


# ---- the analysis --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentReport:
    """Everything the A/B report shows, computed once.

    ``verdicts`` holds a code per metric (``"srm"``, ``"error"``, ``"up"``, ``"down"``,
    ``"none"``). ``adjusted`` has the adjusted p-value of every metric whose p-value could be
    computed. ``plan`` is the sample-size plan for the first proportion metric (viewer tests
    only), ``plan_metric`` its name: one row per relative ``lift`` (a fraction) with the
    ``target_rate`` of arm B it means, the units ``needed_per_arm`` to detect it (null when
    it cannot be computed), the units the test had in its smaller arm (``have_per_arm``) and
    whether that is ``enough``.

    The options the analysis ran with: ``engine`` ("frequentist" or "bayesian"),
    ``sequential`` (always-valid intervals and p-values, tuned at ``sequential_tuning`` = N*),
    ``covariate`` (CUPED on the units' ``pre_`` columns: every comparison then carries
    ``theta`` and ``variance_reduction``) and the Bayesian ``prior`` (None: GrowthBook's flat
    one). ``comparisons`` always holds the frequentist comparison of each metric (with the
    same covariate and sequential options); with the Bayesian engine ``bayes`` holds each
    metric's :class:`~livekit.analysis.bayes.BayesianComparison`, the verdicts come from its
    chance to win and ``adjusted`` is empty (no multiplicity correction, as GrowthBook).
    """

    unit: Unit
    alpha: float
    correction: str
    planned_split: tuple[float, ...]  # normalized to sum to 1
    observed: tuple[int, int]  # units in A, in B
    srm: SrmResult
    metrics: dict[str, ExperimentMetric]
    comparisons: dict[str, Comparison]
    adjusted: dict[str, float]
    verdicts: dict[str, VerdictCode]
    plan: pl.DataFrame | None = None
    plan_metric: str | None = None
    engine: Engine = "frequentist"
    sequential: bool = False
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING
    covariate: bool = False
    prior: Prior | None = None
    bayes: dict[str, BayesianComparison] = field(default_factory=dict)


@dataclass(frozen=True)
class _Options:
    engine: Engine
    sequential: bool
    tuning: float
    covariate: bool
    prior: Prior | None


def _arm_values(
    units: pl.DataFrame, column: str, covariate: bool
) -> tuple[pl.Series, pl.Series, pl.Series | None, pl.Series | None]:
    """The arms' values of ``column`` and, with ``covariate``, of its
    ``pre_`` covariate (check_options made sure it is there)."""
    a_rows = units.filter(pl.col("arm") == ARMS[0])
    b_rows = units.filter(pl.col("arm") == ARMS[1])
    a, b = a_rows.get_column(column), b_rows.get_column(column)
    if not covariate:
        return a, b, None, None
    pre = f"pre_{column}"
    return a, b, a_rows[pre].cast(pl.Float64), b_rows[pre].cast(pl.Float64)


def _compare(
    units: pl.DataFrame, m: ExperimentMetric, unit: Unit, alpha: float, opts: _Options
) -> Comparison:
    if unit == "session":
        assert m.room_metric is not None
        # a switchback has a dozen or so sessions per arm: the delete-one-session jackknife
        # with a small-sample t (metrics.md: analyse at the randomized unit, mind few units);
        # the delta method's large-sample variance covered the sandbox truth only ~91-93%
        return compare_sessions(
            units,
            numerator=m.room_metric.numerator_expr(),
            denominator=m.room_metric.denominator_expr(),
            variant="arm",
            alpha=alpha,
            method="jackknife",
        )
    assert m.column is not None
    a, b, pre_a, pre_b = _arm_values(units, m.column, opts.covariate)
    if m.kind == "proportion" and not opts.covariate:
        return compare_proportions(
            int(a.sum()),
            a.len(),
            int(b.sum()),
            b.len(),
            alpha=alpha,
            sequential=opts.sequential,
            sequential_tuning=opts.tuning,
        )
    # with a covariate, GrowthBook adjusts a binomial metric as the mean of its 0/1 values
    return compare_means(
        a.cast(pl.Float64),
        b.cast(pl.Float64),
        alpha=alpha,
        covariate_a=pre_a,
        covariate_b=pre_b,
        sequential=opts.sequential,
        sequential_tuning=opts.tuning,
    )


def _compare_bayes(
    units: pl.DataFrame, m: ExperimentMetric, alpha: float, opts: _Options
) -> BayesianComparison:
    assert m.column is not None
    a, b, pre_a, pre_b = _arm_values(units, m.column, opts.covariate)
    if m.kind == "proportion" and not opts.covariate:
        return bayesian_proportions(
            int(a.sum()), a.len(), int(b.sum()), b.len(), prior=opts.prior, alpha=alpha
        )
    return bayesian_means(
        a.cast(pl.Float64),
        b.cast(pl.Float64),
        prior=opts.prior,
        alpha=alpha,
        covariate_a=pre_a,
        covariate_b=pre_b,
    )


def verdict(
    c: Comparison, adjusted_p: float | None, *, alpha: float, srm_warning: bool
) -> VerdictCode:
    """The verdict on one metric.

    A sample-ratio mismatch overrides everything; a comparison that could not produce a
    p-value cannot be judged; otherwise the adjusted p-value against ``alpha`` decides, and
    the sign of ``diff`` says which arm is higher.
    """
    if srm_warning:
        return "srm"
    if c.error and not math.isfinite(c.p_value):
        return "error"
    if adjusted_p is not None and adjusted_p < alpha:
        return "up" if c.diff > 0 else "down"
    return "none"


def bayes_verdict(
    c: BayesianComparison, *, srm_warning: bool, threshold: float = CHANCE_TO_WIN_THRESHOLD
) -> VerdictCode:
    """The verdict on one metric from its Bayesian comparison: a sample-ratio mismatch
    overrides everything; no posterior cannot be judged; B is "up" when its chance to win is
    at least ``threshold``, "down" when at most 1 - ``threshold``, else "none"."""
    if srm_warning:
        return "srm"
    if not math.isfinite(c.chance_to_win):
        return "error"
    if c.chance_to_win >= threshold:
        return "up"
    if c.chance_to_win <= 1.0 - threshold:
        return "down"
    return "none"


def check_engine(engine: str) -> Engine:
    """``engine`` as an :data:`Engine`; a Chinese error unless "frequentist" or "bayesian"."""
    if engine == "frequentist":
        return "frequentist"
    if engine == "bayesian":
        return "bayesian"
    raise LivekitError(
        f"未知的分析引擎 engine={engine!r}；可选：frequentist（频率学派：p 值与置信区间）"
        "或 bayesian（贝叶斯：B 胜出的概率与风险）。"
    )


def check_options(
    unit: str,
    *,
    engine: str = "frequentist",
    sequential: object = False,
    sequential_tuning: object = DEFAULT_SEQUENTIAL_TUNING,
    covariate: object = False,
    prior: object = None,
) -> tuple[Engine, bool, float, bool, Prior | None]:
    """The analysis options checked together (before any data is read): ``(engine, sequential,
    tuning, covariate, prior)``, or one Chinese line naming the value to change."""
    u = check_unit(unit)
    e = check_engine(engine)
    if not isinstance(sequential, bool):
        raise LivekitError(f"sequential 须为 true 或 false，收到 {sequential!r}")
    if not isinstance(covariate, bool):
        raise LivekitError(
            f"covariate 须为 True 或 False（是否用实验前数据做 CUPED），收到 {covariate!r}"
        )
    if (
        isinstance(sequential_tuning, bool)
        or not isinstance(sequential_tuning, int | float)
        or not math.isfinite(sequential_tuning)
        or sequential_tuning <= 0
    ):
        raise LivekitError(
            "序贯检验的调节参数 sequential_tuning（N*，两组合计样本量，区间在此处最窄）"
            f"须为正数，收到 {sequential_tuning!r}（默认 5000）"
        )
    if prior is not None and not isinstance(prior, Prior):
        raise LivekitError(f"先验须为 Prior(均值, 方差) 或 None，收到 {prior!r}")
    if u == "session":
        if sequential:
            raise LivekitError(
                "按场次轮换（unit=session）的比较用逐场删一的刀切法，没有序贯（始终有效）的版本："
                "请改用 sequential: false，或按观众随机（unit=viewer）。"
            )
        if covariate:
            raise LivekitError(
                "实验前数据调整（CUPED）只支持按观众随机（unit=viewer）：场次不会在实验前重复出现；"
                "请改用 unit=viewer，或不用协变量。"
            )
        if e == "bayesian":
            raise LivekitError(
                "贝叶斯引擎只支持按观众随机（unit=viewer）：按场次轮换请用 engine: frequentist。"
            )
    if e == "bayesian" and sequential:
        raise LivekitError(
            "序贯检验（sequential）是频率学派的方法：贝叶斯引擎请用 sequential: false，"
            "或改用 engine: frequentist。"
        )
    if e == "frequentist" and prior is not None:
        raise LivekitError("先验（prior）只用于贝叶斯引擎：请改用 engine: bayesian，或去掉先验。")
    return e, sequential, float(sequential_tuning), covariate, prior


def check_correction(correction: str) -> AdjustMethod:
    """``correction`` as an :data:`AdjustMethod`; a Chinese error unless "holm" or "bh"."""
    if correction == "holm":
        return "holm"
    if correction == "bh":
        return "bh"
    raise LivekitError(
        f"未知的多重比较校正方法 {correction!r}；可选：holm（控制族错误率 FWER）"
        f"或 bh（Benjamini-Hochberg，控制错误发现率 FDR）。"
    )


def _sample_size_plan(c: Comparison, alpha: float) -> pl.DataFrame:
    base = c.mean_a
    have = min(c.n_a, c.n_b)
    lifts = list(PLAN_LIFTS)
    if math.isfinite(c.lift) and abs(c.lift) > 0.01:
        lifts.append(round(abs(c.lift), 3))
    rows = []
    for lift in sorted(set(lifts)):
        target = min(base * (1 + lift), 0.999)
        need = sample_size(base, target, alpha=alpha) if 0 < base < target < 1 else None
        rows.append(
            {
                "lift": lift,
                "target_rate": target,
                "needed_per_arm": need,
                "have_per_arm": have,
                "enough": None if need is None else have >= need,
            }
        )
    return pl.DataFrame(rows, schema=PLAN_SCHEMA)


def analyse_experiment(
    units: pl.DataFrame,
    metrics: Sequence[str],
    *,
    unit: str,
    alpha: float = 0.05,
    correction: str = "holm",
    planned_split: Sequence[float] = (0.5, 0.5),
    engine: str = "frequentist",
    sequential: bool = False,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    covariate: bool = False,
    prior: Prior | None = None,
) -> ExperimentReport:
    """Analyse an experiment whose ``units`` (one row per randomized unit, an ``arm`` column
    with "A"/"B") come from :func:`viewer_units` or :func:`session_units`.

    Runs the SRM check against ``planned_split``, compares every metric (B against A),
    adjusts the p-values with ``correction`` ("holm" or "bh") and judges each metric.
    statsmodels' RuntimeWarnings on degenerate arms (a zero rate, no variance) are silenced
    here, for this call only: such a comparison carries its ``error`` code instead.

    Options (GrowthBook's; a mistake or an unsupported combination is one Chinese line):

    * ``sequential=True``: every comparison is the always-valid one
      (``compare_proportions``/``compare_means(sequential=True, sequential_tuning=)``), and
      the verdicts use its p-values, still adjusted by ``correction``. Viewer tests only (the
      session jackknife has no sequential version).
    * ``covariate=True``: the units carry ``pre_<column>`` columns (:func:`with_pre_period`);
      every metric, proportions too (as means of 0/1, like GrowthBook), is compared by CUPED:
      ``compare_means(a, b, covariate_a=pre_a, covariate_b=pre_b)``. Viewer tests only.
    * ``engine="bayesian"``: each metric also gets
      :func:`~livekit.analysis.bayes.bayesian_proportions` /
      :func:`~livekit.analysis.bayes.bayesian_means` (CUPED-adjusted with ``covariate``;
      ``prior`` a :class:`~livekit.analysis.bayes.Prior` or None for the flat one) in
      ``bayes``; the verdict is "up" when the chance to win is at least 95%, "down" when at
      most 5%; no multiplicity correction. Not with ``sequential``; viewer tests only.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")
        e, seq, tuning, cov, pri = check_options(
            unit,
            engine=engine,
            sequential=sequential,
            sequential_tuning=sequential_tuning,
            covariate=covariate,
            prior=prior,
        )
        opts = _Options(e, seq, tuning, cov, pri)
        return _analyse(units, metrics, unit, alpha, correction, planned_split, opts)


def _analyse(
    units: pl.DataFrame,
    metrics: Sequence[str],
    unit: str,
    alpha: float,
    correction: str,
    planned_split: Sequence[float],
    opts: _Options,
) -> ExperimentReport:
    u = check_unit(unit)
    chosen = resolve_metrics(metrics, u)
    check_correction(correction)
    if "arm" not in units.columns:
        raise LivekitError("实验数据缺少分组列 arm。")
    if opts.covariate:
        absent = [
            f"pre_{m.column}" for m in chosen.values() if f"pre_{m.column}" not in units.columns
        ]
        if absent:
            raise LivekitError(
                f"用实验前数据调整（covariate）需要每位观众的实验前指标列：缺少 {'、'.join(absent)}；"
                "请先用 with_pre_period(units, 实验前的观众明细) 加上这些列。"
            )
    counts = units.get_column("arm").value_counts()
    by_arm = dict(zip(counts["arm"].to_list(), counts["count"].to_list(), strict=True))
    observed = (int(by_arm.get(ARMS[0], 0)), int(by_arm.get(ARMS[1], 0)))
    if not all(observed):
        # nothing to compare: an SRM "p = nan" would otherwise read as "the split is fine"
        raise LivekitError(
            f"实验数据里 A 组 {observed[0]} 个、B 组 {observed[1]} 个{_UNIT_WORDS[u]}：两组都要有数据"
            "才能比较。请检查实验日期（experiment_start / experiment_end）和分组"
            "（session_arms 或观众明细的 variant 列）。"
        )
    check = srm(observed, planned_split)
    total = float(sum(planned_split))
    comparisons = {n: _compare(units, m, u, alpha, opts) for n, m in chosen.items()}
    bayes: dict[str, BayesianComparison] = {}
    adjusted: dict[str, float] = {}
    verdicts: dict[str, VerdictCode]
    if opts.engine == "bayesian":
        bayes = {n: _compare_bayes(units, m, alpha, opts) for n, m in chosen.items()}
        verdicts = {n: bayes_verdict(c, srm_warning=check.warning) for n, c in bayes.items()}
    else:
        tested = [n for n, c in comparisons.items() if math.isfinite(c.p_value)]
        method = check_correction(correction)
        raw = [comparisons[n].p_value for n in tested]
        adjusted = dict(zip(tested, adjust_pvalues(raw, method), strict=True))
        verdicts = {
            n: verdict(c, adjusted.get(n), alpha=alpha, srm_warning=check.warning)
            for n, c in comparisons.items()
        }
    proportions = [n for n, m in chosen.items() if m.kind == "proportion"]
    plan_metric = proportions[0] if proportions else None
    return ExperimentReport(
        unit=u,
        alpha=alpha,
        correction=correction,
        planned_split=tuple(w / total for w in planned_split),
        observed=observed,
        srm=check,
        metrics=chosen,
        comparisons=comparisons,
        adjusted=adjusted,
        verdicts=verdicts,
        plan=None if plan_metric is None else _sample_size_plan(comparisons[plan_metric], alpha),
        plan_metric=plan_metric,
        engine=opts.engine,
        sequential=opts.sequential,
        sequential_tuning=opts.tuning,
        covariate=opts.covariate,
        prior=opts.prior,
        bayes=bayes,
    )


def results_frame(report: ExperimentReport) -> pl.DataFrame:
    """One row per metric, in the report's order: ``metric`` (the name asked for), ``label``,
    the arms' values ``mean_a`` / ``mean_b``, ``diff`` = B − A with ``diff_low`` /
    ``diff_high``, the relative ``lift`` with ``lift_low`` / ``lift_high`` (unadjusted
    intervals at ``ci_level``), ``p_value``, ``adjusted_p`` (null when no p-value could be
    computed), the ``verdict`` code the analysis reached and the comparison's ``error`` code;
    then ``chance_to_win``, ``risk_a``, ``risk_b`` (NaN unless the engine is Bayesian) and
    ``theta``, ``variance_reduction`` (NaN unless CUPED).

    With the Bayesian engine the lift columns are the posterior mean and the credible
    interval, ``p_value``/``adjusted_p`` are null and the difference has no interval (the
    model is on the relative lift); ``error`` is the Bayesian comparison's. With
    ``sequential`` the intervals and p-values are the always-valid ones.

    Values are in the metric's own terms (rates and lifts as fractions; a "per thousand"
    metric before its scale). The lift chart draws this frame: its colours are ``verdict``.
    """
    cs = report.comparisons
    rows = []
    for n, c in cs.items():
        b = report.bayes.get(n)
        rows.append(
            {
                "metric": n,
                "label": report.metrics[n].label,
                "mean_a": c.mean_a,
                "mean_b": c.mean_b,
                "diff": c.diff,
                "diff_low": c.diff_ci[0] if b is None else NAN,
                "diff_high": c.diff_ci[1] if b is None else NAN,
                "lift": c.lift if b is None else b.lift,
                "lift_low": (c.lift_ci if b is None else b.lift_ci)[0],
                "lift_high": (c.lift_ci if b is None else b.lift_ci)[1],
                "ci_level": 1 - report.alpha,
                "p_value": c.p_value if b is None else None,
                "adjusted_p": report.adjusted.get(n),
                "verdict": report.verdicts[n],
                "error": c.error if b is None else b.error,
                "chance_to_win": NAN if b is None else b.chance_to_win,
                "risk_a": NAN if b is None else b.risk_a,
                "risk_b": NAN if b is None else b.risk_b,
                "theta": c.theta if b is None else b.theta,
                "variance_reduction": c.variance_reduction if b is None else b.variance_reduction,
            }
        )
    return pl.DataFrame(rows, schema=RESULTS_SCHEMA)


# The columns of results_frame.
RESULTS_SCHEMA: dict[str, type[pl.DataType]] = {
    "metric": pl.String,
    "label": pl.String,
    "mean_a": pl.Float64,
    "mean_b": pl.Float64,
    "diff": pl.Float64,
    "diff_low": pl.Float64,
    "diff_high": pl.Float64,
    "lift": pl.Float64,
    "lift_low": pl.Float64,
    "lift_high": pl.Float64,
    "ci_level": pl.Float64,
    "p_value": pl.Float64,
    "adjusted_p": pl.Float64,
    "verdict": pl.String,
    "error": pl.String,
    "chance_to_win": pl.Float64,
    "risk_a": pl.Float64,
    "risk_b": pl.Float64,
    "theta": pl.Float64,
    "variance_reduction": pl.Float64,
}
