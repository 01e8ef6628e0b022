"""The alert engine's state, typed: one :class:`AlertState` per (rule, series), one
:class:`EngineState` per state file.

Both are frozen: the state machine (:mod:`.machine`) returns a new :class:`AlertState` for every
change, so the committed state an :meth:`Engine.evaluate` starts from is never touched by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from livekit.monitor.types import Scope, SeriesKey, Severity

AlertStatus = Literal["normal", "pending", "firing"]
RecordState = Literal["pending", "firing", "resolved", "normal"]
ALERT_STATES: tuple[RecordState, ...] = ("pending", "firing", "resolved", "normal")


@dataclass(frozen=True)
class AlertState:
    """One alert: a rule watching one series (a room, or a product in a room).

    Rates (``value``, ``threshold``, ``benchmark``, ``baseline`` of a rate metric) are
    fractions. ``detector`` is the anomaly detector's JSON state
    (:meth:`livekit.monitor.detect.Ewma.to_state`), replaced as a whole at every point.
    """

    alert_id: str  # "<rule>|<series ident>"
    rule: str
    metric: str
    scope: Scope
    room_id: int
    product_id: int | None
    ident: str
    state: AlertStatus = "normal"
    labels: Mapping[str, str] = field(default_factory=dict)  # the series' display labels
    severity: Severity = "warning"
    channels: tuple[str, ...] = ()
    since: datetime | None = None  # when the condition began to hold
    started_at: datetime | None = None  # when it fired
    last_notified_at: datetime | None = None
    repeats: int = 0
    value: float | None = None
    threshold: float | None = None
    benchmark: float | None = None
    baseline: float | None = None
    minute: int | None = None  # minute of the show at the last evaluation
    fingerprint: str | None = None  # of what the detector depends on (see machine.fingerprint)
    detector: Mapping[str, Any] | None = None
    point_at: datetime | None = None  # when the detector charted its last point
    verdict: bool = False  # the detector's last verdict, standing between points

    @property
    def active(self) -> bool:
        """Pending or firing."""
        return self.state in ("pending", "firing")

    @property
    def kept(self) -> bool:
        """Whether the state file keeps it: not normal, or holding a detector."""
        return self.state != "normal" or self.detector is not None

    def to_normal(self) -> AlertState:
        """Back to normal: the episode's times and reminder count are cleared."""
        return replace(
            self, state="normal", since=None, started_at=None, last_notified_at=None, repeats=0
        )


def new_alert(alert_id: str, rule: str, metric: str, key: SeriesKey) -> AlertState:
    return AlertState(
        alert_id=alert_id,
        rule=rule,
        metric=metric,
        scope=key.scope,
        room_id=key.room_id,
        product_id=key.product_id,
        ident=key.ident,
    )


@dataclass(frozen=True)
class EngineState:
    """Everything the engine keeps between ticks (one state file).

    Notification keys hang on ``epoch`` (random, per state file) and ``tick`` (the number of
    committed ticks): see :mod:`livekit.monitor.engine`.
    """

    epoch: str
    tick: int = 0
    updated_at: datetime | None = None
    alerts: Mapping[str, AlertState] = field(default_factory=dict)

    def active(self) -> list[AlertState]:
        """Alerts pending or firing, by id."""
        return [a for _, a in sorted(self.alerts.items()) if a.active]
