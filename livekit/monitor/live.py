"""From cumulative counters to flows and rates: the monitor's view of the rooms on air.

The live endpoints only give totals since the room went on air. :class:`LiveState` keeps the
recent snapshots of every room and product and answers :class:`~livekit.monitor.types.MetricSource`
questions: "new viewers per minute over the last 3 minutes", "click-to-pay rate over the last 10
minutes, and over how many clicks". Definitions follow ``metrics.md`` and the metric registry in
:mod:`livekit.monitor.metrics`; the choices made here:

* **Flows** (``*_per_min``) are the counter's increase over the window divided by the minutes
  actually between the two snapshots used (polls are not exactly ``interval`` apart).
* **Rates** are ratios of increases over the same window, as fractions (0.035 is 3.5%; percent
  exists only when a value is shown), with the increase of the denominator returned as
  ``denominator`` so a rule's minimum denominator can be checked. ``click_rate`` is
  product clicks / new viewers (人次), ``interaction_rate`` is (comments + shares) / new viewers:
  the live endpoints count events, not people, so these are per-visit rates, not 罗盘's 人数.
* A room's counters are zero when it goes on air, so every room's series starts with a zero point
  at its ``start_time``: the first poll already gives a flow.
* **Products:** the real ``product_list`` endpoint has no click count. Click users are estimated
  as ``orders ÷ click-to-pay ratio`` (``product_click_pay_ucnt_ratio``, a percentage of users),
  which is defined once a product has sold; before its first sale the estimate is unknown and
  product click and conversion metrics are "no data". Orders stand in for paying users.
* **Explanation.** Each product point keeps whether the product was being explained (讲解中,
  ``explain_status`` BEINGEXPLAIN) and how many explanations it has had; a product's value says
  whether the product was explained during its window (:attr:`MetricValue.explained`), so a rule
  can leave those windows out (``explaining: skip``).
* ``minutes_since_order`` is the time since the last snapshot in which the order count grew (or
  since the room went on air / the product's first snapshot when nothing has sold yet).
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import polars as pl

from livekit.monitor.types import MetricValue, Scope, SeriesKey
from livekit.store import Store
from livekit.vocab.tz import CHINA_TZ

KEEP_S = 3 * 3600.0  # history kept per series: longer than any window a rule may use

ROOM_COUNTERS = {
    "watch": "total_live_watch_cnt",
    "comments": "total_live_comment_cnt",
    "shares": "total_live_share_cnt",
    "clicks": "live_click_product_count_alias",
    "orders": "live_pay_order_count_alias",
    "gmv": "live_pay_order_gmv_alias",
}
PRODUCT_COUNTERS = {
    "orders": "live_pay_order_count_alias",
    "gmv": "live_pay_order_gmv_alias",
    "inventory": "live_product_Inventory",
}
EXPLAINING = "BEINGEXPLAIN"  # explain_status of the product being explained (讲解中)
FLOWS = {
    "new_viewers_per_min": "watch",
    "comments_per_min": "comments",
    "clicks_per_min": "clicks",
    "orders_per_min": "orders",
    "gmv_per_min": "gmv",
}

Point = dict[str, float | None]


@dataclass
class Series:
    """The snapshots of one room (or one product in one room), oldest first."""

    key: SeriesKey
    start_ts: float
    ts: list[float] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    last_order_ts: float | None = None  # last time the order count was seen to grow

    def add(self, t: float, point: Point) -> None:
        if self.ts and t <= self.ts[-1]:
            return  # a snapshot already seen (restart reload) or out of order
        if self.points:
            before, now = self.points[-1].get("orders"), point.get("orders")
            if before is not None and now is not None and now > before:
                self.last_order_ts = t
        elif point.get("orders"):
            # the first point we see of a room already on air: sold before we started
            self.last_order_ts = None
        self.ts.append(t)
        self.points.append(point)
        cut = bisect.bisect_left(self.ts, t - KEEP_S)
        if cut > 1:  # keep the zero point at the start of the show while it is in reach
            del self.ts[1:cut]
            del self.points[1:cut]

    def window(self, end_ts: float, window_min: float) -> tuple[int, int] | None:
        """Indexes of the snapshots that bound the window ending at ``end_ts``."""
        i1 = bisect.bisect_right(self.ts, end_ts) - 1
        if i1 < 1:
            return None
        i0 = bisect.bisect_right(self.ts, self.ts[i1] - window_min * 60.0) - 1
        return max(i0, 0), i1


def _delta(a: Point, b: Point, name: str) -> float | None:
    x, y = a.get(name), b.get(name)
    if x is None or y is None:
        return None
    return max(y - x, 0.0)  # counters only grow; a correction downwards is not a negative flow


def metric_value(metric: str, series: Series, end_ts: float, window_min: float) -> MetricValue:
    """``metric`` of ``series`` over the ``window_min`` minutes ending at ``end_ts``."""
    if metric in ("minutes_since_order", "inventory"):
        i1 = bisect.bisect_right(series.ts, end_ts) - 1
        if i1 < 0:
            return MetricValue(None)
        explained = _explained(series, i1, i1)
        if metric == "inventory":
            return MetricValue(series.points[i1].get("inventory"), explained=explained)
        since = series.last_order_ts if series.last_order_ts is not None else series.ts[0]
        return MetricValue(max(series.ts[i1] - since, 0.0) / 60.0, explained=explained)
    bounds = series.window(end_ts, window_min)
    if bounds is None:
        return MetricValue(None)
    a, b = series.points[bounds[0]], series.points[bounds[1]]
    minutes = (series.ts[bounds[1]] - series.ts[bounds[0]]) / 60.0
    if minutes <= 0:
        return MetricValue(None)
    explained = _explained(series, *bounds)
    if metric in FLOWS:
        d = _delta(a, b, FLOWS[metric])
        return MetricValue(None if d is None else d / minutes, explained=explained)
    if metric == "click_rate":
        out = _rate(_delta(a, b, "clicks"), _delta(a, b, "watch"))
    elif metric == "conversion_rate":
        out = _rate(_delta(a, b, "orders"), _delta(a, b, "clicks"))
    elif metric == "interaction_rate":
        c, s = _delta(a, b, "comments"), _delta(a, b, "shares")
        out = _rate(None if c is None or s is None else c + s, _delta(a, b, "watch"))
    else:
        raise KeyError(metric)
    return MetricValue(out.value, out.denominator, explained)


def _explained(series: Series, i0: int, i1: int) -> bool | None:
    """Whether the product was being explained from snapshot ``i0`` to ``i1``: shown as
    BEINGEXPLAIN at one of them, or its explanation count rose in between (an explanation
    that began and ended between two polls). None when the snapshots say nothing (rooms)."""
    points = series.points[i0 : i1 + 1]
    flags = [p.get("explaining") for p in points]
    if all(f is None for f in flags):
        return None
    if any(flags):
        return True
    c0, c1 = points[0].get("explain_cnt"), points[-1].get("explain_cnt")
    return c0 is not None and c1 is not None and c1 > c0


def _rate(num: float | None, den: float | None) -> MetricValue:
    if num is None or den is None:
        return MetricValue(None, den)
    if den <= 0:
        return MetricValue(None, 0.0)
    return MetricValue(num / den, den)  # a fraction: percent exists only when shown


def _ts(value: datetime) -> float:
    return value.timestamp()


def room_point(row: Mapping[str, object]) -> Point:
    return {k: _num(row.get(col)) for k, col in ROOM_COUNTERS.items()}


def product_point(row: Mapping[str, object]) -> Point:
    point = {k: _num(row.get(col)) for k, col in PRODUCT_COUNTERS.items()}
    status = row.get("explain_status")
    point["explaining"] = None if not status else float(status == EXPLAINING)
    point["explain_cnt"] = _num(row.get("live_product_explain_cnt"))
    orders, ratio = point["orders"], _num(row.get("product_click_pay_ucnt_ratio"))
    if orders is not None and ratio is not None and orders > 0 and ratio > 0:
        point["clicks"] = orders / (ratio / 100.0)
    elif orders == 0 and ratio == 0:
        point["clicks"] = None  # nothing sold yet: the ratio says nothing about clicks
    else:
        point["clicks"] = None
    return point


def _num(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _room_key(row: Mapping[str, object]) -> SeriesKey:
    return SeriesKey(
        "room",
        int(str(row["room_id"])),
        None,
        {
            "room_id": str(row["room_id"]),
            "room_title": str(row.get("room_title") or ""),
            "aweme_name": str(row.get("aweme_name") or ""),
            "aweme_id": str(row.get("aweme_id") or ""),
        },
    )


class LiveState:
    """Snapshots of the rooms on air, answering the alert engine's questions (MetricSource)."""

    def __init__(self, history: History | None = None) -> None:
        self.rooms: dict[int, Series] = {}
        self.products: dict[tuple[int, int], Series] = {}
        self._now: datetime | None = None
        self._on_air: set[int] = set()
        self._product_polled: dict[int, float] = {}  # room -> time of its last product poll
        self._history = history

    # ---- feeding ------------------------------------------------------------------------
    def update(
        self,
        at: datetime,
        rooms: pl.DataFrame,
        products: pl.DataFrame,
        product_rooms: Iterable[int] | None = None,
        unknown_awemes: Iterable[int] = (),
    ) -> None:
        """Add one poll. Rooms missing from it are off air from now on.

        ``product_rooms`` are the rooms whose product lists this poll fetched (default: those
        with rows in ``products``). A poller short of request budget skips some rooms' product
        lists on a tick; their products keep their last values instead of vanishing.
        ``unknown_awemes`` are accounts whose room list failed this time: their rooms stay on
        air (without a new point) rather than being taken for ended shows.
        """
        self._now = at
        keep = {str(a) for a in unknown_awemes}
        self._on_air = {
            r for r in self._on_air if self.rooms[r].key.labels.get("aweme_id", "") in keep
        }
        t = _ts(at)
        for row in rooms.iter_rows(named=True):
            self._add_room(t, row)
        polled = (
            set(product_rooms)
            if product_rooms is not None
            else set(products.get_column("room_id").unique().to_list())
        )
        for room_id in polled:
            self._product_polled[room_id] = t
        self._add_products(t, products)

    def replay(self, rooms: pl.DataFrame, products: pl.DataFrame) -> None:
        """Rebuild from stored snapshots (a restarted monitor continues where it stopped)."""
        if rooms.is_empty():
            return
        times = rooms.get_column("snapshot_time").unique().sort().to_list()
        by_time_r = rooms.partition_by("snapshot_time", as_dict=True)
        by_time_p = (
            products.partition_by("snapshot_time", as_dict=True) if not products.is_empty() else {}
        )
        empty = products.clear()
        for at in times:
            self.update(at, by_time_r[(at,)], by_time_p.get((at,), empty))

    def _add_room(self, t: float, row: Mapping[str, object]) -> None:
        room_id = int(str(row["room_id"]))
        series = self.rooms.get(room_id)
        key = _room_key(row)
        if series is None:
            start = row.get("start_time")
            start_ts = _ts(start) if isinstance(start, datetime) else t
            series = Series(key, start_ts)
            if start_ts < t:
                series.add(start_ts, dict.fromkeys(ROOM_COUNTERS, 0.0))
            self.rooms[room_id] = series
        series.key = key  # titles may change during a show
        series.add(t, room_point(row))
        self._on_air.add(room_id)

    def _add_products(self, t: float, products: pl.DataFrame) -> None:
        for row in products.iter_rows(named=True):
            room_id, product_id = int(row["room_id"]), int(row["productId"])
            room = self.rooms.get(room_id)
            if room is None or room_id not in self._on_air:
                continue
            labels = {
                **room.key.labels,
                "product_id": str(product_id),
                "product_title": str(row.get("title") or ""),
                "explain_status": str(row.get("explain_status") or ""),
            }
            key = SeriesKey("product", room_id, product_id, labels)
            series = self.products.get((room_id, product_id))
            if series is None:
                series = Series(key, room.start_ts)
                if room.start_ts < t:
                    zero: Point = {
                        "orders": 0.0,
                        "gmv": 0.0,
                        "clicks": 0.0,
                        "inventory": None,
                        "explaining": None,  # unknown at the start; the count is 0 there
                        "explain_cnt": 0.0,
                    }
                    series.add(room.start_ts, zero)
                self.products[(room_id, product_id)] = series
            series.key = key
            series.add(t, product_point(row))

    # ---- MetricSource -------------------------------------------------------------------
    def now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("no snapshot yet")
        return self._now

    def series(self, scope: Scope) -> list[SeriesKey]:
        if scope == "room":
            return [self.rooms[r].key for r in sorted(self._on_air)]
        return [
            s.key
            for (room_id, _), s in sorted(self.products.items())
            if room_id in self._on_air and s.ts and s.ts[-1] == self._product_polled.get(room_id)
        ]

    def _series(self, key: SeriesKey) -> Series | None:
        if key.scope == "room":
            return self.rooms.get(key.room_id)
        return self.products.get((key.room_id, key.product_id or 0))

    def value(self, metric: str, key: SeriesKey, window_min: float) -> MetricValue:
        series = self._series(key)
        if series is None or self._now is None:
            return MetricValue(None)
        return metric_value(metric, series, _ts(self._now), window_min)

    def minute_of_show(self, key: SeriesKey) -> int | None:
        series = self._series(key)
        if series is None or self._now is None:
            return None
        return max(int((_ts(self._now) - series.start_ts) // 60), 0)

    def history_median(
        self, metric: str, key: SeriesKey, minute: int, window_min: float
    ) -> float | None:
        if self._history is None:
            return None
        aweme = key.labels.get("aweme_id", "")
        return self._history.median(metric, key.scope, aweme, key.product_id, minute, window_min)


class History:
    """Earlier shows of each account (from stored ``live_snapshots``), by minute of show."""

    def __init__(self, rooms: pl.DataFrame, products: pl.DataFrame, exclude_day: date) -> None:
        rooms = rooms.filter(pl.col("snapshot_time").dt.date() != exclude_day)
        products = products.filter(pl.col("snapshot_time").dt.date() != exclude_day)
        self._shows: dict[str, list[Series]] = {}
        self._product_shows: dict[tuple[str, int], list[Series]] = {}
        self._cache: dict[tuple[object, ...], float | None] = {}
        if rooms.is_empty():
            return
        state = LiveState()
        state.replay(rooms, products)
        for series in state.rooms.values():
            self._shows.setdefault(series.key.labels.get("aweme_id", ""), []).append(series)
        for (_, product_id), series in state.products.items():
            aweme = series.key.labels.get("aweme_id", "")
            self._product_shows.setdefault((aweme, product_id), []).append(series)

    @classmethod
    def from_store(cls, store: Store, today: date, days: int = 28) -> History:
        from livekit.store.datasets import LIVE_PRODUCT_SNAPSHOTS, LIVE_SNAPSHOTS

        start = today - timedelta(days=days)
        end = today - timedelta(days=1)
        rooms = store.read("live_snapshots", LIVE_SNAPSHOTS.schema, start, end).drop("date")
        products = store.read(
            "live_product_snapshots", LIVE_PRODUCT_SNAPSHOTS.schema, start, end
        ).drop("date")
        return cls(rooms, products, today)

    @property
    def shows(self) -> int:
        return sum(len(v) for v in self._shows.values())

    def median(
        self,
        metric: str,
        scope: Scope,
        aweme: str,
        product_id: int | None,
        minute: int,
        window_min: float,
    ) -> float | None:
        cache_key = (metric, scope, aweme, product_id, minute, window_min)
        if cache_key in self._cache:
            return self._cache[cache_key]
        shows: Iterable[Series] = (
            self._shows.get(aweme, [])
            if scope == "room"
            else self._product_shows.get((aweme, product_id or 0), [])
        )
        values = []
        for s in shows:
            end = s.start_ts + minute * 60.0
            if not s.ts or s.ts[-1] < end - 60.0:
                continue  # that show ended (or was not watched) before this minute
            v = metric_value(metric, s, end, window_min).value
            if v is not None:
                values.append(v)
        out = statistics.median(values) if values else None
        self._cache[cache_key] = out
        return out


def china_now() -> datetime:
    return datetime.now(CHINA_TZ)
