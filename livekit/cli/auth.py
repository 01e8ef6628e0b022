"""``livekit auth login qianchuan|doudian`` and ``livekit auth status`` (tokens are never shown)."""

from __future__ import annotations

from typing import Annotated

import typer

from livekit.cli.common import fail, user_errors

app = typer.Typer(
    help="授权：登录巨量千川与抖店，查看授权状态（不显示令牌）。", no_args_is_help=True
)
login_app = typer.Typer(help="登录巨量千川（qianchuan）或抖店（doudian）。", no_args_is_help=True)
app.add_typer(login_app, name="login")


@login_app.command("qianchuan")
def login_qianchuan(
    code: Annotated[
        str | None,
        typer.Option("--code", help="手动获得的 auth_code：直接换取令牌，不启动本地回调。"),
    ] = None,
    port: Annotated[
        int,
        typer.Option(
            "--port",
            help="本地回调端口（0 为随机）；回调地址 http://127.0.0.1:端口/callback 须已在应用中登记。",
        ),
    ] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="不自动打开浏览器，只打印授权链接。")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="等待授权回调的秒数。")] = 300.0,
) -> None:
    """打开巨量千川授权页，在本机回调地址接收 auth_code（校验 state）并换取令牌。"""
    if not 0 <= port <= 65535:
        raise fail(f"--port 应在 0 到 65535 之间（0 为随机），收到 {port}", 2)
    if not 0 < timeout <= 86400:  # also NaN and inf (which would overflow the deadline)
        raise fail(f"--timeout 应大于 0 且不超过 86400 秒，收到 {timeout}", 2)
    with user_errors():
        from livekit.api.auth import exchange_code, login_qianchuan_loopback
        from livekit.api.runner import run
        from livekit.config import load_settings

        settings = load_settings()
        settings.require_qianchuan()
        if code is not None:
            tokens = run(exchange_code(settings, code.strip()))
        else:

            def show(url: str) -> None:
                typer.echo("请在浏览器中打开以下链接并同意授权（本命令会等待回调）：")
                typer.echo(url)

            tokens = login_qianchuan_loopback(
                settings, port=port, timeout=timeout, open_browser=not no_browser, on_url=show
            )
        ids = "、".join(str(i) for i in tokens.advertiser_ids) or "（无）"
        typer.echo(
            f"巨量千川授权成功：广告主 {ids}。令牌已保存到 {settings.tokens_path}（仅本人可读）。"
        )


@login_app.command("doudian")
def login_doudian(
    shop_id: Annotated[
        int | None, typer.Option("--shop-id", help="店铺 ID（自用型应用可省略）。")
    ] = None,
) -> None:
    """为抖店自用型应用创建令牌（grant_type=authorization_self）。"""
    with user_errors():
        from livekit.api.auth import create_doudian_token
        from livekit.api.runner import run
        from livekit.config import load_settings

        settings = load_settings()
        settings.require_doudian()
        tokens = run(create_doudian_token(settings, shop_id=shop_id))
        typer.echo(
            f"抖店授权成功：店铺「{tokens.shop_name}」（{tokens.shop_id}）。令牌已保存到 {settings.tokens_path}（仅本人可读）。"
        )


@app.command("status")
def status() -> None:
    """显示已授权的账户与令牌到期时间（从不显示令牌本身）。"""
    with user_errors():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from livekit.api.auth import status as auth_status
        from livekit.config import load_settings

        settings = load_settings()
        rows = auth_status(settings)
        table = Table(title=f"授权状态（{settings.tokens_path}）")
        for col in ("平台", "状态", "账户", "access_token 到期", "refresh_token 到期"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r.get("platform_label") or r.get("platform")),
                "已授权" if r.get("authorized") else "未授权",
                escape(str(r.get("account") or "—")),  # an upstream name: text, not markup
                str(r.get("access_expires_at") or "—"),
                str(r.get("refresh_expires_at") or "—"),
            )
        Console().print(table)
        if not any(r.get("authorized") for r in rows):
            raise fail(
                "尚未授权：请运行 livekit auth login qianchuan 与 livekit auth login doudian"
            )
