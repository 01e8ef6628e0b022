"""After the show: minute curves from the monitor's snapshots, and the alerts placed on them.

``live_snapshots`` holds the cumulative counters of every room at every poll. A minute curve
takes the last snapshot in each whole minute of the show and differences it, so a curve is
"new viewers (orders, GMV …) during that minute"; when polls were further apart than a minute
the increase is spread evenly over the minutes in between (never invented, only divided).
Rates over a minute are too noisy to read, so the rate curves are over a rolling window
(``rate_window`` minutes) of the same increases: the monitor's live rates
(:mod:`livekit.vocab.metrics` ``click_rate`` and ``conversion_rate``, family ``live``), as
fractions (0.035 is 3.5%) like every rate in a frame.

Room titles, rule names and alert messages (which quote product titles) enter the review's
Markdown only escaped (:func:`livekit.text.escape_markdown`); tables keep raw values, which
:func:`livekit.charts.table` escapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl

from livekit.text import escape_markdown as _md
from livekit.vocab.labels import ALERT_STATE_LABELS, SEVERITY_LABELS
from livekit.vocab.metrics import metric
from livekit.vocab.tz import CHINA_TZ_NAME
from livekit.vocab.units import format_money

COUNTERS = {
    "new_viewers": "total_live_watch_cnt",
    "comments": "total_live_comment_cnt",
    "clicks": "live_click_product_count_alias",
    "orders": "live_pay_order_count_alias",
    "gmv": "live_pay_order_gmv_alias",
}
# Each curve is a live metric of the one registry: the flows per minute, the rates over the
# rolling window.
CURVE_METRICS = {
    "new_viewers": "new_viewers_per_min",
    "comments": "comments_per_min",
    "clicks": "clicks_per_min",
    "orders": "orders_per_min",
    "gmv": "gmv_per_min",
    "click_rate": "click_rate",
    "conversion_rate": "conversion_rate",
}
CURVE_LABELS = {
    curve: (m.label if m.is_rate else f"{m.label}（{m.unit}）")
    for curve, m in ((c, metric(name, "live")) for c, name in CURVE_METRICS.items())
}
STATE_LABELS = ALERT_STATE_LABELS


def minute_curves(snapshots: pl.DataFrame, rate_window: int = 10) -> pl.DataFrame:
    """One row per room and minute of show: flows during that minute and rolling rates.

    ``snapshots`` is the ``live_snapshots`` dataset (any extra columns are ignored). Columns:
    ``room_id``, ``room_title``, ``aweme_name``, ``minute`` (0 = the minute the room went on
    air), ``time`` (that minute's start), the flows of :data:`COUNTERS`, and ``click_rate`` /
    ``conversion_rate`` over the last ``rate_window`` minutes (None while the denominator is 0).
    """
    if rate_window < 1:
        raise ValueError("rate_window must be at least 1 minute")
    needed = {"room_id", "snapshot_time", "start_time", *COUNTERS.values()}
    missing = needed - set(snapshots.columns)
    if missing:
        raise ValueError(f"snapshots lack columns: {', '.join(sorted(missing))}")
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "room_id": pl.Int64,
        "room_title": pl.String,
        "aweme_name": pl.String,
        "minute": pl.Int64,
        "time": snapshots.schema["snapshot_time"],
        **dict.fromkeys(COUNTERS, pl.Float64),
        "click_rate": pl.Float64,
        "conversion_rate": pl.Float64,
    }
    if snapshots.is_empty():
        return pl.DataFrame(schema=schema)
    frames = []
    for (_room,), rows in snapshots.sort("snapshot_time").group_by("room_id", maintain_order=True):
        frames.append(_room_curve(rows, rate_window))
    return pl.concat(frames).select(list(schema)).cast(pl.Schema(schema))


def _room_curve(rows: pl.DataFrame, rate_window: int) -> pl.DataFrame:
    start = rows["start_time"][0]
    minute = ((pl.col("snapshot_time") - pl.lit(start)).dt.total_seconds() // 60).cast(pl.Int64)
    last = (
        rows.with_columns(minute.alias("minute"))
        .filter(pl.col("minute") >= 0)
        .group_by("minute")
        .agg(pl.all().sort_by("snapshot_time").last())
        .sort("minute")
    )
    # counters are zero when the room goes on air: prepend that point (minute -1 = "before")
    zero = {c: 0.0 for c in COUNTERS.values()}
    cum = pl.concat(
        [
            pl.DataFrame({"minute": [-1], **{k: [v] for k, v in zero.items()}}),
            last.select("minute", *[pl.col(c).cast(pl.Float64) for c in COUNTERS.values()]),
        ]
    )
    last_minute = int(last.get_column("minute").max() or 0)  # type: ignore[arg-type]
    full = pl.DataFrame({"minute": range(-1, last_minute + 1)})
    cum = (
        full.join(cum, on="minute", how="left")
        .with_columns(
            [pl.col(c).interpolate() for c in COUNTERS.values()]  # spread a gap evenly
        )
        .sort("minute")
    )
    flows = cum.select(
        pl.col("minute"),
        *[pl.col(c).diff().clip(lower_bound=0).alias(name) for name, c in COUNTERS.items()],
    ).filter(pl.col("minute") >= 0)

    def rolling(col: str) -> pl.Expr:
        return pl.col(col).rolling_sum(rate_window, min_samples=1)

    flows = flows.with_columns(
        pl.when(rolling("new_viewers") > 0)
        .then(rolling("clicks") / rolling("new_viewers"))
        .alias("click_rate"),
        pl.when(rolling("clicks") > 0)
        .then(rolling("orders") / rolling("clicks"))
        .alias("conversion_rate"),
    )
    head = rows.row(-1, named=True)
    return flows.with_columns(
        pl.lit(head["room_id"]).alias("room_id"),
        pl.lit(head.get("room_title")).alias("room_title"),
        pl.lit(head.get("aweme_name")).alias("aweme_name"),
        (pl.lit(start) + pl.duration(minutes=pl.col("minute"))).alias("time"),
    )


def alert_timeline(alerts: pl.DataFrame) -> pl.DataFrame:
    """Each alert episode once: when it fired and resolved, where, how bad, and its message.

    ``alerts`` is the ``alerts`` dataset. Columns: ``alert_id``, ``rule``, ``metric``,
    ``severity`` (and ``severity_label``), ``room_id``, ``product_id``, ``where`` (room title,
    and product title for product alerts), ``fired_at``, ``fired_minute``, ``resolved_at``,
    ``resolved_minute`` (None while still open), ``minutes``, ``value`` (when it fired),
    ``threshold``, ``message`` (the firing notification's text) and ``note`` (e.g. 直播已结束).
    """
    stamp = alerts.schema.get("changed_at") or pl.Datetime("us", CHINA_TZ_NAME)
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "alert_id": pl.String,
        "rule": pl.String,
        "metric": pl.String,
        "severity": pl.String,
        "severity_label": pl.String,
        "room_id": pl.Int64,
        "product_id": pl.Int64,
        "where": pl.String,
        "fired_at": stamp,
        "fired_minute": pl.Int64,
        "resolved_at": stamp,
        "resolved_minute": pl.Int64,
        "minutes": pl.Float64,
        "value": pl.Float64,
        "threshold": pl.Float64,
        "message": pl.String,
        "note": pl.String,
    }
    rows = []
    for (_aid,), group in alerts.sort("changed_at").group_by("alert_id", maintain_order=True):
        fired = None
        for r in group.iter_rows(named=True):
            if r["state"] == "firing":
                fired = r
            elif r["state"] == "resolved" and fired is not None:
                rows.append(_episode(fired, r))
                fired = None
        if fired is not None:
            rows.append(_episode(fired, None))
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema, orient="row").sort("fired_at")


def _episode(fired: dict[str, object], resolved: dict[str, object] | None) -> tuple[object, ...]:
    labels = json.loads(str(fired.get("labels") or "{}"))
    where = str(labels.get("room_title") or fired["room_id"])
    if labels.get("product_title"):
        where += " · " + str(labels["product_title"])
    fired_at = fired["changed_at"]
    resolved_at = resolved["changed_at"] if resolved else None
    minutes = (
        (resolved_at - fired_at).total_seconds() / 60  # type: ignore[operator]
        if resolved_at is not None
        else None
    )
    severity = str(fired["severity"])
    return (
        fired["alert_id"],
        fired["rule"],
        fired.get("metric"),
        severity,
        SEVERITY_LABELS.get(severity, severity),
        fired["room_id"],
        fired.get("product_id"),
        where,
        fired_at,
        fired.get("minute_of_show"),
        resolved_at,
        resolved.get("minute_of_show") if resolved else None,
        minutes,
        fired.get("value"),
        fired.get("threshold"),
        fired.get("message"),
        (resolved or {}).get("note") or "",
    )


# The columns of :func:`show_summary`: their Chinese headers and formats, for a table
# (``charts.table(frame, SUMMARY_LABELS, SUMMARY_FORMATS)``). The whole-show rates are the
# room metrics of the registry (not the rolling live ones).
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
SUMMARY_FORMATS: dict[str, str | Callable[[float | None], str]] = {
    "new_viewers": "{:,.0f}",
    "orders": "{:,.0f}",
    "gmv": format_money,
    "watch_click_rate": "percent",
    "click_conversion_rate": "percent",
}


def show_summary(curves: pl.DataFrame) -> pl.DataFrame:
    """One row per show: when it was on air and its totals.

    Columns (:data:`SUMMARY_LABELS` names them in Chinese): ``room_title``, ``aweme_name``,
    ``start`` (``MM-DD HH:MM``), ``minutes``, ``new_viewers``, ``orders``, ``gmv`` (yuan), and
    the rates over the whole show as fractions: ``watch_click_rate`` (Σ clicks / Σ new
    viewers) and ``click_conversion_rate`` (Σ orders / Σ clicks); null where the denominator
    is 0.
    """
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "room_title": pl.String,
        "aweme_name": pl.String,
        "start": pl.String,
        "minutes": pl.Int64,
        "new_viewers": pl.Float64,
        "orders": pl.Float64,
        "gmv": pl.Float64,
        "watch_click_rate": pl.Float64,
        "click_conversion_rate": pl.Float64,
    }
    if curves.is_empty():
        return pl.DataFrame(schema=schema)

    def ratio(num: str, den: str) -> pl.Expr:
        return pl.when(pl.col(den).sum() > 0).then(pl.col(num).sum() / pl.col(den).sum())

    return (
        curves.group_by("room_id", maintain_order=True)
        .agg(
            pl.col("room_title").first(),
            pl.col("aweme_name").first(),
            pl.col("time").min().dt.strftime("%m-%d %H:%M").alias("start"),
            (pl.col("minute").max() + 1).cast(pl.Int64).alias("minutes"),
            pl.col("new_viewers").sum(),
            pl.col("orders").sum(),
            pl.col("gmv").sum().round(2),
            ratio("clicks", "new_viewers").alias("watch_click_rate"),
            ratio("orders", "clicks").alias("click_conversion_rate"),
        )
        .select(list(schema))
        .cast(pl.Schema(schema))
    )


def review_markdown(curves: pl.DataFrame, timeline: pl.DataFrame) -> str:
    """The review in Chinese: what each show did, which alerts fired, when, for how long, why.

    ``curves`` from :func:`minute_curves`, ``timeline`` from :func:`alert_timeline`.
    """
    if curves.is_empty():
        return (
            "这一天没有直播快照：监控（`livekit monitor`）没有在开播时运行，或这一天没有开播。"
            "开播时运行监控，直播结束后这里就会有逐分钟曲线和告警回顾。"
        )
    lines: list[str] = []
    shows = curves.group_by("room_id", maintain_order=True).agg(
        pl.col("room_title").first(),
        pl.col("time").min().alias("start"),
        (pl.col("minute").max() + 1).alias("minutes"),
        pl.col("new_viewers").sum(),
        pl.col("orders").sum(),
        pl.col("gmv").sum(),
    )
    n_alerts = timeline.height
    lines.append(
        f"这一天监控到 **{shows.height}** 场直播，共触发 **{n_alerts}** 条告警"
        + ("。" if n_alerts else "：各项实时指标都在规则允许的范围内。")
    )
    for show in shows.iter_rows(named=True):
        lines.append("")
        lines.append(
            f"**{_md(show['room_title'])}**（{show['start']:%H:%M} 开播，{show['minutes']} 分钟）："
            f"新进观众 {show['new_viewers']:,.0f} 人次，成交 {show['orders']:,.0f} 单、"
            f"{format_money(show['gmv'], compact=True)}。"
        )
        mine = timeline.filter(pl.col("room_id") == show["room_id"])
        if mine.is_empty():
            lines.append("- 本场没有告警。")
            continue
        for a in mine.iter_rows(named=True):
            if a["resolved_at"] is None:
                span = "直到监控结束仍未恢复"
            elif a["note"] == "直播已结束":
                span = f"持续到直播结束（约 {a['minutes']:.0f} 分钟）"
            else:
                span = f"约 {a['minutes']:.0f} 分钟后恢复（第 {a['resolved_minute']} 分钟）"
            lines.append(
                f"- 第 {a['fired_minute']} 分钟（{a['fired_at']:%H:%M}）【{a['severity_label']}】"
                f"{_md(a['rule'])}：{_md(_first_line(a['message']))}；{span}。"
            )
    if n_alerts:
        lines.append("")
        lines.append(
            "下图中的红色区域是告警从触发到恢复的时段。复盘时请对照当时的讲解安排和投放记录，"
            "找出原因：是投放计划停了、讲品节奏出了问题，还是商品缺货。"
        )
    return "\n".join(lines)


def _first_line(text: object) -> str:
    body = str(text or "").strip()
    for line in body.splitlines():
        line = line.strip()
        if line and not line.startswith("【"):
            return line
    return body.splitlines()[0] if body else ""


def rate_curves(curves: pl.DataFrame) -> pl.DataFrame:
    """The rate curves in long form for a chart: ``room_title``, ``time``, ``metric`` (its
    Chinese label) and ``rate`` (a fraction); minutes where a rate is undefined are left out."""
    return (
        curves.unpivot(
            index=["room_title", "time"],
            on=["click_rate", "conversion_rate"],
            variable_name="metric",
            value_name="rate",
        )
        .drop_nulls("rate")
        .with_columns(pl.col("metric").replace_strict(CURVE_LABELS))
    )


def alert_table(timeline: pl.DataFrame) -> pl.DataFrame:
    """The alert timeline with Chinese column names and readable cells, for the report."""
    return timeline.select(
        pl.col("fired_at").dt.strftime("%H:%M").alias("触发时间"),
        pl.col("fired_minute").alias("开播第几分钟"),
        pl.col("severity_label").alias("级别"),
        pl.col("rule").alias("规则"),
        pl.col("where").alias("直播间 / 商品"),
        pl.col("minutes").round(0).alias("持续（分钟）"),
        pl.when(pl.col("resolved_at").is_null())
        .then(pl.lit("未恢复"))
        .when(pl.col("note") == "直播已结束")
        .then(pl.lit("直播结束"))
        .otherwise(pl.col("resolved_at").dt.strftime("%H:%M"))
        .alias("恢复"),
        pl.col("message").map_elements(_first_line, return_dtype=pl.String).alias("告警内容"),
    )
