"""The sales forecast report: the next weeks' GMV (or orders) with festivals, planned shows and
spend, how wrong such forecasts have been, and what the plan changes.

::

    import livekit
    from livekit.pages import forecast

    page = forecast.build(livekit.open("sandbox"))
    page.overview()   # 一、未来几周的预测: the chart (80/95 % bands, festival peaks), weekly totals
    page.backtest()   # 二、预测准不准: past forecasts against "same weekday last week"
    page.plan()       # 三、计划改变了什么: the plan, and spend +20 % / one show fewer per day
    page.effects()    # 四、节日、投放与场次的影响: lifts with their 95 % intervals

:func:`build` reads the ``rooms`` of the ``history_days`` days before the forecast starts (a
sandbox kit syncs only that dataset), turns them into the daily series
(:func:`livekit.analysis.forecast.daily_sales`), fills the plan of the horizon (the planned
shows and spend; by default the median of the same weekday over the last 8 weeks) and calls
:func:`livekit.analysis.forecast.forecast` once with the model chosen by its backtest, then the
chosen log-linear model again for each what-if. The prose functions word the results in
Chinese; they are tested on their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final, cast

import polars as pl

from livekit.charts.tables import Column, HtmlTable, TableSpec
from livekit.pages._page import Period, Section, period, section
from livekit.text import escape_markdown
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import format_count, format_money, format_percent

if TYPE_CHECKING:
    import altair as alt

    from livekit.analysis.forecast import Backtest, Forecast
    from livekit.source import Kit

__all__ = [
    "BACKTEST_TABLE",
    "EFFECT_TABLE",
    "SERIES",
    "WEEK_TABLE",
    "WHATIF_TABLE",
    "ForecastPage",
    "Plan",
    "backtest_text",
    "build",
    "chart",
    "effects_text",
    "history_text",
    "naive_statement",
    "overview_text",
    "plan_text",
    "planned_values",
    "typical_plan",
    "weekly_rows",
]

SERIES: Final = {"gmv": "成交金额", "orders": "成交单数"}  # the labels of the metric registry
NAIVE: Final = "seasonal_naive"
REGRESSION: Final = "regression"
TYPICAL_WEEKS: Final = 8  # an unplanned day gets the median of its weekday over this many weeks
RECENT_DAYS: Final = 56  # the history drawn before the forecast
SPEND_STEP: Final = 0.2  # the what-if's extra spend (+20 %)
PLANNED: Final = "按计划"  # the what-if table's first row: the forecast with the plan
MIN_TRAIN: Final = 28  # the shortest training window of a backtest fold: 4 weeks (the
# regression needs two weeks of days with sales, and rest days are left out of its fit)
COVERAGE_SLACK: Final = 0.05  # intervals whose coverage is within 5 points of nominal are fine
LIMITS: Final = {"history_days": (56, 1500), "horizon": (7, 91), "folds": (1, 12)}


# ---- small formatters -----------------------------------------------------------------------------
def _span(frame: pl.DataFrame) -> tuple[date, date]:
    """The first and last ``date`` of a non-empty daily frame."""
    days = frame.get_column("date")
    return cast("date", days.min()), cast("date", days.max())


def _amount(series: str, value: float | None) -> str:
    """A total of the series as a merchant reads it: ¥12.35万, or 1.2万 单."""
    if series == "gmv":
        return format_money(value, compact=True)
    return f"{format_count(value)} 单"


def _times(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"×{value:.2f}"


def _signed(value: float) -> str:
    return format_percent(value, 1, signed=True)


def _better(ratio: float) -> str:
    """``1 - ratio`` worded: 好 12.0% / 差 8.5% / 持平."""
    gain = 1.0 - ratio
    if abs(gain) < 0.0005:
        return "持平"
    return f"{'好' if gain > 0 else '差'} {format_percent(abs(gain), 1)}"


# ---- the plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """The planned shows and spend of each horizon day (``date, shows, spend``), and for each
    of the two which days the user set (the others are the typical values)."""

    frame: pl.DataFrame
    shows_given: int  # days whose shows the user set
    spend_given: int

    @property
    def typical_only(self) -> bool:
        return self.shows_given == 0 and self.spend_given == 0


def planned_values(
    value: object, name: str, days: Sequence[date], *, whole: bool = False
) -> dict[date, float]:
    """The days of ``days`` a plan parameter sets, checked: None → none; a number → every day;
    a mapping ``{default: x, "YYYY-MM-DD": y, ...}`` → the default on every day, then the dated
    ones (each inside ``days``). Values are non-negative numbers (whole ones when ``whole``).
    A mistake raises :class:`LivekitError` with one Chinese line naming ``name``."""
    span = f"{days[0]} 至 {days[-1]}"
    hint = f"{name} 可以是 null（按近 {TYPICAL_WEEKS} 周的常态）、一个数（每天相同），或 {{default: 数, YYYY-MM-DD: 数}}"

    def number(v: object, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise LivekitError(f"{name} 的{where}须为不小于 0 的数，收到 {v!r}")
        if whole and float(v) != int(v):
            raise LivekitError(f"{name} 的{where}须为整数（场次），收到 {v!r}")
        return float(v)

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dict.fromkeys(days, number(value, "值"))
        raise LivekitError(f"{hint}；收到 {value!r}")
    out: dict[date, float] = {}
    if "default" in value:
        out = dict.fromkeys(days, number(value["default"], " default "))
    inside = set(days)
    for key, v in value.items():
        if key == "default":
            continue
        day: date | None = key if isinstance(key, date) else None
        if isinstance(key, str):
            try:
                day = date.fromisoformat(key.strip())
            except ValueError:
                day = None
        if day is None:
            raise LivekitError(f"{name} 的键须为 default 或日期 YYYY-MM-DD，收到 {key!r}；{hint}")
        if day not in inside:
            raise LivekitError(f"{name} 的日期 {day} 不在预测期 {span} 内")
        out[day] = number(v, f" {day} ")
    return out


def typical_plan(history: pl.DataFrame, days: Sequence[date]) -> pl.DataFrame:
    """Per horizon day, the median shows (rounded to whole shows) and the median spend of the
    show days of the same weekday over the last :data:`TYPICAL_WEEKS` weeks of ``history``
    (``date, shows, spend``); 0 spend on a day with no planned show."""
    return _typical(history, days).with_columns(
        pl.when(pl.col("shows") > 0).then(pl.col("spend")).otherwise(0.0).alias("spend")
    )


def _typical(history: pl.DataFrame, days: Sequence[date]) -> pl.DataFrame:
    """:func:`typical_plan` before the spend of days without a show is set to 0: the spend of
    a show day of that weekday (of any weekday when it had no show in those weeks), which a
    day the user plans shows on gets."""
    last = history.get_column("date").max()
    recent = history.filter(pl.col("date") > pl.lit(last) - timedelta(days=7 * TYPICAL_WEEKS))
    on_air = pl.col("shows") > 0
    by_weekday = recent.group_by(pl.col("date").dt.weekday().alias("wd")).agg(
        pl.col("shows").median().alias("shows"),
        pl.col("spend").filter(on_air).median().alias("spend"),
    )
    anyday = recent.filter(on_air).get_column("spend").median()
    fallback = float(anyday) if isinstance(anyday, int | float) else 0.0
    typical = {
        int(r["wd"]): (r["shows"] or 0.0, fallback if r["spend"] is None else r["spend"])
        for r in by_weekday.iter_rows(named=True)
    }
    rows = []
    for day in days:
        shows, spend = typical.get(day.isoweekday(), (0.0, fallback))
        whole = float(math.floor(shows + 0.5))  # half a show rounds up
        rows.append({"date": day, "shows": whole, "spend": spend})
    return pl.DataFrame(rows, schema={"date": pl.Date, "shows": pl.Float64, "spend": pl.Float64})


def _plan(
    history: pl.DataFrame,
    days: Sequence[date],
    shows: Mapping[date, float],
    spend: Mapping[date, float],
) -> Plan:
    """The plan: the days the user set, the typical values on the others (no spend on a day
    without a planned show, unless the user set it)."""
    typical = _typical(history, days)
    planned_shows = pl.col("date").replace_strict(
        shows, default=pl.col("shows"), return_dtype=pl.Float64
    )
    frame = typical.with_columns(planned_shows.alias("shows")).with_columns(
        pl.col("date")
        .replace_strict(
            spend,
            default=pl.when(pl.col("shows") > 0).then(pl.col("spend")).otherwise(0.0),
            return_dtype=pl.Float64,
        )
        .alias("spend"),
    )
    return Plan(frame, shows_given=len(shows), spend_given=len(spend))


# ---- prose ---------------------------------------------------------------------------------------
def history_text(
    daily: pl.DataFrame, *, asked_days: int, first_show: date | None, first_asked: date
) -> str:
    """What history the forecast learned from: the days, shows, rest days, and a line when
    the store's history is shorter than ``history_days`` asked for."""
    first, last = _span(daily)
    rest = int((daily["shows"] == 0).sum())
    lines = [
        f"**依据的历史：{first} 至 {last}（{daily.height} 天）**，共 {int(daily['shows'].sum())} 场直播，"
        f"其中 {rest} 天没有开播（这些日子成交为 0，模型把它们当作“没开播”，不是“需求塌了”）。"
    ]
    if first_show is None or first_show > first_asked:
        lines.append(
            f"参数 history_days 要求 {asked_days} 天历史（从 {first_asked} 起），"
            f"但店铺数据{'从 ' + str(first_show) + ' 起才有直播' if first_show else '里没有直播'}："
            f"只用了实际有的 {daily.height} 天。历史越短，节日和趋势越难估计。"
        )
    return "\n\n".join(lines)


def naive_statement(backtest: Backtest | None, *, folds: int, note: str | None = None) -> str:
    """The clear statement made when no model beat seasonal naive in the backtest (``note``:
    the analysis's own line, said when no other model could be fitted at all)."""
    detail = f"{note.rstrip('。')}。" if note else ""
    if backtest is not None:
        rows = backtest.summary.filter(pl.col("model") != NAIVE).sort("mase")
        if rows.height:
            best = rows.row(0, named=True)
            naive = backtest.mase_of(NAIVE)
            detail = (
                f"最好的模型“{best['label']}”的误差（MASE {best['mase']:.2f}）"
                f"不低于“上周同日”（{naive:.2f}）。"
            )
    return (
        f"**结论：模型没有比“上周同日”更准。** 过去 {folds} 次回测中，{detail}"
        "所以本报告的预测就是**季节朴素预测**：未来每一天等于上周同一天（区间按上周同日的历史误差）。"
        "计划的场次与投放不改变这个预测；请按“上周同日”备货和安排主播，等历史更长、更稳定后再看模型。"
    )


def overview_text(
    fc: Forecast,
    plan: Plan,
    *,
    series: str,
    missing_events: Sequence[str] = (),
) -> str:
    """The headline: the total over the horizon, the model, the plan it assumes."""
    frame = fc.frame
    first, last = _span(frame)
    total = float(frame["mean"].sum())
    plan_frame = plan.frame
    rest = int((plan_frame["shows"] == 0).sum())
    lines = [
        f"**预计 {first} 至 {last}（{frame.height} 天）{SERIES[series]}合计约 {_amount(series, total)}**"
        f"（每天预测均值之和；所用模型：{fc.label}）。图中深色带是每天的 80% 预测区间，浅色带是 95%："
        "10 天里大约有 8 天的实际值落在深色带内。",
        f"- 计划：共 {format_count(plan_frame['shows'].sum())} 场直播，{rest} 天不开播"
        f"（不开播的日子预测为 0），投放合计 {format_money(plan_frame['spend'].sum(), compact=True)}。"
        + _plan_source(plan),
    ]
    if missing_events:
        names = "、".join(escape_markdown(n) for n in missing_events)
        why = (
            "“上周同日”不考虑节日"
            if fc.model == NAIVE
            else "但历史里没有出现过它（或只出现在不开播的日子），无法估计它的影响"
        )
        lines.append(
            f"- 预测期内有 {names}，{why}：**预测没有计入这些节日**，请自行留出余量"
            + ("。" if fc.model == NAIVE else "（或加长 history_days）。")
        )
    return "\n".join([lines[0], "", *lines[1:]])


def _plan_source(plan: Plan) -> str:
    days = plan.frame.height
    if plan.typical_only:
        return (
            f"场次与投放都按近 {TYPICAL_WEEKS} 周同一星期几的中位数（投放取开播日的中位数），"
            "参数 planned_shows、planned_spend 可以改。"
        )
    parts = []
    for what, given in (("场次", plan.shows_given), ("投放", plan.spend_given)):
        if given == 0:
            parts.append(f"{what}按近 {TYPICAL_WEEKS} 周同一星期几的中位数")
        elif given < days:
            parts.append(
                f"{what}有 {given} 天按参数，其余按近 {TYPICAL_WEEKS} 周同一星期几的中位数"
            )
        else:
            parts.append(f"{what}按参数")
    return "；".join(parts) + "。"


def backtest_text(
    backtest: Backtest, *, chosen: str, series: str, levels: Sequence[int] = (80, 95)
) -> str:
    """How wrong past forecasts were: the folds, the mean error, the comparison with seasonal
    naive (by MASE, the measure the model was chosen by), and whether the intervals are
    honest."""
    summary = backtest.summary
    naive = summary.filter(pl.col("model") == NAIVE).row(0, named=True)
    shown = chosen if chosen != NAIVE else _best_other(summary)
    folds = int(naive["folds"])
    lines = []
    if shown is None:
        lines.append(
            f"过去 {folds} 次预测（每次预测 {backtest.horizon} 天），“上周同日”平均每天误差 "
            f"{_amount(series, naive['mae'])}。"
        )
    else:
        row = summary.filter(pl.col("model") == shown).row(0, named=True)
        ratio = row["mase"] / naive["mase"] if naive["mase"] else math.nan
        comparison = (
            f"比“上周同日”{_better(ratio)}" if math.isfinite(ratio) else "无法与“上周同日”比较"
        )
        lines.append(
            f"**过去 {folds} 次预测（每次预测 {backtest.horizon} 天），平均每天误差 "
            f"{_amount(series, row['mae'])}，{comparison}**"
            f"（“上周同日”平均每天误差 {_amount(series, naive['mae'])}；"
            f"比较按 MASE：{row['mase']:.2f} 对 {naive['mase']:.2f}，即把每次误差除以那次训练期里"
            "“上周同日”的平均误差后再平均，越小越好）。"
            f"模型是“{row['label']}”。"
        )
        if chosen == NAIVE:
            lines.append("模型没有赢过“上周同日”，所以预测采用“上周同日”（见上一节）。")
        cover = [
            f"{level}% 区间覆盖了 {format_percent(row[f'coverage_{level}'], 0)} 的日子"
            for level in levels
            if f"coverage_{level}" in row
        ]
        if cover:
            verdict = _coverage_verdict(row, levels)
            lines.append(f"回测里 {'，'.join(cover)}：{verdict}")
    lines.append(
        "回测的做法：假装站在过去某一天，只用那天之前的数据预测之后的日子，再和实际对比；"
        "计划的场次与投放用当时实际的数（计划准不准不算在误差里）。"
    )
    return "\n\n".join(lines)


def _best_other(summary: pl.DataFrame) -> str | None:
    rows = summary.filter((pl.col("model") != NAIVE) & pl.col("mase").is_not_nan()).sort("mase")
    return None if rows.height == 0 else str(rows.row(0, named=True)["model"])


def _coverage_verdict(row: Mapping[str, Any], levels: Sequence[int]) -> str:
    gaps = [
        row[f"coverage_{lv}"] - lv / 100 for lv in levels if row.get(f"coverage_{lv}") is not None
    ]
    if all(abs(g) <= COVERAGE_SLACK for g in gaps):
        return "与标称水平相差不到 5 个百分点，区间可信。"
    if any(g < -COVERAGE_SLACK for g in gaps):
        return "比标称水平低，区间偏窄：实际波动比区间显示的大，备货请多留余量。"
    return "比标称水平高，区间偏宽：实际比区间显示的更稳。"


def plan_text(
    whatifs: pl.DataFrame,
    *,
    series: str,
    chosen: str,
    spend_effect: str | None,
    reason: str | None = None,
) -> str:
    """What the plan changes: each what-if's total against the forecast with the plan (or,
    without what-ifs, ``reason``: why the log-linear model could not be fitted)."""
    if whatifs.height == 0:
        return (
            "无法估计计划的影响：对数线性回归模型无法拟合"
            + (f"（{reason.rstrip('。')}）" if reason else "")
            + "。所用的“上周同日”预测不看计划。"
        )
    lines = []
    if chosen == NAIVE:
        lines.append(
            "**所用的“上周同日”预测不看计划**：改变场次或投放，上面的预测都不会变。"
            "下面是对数线性回归模型（回测不如“上周同日”，仅供参考）按计划算出的变化："
        )
    else:
        lines.append("与按计划的预测相比，预测期合计的变化：")
    for r in whatifs.filter(pl.col("scenario") != PLANNED).iter_rows(named=True):
        lines.append(
            f"- **{r['scenario']}**：{_amount(series, r['total'])}，"
            f"比按计划 {'多' if r['change'] >= 0 else '少'} {_amount(series, abs(r['change']))}"
            f"（{_signed(r['share'])}）。"
        )
    out = "\n".join([lines[0], "", *lines[1:]])
    notes = [spend_effect] if spend_effect else []
    notes.append(
        "不开播的日子预测为 0：少播一场时，原本只播一场的日子就成了不开播的日子，这部分成交整天没有。"
    )
    return "\n\n".join([out, *notes])


def effects_text(effects: pl.DataFrame, *, series: str, chosen: str) -> str:
    """The festivals, spend, shows and trend as lifts with their 95 % intervals."""
    if effects.height == 0:
        return "没有可估计的影响（历史太短或没有变化）。"
    label = SERIES[series]
    lines = []
    if chosen == NAIVE:
        lines.append("以下估计来自对数线性回归（它的回测不如“上周同日”，预测没有用它），只作参考。")
    lines.append(
        f"下表是每个因素让开播日的{label}变成原来的几倍（×1.20 即 +20%），括号里是 95% 区间；"
        "区间跨过 ×1.00 的因素，历史数据还说不清它有没有影响。"
    )
    peaks = effects.filter((pl.col("kind") == "event") & pl.col("term").str.ends_with("_peak"))
    if peaks.height:
        top = peaks.sort(pl.col("coef").abs(), descending=True).head(4)
        parts = [
            f"{escape_markdown(r['label'])} {_times(r['lift'])}"
            f"（{_times(r['lift_lo'])}–{_times(r['lift_hi'])}）"
            for r in top.iter_rows(named=True)
        ]
        lines.append("- **节日当天**：" + "；".join(parts) + "。预热期按天数线性爬升到当天。")
    for term, what in (("spend", "投放"), ("shows", "场次")):
        rows = effects.filter((pl.col("kind") == "regressor") & (pl.col("term") == term))
        if not rows.height:
            continue
        r = rows.row(0, named=True)
        if r["transform"] == "log":
            ten = 1.1 ** r["coef"] - 1
            lines.append(
                f"- **{what}**：{what}翻倍时{label} {_times(r['lift'])}"
                f"（{_times(r['lift_lo'])}–{_times(r['lift_hi'])}）；"
                f"即{what}每多 10%，{label}约 {_signed(ten)}（弹性 {r['coef']:.2f}）。"
            )
        else:
            lines.append(
                f"- **{what}**：每多 1 个单位，{label} {_times(r['lift'])}"
                f"（{_times(r['lift_lo'])}–{_times(r['lift_hi'])}）。"
            )
    trend = effects.filter(pl.col("kind") == "trend")
    if trend.height:
        r = trend.row(0, named=True)
        lines.append(
            f"- **趋势**：扣除节日、星期和计划之后，每年 {_times(r['lift'])}"
            f"（{_times(r['lift_lo'])}–{_times(r['lift_hi'])}）。"
        )
    caveat = (
        "这些是历史数据里的关联，不是实验：如果过去旺日本来就多投放，投放的效果会被高估。"
        "要知道投放到底带来多少，请做实验（A/B 规划报告）。"
    )
    return "\n\n".join(["\n".join([lines[0], "", *lines[1:]]), caveat])


# ---- tables and the chart --------------------------------------------------------------------------
def _value_format(series: str) -> str:
    return "money" if series == "gmv" else "count"


def week_table(series: str) -> TableSpec:
    fmt = _value_format(series)
    return TableSpec(
        (
            Column("week", "周"),
            Column("days", "天数", "{}"),
            Column("show_days", "开播天数", "{}"),
            Column("shows", "计划场次", "{:,.0f}"),
            Column("spend", "计划投放", "money"),
            Column("mean", f"预测{SERIES[series]}", fmt),
            Column("lo", "各日 80% 下限之和", fmt),
            Column("hi", "各日 80% 上限之和", fmt),
        ),
        caption="每周合计（下限、上限为各日区间相加：比周合计真正的 80% 区间更宽，作保守参考）",
    )


WEEK_TABLE = week_table("gmv")


def weekly_rows(fc: pl.DataFrame, plan: pl.DataFrame) -> pl.DataFrame:
    """Per week of the horizon (7 days from the first forecast day): days, show days, planned
    shows and spend, the sum of the daily means and of the daily 80 % bounds."""
    first = fc["date"].min()
    joined = fc.join(plan, on="date", how="left").with_columns(
        ((pl.col("date") - pl.lit(first)).dt.total_days() // 7 + 1).alias("n")
    )
    weeks = (
        joined.group_by("n")
        .agg(
            pl.col("date").min().alias("from"),
            pl.col("date").max().alias("to"),
            pl.len().alias("days"),
            (pl.col("shows") > 0).sum().alias("show_days"),
            pl.col("shows").sum(),
            pl.col("spend").sum(),
            pl.col("mean").sum(),
            pl.col("lo_80").sum().alias("lo"),
            pl.col("hi_80").sum().alias("hi"),
        )
        .sort("n")
    )
    label = pl.format(
        "第 {} 周（{} 至 {}）",
        pl.col("n"),
        pl.col("from").dt.strftime("%m-%d"),
        pl.col("to").dt.strftime("%m-%d"),
    )
    return weeks.with_columns(label.alias("week"))


BACKTEST_TABLE = TableSpec(
    (
        Column("label", "模型"),
        Column("mae_text", "平均每天误差（MAE）"),
        Column("mape", "平均百分比误差（MAPE）", "percent"),
        Column("mase", "MASE（越小越好）", "{:.2f}"),
        Column("coverage_80", "80% 区间覆盖率", "percent"),
        Column("coverage_95", "95% 区间覆盖率", "percent"),
        Column("folds", "回测次数", "{}"),
    ),
    caption="回测：模型与“上周同日”（季节朴素）在同样的历史时点上的误差",
)
STEP_TABLE_CAPTION = "误差随预测距离的变化（每周平均每天误差）"


def step_rows(backtest: Backtest, series: str) -> pl.DataFrame:
    """Mean absolute error per week ahead (steps 1-7, 8-14 …), one column per model."""
    weekly = (
        backtest.by_step.with_columns(((pl.col("step") - 1) // 7 + 1).alias("week"))
        .group_by("model", "week")
        .agg(((pl.col("mae") * pl.col("n")).sum() / pl.col("n").sum()).alias("mae"))
    )
    labels = dict(backtest.summary.select("model", "label").iter_rows())
    wide = weekly.pivot("model", index="week", values="mae").sort("week")
    out = wide.select(pl.format("预测第 {} 周", pl.col("week")).alias("周"))
    for model in backtest.summary["model"].to_list():
        if model in wide.columns:
            out = out.with_columns(
                wide.get_column(model)
                .map_elements(lambda v: _amount(series, v), return_dtype=pl.String)
                .alias(str(labels[model]))
            )
    return out


WHATIF_TABLE = TableSpec(
    (
        Column("scenario", "情景"),
        Column("shows", "场次合计", "{:,.0f}"),
        Column("spend", "投放合计", "money"),
        Column("total_text", "预测合计"),
        Column("share", "比按计划", lambda v: _signed(v)),
    ),
    caption="只改计划时，预测期合计的变化（同一模型）",
)
EFFECT_TABLE = TableSpec(
    (
        Column("label", "因素"),
        Column("kind_text", "类型"),
        Column("lift", "倍数", _times),
        Column("lift_lo", "95% 区间下限", _times),
        Column("lift_hi", "95% 区间上限", _times),
        Column("meaning", "含义"),
    ),
    caption="各因素对开播日销售的影响（倍数 = 变成原来的几倍）",
)
_KINDS = {"event": "节日", "regressor": "计划", "trend": "趋势", "weekday": "星期"}


def effect_rows(effects: pl.DataFrame) -> pl.DataFrame:
    """The effects table: events first (in calendar order), then the plan, trend, weekdays."""
    order = {"event": 0, "regressor": 1, "trend": 2, "weekday": 3}
    meaning = (
        pl.when(pl.col("kind") == "regressor")
        .then(
            pl.when(pl.col("transform") == "log").then(pl.lit("翻倍时")).otherwise(pl.lit("每多 1"))
        )
        .when(pl.col("kind") == "trend")
        .then(pl.lit("每年"))
        .when(pl.col("kind") == "weekday")
        .then(pl.lit("比周一"))
        .when(pl.col("term").str.ends_with("_presale"))
        .then(pl.lit("预热期末（线性爬升）"))
        .when(pl.col("term").str.ends_with("_after"))
        .then(pl.lit("返场每天"))
        .otherwise(pl.lit("当天"))
    )
    return (
        effects.with_row_index("_i")
        .with_columns(
            pl.col("kind").replace_strict(order, default=9, return_dtype=pl.Int64).alias("_k"),
            pl.col("kind").replace_strict(_KINDS, default=pl.col("kind")).alias("kind_text"),
            meaning.alias("meaning"),
        )
        .sort("_k", "_i")
        .drop("_i", "_k")
    )


def chart(
    history: pl.DataFrame,
    fc: pl.DataFrame,
    peaks: pl.DataFrame,
    *,
    series: str,
    model_label: str,
) -> alt.LayerChart:
    """The forecast chart of the page: the last :data:`RECENT_DAYS` days of ``series`` in
    ``history`` (the daily sales frame) and the forecast."""
    from livekit.charts.forecast import forecast_chart

    recent = history.filter(
        pl.col("date") > pl.lit(history["date"].max()) - timedelta(days=RECENT_DAYS)
    ).select("date", pl.col(series).alias("value"))
    label = SERIES[series]
    return forecast_chart(
        recent,
        fc,
        peaks,
        title=f"未来 {fc.height} 天的{label}预测",
        subtitle=(
            f"{model_label}；深色带 80%、浅色带 95% 预测区间；红色虚线为节日高峰；"
            f"左侧为最近 {recent.height} 天的实际值"
        ),
        y_title=f"{label}（{'元' if series == 'gmv' else '单'}）",
    )


# ---- the page ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ForecastPage:
    """The forecast report: the history read, the forecast, the plan, the what-ifs."""

    span: Period  # the history asked for (rooms)
    series: str
    daily: pl.DataFrame  # daily_sales over the days used
    asked_days: int
    first_show: date | None
    forecast: Forecast  # the chosen model (seasonal naive when nothing beat it)
    reference: Forecast | None  # the log-linear model with the plan, when it was not chosen
    plan_: Plan
    whatifs: pl.DataFrame  # scenario, shows, spend, total, change, share
    peaks: pl.DataFrame  # date, name: festival peaks in the drawn days
    missing_events: tuple[str, ...]
    folds: int  # the backtest folds run
    folds_asked: int
    unfit: str | None = None  # why the log-linear model could not be fitted, if it could not

    @property
    def model(self) -> str:
        return self.forecast.model

    def _regression(self) -> Forecast | None:
        return self.forecast if self.model == REGRESSION else self.reference

    def overview(self) -> Section:
        """一、未来几周的预测: notes, the statement when seasonal naive won, the headline,
        the chart and the weekly totals."""
        statement = (
            naive_statement(self.forecast.backtest, folds=self.folds, note=self.forecast.note)
            if self.model == NAIVE
            else None
        )
        fewer = (
            f"历史只够做 {self.folds} 次回测（参数 folds 为 {self.folds_asked}）。"
            if self.folds < self.folds_asked
            else None
        )
        return section(
            self.span.note,
            history_text(
                self.daily,
                asked_days=self.asked_days,
                first_show=self.first_show,
                first_asked=self.span.first,
            ),
            fewer,
            statement,
            overview_text(
                self.forecast, self.plan_, series=self.series, missing_events=self.missing_events
            ),
            self.chart(),
            week_table(self.series).render(weekly_rows(self.forecast.frame, self.plan_.frame)),
        )

    def chart(self) -> alt.LayerChart:
        return chart(
            self.daily,
            self.forecast.frame,
            self.peaks,
            series=self.series,
            model_label=self.forecast.label,
        )

    def backtest(self) -> Section:
        """二、预测准不准: the backtest against seasonal naive, in words and two tables."""
        bt = self.forecast.backtest
        if bt is None:
            return section("没有做回测。")
        rows = bt.summary.with_columns(
            pl.col("mae")
            .map_elements(lambda v: _amount(self.series, v), return_dtype=pl.String)
            .alias("mae_text")
        )
        steps = step_rows(bt, self.series)
        return section(
            backtest_text(bt, chosen=self.model, series=self.series, levels=self.forecast.levels),
            BACKTEST_TABLE.render(rows),
            _table(steps, STEP_TABLE_CAPTION),
        )

    def plan(self) -> Section:
        """三、计划改变了什么: the what-ifs of the plan."""
        return section(
            plan_text(
                self.whatifs,
                series=self.series,
                chosen=self.model,
                spend_effect=self._spend_effect(),
                reason=self.unfit,
            ),
            WHATIF_TABLE.render(
                self.whatifs.with_columns(
                    pl.col("total")
                    .map_elements(lambda v: _amount(self.series, v), return_dtype=pl.String)
                    .alias("total_text")
                )
            )
            if self.whatifs.height
            else None,
        )

    def _spend_effect(self) -> str | None:
        reg = self._regression()
        if reg is None:
            return None
        rows = reg.effects.filter((pl.col("term") == "spend") & (pl.col("transform") == "log"))
        if not rows.height:
            return None
        r = rows.row(0, named=True)
        step = 1 + SPEND_STEP
        return (
            f"按投放弹性 {r['coef']:.2f}（95% 区间 {r['lo']:.2f} 至 {r['hi']:.2f}），"
            f"投放多 {format_percent(SPEND_STEP, 0)} 使每个开播日的{SERIES[self.series]} "
            f"{_signed(step ** r['coef'] - 1)}（95% 区间 {_signed(step ** r['lo'] - 1)} 至 "
            f"{_signed(step ** r['hi'] - 1)}）。"
        )

    def effects(self) -> Section:
        """四、节日、投放与场次的影响: the lifts with 95 % intervals."""
        reg = self._regression()
        effects = reg.effects if reg is not None else pl.DataFrame()
        if effects.height == 0:
            return section("没有可估计的影响（历史太短，或所用模型不估计影响）。")
        return section(
            effects_text(effects, series=self.series, chosen=self.model),
            EFFECT_TABLE.render(effect_rows(effects)),
        )


def _table(frame: pl.DataFrame, caption: str) -> HtmlTable:
    from livekit.charts.tables import table

    return table(frame, caption=caption)


# ---- building ------------------------------------------------------------------------------------
def _check_int(name: str, value: object) -> int:
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LivekitError(f"{name} 须为 {low} 到 {high} 之间的整数，收到 {value!r}")
    return value


def _check_series(series: object) -> str:
    if not isinstance(series, str) or series not in SERIES:
        valid = "、".join(f"{k}（{v}）" for k, v in SERIES.items())
        raise LivekitError(f"series 只能是 {valid}，收到 {series!r}")
    return series


def _rooms_history(kit: Kit, first: date, last: date) -> Period:
    """The rooms of ``first .. last`` made ready. A sandbox kit syncs the ``rooms`` dataset
    alone first (a plain prepare would also fetch every other dataset of two years)."""
    if kit.source == "sandbox":
        cov = kit.coverage(first, last, datasets=("rooms",))
        todo = (*cov.missing.get("rooms", ()), *cov.stale.get("rooms", ()))
        if todo:
            kit.sync(min(todo), max(todo), datasets=("rooms",), progress=False)
    return period(kit, first, last, datasets=("rooms",))


def _folds_that_fit(days: int, horizon: int, asked: int) -> int:
    """How many backtest folds ``days`` of history hold (at most ``asked``)."""
    return min(asked, (days - max(MIN_TRAIN, horizon)) // horizon)


def _whatifs(
    daily: pl.DataFrame,
    plan: Plan,
    base: Forecast,
    *,
    series: str,
    calendar: pl.DataFrame,
    typical: pl.DataFrame,
) -> pl.DataFrame:
    """The log-linear model's total over the horizon for each change of the plan."""
    from livekit.analysis.forecast import forecast

    def total(future: pl.DataFrame) -> float:
        fc = forecast(
            daily,
            value=series,
            horizon=future.height,
            regressors=("shows", "spend"),
            future=future,
            events=calendar,
            model=REGRESSION,
        )
        return float(fc.frame["mean"].sum())

    planned = plan.frame
    base_total = float(base.frame["mean"].sum())
    scenarios: list[tuple[str, pl.DataFrame]] = []
    if not plan.typical_only:
        scenarios.append((f"按近 {TYPICAL_WEEKS} 周的常态（不按参数的计划）", typical))
    scenarios.append(
        (
            f"投放多 {format_percent(SPEND_STEP, 0)}",
            planned.with_columns(pl.col("spend") * (1 + SPEND_STEP)),
        )
    )
    fewer = planned.with_columns((pl.col("shows") - 1).clip(lower_bound=0))
    fewer = fewer.with_columns(
        pl.when(pl.col("shows") == 0).then(0.0).otherwise(pl.col("spend")).alias("spend")
    )
    scenarios.append(("每天少播 1 场（投放不变，停播的日子不投）", fewer))
    rows = [
        {
            "scenario": PLANNED,
            "shows": float(planned["shows"].sum()),
            "spend": float(planned["spend"].sum()),
            "total": base_total,
            "change": 0.0,
            "share": 0.0,
        }
    ]
    for name, future in scenarios:
        value = total(future)
        rows.append(
            {
                "scenario": name,
                "shows": float(future["shows"].sum()),
                "spend": float(future["spend"].sum()),
                "total": value,
                "change": value - base_total,
                "share": (value - base_total) / base_total if base_total else math.nan,
            }
        )
    return pl.DataFrame(rows)


def build(
    kit: Kit,
    *,
    series: str = "gmv",
    history_days: int = 730,
    horizon: int = 28,
    planned_shows: float | Mapping[str, float] | None = None,
    planned_spend: float | Mapping[str, float] | None = None,
    extra_events: Iterable[Mapping[str, object]] = (),
    folds: int = 6,
    today: date | str | None = None,
) -> ForecastPage:
    """Forecast ``series`` (``gmv`` or ``orders``) for the ``horizon`` days from ``today``
    (default: today, or the report's date), from the ``rooms`` of the ``history_days`` days
    before it on ``kit`` (a sandbox kit syncs them first).

    ``planned_shows``/``planned_spend``: None → each day the median of its weekday over the
    last 8 weeks; a number → every day; ``{default: x, "YYYY-MM-DD": y}`` → per day.
    ``extra_events``: the shop's own events (:func:`livekit.analysis.events.events_frame`).
    ``folds``: backtest origins (fewer when the history is too short; the page says so).

    Every parameter is checked before any data is read: a mistake raises
    :class:`LivekitError` with one Chinese line.
    """
    from livekit.analysis.events import events_frame
    from livekit.analysis.forecast import daily_sales, forecast
    from livekit.charts.render import setup
    from livekit.dates import resolve_day
    from livekit.dates import today as today_

    series = _check_series(series)
    history_days = _check_int("history_days", history_days)
    horizon = _check_int("horizon", horizon)
    folds = _check_int("folds", folds)
    start = today_() if today is None else resolve_day(today, name="today")
    ahead = [start + timedelta(days=i) for i in range(horizon)]
    shows_set = planned_values(planned_shows, "planned_shows", ahead, whole=True)
    spend_set = planned_values(planned_spend, "planned_spend", ahead)
    given: object = extra_events  # from YAML: anything; a text or one mapping is a mistake
    if isinstance(given, str | Mapping) or not isinstance(given, Iterable):
        raise LivekitError(
            f"extra_events 须为活动列表（每项含 event、date，可加 label、before、after），收到 {given!r}"
        )
    first_asked = start - timedelta(days=history_days)
    calendar = events_frame(first_asked, ahead[-1], extra=list(given))
    last = start - timedelta(days=1)

    span = _rooms_history(kit, first_asked, last)
    every = daily_sales(kit.load("rooms", first_asked, last), first_asked, last)
    shown = every.filter(pl.col("shows") > 0)
    first_show = shown["date"].min() if shown.height else None
    if first_show is None:
        raise LivekitError(
            f"{first_asked} 至 {last} 没有任何直播场次：请先同步店铺数据（livekit sync），"
            "或加长 history_days。"
        )
    assert isinstance(first_show, date)
    daily = every.filter(pl.col("date") >= first_show)
    used = _folds_that_fit(daily.height, horizon, folds)
    if used < 1:
        raise LivekitError(
            f"历史只有 {daily.height} 天（{first_show} 起）：预测 {horizon} 天并回测至少需要 "
            f"{max(MIN_TRAIN, horizon) + horizon} 天；请缩短 horizon 或等历史更长。"
        )
    plan = _plan(daily, ahead, shows_set, spend_set)
    typical = typical_plan(daily, ahead)
    future = plan.frame
    fit = partial(
        forecast,
        daily,
        value=series,
        horizon=horizon,
        regressors=("shows", "spend"),
        future=future,
        events=calendar,
    )
    fc = fit(folds=used)
    reference, unfit = None, None
    if fc.model != REGRESSION:
        try:  # the what-ifs and effects, for reference, when the regression lost
            reference = fit(model=REGRESSION)
        except LivekitError as exc:  # it cannot be fitted at all (the backtest said so too)
            unfit = str(exc)
    base = fc if fc.model == REGRESSION else reference
    whatifs = (
        _whatifs(daily, plan, base, series=series, calendar=calendar, typical=typical)
        if base is not None
        else pl.DataFrame()
    )
    drawn_from = max(daily["date"].min(), start - timedelta(days=RECENT_DAYS))  # type: ignore[type-var]
    peaks = calendar.filter(pl.col("date").is_between(drawn_from, ahead[-1])).select(
        "date", pl.col("label").alias("name")
    )
    modelled = base if fc.model == REGRESSION else None  # seasonal naive models no festival
    estimated = (
        set(modelled.effects.filter(pl.col("kind") == "event")["term"].to_list())
        if modelled is not None
        else set()
    )
    in_horizon = calendar.filter(
        (pl.col("start") <= ahead[-1]) & (pl.col("end") >= ahead[0])
    ).unique("event", maintain_order=True)
    missing = tuple(
        str(r["label"])
        for r in in_horizon.iter_rows(named=True)
        if not any(t.startswith(f"{r['event']}_") for t in estimated)
    )
    setup()  # the theme, and charts drawn offline as inline SVG
    return ForecastPage(
        span=span,
        series=series,
        daily=daily,
        asked_days=history_days,
        first_show=first_show,
        forecast=fc,
        reference=reference,
        plan_=plan,
        whatifs=whatifs,
        peaks=peaks,
        missing_events=missing,
        folds=used,
        folds_asked=folds,
        unfit=unfit,
    )
