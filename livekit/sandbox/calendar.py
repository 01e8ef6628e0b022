"""The festival calendar the sandbox plants its sales lifts on.

The windows are the same as the analysis's default calendar (``livekit.analysis.events``,
which the sandbox must not import): for each event, the peak day and the days before and after
it. The planted log lift of a day is, per occurrence (start S, peak P, end E),
``presale * (d - S + 1) / (P - S + 1)`` for S <= d < P, ``peak`` on P, ``after`` for
P < d <= E, and the lifts of overlapping windows add.

春节 and 七夕 are lunar dates. They come from a table of the published Gregorian dates (lunar
years 1997..2099, the years a world can touch); ``tests/test_sandbox_forecast.py`` checks the
table against the analysis's lunardate-derived dates, an independent check of both. Outside the
table a lunar event simply has no occurrence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

# Published Gregorian dates (MMDD) of 春节 (lunar 1/1) and 七夕 (lunar 7/7), years 1997..2099.
LUNAR_FIRST_YEAR = 1997
_SPRING = [
    "0207",
    "0128",
    "0216",
    "0205",
    "0124",
    "0212",
    "0201",
    "0122",
    "0209",
    "0129",
    "0218",
    "0207",
    "0126",
    "0214",
    "0203",
    "0123",
    "0210",
    "0131",
    "0219",
    "0208",
    "0128",
    "0216",
    "0205",
    "0125",
    "0212",
    "0201",
    "0122",
    "0210",
    "0129",
    "0217",
    "0206",
    "0126",
    "0213",
    "0203",
    "0123",
    "0211",
    "0131",
    "0219",
    "0208",
    "0128",
    "0215",
    "0204",
    "0124",
    "0212",
    "0201",
    "0122",
    "0210",
    "0130",
    "0217",
    "0206",
    "0126",
    "0214",
    "0202",
    "0123",
    "0211",
    "0201",
    "0219",
    "0208",
    "0128",
    "0215",
    "0204",
    "0124",
    "0212",
    "0202",
    "0121",
    "0209",
    "0129",
    "0217",
    "0205",
    "0126",
    "0214",
    "0203",
    "0123",
    "0211",
    "0131",
    "0219",
    "0207",
    "0127",
    "0215",
    "0205",
    "0124",
    "0212",
    "0202",
    "0122",
    "0209",
    "0129",
    "0217",
    "0206",
    "0126",
    "0214",
    "0203",
    "0124",
    "0210",
    "0130",
    "0218",
    "0207",
    "0127",
    "0215",
    "0205",
    "0125",
    "0212",
    "0201",
    "0121",
]
_QIXI = [
    "0809",
    "0828",
    "0817",
    "0806",
    "0825",
    "0815",
    "0804",
    "0822",
    "0811",
    "0731",
    "0819",
    "0807",
    "0826",
    "0816",
    "0806",
    "0823",
    "0813",
    "0802",
    "0820",
    "0809",
    "0828",
    "0817",
    "0807",
    "0825",
    "0814",
    "0804",
    "0822",
    "0810",
    "0829",
    "0819",
    "0808",
    "0826",
    "0816",
    "0805",
    "0824",
    "0812",
    "0801",
    "0820",
    "0810",
    "0828",
    "0817",
    "0807",
    "0826",
    "0814",
    "0803",
    "0822",
    "0811",
    "0731",
    "0819",
    "0808",
    "0827",
    "0816",
    "0805",
    "0823",
    "0812",
    "0801",
    "0820",
    "0810",
    "0829",
    "0817",
    "0806",
    "0825",
    "0814",
    "0802",
    "0821",
    "0811",
    "0801",
    "0819",
    "0808",
    "0827",
    "0816",
    "0804",
    "0823",
    "0812",
    "0802",
    "0820",
    "0810",
    "0828",
    "0818",
    "0806",
    "0824",
    "0814",
    "0803",
    "0821",
    "0811",
    "0731",
    "0819",
    "0808",
    "0826",
    "0815",
    "0805",
    "0823",
    "0812",
    "0802",
    "0821",
    "0809",
    "0828",
    "0817",
    "0806",
    "0824",
    "0813",
    "0803",
    "0822",
]
LUNAR_LAST_YEAR = LUNAR_FIRST_YEAR + len(_SPRING) - 1


def _table_day(table: list[str], year: int) -> date | None:
    if not LUNAR_FIRST_YEAR <= year <= LUNAR_LAST_YEAR:
        return None
    mmdd = table[year - LUNAR_FIRST_YEAR]
    return date(year, int(mmdd[:2]), int(mmdd[2:]))


def spring_festival(year: int) -> date | None:
    """春节 (lunar new year's day) of ``year``, or None outside the table."""
    return _table_day(_SPRING, year)


def qixi(year: int) -> date | None:
    """七夕 (lunar 7/7) of ``year``, or None outside the table."""
    return _table_day(_QIXI, year)


@dataclass(frozen=True)
class Festival:
    """One event of the calendar with its window and its planted log lifts per phase."""

    event: str
    label: str
    before: int
    after: int
    presale: float  # log lift at the top of the ramp (the day before the peak)
    peak: float
    after_lift: float


# The windows of livekit.analysis.events.DEFAULT_EVENTS; the planted log lifts (zeros: published
# as events with no effect).
FESTIVALS: tuple[Festival, ...] = (
    Festival("nianhuo", "年货节", 18, 6, 0.35, 0.45, -0.15),
    Festival("spring", "春节", 3, 7, -0.3, -0.9, -0.6),
    Festival("womens", "38节", 7, 0, 0.0, 0.0, 0.0),
    Festival("love520", "520", 6, 1, 0.0, 0.0, 0.0),
    Festival("s618", "618", 29, 2, 0.4, 0.9, -0.2),
    Festival("qixi", "七夕", 6, 0, 0.0, 0.0, 0.0),
    Festival("double11", "双11", 22, 2, 0.7, 1.4, -0.35),
    Festival("double12", "双12", 6, 0, 0.25, 0.6, 0.0),
)
BY_EVENT = {f.event: f for f in FESTIVALS}
# Peaks on which the shop adds shows (every slot of the main account, the second account on air).
SHOW_PEAKS = ("double11", "s618", "double12")
# A day whose total log lift reaches this is a festival day (more ad traffic, more refunds).
FESTIVAL_DAY_LOG_LIFT = math.log(1.5)


def peak_day(event: str, year: int) -> date | None:
    """The peak of ``event`` in calendar year ``year`` (None when a lunar date is unknown)."""
    if event == "nianhuo":
        spring = spring_festival(year)
        return None if spring is None else spring - timedelta(days=10)
    if event == "spring":
        return spring_festival(year)
    if event == "qixi":
        return qixi(year)
    month, day = {
        "womens": (3, 8),
        "love520": (5, 20),
        "s618": (6, 18),
        "double11": (11, 11),
        "double12": (12, 12),
    }[event]
    return date(year, month, day)


@dataclass(frozen=True)
class Occurrence:
    event: str
    start: date
    peak: date
    end: date


@lru_cache(maxsize=256)
def _year_occurrences(year: int) -> tuple[Occurrence, ...]:
    out = []
    for f in FESTIVALS:
        peak = peak_day(f.event, year)
        if peak is not None:
            start, end = peak - timedelta(days=f.before), peak + timedelta(days=f.after)
            out.append(Occurrence(f.event, start, peak, end))
    return tuple(out)


def occurrences(first: date, last: date) -> list[Occurrence]:
    """Every occurrence whose window overlaps ``first .. last``, sorted by (peak, event)."""
    found = [
        o
        for year in range(first.year - 1, last.year + 2)
        for o in _year_occurrences(year)
        if o.start <= last and o.end >= first
    ]
    return sorted(found, key=lambda o: (o.peak, o.event))


def phase(o: Occurrence, d: date) -> tuple[str, float] | None:
    """(phase, feature value) of day ``d`` in occurrence ``o``: the presale ramp
    ``(d - S + 1) / (P - S + 1)``, 1 on the peak and after it; None outside the window."""
    if not o.start <= d <= o.end:
        return None
    if d < o.peak:
        return "presale", ((d - o.start).days + 1) / ((o.peak - o.start).days + 1)
    if d == o.peak:
        return "peak", 1.0
    return "after", 1.0


@lru_cache(maxsize=8192)
def log_lift(d: date) -> float:
    """The planted log lift of GMV on day ``d`` (0 outside every window)."""
    total = 0.0
    for o in occurrences(d, d):
        f = BY_EVENT[o.event]
        ph = phase(o, d)
        if ph is not None:
            name, x = ph
            total += x * {"presale": f.presale, "peak": f.peak, "after": f.after_lift}[name]
    return total


@lru_cache(maxsize=8192)
def in_window(d: date) -> bool:
    """Whether ``d`` is inside any event's window (zero-effect events included)."""
    return bool(occurrences(d, d))


def is_show_peak(d: date) -> bool:
    """A peak day on which the shop adds shows (双11, 618, 双12)."""
    return any(o.peak == d and o.event in SHOW_PEAKS for o in occurrences(d, d))
