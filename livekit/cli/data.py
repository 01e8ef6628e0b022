"""``livekit sync``, ``livekit datasets`` and ``livekit import viewers``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from livekit.cli.common import fail, parse_day, user_errors
from livekit.dates import DAY_WORDS

if TYPE_CHECKING:
    from livekit.config import Settings
    from livekit.ingest.run import SyncResult

import_app = typer.Typer(
    help="导入平台接口拿不到的数据（如观众明细导出文件）。", no_args_is_help=True
)

Sandbox = Annotated[
    bool,
    typer.Option("--sandbox", help="使用内置离线沙盒（数据单独存放在 LIVEKIT_HOME/sandbox）。"),
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
) -> None:
    """从巨量千川与抖店拉取数据到本地（按天分区的 Parquet）。已定稿的日期不重复拉取，今天总会刷新。"""
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    names = [n.strip() for n in datasets.split(",") if n.strip()] if datasets else None
    with user_errors():
        from livekit.config import load_settings
        from livekit.jobs import run_sync

        settings = load_settings()
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


def _print_summary(result: SyncResult, settings: Settings, sandbox: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from livekit.jobs import summary_rows

    # account names come from upstream and paths from the user: text, never rich markup
    console = Console()
    home = settings.home / "sandbox" if sandbox else settings.home
    table = Table(
        title=f"同步完成：{result.start} ~ {result.end}，用时 {result.seconds:.1f} 秒",
        caption=escape(f"数据目录：{(not sandbox and settings.store_url) or home / 'store'}"),
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
    totals = _store_totals(None if sandbox else settings, home, result)
    if totals:
        console.print(totals)


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


def datasets(sandbox: Sandbox = False) -> None:
    """列出 livekit 保存的数据集、说明与本地已存的日期范围。"""
    with user_errors():
        from rich.console import Console
        from rich.table import Table

        import livekit

        frame = livekit.open("sandbox" if sandbox else "live").datasets()
        table = Table(
            title="数据集（livekit.open().load(名称, 开始, 结束) 读取为 polars DataFrame）"
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
) -> None:
    """导入观众明细（每次进入直播间一行）。同一直播间再次导入会替换旧数据，不会重复。"""
    with user_errors():
        from livekit.config import load_settings
        from livekit.store import Store, open_store
        from livekit.viewers import import_viewers as run_import

        settings = load_settings()
        home = settings.home / "sandbox" if sandbox else settings.home
        written = run_import(Store(home / "store") if sandbox else open_store(settings), file)
        if not written:
            raise fail(f"{file} 中没有任何观看记录")
        rows = sum(written.values())
        typer.echo(
            f"已导入 {rows} 条观看记录，{len(written)} 天（{min(written)} ~ {max(written)}），"
            f"保存在 {home / 'store' / 'viewers'}"
        )
