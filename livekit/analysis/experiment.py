"""Experiment reports: from the stored exports to per-metric verdicts and Chinese prose.

The statistics live in :mod:`livekit.analysis.abtest`; this module is the layer above it that
the A/B notebook (and the report runner) use:

* the catalog of experiment metrics: per-viewer metrics (:data:`VIEWER_METRICS`) for tests
  randomized by viewer, and registered room metrics (with :data:`SESSION_ALIASES`) for tests
  randomized by session (switchback);
* the randomized units: :func:`viewer_units` (one row per viewer) and :func:`session_units`
  (one row per live session, with its arm);
* :func:`analyse_experiment`: the SRM check, one :class:`~livekit.analysis.abtest.Comparison`
  per metric, multiplicity-adjusted p-values, a verdict per metric, a summary and a
  sample-size plan, as a frozen :class:`ExperimentReport`;
* the Chinese text and tables shown to the merchant (:func:`srm_markdown`,
  :func:`results_table`, :func:`conclusion_markdown`, :func:`sample_size_markdown`, ...).

Pure: frames in, frames, dataclasses and strings out; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeAlias

import polars as pl

from livekit.analysis.abtest import (
    MIN_UNITS_PER_ARM,
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
from livekit.vocab.errors import LivekitError
from livekit.vocab.metrics import SESSION_COUNTERPARTS, Metric, format_value, metric, metrics_of
from livekit.vocab.units import MISSING, fmt_count, fmt_percent

__all__ = [
    "ARMS",
    "CORRECTION_NAMES",
    "EXPERIMENT_METRICS",
    "SESSION_ALIASES",
    "VERDICT_TEXT",
    "VIEWER_METRICS",
    "ExperimentMetric",
    "ExperimentReport",
    "Unit",
    "VerdictCode",
    "ViewerUnits",
    "analyse_experiment",
    "arms_frame",
    "check_metrics",
    "choose_session_arms",
    "conclusion_markdown",
    "experiment_metric",
    "experiment_metric_names",
    "format_diff",
    "format_metric_value",
    "format_p",
    "lift_frame",
    "method_note",
    "resolve_metrics",
    "results_table",
    "sample_size_markdown",
    "session_notes",
    "session_units",
    "srm_markdown",
    "verdict",
    "viewer_notes",
    "viewer_units",
]

Unit: TypeAlias = Literal["viewer", "session"]
MetricKind: TypeAlias = Literal["proportion", "mean", "ratio"]
VerdictCode: TypeAlias = Literal["srm", "error", "up", "down", "none"]

ARMS = ("A", "B")  # control, treatment
UNIT_NAMES: dict[str, str] = {"viewer": "观众", "session": "场次"}


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

CORRECTION_NAMES: dict[str, str] = {
    "holm": "Holm 校正（控制至少错一个的概率）",
    "bh": "Benjamini–Hochberg 校正（控制错误发现的比例）",
}

VERDICT_TEXT: dict[str, str] = {
    "srm": "分组比例异常（SRM），结论不可信",
    "up": "显著：B 组更高",
    "down": "显著：B 组更低",
    "none": "没有检测到差异",
}

PLAN_LIFTS = (0.05, 0.10, 0.20)  # relative lifts of the sample-size table


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


def _check_unit(unit: str) -> Unit:
    if unit == "viewer":
        return "viewer"
    if unit == "session":
        return "session"
    raise LivekitError(f"unit 只能是 viewer（按观众随机）或 session（按场次轮换），收到 {unit!r}")


def experiment_metric_names(unit: str) -> list[str]:
    """Every metric name the A/B report accepts for ``unit`` ("viewer" or "session")."""
    if _check_unit(unit) == "viewer":
        return list(VIEWER_METRICS)
    rooms = metrics_of("room")
    return [*rooms, *(a for a in SESSION_ALIASES if a not in rooms)]


def experiment_metric(name: str, unit: str) -> ExperimentMetric:
    """The metric called ``name`` for ``unit``; a Chinese error listing the valid names."""
    if _check_unit(unit) == "viewer":
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


def check_metrics(names: Sequence[str], unit: str) -> None:
    """Raise a Chinese :class:`~livekit.config.LivekitError` unless ``unit`` is known and every
    name in ``names`` is an experiment metric for it (the error lists the valid names)."""
    resolve_metrics(names, unit)


def resolve_metrics(names: Sequence[str], unit: str) -> dict[str, ExperimentMetric]:
    """``names`` resolved for ``unit``, in order; one Chinese error naming every unknown one."""
    _check_unit(unit)
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


def viewer_units(viewers: pl.DataFrame) -> ViewerUnits:
    """Aggregate the viewer export (one row per visit) to one row per viewer in the test.

    Visits without a ``variant`` are outside the experiment. A viewer's metrics cover all
    of their visits: ``converted`` (paid at least once), ``clicked`` (clicked a product at
    least once), ``watch_seconds`` (total), ``gmv`` (total paid, yuan), ``visits``.
    """
    missing = [c for c in _VIEWER_COLUMNS if c not in viewers.columns]
    if missing:
        raise LivekitError(f"观众明细缺少列：{'、'.join(missing)}")
    in_test = viewers.filter(pl.col("variant").is_not_null())
    per_viewer = (
        in_test.group_by("viewer_id")
        .agg(
            arm=pl.col("variant").first(),
            arms=pl.col("variant").n_unique(),
            converted=pl.col("paid").fill_null(False).any(),
            clicked=pl.col("clicked_product_id").is_not_null().any(),
            watch_seconds=(pl.col("leave_time") - pl.col("enter_time")).dt.total_seconds().sum(),
            gmv=pl.col("pay_amount").sum().cast(pl.Float64),
            visits=pl.len().cast(pl.Int64),
        )
        .sort("viewer_id")
    )
    crossed = per_viewer.filter(pl.col("arms") > 1).height
    units = per_viewer.filter(pl.col("arms") == 1).drop("arms")
    return ViewerUnits(units, in_test.height, per_viewer.height, crossed)


def viewer_notes(data: ViewerUnits, first: date, last: date, metrics: Sequence[str]) -> str:
    """The Chinese paragraph describing the viewers of the test; raises when there are none."""
    if data.visits == 0:
        raise LivekitError(
            f"{first} 至 {last} 的观众明细里没有 variant 列的分组数据：请确认实验日期，"
            "或导入带 variant 列的观众明细（livekit import viewers）。"
        )
    notes = [
        f"实验期 **{first} 至 {last}**，观众明细中带分组（variant）的访问 {fmt_count(data.visits)} 次，"
        f"来自 {fmt_count(data.viewers)} 位观众。每位观众的指标汇总了他在实验期内的全部访问。"
    ]
    if data.crossed:
        notes.append(
            f"⚠️ 有 {data.crossed} 位观众同时出现在两组：分组不是按观众固定的，已剔除；"
            "比例较大时请检查分组方式。"
        )
    notes += [f"- `{n}`：{m.label}" for n, m in resolve_metrics(metrics, "viewer").items()]
    return "\n".join(notes)


def arms_frame(session_arms: Mapping[str | int, str]) -> pl.DataFrame:
    """``{room_id: "A" | "B"}`` as a frame ``room_id, variant`` (arms trimmed, upper-cased)."""
    return pl.DataFrame(
        {
            "room_id": [int(k) for k in session_arms],
            "variant": [str(v).strip().upper() for v in session_arms.values()],
        },
        schema={"room_id": pl.Int64, "variant": pl.String},
    )


def choose_session_arms(
    session_arms: Mapping[str | int, str] | None, fallback: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, str]:
    """The session arms and where they came from (Chinese).

    ``session_arms`` (the notebook parameter) wins; otherwise ``fallback`` (e.g. the sandbox's
    published schedule); a Chinese error when neither is given.
    """
    if session_arms:
        return arms_frame(session_arms), "参数 session_arms"
    if fallback is not None:
        return fallback.select(pl.col("room_id").cast(pl.Int64), "variant"), "沙盒公布的实验排期"
    raise LivekitError(
        "按场次分析（unit=session）需要知道每场直播属于哪一组：店铺数据里没有这一信息。"
        '请在参数 session_arms 中写明，例如 {"7704121983748191672": "A", "7704188727557070776": "B"}。'
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


def session_notes(
    arms: pl.DataFrame,
    units: pl.DataFrame,
    arm_source: str,
    first: date,
    last: date,
    metrics: Sequence[str],
) -> str:
    """The Chinese paragraph describing the sessions of a switchback test."""
    missing = arms.join(units.select("room_id"), on="room_id", how="anti").height
    text = (
        f"实验期 **{first} 至 {last}**，分组来自{arm_source}：{arms.height} 场有组别，"
        f"其中 {units.height} 场在实验期的直播数据中找到"
        + (f"（{missing} 场不在这段日期内，未计入）" if missing else "")
        + "。每场的分子、分母先按场汇总，再以场次为单位比较：场次少，方差用逐场删一的刀切法"
        "（jackknife）估计，区间按 t 分布（自由度 = 较少一组的场次数 − 1）计算，比大样本近似更稳妥。"
    )
    notes = [text]
    for n, m in resolve_metrics(metrics, "session").items():
        assert m.room_metric is not None
        notes.append(f"- `{n}` → {m.label}：{m.room_metric.description}")
    return "\n".join(notes)


# ---- the analysis --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentReport:
    """Everything the A/B report shows, computed once.

    ``verdicts`` holds a code per metric (``"srm"``, ``"error"``, ``"up"``, ``"down"``,
    ``"none"``) and ``verdict_texts`` its Chinese wording. ``adjusted`` has the adjusted
    p-value of every metric whose p-value could be computed. ``plan`` is the sample-size
    table for the first proportion metric (viewer tests only), ``plan_metric`` its name.
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
    verdict_texts: dict[str, str]
    summary: str
    plan: pl.DataFrame | None = None
    plan_metric: str | None = None

    @property
    def unit_name(self) -> str:
        return UNIT_NAMES[self.unit]


def _compare(units: pl.DataFrame, m: ExperimentMetric, unit: Unit, alpha: float) -> Comparison:
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
    a = units.filter(pl.col("arm") == ARMS[0]).get_column(m.column)
    b = units.filter(pl.col("arm") == ARMS[1]).get_column(m.column)
    if m.kind == "proportion":
        return compare_proportions(int(a.sum()), a.len(), int(b.sum()), b.len(), alpha=alpha)
    return compare_means(a.cast(pl.Float64), b.cast(pl.Float64), alpha=alpha)


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


def _check_correction(correction: str) -> AdjustMethod:
    if correction == "holm":
        return "holm"
    if correction == "bh":
        return "bh"
    raise LivekitError(
        f"未知的多重比较校正方法 {correction!r}；可选：holm（控制族错误率 FWER）"
        f"或 bh（Benjamini-Hochberg，控制错误发现率 FDR）。"
    )


def _verdict_text(code: VerdictCode, c: Comparison) -> str:
    if code == "error":
        return f"无法判断：{c.error_message}"
    return VERDICT_TEXT[code]


def _summary(labels: dict[str, str], verdicts: dict[str, VerdictCode], srm_warning: bool) -> str:
    winners = [labels[n] for n, v in verdicts.items() if v == "up"]
    losers = [labels[n] for n, v in verdicts.items() if v == "down"]
    if srm_warning:
        return "**先解决分组比例问题，再看结果。**"
    if winners and not losers:
        return f"**B 方案在 {'、'.join(winners)} 上显著更高，其他指标没有显著变差：可以考虑全量使用 B 方案。**"
    if losers:
        return f"**B 方案在 {'、'.join(losers)} 上显著更低**：全量之前请权衡得失。"
    return "**没有指标出现显著差异**：如果期待的提升很小，需要更多样本（见下一节）。"


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
                "可检测的相对提升": fmt_percent(lift, 1, signed=True),
                "B 组转化率": fmt_percent(target, 2),
                "每组需要观众": MISSING if need is None else f"{need:,}",
                "本次每组观众": f"{have:,}",
                "样本是否足够": MISSING if need is None else ("足够" if have >= need else "不够"),
            }
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))


def analyse_experiment(
    units: pl.DataFrame,
    metrics: Sequence[str],
    *,
    unit: str,
    alpha: float = 0.05,
    correction: str = "holm",
    planned_split: Sequence[float] = (0.5, 0.5),
) -> ExperimentReport:
    """Analyse an experiment whose ``units`` (one row per randomized unit, an ``arm`` column
    with "A"/"B") come from :func:`viewer_units` or :func:`session_units`.

    Runs the SRM check against ``planned_split``, compares every metric (B against A),
    adjusts the p-values with ``correction`` ("holm" or "bh") and judges each metric.
    """
    u = _check_unit(unit)
    chosen = resolve_metrics(metrics, u)
    _check_correction(correction)
    if "arm" not in units.columns:
        raise LivekitError("实验数据缺少分组列 arm。")
    counts = units.get_column("arm").value_counts()
    by_arm = dict(zip(counts["arm"].to_list(), counts["count"].to_list(), strict=True))
    observed = (int(by_arm.get(ARMS[0], 0)), int(by_arm.get(ARMS[1], 0)))
    if not all(observed):
        # nothing to compare: an SRM "p = nan" would otherwise read as "the split is fine"
        raise LivekitError(
            f"实验数据里 A 组 {observed[0]} 个、B 组 {observed[1]} 个{UNIT_NAMES[u]}：两组都要有数据"
            "才能比较。请检查实验日期（experiment_start / experiment_end）和分组"
            "（session_arms 或观众明细的 variant 列）。"
        )
    check = srm(observed, planned_split)
    total = float(sum(planned_split))
    comparisons = {n: _compare(units, m, u, alpha) for n, m in chosen.items()}
    tested = [n for n, c in comparisons.items() if math.isfinite(c.p_value)]
    method = _check_correction(correction)
    adjusted = dict(
        zip(tested, adjust_pvalues([comparisons[n].p_value for n in tested], method), strict=True)
    )
    verdicts = {
        n: verdict(c, adjusted.get(n), alpha=alpha, srm_warning=check.warning)
        for n, c in comparisons.items()
    }
    labels = {n: m.label for n, m in chosen.items()}
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
        verdict_texts={n: _verdict_text(v, comparisons[n]) for n, v in verdicts.items()},
        summary=_summary(labels, verdicts, check.warning),
        plan=None if plan_metric is None else _sample_size_plan(comparisons[plan_metric], alpha),
        plan_metric=plan_metric,
    )


# ---- formatting ------------------------------------------------------------------------------------
def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _registered(m: ExperimentMetric) -> Metric:
    """The registry's metric behind ``m``: the room metric of a session test, else the viewer
    metric of the same name."""
    return m.room_metric if m.room_metric is not None else metric(m.name, "viewer")


def format_metric_value(m: ExperimentMetric, value: float | None) -> str:
    """An arm's value as the registry formats its metric: rates (fractions) as percent, money
    as ¥, other units after the number; only "per thousand" metrics carry a scale (GPM)."""
    if value is None or not math.isfinite(value):
        return MISSING
    r = _registered(m)
    return format_value(r, value * r.scale)


def format_diff(m: ExperimentMetric, value: float | None) -> str:
    """A signed difference B − A: percentage points for rates, the metric's unit otherwise."""
    if value is None or not math.isfinite(value):
        return MISSING
    r = _registered(m)
    if r.is_rate:  # a difference of fractions, shown in percentage points
        return f"{value * 100:+.2f} 个百分点"
    return ("+" if value > 0 else "") + format_value(r, value * r.scale)


def format_p(p: float | None) -> str:
    """A p-value for prose: "< 0.001", "0.042", or "—"."""
    if p is None or not math.isfinite(p):
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _range(low: str, high: str) -> str:
    return f"{low} ~ {high}"


# ---- Chinese text and tables -------------------------------------------------------------------------
def srm_markdown(report: ExperimentReport) -> str:
    """The SRM paragraph: planned against observed split, and what a mismatch means."""
    a, b = report.observed
    pa, pb = report.planned_split[0], report.planned_split[1]
    name = report.unit_name
    text = (
        f"计划按 A:B = {pa:.0%}:{pb:.0%} 分组，实际 A 组 {a:,} 个{name}、"
        f"B 组 {b:,} 个{name}（卡方检验 p = {report.srm.p_value:.4f}）。"
    )
    if report.srm.warning:
        text += (
            "\n\n**⚠️ 分组比例明显偏离计划（SRM）。** 常见原因：分组代码有误、某组的数据丢失或埋点不全、"
            "部分观众/场次被过滤。请先查清原因，下面的结论不可信。"
        )
    else:
        text += "分组比例与计划一致，可以继续看结果。"
    if report.unit == "session" and min(a, b) < MIN_UNITS_PER_ARM:
        text += (
            f"\n\n⚠️ 每组只有 {min(a, b)} 场（建议每组至少 {MIN_UNITS_PER_ARM} 场）："
            "场次少时区间很宽，结论不稳。"
        )
    return text


def method_note(report: ExperimentReport) -> str:
    """One sentence on the interval level and the multiplicity correction."""
    name = CORRECTION_NAMES.get(report.correction, report.correction)
    return (
        f"区间为 {1 - report.alpha:.0%} 置信区间；多个指标同时检验，使用 {name}，"
        f"校正后 p 值小于 {report.alpha} 才算显著。"
    )


def results_table(report: ExperimentReport) -> pl.DataFrame:
    """One row per metric, every cell formatted for the merchant."""
    rows = []
    for n, c in report.comparisons.items():
        m = report.metrics[n]
        rows.append(
            {
                "指标": m.label,
                "A 组": format_metric_value(m, c.mean_a),
                "B 组": format_metric_value(m, c.mean_b),
                "差值（B − A）": format_diff(m, c.diff),
                "差值区间": _range(format_diff(m, c.diff_ci[0]), format_diff(m, c.diff_ci[1])),
                "相对提升": fmt_percent(c.lift, 1, signed=True),
                "提升区间": _range(
                    fmt_percent(c.lift_ci[0], 1, signed=True),
                    fmt_percent(c.lift_ci[1], 1, signed=True),
                ),
                "p 值": format_p(c.p_value),
                "校正后 p 值": format_p(report.adjusted.get(n)),
                "结论": report.verdict_texts[n],
            }
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))


def lift_frame(report: ExperimentReport) -> pl.DataFrame:
    """Per metric, for :func:`livekit.charts.lift_chart`: ``label, lift, lift_low, lift_high``
    (the unadjusted interval, at ``ci_level``), ``adjusted_p`` and the report's ``verdict``
    code, so that the chart draws the decision the analysis made."""
    cs = report.comparisons
    return pl.DataFrame(
        {
            "label": [report.metrics[n].label for n in cs],
            "lift": [c.lift for c in cs.values()],
            "lift_low": [c.lift_ci[0] for c in cs.values()],
            "lift_high": [c.lift_ci[1] for c in cs.values()],
            "ci_level": [1 - report.alpha] * len(cs),
            "adjusted_p": [report.adjusted.get(n) for n in cs],
            "verdict": [report.verdicts[n] for n in cs],
        },
        schema={
            "label": pl.String,
            "lift": pl.Float64,
            "lift_low": pl.Float64,
            "lift_high": pl.Float64,
            "ci_level": pl.Float64,
            "adjusted_p": pl.Float64,
            "verdict": pl.String,
        },
    )


def conclusion_markdown(report: ExperimentReport) -> str:
    """A bullet per metric (values, lift, adjusted p, verdict, warnings), then the summary."""
    lines = []
    for n, c in report.comparisons.items():
        m = report.metrics[n]
        code = report.verdicts[n]
        head = (
            f"**{m.label}**：A 组 {format_metric_value(m, c.mean_a)}，"
            f"B 组 {format_metric_value(m, c.mean_b)}"
        )
        if math.isfinite(c.lift):
            head += (
                f"，B 组相对 A 组 {fmt_percent(c.lift, 1, signed=True)}"
                f"（区间 {_range(fmt_percent(c.lift_ci[0], 1, signed=True), fmt_percent(c.lift_ci[1], 1, signed=True))}）"
            )
        p_adj = format_p(report.adjusted.get(n))
        head += f"，校正后 p {p_adj if p_adj.startswith('<') else '= ' + p_adj}。"
        text = report.verdict_texts[n]
        if code in ("up", "down"):
            tail = f"→ **{text}**。这个差异不太可能是随机波动造成的。"
        elif code == "none":
            tail = (
                "→ **没有检测到差异**。这不等于两组一样：只说明在这个样本量下看不出差别，"
                "真实差异大概率落在上面的区间里。"
            )
        else:
            tail = f"→ **{text}**。"
        lines.append(f"- {head}{tail}")
        lines += [f"  - {w}" for w in c.warnings]
    return "\n".join(lines) + "\n\n" + report.summary


def sample_size_markdown(report: ExperimentReport) -> str:
    """The text of the sample-size section (the table itself is ``report.plan``)."""
    if report.plan_metric is not None:
        c = report.comparisons[report.plan_metric]
        label = report.metrics[report.plan_metric].label
        return (
            f"以本次对照组的{label} {fmt_percent(c.mean_a, 2)} 为基线，"
            f"在 {report.alpha} 的显著性水平下、以 80% 的把握检测出下表中的提升，每组需要的观众数："
        )
    if report.unit == "session":
        a, b = report.observed
        return (
            f"按场次轮换的实验，有效样本是**场次数**而不是观众数：本次 A 组 {a} 场、B 组 {b} 场。"
            "场次之间的波动（时段、主播、货盘）远大于观众之间的随机性，想看清更小的提升，唯一的办法是跑更多场次，"
            f"建议每组至少 {MIN_UNITS_PER_ARM} 场，并让两组在时段、星期上尽量均衡。"
        )
    return "所选指标中没有比例类指标，样本量估算从略。"
