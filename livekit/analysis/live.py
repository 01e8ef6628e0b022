"""After the show: minute curves from the monitor's snapshots, and the alert episodes on them.

``live_snapshots`` holds the cumulative counters of every room at every poll. A minute curve
takes the last snapshot in each whole minute of the show and differences it, so a curve is
"new viewers (orders, GMV …) during that minute"; when polls were further apart than a minute
the increase is spread evenly over the minutes in between (never invented, only divided).
Rates over a minute are too noisy to read, so the rate curves are over a rolling window
(``rate_window`` minutes) of the same increases: the monitor's live rates
(:mod:`livekit.vocab.metrics` ``click_rate`` and ``conversion_rate``, family ``live``), as
fractions (0.035 is 3.5%) like every rate in a frame.

Pure: frames and a frozen dataclass with English column names. Titles, rule names and alert
messages are kept as stored (upstream text); the review's prose, labels and tables are
:mod:`livekit.pages.live_review`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from livekit.vocab.tz import CHINA_TZ_NAME

__all__ = [
    "COUNTERS",
    "CURVE_METRICS",
    "OFF_AIR_NOTE",
    "RATE_CURVES",
    "LiveReview",
    "alert_timeline",
    "live_review",
    "minute_curves",
    "rate_curves",
    "show_summary",
]

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
RATE_CURVES = ("click_rate", "conversion_rate")
# The note the monitor stores when an alert ends because its room went off air
# (livekit.monitor's NOTE_OFF_AIR: stored data, matched here as a value).
OFF_AIR_NOTE = "直播已结束"


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
    ``severity`` (``critical`` / ``warning`` / ``info``), ``room_id``, ``product_id``,
    ``room_title`` and ``product_title`` (from the alert's labels; product alerts only),
    ``fired_at``, ``fired_minute``, ``resolved_at``, ``resolved_minute`` (None while still
    open), ``minutes`` (firing to resolution), ``value`` (when it fired), ``threshold``,
    ``message`` (the firing notification's text, as stored), ``note`` (as stored) and
    ``outcome``: ``"resolved"``, ``"off_air"`` (ended with the show) or ``"open"``.
    """
    stamp = alerts.schema.get("changed_at") or pl.Datetime("us", CHINA_TZ_NAME)
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "alert_id": pl.String,
        "rule": pl.String,
        "metric": pl.String,
        "severity": pl.String,
        "room_id": pl.Int64,
        "product_id": pl.Int64,
        "room_title": pl.String,
        "product_title": pl.String,
        "fired_at": stamp,
        "fired_minute": pl.Int64,
        "resolved_at": stamp,
        "resolved_minute": pl.Int64,
        "minutes": pl.Float64,
        "value": pl.Float64,
        "threshold": pl.Float64,
        "message": pl.String,
        "note": pl.String,
        "outcome": pl.String,
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
    fired_at = fired["changed_at"]
    resolved_at = resolved["changed_at"] if resolved else None
    minutes = (
        (resolved_at - fired_at).total_seconds() / 60  # type: ignore[operator]
        if resolved_at is not None
        else None
    )
    note = str((resolved or {}).get("note") or "")
    if resolved is None:
        outcome = "open"
    elif note == OFF_AIR_NOTE:
        outcome = "off_air"
    else:
        outcome = "resolved"
    return (
        fired["alert_id"],
        fired["rule"],
        fired.get("metric"),
        str(fired["severity"]),
        fired["room_id"],
        fired.get("product_id"),
        labels.get("room_title"),
        labels.get("product_title"),
        fired_at,
        fired.get("minute_of_show"),
        resolved_at,
        resolved.get("minute_of_show") if resolved else None,
        minutes,
        fired.get("value"),
        fired.get("threshold"),
        fired.get("message"),
        note,
        outcome,
    )


def show_summary(curves: pl.DataFrame) -> pl.DataFrame:
    """One row per show: when it was on air and its totals.

    Columns: ``room_id``, ``room_title``, ``aweme_name``, ``start`` (the first minute of
    the show, a datetime), ``minutes``, ``new_viewers``, ``orders``, ``gmv`` (yuan), and the
    rates over the whole show as fractions, the room metrics of the registry (not the
    rolling live ones): ``watch_click_rate`` (Σ clicks / Σ new viewers) and
    ``click_conversion_rate`` (Σ orders / Σ clicks); null where the denominator is 0.
    """
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "room_id": pl.Int64,
        "room_title": pl.String,
        "aweme_name": pl.String,
        "start": curves.schema.get("time") or pl.Datetime("us", CHINA_TZ_NAME),
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
            pl.col("time").min().alias("start"),
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


def rate_curves(curves: pl.DataFrame) -> pl.DataFrame:
    """The rate curves in long form: ``room_id``, ``room_title``, ``time``, ``metric`` (the
    live metric's name, :data:`CURVE_METRICS`) and ``rate`` (a fraction); minutes where a
    rate is undefined are left out."""
    return (
        curves.unpivot(
            index=["room_id", "room_title", "time"],
            on=list(RATE_CURVES),
            variable_name="metric",
            value_name="rate",
        )
        .drop_nulls("rate")
        .with_columns(pl.col("metric").replace_strict(CURVE_METRICS))
    )


@dataclass(frozen=True)
class LiveReview:
    """One day's review: the minute curves, the alert episodes and one row per show.

    ``curves`` from :func:`minute_curves`, ``episodes`` from :func:`alert_timeline`,
    ``shows`` from :func:`show_summary`; ``rate_window`` the rolling window of the rates.
    """

    curves: pl.DataFrame
    episodes: pl.DataFrame
    shows: pl.DataFrame
    rate_window: int

    def room_episodes(self, room_id: int) -> pl.DataFrame:
        """The episodes of one room, in the order they fired."""
        return self.episodes.filter(pl.col("room_id") == room_id)

    def room_curves(self, room_id: int) -> pl.DataFrame:
        """The minute curves of one room."""
        return self.curves.filter(pl.col("room_id") == room_id)


def live_review(
    snapshots: pl.DataFrame,
    alerts: pl.DataFrame,
    *,
    rate_window: int = 10,
    rooms: Iterable[int] = (),
) -> LiveReview:
    """The review of the ``live_snapshots`` and ``alerts`` of a day, of ``rooms`` only when
    given (room ids; empty: every show)."""
    only = list(rooms)
    if only:
        snapshots = snapshots.filter(pl.col("room_id").is_in(only))
        alerts = alerts.filter(pl.col("room_id").is_in(only))
    curves = minute_curves(snapshots, rate_window=rate_window)
    return LiveReview(curves, alert_timeline(alerts), show_summary(curves), rate_window)
