"""The live review (直播复盘) report: one day's shows minute by minute, and the alerts on them.

::

    import livekit
    from livekit.pages import live_review

    page = live_review.build(livekit.open("sandbox"), day="2_days_ago")
    page.overview()   # what each show did and which alerts fired; one row per show
    page.curves()     # one chart per show: new viewers per minute, alerts as red bands
    page.rates()      # one chart per show: the live click and conversion rates
    page.alerts()     # every alert episode in a table

The numbers come from :func:`livekit.analysis.live.live_review` (run once in :func:`build`);
this module only words, labels, tables and draws them. Room titles, rule names and alert
messages (which quote product titles) are upstream text: they enter the Markdown only through
:func:`livekit.text.escape_markdown`, tables escape every cell (:func:`livekit.charts.table`),
and chart titles and labels are plain text (:func:`livekit.text.plain_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

import livekit.charts as charts
from livekit.analysis import live
from livekit.analysis.rooms import room_ids
from livekit.charts._frames import chartable, require
from livekit.charts.style import ACCENT, HEIGHT, WIDTH
from livekit.charts.tables import Format
from livekit.dates import resolve_day
from livekit.pages._page import Period, Section, period, section
from livekit.text import escape_markdown, plain_text
from livekit.vocab.errors import LivekitError
from livekit.vocab.labels import SEVERITY_LABELS
from livekit.vocab.metrics import metric
from livekit.vocab.units import format_money

if TYPE_CHECKING:
    import altair as alt

    from livekit.source import Kit

__all__ = [
    "ALERT_TABLE",
    "CURVE_LABELS",
    "DATASETS",
    "OUTCOME_LABELS",
    "SUMMARY_FORMATS",
    "SUMMARY_LABELS",
    "SUMMARY_TABLE",
    "LiveReviewPage",
    "alert_rows",
    "build",
    "live_review_chart",
    "review_markdown",
]

DATASETS = ("live_snapshots", "alerts")  # what the review reads (the monitor writes them)

# The curves' labels: the live metrics of the one registry; flows carry their unit.
CURVE_LABELS: dict[str, str] = {
    curve: (m.label if m.is_rate else f"{m.label}（{m.unit}）")
    for curve, m in ((c, metric(name, "live")) for c, name in live.CURVE_METRICS.items())
}
# By the live metric's name, as :func:`livekit.analysis.live.rate_curves` names them.
RATE_LABELS: dict[str, str] = {
    live.CURVE_METRICS[curve]: CURVE_LABELS[curve] for curve in live.RATE_CURVES
}

# The table of shows (:func:`livekit.analysis.live.show_summary`). The whole-show rates are
# the room metrics of the registry (not the rolling live ones).
SUMMARY_LABELS: dict[str, str] = {
    "room_title": "直播间",
    "aweme_name": "抖音号",
    "start": "开播",
    "minutes": "时长（分钟）",
    "new_viewers": "新进观众",
    "orders": "成交订单",
    "gmv": "成交金额",
    "watch_click_rate": metric("watch_click_rate", "room").label,
    "click_conversion_rate": metric("click_conversion_rate", "room").label,
}
SUMMARY_FORMATS: dict[str, Format] = {
    "start": lambda t: f"{t:%m-%d %H:%M}",
    "new_viewers": "{:,.0f}",
    "orders": "{:,.0f}",
    "gmv": "money",
    "watch_click_rate": "percent",
    "click_conversion_rate": "percent",
}
SUMMARY_TABLE = charts.TableSpec(
    tuple(charts.Column(c, h, SUMMARY_FORMATS.get(c)) for c, h in SUMMARY_LABELS.items())
)

# How an alert episode ended (:func:`livekit.analysis.live.alert_timeline`'s ``outcome``);
# a resolved one shows its time instead.
OUTCOME_LABELS: dict[str, str] = {"open": "未恢复", "off_air": "直播结束"}

# The table of alert episodes (the frame of :func:`alert_rows`).
ALERT_TABLE = charts.TableSpec(
    (
        charts.Column("fired_at", "触发时间", lambda t: f"{t:%H:%M}"),
        charts.Column("fired_minute", "开播第几分钟"),
        charts.Column("severity", "级别", lambda s: SEVERITY_LABELS.get(s, s)),
        charts.Column("rule", "规则"),
        charts.Column("where", "直播间 / 商品"),
        charts.Column("minutes", "持续（分钟）", "{:,.0f}"),
        charts.Column("ended", "恢复"),
        charts.Column("content", "告警内容"),
    )
)


# ---- the page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveReviewPage:
    """The live review of one day, analysed once (:func:`build`); each method is a section."""

    day: date
    period: Period
    review: live.LiveReview

    def overview(self) -> Section:
        """The day in words (each show, each alert), and one row per show."""
        text = f"复盘日期：**{self.day:%Y-%m-%d}**\n\n" + review_markdown(self.review)
        table = (
            None if self.review.shows.is_empty() else charts.table(self.review.shows, SUMMARY_TABLE)
        )
        return section(self.period.note, text, table)

    def curves(self) -> Section:
        """One chart per show: new viewers per minute, each alert a red band."""
        if self.review.shows.is_empty():
            return section("这一天没有直播快照，没有曲线可画。")
        parts: list[Any] = []
        for show in self.review.shows.iter_rows(named=True):
            episodes = self.review.room_episodes(show["room_id"])
            parts.append(
                live_review_chart(
                    self.review.room_curves(show["room_id"]),
                    episodes,
                    y="new_viewers",
                    title=f"{show['room_title']}：每分钟新进观众",
                    subtitle=f"{episodes.height} 条告警" if episodes.height else "本场没有告警",
                    y_title=CURVE_LABELS["new_viewers"],
                )
            )
        return section(*parts)

    def rates(self) -> Section:
        """One chart per show: the live click rate and click-to-order rate over the window."""
        rates = live.rate_curves(self.review.curves).with_columns(
            pl.col("metric").replace_strict(RATE_LABELS)
        )
        if rates.is_empty():
            return section("这一天没有可算的转化率（没有直播快照，或没有进场和点击）。")
        parts: list[Any] = []
        for show in self.review.shows.iter_rows(named=True):
            frame = rates.filter(pl.col("room_id") == show["room_id"])
            if frame.is_empty():
                continue
            parts.append(
                charts.trend_chart(
                    frame,
                    "time",
                    "rate",
                    "metric",
                    title=f"{show['room_title']}：转化率（滚动 {self.review.rate_window} 分钟）",
                    x_title="时间",
                    y_title="转化率",
                    y_format=".1%",
                    color_title="指标",
                )
            )
        return section(*parts)

    def alerts(self) -> Section:
        """Every alert episode of the day: when, where, how bad, how it ended, what it said."""
        if self.review.episodes.is_empty():
            return section("这一天没有触发告警。")
        return section(charts.table(alert_rows(self.review.episodes), ALERT_TABLE))


def build(
    kit: Kit,
    *,
    day: date | str = "2_days_ago",
    rooms: Sequence[int | str] = (),
    rate_window: int = 10,
) -> LiveReviewPage:
    """The live review of ``day`` on ``kit`` (the notebook's parameters).

    The day is made ready first (:func:`livekit.pages.period`: a sandbox kit replays its
    shows through the monitor when they are missing), then read and analysed once.
    """
    if isinstance(rate_window, bool) or not isinstance(rate_window, int) or rate_window < 1:
        raise LivekitError(f"rate_window 须为至少 1 的整数（分钟），收到 {rate_window!r}")
    ids = room_ids(rooms)
    the_day = resolve_day(day, name="day")
    charts.setup()
    ready = period(kit, the_day, the_day, datasets=DATASETS)
    review = live.live_review(
        kit.load("live_snapshots", the_day, the_day),
        kit.load("alerts", the_day, the_day),
        rate_window=rate_window,
        rooms=ids,
    )
    return LiveReviewPage(the_day, ready, review)


# ---- prose -------------------------------------------------------------------------------------


def review_markdown(review: live.LiveReview) -> str:
    """The review in Chinese Markdown: what each show did, which alerts fired, when, for how
    long, why (upstream text escaped)."""
    shows, episodes = review.shows, review.episodes
    if shows.is_empty():
        return (
            "这一天没有直播快照：监控（`livekit monitor`）没有在开播时运行，或这一天没有开播。"
            "开播时运行监控，直播结束后这里就会有逐分钟曲线和告警回顾。"
        )
    n_alerts = episodes.height
    lines = [
        f"这一天监控到 **{shows.height}** 场直播，共触发 **{n_alerts}** 条告警"
        + ("。" if n_alerts else "：各项实时指标都在规则允许的范围内。")
    ]
    for show in shows.iter_rows(named=True):
        lines.append("")
        lines.append(
            f"**{escape_markdown(show['room_title'])}**"
            f"（{show['start']:%H:%M} 开播，{show['minutes']} 分钟）："
            f"新进观众 {show['new_viewers']:,.0f} 人次，成交 {show['orders']:,.0f} 单、"
            f"{format_money(show['gmv'], compact=True)}。"
        )
        mine = review.room_episodes(show["room_id"])
        if mine.is_empty():
            lines.append("- 本场没有告警。")
            continue
        for a in mine.iter_rows(named=True):
            lines.append(
                f"- 第 {a['fired_minute']} 分钟（{a['fired_at']:%H:%M}）"
                f"【{SEVERITY_LABELS.get(a['severity'], a['severity'])}】"
                f"{escape_markdown(a['rule'])}：{escape_markdown(first_line(a['message']))}；"
                f"{_how_it_ended(a)}。"
            )
    if n_alerts:
        lines.append("")
        lines.append(
            "下图中的红色区域是告警从触发到恢复的时段。复盘时请对照当时的讲解安排和投放记录，"
            "找出原因：是投放计划停了、讲品节奏出了问题，还是商品缺货。"
        )
    return "\n".join(lines)


def _how_it_ended(episode: dict[str, Any]) -> str:
    if episode["outcome"] == "open":
        return "直到监控结束仍未恢复"
    if episode["outcome"] == "off_air":
        return f"持续到直播结束（约 {episode['minutes']:.0f} 分钟）"
    return f"约 {episode['minutes']:.0f} 分钟后恢复（第 {episode['resolved_minute']} 分钟）"


def first_line(text: object) -> str:
    """The line of an alert message that says what happened: the first line that is not the
    notification's 【…】 header (the whole first line when every line is one)."""
    body = str(text or "").strip()
    for line in body.splitlines():
        line = line.strip()
        if line and not line.startswith("【"):
            return line
    return body.splitlines()[0] if body else ""


# ---- tables ------------------------------------------------------------------------------------


def alert_rows(episodes: pl.DataFrame) -> pl.DataFrame:
    """The episodes (:func:`livekit.analysis.live.alert_timeline`) with the cells
    :data:`ALERT_TABLE` shows: ``where`` (room, and product for product alerts), ``ended``
    (the time it resolved, or how it ended) and ``content`` (the message's first line). Cells
    stay raw text: :func:`livekit.charts.table` escapes them."""
    where = pl.coalesce(pl.col("room_title"), pl.col("room_id").cast(pl.String))
    return episodes.with_columns(
        pl.when(pl.col("product_title").is_not_null() & (pl.col("product_title") != ""))
        .then(pl.concat_str(where, pl.lit(" · "), pl.col("product_title")))
        .otherwise(where)
        .alias("where"),
        pl.when(pl.col("outcome") == "resolved")
        .then(pl.col("resolved_at").dt.strftime("%H:%M"))
        .otherwise(pl.col("outcome").replace_strict(OUTCOME_LABELS, default=None))
        .alias("ended"),
        pl.col("message").map_elements(first_line, return_dtype=pl.String).alias("content"),
    )


# ---- charts ------------------------------------------------------------------------------------


def live_review_chart(
    curves: pl.DataFrame,
    alerts: pl.DataFrame,
    y: str = "new_viewers",
    *,
    title: str,
    subtitle: str | None = None,
    y_title: str,
) -> alt.LayerChart:
    """One show's minute curve of ``y`` with its alerts marked on it.

    ``curves`` is one room's rows of :func:`livekit.analysis.live.minute_curves`; ``alerts``
    that room's rows of :func:`livekit.analysis.live.alert_timeline`. Each alert is a shaded
    band from firing to resolution (to the end of the curve while still open), with a rule and
    the rule's name where it fired.
    """
    import altair as alt  # charts load altair only when they draw

    from livekit.charts._marks import layered, title_params

    require(curves, ["time", y], "live_review_chart")
    line_data = chartable(curves.select("time", y))
    end = curves.get_column("time").max()
    band = chartable(
        alerts.select(
            pl.col("rule").map_elements(plain_text, return_dtype=pl.String),
            pl.col("fired_at").alias("start"),
            pl.col("resolved_at").fill_null(end).alias("end"),
        )
    )
    line = (
        alt.Chart(line_data)
        .mark_line()
        .encode(
            x=alt.X("time:T", axis=alt.Axis(title="时间", format="%H:%M")),
            y=alt.Y(f"{y}:Q", axis=alt.Axis(title=y_title)),
            color=alt.value(ACCENT),
            tooltip=[
                alt.Tooltip("time:T", title="时间", format="%H:%M"),
                alt.Tooltip(f"{y}:Q", title=y_title, format=",.1f"),
            ],
        )
    )
    layers: list[alt.Chart] = []
    if band.height:
        alert_red = "#d62728"
        layers.append(
            alt.Chart(band).mark_rect(opacity=0.18, color=alert_red).encode(x="start:T", x2="end:T")
        )
        layers.append(
            alt.Chart(band).mark_rule(color=alert_red, strokeDash=[4, 3]).encode(x="start:T")
        )
        layers.append(
            alt.Chart(band)
            .mark_text(align="left", baseline="top", dx=3, dy=3, color=alert_red, fontSize=11)
            .encode(x="start:T", y=alt.value(0), text="rule:N")
        )
    layers.append(line)
    return layered(*layers).properties(
        width=WIDTH, height=HEIGHT, title=title_params(title, subtitle)
    )
