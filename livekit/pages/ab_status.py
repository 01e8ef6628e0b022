"""The experiment status page (实验进度): run every evening while an experiment is live, it says
per metric whether to stop (decided, or too small to matter) or keep running.

::

    import livekit
    from livekit.pages import ab_status

    page = ab_status.build(livekit.open("sandbox"), experiment_start="40_days_ago",
                           experiment_end="27_days_ago")
    page.overview()    # the experiment's status and what to do (实验状态)
    page.metrics()     # one sentence per metric and the table (各指标)
    page.evenings()    # the primary metric's interval evening by evening (每天的区间)
    page.method()      # why looking every evening is safe here (为什么可以每天看)

The analysis is :func:`livekit.analysis.experiment.analyse_experiment` with
``sequential=True`` (always-valid intervals and p-values, GrowthBook's confidence sequences),
judged by :mod:`livekit.analysis.experiment_status`; this module words and formats it. Viewer
experiments only: the session design's jackknife has no sequential version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from livekit.analysis.abtest import DEFAULT_SEQUENTIAL_TUNING
from livekit.analysis.experiment import (
    ExperimentReport,
    ViewerUnits,
    analyse_experiment,
    check_correction,
    check_unit,
    resolve_metrics,
    viewer_units,
)
from livekit.analysis.experiment_status import (
    DEFAULT_MDE,
    ExperimentStatus,
    MetricStatus,
    check_mde,
    evenings,
    experiment_status,
)
from livekit.charts import Column, HtmlTable, TableSpec, table
from livekit.charts.style import BAD, GOOD, NEUTRAL
from livekit.pages._page import Period, Section, period, section
from livekit.pages.ab_test import format_metric_value, format_p
from livekit.text import escape_markdown
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import MISSING, format_count, format_percent

if TYPE_CHECKING:
    import altair as alt

    from livekit.source import Kit

__all__ = [
    "ADVICE",
    "STATUS_LEGEND",
    "STATUS_TABLE",
    "AbStatusPage",
    "advice",
    "build",
    "evenings_chart",
    "method_markdown",
    "metric_sentence",
    "overview_markdown",
    "status_cells",
]

# What to do, per status code (the words the brief of the report fixes).
ADVICE: dict[str, str] = {
    "decided": "已有结论，可以停止",
    "futile": "效果太小，建议停止（无效）",
    "running": "继续运行",
    "srm": "分组比例异常，先查原因",
    "error": "无法判断",
}

# Status (with direction) → words of the table and the chart, and a colour each.
STATUS_LEGEND: dict[str, tuple[str, str]] = {
    "decided-up": ("已有结论：B 组更高", GOOD),
    "decided-down": ("已有结论：B 组更低", BAD),
    "futile": ("效果太小（无效）", "#e0a030"),
    "running": ("继续运行", NEUTRAL),
    "srm": ("分组比例异常", "#bbbbbb"),
    "error": ("无法判断", "#bbbbbb"),
}

STATUS_TABLE = TableSpec(
    (
        Column("label", "指标"),
        Column("a", "A 组"),
        Column("b", "B 组"),
        Column("lift", "相对提升"),
        Column("lift_range", "序贯区间"),
        Column("adjusted_p", "校正后 p 值"),
        Column("units", "每组观众（A / B）"),
        Column("status", "状态"),
        Column("advice", "建议"),
    )
)


def _pct(value: float) -> str:
    return format_percent(value, 1, signed=True)


def _range(low: float, high: float) -> str:
    return f"{_pct(low)} ~ {_pct(high)}"


def _legend_key(m: MetricStatus) -> str:
    return f"decided-{m.direction}" if m.status == "decided" else m.status


def advice(m: MetricStatus) -> str:
    """What to do about one metric, in a few words."""
    return ADVICE[m.status]


def metric_sentence(report: ExperimentReport, m: MetricStatus) -> str:
    """One Chinese sentence: the metric, what its sequential interval says, what to do."""
    label = report.metrics[m.metric].label
    c = report.comparisons[m.metric]
    band = f"±{format_percent(m.mde, 0)}"
    interval = _range(*m.lift_ci) if math.isfinite(m.lift_ci[0]) else MISSING
    if m.status == "decided":
        side = "更高" if m.direction == "up" else "更低"
        text = (
            f"**{label}：{ADVICE['decided']}。** B 组{side}（相对提升 {_pct(m.lift)}，"
            f"序贯区间 {interval}，校正后 p {format_p(m.adjusted_p)}）。"
        )
        if m.within_mde:
            text += (
                f"差异是真实的，但整个区间都在 {band} 之内：效果小于你设定的最小值得检测的提升。"
            )
        return text
    if m.status == "futile":
        return (
            f"**{label}：{ADVICE['futile']}。** 序贯区间 {interval} 整个落在 {band} 之内："
            f"即使按最乐观的估计，提升也小于你设定的最小值得检测的提升 {format_percent(m.mde, 0)}，"
            "继续跑下去也看不出值得的效果。"
        )
    if m.status == "running":
        return (
            f"**{label}：{ADVICE['running']}。** 序贯区间 {interval} 还包含 0，"
            f"也还可能超出 {band}：现在下结论为时过早。"
        )
    if m.status == "srm":
        return f"**{label}：{ADVICE['srm']}。** 分组比例与计划明显不符，结论不可信。"
    reason = c.error_message or "没有可用的 p 值"
    return f"**{label}：{ADVICE['error']}。** {reason}"


def overview_markdown(
    status: ExperimentStatus,
    report: ExperimentReport,
    *,
    name: str,
    first: date,
    last: date,
    days: int,
) -> str:
    """The experiment's status in one bold line, then the facts it rests on."""
    label = report.metrics[status.primary].label
    title = f"实验「{escape_markdown(name)}」" if name else "本实验"
    a, b = status.observed
    facts = (
        f"{title}：{first} 起，已运行 **{days} 天**（数据截至 {last}），"
        f"A 组 {format_count(a)} 位观众、B 组 {format_count(b)} 位观众。"
        f"主要指标是**{label}**（第一个指标），实验的状态由它决定。"
    )
    if status.status == "decided":
        side = "更高" if status.direction == "up" else "更低"
        head = f"**✅ {ADVICE['decided']}：B 组的{label}显著{side}。**"
        if status.direction == "up" and status.harmed:
            hurt = "、".join(report.metrics[n].label for n in status.harmed)
            head += f" 但 B 组的{hurt}显著更低：全量之前请权衡得失。"
    elif status.status == "futile":
        head = (
            f"**⏹ {ADVICE['futile']}：{label}的提升即使按最乐观的估计也小于 "
            f"{format_percent(status.mde, 0)}。**"
        )
    elif status.status == "running":
        head = f"**⏳ {ADVICE['running']}：{label}还看不出结论，明天再看。**"
    elif status.status == "srm":
        head = (
            "**⚠️ 分组比例明显偏离计划（SRM）：先查分组代码、埋点和数据过滤，"
            "在此之前不要根据结果做决定。**"
        )
    else:
        reason = report.comparisons[status.primary].error_message or "没有可用的 p 值"
        head = f"**{ADVICE['error']}：{label}无法计算。** {reason}"
    return f"{head}\n\n{facts}"


def method_markdown(status: ExperimentStatus, tuning: float) -> str:
    """Why an evening look is safe here, and what decided and futile mean exactly."""
    level = format_percent(1 - status.alpha, 0)
    return (
        "普通的 p 值和置信区间只在实验**计划的终点**看一次才有效：每天晚上看一次、"
        "一显著就停，误判为“有效果”的概率会成倍上升（看 14 次时，没有任何效果的实验也有两三成会在某一天“显著”）。\n\n"
        f"这里用的是**序贯检验**（GrowthBook 的渐近置信序列，Waudby-Smith 等）：{level} 区间对**任意多次**"
        "查看同时有效，无论哪天看、看多少次、何时停，没有效果却判为有效果的概率都不超过 "
        f"{status.alpha}。代价是区间比一次性检验宽一些；调节参数 N* = {tuning:g}"
        "（两组合计观众数）是区间最窄的样本量。\n\n"
        f"- **已有结论**：{CORRECTION_WORDS.get(status.correction, status.correction)}后的序贯 p 值小于 "
        f"{status.alpha}（区间不含 0）；\n"
        f"- **效果太小（无效）**：整个序贯区间都落在 ±{format_percent(status.mde, 0)}"
        "（最小值得检测的提升 mde）之内；\n"
        "- **继续运行**：两者都不是。实验的状态看主要指标（第一个指标），其他指标作为护栏。"
    )


CORRECTION_WORDS: dict[str, str] = {"holm": "Holm 校正", "bh": "Benjamini–Hochberg 校正"}


def status_cells(status: ExperimentStatus, report: ExperimentReport) -> pl.DataFrame:
    """One row per metric, every cell formatted (the columns of :data:`STATUS_TABLE`)."""
    rows = []
    for n, m in status.metrics.items():
        em = report.metrics[n]
        c = report.comparisons[n]
        rows.append(
            {
                "label": em.label,
                "a": format_metric_value(em, c.mean_a),
                "b": format_metric_value(em, c.mean_b),
                "lift": _pct(m.lift),
                "lift_range": _range(*m.lift_ci),
                "adjusted_p": format_p(m.adjusted_p),
                "units": f"{format_count(m.n_a)} / {format_count(m.n_b)}",
                "status": STATUS_LEGEND[_legend_key(m)][0],
                "advice": advice(m),
            }
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))


def evenings_chart(
    path: pl.DataFrame,
    *,
    mde: float,
    alpha: float,
    title: str = "每天晚上看到的区间",
    subtitle: str | None = None,
) -> alt.LayerChart:
    """The primary metric's sequential lift interval as seen each evening (one rule per day),
    the ±mde band shaded, coloured by that evening's status (``path``: the frame of
    :func:`livekit.analysis.experiment_status.evenings`). The default subtitle says what the
    rules and the band are."""
    import altair as alt

    from livekit.charts._marks import layered, title_params
    from livekit.charts.style import WIDTH

    rows = path.filter(pl.col("lift").is_finite()).with_columns(
        pl.col("day").cast(pl.String).alias("evening"),
        pl.when(pl.col("status") == "decided")
        .then(
            pl.when(pl.col("lift") > 0).then(pl.lit("decided-up")).otherwise(pl.lit("decided-down"))
        )
        .otherwise(pl.col("status"))
        .replace_strict({k: v[0] for k, v in STATUS_LEGEND.items()})
        .alias("shown"),
    )
    present = [v for v in STATUS_LEGEND.values() if v[0] in set(rows["shown"].to_list())]
    color = alt.Color(
        "shown:N",
        title=None,
        scale=alt.Scale(domain=[p[0] for p in present], range=[p[1] for p in present]),
    )
    x = alt.X("evening:O", title="查看的日期（数据截至当天）", axis=alt.Axis(labelAngle=-45))
    y_axis = alt.Axis(format="+.0%")
    band = (
        alt.Chart(pl.DataFrame({"low": [-mde], "high": [mde]}))
        .mark_rect(opacity=0.12, color="#e0a030")
        .encode(y=alt.Y("low:Q", axis=y_axis, title="相对提升（B 相对 A）"), y2="high:Q")
    )
    base = alt.Chart(rows)
    ci = base.mark_rule(strokeWidth=3).encode(x=x, y="lift_low:Q", y2="lift_high:Q", color=color)
    point = base.mark_point(size=60, filled=True).encode(
        x=x,
        y="lift:Q",
        color=color,
        tooltip=[
            alt.Tooltip("evening:N", title="日期"),
            alt.Tooltip("lift:Q", title="提升", format="+.2%"),
            alt.Tooltip("lift_low:Q", title="下限", format="+.2%"),
            alt.Tooltip("lift_high:Q", title="上限", format="+.2%"),
            alt.Tooltip("shown:N", title="状态"),
        ],
    )
    level = format_percent(1 - alpha, 0)
    shown = subtitle or (
        f"竖线为当天看到的 {level} 序贯区间（对任意多次查看同时有效），"
        f"阴影为 ±{format_percent(mde, 0)}（最小值得检测的提升）"
    )
    # no effect: a horizontal line at 0 (charts' zero_line is vertical, for lift charts)
    zero = alt.Chart(pl.DataFrame({"y": [0.0]})).mark_rule(color="#444444").encode(y="y:Q")
    return layered(band, ci, point, zero).properties(
        width=WIDTH, height=300, title=title_params(title, shown)
    )


# ---- the page ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AbStatusPage:
    """One running experiment, analysed once by :func:`build`, shown by section."""

    name: str
    period: Period
    metric_names: tuple[str, ...]
    report: ExperimentReport
    status: ExperimentStatus
    viewers: ViewerUnits
    path: pl.DataFrame  # the primary metric evening by evening (experiment_status.evenings)
    sequential_tuning: float

    @property
    def days(self) -> int:
        """Days with experiment visits so far."""
        return self.status.days or 0

    @property
    def last_day(self) -> date:
        """The last day with experiment visits (the period's end when none is known)."""
        days = self.path.get_column("day").to_list()
        return days[-1] if days else self.period.last

    def overview(self) -> Section:
        """The coverage note, the experiment's status and what to do, and the facts."""
        return section(
            self.period.note,
            overview_markdown(
                self.status,
                self.report,
                name=self.name,
                first=self.period.first,
                last=self.last_day,
                days=self.days,
            ),
        )

    def metrics_table(self) -> HtmlTable:
        return table(status_cells(self.status, self.report), STATUS_TABLE)

    def metrics(self) -> Section:
        """One sentence per metric (what to do), then the table."""
        lines = "\n".join(
            f"- {metric_sentence(self.report, m)}" for m in self.status.metrics.values()
        )
        return section(lines, self.metrics_table())

    def evenings_chart(self) -> alt.LayerChart:
        from livekit.charts import setup

        setup()
        label = self.report.metrics[self.status.primary].label
        return evenings_chart(
            self.path,
            mde=self.status.mde,
            alpha=self.status.alpha,
            title=f"{label}：每天晚上看到的区间",
        )

    def evenings(self) -> Section:
        """The primary metric's sequential interval evening by evening."""
        label = self.report.metrics[self.status.primary].label
        first = self.path.filter(pl.col("status") == "decided").get_column("day").to_list()
        if first:
            text = (
                f"{label}在 **{first[0]}** 那天晚上第一次有了结论（之前每天看都还没有）。"
                "每一天的区间都是有效的，所以从那天起停下来都是安全的。"
            )
        else:
            text = f"{label}到目前为止还没有哪一天有结论。"
        return section(text, self.evenings_chart())

    def method(self) -> Section:
        """Why an evening look is safe, and what each status means exactly."""
        return section(method_markdown(self.status, self.sequential_tuning))


def build(
    kit: Kit,
    *,
    name: str = "",
    experiment_start: date | str = "40_days_ago",
    experiment_end: date | str | None = "27_days_ago",
    unit: str = "viewer",
    metrics: Sequence[str] = ("conversion", "watch_seconds"),
    mde: float = DEFAULT_MDE,
    alpha: float = 0.05,
    correction: str = "holm",
    planned_split: Sequence[float] = (0.5, 0.5),
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> AbStatusPage:
    """The status of the viewer experiment run since ``experiment_start`` (to
    ``experiment_end``, today when None) on ``kit``: every metric compared with always-valid
    intervals, judged decided / futile / running against ``mde`` (relative).

    Parameters are checked before any data is read (one Chinese line on a mistake).
    """
    u = check_unit(unit)
    if u != "viewer":
        raise LivekitError(
            "实验进度只支持按观众随机的实验（unit: viewer）：按场次轮换的实验用刀切法估计方差，"
            "没有序贯（可随时查看）的版本；请在实验结束后用 A/B 实验分析报告（ab_test）分析。"
        )
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    resolve_metrics(names, u)
    check_correction(correction)
    mde = check_mde(mde)
    where = period(kit, experiment_start, experiment_end, datasets=("viewers",))
    visits = kit.load("viewers", where.first, where.last)
    viewers = viewer_units(visits)
    if viewers.visits == 0:
        raise LivekitError(
            f"{where.first} 至 {where.last} 的观众明细里没有 variant 列的分组数据：请确认实验日期，"
            "或导入带 variant 列的观众明细（livekit import viewers）。"
        )
    report = analyse_experiment(
        viewers.units,
        names,
        unit=u,
        alpha=alpha,
        correction=correction,
        planned_split=planned_split,
        sequential=True,
        sequential_tuning=sequential_tuning,
    )
    path = evenings(
        visits,
        names,
        alpha=alpha,
        mde=mde,
        correction=correction,
        planned_split=planned_split,
        sequential_tuning=report.sequential_tuning,
    )
    status = experiment_status(report, mde=mde, days=path.height)
    return AbStatusPage(
        name=str(name or "").strip(),
        period=where,
        metric_names=names,
        report=report,
        status=status,
        viewers=viewers,
        path=path,
        sequential_tuning=report.sequential_tuning,
    )
