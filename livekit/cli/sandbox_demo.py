"""``livekit sandbox demo``: a guided look at what the sandbox serves, over real HTTP.

This talks to the sandbox with plain httpx on purpose: it shows the raw protocol (envelopes,
quirks) that the livekit client will wrap.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from rich.console import Console
from rich.table import Table

from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.doudian import signed_request
from livekit.sandbox.server import running_sandbox
from livekit.sandbox.world import CHINA_TZ
from livekit.vocab.units import format_money


def _ok(resp: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()
    if body.get("code") not in (0, 10000):
        raise RuntimeError(
            f"sandbox answered {body.get('code')}: {body.get('message') or body.get('sub_msg')}"
        )
    data: dict[str, Any] = body["data"]
    return data


def run_demo(seed: int, today: date | None) -> None:
    console = Console()
    day = today or datetime.now(CHINA_TZ).date()
    cfg = SandboxConfig(
        seed=seed,
        today=day,
        now=datetime.combine(day, datetime.min.time(), CHINA_TZ) + timedelta(hours=21),
        speed=60.0,
    )
    t0 = time.perf_counter()
    with running_sandbox(cfg) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        console.rule(f"[bold]livekit 沙盒演示[/]  {server.url}  种子 {seed}  今天 {day}")
        # 1. OAuth: consent page -> redirect with auth_code -> tokens
        consent = http.get(
            "/openapi/qc/audit/oauth.html",
            params={
                "app_id": cfg.qianchuan_app_id,
                "state": "demo-state",
                "redirect_uri": "http://127.0.0.1:1/callback",
            },
        )
        redirect = parse_qs(urlsplit(consent.headers["location"]).query)
        tokens = _ok(
            http.post(
                "/open_api/oauth2/access_token/",
                json={
                    "app_id": cfg.qianchuan_app_id,
                    "secret": cfg.qianchuan_secret,
                    "auth_code": redirect["auth_code"][0],
                },
            )
        )
        console.print(
            f"授权完成：state={redirect['state'][0]}，广告主 {tokens['advertiser_ids']}，access_token 有效 {tokens['expires_in']} 秒（令牌不显示）"
        )
        headers = {"Access-Token": tokens["access_token"]}
        adv = tokens["advertiser_ids"][0]

        awemes = _ok(
            http.get(
                "/open_api/v1.0/qianchuan/aweme/authorized/get/",
                params={"advertiser_id": adv},
                headers=headers,
            )
        )
        fields = [
            "stat_cost",
            "total_live_watch_cnt",
            "live_click_product_count_alias",
            "live_pay_order_count_alias",
            "live_pay_order_gmv_alias",
            "live_pay_order_gmv_roi",
        ]
        table = Table(title=f"今日直播间（{day}，沙盒时钟 21:00 起 60 倍速）")
        for col in (
            "抖音号",
            "直播间 room_id",
            "状态",
            "开播",
            "消耗(元)",
            "观看次数",
            "商品点击",
            "成交单数",
            "成交金额(元)",
            "ROI",
        ):
            table.add_column(col)
        living: tuple[int, str] | None = None
        for aw in awemes["aweme_id_list"]:
            rooms = _ok(
                http.get(
                    "/open_api/v1.0/qianchuan/today_live/room/get/",
                    params={
                        "advertiser_id": adv,
                        "aweme_id": aw["aweme_id"],
                        "date_time": day.isoformat(),
                        "fields": json.dumps(fields),
                    },
                    headers=headers,
                )
            )
            for r in rooms["room_list"]:
                if r["room_status"] == "LIVING":
                    living = (r["room_id"], r["room_title"])
                table.add_row(
                    aw["aweme_name"],
                    str(r["room_id"]),
                    r["room_status"],
                    r["start_time"][11:16],
                    f"{r['stat_cost']:.2f}",
                    str(r["total_live_watch_cnt"]),
                    str(r["live_click_product_count_alias"]),
                    str(r["live_pay_order_count_alias"]),
                    f"{r['live_pay_order_gmv_alias']:.2f}",
                    f"{r['live_pay_order_gmv_roi']:.2f}",
                )
        console.print(table)

        if living:
            room_id, title = living
            first = _ok(
                http.get(
                    "/open_api/v1.0/qianchuan/today_live/room/get/",
                    params={
                        "advertiser_id": adv,
                        "aweme_id": awemes["aweme_id_list"][0]["aweme_id"],
                        "date_time": day.isoformat(),
                        "fields": json.dumps(["total_live_watch_cnt"]),
                        "room_status": "LIVING",
                    },
                    headers=headers,
                )
            )
            time.sleep(1.0)
            second = _ok(
                http.get(
                    "/open_api/v1.0/qianchuan/today_live/room/get/",
                    params={
                        "advertiser_id": adv,
                        "aweme_id": awemes["aweme_id_list"][0]["aweme_id"],
                        "date_time": day.isoformat(),
                        "fields": json.dumps(["total_live_watch_cnt"]),
                        "room_status": "LIVING",
                    },
                    headers=headers,
                )
            )
            if first["room_list"] and second["room_list"]:
                console.print(
                    f"直播中「{title}」：1 秒（沙盒 1 分钟）内累计观看 {first['room_list'][0]['total_live_watch_cnt']} → {second['room_list'][0]['total_live_watch_cnt']}"
                )
            products = _ok(
                http.get(
                    "/open_api/v1.0/qianchuan/today_live/room/product_list/get/",
                    params={
                        "advertiser_id": adv,
                        "room_id": room_id,
                        "fields": json.dumps(
                            [
                                "live_product_price",
                                "live_product_Inventory",
                                "live_pay_order_count_alias",
                                "live_pay_order_gmv_alias",
                            ]
                        ),
                        "page_size": 100,
                    },
                    headers=headers,
                )
            )
            pt = Table(title="直播中商品（按成交金额，前 5）")
            for col in (
                "productId",
                "商品",
                "讲解状态",
                "价格(元)",
                "库存",
                "成交单数",
                "成交金额(元)",
            ):
                pt.add_column(col)
            for p in sorted(products["list"], key=lambda p: -p["live_pay_order_gmv_alias"])[:5]:
                pt.add_row(
                    str(p["productId"]),
                    p["title"],
                    p["explain_status"],
                    f"{p['live_product_price']:.2f}",
                    str(p["live_product_Inventory"]),
                    str(p["live_pay_order_count_alias"]),
                    f"{p['live_pay_order_gmv_alias']:.2f}",
                )
            console.print(pt)

        # 2. 抖店: self-built app token, then yesterday's orders (page from 0, amounts in fen)
        def dd(method: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
            path, query, content = signed_request(
                cfg.doudian_app_key, cfg.doudian_app_secret, method, body, token
            )
            return _ok(http.post(path, params=query, content=content))

        shop = dd("token.create", {"code": "", "grant_type": "authorization_self"})
        y0 = int(
            datetime.combine(day - timedelta(days=1), datetime.min.time(), CHINA_TZ).timestamp()
        )
        orders = dd(
            "order.searchList",
            {
                "page": 0,
                "size": 100,
                "create_time_start": y0,
                "create_time_end": y0 + 86399,
                "order_asc": True,
            },
            shop["access_token"],
        )
        paid = [o for o in orders["shop_order_list"] if o["pay_time"]]
        console.print(
            f"抖店「{shop['shop_name']}」昨日订单共 {orders['total']} 笔；第 0 页 {len(orders['shop_order_list'])} 笔中已支付 {len(paid)} 笔，金额 {format_money(sum(o['pay_amount'] for o in paid) / 100)}（接口单位为分）"
        )

        truth = http.get("/sandbox/truth").json()
        tt = Table(title="沙盒埋入的已知真相（分析结果应能复现）")
        tt.add_column("真相")
        tt.add_column("值")
        tt.add_row(
            "停留超过 3 分钟的转化风险比", f"{truth['dwell_conversion']['expected_risk_ratio']}"
        )
        vx = truth["viewer_experiment"]
        tt.add_row(
            f"按观众随机的实验 {vx['start_date']}~{vx['end_date']}",
            f"转化提升 {vx['metrics']['conversion']['expected_lift']:+.1%}，观看时长 {vx['metrics']['watch_seconds']['expected_lift']:+.1%}",
        )
        sw = truth["switchback_experiment"]
        tt.add_row(
            f"按场次随机的实验 {sw['start_date']}~{sw['end_date']}",
            f"点击率提升 {sw['metrics']['click_rate']['expected_lift']:+.1%}，转化率 {sw['metrics']['conversion_rate']['expected_lift']:+.1%}",
        )
        tt.add_row("ROAS（支付 GMV / 消耗）", f"{truth['roas']['realized']}")
        tt.add_row("7 日 GMV 中复购占比", f"{truth['repurchase']['realized_share_of_7d_gmv']:.1%}")
        for inc in truth["incidents"]:
            what = "观众骤降" if inc["kind"] == "viewer_drop" else "商品断货"
            tt.add_row(
                f"事故：{what}",
                f"{inc['day']} 第 {inc['start_minute']} 分钟起，直播间 {inc['room_id']}",
            )
        console.print(tt)
        st = http.get("/sandbox/stats").json()
        console.print(
            f"本次演示共发出 {st['total_requests']} 个请求，用时 {time.perf_counter() - t0:.1f} 秒。"
        )
