"""The experiment status job: compute tonight's status of the experiment in
``params/ab_status.yaml`` and, when the monitor's notification channels are configured, send
ONE message per (experiment, decision) through them.

This is top-layer wiring (it reads the report's parameters, builds the page, and talks to the
monitor's notifiers), so it lives with the CLI: ``livekit experiment status`` runs it, and so do
``livekit report run ab_status`` and the scheduler's evening run of ``ab_status`` after the
report rendered.

Which channels: every channel the monitor has configured (built-ins whose environment
variables are set, and the channels declared in ``params/alerts.yaml``), the console excepted
(the command prints the status itself). None configured: nothing is sent, and that is not an
error.

Exactly once, whatever crashes. Each decision has a stable message key,
``experiment-<experiment id>-<decision>`` (the id hashes source, unit, name and
experiment_start as written; the decision is ``decided-up``, ``decided-down`` or ``futile``).
The job

1. skips a key already in the state file ``state/experiments/alerts.json``;
2. enqueues the message in the experiments' own persistent outbox
   (``state/experiments/outbox.json``, :class:`livekit.monitor.notify.Outbox`), which drops a
   (channel, key) it has seen before — queued, delivered or failed;
3. records the key in the state file (written atomically: temp file, fsync, rename);
4. pumps the outbox (delivering anything still queued from an earlier run too).

A crash before 2 leaves nothing behind (the next run sends); between 2 and 3 the next run
enqueues the same key again and the outbox drops it; after 3 the message waits in the outbox
for the next pump. So a decision is announced once, never twice, and never lost. The state file
is what remembers beyond the outbox's bounded memory of delivered keys (a month of evenings
later, the same decision is still not announced again). Its own outbox, not the monitor's: the
monitor fails queued deliveries to channels its rules do not use.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livekit._files import keep_damaged, write_bytes_atomic
from livekit.vocab.tz import CHINA_TZ

if TYPE_CHECKING:
    from livekit.config import Settings
    from livekit.monitor.notify import Channel, PumpResult
    from livekit.monitor.types import Message
    from livekit.pages.ab_status import AbStatusPage
    from livekit.reports import Overrides, Project

log = logging.getLogger("livekit.experiments")

REPORT = "ab_status"  # the report whose parameters define the experiment
STATE_VERSION = 1
DELIVER_S = 30.0  # how long one run keeps pumping a throttled or failing channel

# The parameters of the report that ab_status.build takes (all but ``source``).
BUILD_PARAMETERS = (
    "name",
    "experiment_start",
    "experiment_end",
    "unit",
    "metrics",
    "mde",
    "alpha",
    "correction",
    "planned_split",
    "sequential_tuning",
)


# ---- the experiment and its decision --------------------------------------------------------
@dataclass(frozen=True)
class Experiment:
    """Who an experiment is: its data source, unit, name and start as the parameters say them
    (a relative start such as ``40_days_ago`` is kept as written, so a rolling demo is one
    experiment rather than a new one every day)."""

    source: str
    unit: str
    name: str
    start: str
    shop: str | None = None  # with a shops file: the same experiment in two shops is two

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Experiment:
        return cls(
            source=str(params.get("source", "live")),
            unit=str(params.get("unit", "viewer")),
            name=str(params.get("name") or "").strip(),
            start=str(params.get("experiment_start", "")).strip(),
            shop=str(params["shop"]) if params.get("shop") else None,
        )

    @property
    def id(self) -> str:
        """A stable short hash of the identity (safe in file names and message keys)."""
        parts = [self.source, self.unit, self.name, self.start]
        if self.shop is not None:  # one shop: the key it always had
            parts.append(self.shop)
        raw = json.dumps(parts, ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]

    def key(self, decision: str) -> str:
        return f"experiment-{self.id}-{decision}"


def alert_message(page: AbStatusPage, experiment: Experiment, now: datetime) -> Message:
    """The Chinese message announcing the page's decision. The experiment's name is the user's
    text: it goes through the monitor's per-format escaping (look-alike characters for markup,
    defanged addresses), like every upstream value in an alert."""
    from livekit.monitor.markup import message_markdown, message_text
    from livekit.monitor.types import Message
    from livekit.pages.ab_status import ADVICE
    from livekit.vocab.units import format_count, format_percent

    status = page.status
    decision = status.decision
    if decision is None:
        raise ValueError("no decision to announce")
    primary = status.metrics[status.primary]
    label = page.report.metrics[status.primary].label
    lift = format_percent(primary.lift, 1, signed=True)
    low, high = (format_percent(v, 1, signed=True) for v in primary.lift_ci)
    if decision == "futile":
        verdict = (
            f"{ADVICE['futile']}：{label}的序贯区间 {low} ~ {high} 整个落在 "
            f"±{format_percent(status.mde, 0)} 之内"
        )
        short = ADVICE["futile"]
    else:
        side = "更高" if status.direction == "up" else "更低"
        verdict = f"{ADVICE['decided']}：B 组的{label}显著{side}（相对提升 {lift}，序贯区间 {low} ~ {high}）"
        short = ADVICE["decided"]
    a, b = status.observed
    facts = (
        f"已运行 {page.days} 天（{page.period.first} 起，数据截至 {page.last_day}），"
        f"A 组 {format_count(a)} 位观众、B 组 {format_count(b)} 位观众。"
    )
    harm = ""
    if decision == "decided-up" and status.harmed:
        hurt = "、".join(page.report.metrics[n].label for n in status.harmed)
        harm = f"注意：B 组的{hurt}显著更低，全量之前请权衡得失。"
    safe = "序贯区间随时查看都有效：现在停止不会抬高误判的概率。"
    shown_text = message_text(experiment.name) or "未命名实验"
    shown_md = message_markdown(experiment.name) or "未命名实验"
    if experiment.shop is not None:  # an agency's message says whose experiment it is
        shown_text += f"（店铺 {message_text(experiment.shop)}）"
        shown_md += f"（店铺 {message_markdown(experiment.shop)}）"
    title = f"实验{short}：{shown_md}"
    stamp = f"时间：{now.astimezone(CHINA_TZ):%Y-%m-%d %H:%M}"
    text_lines = [
        f"实验「{shown_text}」{verdict}。",
        facts,
        *([harm] if harm else []),
        safe,
        "",
        stamp,
    ]
    md_lines = [
        f"### {title}",
        "",
        f"实验「{shown_md}」**{verdict}**。",
        "",
        f"- {facts}",
        *([f"- {harm}"] if harm else []),
        f"- {safe}",
        "",
        f"> {stamp}",
    ]
    return Message(
        key=experiment.key(decision),
        kind="firing",
        severity="info",
        title=title,
        text="\n".join(text_lines),
        markdown="\n".join(md_lines),
        created_at=now,
        alerts=(experiment.key(decision),),
    )


# ---- the state file --------------------------------------------------------------------------
def state_dir(settings: Settings) -> Path:
    return settings.state_dir / "experiments"


def read_sent(path: Path) -> dict[str, Any]:
    """The keys announced so far (key → what and when). A file that cannot be read as a state
    is kept aside (``<name>.damaged-<time>``, one warning) and counts as empty: the outbox's
    own memory of keys then still stops a repeat."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(raw)
        sent = data["sent"]
        if data.get("version") != STATE_VERSION or not isinstance(sent, dict):
            raise ValueError("not an experiment alert state")
    except (ValueError, TypeError, KeyError):
        keep_damaged(path, raw, skipped=None)
        return {}
    return dict(sent)


def record_sent(path: Path, key: str, entry: Mapping[str, Any]) -> None:
    """Add ``key`` to the state file: read, add, write atomically (never a half file)."""
    sent = read_sent(path)
    sent[key] = dict(entry)
    data = {"version": STATE_VERSION, "sent": dict(sorted(sent.items()))}
    body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
    write_bytes_atomic(path, body, mode=0o600)


# ---- channels -------------------------------------------------------------------------------
def configured_channels(
    project: Project | None = None,
    rules: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Channel]:
    """The monitor's configured channels but the console: built-ins whose variables are set
    and those declared in the rules file (``rules``, else ``params/alerts.yaml``)."""
    from livekit.monitor.notify import channels_from_env, load_environ, parse_channel_specs
    from livekit.monitor.rules import load_rules

    path = rules
    if path is None and project is not None:
        path = project.params_dir / "alerts.yaml"
    specs = parse_channel_specs(load_rules(path).channels) if path and path.is_file() else {}
    available = channels_from_env(specs, load_environ() if environ is None else environ)
    return {name: ch for name, ch in available.items() if name != "console"}


# ---- the job ---------------------------------------------------------------------------------
@dataclass
class AlertOutcome:
    """What the alert step did: ``decision`` (None while running), the message ``key``,
    whether it was ``new`` (not announced before), the ``channels`` it went to, and the pump's
    result (None when nothing was pumped)."""

    decision: str | None
    key: str | None = None
    new: bool = False
    channels: tuple[str, ...] = ()
    pump: PumpResult | None = None
    delivered: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        """One Chinese line for the terminal or the schedule log."""
        if self.decision is None:
            return "实验还没有结论：今晚不发送提醒。"
        if not self.channels:
            return "没有配置通知渠道（见 params/alerts.yaml 与 LIVEKIT_*_WEBHOOK 环境变量）：不发送提醒。"
        shown = "、".join(self.channels)
        parts = [f"提醒已加入发送队列（{shown}）" if self.new else "这个结论已经提醒过，不再重复"]
        if self.delivered:
            parts.append(f"已送达：{'、'.join(self.delivered)}")
        if self.pump is not None and self.pump.failed:
            reasons = "；".join(f"{f.channel}：{f.reason}" for f in self.pump.failed)
            parts.append(f"发送失败：{reasons}")
        if self.pump is not None and self.pump.pending:
            parts.append(f"还有 {self.pump.pending} 条待发送（下次运行时重试）")
        return "，".join(parts) + "。"


def notify(
    page: AbStatusPage,
    experiment: Experiment,
    channels: Mapping[str, Channel],
    folder: Path,
    *,
    now: datetime | None = None,
    deliver_s: float = DELIVER_S,
) -> AlertOutcome:
    """Announce the page's decision once through ``channels`` (see the module docstring for
    the order of steps); state and outbox live in ``folder``."""
    decision = page.status.decision
    outcome = AlertOutcome(decision=decision, channels=tuple(sorted(channels)))
    if not channels:
        return outcome
    from livekit.monitor.notify import Outbox

    moment = now or datetime.now(UTC)
    outbox = Outbox(folder / "outbox.json")
    if decision is not None:
        key = experiment.key(decision)
        outcome.key = key
        state = folder / "alerts.json"
        if key not in read_sent(state):
            message = alert_message(page, experiment, moment)
            outbox.enqueue([message], sorted(channels))  # durable, deduplicated; due now
            record_sent(
                state,
                key,
                {
                    "decision": decision,
                    "experiment": experiment.name,
                    "start": experiment.start,
                    "source": experiment.source,
                    "at": moment.astimezone(CHINA_TZ).isoformat(timespec="seconds"),
                },
            )
            outcome.new = True
            log.info("实验提醒已加入发送队列：%s", key)
    outcome.pump = _deliver(outbox, channels, deliver_s)
    outcome.delivered = sorted({d.channel for d in outcome.pump.delivered})
    return outcome


def _deliver(outbox: Any, channels: Mapping[str, Channel], deliver_s: float) -> PumpResult:
    """Pump until nothing is queued or ``deliver_s`` seconds have passed."""
    import asyncio
    import time

    import httpx

    from livekit.api.runner import run

    async def main() -> PumpResult:
        end = time.monotonic() + deliver_s
        async with httpx.AsyncClient(timeout=15.0) as client:
            while True:
                result: PumpResult = await outbox.pump(channels, client)
                if result.pending == 0 or time.monotonic() >= end:
                    return result
                wait = 0.5
                if result.next_due is not None:
                    due = result.next_due - datetime.now(result.next_due.tzinfo)
                    wait = max(0.05, due.total_seconds())
                await asyncio.sleep(min(wait, max(end - time.monotonic(), 0.0)))

    return run(main())


@dataclass(frozen=True)
class StatusRun:
    """One run of the job: the experiment, its page, and the alert outcome (None when not
    asked to notify)."""

    experiment: Experiment
    page: AbStatusPage
    alert: AlertOutcome | None


def report_values(
    project: Project, day: date, overrides: Overrides | None = None
) -> dict[str, Any]:
    """The ab_status report's parameters for ``day`` (notebook defaults, params file, -f, -p),
    checked exactly as a report run checks them."""
    from livekit.reports.params import declared_parameters, report_parameters

    report = project.report(REPORT)
    given = report_parameters(report, day, overrides)
    defaults = {n: p.default for n, p in declared_parameters(report.notebook).items()}
    return defaults | given


def run_status(
    project: Project,
    day: date,
    *,
    overrides: Overrides | None = None,
    notify_channels: bool = True,
    channel_names: Sequence[str] | None = None,
    rules: Path | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
    deliver_s: float = DELIVER_S,
) -> StatusRun:
    """Tonight's status of the experiment of ``params/ab_status.yaml`` (for report date
    ``day``), and the alert when there is a decision and channels are configured.

    ``channel_names`` restricts the channels (a name that is not configured is a Chinese
    error). Raises :class:`~livekit.vocab.errors.LivekitError` on a user mistake.
    """
    import livekit
    from livekit.config import load_settings
    from livekit.pages import ab_status
    from livekit.reports.runner import report_date_env
    from livekit.vocab.errors import LivekitError

    values = report_values(project, day, overrides)
    experiment = Experiment.of(values)
    channels: dict[str, Channel] = {}
    if notify_channels:  # a configuration mistake is said before any data is read
        channels = configured_channels(project, rules)
        if channel_names:
            unknown = [c for c in channel_names if c not in channels]
            if unknown:
                known = "、".join(channels) or "（无）"
                raise LivekitError(f"未配置的通知渠道：{'、'.join(unknown)}；已配置的有 {known}")
            channels = {k: v for k, v in channels.items() if k in channel_names}
    with report_date_env(day):
        shop = values.get("shop")  # a report run for a shop (--shop): the alert reads it too
        kit = livekit.open(str(values.get("source", "live")), shop=shop if shop else None)
        page = ab_status.build(kit, **{k: values[k] for k in BUILD_PARAMETERS if k in values})
    outcome = None
    if notify_channels:
        folder = state_dir(settings or load_settings())
        outcome = notify(page, experiment, channels, folder, now=now, deliver_s=deliver_s)
    return StatusRun(experiment, page, outcome)


def after_report(
    project: Project, name: str, day: date, ok: bool, overrides: Overrides | None = None
) -> str | None:
    """The hook the report runs call after each report: after a successful ``ab_status`` run,
    the alert step for the same date and parameters. Returns the line to show (None for other
    reports, and when no channel is configured: then nothing is computed again). Never raises:
    a report run must not fail because of a notification."""
    if name != REPORT or not ok:
        return None
    from livekit.monitor.notify import redact_text

    try:
        if not configured_channels(project):
            return None
        done = run_status(project, day, overrides=overrides)
    except Exception as exc:  # a notification problem is reported, never fatal
        return f"实验提醒失败：{redact_text(str(exc))}"
    return done.alert.line if done.alert is not None else None
