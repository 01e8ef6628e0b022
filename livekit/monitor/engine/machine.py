"""The alert state machine: rules × series on air → new alert states and their transitions.

Pure: :func:`evaluate` reads a :class:`~.state.EngineState` and a
:class:`~livekit.monitor.types.MetricSource` and returns the next alerts and what changed; it
writes no file and renders no text (see :mod:`.render` and :mod:`.persist`), so it is tested
with a scripted source and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from livekit.monitor.detect import Cusum, Detector, Ewma, detector_from_state
from livekit.monitor.engine.state import AlertState, EngineState, new_alert
from livekit.monitor.metrics import METRICS
from livekit.monitor.rules import (
    AnomalyCondition,
    BenchmarkCondition,
    Rule,
    ThresholdCondition,
)
from livekit.monitor.types import MetricSource, MetricValue, Scope, SeriesKey

log = logging.getLogger("livekit.monitor.engine")

NOTE_OFF_AIR = "直播已结束"
NOTE_PRODUCT_GONE = "商品已不在直播间"
NOTE_RULE_GONE = "规则已删除或停用"
NOTE_NO_MATCH = "规则已不再适用于该直播间"
LOG_SIGMA_FLOOR = 0.05
# On the log scale a rate is charted in percentage points (log(1 + 100·x)): one point plays the
# part one event plays for a count, so σ in log units keeps its meaning (0.2 ≈ a 20% change).
RATE_LOG_SCALE = 100.0
_DUE_SLACK_MIN = 0.1  # a point is due this many minutes early: polls are not exactly periodic

TransitionKind = Literal["pending", "normal", "firing", "repeat", "resolved"]


@dataclass(frozen=True)
class Outcome:
    """The condition of one (rule, series) at one tick: True, False or None (no data)."""

    holds: bool | None
    value: float | None = None
    threshold: float | None = None
    benchmark: float | None = None
    baseline: float | None = None


@dataclass(frozen=True)
class Transition:
    """One change of one alert, with the alert as it was at that moment.

    ``pending``, ``normal`` (a pending alert cancelled) and ``resolved`` carry the alert before
    it returned to normal (so its ``since`` is still known); ``firing`` and ``repeat`` the
    firing alert. ``rule`` is None when the rule is gone from the file.
    """

    kind: TransitionKind
    alert: AlertState
    rule: Rule | None
    note: str = ""

    @property
    def notifies(self) -> bool:
        return self.kind in ("firing", "repeat", "resolved")

    @property
    def recorded(self) -> bool:
        return self.kind != "repeat"


@dataclass(frozen=True)
class TickChanges:
    """What :func:`evaluate` decided: the alerts to keep, the transitions, the problems."""

    now: datetime
    alerts: Mapping[str, AlertState]
    transitions: tuple[Transition, ...]
    problems: tuple[str, ...]  # Chinese notes (a source error, a rule that failed)


# ---- helpers ----------------------------------------------------------------------------------


def alert_id(rule: Rule, key: SeriesKey) -> str:
    return f"{rule.name}|{key.ident}"


def minutes_between(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60.0


def stable_hash(*parts: Any) -> str:
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def fingerprint(rule: Rule) -> str:
    """Changes when what the detector depends on changes (then it starts afresh)."""
    # which windows it sees: named only when explained ones are skipped, so that the
    # detectors of every rule written before the field existed keep their fingerprints
    seen = ("explaining", "skip") if rule.explaining == "skip" else ()
    return stable_hash(
        rule.metric, rule.scope, rule.window_min, rule.condition.model_dump(), *seen
    )[:16]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _new_detector(cond: AnomalyCondition) -> Detector:
    # On a log scale a share of |μ₀| means nothing (μ₀ = log 50 ≈ 3.9): floor σ at 0.05 (a 5%
    # change) unless the rule gives min_sigma.
    floor = cond.min_sigma
    if floor is None and cond.transform == "log":
        floor = LOG_SIGMA_FLOOR
    if cond.method == "ewma":
        return Ewma(
            cond.lambda_, cond.L, direction=cond.direction, warmup=cond.warmup, min_sigma=floor
        )
    return Cusum(cond.k, cond.h, direction=cond.direction, warmup=cond.warmup, min_sigma=floor)


def _log_scale(rule: Rule) -> float:
    return RATE_LOG_SCALE if rule.spec.is_rate else 1.0


def _forward(rule: Rule, cond: AnomalyCondition, value: float) -> float:
    if cond.transform == "log":
        return math.log1p(max(value * _log_scale(rule), 0.0))
    return value


def _backward(rule: Rule, cond: AnomalyCondition, value: float) -> float:
    if cond.transform == "log":
        return math.expm1(value) / _log_scale(rule)
    return value


def _usable(rule: Rule, mv: MetricValue) -> float | None:
    """The value, or None when it counts as no data."""
    value, denominator = _finite(mv.value), mv.denominator
    if value is None:
        return None
    if rule.explaining == "skip" and mv.explained:
        return None
    if (
        rule.min_denominator is not None
        and rule.spec.is_rate
        and (denominator is None or denominator < rule.min_denominator)
    ):
        return None
    return value


def _safe_minute(source: MetricSource, key: SeriesKey) -> int | None:
    try:
        return source.minute_of_show(key)
    except Exception:  # the minute is only shown in messages
        log.exception("minute_of_show failed for %s", key.ident)
        return None


# ---- conditions ---------------------------------------------------------------------------------


def check(
    rule: Rule,
    key: SeriesKey,
    alert: AlertState,
    source: MetricSource,
    now: datetime,
    stamp: str | None = None,
) -> tuple[Outcome, AlertState]:
    """The rule's condition on the series now, and the alert with its detector moved on
    (``stamp``: the rule's :func:`fingerprint`, when the caller has it already)."""
    cond = rule.condition
    window = rule.window_min
    if isinstance(cond, AnomalyCondition):
        stamp = fingerprint(rule) if stamp is None else stamp
        return _check_anomaly(rule, cond, key, alert, source, now, stamp)
    mv = source.value(rule.metric, key, window)
    value = _usable(rule, mv)
    if value is None:
        return Outcome(None, value=_finite(mv.value)), alert
    benchmark: float | None = None
    if isinstance(cond, ThresholdCondition):
        line = cond.value
    else:
        assert isinstance(cond, BenchmarkCondition)
        if cond.benchmark == "own_median":
            minute = source.minute_of_show(key)
            hist = (
                None if minute is None else source.history_median(rule.metric, key, minute, window)
            )
            benchmark = _finite(hist)
        else:
            benchmark = cond.value
        if benchmark is None:
            return Outcome(None, value=value), alert
        line = benchmark * cond.factor
    holds = value < line if cond.op == "below" else value > line
    return Outcome(holds, value=value, threshold=line, benchmark=benchmark), alert


def _check_anomaly(
    rule: Rule,
    cond: AnomalyCondition,
    key: SeriesKey,
    alert: AlertState,
    source: MetricSource,
    now: datetime,
    stamp: str,
) -> tuple[Outcome, AlertState]:
    if alert.fingerprint != stamp or alert.detector is None:
        alert = replace(
            alert,
            fingerprint=stamp,
            detector=_new_detector(cond).to_state(),
            point_at=None,
            verdict=False,
        )
    window = rule.window_min
    minute = source.minute_of_show(key)
    early = minute is not None and minute < window - _DUE_SLACK_MIN
    point_at = alert.point_at
    if early or (point_at is not None and minutes_between(point_at, now) < window - _DUE_SLACK_MIN):
        # Between points (or before the first full window) the last verdict stands.
        return Outcome(alert.verdict, value=alert.value, baseline=alert.baseline), alert
    mv = source.value(rule.metric, key, window)
    value = _usable(rule, mv)
    if value is None:
        return Outcome(None, value=_finite(mv.value)), alert
    offset = 0.0  # the history baseline, on the chart's scale
    if cond.baseline == "history":
        found = None if minute is None else source.history_median(rule.metric, key, minute, window)
        hist = _finite(found)
        if hist is None:
            return Outcome(None, value=value), alert
        offset = _forward(rule, cond, hist)
    assert alert.detector is not None
    detector = detector_from_state(alert.detector)
    signal = detector.update(_forward(rule, cond, value) - offset)
    verdict = bool(signal is not None and signal.alarm)
    baseline = None if signal is None else _backward(rule, cond, signal.mu0 + offset)
    alert = replace(  # the value too: one new state per point (see _remember)
        alert,
        detector=detector.to_state(),
        point_at=now,
        verdict=verdict,
        value=value,
        baseline=baseline,
    )
    return Outcome(verdict, value=value, baseline=baseline), alert


# ---- transitions --------------------------------------------------------------------------------


def _remember(alert: AlertState, outcome: Outcome) -> AlertState:
    changes: dict[str, Any] = {}
    if outcome.value is not None:
        changes["value"] = outcome.value
    elif outcome.holds is None:
        changes["value"] = None
    for name in ("threshold", "benchmark", "baseline"):
        got = getattr(outcome, name)
        if got is not None:
            changes[name] = got
    # a new state only when something changed: most series at most ticks change nothing
    changes = {k: v for k, v in changes.items() if getattr(alert, k) != v}
    return replace(alert, **changes) if changes else alert


def step(
    rule: Rule, alert: AlertState, outcome: Outcome, now: datetime
) -> tuple[AlertState, tuple[Transition, ...]]:
    """One tick of one alert whose series is on air: normal → pending → firing → resolved.

    No data follows the rule's ``no_data``: ``keep`` (nothing changes; a firing alert still
    reminds), ``ok`` (as if false) or ``alert`` (as if true).
    """
    holds = outcome.holds
    if holds is None:
        if rule.no_data == "ok":
            holds = False
        elif rule.no_data == "alert":
            holds = True
    alert = _remember(alert, outcome)
    if holds is True:
        if alert.state == "normal":
            alert = replace(alert, since=now)
            if rule.for_ <= 0:
                return _fire(rule, alert, now)
            alert = replace(alert, state="pending")
            return alert, (Transition("pending", alert, rule),)
        if alert.state == "pending":
            since = alert.since or now
            if minutes_between(since, now) >= rule.for_:
                return _fire(rule, alert, now)
            return alert, ()
        return _maybe_repeat(rule, alert, now)
    if holds is False:
        if alert.state == "pending":
            return alert.to_normal(), (Transition("normal", alert, rule),)
        if alert.state == "firing":
            return alert.to_normal(), (Transition("resolved", alert, rule),)
        return alert, ()
    if alert.state == "firing":  # no data, keep: still firing, reminders go on
        return _maybe_repeat(rule, alert, now)
    return alert, ()


def _fire(
    rule: Rule, alert: AlertState, now: datetime
) -> tuple[AlertState, tuple[Transition, ...]]:
    alert = replace(alert, state="firing", started_at=now, last_notified_at=now, repeats=0)
    return alert, (Transition("firing", alert, rule),)


def _maybe_repeat(
    rule: Rule, alert: AlertState, now: datetime
) -> tuple[AlertState, tuple[Transition, ...]]:
    last = alert.last_notified_at or now
    if rule.repeat > 0 and minutes_between(last, now) >= rule.repeat:
        alert = replace(alert, last_notified_at=now, repeats=alert.repeats + 1)
        return alert, (Transition("repeat", alert, rule),)
    return alert, ()


def close(alert: AlertState, rule: Rule | None, note: str) -> tuple[Transition, ...]:
    """The series is gone (off air, product removed, rule removed): firing resolves, pending
    is cancelled, each with ``note``."""
    if alert.state == "firing":
        return (Transition("resolved", alert, rule, note),)
    if alert.state == "pending":
        return (Transition("normal", alert, rule, note),)
    return ()


def _refresh(alert: AlertState, rule: Rule, key: SeriesKey) -> AlertState:
    """Display data that may change between ticks (titles) or with the rules file."""
    labels = {str(k): str(v) for k, v in key.labels.items()}
    channels = tuple(rule.channels)
    if (
        alert.labels == labels
        and alert.severity == rule.severity
        and alert.channels == channels
        and alert.metric == rule.metric
    ):
        return alert
    return replace(
        alert, labels=labels, severity=rule.severity, channels=channels, metric=rule.metric
    )


def evaluate(rules: Sequence[Rule], state: EngineState, source: MetricSource) -> TickChanges:
    """Check every rule on every series of its scope that its ``match`` admits.

    ``rules`` are the enabled rules, in file order. Alerts whose series is gone (or whose rule
    is) are closed and dropped; only alerts that are not normal, or hold a detector, are kept.
    """
    now = source.now()
    alerts = dict(state.alerts)
    transitions: list[Transition] = []
    problems: list[str] = []
    by_name = {r.name: r for r in rules}

    series: dict[Scope, list[SeriesKey]] = {"room": [], "product": []}
    for scope in ("room", "product"):
        try:
            series[scope] = list(source.series(scope))
        except Exception as exc:  # a broken source must not stop the monitor
            log.exception("series(%s) failed", scope)
            problems.append(f"读取{scope}列表失败：{exc}")
            # Without a list, nothing can be said about what is on air: keep every alert.
            return TickChanges(now, state.alerts, (), tuple(problems))
    rooms_on_air = {k.room_id for k in series["room"]}

    seen: set[str] = set()
    for rule in rules:
        stamp = fingerprint(rule)  # once per rule, not per series
        for key in series[rule.scope]:
            if not rule.matches(key.labels):
                continue
            aid = alert_id(rule, key)
            if aid in seen:
                continue
            seen.add(aid)
            alert = alerts.get(aid) or new_alert(aid, rule.name, rule.metric, key)
            alert = _refresh(alert, rule, key)
            try:
                outcome, alert = check(rule, key, alert, source, now, stamp)
            except Exception as exc:  # one failing series must not stop the others
                log.exception("rule %s on %s failed", rule.name, key.ident)
                problems.append(f"规则 “{rule.name}” 在 {key.ident} 上计算失败：{exc}")
                outcome = Outcome(None)
            minute = _safe_minute(source, key)
            if alert.minute != minute:
                alert = replace(alert, minute=minute)
            alert, changes = step(rule, alert, outcome, now)
            transitions.extend(changes)
            if alert.kept:
                alerts[aid] = alert
            else:
                alerts.pop(aid, None)

    for aid in sorted(set(alerts) - seen):
        alert = alerts.pop(aid)
        if alert.room_id not in rooms_on_air:
            note = NOTE_OFF_AIR
        elif alert.rule not in by_name:
            note = NOTE_RULE_GONE
        elif alert.scope == "product":
            note = NOTE_PRODUCT_GONE
        else:
            note = NOTE_NO_MATCH
        transitions.extend(close(alert, by_name.get(alert.rule), note))
    return TickChanges(now, alerts, tuple(transitions), tuple(problems))


# ---- alerts kept by a version-1 state file (rates in percent) -----------------------------------


def _legacy_fingerprint(rule: Rule) -> str:
    """:func:`fingerprint` as version 1 computed it, when a rate's ``min_sigma`` (on the
    linear scale) was written in percentage points."""
    cond = rule.condition
    dump = cond.model_dump()
    if (
        isinstance(cond, AnomalyCondition)
        and rule.spec.is_rate
        and cond.transform == "none"
        and cond.min_sigma is not None
    ):
        dump["min_sigma"] = round(cond.min_sigma * 100.0, 9)
    return stable_hash(rule.metric, rule.scope, rule.window_min, dump)[:16]


def _scaled_detector(state: Mapping[str, Any], factor: float) -> dict[str, Any]:
    """A detector's state with everything in the metric's units multiplied by ``factor``
    (the CUSUM sums, k and h are in σ units and stay)."""
    out = dict(state)
    for name in ("mu0", "sigma", "min_sigma", "z"):
        if out.get(name) is not None:
            out[name] = float(out[name]) * factor
    out["warm"] = [float(v) * factor for v in out.get("warm", [])]
    return out


def from_percent(state: EngineState, rules: Mapping[str, Rule]) -> EngineState:
    """The alerts of a version-1 state file, with rates made fractions.

    Version 1 kept rate values in percentage points (3.5 for 3.5%). Values, lines and baselines
    of rate alerts are divided by 100. A detector is kept when it belongs to the rule as it is
    now (its version-1 fingerprint matches): on the linear scale its state is rescaled, on the
    log scale it is unchanged (rates are charted in points there); it is then stamped with the
    current fingerprint, so a monitor upgraded mid-show keeps its baselines. Any other detector
    keeps its old stamp and starts afresh at its next point, as after any edit of its rule.
    """
    out: dict[str, AlertState] = {}
    for aid, alert in state.alerts.items():
        spec = METRICS.get(alert.metric)
        if spec is None or not spec.is_rate:
            out[aid] = alert
            continue

        def pct(v: float | None) -> float | None:
            return None if v is None else v / 100.0

        alert = replace(
            alert,
            value=pct(alert.value),
            threshold=pct(alert.threshold),
            benchmark=pct(alert.benchmark),
            baseline=pct(alert.baseline),
        )
        rule = rules.get(alert.rule)
        if (
            alert.detector is not None
            and rule is not None
            and isinstance(rule.condition, AnomalyCondition)
            and rule.metric == alert.metric
            and alert.fingerprint == _legacy_fingerprint(rule)
        ):
            detector = alert.detector
            if rule.condition.transform == "none":
                detector = _scaled_detector(detector, 0.01)
            alert = replace(alert, detector=detector, fingerprint=fingerprint(rule))
        out[aid] = alert
    return replace(state, alerts=out)
