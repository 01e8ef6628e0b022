"""The festival calendar: Chinese e-commerce events with their sales windows, and regressors.

A calendar is a polars frame with one row per (event, occurrence)::

    event   str   code used in column names, e.g. "double11"
    label   str   the Chinese name shown to a user, e.g. "双11"
    date    date  the peak day
    start   date  first day of the window (pre-sale / ramp-up); start <= date
    end     date  last day of the window (after-effect); date <= end

:func:`default_events` builds the default calendar for the years a period touches,
:func:`events_frame` adds user events to it (validated, one Chinese error line on bad input),
and :func:`event_features` turns a calendar into one numeric column per event phase for a list
of days, ready to be used as forecast regressors.

Lunar-dated festivals (春节, 七夕, and 年货节 which hangs on 春节) come from ``lunardate``
(imported lazily, so importing :mod:`livekit.analysis` stays light). The windows are our own
domain knowledge of how Douyin/Tmall/JD sales move, hand-written because no library publishes
e-commerce windows; offsets are in days relative to the peak day:

=========  ======  ================  ======  ======  ==================================================
event      label   peak day          before  after   why
=========  ======  ================  ======  ======  ==================================================
nianhuo    年货节  春节 - 10 days    18      6       the New Year goods sale runs about four weeks
                                                     before 春节 and must end about four days before it,
                                                     when couriers stop taking parcels; its peak is the
                                                     last "ships before the holiday" push
womens     38节    03-08             7       0       女王节 promotions open about a week ahead (03-01)
love520    520     05-20             6       1       a short gifting ramp; 521 still carries some of it
s618       618     06-18             29      2       618 pre-sale opens around 05-20; a two-day tail
                                                     of final payments and late orders
qixi       七夕    lunar 7/7         6       0       gifting week before the day, nothing after
double11   双11    11-11             22      2       pre-sale from about 10-20; final payments and
                                                     the 11-12/11-13 tail afterwards
double12   双12    12-12             6       0       a one-week ramp, no after-effect worth modelling
spring     春节    lunar 1/1         3       7       the holiday week: logistics stop from 除夕 eve
                                                     to 初七, sales drop (a negative effect, expected
                                                     to get a negative coefficient)
=========  ======  ================  ======  ======  ==================================================

The phases of a window, as columns of :func:`event_features`:

- ``<event>_presale``: a linear ramp over ``start .. date - 1``, ``(day - start + 1) / (date -
  start + 1)``, rising towards 1 at the peak (sales build up as the day nears);
- ``<event>_peak``: 1 on the peak day;
- ``<event>_after``: 1 on ``date + 1 .. end``.

A phase column exists when the calendar gives that event a non-empty phase, so the same calendar
gives the same columns for history and future; a column can be all zeros on a short period (a
forecaster should drop constant regressors on its training days).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from livekit.vocab.errors import LivekitError

__all__ = [
    "DEFAULT_EVENTS",
    "EVENT_SCHEMA",
    "PHASES",
    "default_events",
    "event_features",
    "events_frame",
    "lunar_to_solar",
]

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event": pl.String(),
    "label": pl.String(),
    "date": pl.Date(),
    "start": pl.Date(),
    "end": pl.Date(),
}

PHASES = ("presale", "peak", "after")

# (code, Chinese label, how the peak day is found, days before, days after).
# The peak rule is ("solar", month, day), ("lunar", month, day) or ("spring", offset days).
DEFAULT_EVENTS: tuple[tuple[str, str, tuple[str, int, int], int, int], ...] = (
    ("nianhuo", "年货节", ("spring", -10, 0), 18, 6),
    ("spring", "春节", ("lunar", 1, 1), 3, 7),
    ("womens", "38节", ("solar", 3, 8), 7, 0),
    ("love520", "520", ("solar", 5, 20), 6, 1),
    ("s618", "618", ("solar", 6, 18), 29, 2),
    ("qixi", "七夕", ("lunar", 7, 7), 6, 0),
    ("double11", "双11", ("solar", 11, 11), 22, 2),
    ("double12", "双12", ("solar", 12, 12), 6, 0),
)

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_USER_KEYS = frozenset({"event", "label", "date", "start", "end", "before", "after"})
# lunardate's table covers lunar years 1900..2099.
_FIRST_YEAR, _LAST_YEAR = 1901, 2099


def lunar_to_solar(year: int, month: int, day: int) -> date:
    """The Gregorian day of lunar ``month``/``day`` in lunar ``year`` (non-leap month)."""
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise LivekitError(f"农历节日只支持 {_FIRST_YEAR}–{_LAST_YEAR} 年，收到 {year}")
    from lunardate import LunarDate  # type: ignore[import-untyped]  # lazy: keeps imports light

    solar: date = LunarDate(year, month, day, 0).to_solar_date()
    return solar


def _peak(rule: tuple[str, int, int], year: int) -> date:
    kind, a, b = rule
    if kind == "solar":
        return date(year, a, b)
    if kind == "lunar":
        return lunar_to_solar(year, a, b)
    return lunar_to_solar(year, 1, 1) + timedelta(days=a)


def _default_rows(year: int) -> list[dict[str, Any]]:
    rows = []
    for code, label, rule, before, after in DEFAULT_EVENTS:
        peak = _peak(rule, year)
        rows.append(
            {
                "event": code,
                "label": label,
                "date": peak,
                "start": peak - timedelta(days=before),
                "end": peak + timedelta(days=after),
            }
        )
    return rows


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_SCHEMA).sort("date", "event")


def default_events(first: date, last: date) -> pl.DataFrame:
    """The default calendar for every year ``first .. last`` touches.

    Every event of each calendar year from ``first.year`` to ``last.year`` is listed, plus the
    occurrences of the neighbouring years whose window overlaps ``first .. last`` (年货节 can
    start in the December before its 春节), sorted by peak day.
    """
    if not isinstance(first, date) or not isinstance(last, date):
        raise LivekitError(f"节日日历的起止须为日期，收到 {first!r} 与 {last!r}")
    if last < first:
        raise LivekitError(f"节日日历的结束日 {last} 早于开始日 {first}")
    rows: list[dict[str, Any]] = []
    for year in range(first.year - 1, last.year + 2):
        neighbour = not first.year <= year <= last.year
        if neighbour and not _FIRST_YEAR <= year <= _LAST_YEAR:
            continue
        for row in _default_rows(year):
            if not neighbour or (row["start"] <= last and row["end"] >= first):
                rows.append(row)
    return _frame(rows)


def _as_date(value: object, key: str, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise LivekitError(f"自定义活动 {name} 的 {key} 不是日期（YYYY-MM-DD）：{value!r}")


def _as_days(value: object, key: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
        raise LivekitError(
            f"自定义活动 {name} 的 {key} 须为 0 到 366 之间的整数天数，收到 {value!r}"
        )
    return value


def _user_row(item: object) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise LivekitError(
            f"自定义活动须写成 event、date（可加 label、start/end 或 before/after），收到 {item!r}"
        )
    unknown = sorted(str(k) for k in item if k not in _USER_KEYS)
    if unknown:
        raise LivekitError(
            f"自定义活动有未知字段 {'、'.join(unknown)}；可用字段：event、label、date、start、end、before、after"
        )
    code = item.get("event")
    if not isinstance(code, str) or not _CODE.match(code):
        raise LivekitError(f"自定义活动的 event 须为小写英文代码（如 brand_day），收到 {code!r}")
    if "date" not in item:
        raise LivekitError(f"自定义活动 {code} 缺少 date（高峰日）")
    peak = _as_date(item["date"], "date", code)
    label = item.get("label", code)
    if not isinstance(label, str) or not label.strip():
        raise LivekitError(f"自定义活动 {code} 的 label 须为非空文字，收到 {label!r}")
    if "start" in item and "before" in item:
        raise LivekitError(f"自定义活动 {code} 的 start 与 before 只能给一个")
    if "end" in item and "after" in item:
        raise LivekitError(f"自定义活动 {code} 的 end 与 after 只能给一个")
    start = (
        _as_date(item["start"], "start", code)
        if "start" in item
        else peak - timedelta(days=_as_days(item.get("before", 0), "before", code))
    )
    end = (
        _as_date(item["end"], "end", code)
        if "end" in item
        else peak + timedelta(days=_as_days(item.get("after", 0), "after", code))
    )
    if end < start:
        raise LivekitError(f"自定义活动 {code} 的结束日 {end} 早于开始日 {start}")
    if not start <= peak <= end:
        raise LivekitError(f"自定义活动 {code} 的高峰日 {peak} 不在窗口 {start} 至 {end} 内")
    return {"event": code, "label": label.strip(), "date": peak, "start": start, "end": end}


def events_frame(
    first: date,
    last: date,
    *,
    extra: Iterable[Mapping[str, object]] | pl.DataFrame = (),
    defaults: bool = True,
) -> pl.DataFrame:
    """The calendar for ``first .. last``: the default events (unless ``defaults=False``) plus ``extra``.

    Each extra event is a mapping with ``event`` (a lowercase code, used in column names),
    ``date`` (its peak day, a date or ``YYYY-MM-DD``), optional ``label`` (Chinese name; the code
    if absent) and a window given either as ``start``/``end`` days or as ``before``/``after``
    day counts (0 if absent); or a frame already in :data:`EVENT_SCHEMA`. Bad input raises one
    :class:`LivekitError` with a Chinese message: an unknown key, a bad date, an end before the
    start, a peak outside its window, or the same event twice on one day.
    """
    base = default_events(first, last) if defaults else _frame([])
    if isinstance(extra, pl.DataFrame):
        missing = [c for c in EVENT_SCHEMA if c not in extra.columns]
        if missing:
            raise LivekitError(f"活动日历缺少列 {'、'.join(missing)}")
        items: list[object] = list(extra.select(list(EVENT_SCHEMA)).iter_rows(named=True))
    elif isinstance(extra, Mapping):
        raise LivekitError("自定义活动须为活动列表（每个活动一项），不是单个活动")
    else:
        items = list(extra)
    added = _frame([_user_row(item) for item in items])
    calendar = pl.concat([base, added]).sort("date", "event")
    dupes = calendar.filter(pl.struct("event", "date").is_duplicated())
    if dupes.height:
        row = dupes.row(0, named=True)
        raise LivekitError(f"活动 {row['event']} 在 {row['date']} 重复出现")
    return calendar


def _check_calendar(events: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in EVENT_SCHEMA if c not in events.columns]
    if missing:
        raise LivekitError(f"活动日历缺少列 {'、'.join(missing)}")
    frame = events.select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)  # type: ignore[arg-type]
    bad = frame.filter(
        ~((pl.col("start") <= pl.col("date")) & (pl.col("date") <= pl.col("end")))
        | pl.any_horizontal(pl.all().is_null())
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise LivekitError(
            f"活动 {row['event']} 的窗口无效：{row['start']} 至 {row['end']}，高峰日 {row['date']}"
        )
    return frame


def event_features(dates: pl.Series | Iterable[date], events: pl.DataFrame) -> pl.DataFrame:
    """One row per day of ``dates`` (in order) with ``date`` and one Float64 column per event phase.

    Columns are ``<event>_presale`` (a ramp towards the peak), ``<event>_peak`` and
    ``<event>_after`` (indicators), in the calendar's order of first appearance, for the phases
    the calendar gives each event. Occurrences of one event do not overlap in a sane calendar;
    if they do, the larger value wins.
    """
    days = (
        dates.cast(pl.Date)
        if isinstance(dates, pl.Series)
        else pl.Series(list(dates), dtype=pl.Date)
    )
    if days.null_count():
        raise LivekitError("日期列含空值，无法生成节日特征")
    calendar = _check_calendar(events)
    day = pl.col("date")
    columns: list[pl.Expr] = []
    for code in calendar.get_column("event").unique(maintain_order=True).to_list():
        rows = calendar.filter(pl.col("event") == code).iter_rows(named=True)
        parts: dict[str, list[pl.Expr]] = {phase: [] for phase in PHASES}
        for row in rows:
            start, peak, end = row["start"], row["date"], row["end"]
            if start < peak:
                span = (peak - start).days + 1
                ramp = ((day - pl.lit(start)).dt.total_days() + 1) / span
                inside = day.is_between(pl.lit(start), pl.lit(peak - timedelta(days=1)))
                parts["presale"].append(pl.when(inside).then(ramp).otherwise(0.0))
            parts["peak"].append(pl.when(day == pl.lit(peak)).then(1.0).otherwise(0.0))
            if peak < end:
                inside = day.is_between(pl.lit(peak + timedelta(days=1)), pl.lit(end))
                parts["after"].append(pl.when(inside).then(1.0).otherwise(0.0))
        for phase in PHASES:
            if parts[phase]:
                expr = pl.max_horizontal(parts[phase]).cast(pl.Float64)
                columns.append(expr.alias(f"{code}_{phase}"))
    frame = pl.DataFrame({"date": days})
    return frame.with_columns(columns) if columns else frame
