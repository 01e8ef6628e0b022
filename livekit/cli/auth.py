"""``livekit auth login qianchuan|doudian`` and ``livekit auth status`` (tokens are never shown).

Logins are saved where the token set lives: ``<LIVEKIT_HOME>/tokens.json``, or Redis when
``LIVEKIT_REDIS_URL`` is set (every worker then uses them; see :mod:`livekit.api.auth`). With a
shops file each grant is its own entry (``qianchuan:<广告主>``, ``doudian:<店铺>``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from livekit.cli.common import fail, user_errors

if TYPE_CHECKING:
    from livekit.config import Settings

app = typer.Typer(
    help="授权：登录巨量千川与抖店，查看授权状态（不显示令牌）。", no_args_is_help=True
)
login_app = typer.Typer(help="登录巨量千川（qianchuan）或抖店（doudian）。", no_args_is_help=True)
app.add_typer(login_app, name="login")


def _saved(settings: Settings, key: str, platform: str) -> str:
    from livekit.api.auth import store_label

    entry = f"（条目 {key}）" if key != platform else ""
    return f"令牌已保存到 {store_label(settings)}{entry}。"


def _covered(settings: Settings, advertiser_ids: list[int] | None, shop_id: int | None) -> str:
    """Which shops of the shops file the new grant covers (empty without a shops file)."""
    from livekit.shops import shops_of

    shops = shops_of(settings)
    if not shops:
        return ""
    if advertiser_ids is not None:
        ids = set(advertiser_ids)
        covered = [s.label for s in shops if s.advertiser_id in ids]
    else:
        covered = [s.label for s in shops if s.doudian_shop_id == shop_id]
    if not covered:
        return "店铺清单中没有店铺使用这次授权的账户。"
    return f"适用于店铺：{'、'.join(covered)}。"


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
    credentials: Annotated[
        str | None,
        typer.Option(
            "--credentials",
            help="店铺清单中 credentials 的名称：用这组应用凭据（LIVEKIT_<名称>_…）登录。",
        ),
    ] = None,
) -> None:
    """打开巨量千川授权页，在本机回调地址接收 auth_code（校验 state）并换取令牌。

    代理商（多个店铺）：在授权页勾选要授权的广告主；一次授权保存为一个条目，可多次登录。
    """
    if not 0 <= port <= 65535:
        raise fail(f"--port 应在 0 到 65535 之间（0 为随机），收到 {port}", 2)
    if not 0 < timeout <= 86400:  # also NaN and inf (which would overflow the deadline)
        raise fail(f"--timeout 应大于 0 且不超过 86400 秒，收到 {timeout}", 2)
    with user_errors():
        from livekit.api.auth import entry_key, exchange_code, login_qianchuan_loopback
        from livekit.api.runner import run
        from livekit.config import load_settings

        settings = _apps(load_settings(), credentials, "qianchuan")
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
        where = _saved(settings, entry_key(settings, tokens), "qianchuan")
        covered = _covered(settings, tokens.advertiser_ids, None)
        typer.echo(f"巨量千川授权成功：广告主 {ids}。{where}{covered}")


@login_app.command("doudian")
def login_doudian(
    shop_id: Annotated[
        int | None,
        typer.Option("--shop-id", help="抖店店铺 ID（自用型应用可省略；多个店铺时逐个登录）。"),
    ] = None,
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            help="服务商应用：店铺授权后回调带回的 code（grant_type=authorization_code）。",
        ),
    ] = None,
    credentials: Annotated[
        str | None,
        typer.Option(
            "--credentials",
            help="店铺清单中 credentials 的名称：用这组应用凭据（LIVEKIT_<名称>_…）登录。",
        ),
    ] = None,
) -> None:
    """创建抖店令牌：自用型应用 grant_type=authorization_self；给出 --code 时为服务商应用的
    authorization_code（店铺授权后带回的 code，单次有效）。"""
    if shop_id is not None and shop_id <= 0:
        raise fail(f"--shop-id 应为正整数，收到 {shop_id}", 2)
    if code is not None and not code.strip():
        raise fail("--code 不能为空", 2)
    with user_errors():
        from livekit.api.auth import create_doudian_token, entry_key
        from livekit.api.runner import run
        from livekit.config import load_settings

        settings = _apps(load_settings(), credentials, "doudian")
        settings.require_doudian()
        tokens = run(
            create_doudian_token(
                settings, shop_id=shop_id, code=code.strip() if code is not None else None
            )
        )
        where = _saved(settings, entry_key(settings, tokens), "doudian")
        covered = _covered(settings, None, tokens.shop_id)
        typer.echo(
            f"抖店授权成功：店铺「{tokens.shop_name}」（{tokens.shop_id}）。{where}{covered}"
        )


def _apps(settings: Settings, credentials: str | None, platform: str) -> Settings:
    """``settings`` with the apps of credentials set ``credentials`` (None: the default apps)."""
    if credentials is None:
        return settings
    from livekit.shops import CREDENTIALS, ShopError, with_credentials

    if not CREDENTIALS.fullmatch(credentials):
        raise ShopError(
            f"--credentials “{credentials[:40]}” 无效：应为店铺清单中 credentials 的名称"
            "（小写字母、数字或 _，以字母开头）"
        )
    return with_credentials(settings, credentials, (platform,))


def _shop_cell(state: dict[str, Any] | None) -> str:
    if state is None:
        return "—（不使用）"
    if state["authorized"]:
        return f"已授权（{state['key']}）"
    return "未授权"


@app.command("status")
def status() -> None:
    """显示令牌集中的每个授权条目与到期时间（从不显示令牌本身）；有店铺清单时逐店显示。"""
    with user_errors():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from livekit.api.auth import shop_status, store_label
        from livekit.api.auth import status as auth_status
        from livekit.config import load_settings
        from livekit.shops import find_shops_file

        settings = load_settings()
        rows = auth_status(settings)
        shops = shop_status(settings)
        console = Console()
        table = Table(title=f"授权状态（{escape(store_label(settings))}）")
        for col in ("平台", "条目", "状态", "账户", "access_token 到期", "refresh_token 到期"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r.get("platform_label") or r.get("platform")),
                escape(str(r.get("key") or "—")),
                "已授权" if r.get("authorized") else "未授权",
                escape(str(r.get("account") or "—")),  # an upstream name: text, not markup
                str(r.get("access_expires_at") or "—"),
                str(r.get("refresh_expires_at") or "—"),
            )
        console.print(table)
        if shops:
            per_shop = Table(title=f"各店铺的授权（{escape(str(find_shops_file(settings)))}）")
            for col in ("店铺", "巨量千川广告主", "巨量千川", "抖店店铺", "抖店"):
                per_shop.add_column(col)
            for shop in shops:
                qc, dd = shop.get("qianchuan"), shop.get("doudian")
                per_shop.add_row(
                    escape(shop["label"]),
                    str(qc["id"]) if qc else "—",
                    _shop_cell(qc),
                    str(dd["id"]) if dd else "—",
                    _shop_cell(dd),
                )
            console.print(per_shop)
        if not shops and not any(r.get("authorized") for r in rows):
            raise fail(
                "尚未授权：请运行 livekit auth login qianchuan 与 livekit auth login doudian"
            )
        missing = [
            f"{shop['label']} 的{name}（{state['login']}）"
            for shop in shops
            for platform, name in (("qianchuan", "巨量千川"), ("doudian", "抖店"))
            if (state := shop.get(platform)) is not None and not state["authorized"]
        ]
        if missing:
            raise fail(f"{len(missing)} 项店铺授权缺失或已过期：" + "；".join(missing))
