"""Small shared types between the monitor's poller, alert engine and notifiers.

Everything here is plain data, so each part can be tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

Scope = Literal["room", "product"]
Severity = Literal["critical", "warning", "info"]
MessageKind = Literal["firing", "resolved", "test", "digest"]


@dataclass(frozen=True)
class MetricValue:
    """One metric of one series at one evaluation.

    ``value`` is None when the metric is not defined (no data yet, or a zero denominator).
    ``denominator`` is what a rate was computed over (e.g. clicks for click-to-pay), so that a
    rule's minimum denominator can be checked; None for flows and levels. ``explained`` says,
    for a product, whether it was being explained (讲解中) during the window: at a snapshot
    bounding or inside it, or its explanation count rose over it (for a level: at the snapshot
    read); None when not known (rooms), so that a rule skipping explained windows can.
    """

    value: float | None
    denominator: float | None = None
    explained: bool | None = None


@dataclass(frozen=True)
class SeriesKey:
    """Which room (and product) a value belongs to.

    ``labels`` always holds ``room_id`` and, for product scope, ``product_id``, as strings, plus
    display labels (``room_title``, ``aweme_name``, ``product_title``).  Identity (for
    deduplication) is ``scope`` + ``room_id`` + ``product_id``; display labels may change.
    """

    scope: Scope
    room_id: int
    product_id: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ident(self) -> str:
        if self.product_id is None:
            return f"room={self.room_id}"
        return f"room={self.room_id},product={self.product_id}"


class MetricSource(Protocol):
    """What the alert engine reads: the monitor's current view of every room on air."""

    def now(self) -> datetime:
        """The time of the latest poll (the sandbox's virtual time when it is accelerated)."""
        ...

    def series(self, scope: Scope) -> list[SeriesKey]:
        """Rooms (or room × product pairs) currently on air with at least one snapshot."""
        ...

    def value(self, metric: str, key: SeriesKey, window_min: float) -> MetricValue:
        """The metric over the last ``window_min`` minutes ending at ``now()``."""
        ...

    def minute_of_show(self, key: SeriesKey) -> int | None:
        """Whole minutes since the room went on air, at ``now()``."""
        ...

    def history_median(
        self, metric: str, key: SeriesKey, minute: int, window_min: float
    ) -> float | None:
        """Median of the metric at the same minute of the same account's earlier shows.

        None when there is no earlier show that reached that minute.
        """
        ...


@dataclass(frozen=True)
class Message:
    """One notification, already rendered; every channel formats it for its wire shape."""

    key: str  # unique per notification: channels and the outbox deduplicate on it
    kind: MessageKind
    severity: Severity
    title: str  # one short Chinese line
    text: str  # plain text body (Chinese), used by channels without markdown
    markdown: str  # the same content as markdown (DingTalk, WeCom, e-mail HTML part)
    created_at: datetime
    alerts: tuple[str, ...] = ()  # alert ids (rule + series) this message is about
