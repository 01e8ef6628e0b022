"""What a tick's transitions say: alert records, notices, and one grouped message per channel set.

Templates are filled in twice, with every value inert as plain text and as Markdown (see
:mod:`livekit.monitor.markup`). Keys depend only on the state file's ``epoch``, the tick and
which alerts change how (never on the clock): see :mod:`livekit.monitor.engine`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import jinja2

from livekit.monitor.engine.machine import Transition, minutes_between, stable_hash
from livekit.monitor.engine.state import AlertState, RecordState
from livekit.monitor.metrics import METRICS
from livekit.monitor.rules import (
    DEFAULT_MESSAGE,
    DEFAULT_RESOLVED_MESSAGE,
    Rule,
    RuleSet,
    TemplateFormat,
    compile_template,
)
from livekit.monitor.types import Message, MessageKind, Scope, Severity
from livekit.vocab.labels import SEVERITY_LABELS, SEVERITY_ORDER

TITLE_PREFIX = "【直播告警】"

NoticeKind = Literal["firing", "repeat", "resolved"]
_KIND_WORDS: dict[str, str] = {"firing": "触发", "repeat": "持续", "resolved": "恢复"}
_KIND_ORDER: dict[str, int] = {"firing": 0, "repeat": 1, "resolved": 2}


@dataclass(frozen=True)
class AlertRecord:
    """One state change of one alert: a row of the ``alerts`` dataset (rates as fractions)."""

    alert_id: str
    rule: str
    metric: str
    severity: Severity
    scope: Scope
    room_id: int
    product_id: int | None
    labels: str  # JSON object: the series' labels and the rule's labels
    state: RecordState
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

    key: str  # stable for (state epoch, tick, alert, kind): see livekit.monitor.engine
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
class Rendered:
    """One message template, rendered for plain-text and for Markdown channels."""

    text: str
    markdown: str


@dataclass(frozen=True)
class TickOutput:
    records: tuple[AlertRecord, ...]
    outgoing: tuple[Outgoing, ...]
    problems: tuple[str, ...]  # Chinese notes: a template that failed at run time


def notice_key(epoch: str, tick: int, alert_id: str, kind: str) -> str:
    return stable_hash("notice", epoch, tick, alert_id, kind)[:32]


def message_key(epoch: str, tick: int, channels: tuple[str, ...], notice_keys: list[str]) -> str:
    return stable_hash("message", epoch, tick, channels, notice_keys)[:32]


def context(rule: Rule | None, alert: AlertState, note: str, now: datetime) -> dict[str, Any]:
    """The template variables (:data:`livekit.monitor.rules.TEMPLATE_VARIABLES`) of an alert."""
    spec = METRICS[alert.metric]
    scope = alert.scope
    labels = alert.labels
    since = alert.since

    def text(v: float | None) -> str:
        return spec.format(v) if v is not None else ""

    return {
        "rule": alert.rule,
        "metric": alert.metric,
        "metric_label": spec.label_for(scope),
        "scope": scope,
        "value": alert.value,
        "value_text": spec.format(alert.value),
        "threshold": alert.threshold,
        "threshold_text": text(alert.threshold),
        "benchmark": alert.benchmark,
        "benchmark_text": text(alert.benchmark),
        "baseline": alert.baseline,
        "baseline_text": text(alert.baseline),
        "room_title": labels.get("room_title", ""),
        "aweme_name": labels.get("aweme_name", ""),
        "room_id": str(alert.room_id),
        "product_title": labels.get("product_title", "") if scope == "product" else "",
        "product_id": "" if alert.product_id is None else str(alert.product_id),
        "minute": alert.minute,
        "since": since.strftime("%H:%M") if since else "",
        "duration_min": round(minutes_between(since, now)) if since else 0,
        "severity": alert.severity,
        "severity_label": SEVERITY_LABELS[alert.severity],
        "labels": dict(rule.labels) if rule is not None else {},
        "note": note,
    }


class Renderer:
    """Turns transitions into records and grouped messages; caches compiled templates."""

    def __init__(self, ruleset: RuleSet) -> None:
        self._order = {r.name: i for i, r in enumerate(ruleset.rules)}
        self._templates: dict[tuple[str, TemplateFormat], jinja2.Template] = {}

    def template(self, source: str, fmt: TemplateFormat = "text") -> jinja2.Template:
        if (source, fmt) not in self._templates:
            self._templates[(source, fmt)] = compile_template(source, fmt)
        return self._templates[(source, fmt)]

    def order(self, name: str) -> int:
        return self._order.get(name, len(self._order))

    def render(
        self,
        template: str,
        rule: Rule | None,
        alert: AlertState,
        note: str,
        now: datetime,
        problems: list[str],
    ) -> Rendered:
        """The template filled in twice: values inert as plain text, and as Markdown."""
        values = context(rule, alert, note, now)

        def fill(source: str) -> Rendered:
            return Rendered(
                *(self.template(source, fmt).render(values).strip() for fmt in ("text", "markdown"))
            )

        try:
            return fill(template)
        except Exception as exc:  # checked at load; a runtime value (None) may still break it
            problems.append(f"规则 “{alert.rule}” 的消息模板渲染失败，已用默认格式：{exc}")
            resolved = rule is None or template == rule.resolved_message
            return fill(DEFAULT_RESOLVED_MESSAGE if resolved else DEFAULT_MESSAGE)

    def tick(
        self, transitions: Sequence[Transition], now: datetime, tick: int, epoch: str
    ) -> TickOutput:
        """Records and grouped messages of one tick's transitions, in their order."""
        records: list[AlertRecord] = []
        notices: list[Notice] = []
        problems: list[str] = []
        for t in transitions:
            text = Rendered("", "")
            if t.notifies:
                if t.kind == "resolved":
                    template = t.rule.resolved_message if t.rule else DEFAULT_RESOLVED_MESSAGE
                else:
                    assert t.rule is not None
                    template = t.rule.message
                text = self.render(template, t.rule, t.alert, t.note, now, problems)
            if t.recorded:
                records.append(_record(t, text.text, now))
            if t.notifies:
                notices.append(self._notice(t, text, epoch, tick))
        groups: dict[tuple[str, ...], list[Notice]] = {}
        for notice in notices:
            groups.setdefault(notice.channels, []).append(notice)
        outgoing = tuple(
            _message(channels, items, now, epoch, tick)
            for channels, items in sorted(groups.items())
        )
        return TickOutput(tuple(records), outgoing, tuple(problems))

    def _notice(self, t: Transition, text: Rendered, epoch: str, tick: int) -> Notice:
        alert = t.alert
        kind = cast(NoticeKind, t.kind)  # t.notifies: firing, repeat or resolved
        return Notice(
            key=notice_key(epoch, tick, alert.alert_id, kind),
            alert_id=alert.alert_id,
            kind=kind,
            severity=alert.severity,
            rule=alert.rule,
            text=text.text,
            markdown=text.markdown,
            channels=tuple(sorted(set(alert.channels or ("console",)))),
            order=self.order(alert.rule),
        )


def _record(t: Transition, text: str, now: datetime) -> AlertRecord:
    alert = t.alert
    labels = dict(alert.labels)
    if t.rule is not None:
        labels.update(t.rule.labels)
    state = cast(RecordState, t.kind)  # t.recorded: every kind but repeat
    return AlertRecord(
        alert_id=alert.alert_id,
        rule=alert.rule,
        metric=alert.metric,
        severity=alert.severity,
        scope=alert.scope,
        room_id=alert.room_id,
        product_id=alert.product_id,
        labels=json.dumps(labels, ensure_ascii=False, sort_keys=True),
        state=state,
        started_at=alert.since,
        changed_at=now,
        value=alert.value,
        threshold=alert.threshold,
        benchmark=alert.benchmark,
        minute_of_show=alert.minute,
        message=text,
        note=t.note,
    )


def _message(
    channels: tuple[str, ...], notices: Iterable[Notice], now: datetime, epoch: str, tick: int
) -> Outgoing:
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
    stamp = f"时间：{now:%Y-%m-%d %H:%M:%S}"
    text_lines += ["", stamp]
    md_lines += ["", f"> {stamp}"]
    kind: MessageKind = "firing" if counts["firing"] or counts["repeat"] else "resolved"
    severity = min((n.severity for n in items), key=lambda s: SEVERITY_ORDER[s])
    message = Message(
        key=message_key(epoch, tick, channels, [n.key for n in items]),
        kind=kind,
        severity=severity,
        title=title,
        text="\n".join(text_lines),
        markdown="\n".join(md_lines),
        created_at=now,
        alerts=tuple(n.alert_id for n in items),
    )
    return Outgoing(channels=channels, message=message, notices=tuple(items))
