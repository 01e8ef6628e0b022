"""The alert engine: rules × series on air → alert states, records and grouped notifications.

Every rule is checked against every series of its scope (rooms, or room × product pairs) that
its ``match`` admits. One (rule, series) pair is one alert, an :class:`AlertState`, identified
by ``alert_id = "<rule>|<series ident>"`` (deduplication by rule and series). Its states:

* ``normal`` → ``pending`` when the condition starts to hold (or straight to ``firing`` when
  ``for`` is 0);
* ``pending`` → ``firing`` once the condition has held for ``for`` minutes (by
  ``source.now()``, so virtual time works); ``pending`` → ``normal`` when it stops first;
* ``firing`` → ``resolved`` (and back to ``normal``) when the condition is false, when the room
  goes off air (note 直播已结束), or when the rule no longer applies. A still-firing alert is
  re-notified every ``repeat`` minutes (0: never), never more often.

No data (no value, a rate whose denominator is below ``min_denominator``, or a window in which
the product was being explained, for a rule with ``explaining: skip``) follows the rule's
``no_data``: ``keep`` (nothing changes), ``ok`` (as if false) or ``alert`` (as if true).
Anomaly rules chart one point per ``window`` minutes (non-overlapping windows, so the points
are close to independent, as the control-chart limits assume) and keep their last verdict in
between; see :mod:`livekit.monitor.detect`. Rates are fractions throughout (0.035 is 3.5%).

The parts: :mod:`.state` (the typed state), :mod:`.machine` (the transitions; pure, no files,
no text), :mod:`.render` (records, templates, grouped messages and their keys) and
:mod:`.persist` (the JSON state file). :class:`Engine` ties them together.

The two-phase tick (crash safety)::

    result = engine.evaluate(source)      # pure: reads the committed state, writes nothing
    outbox.put(result.outgoing)           # durable, deduplicates on Message.key
    store.append("alerts", result.rows()) # the alerts dataset
    engine.commit(result)                 # atomically persists the new state

``evaluate`` starts from the last *committed* state every time. Notification keys depend only
on that state (its random ``epoch`` and the number of committed ticks) and on which alerts
change how, never on the clock. So if the process dies after the outbox took the messages but
before ``commit``, the restarted engine re-evaluates from the same state and produces the same
keys for the same notifications: the outbox drops them as already sent. If it dies before the
outbox took them, nothing was sent and nothing was committed: they are simply produced again.
A firing alert that was committed stays firing across restarts, so its resolution is sent
once the condition clears. (If the condition flips during the crash, a firing message may be
in the outbox without a firing state: the alert then fires again later with a new key.)

The state file is described in :mod:`.persist`. Only alerts that are not normal, or that hold
a detector, are kept; an alert whose series is gone is resolved (if firing) and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from livekit.monitor.engine import machine, persist
from livekit.monitor.engine.machine import (
    NOTE_NO_MATCH,
    NOTE_OFF_AIR,
    NOTE_PRODUCT_GONE,
    NOTE_RULE_GONE,
    alert_id,
)
from livekit.monitor.engine.persist import STATE_VERSION, AlertStateError
from livekit.monitor.engine.render import (
    TITLE_PREFIX,
    AlertRecord,
    Notice,
    NoticeKind,
    Outgoing,
    Renderer,
)
from livekit.monitor.engine.state import AlertState, EngineState
from livekit.monitor.rules import Rule, RuleSet
from livekit.monitor.types import Message, MetricSource

__all__ = [
    "NOTE_NO_MATCH",
    "NOTE_OFF_AIR",
    "NOTE_PRODUCT_GONE",
    "NOTE_RULE_GONE",
    "STATE_VERSION",
    "TITLE_PREFIX",
    "AlertRecord",
    "AlertState",
    "AlertStateError",
    "Engine",
    "EngineState",
    "EvalResult",
    "Notice",
    "NoticeKind",
    "Outgoing",
    "alert_id",
]


@dataclass(frozen=True)
class EvalResult:
    """What one tick decided; nothing is persisted until :meth:`Engine.commit`."""

    at: datetime
    tick: int  # the tick this result would commit
    records: tuple[AlertRecord, ...]
    outgoing: tuple[Outgoing, ...]
    problems: tuple[str, ...]  # Chinese notes (a template that failed, a source error)
    epoch: str
    state: EngineState = field(repr=False)

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(o.message for o in self.outgoing)

    def rows(self) -> list[dict[str, Any]]:
        """The records as rows of the ``alerts`` dataset."""
        return [r.as_row() for r in self.records]


class Engine:
    """Evaluates a :class:`RuleSet` tick by tick; state lives in ``state_path``."""

    def __init__(self, ruleset: RuleSet, state_path: Path | str) -> None:
        self.ruleset = ruleset
        self.state_path = Path(state_path)
        self._rules: dict[str, Rule] = {r.name: r for r in ruleset.enabled}
        self._renderer = Renderer(ruleset)
        state, in_percent, rewrite = persist.load(self.state_path)
        if in_percent:  # a version-1 file: rates were percentage points
            state = machine.from_percent(state, self._rules)
        if rewrite:  # nothing readable is dropped, and the next load is clean
            persist.write(self.state_path, state)
        self._state = state

    @property
    def state(self) -> EngineState:
        """The committed state."""
        return self._state

    @property
    def tick(self) -> int:
        """Number of committed ticks."""
        return self._state.tick

    @property
    def epoch(self) -> str:
        return self._state.epoch

    def active(self) -> list[AlertState]:
        """Alerts pending or firing in the committed state, for a status display."""
        return self._state.active()

    def rule(self, name: str) -> Rule | None:
        return self._rules.get(name)

    def evaluate(self, source: MetricSource) -> EvalResult:
        """Check every rule on every series; nothing is written (see :meth:`commit`)."""
        committed = self._state
        tick = committed.tick + 1
        changes = machine.evaluate(self.ruleset.enabled, committed, source)
        out = self._renderer.tick(changes.transitions, changes.now, tick, committed.epoch)
        state = EngineState(
            epoch=committed.epoch, tick=tick, updated_at=changes.now, alerts=changes.alerts
        )
        return EvalResult(
            at=changes.now,
            tick=tick,
            records=out.records,
            outgoing=out.outgoing,
            problems=changes.problems + out.problems,
            epoch=committed.epoch,
            state=state,
        )

    def commit(self, result: EvalResult) -> None:
        """Persist the state ``result`` was computed to (atomically)."""
        if result.epoch != self.epoch or result.tick != self.tick + 1:
            raise ValueError(
                f"stale result: tick {result.tick} of epoch {result.epoch}, "
                f"engine at tick {self.tick} of epoch {self.epoch}"
            )
        persist.write(self.state_path, result.state)
        self._state = result.state
