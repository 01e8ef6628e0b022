"""``livekit monitor`` (live rooms, alert rules, notifications) and ``livekit alerts test``."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from livekit.cli.common import fail, user_errors
from livekit.vocab.tz import CHINA_TZ

if TYPE_CHECKING:
    from livekit.monitor.rules import RuleSet
    from livekit.monitor.run import Monitor, TickResult

MIN_INTERVAL = 0.1
MAX_INTERVAL = 86400.0  # a day: longer is not monitoring (and inf would overflow the sleep)

alerts_app = typer.Typer(help="告警通知：测试各通知渠道是否配置正确。", no_args_is_help=True)

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="告警规则文件（YAML），默认为项目中的 params/alerts.yaml。",
        dir_okay=False,
    ),
]


def _rules_path(rules: Path | None) -> Path:
    if rules is not None:
        return rules
    from livekit.reports.project import Project

    try:
        return Project.find().params_dir / "alerts.yaml"
    except Exception:
        return Path("params/alerts.yaml")


def _parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=CHINA_TZ)
        except ValueError:
            continue
    raise fail(f"--sandbox-at 应为 'YYYY-MM-DD HH:MM'（北京时间），收到 {value!r}", 2)


def _check_sandbox_clock(at: datetime | None, speed: float | None) -> None:
    """The sandbox clock's start and speed, checked before anything starts (one line each)."""
    from livekit.sandbox.clock import EARLIEST, LATEST, MAX_SPEED

    if at is not None and not EARLIEST <= at < LATEST:
        raise fail(
            f"--sandbox-at 应在 {EARLIEST:%Y-%m-%d} 到 {LATEST:%Y-%m-%d} 之间（北京时间），"
            f"收到 {at:%Y-%m-%d %H:%M}",
            2,
        )
    # 0 would freeze the clock (the monitor would wait forever); NaN fails every comparison
    if speed is not None and not 0 < speed <= MAX_SPEED:
        raise fail(f"--sandbox-speed 应大于 0 且不超过 {MAX_SPEED:g}，收到 {speed}", 2)


def prepare(rules: Path | None) -> tuple[RuleSet, dict[str, Any]]:
    """Rules and channels, checked before anything is polled (ConfigError otherwise)."""
    from livekit.monitor.notify import load_environ, parse_channel_specs, resolve_channels
    from livekit.monitor.rules import load_rules

    ruleset = load_rules(_rules_path(rules))
    channels = resolve_channels(
        parse_channel_specs(ruleset.channels), set(ruleset.channel_names()), load_environ()
    )
    return ruleset, dict(channels)


def _tick_line(result: TickResult, monitor: Monitor) -> str:
    fired = sum(1 for r in result.records if r["state"] == "firing")
    resolved = sum(1 for r in result.records if r["state"] == "resolved")
    line = (
        f"{result.at:%H:%M:%S} 开播 {result.rooms} 场，商品 {result.products} 个，"
        f"请求 {result.requests} 次；触发 {fired}，恢复 {resolved}，未恢复 {len(monitor.engine.active())}"
    )
    if result.pump is not None and result.pump.pending:
        line += f"，待发送通知 {result.pump.pending}"
    for err in result.errors[:3]:
        line += f"\n  ⚠ {err}"
    return line


def monitor(
    rules: RulesOption = None,
    interval: Annotated[float, typer.Option("--interval", help="轮询间隔（秒）。")] = 60.0,
    once: Annotated[
        bool, typer.Option("--once", help="只轮询一次（检查配置或在 cron 中使用）。")
    ] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox", help="监控内置离线沙盒的直播间（数据单独存放在 LIVEKIT_HOME/sandbox）。"
        ),
    ] = False,
    sandbox_at: Annotated[
        str | None,
        typer.Option(
            "--sandbox-at",
            help="沙盒时钟起点 'YYYY-MM-DD HH:MM'（北京时间），用于回放某天的直播，例如预置事故日。",
        ),
    ] = None,
    sandbox_speed: Annotated[
        float | None,
        typer.Option("--sandbox-speed", help="沙盒时钟加速倍数（指定 --sandbox-at 时默认 60）。"),
    ] = None,
    ticks: Annotated[int | None, typer.Option("--ticks", help="轮询这么多次后退出。")] = None,
    view: Annotated[
        bool | None,
        typer.Option("--view/--no-view", help="实时看板（默认在终端中开启）或逐行日志。"),
    ] = None,
    sandbox_clock_url: Annotated[
        str | None, typer.Option("--sandbox-clock", hidden=True, help="读取该沙盒的时钟。")
    ] = None,
) -> None:
    """实时监控开播中的直播间：按告警规则检查新进观众、点击、转化、成交，并推送到飞书、钉钉、企业微信、邮件等。"""
    # checked here rather than by click's min=: one Chinese line, and NaN/inf are refused too
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise fail(
            f"--interval 应在 {MIN_INTERVAL:g} 到 {MAX_INTERVAL:g} 秒之间，收到 {interval}", 2
        )
    if ticks is not None and ticks < 1:
        raise fail(f"--ticks 应至少为 1，收到 {ticks}", 2)
    at = _parse_at(sandbox_at)
    if (at is not None or sandbox_speed is not None) and not sandbox:
        raise fail("--sandbox-at 与 --sandbox-speed 只能与 --sandbox 一起使用", 2)
    if sandbox:
        _check_sandbox_clock(at, sandbox_speed)
    with user_errors():
        from livekit.api.runner import run
        from livekit.config import load_settings
        from livekit.monitor.run import Monitor, sandbox_clock

        settings = load_settings()
        ruleset, channels = prepare(rules)  # every configuration error before any polling
        live_view = sys.stdout.isatty() if view is None else view

        async def main(s: Any, clock_url: str | None) -> None:
            factory = (lambda http: sandbox_clock(clock_url, http)) if clock_url else None
            async with Monitor(
                s, ruleset, channels, interval_s=interval, clock_factory=factory
            ) as m:
                if live_view:
                    await _run_with_view(m, once, ticks)
                else:
                    m.on_tick = lambda r, mon: typer.echo(_tick_line(r, mon))
                    await m.run(once=once, max_ticks=ticks)

        if sandbox:
            from livekit.jobs import sandbox_session
            from livekit.sandbox.config import SandboxConfig

            speed = sandbox_speed if sandbox_speed is not None else (60.0 if at else 1.0)
            config = SandboxConfig(now=at, speed=speed)
            with sandbox_session(settings, config) as session:
                run(main(session.settings, session.url))
        else:
            settings.require_qianchuan()
            run(main(settings, sandbox_clock_url))


async def _run_with_view(m: Monitor, once: bool, ticks: int | None) -> None:
    from rich.live import Live

    from livekit.monitor.view import TickInfo, render

    with Live(refresh_per_second=2, screen=False, redirect_stdout=True) as live:

        def show(result: TickResult, mon: Monitor) -> None:
            pending = result.pump.pending if result.pump else 0
            failed = len(result.pump.failed) if result.pump else 0
            info = TickInfo(
                result.at,
                result.tick,
                result.requests,
                mon.interval_s,
                result.errors,
                pending,
                failed,
            )
            live.update(render(mon.live, mon.open_alerts(), info))

        m.on_tick = show
        await m.run(once=once, max_ticks=ticks)


@alerts_app.command("test")
def alerts_test(
    channel: Annotated[
        list[str] | None,
        typer.Option("--channel", help="只测试这些渠道（可重复）；默认测试所有已配置的渠道。"),
    ] = None,
    rules: RulesOption = None,
) -> None:
    """向每个已配置的通知渠道发送一条测试消息，并逐个报告是否送达、失败原因。"""
    with user_errors():
        import httpx
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from livekit.api.runner import run
        from livekit.monitor.notify import (
            channels_from_env,
            load_environ,
            parse_channel_specs,
            test_channels,
        )
        from livekit.monitor.rules import load_rules

        path = _rules_path(rules)
        specs = parse_channel_specs(load_rules(path).channels) if path.is_file() else {}
        available = channels_from_env(specs, load_environ())
        if channel:
            unknown = [c for c in channel if c not in available]
            if unknown:
                raise fail(
                    f"未配置的通知渠道：{'、'.join(unknown)}；已配置的有 {'、'.join(available)}"
                )
            available = {k: v for k, v in available.items() if k in channel}

        async def send() -> list[tuple[str, bool, str]]:
            async with httpx.AsyncClient(timeout=15.0) as client:
                return list(await test_channels(available, client))

        results = run(send())
        table = Table(title="通知渠道测试")
        for col in ("渠道", "类型", "结果", "说明"):
            table.add_column(col)
        for name, ok, detail in results:
            kind = getattr(available[name], "kind", "")
            result = "[green]已送达[/]" if ok else "[red]失败[/]"
            # a channel's answer (and a name from the rules file) is text, never rich markup
            table.add_row(escape(name), escape(kind), result, escape(detail))
        Console(highlight=False).print(table)
        if not all(ok for _, ok, _ in results):
            raise typer.Exit(1)
