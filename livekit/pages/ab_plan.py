"""The A/B planning report: before an experiment starts, how small an effect it can find and
how many days it needs, for a viewer-randomized test (with and without CUPED) and for a
session-randomized one (switchback).

::

    import livekit
    from livekit.pages import ab_plan

    page = ab_plan.build(livekit.open("sandbox"))
    page.history()    # 一、用哪段历史: the days read, viewers and shows per day, baselines
    page.viewers()    # 二、按观众随机: viewers reached and the MDE per duration, CUPED
    page.sessions()   # 三、按场次轮换: shows per arm and the MDE per duration
    page.answer()     # 四、要做多少天: days needed per lift, power after planned_days, chart

:func:`build` reads the history (the viewer export of the last ``history_days`` days and the
``pre_period_days`` before them; the shows and their T+1 analysis of the same days), runs
:func:`livekit.analysis.plan.plan_viewers` and :func:`~livekit.analysis.plan.plan_sessions`
once and keeps the results in an :class:`AbPlanPage`. The prose functions take the plans and
word them in Chinese; they are tested on their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import polars as pl

from livekit.analysis.experiment import experiment_metric
from livekit.analysis.plan import (
    SessionPlan,
    ViewerPlan,
    check_plan_inputs,
    lift_table,
    plan_sessions,
    plan_viewers,
)
from livekit.charts.tables import Column, HtmlTable, TableSpec
from livekit.pages._page import Period, Section, period, section
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import format_count, format_number, format_percent, format_value

if TYPE_CHECKING:
    import altair as alt

    from livekit.source import Kit

__all__ = [
    "DURATIONS",
    "LIFT_TABLE",
    "SESSION_TABLE",
    "VIEWER_TABLE",
    "AbPlanPage",
    "answer_text",
    "build",
    "history_text",
    "mde_chart",
    "mde_rows",
    "session_text",
    "viewer_text",
]

# The durations the tables list (the chart draws every one up to max_days), plus the days
# each lift needs.
DURATIONS = (1, 2, 3, 5, 7, 10, 14, 21, 28)
DESIGN_LABELS = {
    "viewer": "按观众随机",
    "viewer_cuped": "按观众随机 + CUPED",
    "session": "按场次轮换",
}


def _mde(value: float | None) -> str:
    return "无法达到" if value is None or not math.isfinite(value) else format_percent(value, 1)


def _days(value: int | None, max_days: int) -> str:
    return f"超过 {max_days} 天" if value is None else f"{value} 天"


# ---- prose --------------------------------------------------------------------------------------
def history_text(
    viewers: ViewerPlan | None, sessions: SessionPlan | None, *, first: date, last: date
) -> str:
    """Which days the plan reads and what they hold: viewers per day, the baseline of each
    metric, shows per day; and why the two designs differ."""
    days = (last - first).days + 1
    lines = [
        f"**规划依据的历史：{first} 至 {last}（{days} 天）。** 下面的人数、场次、均值和波动都来自这段时间，"
        "假定实验期间的流量和转化与这段时间相当；大促、节假日前后请换一段相近的历史（参数 history_end）。"
    ]
    if viewers is not None:
        one = viewers.by_days.row(0, named=True)
        metric = experiment_metric(viewers.metric, "viewer").registered
        pre_first = viewers.start - timedelta(days=viewers.pre_period_days)
        lines.append(
            f"- **观众**：平均每天 {format_count(one['viewers'])} 位观众（按人去重）；"
            f"「{viewers.label}」一天的基线为 {format_value(metric, one['mean'])}。"
            + (
                f"CUPED 的协变量是每位观众在每个时段开始前 {viewers.pre_period_days} 天的同一指标"
                f"（因此还读取了 {pre_first} 起的观众明细）。"
                if viewers.pre_period_days
                else "pre_period_days 为 0：不估计 CUPED 的效果。"
            )
        )
    else:
        lines.append(
            "- **观众**：这段时间没有观众明细，无法规划按观众随机的实验（请先导入观众明细）。"
        )
    if sessions is not None:
        metric = experiment_metric(sessions.metric, "session").registered
        lines.append(
            f"- **场次**：共 {sessions.shows} 场直播，平均每天 {format_number(sessions.shows_per_day, 1)} 场；"
            f"「{sessions.label}」整体为 {format_value(metric, sessions.mean)}，场与场之间有波动。"
        )
    else:
        lines.append("- **场次**：这段时间没有足够的直播场次数据，无法规划按场次轮换的实验。")
    lines.append(
        "\n**最小可检测效应（MDE）**：实验做 D 天、显著性水平和检验功效如参数所设时，"
        "有把握（功效，例如 80%）检测出来的最小相对提升。真实提升小于 MDE 时，实验多半得不出显著结论。"
    )
    return "\n".join(lines)


def viewer_text(plan: ViewerPlan) -> str:
    """The viewer design: returning viewers make the reach grow slower than the days; the
    MDE after a week and at the longest duration; what CUPED removes."""
    rows = plan.by_days
    first = rows.row(0, named=True)
    last = rows.row(-1, named=True)
    week = rows.filter(pl.col("days") == min(7, rows.height)).row(0, named=True)
    growth = last["viewers"] / (first["viewers"] * last["days"]) if first["viewers"] else math.nan
    lines = [
        f"按观众随机：每位观众固定在 A 组或 B 组（按观众 ID 的哈希分组），比较两组观众的「{plan.label}」。"
        f"实验做 {last['days']} 天能覆盖约 {format_count(last['viewers'])} 位观众，只有一天的 "
        f"{format_number(last['days'] * growth, 1)} 倍而不是 {last['days']} 倍：很多观众会反复来看，"
        "天数加倍，人数并不加倍。每个天数的人数是历史里所有同样长的时段的平均。",
        f"- 做 **{week['days']} 天**：每组约 {format_count(week['n_a'])} 人，MDE **{_mde(week['mde'])}**；"
        f"用 CUPED 为 {_mde(week['mde_cuped'])}。",
        f"- 做 **{last['days']} 天**：MDE **{_mde(last['mde'])}**；用 CUPED 为 {_mde(last['mde_cuped'])}。",
    ]
    rho2 = rows["rho2"].drop_nans().drop_nulls()
    if plan.pre_period_days and rho2.len():
        share = float(rho2.mean())  # type: ignore[arg-type]
        lines.append(
            f"- **CUPED**：用实验前 {plan.pre_period_days} 天的同一指标调整，历史上能消去约 "
            f"**{format_percent(share, 1)}** 的方差（相关系数的平方 ρ²），MDE 相应缩小约 "
            f"{format_percent(1 - math.sqrt(max(1 - share, 0.0)), 1)}。"
            + (
                "这个指标与观众过去的行为关系很弱，CUPED 帮助有限。"
                if share < 0.02
                else "观众过去的行为能预测实验期间的表现，CUPED 值得用（A/B 报告参数 covariate: pre_period）。"
            )
        )
    return "\n".join([lines[0], "", *lines[1:]])


def session_text(plan: SessionPlan) -> str:
    """The switchback design: shows per arm, the MDE, why more days matter more here, and why
    CUPED is not offered."""
    rows = plan.by_days
    reach = rows.filter(pl.col("mde").is_not_null())
    lines = [
        f"按场次轮换（switchback）：每一场直播整体随机分到 A 或 B，比较两组场次的「{plan.label}」。"
        f"平均每天 {format_number(plan.shows_per_day, 1)} 场，做 D 天每组约 D × "
        f"{format_number(plan.shows_per_day * plan.split[0], 2)} 场。分析时每一场只算一个单位，"
        "场与场之间的波动（流量、话术、商品）都算进误差，所以同样的天数，MDE 比按观众随机大得多。",
    ]
    if reach.height:
        first = reach.row(0, named=True)
        last = rows.row(-1, named=True)
        lines.append(
            f"- 最少要做 {first['days']} 天（每组至少 2 场才能估计波动）；做 **{last['days']} 天**"
            f"（每组约 {format_number(last['n_a'], 1)} 场）MDE 为 **{_mde(last['mde'])}**。"
        )
    else:
        lines.append("- 在所设的最长天数内每组都不到 2 场，无法估计：请加长 max_days。")
    lines.append(
        "- **CUPED 不适用于按场次轮换**：随机化的单位是整场直播，数量少、彼此差别大，"
        "用实验前数据做回归调整并不可靠，本报告不为它估计 CUPED 的效果。要检测更小的提升，只能做更多场次。"
    )
    lines.append(
        "- 场次少时区间依赖 t 分布（自由度 = 较少一组的场次 − 1），这里的功效按同样的 t 分布计算，"
        "与 A/B 报告按场次分析的方法一致；每场的组别按抛硬币决定，两组场次不一定一样多"
        "（十场里三比七很常见，自由度只剩 2），功效按各种分法的概率平均。"
    )
    return "\n".join([lines[0], "", *lines[1:]])


def answer_text(
    lifts: pl.DataFrame,
    *,
    max_days: int,
    planned_days: int,
    power: float,
    viewer_label: str | None,
    session_label: str | None,
) -> str:
    """Per lift: the days each design needs, and the advice for the smallest lift the viewer
    design reaches within ``max_days``."""
    lines = [
        f"下表按要检测的相对提升列出各方案需要的天数（功效 {format_percent(power, 0)}），"
        f"以及只做 **{planned_days} 天** 时各方案的检验功效（检测到该提升的概率）。"
    ]
    for r in lifts.iter_rows(named=True):
        parts = []
        if viewer_label is not None:
            parts.append(
                f"按观众随机 {_days(r['viewer_days'], max_days)}"
                f"（CUPED {_days(r['viewer_days_cuped'], max_days)}）"
            )
        if session_label is not None:
            parts.append(f"按场次轮换 {_days(r['session_days'], max_days)}")
        lines.append(f"- 提升 **{format_percent(r['lift'], 0)}**：" + "；".join(parts) + "。")
    if viewer_label is not None:
        reached = lifts.filter(pl.col("viewer_days_cuped").is_not_null()).sort("lift")
        if reached.height:
            r = reached.row(0, named=True)
            helps = r["viewer_days"] is None or r["viewer_days_cuped"] < r["viewer_days"]
            lines.append(
                f"\n**建议**：如果预期「{viewer_label}」至少提升 {format_percent(r['lift'], 0)}，"
                + ("按观众随机、用 CUPED 分析" if helps else "按观众随机（CUPED 在这里省不了天数）")
                + f"，至少做 **{r['viewer_days_cuped']} 天**，"
                "并提前定好天数、到期再看结论（中途每天看结果请在 A/B 报告里打开 sequential: true）。"
                "天数最好是整周，让周末与工作日都包含在内。"
            )
        else:
            lines.append(
                f"\n**建议**：所列的提升在 {max_days} 天内都检测不到：要么只检验更大的改动，"
                "要么换一个波动更小、基线更高的指标（例如点击率而不是成交率）。"
            )
    return "\n".join(lines)


# ---- tables and the chart -----------------------------------------------------------------------
VIEWER_TABLE = TableSpec(
    (
        Column("days", "实验天数", "{}"),
        Column("viewers", "观众（人）", "count"),
        Column("n_a", "每组（人）", "count"),
        Column("mean_text", "基线"),
        Column("rho2", "CUPED 消去的方差 ρ²", "percent"),
        Column("mde", "MDE", "percent"),
        Column("mde_cuped", "MDE（CUPED）", "percent"),
    ),
    caption="按观众随机：实验天数与最小可检测的相对提升",
)
SESSION_TABLE = TableSpec(
    (
        Column("days", "实验天数", "{}"),
        Column("shows", "场次（两组合计）", "{:,.1f}"),
        Column("n_a", "每组场次", "{:,.1f}"),
        Column("mde", "MDE", "percent"),
    ),
    caption="按场次轮换：实验天数与最小可检测的相对提升（不适用 CUPED）",
)
LIFT_TABLE = TableSpec(
    (
        Column("lift", "要检测的提升", "percent"),
        Column("viewer_days", "按观众随机（天）"),
        Column("viewer_days_cuped", "按观众随机 + CUPED（天）"),
        Column("session_days", "按场次轮换（天）"),
        Column("viewer_power", "功效：按观众", "percent"),
        Column("viewer_power_cuped", "功效：按观众 + CUPED", "percent"),
        Column("session_power", "功效：按场次", "percent"),
    ),
    caption="各提升需要的天数，与做满计划天数时的检验功效",
)


def _listed(frame: pl.DataFrame, extra: Sequence[int]) -> pl.DataFrame:
    keep = sorted({*DURATIONS, *extra})
    return frame.filter(pl.col("days").is_in(keep))


def mde_rows(viewers: ViewerPlan | None, sessions: SessionPlan | None) -> pl.DataFrame:
    """The chart's rows: ``days``, ``mde`` and the ``design`` label, one line per design."""
    parts = []
    if viewers is not None:
        for column, key in (("mde", "viewer"), ("mde_cuped", "viewer_cuped")):
            parts.append(
                viewers.by_days.select(
                    "days", pl.col(column).alias("mde"), pl.lit(DESIGN_LABELS[key]).alias("design")
                )
            )
    if sessions is not None:
        parts.append(
            sessions.by_days.select("days", "mde", pl.lit(DESIGN_LABELS["session"]).alias("design"))
        )
    if not parts:
        return pl.DataFrame(schema={"days": pl.Int64, "mde": pl.Float64, "design": pl.String})
    return pl.concat(parts).filter(pl.col("mde").is_not_null())


def mde_chart(
    rows: pl.DataFrame, *, power: float, alpha: float
) -> alt.Chart | alt.LayerChart | None:
    """MDE against the days of the experiment, one line per design; None without rows."""
    from livekit.charts.builders import trend_chart

    if rows.height == 0:
        return None
    return trend_chart(
        rows,
        "days",
        "mde",
        "design",
        title="实验做多少天，能检测多小的提升",
        subtitle=(
            f"最小可检测的相对提升（功效 {format_percent(power, 0)}，显著性水平 {format_number(alpha, 2)}）；"
            "越低越灵敏"
        ),
        x_title="实验天数",
        y_title="最小可检测提升（MDE）",
        color_title="方案",
        y_format=".0%",
    )


# ---- the page -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AbPlanPage:
    """The planning report: the history read, the two plans, and a method per section."""

    history_period: Period  # the history window (rooms, room analysis)
    viewer_period: Period  # the history window and the pre-period before it (viewer export)
    viewer_plan: ViewerPlan | None
    session_plan: SessionPlan | None
    lifts: pl.DataFrame  # analysis.plan.lift_table
    max_days: int
    planned_days: int
    alpha: float
    power: float

    def history(self) -> Section:
        """一、用哪段历史."""
        notes = [p.note for p in (self.history_period, self.viewer_period) if p.note]
        return section(
            *dict.fromkeys(notes),
            history_text(
                self.viewer_plan,
                self.session_plan,
                first=self.history_period.first,
                last=self.history_period.last,
            ),
        )

    def viewers(self) -> Section:
        """二、按观众随机: prose and the table per duration."""
        plan = self.viewer_plan
        if plan is None:
            return section("这段历史没有观众明细，无法规划按观众随机的实验。")
        metric = experiment_metric(plan.metric, "viewer").registered
        rows = _listed(plan.by_days, self._needed("viewer_days", "viewer_days_cuped")).with_columns(
            pl.col("viewers", "n_a").round(0),
            pl.col("mean")
            .map_elements(lambda v: format_value(metric, v), return_dtype=pl.String)
            .alias("mean_text"),
        )
        return section(viewer_text(plan), VIEWER_TABLE.render(rows))

    def sessions(self) -> Section:
        """三、按场次轮换: prose and the table per duration."""
        plan = self.session_plan
        if plan is None:
            return section("这段历史没有足够的直播场次数据，无法规划按场次轮换的实验。")
        rows = _listed(plan.by_days, self._needed("session_days"))
        return section(session_text(plan), SESSION_TABLE.render(rows))

    def answer(self) -> Section:
        """四、要做多少天: per lift, the chart of MDE against days."""
        return section(
            answer_text(
                self.lifts,
                max_days=self.max_days,
                planned_days=self.planned_days,
                power=self.power,
                viewer_label=self.viewer_plan.label if self.viewer_plan else None,
                session_label=self.session_plan.label if self.session_plan else None,
            ),
            LIFT_TABLE.render(self.lifts),
            self.chart(),
        )

    def chart(self) -> alt.Chart | alt.LayerChart | None:
        return mde_chart(
            mde_rows(self.viewer_plan, self.session_plan), power=self.power, alpha=self.alpha
        )

    def _needed(self, *columns: str) -> list[int]:
        return [int(v) for c in columns for v in self.lifts[c].drop_nulls().to_list()]

    def table(self) -> HtmlTable:
        return LIFT_TABLE.render(self.lifts)


def build(
    kit: Kit,
    *,
    history_days: int = 28,
    history_end: date | str = "yesterday",
    metric: str = "conversion",
    session_metric: str = "watch_click_rate",
    lifts: Sequence[float] = (0.05, 0.10, 0.15, 0.20),
    alpha: float = 0.05,
    power: float = 0.8,
    max_days: int = 28,
    planned_days: int = 14,
    planned_split: Sequence[float] = (0.5, 0.5),
    pre_period_days: int = 28,
) -> AbPlanPage:
    """Plan from the ``history_days`` days ending ``history_end`` on ``kit`` (a sandbox kit
    fills what is missing first): the viewer export of those days and the
    ``pre_period_days`` before them, the shows and their T+1 analysis of those days.

    Every parameter is checked before any data is read; a mistake, or a history with
    neither viewers nor shows, raises :class:`LivekitError` with one Chinese line.
    """
    from livekit.charts.render import setup
    from livekit.dates import resolve_day

    experiment_metric(metric, "viewer")
    experiment_metric(session_metric, "session")
    check_plan_inputs(
        alpha=alpha,
        power=power,
        split=planned_split,
        max_days=max_days,
        pre_period_days=pre_period_days,
        lifts=lifts,
    )
    for name, value in (("history_days", history_days), ("planned_days", planned_days)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LivekitError(f"{name} 须为不小于 1 的整数（天），收到 {value!r}")
    if history_days < max_days:
        raise LivekitError(
            f"history_days（{history_days} 天）不能少于 max_days（{max_days} 天）："
            "最长的实验要在历史里找到同样长的时段。"
        )
    if planned_days > max_days:
        raise LivekitError(f"planned_days（{planned_days}）不能超过 max_days（{max_days}）。")
    last = resolve_day(history_end, name="history_end")
    first = last - timedelta(days=history_days - 1)
    rooms_span = period(kit, first, last, datasets=("rooms", "room_analysis"))
    viewer_span = period(kit, first - timedelta(days=pre_period_days), last, datasets=("viewers",))
    visits = kit.load("viewers", viewer_span.first, viewer_span.last)
    in_history = visits.filter(pl.col("enter_time").dt.date().is_between(first, last))
    viewers = None
    if in_history.height:
        viewers = plan_viewers(
            visits,
            metric,
            start=first,
            end=last,
            max_days=max_days,
            pre_period_days=pre_period_days,
            alpha=alpha,
            power=power,
            split=planned_split,
        )
    rooms = kit.load("rooms", first, last)
    analysis = kit.load("room_analysis", first, last)
    sessions = None
    if rooms.height >= 4:
        sessions = plan_sessions(
            rooms,
            analysis,
            session_metric,
            start=first,
            end=last,
            max_days=max_days,
            alpha=alpha,
            power=power,
            split=planned_split,
        )
    if viewers is None and sessions is None:
        raise LivekitError(
            f"{first} 至 {last} 既没有观众明细，也没有直播场次：请先同步店铺数据（livekit sync）"
            "或导入观众明细，或用 history_end 换一段有直播的历史。"
        )
    table = lift_table(viewers, sessions, lifts, planned_days)
    setup()  # the theme, and charts drawn offline as inline SVG
    return AbPlanPage(
        history_period=rooms_span,
        viewer_period=viewer_span,
        viewer_plan=viewers,
        session_plan=sessions,
        lifts=table,
        max_days=max_days,
        planned_days=planned_days,
        alpha=float(alpha),
        power=float(power),
    )
