"""When reports run: ``params/schedules.yaml`` and the embedded scheduler.

``params/schedules.yaml`` maps each report to a cron expression (minute hour day month weekday,
China time), or to a mapping with ``cron`` and optional time limits::

    funnel: "0 8 * * *"           # every day at 08:00
    dwell_time:
      cron: "30 8 * * 1"          # Mondays at 08:30
      timeout: 3600               # the whole notebook, seconds (default 1800)
      cell_timeout: 900           # one cell, seconds (default 600)
    sync: "30 7 * * *"            # the live data: yesterday and every day not final yet

``sync`` is not a report: it syncs the live data (``LIVEKIT_HOME``, settings from env/.env) for
the closed days that may still change (yesterday and the ``days`` before it, 16 by default: the
longest settle time of :mod:`livekit.ingest.plan`; final days are skipped, so only what is
missing or stale is fetched). In a pass where it is due it runs first, before every report due
in that pass. A failing sync is logged and counted as a failure (non-zero exit of ``livekit
schedule run``), and the reports still run: on live data they then say, in one line, which days
are not fully synced.

:func:`run_due` runs every report whose scheduled time has come since the last one it
handled, once (missed times are not replayed one by one), for the date of that time. What it
handled is kept in ``reports/schedule-state.json`` (written atomically after each report), so
a restart does not run a report again; the first time a report is seen, its clock starts then.
A failing report is recorded and logged, and the others still run.

With a shops file (:mod:`livekit.shops`) the sync syncs every shop in turn, and each due report
that declares ``shop`` and reads live data runs once per shop (``reports/shop=<id>/``); a report
on the built-in sandbox, or without a ``shop`` parameter, runs once. A shop that fails is
recorded and logged with its shop, and the other shops still run.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import filelock
from croniter import croniter

from livekit._files import keep_damaged
from livekit.reports.params import ParameterError, load_yaml, report_parameters
from livekit.reports.project import Project, ReportError, write_text_atomic
from livekit.reports.result import RunResult
from livekit.reports.runner import SANDBOX_SOURCE, RunOptions, record_failure, run_reports
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

if TYPE_CHECKING:
    from livekit.shops import Shop

STATE = "schedule-state.json"
SCHEDULER_LOCK = ".scheduler.lock"
LOG_FILE = "schedule.log"
OPTION_KEYS = ("timeout", "cell_timeout")
SYNC_JOB = "sync"  # the key of the scheduled sync in schedules.yaml (not a report)
SYNC_TITLE = "数据同步"
MAX_SLEEP = 60.0

log = logging.getLogger("livekit.reports.schedule")


@dataclass(frozen=True)
class Schedule:
    """One report's schedule: a cron expression (China time) and the run's limits."""

    name: str
    cron: str
    options: RunOptions = field(default_factory=RunOptions)
    days: int = 0  # the sync job only: closed days before yesterday it re-checks

    @property
    def is_sync(self) -> bool:
        return self.name == SYNC_JOB

    def next_runs(self, after: datetime, count: int = 3) -> list[datetime]:
        it = croniter(self.cron, after.astimezone(CHINA_TZ))
        return [it.get_next(datetime) for _ in range(count)]

    def latest(self, now: datetime) -> datetime:
        """The latest scheduled time at or before ``now``."""
        start = now.astimezone(CHINA_TZ) + timedelta(seconds=1)
        prev: datetime = croniter(self.cron, start).get_prev(datetime)
        return prev


def load_schedules(project: Project) -> list[Schedule]:
    """The schedules in ``params/schedules.yaml``, checked (reports exist, cron is valid).

    The sync job (key ``sync``), when there is one, comes first.
    """
    path = project.schedules_file
    raw = load_yaml(path, what="调度", shown=f"params/{path.name}")
    known = set(project.names())
    out: list[Schedule] = []
    for name, entry in raw.items():
        if name == SYNC_JOB:
            out.insert(0, _sync_schedule(entry, f"params/{path.name}：{SYNC_JOB}（数据同步）"))
            continue
        shown = _clip(name) if name.isprintable() else repr(_clip(name))
        where = f"params/{path.name}：报告 {shown}"
        if name not in known:
            listed = "、".join(sorted(known)) or "（无）"
            raise ParameterError(f"{where} 不存在（notebooks/ 中没有这个笔记本；已有：{listed}）")
        limits: dict[str, float] = {}
        cron: object = entry
        if isinstance(entry, dict):
            unknown = [k for k in entry if k != "cron" and k not in OPTION_KEYS]
            if unknown:
                allowed = "、".join(("cron", *OPTION_KEYS))
                raise ParameterError(f"{where}：未知选项 {unknown[0]!r}（可用：{allowed}）")
            cron = entry.get("cron")
            for key in OPTION_KEYS:
                value = entry.get(key)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ParameterError(f"{where}：{key} 应为正数（秒），收到 {value!r}")
                limits[key] = float(value)
        if not isinstance(cron, str):
            raise ParameterError(f'{where}：应为 cron 表达式（如 "0 8 * * *"）或含 cron 的映射')
        cron = cron.strip()
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise ParameterError(
                f"{where}：cron 表达式 {_clip(cron)!r} 无效；"
                '应为“分 时 日 月 周”五段，如 "0 8 * * *"'
            )
        _check_fires(cron, where)
        options = RunOptions().with_limits(limits.get("timeout"), limits.get("cell_timeout"))
        out.append(Schedule(name, cron, options))
    return out


def default_sync_days() -> int:
    """Closed days before yesterday that may still change: the longest settle time, plus one."""
    from livekit.ingest.plan import SETTLE

    return max(SETTLE.values()).days + 1


def _sync_schedule(entry: object, where: str) -> Schedule:
    cron: object = entry
    days = default_sync_days()
    if isinstance(entry, dict):
        unknown = [k for k in entry if k not in ("cron", "days")]
        if unknown:
            raise ParameterError(f"{where}：未知选项 {unknown[0]!r}（可用：cron、days）")
        cron = entry.get("cron")
        value = entry.get("days", days)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
            raise ParameterError(f"{where}：days 应为 0 到 366 的整数（天），收到 {value!r}")
        days = value
    if not isinstance(cron, str):
        raise ParameterError(f'{where}：应为 cron 表达式（如 "30 7 * * *"）或含 cron 的映射')
    cron = cron.strip()
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise ParameterError(
            f'{where}：cron 表达式 {_clip(cron)!r} 无效；应为“分 时 日 月 周”五段，如 "30 7 * * *"'
        )
    _check_fires(cron, where)
    return Schedule(SYNC_JOB, cron, RunOptions(), days)


def _check_fires(cron: str, where: str) -> None:
    """A valid expression may still never fire (``0 0 30 2 *``): find a next and a previous time.

    croniter raises CroniterBadDateError (a ValueError) when it finds none within its search
    window; caught here so the scheduler never meets it mid-run.
    """
    now = datetime.now(CHINA_TZ)
    try:
        croniter(cron, now).get_next(datetime)
        croniter(cron, now).get_prev(datetime)
    except (ValueError, OverflowError, LookupError, TypeError):
        raise ParameterError(
            f"{where}：cron 表达式 {cron!r} 永远不会触发（没有这样的日期，如 2 月 30 日）"
        ) from None


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


# ---- state ---------------------------------------------------------------------------------


def read_state(project: Project) -> dict[str, datetime]:
    """The last scheduled time handled per report.

    A damaged entry is skipped, a file that is not a schedule state counts as empty; either way
    the original is kept beside it (livekit._files.keep_damaged) with a one-line warning, and
    the next write holds every entry that could be read. A file that exists but cannot be read
    (permissions) is a ReportError: rewriting it would forget every report's clock.
    """
    path = project.reports_dir / STATE
    try:
        original = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ReportError(f"无法读取调度状态文件 {path}：{exc.strerror}") from None
    try:
        entries = json.loads(original)["handled"]
        if not isinstance(entries, dict):
            raise TypeError("handled")
    except (ValueError, TypeError, KeyError):
        keep_damaged(path, original, skipped=None)
        return {}
    state: dict[str, datetime] = {}
    for name, value in entries.items():
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            continue
        if moment.tzinfo is not None:  # a naive time cannot be compared with the schedule's
            state[name] = moment
    if len(state) < len(entries):
        keep_damaged(path, original, skipped=len(entries) - len(state))
    return state


def write_state(project: Project, state: dict[str, datetime]) -> None:
    payload = {"version": 1, "handled": {k: v.isoformat() for k, v in sorted(state.items())}}
    write_text_atomic(project.reports_dir / STATE, json.dumps(payload, indent=1) + "\n")


# ---- running what is due -------------------------------------------------------------------


def run_due(
    project: Project,
    now: datetime | None = None,
    on_done: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run every report whose scheduled time has come since the last one handled.

    ``on_done`` is called with each report's result once it is recorded (the CLI's hook: the
    experiment alert after ``ab_status``); whatever it raises is logged, never fatal."""
    now = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ)
    schedules = load_schedules(project)
    state = read_state(project)
    shops = _shops(project)
    results: list[RunResult] = []
    for schedule in schedules:
        before = len(results)
        handled = state.get(schedule.name)
        if handled is None:
            state[schedule.name] = now
            write_state(project, state)
            nxt = schedule.next_runs(now, 1)[0]
            log.info("开始调度 %s（%s），下次运行 %s", schedule.name, schedule.cron, _when(nxt))
            continue
        fire = schedule.latest(now)
        if fire <= handled:
            continue
        if schedule.is_sync and not _reads_live(project, schedules, fire.date()):
            log.info(
                "%s 跳过：排期中的报告都读内置沙盒（source: sandbox），没有店铺数据要同步",
                SYNC_TITLE,
            )
        elif schedule.is_sync and shops:  # every shop of the shops file, one after another
            results += [run_sync_job(schedule, fire, shop=shop) for shop in shops]
        elif schedule.is_sync:  # first in the list: before every report due in this pass
            results.append(run_sync_job(schedule, fire))
        elif shops and _per_shop(project, schedule.name, fire.date()):
            done = [_run_one(project, schedule, fire, shop) for shop in shops]
            results += done
        else:
            results.append(_run_one(project, schedule, fire))
        ran = len(results) - before
        state[schedule.name] = fire
        write_state(project, state)
        if on_done is not None and not schedule.is_sync:
            for result in results[len(results) - ran :]:
                try:
                    on_done(result)
                except Exception as exc:  # the scheduler survives anything a hook does
                    log.error(
                        "%s 之后的处理失败：%s", schedule.name, f"{type(exc).__name__}: {exc}"
                    )
    return results


def _shops(project: Project) -> tuple[Shop, ...]:
    """The shops of the shops file the project's reports use; () in one-shop mode."""
    from livekit.reports.runner import project_shops

    return project_shops(project)


def _per_shop(project: Project, name: str, day: date) -> bool:
    """Whether report ``name`` runs once per shop: it declares ``shop`` and reads live data
    (a report on the built-in sandbox, or without a ``shop`` parameter, runs once)."""
    from livekit.reports.params import SHOP_PARAMETER, declared_parameters

    try:
        report = project.report(name)
        declared = declared_parameters(report.notebook)
        if SHOP_PARAMETER not in declared:
            return False
        values = {n: p.default for n, p in declared.items()} | report_parameters(report, day)
    except LivekitError:
        return True  # each shop's own run will say what is wrong
    return bool(values.get("source") != SANDBOX_SOURCE)


def _run_one(
    project: Project, schedule: Schedule, fire: datetime, shop: Shop | None = None
) -> RunResult:
    day = fire.date()
    what = f"{schedule.name}（店铺 {shop.label}）" if shop else schedule.name
    log.info("运行 %s（计划时间 %s，报告日期 %s）", what, _when(fire), day)
    started, t0 = datetime.now(CHINA_TZ), time.monotonic()
    try:
        if shop is None:
            result = run_reports(project, [schedule.name], day, options=schedule.options)[0]
        else:
            run = run_reports(
                project, [schedule.name], day, options=schedule.options, shops=[shop.id]
            )
            result = run[0]
    except ReportError as exc:  # bad parameters, a missing kernel: recorded like a failed run
        result = record_failure(
            project, schedule.name, day, str(exc), started, time.monotonic() - t0, shop
        )
    except Exception as exc:  # the scheduler survives anything one report does
        error = f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - t0
        result = record_failure(project, schedule.name, day, error, started, seconds, shop)
    if result.ok:
        log.info("%s %s 成功，用时 %.1f 秒：%s", what, day, result.seconds, result.html)
    else:
        log.error("%s %s 失败，用时 %.1f 秒：%s", what, day, result.seconds, result.error)
    return result


def _reads_live(project: Project, schedules: list[Schedule], day: date) -> bool:
    """Whether any scheduled report reads the shop's own data (its ``source`` is not the
    sandbox): only then is there live data for the sync to fetch. A report whose parameters
    cannot be read counts as live (its own run will say what is wrong)."""

    for schedule in schedules:
        if schedule.is_sync:
            continue
        try:
            params = report_parameters(project.report(schedule.name), day)
        except LivekitError:
            return True
        if params.get("source", "live") != "sandbox":
            return True
    return False


def run_sync_job(schedule: Schedule, fire: datetime, shop: Shop | None = None) -> RunResult:
    """Sync the live data for yesterday (of ``fire``) and the ``days`` before it.

    In this process, through :func:`livekit.open` (settings from env/.env); with ``shop``, that
    shop of the shops file (its part of the store). Final days are not fetched again; missing
    and stale ones are. Any failure is logged and returned, never raised.
    """
    last = fire.date() - timedelta(days=1)
    first = last - timedelta(days=schedule.days)
    title = f"{SYNC_TITLE}（店铺 {shop.label}）" if shop else SYNC_TITLE
    log.info("运行 %s（计划时间 %s，同步 %s 至 %s）", title, _when(fire), first, last)
    started, t0 = datetime.now(CHINA_TZ), time.monotonic()
    error: str | None = None
    fetched = 0
    try:
        from livekit.source import open_source  # livekit.open(): the live kit

        kit = open_source(shop=shop.id) if shop else open_source()
        result = kit.sync(first, last, progress=False)
        fetched = sum(r.fetched_days for r in result.datasets.values())
    except LivekitError as exc:
        error = str(exc)
    except Exception as exc:  # the scheduler survives anything a sync does
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - t0
    if error is None:
        log.info("%s 成功，用时 %.1f 秒：拉取 %d 个分区", title, seconds, fetched)
    else:
        log.error("%s 失败，用时 %.1f 秒：%s（报告照常运行）", title, seconds, error)
    status: Literal["ok", "failed"] = "ok" if error is None else "failed"
    return RunResult(
        SYNC_JOB,
        SYNC_TITLE,
        last,
        status,
        started,
        seconds,
        None,
        None,
        error,
        shop=shop.id if shop else None,
        shop_name=shop.name if shop else None,
    )


def serve(
    project: Project,
    *,
    once: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(CHINA_TZ),
    on_done: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """The scheduler: run what is due, sleep until the next scheduled time, forever.

    Only one scheduler may run per reports folder (a file lock). ``once``: one pass, then
    return its results. Edits to ``schedules.yaml`` are picked up on the next pass; a file
    that became invalid is logged and retried, never fatal once running.
    """
    load_schedules(project)  # a bad file is the user's to fix before anything starts
    project.reports_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(project.reports_dir / SCHEDULER_LOCK, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ReportError(
            f"另一个调度器正在运行（{project.reports_dir / SCHEDULER_LOCK} 已被占用）"
        ) from None
    try:
        while True:
            try:
                results = run_due(project, clock(), on_done)
            except ReportError as exc:
                if once:
                    raise
                log.error("读取调度失败：%s（一分钟后重试）", exc)
                results = []
            if once:
                return results
            sleep(_seconds_to_next(project, clock()))
    finally:
        lock.release()


def _seconds_to_next(project: Project, now: datetime) -> float:
    try:
        upcoming = [s.next_runs(now, 1)[0] for s in load_schedules(project)]
    except ReportError:
        upcoming = []
    if not upcoming:
        return MAX_SLEEP
    return min(MAX_SLEEP, max(1.0, (min(upcoming) - now).total_seconds() + 0.5))


def _when(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


# ---- crontab ------------------------------------------------------------------------------------


def crontab_lines(project: Project, schedules: list[Schedule]) -> list[str]:
    """Lines for ``crontab -e`` that run the same reports at the same times (China time)."""
    exe = Path(sys.executable).with_name("livekit")
    command = shlex.quote(str(exe)) if exe.exists() else f"{shlex.quote(sys.executable)} -m livekit"
    root = shlex.quote(str(project.root))
    logfile = shlex.quote(str(project.reports_dir / "cron.log"))
    lines = ["CRON_TZ=Asia/Shanghai"]
    defaults = RunOptions()
    shops = _shops(project)
    for s in schedules:
        every = " --all-shops" if shops else ""  # many shops: each shop in turn
        if s.is_sync:
            lines.append(
                f"{s.cron} cd {root} && {command} sync --from {s.days + 1}_days_ago "
                f"--to yesterday{every} --quiet >> {logfile} 2>&1"
            )
            continue
        today = datetime.now(CHINA_TZ).date()
        extra = every if shops and _per_shop(project, s.name, today) else ""
        if s.options.timeout != defaults.timeout:
            extra += f" --timeout {s.options.timeout:g}"
        if s.options.cell_timeout != defaults.cell_timeout:
            extra += f" --cell-timeout {s.options.cell_timeout:g}"
        lines.append(
            f"{s.cron} cd {root} && {command} report run {s.name}{extra} >> {logfile} 2>&1"
        )
    return lines


def log_to(project: Project) -> logging.Handler:
    """Log the scheduler to ``reports/schedule.log`` (and leave console logging to the caller)."""
    project.reports_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(project.reports_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(china_time_formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def china_time_formatter(fmt: str) -> logging.Formatter:
    """A log formatter whose ``%(asctime)s`` is China time whatever the machine's zone."""
    formatter = logging.Formatter(fmt)
    offset = CHINA_TZ.utcoffset(None).total_seconds()
    # logging formats time.struct_time values; UTC shifted by +8 h is China time (no DST)
    formatter.converter = lambda secs: time.gmtime((secs or 0) + offset)
    return formatter
