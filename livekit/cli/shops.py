"""``livekit shops``: the shops of the shops file (params/shops.yaml or LIVEKIT_SHOPS_FILE)."""

from __future__ import annotations

from livekit.cli.common import user_errors

EXAMPLE = "params/shops.example.yaml"


def shops() -> None:
    """列出店铺清单中的店铺（id、名称、千川广告主、抖店店铺）。"""
    with user_errors():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from livekit.config import load_settings
        from livekit.shops import find_shops_file, load_shops

        settings = load_settings()
        path = find_shops_file(settings)
        console = Console(soft_wrap=True)
        if path is None:
            console.print(
                "没有店铺清单：当前为单店铺模式。要管理多个店铺，请把 "
                f"{EXAMPLE} 复制为 params/shops.yaml 并按其中的说明填写"
                "（或用环境变量 LIVEKIT_SHOPS_FILE 指定清单文件）。",
                highlight=False,
            )
            return
        found = load_shops(path)
        # names come from the user's file: text, never rich markup
        table = Table(title=escape(f"店铺清单：{path}（{len(found)} 个店铺）"))
        for col in ("id", "名称", "千川广告主", "抖店店铺"):
            table.add_column(col)
        for shop in found:
            table.add_row(
                escape(shop.id),
                escape(shop.name),
                str(shop.advertiser_id) if shop.advertiser_id is not None else "—",
                str(shop.doudian_shop_id) if shop.doudian_shop_id is not None else "—",
            )
        console.print(table)
