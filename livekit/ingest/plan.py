"""Which (dataset, day) partitions a sync must fetch, and when a stored day is final.

A day's numbers keep changing after the day ends: 7-day refunds and 7-day attributed GMV for
a week, order statuses (shipped, finished, refunded) for about two, the T+1 room analysis
appears the next day. So a stored partition carries ``fetched_at`` and ``final``:

* a partition is **final** when it was fetched at least ``SETTLE[dataset]`` after its day
  ended (and no room in it was still on air); final partitions are never fetched again,
  unless ``refresh``;
* today is always fetched;
* a closed day that is not final yet is fetched again at most once per calendar day (the
  morning report run), so an immediate second sync of a closed range makes no requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from livekit.store.datasets import Dataset
from livekit.vocab.tz import CHINA_TZ

SETTLE: dict[str, timedelta] = {
    "rooms": timedelta(days=8),  # live_order_refund_*_7d keep moving for 7 days
    "room_products": timedelta(days=1),  # late payments after a show near midnight
    "room_flow": timedelta(days=1),
    "room_audience": timedelta(days=1),
    "ad_daily": timedelta(days=8),  # 7-day attributed GMV lands in the day of first purchase
    "room_analysis": timedelta(days=1),  # T+1 numbers, give them a day to be complete
    "orders": timedelta(days=15),  # shipping, finishing and after-sales change the status
    "order_items": timedelta(days=15),
    "viewers": timedelta(days=1),
    "session_arms": timedelta(days=1),  # the sandbox's schedule: complete once the day is over
    "explanations": timedelta(days=1),  # the sandbox's explanation schedule, likewise
}


def day_start(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), CHINA_TZ)


def day_end(d: date) -> datetime:
    """The first moment after day ``d`` (exclusive end)."""
    return day_start(d + timedelta(days=1))


def schema_tag(ds: Dataset) -> str:
    """A short hash of a dataset's schema (and revision, when bumped): a partition written under
    another schema is refetched."""
    text = ";".join(f"{k}:{v}" for k, v in ds.schema.items())
    if ds.revision:
        text += f";revision:{ds.revision}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def is_final(dataset: str, d: date, fetched_at: datetime, still_live: bool = False) -> bool:
    return not still_live and fetched_at >= day_end(d) + SETTLE[dataset]


def partition_meta(ds: Dataset, d: date, now: datetime, still_live: bool = False) -> dict[str, str]:
    return {
        "fetched_at": now.isoformat(timespec="seconds"),
        "final": "true" if is_final(ds.name, d, now, still_live) else "false",
        "schema": schema_tag(ds),
    }


def needs_fetch(
    ds: Dataset, d: date, meta: Mapping[str, str] | None, now: datetime, refresh: bool
) -> bool:
    today = now.astimezone(CHINA_TZ).date()
    if refresh or meta is None or d >= today:
        return True
    if meta.get("schema") != schema_tag(ds):
        return True
    if meta.get("final") == "true":
        return False
    try:
        fetched = datetime.fromisoformat(meta["fetched_at"]).astimezone(CHINA_TZ)
    except (KeyError, ValueError):
        return True
    return fetched.date() < today


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass(frozen=True)
class Window:
    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return days(self.start, self.end)


def windows(needed: Iterable[date], max_days: int) -> Iterator[Window]:
    """Contiguous runs of the needed days, cut into windows of at most ``max_days``."""
    run: list[date] = []
    for d in sorted(set(needed)):
        if run and ((d - run[-1]).days != 1 or len(run) == max_days):
            yield Window(run[0], run[-1])
            run = []
        run.append(d)
    if run:
        yield Window(run[0], run[-1])
