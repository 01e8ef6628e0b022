"""``livekit sync``, ``livekit datasets`` and ``livekit import viewers``.

With a shops file (:mod:`livekit.shops`) each works on one shop (``--shop``, else
``LIVEKIT_SHOP``, else the only shop); ``livekit sync --all-shops`` syncs every shop in turn.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from livekit.cli.common import fail, parse_day, user_errors
from livekit.dates import DAY_WORDS

if TYPE_CHECKING:
    from livekit.config import Settings
    from livekit.ingest.run import SyncResult
    from livekit.shops import Shop

import_app = typer.Typer(
    help="导入平台接口拿不到的数据（如观众明细导出文件）。", no_args_is_help=True
)

Sandbox = Annotated[
    bool,
    typer.Option("--sandbox", help="使用内置离线沙盒（数据单独存放在 LIVEKIT_HOME/sandbox）。"),
]
ShopOption = Annotated[
    str | None,
    typer.Option(
        "--shop",
        help="店铺 id（店铺清单 params/shops.yaml 中的 id；只有一个店铺时可省略）。",
    ),
]


def sync(
    start: Annotated[
        str,
        typer.Option("--from", help=f"开始日期：{DAY_WORDS}。"),
    ] = "yesterday",
    end: Annotated[str, typer.Option("--to", help="结束日期（含），格式同 --from。")] = "today",
    refresh: Annotated[
        bool, typer.Option("--refresh", help="已存且已定稿的日期也重新拉取。")
    ] = False,
    sandbox: Sandbox = False,
    datasets: Annotated[
        str | None,
        typer.Option("--datasets", help="只同步这些数据集，逗号分隔（默认全部）。"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="不显示进度条与汇总。")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="不显示进度条，只输出一行 JSON 汇总（供程序读取）。")
    ] = False,
    shop: ShopOption = None,
    all_shops: Annotated[
        bool,
        typer.Option("--all-shops", help="依次同步店铺清单中的每个店铺（每个店铺一行汇总）。"),
    ] = False,
) -> None:
    """从巨量千川与抖店拉取数据到本地（按天分区的 Parquet）。已定稿的日期不重复拉取，今天总会刷新。"""
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    names = [n.strip() for n in datasets.split(",") if n.strip()] if datasets else None
    if shop is not None and all_shops:
        raise fail("--shop 与 --all-shops 只能选一个")
    if sandbox and (shop is not None or all_shops):
        raise fail("内置沙盒只有一个店铺：--sandbox 不能与 --shop 或 --all-shops 一起使用")
    with user_errors():
        from livekit.config import load_settings
        from livekit.jobs import run_sync
        from livekit.shops import select

        settings = load_settings()
        if all_shops:
            _sync_every_shop(settings, first, last, refresh, names, quiet, as_json)
            return
        if not sandbox:
            settings = select(settings, shop)
        result = run_sync(
            first,
            last,
            refresh=refresh,
            datasets=names,
            sandbox=sandbox,
            progress=not (quiet or as_json),
            settings=settings,
        )
        if as_json:
            from livekit.source import result_json

            typer.echo(result_json(result))
        elif not quiet:
            _print_summary(result, settings, sandbox)


def _sync_every_shop(
    settings: Settings,
    first: date,
    last: date,
    refresh: bool,
    names: list[str] | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Sync each shop of the shops file in turn: one line per shop; a failure stops no other.

    Exits non-zero when any shop failed, after all of them ran.
    """
    import logging

    from livekit.jobs import run_sync
    from livekit.shops import ShopError, shops_of
    from livekit.source import result_json
    from livekit.vocab.errors import LivekitError

    shops = shops_of(settings)
    if not shops:
        raise ShopError(
            "没有店铺清单（params/shops.yaml 或环境变量 LIVEKIT_SHOPS_FILE），"
            "不能使用 --all-shops；创建方法见 params/shops.example.yaml"
        )
    failed: list[str] = []
    for one in shops:
        try:
            result = run_sync(
                first,
                last,
                refresh=refresh,
                datasets=names,
                progress=False,
                settings=settings,
                shop=one.id,
            )
        except LivekitError as exc:
            failed.append(one.id)
            fail(f"店铺 {one.label}：{exc}")
            continue
        except Exception as exc:  # a bug or an unforeseen failure: the other shops still run
            # the message may quote upstream text; the log record (masked) keeps the details
            logging.getLogger("livekit.sync").exception("sync of shop %s failed", one.id)
            failed.append(one.id)
            fail(f"店铺 {one.label}：同步失败（{type(exc).__name__}）")
            continue
        if as_json:
            typer.echo(result_json(result))
        elif not quiet:
            _print_shop_line(one, result)
    if failed:
        raise fail(f"{len(failed)} / {len(shops)} 个店铺同步失败：{'、'.join(failed)}")


def _print_shop_line(shop: Shop, result: SyncResult) -> None:
    """``店铺 悦好（a）：新拉取 12 个分区，4 个已是最新，写入 3,456 行，用时 2.1 秒``."""
    from rich.console import Console
    from rich.markup import escape

    fetched = sum(r.fetched_days for r in result.datasets.values())
    fresh = sum(r.skipped_days for r in result.datasets.values())
    rows = sum(r.rows for r in result.datasets.values())
    line = (
        f"店铺 {shop.label}：新拉取 {fetched} 个分区，{fresh} 个已是最新，"
        f"写入 {rows:,} 行，用时 {result.seconds:.1f} 秒"
    )
    if result.notes:
        line += "（" + "；".join(result.notes) + "）"
    Console(soft_wrap=True).print(escape(line), highlight=False)


def _print_summary(result: SyncResult, settings: Settings, sandbox: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from livekit.jobs import summary_rows

    # account names come from upstream and paths from the user: text, never rich markup
    console = Console()
    home = settings.home / "sandbox" if sandbox else settings.home
    shown = home / "store" if sandbox else _store_shown(settings)
    which = f"店铺 {settings.shop} " if settings.shop and not sandbox else ""
    table = Table(
        title=escape(
            f"{which}同步完成：{result.start} ~ {result.end}，用时 {result.seconds:.1f} 秒"
        ),
        caption=escape(f"数据目录：{shown}"),
    )
    for col in ("数据集", "本次拉取（天）", "已是最新（天）", "写入行数"):
        table.add_column(col, justify="left" if col == "数据集" else "right")
    for row in summary_rows(result):
        table.add_row(*row)
    console.print(table)
    if result.accounts:
        names = "、".join(
            f"{a['advertiser_name'] or a['advertiser_id']}（{len(a['awemes'])} 个抖音号）"
            for a in result.accounts
        )
        console.print(f"授权的千川账户：{escape(names)}", highlight=False)
    for note in result.notes:
        console.print(escape(note), highlight=False)
    totals = _store_totals(None if sandbox else settings, home, result)
    if totals:
        console.print(totals)


def _store_shown(settings: Settings) -> str:
    """Where ``settings``' store is, for a message: a folder or an s3:// URL, with its shop level."""
    from livekit.store import SHOP_LEVEL

    level = f"{SHOP_LEVEL}{settings.shop}" if settings.shop else None
    if settings.store_url:
        return f"{settings.store_url}/{level}" if level else settings.store_url
    return str(settings.store_dir / level if level else settings.store_dir)


def _store_totals(settings: Settings | None, home: Path, result: SyncResult) -> str:
    """A one-paragraph reading of what is now stored for the range (rooms, spend, GMV, orders)."""
    import polars as pl

    from livekit.store import Store, open_store
    from livekit.store.datasets import ORDERS, ROOMS
    from livekit.vocab.units import format_money

    # the sandbox's store is always local; a live one may be LIVEKIT_STORE_URL
    store = Store(home / "store") if settings is None else open_store(settings)
    rooms = store.read("rooms", ROOMS.schema, result.start, result.end)
    orders = store.read("orders", ORDERS.schema, result.start, result.end)
    if rooms.is_empty() and orders.is_empty():
        return ""
    paid = orders.filter(pl.col("pay_time").is_not_null())
    return (
        f"本地已存 {result.start} ~ {result.end}：直播 {rooms.height} 场，"
        f"千川消耗 {format_money(rooms['stat_cost'].sum())}，直播成交 {rooms['live_pay_order_count_alias'].sum():,} 单 / "
        f"{format_money(rooms['live_pay_order_gmv_alias'].sum())}；抖店订单 {orders.height:,} 笔，"
        f"其中已支付 {paid.height:,} 笔、{format_money(paid['pay_amount'].sum())}。"
    )


def datasets(sandbox: Sandbox = False, shop: ShopOption = None) -> None:
    """列出 livekit 保存的数据集、说明与本地已存的日期范围。"""
    if sandbox and shop is not None:
        raise fail("内置沙盒只有一个店铺：--sandbox 不能与 --shop 一起使用")
    with user_errors():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        import livekit

        kit = livekit.open("sandbox") if sandbox else livekit.open(shop=shop)
        frame = kit.datasets()
        which = f"店铺 {kit.shop} 的" if kit.shop else ""
        table = Table(
            title=escape(
                f"{which}数据集（livekit.open().load(名称, 开始, 结束) 读取为 polars DataFrame）"
            )
        )
        for col in ("名称", "说明", "已存天数", "日期范围"):
            table.add_column(col)
        for row in frame.iter_rows(named=True):
            span = f"{row['first_day']} ~ {row['last_day']}" if row["days_stored"] else "—"
            table.add_row(row["name"], row["description"], str(row["days_stored"]), span)
        Console().print(table)


@import_app.command("viewers")
def import_viewers(
    file: Annotated[Path, typer.Argument(help="观众明细导出文件（CSV 或 Parquet）。")],
    sandbox: Sandbox = False,
    shop: ShopOption = None,
) -> None:
    """导入观众明细（每次进入直播间一行）。同一直播间再次导入会替换旧数据，不会重复。"""
    if sandbox and shop is not None:
        raise fail("内置沙盒只有一个店铺：--sandbox 不能与 --shop 一起使用")
    with user_errors():
        from livekit.config import load_settings
        from livekit.shops import select
        from livekit.store import Store, open_store
        from livekit.viewers import import_viewers as run_import

        settings = load_settings()
        if not sandbox:
            settings = select(settings, shop)
        home = settings.home / "sandbox" if sandbox else settings.home
        written = run_import(Store(home / "store") if sandbox else open_store(settings), file)
        if not written:
            raise fail(f"{file} 中没有任何观看记录")
        rows = sum(written.values())
        typer.echo(
            f"已导入 {rows} 条观看记录，{len(written)} 天（{min(written)} ~ {max(written)}），"
            f"保存在 {home / 'store' / 'viewers' if sandbox else _store_shown(settings) + '/viewers'}"
        )
