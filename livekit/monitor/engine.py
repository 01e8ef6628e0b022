"""The alert engine: rules × series on air → alert states, records and grouped notifications.

Every rule is checked against every series of its scope (rooms, or room × product pairs) that
its ``match`` admits. One (rule, series) pair is one alert, identified by
``alert_id = "<rule>|<series ident>"`` (deduplication by rule and series). Its states:

* ``normal`` → ``pending`` when the condition starts to hold (or straight to ``firing`` when
  ``for`` is 0);
* ``pending`` → ``firing`` once the condition has held for ``for`` minutes (by
  ``source.now()``, so virtual time works); ``pending`` → ``normal`` when it stops first;
* ``firing`` → ``resolved`` (and back to ``normal``) when the condition is false, when the room
  goes off air (note 直播已结束), or when the rule no longer applies. A still-firing alert is
  re-notified every ``repeat`` minutes (0: never), never more often.

No data (no value, or a rate whose denominator is below ``min_denominator``) follows the rule's
``no_data``: ``keep`` (nothing changes), ``ok`` (as if false) or ``alert`` (as if true).
Anomaly rules chart one point per ``window`` minutes (non-overlapping windows, so the points
are close to independent, as the control-chart limits assume) and keep their last verdict in
between; see :mod:`livekit.monitor.detect`.

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

State file (JSON, written with :func:`livekit._files.write_bytes_atomic`)::

    {"version": 1, "epoch": "<hex>", "tick": 42, "updated_at": "<iso>",
     "alerts": {"<alert_id>": {"rule", "metric", "scope", "room_id", "product_id", "ident",
                               "labels", "severity", "channels", "state", "since",
                               "started_at", "last_notified_at", "repeats", "value",
                               "threshold", "benchmark", "baseline", "minute",
                               "fingerprint", "detector", "point_at", "verdict"}}}

Only alerts that are not normal, or that hold a detector, are kept; an alert whose series is
gone is resolved (if firing) and dropped.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import jinja2

from livekit._files import keep_damaged, write_bytes_atomic
from livekit.config import LivekitError
from livekit.monitor.detect import Cusum, Detector, Ewma, detector_from_state
from livekit.monitor.metrics import METRICS
from livekit.monitor.rules import (
    DEFAULT_MESSAGE,
    DEFAULT_RESOLVED_MESSAGE,
    SEVERITY_LABELS,
    SEVERITY_ORDER,
    AnomalyCondition,
    BenchmarkCondition,
    Rule,
    RuleSet,
    TemplateFormat,
    ThresholdCondition,
    compile_template,
)
from livekit.monitor.types import Message, MessageKind, MetricSource, Scope, SeriesKey, Severity

log = logging.getLogger(__name__)

STATE_VERSION = 1
TITLE_PREFIX = "【直播告警】"
NOTE_OFF_AIR = "直播已结束"
NOTE_PRODUCT_GONE = "商品已不在直播间"
NOTE_RULE_GONE = "规则已删除或停用"
NOTE_NO_MATCH = "规则已不再适用于该直播间"
LOG_SIGMA_FLOOR = 0.05
_DUE_SLACK_MIN = 0.1  # a point is due this many minutes early: polls are not exactly periodic

NoticeKind = Literal["firing", "repeat", "resolved"]
_KIND_WORDS: dict[str, str] = {"firing": "触发", "repeat": "持续", "resolved": "恢复"}
_KIND_ORDER: dict[str, int] = {"firing": 0, "repeat": 1, "resolved": 2}


class AlertStateError(LivekitError):
    """The engine's state file can't be read; the message says what to do."""


# ---- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRecord:
    """One state change of one alert: a row of the ``alerts`` dataset."""

    alert_id: str
    rule: str
    metric: str
    severity: Severity
    scope: Scope
    room_id: int
    product_id: int | None
    labels: str  # JSON object: the series' labels and the rule's labels
    state: Literal["pending", "firing", "resolved", "normal"]
    started_at: datetime | None  # when the condition began to hold
    changed_at: datetime
    value: float | None
    threshold: float | None
    benchmark: float | None
    minute_of_show: int | None
    message: str
    note: str = ""

    def as_row(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "metric": self.metric,
            "severity": self.severity,
            "scope": self.scope,
            "room_id": self.room_id,
            "product_id": self.product_id,
            "labels": self.labels,
            "state": self.state,
            "started_at": self.started_at,
            "changed_at": self.changed_at,
            "value": self.value,
            "threshold": self.threshold,
            "benchmark": self.benchmark,
            "minute_of_show": self.minute_of_show,
            "message": self.message,
            "note": self.note,
        }


@dataclass(frozen=True)
class Notice:
    """One alert's line in a notification."""

    key: str  # stable for (state epoch, tick, alert, kind): see the module docstring
    alert_id: str
    kind: NoticeKind
    severity: Severity
    rule: str
    text: str  # the rendered template, values inert as plain text
    markdown: str  # the same, values inert as Markdown (see livekit.monitor.markup)
    channels: tuple[str, ...]
    order: int  # the rule's position in the file, for a stable listing


@dataclass(frozen=True)
class Outgoing:
    """One grouped message and the channels it goes to."""

    channels: tuple[str, ...]
    message: Message
    notices: tuple[Notice, ...]


@dataclass(frozen=True)
class EvalResult:
    """What one tick decided; nothing is persisted until :meth:`Engine.commit`."""

    at: datetime
    tick: int  # the tick this result would commit
    records: tuple[AlertRecord, ...]
    outgoing: tuple[Outgoing, ...]
    problems: tuple[str, ...]  # Chinese notes (a template that failed, a source error)
    epoch: str
    state: dict[str, Any] = field(repr=False)

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(o.message for o in self.outgoing)

    def rows(self) -> list[dict[str, Any]]:
        """The records as rows of the ``alerts`` dataset."""
        return [r.as_row() for r in self.records]


@dataclass(frozen=True)
class _Rendered:
    """One message template, rendered for plain-text and for Markdown channels."""

    text: str
    markdown: str


@dataclass(frozen=True)
class _Outcome:
    """The condition of one (rule, series) at one tick: True, False or None (no data)."""

    holds: bool | None
    value: float | None = None
    threshold: float | None = None
    benchmark: float | None = None
    baseline: float | None = None


# ---- helpers ----------------------------------------------------------------------------------


def alert_id(rule: Rule, key: SeriesKey) -> str:
    return f"{rule.name}|{key.ident}"


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60.0


def _hash(*parts: Any) -> str:
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _fingerprint(rule: Rule) -> str:
    """Changes when what the detector depends on changes (then it starts afresh)."""
    return _hash(rule.metric, rule.scope, rule.window_min, rule.condition.model_dump())[:16]


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


def _forward(cond: AnomalyCondition, value: float) -> float:
    return math.log1p(max(value, 0.0)) if cond.transform == "log" else value


def _backward(cond: AnomalyCondition, value: float) -> float:
    return math.expm1(value) if cond.transform == "log" else value


def _empty_state() -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "epoch": secrets.token_hex(8),
        "tick": 0,
        "updated_at": None,
        "alerts": {},
    }


def _parse_state(raw: bytes) -> tuple[dict[str, Any], int | None]:
    """(state, None) for a sound file; (the readable part, entries skipped) for a damaged one,
    0 meaning the file as a whole was unreadable (a fresh state then, with a new epoch)."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("version")
        alerts = data["alerts"]
        if not isinstance(alerts, dict):
            raise TypeError("alerts")
    except (ValueError, TypeError, KeyError):
        return _empty_state(), 0
    good = {aid: inst for aid, inst in alerts.items() if _sound_alert(inst)}
    skipped = len(alerts) - len(good)
    epoch, tick = data.get("epoch"), data.get("tick")
    if (
        isinstance(epoch, str)
        and epoch
        and isinstance(tick, int)
        and not isinstance(tick, bool)
        and tick >= 0
    ):
        state = {**data, "alerts": good}
    else:  # notification keys hang on epoch and tick: a new epoch can't repeat old keys
        state = {**_empty_state(), "alerts": good}
        skipped += 1
    return state, (skipped or None)


_ALERT_STATES = ("pending", "firing", "resolved", "normal")


def _sound_alert(inst: Any) -> bool:
    """Whether a stored alert has what evaluating and rendering it reads."""
    try:
        if not isinstance(inst, dict) or inst["state"] not in _ALERT_STATES:
            return False
        if not isinstance(inst["rule"], str) or inst["metric"] not in METRICS:
            return False
        if inst["scope"] not in ("room", "product") or not isinstance(inst["ident"], str):
            return False
        if isinstance(inst["room_id"], bool) or not isinstance(inst["room_id"], int | str):
            return False
        if inst.get("severity", "warning") not in SEVERITY_LABELS:
            return False
        if not isinstance(inst.get("labels") or {}, dict):
            return False
        for name in ("since", "started_at", "last_notified_at", "point_at"):
            if inst.get(name) is not None:
                datetime.fromisoformat(inst[name])
        for name in ("value", "threshold", "benchmark", "baseline"):
            value = inst.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                return False
        repeats = inst.get("repeats", 0)
        if isinstance(repeats, bool) or not isinstance(repeats, int):
            return False
        if "detector" in inst:
            detector_from_state(inst["detector"])
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        return False
    return True


# ---- the engine -------------------------------------------------------------------------------


class Engine:
    """Evaluates a :class:`RuleSet` tick by tick; state lives in ``state_path``."""

    def __init__(self, ruleset: RuleSet, state_path: Path | str) -> None:
        self.ruleset = ruleset
        self.state_path = Path(state_path)
        self._rules = {r.name: r for r in ruleset.enabled}
        self._order = {r.name: i for i, r in enumerate(ruleset.rules)}
        self._templates: dict[tuple[str, TemplateFormat], jinja2.Template] = {}
        self._state = self._load()

    # ---- state ----------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            # Written now, not at the first commit: the epoch must survive a crash before it.
            state = _empty_state()
            self._write(state)
            return state
        except OSError as exc:
            raise AlertStateError(f"无法读取告警状态文件 {self.state_path}：{exc}") from None
        state, damaged = _parse_state(raw)
        if damaged is not None:
            # The original stays beside the file; the good alerts are written back at once,
            # so the next load is clean and nothing readable was dropped.
            keep_damaged(self.state_path, raw, skipped=damaged or None)
            self._write(state)
        return state

    def _write(self, state: Mapping[str, Any]) -> None:
        data = json.dumps(state, ensure_ascii=False, sort_keys=True, indent=1)
        write_bytes_atomic(self.state_path, data.encode("utf-8"))

    @property
    def tick(self) -> int:
        """Number of committed ticks."""
        return int(self._state["tick"])

    @property
    def epoch(self) -> str:
        return str(self._state["epoch"])

    def active(self) -> list[dict[str, Any]]:
        """Alerts pending or firing in the committed state (copies), for a status display."""
        return [
            {"alert_id": aid, **copy.deepcopy(inst)}
            for aid, inst in sorted(self._state["alerts"].items())
            if inst.get("state") in ("pending", "firing")
        ]

    def commit(self, result: EvalResult) -> None:
        """Persist the state ``result`` was computed to (atomically)."""
        if result.epoch != self.epoch or result.tick != self.tick + 1:
            raise ValueError(
                f"stale result: tick {result.tick} of epoch {result.epoch}, "
                f"engine at tick {self.tick} of epoch {self.epoch}"
            )
        self._write(result.state)
        self._state = copy.deepcopy(result.state)

    # ---- one tick ---------------------------------------------------------------------------
    def evaluate(self, source: MetricSource) -> EvalResult:
        """Check every rule on every series; nothing is written (see :meth:`commit`)."""
        now = source.now()
        state = copy.deepcopy(self._state)
        tick = int(state["tick"]) + 1
        alerts: dict[str, dict[str, Any]] = state["alerts"]
        run = _Tick(self, now, tick, str(state["epoch"]))

        series: dict[Scope, list[SeriesKey]] = {"room": [], "product": []}
        for scope in ("room", "product"):
            try:
                series[scope] = list(source.series(scope))
            except Exception as exc:  # a broken source must not stop the monitor
                log.exception("series(%s) failed", scope)
                run.problems.append(f"读取{scope}列表失败：{exc}")
                # Without a list, nothing can be said about what is on air: keep every alert.
                return run.result(state)
        rooms_on_air = {k.room_id for k in series["room"]}

        seen: set[str] = set()
        for rule in self.ruleset.enabled:
            for key in series[rule.scope]:
                if not rule.matches(key.labels):
                    continue
                aid = alert_id(rule, key)
                if aid in seen:
                    continue
                seen.add(aid)
                inst = alerts.get(aid) or _new_instance(rule, key)
                _refresh(inst, rule, key)
                try:
                    outcome = self._check(rule, key, inst, source, now)
                except Exception as exc:  # one failing series must not stop the others
                    log.exception("rule %s on %s failed", rule.name, key.ident)
                    run.problems.append(f"规则 “{rule.name}” 在 {key.ident} 上计算失败：{exc}")
                    outcome = _Outcome(None)
                minute = _safe_minute(source, key)
                inst["minute"] = minute
                run.step(rule, aid, inst, outcome)
                if inst["state"] != "normal" or "detector" in inst:
                    alerts[aid] = inst
                else:
                    alerts.pop(aid, None)

        for aid in sorted(set(alerts) - seen):
            inst = alerts.pop(aid)
            if inst["room_id"] not in rooms_on_air:
                note = NOTE_OFF_AIR
            elif inst["rule"] not in self._rules:
                note = NOTE_RULE_GONE
            elif inst["scope"] == "product":
                note = NOTE_PRODUCT_GONE
            else:
                note = NOTE_NO_MATCH
            run.close(aid, inst, note)
        return run.result(state)

    def _check(
        self,
        rule: Rule,
        key: SeriesKey,
        inst: dict[str, Any],
        source: MetricSource,
        now: datetime,
    ) -> _Outcome:
        cond = rule.condition
        window = rule.window_min
        if isinstance(cond, AnomalyCondition):
            return self._check_anomaly(rule, cond, key, inst, source, now)
        mv = source.value(rule.metric, key, window)
        value = _usable(rule, mv.value, mv.denominator)
        if value is None:
            return _Outcome(None, value=_finite(mv.value))
        benchmark: float | None = None
        if isinstance(cond, ThresholdCondition):
            line = cond.value
        else:
            assert isinstance(cond, BenchmarkCondition)
            if cond.benchmark == "own_median":
                minute = source.minute_of_show(key)
                hist = (
                    None
                    if minute is None
                    else source.history_median(rule.metric, key, minute, window)
                )
                benchmark = _finite(hist)
            else:
                benchmark = cond.value
            if benchmark is None:
                return _Outcome(None, value=value)
            line = benchmark * cond.factor
        holds = value < line if cond.op == "below" else value > line
        return _Outcome(holds, value=value, threshold=line, benchmark=benchmark)

    def _check_anomaly(
        self,
        rule: Rule,
        cond: AnomalyCondition,
        key: SeriesKey,
        inst: dict[str, Any],
        source: MetricSource,
        now: datetime,
    ) -> _Outcome:
        fingerprint = _fingerprint(rule)
        if inst.get("fingerprint") != fingerprint or "detector" not in inst:
            inst["fingerprint"] = fingerprint
            inst["detector"] = _new_detector(cond).to_state()
            inst.pop("point_at", None)
            inst["verdict"] = False
        point_at = _dt(inst.get("point_at"))
        window = rule.window_min
        minute = source.minute_of_show(key)
        early = minute is not None and minute < window - _DUE_SLACK_MIN
        if early or (point_at is not None and _minutes(point_at, now) < window - _DUE_SLACK_MIN):
            # Between points (or before the first full window) the last verdict stands.
            return _Outcome(
                bool(inst.get("verdict")), value=inst.get("value"), baseline=inst.get("baseline")
            )
        mv = source.value(rule.metric, key, window)
        value = _usable(rule, mv.value, mv.denominator)
        if value is None:
            return _Outcome(None, value=_finite(mv.value))
        offset = 0.0  # the history baseline, on the chart's scale
        if cond.baseline == "history":
            found = (
                None if minute is None else source.history_median(rule.metric, key, minute, window)
            )
            hist = _finite(found)
            if hist is None:
                return _Outcome(None, value=value)
            offset = _forward(cond, hist)
        detector = detector_from_state(inst["detector"])
        signal = detector.update(_forward(cond, value) - offset)
        inst["detector"] = detector.to_state()
        inst["point_at"] = _iso(now)
        verdict = bool(signal is not None and signal.alarm)
        baseline = None if signal is None else _backward(cond, signal.mu0 + offset)
        inst["verdict"] = verdict
        inst["baseline"] = baseline
        return _Outcome(verdict, value=value, baseline=baseline)

    def template(self, source: str, fmt: TemplateFormat = "text") -> jinja2.Template:
        if (source, fmt) not in self._templates:
            self._templates[(source, fmt)] = compile_template(source, fmt)
        return self._templates[(source, fmt)]

    def rule(self, name: str) -> Rule | None:
        return self._rules.get(name)

    def order(self, name: str) -> int:
        return self._order.get(name, len(self._order))


def _usable(rule: Rule, value: float | None, denominator: float | None) -> float | None:
    """The value, or None when it counts as no data."""
    value = _finite(value)
    if value is None:
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


def _new_instance(rule: Rule, key: SeriesKey) -> dict[str, Any]:
    return {
        "rule": rule.name,
        "metric": rule.metric,
        "scope": key.scope,
        "room_id": key.room_id,
        "product_id": key.product_id,
        "ident": key.ident,
        "state": "normal",
    }


def _refresh(inst: dict[str, Any], rule: Rule, key: SeriesKey) -> None:
    """Display data that may change between ticks (titles) or with the rules file."""
    inst["labels"] = {str(k): str(v) for k, v in key.labels.items()}
    inst["severity"] = rule.severity
    inst["channels"] = list(rule.channels)
    inst["metric"] = rule.metric


class _Tick:
    """Transitions, records and notices of one evaluation."""

    def __init__(self, engine: Engine, now: datetime, tick: int, epoch: str) -> None:
        self.engine = engine
        self.now = now
        self.tick = tick
        self.epoch = epoch
        self.records: list[AlertRecord] = []
        self.notices: list[Notice] = []
        self.problems: list[str] = []

    # ---- transitions --------------------------------------------------------------------
    def step(self, rule: Rule, aid: str, inst: dict[str, Any], outcome: _Outcome) -> None:
        holds = outcome.holds
        if holds is None:
            if rule.no_data == "ok":
                holds = False
            elif rule.no_data == "alert":
                holds = True
        self._remember(inst, outcome)
        state = inst["state"]
        if holds is True:
            if state == "normal":
                inst["since"] = _iso(self.now)
                if rule.for_ <= 0:
                    self._fire(rule, aid, inst)
                else:
                    inst["state"] = "pending"
                    self._record(aid, inst, "pending", rule=rule)
            elif state == "pending":
                since = _dt(inst.get("since")) or self.now
                if _minutes(since, self.now) >= rule.for_:
                    self._fire(rule, aid, inst)
            elif state == "firing":
                self._maybe_repeat(rule, aid, inst)
        elif holds is False:
            if state == "pending":
                self._record(aid, inst, "normal", rule=rule)
                _to_normal(inst)
            elif state == "firing":
                self._resolve(aid, inst, rule=rule, note="")
        elif state == "firing":  # no data, keep: still firing, reminders go on
            self._maybe_repeat(rule, aid, inst)

    def close(self, aid: str, inst: dict[str, Any], note: str) -> None:
        """The series is gone (off air, product removed, rule removed)."""
        if inst.get("state") == "firing":
            self._resolve(aid, inst, rule=self.engine.rule(inst["rule"]), note=note)
        elif inst.get("state") == "pending":
            self._record(aid, inst, "normal", rule=self.engine.rule(inst["rule"]), note=note)

    @staticmethod
    def _remember(inst: dict[str, Any], outcome: _Outcome) -> None:
        if outcome.value is not None:
            inst["value"] = outcome.value
        elif outcome.holds is None:
            inst["value"] = None
        for name in ("threshold", "benchmark", "baseline"):
            got = getattr(outcome, name)
            if got is not None:
                inst[name] = got

    def _fire(self, rule: Rule, aid: str, inst: dict[str, Any]) -> None:
        inst["state"] = "firing"
        inst["started_at"] = _iso(self.now)
        inst["last_notified_at"] = _iso(self.now)
        inst["repeats"] = 0
        text = self._render(rule.message, rule, inst, note="")
        self._record(aid, inst, "firing", rule=rule, text=text.text)
        self._notice(aid, "firing", rule.name, inst, text)

    def _maybe_repeat(self, rule: Rule, aid: str, inst: dict[str, Any]) -> None:
        last = _dt(inst.get("last_notified_at")) or self.now
        if rule.repeat > 0 and _minutes(last, self.now) >= rule.repeat:
            inst["last_notified_at"] = _iso(self.now)
            inst["repeats"] = int(inst.get("repeats", 0)) + 1
            text = self._render(rule.message, rule, inst, note="")
            self._notice(aid, "repeat", rule.name, inst, text)

    def _resolve(self, aid: str, inst: dict[str, Any], *, rule: Rule | None, note: str) -> None:
        template = rule.resolved_message if rule is not None else DEFAULT_RESOLVED_MESSAGE
        text = self._render(template, rule, inst, note=note)
        self._record(aid, inst, "resolved", rule=rule, text=text.text, note=note)
        self._notice(aid, "resolved", inst["rule"], inst, text)
        _to_normal(inst)

    # ---- output -------------------------------------------------------------------------
    def _context(self, rule: Rule | None, inst: dict[str, Any], note: str) -> dict[str, Any]:
        spec = METRICS[inst["metric"]]
        scope: Scope = inst["scope"]
        labels = inst.get("labels") or {}
        since = _dt(inst.get("since"))
        value = inst.get("value")
        threshold = inst.get("threshold")
        benchmark = inst.get("benchmark")
        baseline = inst.get("baseline")
        severity: Severity = inst.get("severity", "warning")

        def text(v: float | None) -> str:
            return spec.format(v) if v is not None else ""

        return {
            "rule": inst["rule"],
            "metric": inst["metric"],
            "metric_label": spec.label_for(scope),
            "scope": scope,
            "value": value,
            "value_text": spec.format(value),
            "threshold": threshold,
            "threshold_text": text(threshold),
            "benchmark": benchmark,
            "benchmark_text": text(benchmark),
            "baseline": baseline,
            "baseline_text": text(baseline),
            "room_title": labels.get("room_title", ""),
            "aweme_name": labels.get("aweme_name", ""),
            "room_id": str(inst["room_id"]),
            "product_title": labels.get("product_title", "") if scope == "product" else "",
            "product_id": "" if inst.get("product_id") is None else str(inst["product_id"]),
            "minute": inst.get("minute"),
            "since": since.strftime("%H:%M") if since else "",
            "duration_min": round(_minutes(since, self.now)) if since else 0,
            "severity": severity,
            "severity_label": SEVERITY_LABELS[severity],
            "labels": dict(rule.labels) if rule is not None else {},
            "note": note,
        }

    def _render(
        self, template: str, rule: Rule | None, inst: dict[str, Any], note: str
    ) -> _Rendered:
        """The template filled in twice: values inert as plain text, and as Markdown."""
        context = self._context(rule, inst, note)

        def render(source: str) -> _Rendered:
            return _Rendered(
                *(
                    self.engine.template(source, fmt).render(context).strip()
                    for fmt in ("text", "markdown")
                )
            )

        try:
            return render(template)
        except Exception as exc:  # checked at load; a runtime value (None) may still break it
            self.problems.append(f"规则 “{inst['rule']}” 的消息模板渲染失败，已用默认格式：{exc}")
            resolved = rule is None or template == rule.resolved_message
            return render(DEFAULT_RESOLVED_MESSAGE if resolved else DEFAULT_MESSAGE)

    def _record(
        self,
        aid: str,
        inst: dict[str, Any],
        state: Literal["pending", "firing", "resolved", "normal"],
        *,
        rule: Rule | None,
        text: str = "",
        note: str = "",
    ) -> None:
        labels = dict(inst.get("labels") or {})
        if rule is not None:
            labels.update(rule.labels)
        self.records.append(
            AlertRecord(
                alert_id=aid,
                rule=inst["rule"],
                metric=inst["metric"],
                severity=inst.get("severity", "warning"),
                scope=inst["scope"],
                room_id=int(inst["room_id"]),
                product_id=inst.get("product_id"),
                labels=json.dumps(labels, ensure_ascii=False, sort_keys=True),
                state=state,
                started_at=_dt(inst.get("since")),
                changed_at=self.now,
                value=inst.get("value"),
                threshold=inst.get("threshold"),
                benchmark=inst.get("benchmark"),
                minute_of_show=inst.get("minute"),
                message=text,
                note=note,
            )
        )

    def _notice(
        self, aid: str, kind: NoticeKind, rule_name: str, inst: dict[str, Any], text: _Rendered
    ) -> None:
        self.notices.append(
            Notice(
                key=_hash("notice", self.epoch, self.tick, aid, kind)[:32],
                alert_id=aid,
                kind=kind,
                severity=inst.get("severity", "warning"),
                rule=rule_name,
                text=text.text,
                markdown=text.markdown,
                channels=tuple(sorted(set(inst.get("channels") or ["console"]))),
                order=self.engine.order(rule_name),
            )
        )

    def result(self, state: dict[str, Any]) -> EvalResult:
        state["tick"] = self.tick
        state["updated_at"] = _iso(self.now)
        groups: dict[tuple[str, ...], list[Notice]] = {}
        for notice in self.notices:
            groups.setdefault(notice.channels, []).append(notice)
        outgoing = tuple(
            self._message(channels, notices) for channels, notices in sorted(groups.items())
        )
        return EvalResult(
            at=self.now,
            tick=self.tick,
            records=tuple(self.records),
            outgoing=outgoing,
            problems=tuple(self.problems),
            epoch=self.epoch,
            state=state,
        )

    def _message(self, channels: tuple[str, ...], notices: Iterable[Notice]) -> Outgoing:
        items = sorted(
            notices,
            key=lambda n: (_KIND_ORDER[n.kind], SEVERITY_ORDER[n.severity], n.order, n.alert_id),
        )
        counts = {k: sum(1 for n in items if n.kind == k) for k in _KIND_ORDER}
        if len(items) == 1:
            title = f"{TITLE_PREFIX}{_KIND_WORDS[items[0].kind]}：{items[0].rule}"
        else:
            parts = [f"{counts[k]} 条{_KIND_WORDS[k]}" for k in _KIND_ORDER if counts[k]]
            title = TITLE_PREFIX + "，".join(parts)
        text_lines, md_lines = [], [f"### {title}", ""]
        for n in items:
            tag = _KIND_WORDS[n.kind]
            if n.kind != "resolved":
                tag += "·" + SEVERITY_LABELS[n.severity]
            text_lines.append(f"【{tag}】{n.text}")
            body = n.markdown.replace("\n", "  \n  ")
            md_lines.append(f"- **【{tag}】** {body}")
        stamp = f"时间：{self.now:%Y-%m-%d %H:%M:%S}"
        text_lines += ["", stamp]
        md_lines += ["", f"> {stamp}"]
        kind: MessageKind = "firing" if counts["firing"] or counts["repeat"] else "resolved"
        severity = min((n.severity for n in items), key=lambda s: SEVERITY_ORDER[s])
        message = Message(
            key=_hash("message", self.epoch, self.tick, channels, [n.key for n in items])[:32],
            kind=kind,
            severity=severity,
            title=title,
            text="\n".join(text_lines),
            markdown="\n".join(md_lines),
            created_at=self.now,
            alerts=tuple(n.alert_id for n in items),
        )
        return Outgoing(channels=channels, message=message, notices=tuple(items))


def _to_normal(inst: dict[str, Any]) -> None:
    inst["state"] = "normal"
    for name in ("since", "started_at", "last_notified_at", "repeats"):
        inst.pop(name, None)
