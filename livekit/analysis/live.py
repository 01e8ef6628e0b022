"""After the show: minute curves from the monitor's snapshots, and the alerts placed on them.

``live_snapshots`` holds the cumulative counters of every room at every poll. A minute curve
takes the last snapshot in each whole minute of the show and differences it, so a curve is
"new viewers (orders, GMV …) during that minute"; when polls were further apart than a minute
the increase is spread evenly over the minutes in between (never invented, only divided).
Rates over a minute are too noisy to read, so the rate curves are over a rolling window
(``rate_window`` minutes) of the same increases, in percent like the platforms show them.
"""

from __future__ import annotations

import json

import polars as pl

COUNTERS = {
    "new_viewers": "total_live_watch_cnt",
    "comments": "total_live_comment_cnt",
    "clicks": "live_click_product_count_alias",
    "orders": "live_pay_order_count_alias",
    "gmv": "live_pay_order_gmv_alias",
}
CURVE_LABELS = {
    "new_viewers": "新进观众（人次/分钟）",
    "comments": "评论（条/分钟）",
    "clicks": "商品点击（次/分钟）",
    "orders": "成交订单（单/分钟）",
    "gmv": "成交金额（元/分钟）",
    "click_rate": "商品点击率（%）",
    "conversion_rate": "点击-成交率（%）",
}
STATE_LABELS = {"firing": "触发", "resolved": "恢复", "pending": "待定"}
SEVERITY_LABELS = {"critical": "严重", "warning": "警告", "info": "提示"}


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
        .then(100 * rolling("clicks") / rolling("new_viewers"))
        .alias("click_rate"),
        pl.when(rolling("clicks") > 0)
        .then(100 * rolling("orders") / rolling("clicks"))
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
    stamp = alerts.schema.get("changed_at") or pl.Datetime("us", "Asia/Shanghai")
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
