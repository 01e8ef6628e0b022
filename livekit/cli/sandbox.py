"""``livekit sandbox …``: run the offline stand-in of 巨量千川 and 抖店."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from livekit.dates import DAY_WORDS
from livekit.sandbox.config import (
    DEMO_DOUDIAN_APP_KEY,
    DEMO_DOUDIAN_APP_SECRET,
    DEMO_QIANCHUAN_APP_ID,
    DEMO_QIANCHUAN_SECRET,
)

app = typer.Typer(
    help="离线沙盒：模拟巨量千川与抖店开放平台，数据由种子决定且带有已知真相。",
    no_args_is_help=True,
)

Seed = Annotated[int, typer.Option("--seed", help="随机种子：同一种子生成同一个店铺。")]
Today = Annotated[
    str | None, typer.Option("--today", help="沙盒的“今天”（YYYY-MM-DD），默认为真实日期。")
]
MAX_SHOPS = 1000  # a world is ~3.6 MB before it simulates anything; more is not a sandbox
Shops = Annotated[
    int,
    typer.Option(
        "--shops",
        help="店铺数：s1…sN 各是一个独立的世界（s1 即该种子的店铺），共用同一个应用的限流。",
    ),
]


def _check_shops(shops: int) -> None:
    if not 1 <= shops <= MAX_SHOPS:
        raise _fail(f"--shops 应在 1 到 {MAX_SHOPS} 之间，收到 {shops}")


def _fail(message: str) -> typer.Exit:
    from livekit.cli.common import fail

    return fail(message, 2)  # one line, the value quoted as text (never rich markup)


def _parse_today(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"--today 应为 YYYY-MM-DD 格式的日期，收到 {value!r}") from None


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    from livekit.sandbox.world import CHINA_TZ

    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise _fail(f"--now 应为 'YYYY-MM-DD HH:MM:SS'（北京时间），收到 {value!r}") from None


def _parse_endpoint_qps(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        path, sep, number = item.rpartition("=")
        try:
            qps = float(number)
        except ValueError:
            qps = math.nan
        if not sep or not path.startswith("/") or not (math.isfinite(qps) and qps > 0):
            raise _fail(f"--endpoint-qps 应为 路径=正数（如 /order/searchList=2），收到 {item!r}")
        out[path] = qps
    return out


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="监听地址。")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="监听端口。")] = 8765,
    seed: Seed = 7,
    today: Today = None,
    now: Annotated[
        str | None, typer.Option(help="时钟起点（'YYYY-MM-DD HH:MM:SS'，北京时间）。")
    ] = None,
    speed: Annotated[float, typer.Option(help="时钟加速倍数；0 表示冻结。")] = 1.0,
    scale: Annotated[float, typer.Option(help="流量规模倍数（测试可用较小的店铺）。")] = 1.0,
    qps: Annotated[
        float | None, typer.Option(help="每个应用每秒请求上限，超出返回 40100 / 60000。")
    ] = None,
    qianchuan_qps: Annotated[
        float | None, typer.Option(help="只对巨量千川的每秒请求上限（与 --qps 取较小者）。")
    ] = None,
    doudian_qps: Annotated[
        float | None, typer.Option(help="只对抖店的每秒请求上限（与 --qps 取较小者）。")
    ] = None,
    endpoint_qps: Annotated[
        list[str] | None,
        typer.Option(
            help="单个接口的每秒请求上限，格式 路径=次数（如 "
            "/open_api/v1.0/qianchuan/today_live/room/flow_performance/get/=2），可重复。"
        ),
    ] = None,
    report_page_size: Annotated[
        int, typer.Option(help="报表接口 page_size 上限（资料说法不一：500 或 1000）。")
    ] = 1000,
    fault_rate: Annotated[
        float, typer.Option(help="故障注入概率（5xx、限流、慢响应、截断 JSON、令牌吊销）。")
    ] = 0.0,
    slow_seconds: Annotated[float, typer.Option(help="“慢响应”故障的等待秒数。")] = 12.0,
    number_shape: Annotated[
        str,
        typer.Option(
            help="数据接口返回数字的形式：native（原样）、float（计数为浮点数）、string"
            "（数字为文本）、mixed（混合）或 lossy（每个响应有一个带小数的计数）。"
        ),
    ] = "native",
    qianchuan_app_id: Annotated[
        int, typer.Option(help="接受的千川 app_id。")
    ] = DEMO_QIANCHUAN_APP_ID,
    qianchuan_secret: Annotated[
        str, typer.Option(help="接受的千川 secret。")
    ] = DEMO_QIANCHUAN_SECRET,
    qianchuan_redirect_uri: Annotated[
        str,
        typer.Option(
            help="千川应用登记的回调地址：授权页只跳转到它（回环地址如 http://127.0.0.1/callback 可用任意端口）。"
        ),
    ] = "http://127.0.0.1/callback",
    doudian_app_key: Annotated[
        str, typer.Option(help="接受的抖店 app_key。")
    ] = DEMO_DOUDIAN_APP_KEY,
    doudian_app_secret: Annotated[
        str, typer.Option(help="接受的抖店 app_secret。")
    ] = DEMO_DOUDIAN_APP_SECRET,
    qianchuan_access_ttl: Annotated[
        float, typer.Option(help="千川 access_token 有效期（秒）。")
    ] = 86400.0,
    qianchuan_refresh_ttl: Annotated[
        float, typer.Option(help="千川 refresh_token 有效期（秒）。")
    ] = 30 * 86400.0,
    doudian_access_ttl: Annotated[float, typer.Option(help="抖店 access_token 有效期（秒）。")] = 7
    * 86400.0,
    doudian_refresh_ttl: Annotated[
        float, typer.Option(help="抖店 refresh_token 有效期（秒）。")
    ] = 14 * 86400.0,
    auth_code_ttl: Annotated[float, typer.Option(help="授权码有效期（秒）。")] = 600.0,
    history_days: Annotated[
        int, typer.Option(help="历史天数（今天之前）；已知真相只覆盖最近 90 天。")
    ] = 800,
    extra_accounts: Annotated[
        int,
        typer.Option(help="压测用：额外的小号数量，每晚 20:30 前后一起开播。"),
    ] = 0,
    hostile_text: Annotated[
        bool,
        typer.Option(help="测试用：每个上游文本字段（标题、昵称、城市等）都带上恶意载荷。"),
    ] = False,
    shops: Shops = 1,
) -> None:
    """启动沙盒 HTTP 服务（真实路径、真实协议与错误码）。"""
    from livekit.sandbox.config import Faults, Limits, SandboxConfig, TokenLifetimes
    from livekit.sandbox.server import serve as run
    from livekit.sandbox.shapes import NUMBER_SHAPES

    if not 0.0 <= fault_rate <= 1.0:
        raise _fail(f"--fault-rate 应在 0 到 1 之间，收到 {fault_rate}")
    from livekit.sandbox.clock import EARLIEST, LATEST, MAX_SPEED

    if not 0 <= speed <= MAX_SPEED:  # also NaN
        raise _fail(f"--speed 应在 0 到 {MAX_SPEED:g} 之间，收到 {speed}")
    start = _parse_now(now)
    if start is not None and not EARLIEST <= start < LATEST:
        raise _fail(f"--now 应在 {EARLIEST:%Y-%m-%d} 到 {LATEST:%Y-%m-%d} 之间，收到 {now!r}")
    first = _parse_today(today)
    if first is not None and not EARLIEST.date() <= first < LATEST.date():
        raise _fail(f"--today 应在 {EARLIEST:%Y-%m-%d} 到 {LATEST:%Y-%m-%d} 之间，收到 {today!r}")
    if not 0 < scale < float("inf"):  # also NaN
        raise _fail("--scale 必须是大于 0 的有限数")
    if not 0 <= port <= 65535:
        raise _fail(f"--port 应在 0 到 65535 之间，收到 {port}")
    if seed < 0:
        raise _fail(f"--seed 不能为负数，收到 {seed}")
    _check_shops(shops)
    for option, seconds in (
        ("--qianchuan-access-ttl", qianchuan_access_ttl),
        ("--qianchuan-refresh-ttl", qianchuan_refresh_ttl),
        ("--doudian-access-ttl", doudian_access_ttl),
        ("--doudian-refresh-ttl", doudian_refresh_ttl),
        ("--auth-code-ttl", auth_code_ttl),
    ):
        if not 0 < seconds < float("inf"):  # also NaN
            raise _fail(f"{option} 必须是大于 0 的有限秒数，收到 {seconds}")
    if not 0 <= slow_seconds < float("inf"):
        raise _fail(f"--slow-seconds 必须是不小于 0 的有限秒数，收到 {slow_seconds}")
    if history_days < 1:
        raise _fail("--history-days 至少为 1")
    for name, value in (
        ("--qps", qps),
        ("--qianchuan-qps", qianchuan_qps),
        ("--doudian-qps", doudian_qps),
    ):
        if value is not None and not 0 < value < math.inf:  # also NaN
            raise _fail(f"{name} 必须是大于 0 的有限数")
    per_endpoint = _parse_endpoint_qps(endpoint_qps or [])
    if report_page_size < 1:
        raise _fail("--report-page-size 至少为 1")
    if extra_accounts < 0:
        raise _fail("--extra-accounts 不能为负数")
    if number_shape not in NUMBER_SHAPES:
        raise _fail(f"--number-shape 应为 {'、'.join(NUMBER_SHAPES)} 之一，收到 {number_shape!r}")
    cfg = SandboxConfig(
        seed=seed,
        today=_parse_today(today),
        now=_parse_now(now),
        speed=speed,
        scale=scale,
        history_days=history_days,
        extra_accounts=extra_accounts,
        hostile_text=hostile_text,
        shops=shops,
        qianchuan_app_id=qianchuan_app_id,
        qianchuan_secret=qianchuan_secret,
        qianchuan_redirect_uri=qianchuan_redirect_uri,
        doudian_app_key=doudian_app_key,
        doudian_app_secret=doudian_app_secret,
        lifetimes=TokenLifetimes(
            auth_code=auth_code_ttl,
            qianchuan_access=qianchuan_access_ttl,
            qianchuan_refresh=qianchuan_refresh_ttl,
            doudian_access=doudian_access_ttl,
            doudian_refresh=doudian_refresh_ttl,
        ),
        faults=Faults(
            qps=qps,
            qianchuan_qps=qianchuan_qps,
            doudian_qps=doudian_qps,
            endpoint_qps=per_endpoint,
            rate=fault_rate,
            slow_seconds=slow_seconds,
            number_shape=number_shape,
        ),
        limits=Limits(report_page_size=report_page_size),
    )
    many = f"，{shops} 个店铺（/sandbox/shops）" if shops > 1 else ""
    typer.echo(f"沙盒已启动：http://{host}:{port}/  （种子 {seed}{many}，按 Ctrl+C 停止）")
    run(cfg, host, port)


@app.command("truth")
def truth(
    seed: Seed = 7,
    today: Today = None,
    shop: Annotated[
        str, typer.Option("--shop", help="多店铺沙盒中的店铺 id（s1、s2…），默认 s1。")
    ] = "s1",
) -> None:
    """打印该种子下沙盒埋入的已知真相（JSON）。"""
    from livekit.sandbox.shopset import shop_seed
    from livekit.sandbox.truth import truth as compute
    from livekit.sandbox.world import CHINA_TZ, World

    number = shop.removeprefix("s")
    if not (shop.startswith("s") and number.isascii() and number.isdigit()) or not (
        1 <= int(number) <= MAX_SHOPS
    ):
        raise _fail(f"--shop 应为 s1 到 s{MAX_SHOPS} 之一，收到 {shop!r}")
    day = _parse_today(today) or datetime.now(CHINA_TZ).date()
    k = int(number) - 1
    world = World(shop_seed(seed, k), day, shop_number=k + 1)
    typer.echo(json.dumps(compute(world), ensure_ascii=False, indent=2))


@app.command("shops")
def shops_file(
    shops: Shops = 1,
    seed: Seed = 7,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="写入的店铺清单文件（如 params/shops.yaml）；不给则打印到屏幕。",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """生成沙盒店铺的店铺清单（shops.yaml）：s1…sN 与 serve --shops N 的沙盒一致。"""
    from livekit.sandbox.shopset import shop_infos, shops_yaml

    if seed < 0:
        raise _fail(f"--seed 不能为负数，收到 {seed}")
    _check_shops(shops)
    text = shops_yaml(shop_infos(seed, shops), seed)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"无法写入 {out}：{exc.strerror or exc}") from None
    typer.echo(f"已写入 {out}（{shops} 个沙盒店铺，种子 {seed}）")


@app.command("demo")
def demo(seed: Seed = 7, today: Today = None) -> None:
    """在本机回环地址启动沙盒，走一遍授权，并展示它提供的数据样例。"""
    from livekit.cli.sandbox_demo import run_demo

    run_demo(seed, _parse_today(today))


@app.command("replay")
def replay(
    start: Annotated[str, typer.Option("--from", help=f"开始日期：{DAY_WORDS}。")] = "yesterday",
    end: Annotated[str, typer.Option("--to", help="结束日期（含），格式同 --from。")] = "yesterday",
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="告警规则文件（YAML），默认为项目中的 params/alerts.yaml（找不到则只记录快照）。",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """把沙盒过去几天的直播回放给实时监控（通知不发出），写入沙盒的 live_snapshots、live_product_snapshots 与 alerts；已有快照的日期跳过。"""
    from livekit.cli.common import parse_day, user_errors

    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    if first > last:
        raise _fail(f"--from {first} 晚于 --to {last}")
    with user_errors():
        from datetime import timedelta

        from livekit.jobs import fill_sandbox_monitor
        from livekit.vocab.errors import LivekitError

        if rules is None:
            from livekit.reports.project import Project

            try:
                found = Project.find().params_dir / "alerts.yaml"
            except LivekitError:
                found = None  # outside a project: replay the shows, with no rules to alert on
            rules = found if found is not None and found.is_file() else None
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        done = fill_sandbox_monitor(days, rules_path=rules)
        shown = (
            "、".join(str(d) for d in done) if done else "无（都已回放过，或不在沙盒的过去日期内）"
        )
        typer.echo(f"已回放：{shown}")
