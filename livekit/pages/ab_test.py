"""The A/B report's page (A/B 实验分析): is arm B really different from arm A, by how much, and
can the answer be trusted?

::

    import livekit
    from livekit.pages import ab_test

    page = ab_test.build(livekit.open("sandbox"), experiment_start="40_days_ago",
                         experiment_end="27_days_ago", unit="viewer")
    page.design()        # the period, the units, the metrics, the method (指标说明与分组)
    page.split()         # the sample-ratio check (一、分组比例检查)
    page.differences()   # every metric: the table and the lift chart (二、各指标的差异)
    page.conclusion()    # a verdict per metric and what to do (三、结论)
    page.sample_size()   # how many units a smaller lift needs (四、需要多少样本)

Two designs: randomized by viewer (``unit="viewer"``: the viewer export's ``variant`` column)
or by session (``unit="session"``, a switchback: each show's arm comes from the
``session_arms`` parameter, or on the sandbox from the ``session_arms`` dataset it publishes).
The numbers come from :func:`livekit.analysis.experiment.analyse_experiment`, run once in
:func:`build`; this module words and formats them. The lift chart draws the analysis's verdict
(decided on multiplicity-adjusted p-values, or on the chance to win), never a decision of its
own.

Options, as GrowthBook offers them, each said in Chinese where the results are read:
``engine="bayesian"`` (chance to win, the risk of choosing A or B, credible intervals),
``sequential=True`` (always-valid intervals, safe to look at every day; viewer tests) and
``covariate="pre_period"`` (CUPED: each viewer's same metric over the ``pre_period_days`` days
before ``experiment_start``, read through the kit like the experiment's own days; viewer tests).

Switchback refinements (session tests): the split section checks each metric for carryover
(:func:`~livekit.analysis.experiment.carryover`: does the previous show's arm predict this
show's value?), and ``washout_minutes`` = k > 0 compares the metrics that can be counted from
the viewer export (:data:`VISIT_METRICS`) on
:func:`~livekit.analysis.experiment.session_visits` with a k-minute washout after each switch,
saying how many visits it dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

import polars as pl

from livekit.analysis.abtest import (
    DEFAULT_SEQUENTIAL_TUNING,
    MIN_UNITS_PER_ARM,
    Comparison,
    adjust_pvalues,
    compare_sessions,
)
from livekit.analysis.experiment import (
    CARRYOVER_ALPHA,
    CHANCE_TO_WIN_THRESHOLD,
    SESSION_ALIASES,
    Carryover,
    ExperimentMetric,
    ExperimentReport,
    Unit,
    VerdictCode,
    ViewerUnits,
    analyse_experiment,
    arms_frame,
    carryover,
    check_correction,
    check_options,
    check_unit,
    check_washout,
    resolve_metrics,
    results_frame,
    session_units,
    session_visits,
    switches,
    verdict,
    viewer_units,
    with_pre_period,
)
from livekit.charts import Column, HtmlTable, TableSpec, table
from livekit.charts.style import BAD, GOOD, NEUTRAL
from livekit.pages._page import Period, Section, period, section
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import MISSING, format_count, format_percent, format_value

if TYPE_CHECKING:
    import altair as alt

    from livekit.source import Kit

__all__ = [
    "BAYES_RESULTS_TABLE",
    "BAYES_VERDICT_LEGEND",
    "BAYES_VERDICT_TEXT",
    "CORRECTIONS",
    "CORRECTION_NAMES",
    "COVARIATES",
    "PLAN_TABLE",
    "RESULTS_TABLE",
    "UNIT_NAMES",
    "VERDICT_LEGEND",
    "VERDICT_TEXT",
    "VISIT_METRICS",
    "AbTestPage",
    "VisitMetric",
    "Washout",
    "build",
    "carryover_caveat",
    "carryover_checks",
    "carryover_markdown",
    "check_covariate",
    "check_pre_period_days",
    "check_washout_minutes",
    "choose_session_arms",
    "conclusion_markdown",
    "format_diff",
    "format_metric_value",
    "format_p",
    "lift_chart",
    "method_markdown",
    "method_note",
    "plan_table",
    "pre_period_notes",
    "results_cells",
    "results_spec",
    "results_table",
    "sample_size_markdown",
    "session_notes",
    "srm_markdown",
    "summary_markdown",
    "verdict_text",
    "viewer_notes",
    "visit_comparisons",
    "washout_markdown",
    "with_washout",
]

UNIT_NAMES: dict[str, str] = {"viewer": "观众", "session": "场次"}

# The covariate parameter: "none" or "pre_period" (CUPED on the days before the experiment).
COVARIATES: dict[str, str] = {
    "none": "不调整",
    "pre_period": "用实验前同一指标做回归调整（CUPED）",
}
MAX_PRE_PERIOD_DAYS = 365
CORRECTIONS = ("holm", "bh")

CORRECTION_NAMES: dict[str, str] = {
    "holm": "Holm 校正（控制至少错一个的概率）",
    "bh": "Benjamini–Hochberg 校正（控制错误发现的比例）",
}

# The analysis's verdict codes (livekit.analysis.experiment.verdict) in words.
VERDICT_TEXT: dict[str, str] = {
    "srm": "分组比例异常（SRM），结论不可信",
    "up": "显著：B 组更高",
    "down": "显著：B 组更低",
    "none": "没有检测到差异",
}

# The verdict codes with the words of the results table and a colour each: the lift chart
# shows the decision the analysis made, never its own.
VERDICT_LEGEND: dict[str, tuple[str, str]] = {
    "up": (VERDICT_TEXT["up"], GOOD),
    "down": (VERDICT_TEXT["down"], BAD),
    "none": (VERDICT_TEXT["none"], NEUTRAL),
    "srm": (VERDICT_TEXT["srm"], "#e0a030"),
    "error": ("无法判断", "#bbbbbb"),
}

# The Bayesian verdicts (from the chance to win, livekit.analysis.experiment.bayes_verdict).
_WIN = f"{CHANCE_TO_WIN_THRESHOLD:.0%}"
BAYES_VERDICT_TEXT: dict[str, str] = {
    "srm": VERDICT_TEXT["srm"],
    "up": f"B 组更好（胜出概率 ≥ {_WIN}）",
    "down": f"B 组更差（胜出概率 ≤ {1 - CHANCE_TO_WIN_THRESHOLD:.0%}）",
    "none": "还不能确定哪组更好",
}
BAYES_VERDICT_LEGEND: dict[str, tuple[str, str]] = {
    code: (BAYES_VERDICT_TEXT.get(code, text), colour)
    for code, (text, colour) in VERDICT_LEGEND.items()
}

PARAMETER_ARMS = "参数 session_arms"  # where the session arms came from
PUBLISHED_ARMS = "沙盒公布的实验排期"

# The results table: the cells of results_cells under their Chinese headers.
RESULTS_TABLE = TableSpec(
    (
        Column("label", "指标"),
        Column("a", "A 组"),
        Column("b", "B 组"),
        Column("diff", "差值（B − A）"),
        Column("diff_range", "差值区间"),
        Column("lift", "相对提升"),
        Column("lift_range", "提升区间"),
        Column("p_value", "p 值"),
        Column("adjusted_p", "校正后 p 值"),
        Column("verdict", "结论"),
    )
)


# The Bayesian results table (engine = "bayesian"): the cells of results_cells.
BAYES_RESULTS_TABLE = TableSpec(
    (
        Column("label", "指标"),
        Column("a", "A 组"),
        Column("b", "B 组"),
        Column("lift", "相对提升（后验均值）"),
        Column("lift_range", "可信区间"),
        Column("chance_to_win", "B 胜出的概率"),
        Column("risk_a", "选 A 的风险"),
        Column("risk_b", "选 B 的风险"),
        Column("verdict", "结论"),
    )
)
_CUPED_COLUMN = Column("variance_reduction", "方差减少（CUPED）")


def _signed_percent(value: float) -> str:
    return format_percent(value, 1, signed=True)


def _risk(value: float) -> str:
    return format_percent(value, 2)


def _share(value: float) -> str:
    return format_percent(value, 1)


def _rate(value: float) -> str:
    return format_percent(value, 2)


def _enough(value: bool) -> str:
    return "足够" if value else "不够"


# The sample-size plan (ExperimentReport.plan, English columns) as the merchant reads it.
PLAN_TABLE = TableSpec(
    (
        Column("lift", "可检测的相对提升", _signed_percent),
        Column("target_rate", "B 组转化率", _rate),
        Column("needed_per_arm", "每组需要观众", "{:,}"),
        Column("have_per_arm", "本次每组观众", "{:,}"),
        Column("enough", "样本是否足够", _enough),
    )
)


# ---- formatting --------------------------------------------------------------------------------
def format_metric_value(m: ExperimentMetric, value: float | None) -> str:
    """An arm's value as the registry formats its metric: rates (fractions) as percent, money
    as ¥, other units after the number; only "per thousand" metrics carry a scale (GPM)."""
    if value is None or not math.isfinite(value):
        return MISSING
    r = m.registered
    return format_value(r, value * r.scale)


def format_diff(m: ExperimentMetric, value: float | None) -> str:
    """A signed difference B − A: percentage points for rates, the metric's unit otherwise."""
    if value is None or not math.isfinite(value):
        return MISSING
    r = m.registered
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


# ---- the groups ------------------------------------------------------------------------------------
def _check_viewers(data: ViewerUnits, first: date, last: date) -> None:
    if data.visits == 0:
        raise LivekitError(
            f"{first} 至 {last} 的观众明细里没有 variant 列的分组数据：请确认实验日期，"
            "或导入带 variant 列的观众明细（livekit import viewers）。"
        )


def viewer_notes(data: ViewerUnits, first: date, last: date, metrics: Sequence[str]) -> str:
    """The Chinese paragraph describing the viewers of the test; raises when there are none."""
    _check_viewers(data, first, last)
    notes = [
        f"实验期 **{first} 至 {last}**，观众明细中带分组（variant）的访问 "
        f"{format_count(data.visits)} 次，来自 {format_count(data.viewers)} 位观众。"
        "每位观众的指标汇总了他在实验期内的全部访问。"
    ]
    if data.crossed:
        notes.append(
            f"⚠️ 有 {data.crossed} 位观众同时出现在两组：分组不是按观众固定的，已剔除；"
            "比例较大时请检查分组方式。"
        )
    notes += [f"- `{n}`：{m.label}" for n, m in resolve_metrics(metrics, "viewer").items()]
    return "\n".join(notes)


def choose_session_arms(
    session_arms: Mapping[str | int, str] | None, fallback: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, str]:
    """The session arms (``room_id, variant``) and where they came from (Chinese).

    ``session_arms`` (the notebook parameter) wins; otherwise ``fallback`` (the sandbox's
    published schedule); a Chinese error when neither is given.
    """
    if session_arms:
        return arms_frame(session_arms), PARAMETER_ARMS
    if fallback is not None:
        return fallback.select(pl.col("room_id").cast(pl.Int64), "variant"), PUBLISHED_ARMS
    raise LivekitError(
        "按场次分析（unit=session）需要知道每场直播属于哪一组：店铺数据里没有这一信息。"
        '请在参数 session_arms 中写明，例如 {"7704121983748191672": "A", "7704188727557070776": "B"}。'
    )


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


# ---- the split ----------------------------------------------------------------------------------
def srm_markdown(report: ExperimentReport) -> str:
    """The SRM paragraph: planned against observed split, and what a mismatch means."""
    a, b = report.observed
    pa, pb = report.planned_split[0], report.planned_split[1]
    name = UNIT_NAMES[report.unit]
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


# ---- the differences --------------------------------------------------------------------------------
def method_note(report: ExperimentReport) -> str:
    """One sentence on the interval level and the multiplicity correction (frequentist), or
    on the credible interval and the chance-to-win rule (Bayesian)."""
    level = f"{1 - report.alpha:.0%}"
    if report.engine == "bayesian":
        return (
            f"区间为 {level} 可信区间；B 胜出的概率达到 {_WIN} 判为 B 更好，"
            f"不超过 {1 - CHANCE_TO_WIN_THRESHOLD:.0%} 判为 B 更差。"
        )
    name = CORRECTION_NAMES.get(report.correction, report.correction)
    kind = "“始终有效”的置信区间" if report.sequential else "置信区间"
    return (
        f"区间为 {level} {kind}；多个指标同时检验，使用 {name}，"
        f"校正后 p 值小于 {report.alpha} 才算显著。"
    )


def _engine_markdown(report: ExperimentReport) -> str:
    level = f"{1 - report.alpha:.0%}"
    if report.engine == "bayesian":
        prior = report.prior
        model = (
            "相对提升上用 GrowthBook 默认的平坦先验，结果完全由数据决定"
            if prior is None
            else f"相对提升上用正态先验：均值 {prior.mean:+.1%}、标准差 {math.sqrt(prior.variance):.1%}"
        )
        return "\n".join(
            [
                f"本报告用**贝叶斯**方法（GrowthBook 的效应模型，{model}）回答“B 比 A 好的可能性有多大、选错了会损失多少”：",
                "- **B 胜出的概率**：根据已有数据，B 组真实值高于 A 组的概率。"
                f"达到 {_WIN} 判为 B 更好，不超过 {1 - CHANCE_TO_WIN_THRESHOLD:.0%} 判为 B 更差；",
                "- **选 B 的风险 / 选 A 的风险**：如果选了 B（或 A）而它其实更差，平均会损失多少，"
                "用相对提升表示（选错时平均损失的相对提升，按可能性加权；选对时损失记 0）。"
                "风险已经小到可以接受时，就可以放心决定；",
                f"- **可信区间**：真实的相对提升有 {level} 的概率落在这个区间里。",
                "贝叶斯结果不做多重比较校正（与 GrowthBook 一致）：同时看的指标越多，越可能有某个指标碰巧胜出概率很高。",
            ]
        )
    if report.sequential:
        return (
            f"本报告用**序贯检验**（GrowthBook 的“始终有效”置信区间，调节参数 N* = "
            f"{report.sequential_tuning:,.0f}）：区间和 p 值“始终有效”——每天看也不会增加误判，"
            f"无论看多少次、什么时候停下，把没有差别的实验判为显著的概率都不超过 {report.alpha:.0%}。"
            "代价是区间更宽（两组合计样本量在 N* 附近时最窄）。适合实验还在进行、每天都要看结果的时候。"
        )
    return (
        "p 值是“如果两组其实没有差别，碰巧看到这么大（或更大）差异的概率”；"
        f"区间是真实差异的合理范围（{level} 置信区间）。"
        "这是固定样本量的检验：只在实验结束时看一次才有效；实验中途天天看、一显著就停，"
        "误判的概率会成倍增加。要每天看结果，请用 sequential: true（始终有效的区间）。"
    )


def _cuped_markdown(report: ExperimentReport, pre_period_days: int | None) -> str | None:
    if not report.covariate:
        return None
    days = f" {pre_period_days} 天" if pre_period_days else ""
    lines = [
        f"**实验前数据调整（CUPED）**：用实验前{days}每位观众自己的同一指标做了回归调整"
        "（GrowthBook 的做法，两组共用一个系数）。实验前的行为能预测实验中的行为，"
        "扣掉这部分可以预测的波动，区间变窄；分组是随机的，估计的仍是同一个提升。"
    ]
    for n, vr in _variance_reductions(report).items():
        label = report.metrics[n].label
        if not math.isfinite(vr):
            lines.append(f"- {label}：无法调整（数据不足），按未调整的结果计算。")
        elif vr > 0:
            more = vr / (1 - vr) if vr < 1 else math.inf
            lines.append(
                f"- {label}：用实验前{days}同一指标做了回归调整，方差减少 {_share(vr)}，"
                f"相当于多了 {_share(more)} 的样本。"
            )
        else:
            lines.append(
                f"- {label}：实验前的数据几乎预测不了这个指标，方差没有减少（{_share(vr)}），"
                "结果与不调整时基本相同。"
            )
    return "\n".join(lines)


def _variance_reductions(report: ExperimentReport) -> dict[str, float]:
    if report.engine == "bayesian":
        return {n: b.variance_reduction for n, b in report.bayes.items()}
    return {n: c.variance_reduction for n, c in report.comparisons.items()}


def method_markdown(report: ExperimentReport, pre_period_days: int | None = None) -> str:
    """What each result of the chosen engine means (p-value and interval; the always-valid
    interval; chance to win, risk and credible interval), how intervals are read, and with
    CUPED how much variance the pre-period removed per metric (Chinese Markdown)."""
    parts = [_engine_markdown(report), method_note(report)]
    cuped = _cuped_markdown(report, pre_period_days)
    if cuped is not None:
        parts.append(cuped)
    return "\n\n".join(parts)


def verdict_text(report: ExperimentReport, name: str) -> str:
    """The verdict on metric ``name`` in words (why, when it could not be judged)."""
    code: VerdictCode = report.verdicts[name]
    if code == "error":
        b = report.bayes.get(name)
        reason = b.error_message if b is not None else report.comparisons[name].error_message
        return f"无法判断：{reason}"
    return (BAYES_VERDICT_TEXT if report.engine == "bayesian" else VERDICT_TEXT)[code]


def results_spec(report: ExperimentReport) -> TableSpec:
    """The results table's columns for the report's engine (with CUPED, the variance removed)."""
    spec = BAYES_RESULTS_TABLE if report.engine == "bayesian" else RESULTS_TABLE
    if report.covariate:
        return TableSpec((*spec.columns[:-1], _CUPED_COLUMN, spec.columns[-1]))
    return spec


def results_cells(report: ExperimentReport) -> pl.DataFrame:
    """One row per metric, every cell formatted for the merchant (the columns of
    :func:`results_spec`: :data:`RESULTS_TABLE`, or :data:`BAYES_RESULTS_TABLE` for the
    Bayesian engine, with the variance removed by CUPED when it ran): values in the metric's
    unit, differences of rates in percentage points, lifts in percent, intervals as "low ~
    high", p-values or chance to win and risks, the verdict."""
    rows = []
    for n, c in report.comparisons.items():
        m = report.metrics[n]
        b = report.bayes.get(n)
        cells = {
            "label": m.label,
            "a": format_metric_value(m, c.mean_a),
            "b": format_metric_value(m, c.mean_b),
            "diff": format_diff(m, c.diff),
            "diff_range": _range(format_diff(m, c.diff_ci[0]), format_diff(m, c.diff_ci[1])),
            "lift": _signed_percent(c.lift),
            "lift_range": _range(_signed_percent(c.lift_ci[0]), _signed_percent(c.lift_ci[1])),
            "p_value": format_p(c.p_value),
            "adjusted_p": format_p(report.adjusted.get(n)),
            "verdict": verdict_text(report, n),
            "variance_reduction": _share(
                c.variance_reduction if b is None else b.variance_reduction
            ),
        }
        if b is not None:
            cells |= {
                "lift": _signed_percent(b.lift),
                "lift_range": _range(_signed_percent(b.lift_ci[0]), _signed_percent(b.lift_ci[1])),
                "chance_to_win": _share(b.chance_to_win),
                "risk_a": _risk(b.risk_a),
                "risk_b": _risk(b.risk_b),
            }
        rows.append({col.name: cells[col.name] for col in results_spec(report).columns})
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))


def results_table(report: ExperimentReport) -> HtmlTable:
    """The results table: one row per metric (every header and cell escaped)."""
    return table(results_cells(report), results_spec(report))


def _lift_subtitle(rows: pl.DataFrame, kind: str = "置信区间") -> str:
    levels = rows.get_column("ci_level").unique().to_list() if "ci_level" in rows.columns else []
    level = f" {levels[0]:.0%}" if len(levels) == 1 and levels[0] is not None else ""
    text = (
        f"点为相对提升，横线为{level} {kind}（单个指标、未做多重比较校正）；"
        "颜色是多重比较校正后的结论，与上表一致"
    )
    excludes_zero = (pl.col("lift_low") > 0) | (pl.col("lift_high") < 0)
    if rows.filter(excludes_zero & (pl.col("verdict") == "none")).height:
        text += "；横线不含 0 而显示“没有检测到差异”的指标，校正后不显著"
    return text


def lift_chart(
    lifts: pl.DataFrame,
    *,
    title: str = "实验组相对对照组的提升",
    subtitle: str | None = None,
    legend: Mapping[str, tuple[str, str]] = VERDICT_LEGEND,
) -> alt.LayerChart:
    """Forest plot: each metric's relative lift (B vs A) with its interval, coloured by the
    verdict the analysis reached.

    ``lifts`` is :func:`livekit.analysis.experiment.results_frame`'s frame (at least ``label,
    lift, lift_low, lift_high, verdict``; optional ``ci_level``). The colour is the
    ``verdict`` column (codes of :data:`VERDICT_LEGEND`), decided on multiplicity-adjusted
    p-values; the bars are the unadjusted intervals, and the default subtitle says so.
    Metrics whose lift is undefined are left out. ``legend`` maps the verdict codes to their
    words and colours (:data:`BAYES_VERDICT_LEGEND` for the Bayesian engine).
    """
    import altair as alt

    from livekit.charts._frames import require
    from livekit.charts._marks import layered, title_params, zero_line
    from livekit.charts.style import WIDTH

    require(lifts, ["label", "lift", "lift_low", "lift_high", "verdict"], "lift_chart")
    unknown = set(lifts.get_column("verdict").drop_nulls().to_list()) - set(legend)
    if unknown or lifts.get_column("verdict").null_count():
        raise ValueError(f"lift_chart: verdicts must be one of {list(legend)}")
    keep = ["label", "lift", "lift_low", "lift_high", "verdict"]
    keep += ["ci_level"] if "ci_level" in lifts.columns else []
    rows = lifts.select(keep).filter(pl.col("lift").is_not_null() & pl.col("lift").is_finite())
    rows = rows.with_columns(
        pl.col("verdict")
        .replace_strict({code: text for code, (text, _) in legend.items()})
        .alias("conclusion")
    )
    present = [c for c in legend if c in set(rows.get_column("verdict").to_list())]
    color = alt.Color(
        "conclusion:N",
        title=None,
        scale=alt.Scale(
            domain=[legend[c][0] for c in present],
            range=[legend[c][1] for c in present],
        ),
    )
    order = rows.get_column("label").to_list()
    metric = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13))
    base = alt.Chart(rows)
    ci = base.mark_rule(strokeWidth=3).encode(
        y=metric,
        x=alt.X("lift_low:Q", title="相对提升（B 相对 A）", axis=alt.Axis(format="+.0%")),
        x2="lift_high:Q",
        color=color,
    )
    point = base.mark_point(size=90).encode(
        y=metric,
        x="lift:Q",
        color=color,
        tooltip=[
            alt.Tooltip("label:N", title="指标"),
            alt.Tooltip("lift:Q", title="提升", format="+.2%"),
            alt.Tooltip("lift_low:Q", title="下限", format="+.2%"),
            alt.Tooltip("lift_high:Q", title="上限", format="+.2%"),
            alt.Tooltip("conclusion:N", title="结论"),
        ],
    )
    text = base.mark_text(dy=-12, color="#333333").encode(
        y=metric, x="lift:Q", text=alt.Text("lift:Q", format="+.1%")
    )
    shown = subtitle if subtitle is not None else _lift_subtitle(rows)
    return layered(ci, point, text, zero_line()).properties(
        width=WIDTH, height=alt.Step(50), title=title_params(title, shown)
    )


# ---- the conclusion --------------------------------------------------------------------------------
def summary_markdown(report: ExperimentReport) -> str:
    """The bottom line over every metric: roll out B, weigh a loss, or wait for more data."""
    labels = {n: m.label for n, m in report.metrics.items()}
    winners = [labels[n] for n, v in report.verdicts.items() if v == "up"]
    losers = [labels[n] for n, v in report.verdicts.items() if v == "down"]
    if report.srm.warning:
        return "**先解决分组比例问题，再看结果。**"
    if report.engine == "bayesian":
        if winners and not losers:
            return (
                f"**B 方案在 {'、'.join(winners)} 上更好的概率达到 {_WIN}，其他指标没有明显变差："
                "可以考虑全量使用 B 方案。**"
            )
        if losers:
            return f"**B 方案在 {'、'.join(losers)} 上更差的概率很大**：全量之前请权衡得失。"
        return (
            "**还没有指标分出胜负**：可以继续实验让胜出概率更明确；"
            "如果选 B 的风险已经小到可以接受，也可以现在决定。"
        )
    if winners and not losers:
        return f"**B 方案在 {'、'.join(winners)} 上显著更高，其他指标没有显著变差：可以考虑全量使用 B 方案。**"
    if losers:
        return f"**B 方案在 {'、'.join(losers)} 上显著更低**：全量之前请权衡得失。"
    return "**没有指标出现显著差异**：如果期待的提升很小，需要更多样本（见下一节）。"


def conclusion_markdown(report: ExperimentReport) -> str:
    """A bullet per metric (values, lift, adjusted p, verdict, warnings), then the summary."""
    if report.engine == "bayesian":
        return _bayes_conclusion(report)
    lines = []
    for n, c in report.comparisons.items():
        m = report.metrics[n]
        code = report.verdicts[n]
        head = (
            f"**{m.label}**：A 组 {format_metric_value(m, c.mean_a)}，"
            f"B 组 {format_metric_value(m, c.mean_b)}"
        )
        if math.isfinite(c.lift):
            interval = _range(_signed_percent(c.lift_ci[0]), _signed_percent(c.lift_ci[1]))
            kind = "始终有效区间" if report.sequential else "区间"
            head += f"，B 组相对 A 组 {_signed_percent(c.lift)}（{kind} {interval}）"
        p_adj = format_p(report.adjusted.get(n))
        head += f"，校正后 p {p_adj if p_adj.startswith('<') else '= ' + p_adj}。"
        text = verdict_text(report, n)
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
    return "\n".join(lines) + "\n\n" + summary_markdown(report)


def _bayes_conclusion(report: ExperimentReport) -> str:
    lines = []
    level = f"{1 - report.alpha:.0%}"
    for n, b in report.bayes.items():
        m = report.metrics[n]
        code = report.verdicts[n]
        head = (
            f"**{m.label}**：A 组 {format_metric_value(m, b.mean_a)}，"
            f"B 组 {format_metric_value(m, b.mean_b)}"
        )
        if math.isfinite(b.lift):
            interval = _range(_signed_percent(b.lift_ci[0]), _signed_percent(b.lift_ci[1]))
            head += (
                f"，B 组相对 A 组 {_signed_percent(b.lift)}（{level} 可信区间 {interval}），"
                f"B 胜出的概率 {_share(b.chance_to_win)}，"
                f"选 B 的风险 {_risk(b.risk_b)}、选 A 的风险 {_risk(b.risk_a)}。"
            )
        else:
            head += "。"
        text = verdict_text(report, n)
        if code == "up":
            tail = f"→ **{text}**。选 B 万一选错，平均只损失 {_risk(b.risk_b)} 的相对提升。"
        elif code == "down":
            tail = f"→ **{text}**。选 B 万一选错，平均会损失 {_risk(b.risk_b)} 的相对提升。"
        elif code == "none":
            tail = (
                f"→ **{text}**。胜出概率还没到 {_WIN}；"
                "若两种选择的风险都已小到可以接受，选哪组差别不大，否则请继续实验。"
            )
        else:
            tail = f"→ **{text}**。"
        lines.append(f"- {head}{tail}")
        lines += [f"  - {w}" for w in b.warnings]
    return "\n".join(lines) + "\n\n" + summary_markdown(report)


# ---- the sample size --------------------------------------------------------------------------------
def sample_size_markdown(report: ExperimentReport) -> str:
    """The text of the sample-size section (the table itself is :func:`plan_table`)."""
    if report.plan_metric is not None:
        c = report.comparisons[report.plan_metric]
        label = report.metrics[report.plan_metric].label
        text = (
            f"以本次对照组的{label} {_rate(c.mean_a)} 为基线，"
            f"在 {report.alpha} 的显著性水平下、以 80% 的把握检测出下表中的提升，每组需要的观众数"
            "（按固定样本量的检验估算）："
        )
        notes = []
        if report.sequential:
            notes.append("本报告用的是序贯检验：区间更宽，同样的把握要比表中多一些观众。")
        if report.engine == "bayesian":
            notes.append("贝叶斯实验可以把表中的观众数作为参考。")
        vr = _variance_reductions(report).get(report.plan_metric, math.nan)
        if report.covariate and math.isfinite(vr) and vr > 0:
            notes.append(
                f"用实验前数据调整后，{label}的方差减少了 {_share(vr)}，"
                f"需要的观众约为表中的 {_share(1 - vr)}。"
            )
        return text if not notes else text + "\n\n" + "".join(notes)
    if report.unit == "session":
        a, b = report.observed
        return (
            f"按场次轮换的实验，有效样本是**场次数**而不是观众数：本次 A 组 {a} 场、B 组 {b} 场。"
            "场次之间的波动（时段、主播、货盘）远大于观众之间的随机性，想看清更小的提升，唯一的办法是跑更多场次，"
            f"建议每组至少 {MIN_UNITS_PER_ARM} 场，并让两组在时段、星期上尽量均衡。"
        )
    return "所选指标中没有比例类指标，样本量估算从略。"


def plan_table(report: ExperimentReport) -> HtmlTable | None:
    """The sample-size plan as a table (None without a proportion metric)."""
    return None if report.plan is None else table(report.plan, PLAN_TABLE)


# ---- the pre-period --------------------------------------------------------------------------------
def pre_period_notes(pre: Period, seen: int, observed: tuple[int, int]) -> str:
    """The Chinese paragraph on the pre-period read for CUPED (and its coverage note)."""
    total = sum(observed)
    text = (
        f"实验前数据（用于 CUPED 调整）：**{pre.first} 至 {pre.last}**（实验开始前 {pre.days} 天），"
        f"本次实验的 {format_count(total)} 位观众中有 {format_count(seen)} 位"
        f"（{format_percent(seen / total if total else math.nan, 1)}）在这段时间看过直播；"
        "没看过的观众，实验前的指标按 0 计。"
    )
    if pre.note:
        text += (
            f"\n\n⚠️ 实验前数据不完整：{pre.note} 缺少的日子不影响结论的正确性，"
            "只是调整的效果（方差减少）会小一些。"
        )
    return text


def check_covariate(covariate: str, unit: Unit) -> bool:
    """``covariate`` ("none" or "pre_period") as whether to adjust; one Chinese line for an
    unknown value or a session test (whose shows do not recur before the experiment)."""
    if covariate not in COVARIATES:
        raise LivekitError(
            f"covariate 只能是 none（不调整）或 pre_period（用实验前同一指标做回归调整，CUPED），"
            f"收到 {covariate!r}"
        )
    if covariate == "pre_period" and unit == "session":
        raise LivekitError(
            "covariate: pre_period 只支持按观众随机（unit: viewer）：按场次轮换时场次不会在实验前出现。"
            "请改用 covariate: none，或按观众随机。"
        )
    return covariate == "pre_period"


def check_pre_period_days(days: object) -> int:
    """``pre_period_days`` as an int in [1, MAX_PRE_PERIOD_DAYS]; one Chinese line otherwise."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_PRE_PERIOD_DAYS:
        raise LivekitError(
            f"pre_period_days 须为 1 到 {MAX_PRE_PERIOD_DAYS} 之间的整数（实验开始前读取多少天），"
            f"收到 {days!r}"
        )
    return days


def _pre_period(kit: Kit, start: date, days: int) -> tuple[Period, pl.DataFrame]:
    """The ``days`` days before ``start``, made ready on ``kit`` (a sandbox kit syncs them),
    and their viewer export; one Chinese line when nothing is stored for them."""
    where = period(
        kit, start - timedelta(days=days), start - timedelta(days=1), datasets=("viewers",)
    )
    visits = kit.load("viewers", where.first, where.last)
    if visits.height == 0:
        raise LivekitError(
            f"实验开始前 {days} 天（{where.first} 至 {where.last}）没有观众明细，无法用实验前数据调整："
            "请先用 livekit import viewers 导入这段时间的观众明细，或把 covariate 设为 none。"
        )
    return where, visits


# ---- switchback refinements ------------------------------------------------------------------------
@dataclass(frozen=True)
class VisitMetric:
    """A session metric counted from the viewer export (one row per visit): per show,
    Σ ``numerator`` / Σ ``denominator`` over its visits (``denominator`` None: each visit
    counts 1), ``columns`` the export columns it reads, ``description`` how (Chinese)."""

    numerator: Callable[[], pl.Expr]
    denominator: Callable[[], pl.Expr] | None
    columns: tuple[str, ...]
    description: str


def _clicked() -> pl.Expr:
    return pl.col("clicked_product_id").is_not_null()


def _paid() -> pl.Expr:
    return pl.col("paid").fill_null(False)


def _amount() -> pl.Expr:
    return pl.col("pay_amount").fill_null(0.0)


def _dwell() -> pl.Expr:
    return (pl.col("leave_time") - pl.col("enter_time")).dt.total_seconds().cast(pl.Float64)


def _over_a_minute() -> pl.Expr:
    return _dwell() >= 60


def _viewers() -> pl.Expr:
    # a show's distinct viewers: each viewer's first visit of the show counts 1
    return pl.col("viewer_id").is_first_distinct().over("room_id")


# The room metrics whose numerator and denominator are counts over the show's visits, as the
# viewer export records them (a visit: paid 0/1 with its pay_amount, the product it clicked,
# enter and leave time, the hashed viewer): only these can be recomputed after a washout. Each
# is the registry's room definition counted visit by visit (on the sandbox the room totals are
# exactly these sums). Plain totals (GMV, orders …) are left out on purpose: a washout removes
# visits from the shows after a switch only, so their totals would shrink for one reason alone.
VISIT_METRICS: dict[str, VisitMetric] = {
    "watch_click_rate": VisitMetric(
        _clicked, None, ("clicked_product_id",), "点击过商品的访问 / 访问次数"
    ),
    "watch_conversion_rate": VisitMetric(_paid, None, ("paid",), "成交的访问 / 访问次数"),
    "click_conversion_rate": VisitMetric(
        _paid, _clicked, ("paid", "clicked_product_id"), "成交的访问 / 点击过商品的访问"
    ),
    "gpm": VisitMetric(_amount, None, ("pay_amount",), "1000 × 成交金额 / 访问次数"),
    "aov": VisitMetric(_amount, _paid, ("pay_amount", "paid"), "成交金额 / 成交的访问"),
    "one_minute_rate": VisitMetric(
        _over_a_minute, None, ("enter_time", "leave_time"), "停留满 60 秒的访问 / 访问次数"
    ),
    "avg_watch_seconds": VisitMetric(
        _dwell,
        _viewers,
        ("enter_time", "leave_time", "viewer_id"),
        "观看秒数之和 / 观看人数（同一场内按观众去重）",
    ),
    "uv_value": VisitMetric(
        _amount,
        _viewers,
        ("pay_amount", "viewer_id"),
        "成交金额 / 观看人数（同一场内按观众去重）",
    ),
}


def _visit_metric_names() -> str:
    """The metric names a washout accepts, in words: "click / watch_click_rate（观看-点击率）"."""
    chosen = resolve_metrics(list(VISIT_METRICS), "session")
    words = []
    for name, m in chosen.items():
        aliases = [a for a, room in SESSION_ALIASES.items() if room == name]
        words.append(" / ".join([*aliases, name]) + f"（{m.label}）")
    return "、".join(words)


def check_washout_minutes(washout_minutes: object, unit: Unit, metrics: Sequence[str]) -> int:
    """``washout_minutes`` as minutes (0: no washout); one Chinese line when it is not a
    non-negative int, for a viewer test, or when a metric cannot be counted from visits."""
    k = check_washout(washout_minutes)
    if not k:
        return 0
    if unit == "viewer":
        raise LivekitError(
            f"washout_minutes（换组后的洗脱期）只用于按场次轮换（unit: session），收到 {k}："
            "按观众随机时每位观众始终在同一组，没有换组；请把 washout_minutes 设为 0。"
        )
    chosen = resolve_metrics(metrics, "session")
    bad = [
        n
        for n, m in chosen.items()
        if m.room_metric is None or m.room_metric.name not in VISIT_METRICS
    ]
    if bad:
        raise LivekitError(
            f"洗脱期（washout_minutes: {k}）要按观众明细逐次访问重算指标，{'、'.join(bad)} 无法这样计算；"
            f"可用：{_visit_metric_names()}；或把 washout_minutes 设为 0。"
        )
    return k


@dataclass(frozen=True)
class Washout:
    """What a washout of ``minutes`` did: ``switched`` shows followed a show of the other arm;
    of the ``visits`` in the test's shows, ``kept`` remain (the washed visits are compared)."""

    minutes: int
    switched: int
    visits: int
    kept: int

    @property
    def dropped(self) -> int:
        return self.visits - self.kept


def visit_comparisons(
    visits: pl.DataFrame, metrics: Mapping[str, ExperimentMetric], *, alpha: float
) -> dict[str, Comparison]:
    """Each session metric (of :data:`VISIT_METRICS`) compared on ``visits`` (from
    :func:`~livekit.analysis.experiment.session_visits`: one row per visit with its show's
    ``arm``), at the show: ``compare_sessions(unit="room_id", variant="arm",
    method="jackknife")``, as the analysis compares room totals."""
    out: dict[str, Comparison] = {}
    for name, m in metrics.items():
        assert m.room_metric is not None
        vm = VISIT_METRICS[m.room_metric.name]
        missing = [c for c in vm.columns if c not in visits.columns]
        if missing:
            raise LivekitError(f"观众明细缺少列：{'、'.join(missing)}（计算{m.label}需要）")
        out[name] = compare_sessions(
            visits,
            numerator=vm.numerator(),
            denominator=None if vm.denominator is None else vm.denominator(),
            unit="room_id",
            variant="arm",
            alpha=alpha,
            method="jackknife",
        )
    return out


def with_washout(report: ExperimentReport, visits: pl.DataFrame) -> ExperimentReport:
    """``report`` (a session test's, on room totals) with every metric compared on the washed
    ``visits`` instead (:func:`visit_comparisons`), its p-values adjusted by the report's
    correction and judged again; the split (the shows) is unchanged."""
    comparisons = visit_comparisons(visits, report.metrics, alpha=report.alpha)
    tested = [n for n, c in comparisons.items() if math.isfinite(c.p_value)]
    raw = [comparisons[n].p_value for n in tested]
    method = check_correction(report.correction)
    adjusted = dict(zip(tested, adjust_pvalues(raw, method), strict=True))
    verdicts: dict[str, VerdictCode] = {
        n: verdict(c, adjusted.get(n), alpha=report.alpha, srm_warning=report.srm.warning)
        for n, c in comparisons.items()
    }
    return replace(report, comparisons=comparisons, adjusted=adjusted, verdicts=verdicts)


def washout_markdown(washout: Washout, metrics: Mapping[str, ExperimentMetric]) -> str:
    """The Chinese paragraph on the washout: which visits it dropped, how many, and how each
    metric is then counted."""
    share = format_percent(washout.dropped / washout.visits if washout.visits else math.nan, 1)
    lines = [
        f"**洗脱期 {washout.minutes} 分钟**：每次换组后（上一场是另一组）的直播，去掉开播后前 "
        f"{washout.minutes} 分钟内进入的访问——刚换组时直播间里还有上一场带来的观众和流量，"
        "这段时间混合了两组的影响，会把差异拉向 0。"
        f"本次 {washout.switched} 场直播紧跟着换组，共去掉 {format_count(washout.dropped)} 次访问"
        f"（占实验场次全部 {format_count(washout.visits)} 次访问的 {share}），"
        f"其余 {format_count(washout.kept)} 次用于比较。"
        "因此各指标改按观众明细逐次访问计算，仍以场次为单位比较（刀切法）：",
    ]
    for n, m in metrics.items():
        assert m.room_metric is not None
        lines.append(f"- `{n}` → {m.label}：{VISIT_METRICS[m.room_metric.name].description}")
    return "\n".join(lines)


def _per_show(m: ExperimentMetric) -> pl.Expr:
    """The metric's value per show (before its display scale), from the session units."""
    assert m.room_metric is not None
    num = m.room_metric.numerator_expr().cast(pl.Float64)
    den = m.room_metric.denominator_expr()
    return num if den is None else num / den.cast(pl.Float64)


def carryover_checks(
    units: pl.DataFrame, metrics: Mapping[str, ExperimentMetric]
) -> dict[str, Carryover | str]:
    """Per metric, :func:`~livekit.analysis.experiment.carryover` on the session units
    (outcome: the metric's value per show), or the Chinese reason it could not run."""
    out: dict[str, Carryover | str] = {}
    for name, m in metrics.items():
        try:
            out[name] = carryover(units, _per_show(m), alpha=CARRYOVER_ALPHA)
        except LivekitError as err:
            out[name] = str(err)
    return out


def carryover_markdown(
    checks: Mapping[str, Carryover | str],
    metrics: Mapping[str, ExperimentMetric],
    washout_minutes: int = 0,
) -> str:
    """The carryover check in Chinese: per metric, how much higher a show is when the show
    before it was in arm B (its own arm held fixed), the interval and p-value; a warning with
    what to do when p < 0.05."""
    lines = [
        "**残留效应检查（carryover）**：轮换实验假定每场直播只受本场组别的影响。"
        "这里用每场的指标值对“本场组别”和“上一场组别”一起做回归（每个账号的第一场没有上一场，不计入；"
        "稳健标准误 HC3），看上一场的组别能不能预测本场的结果"
        + ("（按整场数据检查，未去掉洗脱期）" if washout_minutes else "")
        + "："
    ]
    warned = False
    for name, check in checks.items():
        m = metrics[name]
        if isinstance(check, str):
            lines.append(f"- {m.label}：无法检查：{check}")
            continue
        level = f"{1 - check.alpha:.0%}"
        interval = _range(format_diff(m, check.ci[0]), format_diff(m, check.ci[1]))
        head = (
            f"{m.label}：上一场是 B 组比上一场是 A 组，本场平均相差 {format_diff(m, check.coef)}"
            f"（{level} 区间 {interval}，p = {format_p(check.p_value)}，{check.n} 场）"
        )
        if check.warning:
            warned = True
            lines.append(
                f"- ⚠️ {head}：**上一场的组别能预测本场的结果**（p < {check.alpha}），"
                "一组的影响可能延续到了下一场，两组的差异会被冲淡或扭曲。"
            )
        else:
            lines.append(f"- {head}：没有发现残留效应。")
    if warned:
        if washout_minutes:
            advice = (
                f"本报告已去掉换组后前 {washout_minutes} 分钟的访问；若影响持续更久，"
                "请加长洗脱期（washout_minutes），或加长每场直播（每个轮换时段）。"
            )
        else:
            advice = (
                "建议设置洗脱期（washout_minutes：去掉每次换组后前几分钟的访问），"
                "或加长每场直播（每个轮换时段），让上一场的影响在比较前消退。"
            )
        lines.append(f"\n**有残留效应时结论可能有偏。**{advice}")
    else:
        lines.append(
            "\n没有发现残留效应不等于没有：场次少时这一检查的把握不大。"
            "若担心，可设置洗脱期（washout_minutes）或加长每场直播。"
        )
    return "\n".join(lines)


def carryover_caveat(
    checks: Mapping[str, Carryover | str], metrics: Mapping[str, ExperimentMetric]
) -> str | None:
    """One Chinese line for the conclusion naming the metrics with carryover, or None."""
    flagged = [
        metrics[n].label for n, c in checks.items() if isinstance(c, Carryover) and c.warning
    ]
    if not flagged:
        return None
    return (
        f"⚠️ **{'、'.join(flagged)} 有残留效应**（上一场的组别能预测本场的结果，见“分组比例检查”）："
        "这些指标的结论可能有偏，请设置或加长洗脱期（washout_minutes），或加长每场直播后再确认。"
    )


# ---- the page ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AbTestPage:
    """One experiment, analysed once by :func:`build`, shown by section.

    ``viewers`` are the viewer-randomized test's units (``unit == "viewer"``); ``arms``
    (``room_id, variant``), ``sessions`` (one row per show found, with its ``arm``) and
    ``arm_source`` describe a switchback (``unit == "session"``). With
    ``covariate="pre_period"``, ``pre_period`` is the span read before the experiment and
    ``pre_seen`` how many of the test's viewers watched in it. A switchback carries each
    metric's ``carryover`` check and, with ``washout_minutes`` > 0, its ``washout`` (the
    report's comparisons are then those of the washed visits).
    """

    period: Period
    metrics: tuple[str, ...]
    report: ExperimentReport
    viewers: ViewerUnits | None = None
    arms: pl.DataFrame | None = None
    sessions: pl.DataFrame | None = None
    arm_source: str | None = None
    pre_period: Period | None = None
    pre_seen: int | None = None
    carryover: Mapping[str, Carryover | str] = field(default_factory=dict)
    washout: Washout | None = None

    @property
    def unit(self) -> Unit:
        return self.report.unit

    @property
    def results(self) -> pl.DataFrame:
        """The numbers of every metric (:func:`livekit.analysis.experiment.results_frame`)."""
        return results_frame(self.report)

    def notes(self) -> str:
        """Who was in the test and which metrics are compared (Chinese Markdown)."""
        first, last = self.period.first, self.period.last
        if self.viewers is not None:
            return viewer_notes(self.viewers, first, last, self.metrics)
        assert self.arms is not None
        assert self.sessions is not None
        text = session_notes(
            self.arms, self.sessions, self.arm_source or "", first, last, self.metrics
        )
        if self.washout is None:
            return text
        return text + "\n\n" + washout_markdown(self.washout, self.report.metrics)

    def lift_chart(self) -> alt.LayerChart:
        """Each metric's relative lift and interval, coloured by the analysis's verdict (the
        credible interval and the chance-to-win verdict with the Bayesian engine)."""
        from livekit.charts import setup

        setup()
        rows = self.results
        if self.report.engine == "bayesian":
            level = f"{1 - self.report.alpha:.0%}"
            subtitle = (
                f"点为相对提升（后验均值），横线为 {level} 可信区间；"
                "颜色是按 B 胜出的概率给出的结论，与上表一致"
            )
            return lift_chart(rows, subtitle=subtitle, legend=BAYES_VERDICT_LEGEND)
        if self.report.sequential:
            return lift_chart(rows, subtitle=_lift_subtitle(rows, "“始终有效”的置信区间"))
        return lift_chart(rows)

    @property
    def pre_period_days(self) -> int | None:
        return None if self.pre_period is None else self.pre_period.days

    # ---- sections -------------------------------------------------------------------------
    def design(self) -> Section:
        """The period's coverage note, the randomized units, the metrics compared; with a
        pre-period, its coverage note and what it holds."""
        if self.pre_period is None:
            return section(self.period.note, self.notes())
        return section(
            self.period.note,
            self.notes(),
            pre_period_notes(self.pre_period, self.pre_seen or 0, self.report.observed),
        )

    def split(self) -> Section:
        """The sample-ratio check: planned against observed split; for a switchback, the
        carryover check of every metric."""
        if self.unit != "session" or not self.carryover:
            return section(srm_markdown(self.report))
        minutes = 0 if self.washout is None else self.washout.minutes
        return section(
            srm_markdown(self.report),
            carryover_markdown(self.carryover, self.report.metrics, minutes),
        )

    def differences(self) -> Section:
        """Every metric: what the chosen engine's results mean and how to read them (with a
        washout, that the metrics are counted from the washed visits), the table, the lift
        chart."""
        washed = None
        if self.washout is not None:
            washed = (
                f"已去掉换组后前 {self.washout.minutes} 分钟的访问（见“指标说明与分组”），"
                "下表各指标按观众明细逐次访问计算。"
            )
        return section(
            washed,
            method_markdown(self.report, self.pre_period_days),
            results_table(self.report),
            self.lift_chart(),
        )

    def conclusion(self) -> Section:
        """A verdict per metric, then the bottom line (and a switchback's carryover caveat)."""
        return section(
            conclusion_markdown(self.report),
            carryover_caveat(self.carryover, self.report.metrics),
        )

    def sample_size(self) -> Section:
        """How many units a smaller lift would need (viewer tests), or why sessions count."""
        return section(sample_size_markdown(self.report), plan_table(self.report))


def build(
    kit: Kit,
    *,
    experiment_start: date | str = "40_days_ago",
    experiment_end: date | str | None = "27_days_ago",
    unit: str = "viewer",
    metrics: Sequence[str] = ("conversion", "watch_seconds"),
    alpha: float = 0.05,
    planned_split: Sequence[float] = (0.5, 0.5),
    correction: str = "holm",
    session_arms: Mapping[str | int, str] | None = None,
    engine: str = "frequentist",
    sequential: bool = False,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    covariate: str = "none",
    pre_period_days: int = 28,
    washout_minutes: int = 0,
) -> AbTestPage:
    """The A/B report of the experiment run over [experiment_start, experiment_end] on ``kit``.

    ``unit``, ``metrics``, ``correction`` and the analysis options are checked before any
    data is read (a mistake raises :class:`~livekit.vocab.errors.LivekitError` with one
    Chinese line listing the valid values). A viewer test reads the viewer export; a session
    test reads rooms and their T+1 analysis, with the arms of ``session_arms`` or, on a
    sandbox kit when that is empty, the ``session_arms`` dataset the sandbox publishes.

    ``engine`` ("frequentist" or "bayesian"), ``sequential`` / ``sequential_tuning`` and
    ``covariate`` ("none" or "pre_period") are passed to
    :func:`~livekit.analysis.experiment.analyse_experiment`. With "pre_period" the viewer
    export of the ``pre_period_days`` days before ``experiment_start`` is made ready like the
    experiment's own days (a sandbox kit syncs it; a live kit reports what is missing in the
    design section) and gives each viewer's covariates
    (:func:`~livekit.analysis.experiment.with_pre_period`); no visit at all there is a
    Chinese error saying to import them or to set ``covariate: none``.

    A session test checks each metric for carryover (:func:`carryover_checks`, on the room
    totals per show). With ``washout_minutes`` = k > 0 (session tests only, every metric one
    of :data:`VISIT_METRICS`) it also reads the viewer export and compares the metrics on
    :func:`~livekit.analysis.experiment.session_visits` with that washout
    (:func:`with_washout`); the split (the shows) stays the rooms'.
    """
    u = check_unit(unit)
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    resolve_metrics(names, u)
    check_correction(correction)
    use_pre = check_covariate(covariate, u)
    days = check_pre_period_days(pre_period_days)
    washout = check_washout_minutes(washout_minutes, u, names)
    e, seq, tuning, cov, _ = check_options(
        u,
        engine=engine,
        sequential=sequential,
        sequential_tuning=sequential_tuning,
        covariate=use_pre,
    )

    def analyse(units: pl.DataFrame) -> ExperimentReport:
        return analyse_experiment(
            units,
            names,
            unit=u,
            alpha=alpha,
            correction=correction,
            planned_split=planned_split,
            engine=e,
            sequential=seq,
            sequential_tuning=tuning,
            covariate=cov,
        )

    if u == "viewer":
        where = period(kit, experiment_start, experiment_end, datasets=("viewers",))
        viewers = viewer_units(kit.load("viewers", where.first, where.last))
        _check_viewers(viewers, where.first, where.last)
        units, pre, seen = viewers.units, None, None
        if use_pre:
            pre, pre_visits = _pre_period(kit, where.first, days)
            units = with_pre_period(units, pre_visits)
            seen = units.filter(pl.col("pre_visits") > 0).height
        report = analyse(units)
        return AbTestPage(where, names, report, viewers=viewers, pre_period=pre, pre_seen=seen)
    published = ("session_arms",) if kit.source == "sandbox" and not session_arms else ()
    visits = ("viewers",) if washout else ()
    datasets = ("rooms", "room_analysis", *visits, *published)
    where = period(kit, experiment_start, experiment_end, datasets=datasets)
    rooms = kit.load("rooms", where.first, where.last)
    room_analysis = kit.load("room_analysis", where.first, where.last)
    # The sandbox publishes its switchback schedule as a dataset: it plays the part of the
    # merchant's own record of which show ran which version.
    fallback = kit.load("session_arms", where.first, where.last) if published else None
    arms, arm_source = choose_session_arms(session_arms, fallback)
    units = session_units(rooms, room_analysis, arms, names)
    report = analyse(units)
    checks = carryover_checks(units, report.metrics)
    washed = None
    if washout:
        report, washed = _washed(kit, where, rooms, arms, report, washout)
    return AbTestPage(
        where,
        names,
        report,
        arms=arms,
        sessions=units,
        arm_source=arm_source,
        carryover=checks,
        washout=washed,
    )


def _washed(
    kit: Kit,
    where: Period,
    rooms: pl.DataFrame,
    arms: pl.DataFrame,
    report: ExperimentReport,
    minutes: int,
) -> tuple[ExperimentReport, Washout]:
    """``report`` compared on the switchback's visits with a ``minutes`` washout, and what the
    washout dropped; one Chinese line when the viewer export holds no visit of its shows."""
    viewers = kit.load("viewers", where.first, where.last)
    every = session_visits(viewers, rooms, arms)
    if every.height == 0:
        raise LivekitError(
            f"{where.first} 至 {where.last} 的实验场次在观众明细里没有访问记录，无法设置洗脱期："
            "请先导入这段时间的观众明细（livekit import viewers），或把 washout_minutes 设为 0。"
        )
    kept = session_visits(viewers, rooms, arms, washout_minutes=minutes)
    switched = switches(rooms, arms).filter(pl.col("switched")).height
    washout = Washout(minutes, switched, every.height, kept.height)
    return with_washout(report, kept), washout
