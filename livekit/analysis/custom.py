"""Custom reports: the metrics a merchant picks, by the dimensions they pick.

Rows of the ``rooms`` dataset are grouped by the dimensions; each metric is computed per group
from its registry definition (numerators and denominators summed per group, then divided).
Metrics that need the T+1 report get ``room_analysis`` joined on ``room_id``. Metric names
resolve in the one registry (:mod:`livekit.vocab.metrics`, family ``room``); rates come out
as fractions (0.035), percent exists only when they are formatted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from livekit.analysis.rooms import only_rooms, room_ids
from livekit.vocab.errors import LivekitError
from livekit.vocab.metrics import ROOM_ANALYSIS, ROOMS, Metric, metrics_of, resolve


def _from_day() -> pl.Expr:
    """The China-time day of a room: the ``date`` partition column (= the start day)."""
    return pl.col("date")


DERIVED: dict[str, tuple[str, str, Callable[[], pl.Expr]]] = {
    # name -> (source column, Chinese description, builder)
    "week": ("date", "周（该周周一的日期）", lambda: _from_day().dt.truncate("1w")),
    "weekday": ("date", "星期几（1=周一 … 7=周日）", lambda: _from_day().dt.weekday()),
    "month": ("date", "月（该月 1 日的日期）", lambda: _from_day().dt.truncate("1mo")),
    "hour": ("start_time", "开播小时（0–23，北京时间）", lambda: pl.col("start_time").dt.hour()),
}
# Columns never offered as dimensions: lists, and anything a metric sums.
_METRIC_COLUMNS = frozenset(c for m in metrics_of("room").values() for c in m.columns)
_DIMENSION_TYPES = (pl.String, pl.Date, pl.Datetime, pl.Int64, pl.Int32, pl.Boolean, pl.Categorical)


def dimensions_of(rooms: pl.DataFrame) -> list[str]:
    """The dimensions a report over ``rooms`` can group by: its descriptive columns (ids,
    names, dates, any label column a user added) and the derived ``week``, ``weekday``,
    ``month`` and ``hour`` whose source column is present."""
    plain = [
        name
        for name, dtype in rooms.schema.items()
        if name not in _METRIC_COLUMNS and isinstance(dtype, _DIMENSION_TYPES)
    ]
    derived = [n for n, (src, _, _) in DERIVED.items() if src in rooms.columns and n not in plain]
    return [*plain, *derived]


def _frames(
    frames: Mapping[str, pl.DataFrame] | pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    if isinstance(frames, pl.DataFrame):
        return frames, None
    if ROOMS not in frames:
        given = "、".join(frames) or "（无）"
        raise LivekitError(f"自定义报表需要 rooms（直播场次）数据集；传入的有：{given}")
    return frames[ROOMS], frames.get(ROOM_ANALYSIS)


def chosen_metrics(metrics: Sequence[str] | str) -> list[Metric]:
    """The room metrics named by ``metrics``, in order, each once.

    An empty choice or an unknown name raises :class:`LivekitError` (one Chinese line naming
    every unknown name and listing the valid ones), before anything is read or computed.
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise LivekitError("请至少选择一个指标；可用的指标有：" + "、".join(metrics_of("room")))
    return resolve(dict.fromkeys(names), "room")


@dataclass(frozen=True)
class CustomResult:
    """A custom report computed once: the table by every dimension, the totals, and the
    coarser tables the charts draw.

    ``rows``: :func:`custom_report` by ``dimensions``; ``totals``: one row over every room (rates
    from the summed numerators and denominators, not the mean of the rows); ``by_first``: by the
    first dimension only; ``by_first_two``: by the first two (None with fewer dimensions).
    ``room_count``: distinct rooms taken; ``missing_rooms``: chosen ids without a room in the
    rows given (e.g. not live in the period).
    """

    metrics: tuple[Metric, ...]
    dimensions: tuple[str, ...]
    rows: pl.DataFrame
    totals: pl.DataFrame
    by_first: pl.DataFrame | None
    by_first_two: pl.DataFrame | None
    room_count: int
    rooms: tuple[int, ...] = ()
    missing_rooms: tuple[int, ...] = ()


def custom_summary(
    frames: Mapping[str, pl.DataFrame] | pl.DataFrame,
    metrics: Sequence[str] | str,
    dimensions: Sequence[str],
    *,
    rooms: Sequence[int | str] | None = None,
) -> CustomResult:
    """:func:`custom_report` of ``metrics`` by ``dimensions``, its totals and the tables by the
    first one and two dimensions, over the rooms whose ids are in ``rooms`` (all when empty).

    Errors as :func:`custom_report` and :func:`room_ids`, before anything is computed.
    """
    chosen = chosen_metrics(metrics)
    names = [m.name for m in chosen]
    ids = room_ids(rooms)
    base, analysis = _frames(frames)
    taken = only_rooms(base, ids)
    picked: Mapping[str, pl.DataFrame] | pl.DataFrame = (
        taken if analysis is None else {ROOMS: taken, ROOM_ANALYSIS: analysis}
    )
    dims = list(dict.fromkeys(dimensions))
    rows = custom_report(picked, names, dims)
    has_ids = "room_id" in taken.columns
    seen = set(taken["room_id"].to_list()) if has_ids else set()
    return CustomResult(
        metrics=tuple(chosen),
        dimensions=tuple(dims),
        rows=rows,
        totals=custom_report(picked, names, []),
        by_first=custom_report(picked, names, dims[:1]) if dims else None,
        by_first_two=custom_report(picked, names, dims[:2]) if len(dims) >= 2 else None,
        room_count=taken["room_id"].n_unique() if has_ids else taken.height,
        rooms=ids,
        missing_rooms=tuple(i for i in ids if i not in seen),
    )


def custom_report(
    frames: Mapping[str, pl.DataFrame] | pl.DataFrame,
    metrics: list[str],
    dimensions: list[str],
) -> pl.DataFrame:
    """A table of ``metrics`` by ``dimensions`` over the ``rooms`` rows.

    ``frames``: the ``rooms`` frame, or a mapping of dataset name to frame with ``rooms`` and,
    for metrics from the T+1 report, ``room_analysis``. ``metrics``: names of room metrics
    (:func:`livekit.vocab.metrics.metrics_of` ``"room"``). ``dimensions``: columns of ``rooms`` such as
    ``date``, ``aweme_name``, ``room_id``, or the derived ``week``, ``weekday``, ``month``,
    ``hour`` (see :func:`dimensions_of`); an empty list gives one totals row.

    Unknown metrics or dimensions, or a missing dataset, raise :class:`LivekitError` before
    anything is computed. Output: the dimensions, then one column per metric (named by the
    metric), sorted by the dimensions.
    """
    rooms, analysis = _frames(frames)
    chosen = chosen_metrics(metrics)
    dims = list(dict.fromkeys(dimensions))
    valid = dimensions_of(rooms)
    bad = [d for d in dims if d not in valid]
    if bad:
        raise LivekitError(f"未知的维度：{'、'.join(bad)}；可用的维度有：{'、'.join(valid)}")

    base = rooms
    wanted = {c for m in chosen for c in m.columns}
    lacking = sorted(c for c in wanted if c not in rooms.columns)
    if lacking:
        if analysis is None:
            names = [m.name for m in chosen if set(m.columns) & set(lacking)]
            raise LivekitError(
                f"指标 {'、'.join(names)} 需要 room_analysis（T+1 分析）数据集的列 "
                f"{'、'.join(lacking)}：请传入 {{'rooms': ..., 'room_analysis': ...}}"
            )
        absent = [c for c in [*lacking, "room_id"] if c not in analysis.columns]
        if absent or "room_id" not in rooms.columns:
            raise LivekitError(f"关联 room_analysis 时缺少列：{'、'.join(absent or ['room_id'])}")
        extra = analysis.select("room_id", *lacking).unique("room_id", keep="last")
        base = rooms.join(extra, on="room_id", how="left")

    derived = [DERIVED[d][2]().alias(d) for d in dims if d not in rooms.columns]
    if derived:
        base = base.with_columns(derived)
    aggs = [m.aggregate() for m in chosen]
    if not dims:
        return base.select(aggs)
    return base.group_by(dims).agg(aggs).sort(dims, nulls_last=True)
