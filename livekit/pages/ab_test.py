"""The A/B report's page (A/B 实验分析): is arm B really different from arm A, by how much, and
can the answer be trusted?

::

    import livekit
    from livekit.pages import ab_test

    page = ab_test.build(livekit.open("sandbox"), experiment_start="40_days_ago",
                         experiment_end="27_days_ago", unit="viewer")
    page.design()        # the period, the randomized units, the metrics (指标说明与分组)
    page.split()         # the sample-ratio check (一、分组比例检查)
    page.differences()   # every metric: the table and the lift chart (二、各指标的差异)
    page.conclusion()    # a verdict per metric and what to do (三、结论)
    page.sample_size()   # how many units a smaller lift needs (四、需要多少样本)

Two designs: randomized by viewer (``unit="viewer"``: the viewer export's ``variant`` column)
or by session (``unit="session"``, a switchback: each show's arm comes from the
``session_arms`` parameter, or on the sandbox from the ``session_arms`` dataset it publishes).
The numbers come from :func:`livekit.analysis.experiment.analyse_experiment`, run once in
:func:`build`; this module words and formats them. The lift chart draws the analysis's verdict
(decided on multiplicity-adjusted p-values), never a decision of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from livekit.analysis.abtest import MIN_UNITS_PER_ARM
from livekit.analysis.experiment import (
    ExperimentMetric,
    ExperimentReport,
    Unit,
    VerdictCode,
    ViewerUnits,
    analyse_experiment,
    arms_frame,
    check_correction,
    check_unit,
    resolve_metrics,
    results_frame,
    session_units,
    viewer_units,
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
    "CORRECTION_NAMES",
    "PLAN_TABLE",
    "RESULTS_TABLE",
    "UNIT_NAMES",
    "VERDICT_LEGEND",
    "VERDICT_TEXT",
    "AbTestPage",
    "build",
    "choose_session_arms",
    "conclusion_markdown",
    "format_diff",
    "format_metric_value",
    "format_p",
    "lift_chart",
    "method_note",
    "plan_table",
    "results_cells",
    "results_table",
    "sample_size_markdown",
    "session_notes",
    "srm_markdown",
    "summary_markdown",
    "verdict_text",
    "viewer_notes",
]

UNIT_NAMES: dict[str, str] = {"viewer": "观众", "session": "场次"}

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


def _signed_percent(value: float) -> str:
    return format_percent(value, 1, signed=True)


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
    """One sentence on the interval level and the multiplicity correction."""
    name = CORRECTION_NAMES.get(report.correction, report.correction)
    return (
        f"区间为 {1 - report.alpha:.0%} 置信区间；多个指标同时检验，使用 {name}，"
        f"校正后 p 值小于 {report.alpha} 才算显著。"
    )


def verdict_text(report: ExperimentReport, name: str) -> str:
    """The verdict on metric ``name`` in words (why, when it could not be judged)."""
    code: VerdictCode = report.verdicts[name]
    if code == "error":
        return f"无法判断：{report.comparisons[name].error_message}"
    return VERDICT_TEXT[code]


def results_cells(report: ExperimentReport) -> pl.DataFrame:
    """One row per metric, every cell formatted for the merchant (the columns of
    :data:`RESULTS_TABLE`): values in the metric's unit, differences of rates in percentage
    points, lifts in percent, intervals as "low ~ high", p-values, the verdict."""
    rows = []
    for n, c in report.comparisons.items():
        m = report.metrics[n]
        rows.append(
            {
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
            }
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))


def results_table(report: ExperimentReport) -> HtmlTable:
    """The results table: one row per metric (every header and cell escaped)."""
    return table(results_cells(report), RESULTS_TABLE)


def _lift_subtitle(rows: pl.DataFrame) -> str:
    levels = rows.get_column("ci_level").unique().to_list() if "ci_level" in rows.columns else []
    level = f" {levels[0]:.0%}" if len(levels) == 1 and levels[0] is not None else ""
    text = (
        f"点为相对提升，横线为{level} 置信区间（单个指标、未做多重比较校正）；"
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
) -> alt.LayerChart:
    """Forest plot: each metric's relative lift (B vs A) with its interval, coloured by the
    verdict the analysis reached.

    ``lifts`` is :func:`livekit.analysis.experiment.results_frame`'s frame (at least ``label,
    lift, lift_low, lift_high, verdict``; optional ``ci_level``). The colour is the
    ``verdict`` column (codes of :data:`VERDICT_LEGEND`), decided on multiplicity-adjusted
    p-values; the bars are the unadjusted intervals, and the default subtitle says so.
    Metrics whose lift is undefined are left out.
    """
    import altair as alt

    from livekit.charts._frames import require
    from livekit.charts._marks import layered, title_params, zero_line
    from livekit.charts.style import WIDTH

    require(lifts, ["label", "lift", "lift_low", "lift_high", "verdict"], "lift_chart")
    unknown = set(lifts.get_column("verdict").drop_nulls().to_list()) - set(VERDICT_LEGEND)
    if unknown or lifts.get_column("verdict").null_count():
        raise ValueError(f"lift_chart: verdicts must be one of {list(VERDICT_LEGEND)}")
    keep = ["label", "lift", "lift_low", "lift_high", "verdict"]
    keep += ["ci_level"] if "ci_level" in lifts.columns else []
    rows = lifts.select(keep).filter(pl.col("lift").is_not_null() & pl.col("lift").is_finite())
    rows = rows.with_columns(
        pl.col("verdict")
        .replace_strict({code: text for code, (text, _) in VERDICT_LEGEND.items()})
        .alias("conclusion")
    )
    present = [c for c in VERDICT_LEGEND if c in set(rows.get_column("verdict").to_list())]
    color = alt.Color(
        "conclusion:N",
        title=None,
        scale=alt.Scale(
            domain=[VERDICT_LEGEND[c][0] for c in present],
            range=[VERDICT_LEGEND[c][1] for c in present],
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
    if winners and not losers:
        return f"**B 方案在 {'、'.join(winners)} 上显著更高，其他指标没有显著变差：可以考虑全量使用 B 方案。**"
    if losers:
        return f"**B 方案在 {'、'.join(losers)} 上显著更低**：全量之前请权衡得失。"
    return "**没有指标出现显著差异**：如果期待的提升很小，需要更多样本（见下一节）。"


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
            interval = _range(_signed_percent(c.lift_ci[0]), _signed_percent(c.lift_ci[1]))
            head += f"，B 组相对 A 组 {_signed_percent(c.lift)}（区间 {interval}）"
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


# ---- the sample size --------------------------------------------------------------------------------
def sample_size_markdown(report: ExperimentReport) -> str:
    """The text of the sample-size section (the table itself is :func:`plan_table`)."""
    if report.plan_metric is not None:
        c = report.comparisons[report.plan_metric]
        label = report.metrics[report.plan_metric].label
        return (
            f"以本次对照组的{label} {_rate(c.mean_a)} 为基线，"
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


def plan_table(report: ExperimentReport) -> HtmlTable | None:
    """The sample-size plan as a table (None without a proportion metric)."""
    return None if report.plan is None else table(report.plan, PLAN_TABLE)


# ---- the page ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AbTestPage:
    """One experiment, analysed once by :func:`build`, shown by section.

    ``viewers`` are the viewer-randomized test's units (``unit == "viewer"``); ``arms``
    (``room_id, variant``), ``sessions`` (one row per show found, with its ``arm``) and
    ``arm_source`` describe a switchback (``unit == "session"``).
    """

    period: Period
    metrics: tuple[str, ...]
    report: ExperimentReport
    viewers: ViewerUnits | None = None
    arms: pl.DataFrame | None = None
    sessions: pl.DataFrame | None = None
    arm_source: str | None = None

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
        return session_notes(
            self.arms, self.sessions, self.arm_source or "", first, last, self.metrics
        )

    def lift_chart(self) -> alt.LayerChart:
        """Each metric's relative lift and interval, coloured by the analysis's verdict."""
        from livekit.charts import setup

        setup()
        return lift_chart(self.results)

    # ---- sections -------------------------------------------------------------------------
    def design(self) -> Section:
        """The period's coverage note, the randomized units, the metrics compared."""
        return section(self.period.note, self.notes())

    def split(self) -> Section:
        """The sample-ratio check: planned against observed split."""
        return section(srm_markdown(self.report))

    def differences(self) -> Section:
        """Every metric: how intervals and p-values are read, the table, the lift chart."""
        return section(method_note(self.report), results_table(self.report), self.lift_chart())

    def conclusion(self) -> Section:
        """A verdict per metric, then the bottom line."""
        return section(conclusion_markdown(self.report))

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
) -> AbTestPage:
    """The A/B report of the experiment run over [experiment_start, experiment_end] on ``kit``.

    ``unit``, ``metrics`` and ``correction`` are checked before any data is read (a mistake
    raises :class:`~livekit.vocab.errors.LivekitError` with one Chinese line listing the valid
    values). A viewer test reads the viewer export; a session test reads rooms and their T+1
    analysis, with the arms of ``session_arms`` or, on a sandbox kit when that is empty, the
    ``session_arms`` dataset the sandbox publishes.
    """
    u = check_unit(unit)
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    resolve_metrics(names, u)
    check_correction(correction)
    if u == "viewer":
        where = period(kit, experiment_start, experiment_end, datasets=("viewers",))
        viewers = viewer_units(kit.load("viewers", where.first, where.last))
        _check_viewers(viewers, where.first, where.last)
        report = analyse_experiment(
            viewers.units,
            names,
            unit=u,
            alpha=alpha,
            correction=correction,
            planned_split=planned_split,
        )
        return AbTestPage(where, names, report, viewers=viewers)
    published = ("session_arms",) if kit.source == "sandbox" and not session_arms else ()
    datasets = ("rooms", "room_analysis", *published)
    where = period(kit, experiment_start, experiment_end, datasets=datasets)
    rooms = kit.load("rooms", where.first, where.last)
    room_analysis = kit.load("room_analysis", where.first, where.last)
    # The sandbox publishes its switchback schedule as a dataset: it plays the part of the
    # merchant's own record of which show ran which version.
    fallback = kit.load("session_arms", where.first, where.last) if published else None
    arms, arm_source = choose_session_arms(session_arms, fallback)
    units = session_units(rooms, room_analysis, arms, names)
    report = analyse_experiment(
        units, names, unit=u, alpha=alpha, correction=correction, planned_split=planned_split
    )
    return AbTestPage(where, names, report, arms=arms, sessions=units, arm_source=arm_source)
