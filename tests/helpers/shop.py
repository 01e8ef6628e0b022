"""Plain-HTTP access to one sandbox through both protocols (the consistency and truth tests)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx

from livekit.sandbox.server import RunningSandbox
from livekit.sandbox.world import CHINA_TZ
from tests.helpers.sandbox import Doudian, Qianchuan

PAID_SOURCE = "live_pc_qian_chuan"
ROOM_FIELDS = [
    "stat_cost",
    "click_cnt",
    "convert_cnt",
    "live_pay_order_gmv_alias",
    "luban_live_pay_order_gmv",
    "live_pay_order_count_alias",
    "luban_live_pay_order_count",
    "live_create_order_count_alias",
    "luban_live_order_count",
    "total_live_watch_cnt",
    "live_watch_one_minute_count",
    "total_live_follow_cnt",
    "total_live_comment_cnt",
    "total_live_share_cnt",
    "live_click_cart_count_alias",
    "live_click_product_count_alias",
    "live_order_refund_amount_7d",
    "live_order_refund_count_7d",
]
MONEY_FIELDS = {
    "stat_cost",
    "live_pay_order_gmv_alias",
    "luban_live_pay_order_gmv",
    "live_order_refund_amount_7d",
}
COUNT_FIELDS = [f for f in ROOM_FIELDS if f not in MONEY_FIELDS]
PRODUCT_FIELDS = [
    "live_product_Inventory",
    "live_pay_order_gmv_alias",
    "luban_live_pay_order_gmv",
    "live_pay_order_count_alias",
    "luban_live_pay_order_count",
]


def fen(yuan: float) -> int:
    """Yuan (2 decimals, as served) to integer fen, so sums are exact."""
    return round(yuan * 100)


def day_start(d: date) -> int:
    return int(datetime.combine(d, time(0), CHINA_TZ).timestamp())


def moment(ts: int) -> str:
    return datetime.fromtimestamp(ts, CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class ExportRow:
    room_id: int
    viewer_id: str
    enter_time: str
    leave_time: str
    traffic_source: str
    clicked_product_id: int | None
    paid: int
    pay_fen: int
    variant: str | None


@dataclass
class Shop:
    """Plain-HTTP access to one sandbox through both protocols, logged in once."""

    url: str
    qc: Qianchuan
    dd: Doudian
    http: httpx.Client
    qc_token: str = ""
    dd_token: str = ""
    advertiser_id: int = 0
    aweme_ids: list[int] = field(default_factory=list)

    @classmethod
    def open(cls, running: RunningSandbox, http: httpx.Client) -> Shop:
        config = running.sandbox.config
        shop = cls(running.url, Qianchuan(http, config), Doudian(http, config), http)
        login = shop.qc.login()
        shop.qc_token = login["access_token"]
        shop.advertiser_id = int(login["advertiser_ids"][0])
        shop.dd_token = shop.dd.login()["access_token"]
        awemes = shop.data("v1.0/qianchuan/aweme/authorized/get/")
        shop.aweme_ids = [int(a["aweme_id"]) for a in awemes["aweme_id_list"]]
        return shop

    # ---- 巨量千川 --------------------------------------------------------------------
    def data(self, path: str, **params: Any) -> dict[str, Any]:
        encoded = {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
            for k, v in params.items()
        }
        body = self.qc.get(path, self.qc_token, advertiser_id=self.advertiser_id, **encoded)
        assert body["code"] == 0, body
        data: dict[str, Any] = body["data"]
        return data

    def rooms(
        self, aweme_id: int, d: date, fields: list[str] = ROOM_FIELDS
    ) -> list[dict[str, Any]]:
        data = self.data(
            "v1.0/qianchuan/today_live/room/get/",
            aweme_id=aweme_id,
            date_time=d.isoformat(),
            fields=fields,
            page_size=100,
        )
        assert data["page_info"]["total_num"] == len(data["room_list"])
        return list(data["room_list"])

    def all_rooms(self, d: date, fields: list[str] = ROOM_FIELDS) -> list[dict[str, Any]]:
        return [r for a in self.aweme_ids for r in self.rooms(a, d, fields)]

    def products(self, room_id: int) -> list[dict[str, Any]]:
        data = self.data(
            "v1.0/qianchuan/today_live/room/product_list/get/",
            room_id=room_id,
            fields=PRODUCT_FIELDS,
            page_size=100,
        )
        assert data["page_info"]["total_num"] == len(data["list"])
        return list(data["list"])

    # ---- 抖店 -------------------------------------------------------------------------
    def orders(self, start_ts: int, end_ts: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 0
        while True:
            body = self.dd.call(
                "order.searchList",
                {
                    "create_time_start": start_ts,
                    "create_time_end": end_ts,
                    "page": page,
                    "size": 100,
                    "order_by": "create_time",
                    "order_asc": True,
                },
                self.dd_token,
            )
            assert body["code"] == 10000, body
            out.extend(body["data"]["shop_order_list"])
            if len(out) >= body["data"]["total"] or not body["data"]["shop_order_list"]:
                assert len(out) == body["data"]["total"]
                return out
            page += 1

    def day_orders(self, d: date) -> list[dict[str, Any]]:
        return self.orders(day_start(d), day_start(d + timedelta(days=1)) - 1)

    # ---- viewer export ----------------------------------------------------------------
    def export_bytes(self, start: date, end: date, fmt: str, aweme_id: int | None = None) -> bytes:
        params: dict[str, Any] = {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "format": fmt,
        }
        if aweme_id is not None:
            params["aweme_id"] = aweme_id
        r = self.http.get("/sandbox/export/viewers", params=params)
        assert r.status_code == 200, r.text
        return r.content

    def export_rows(self, start: date, end: date) -> list[ExportRow]:
        text = self.export_bytes(start, end, "csv").decode()
        return [
            ExportRow(
                room_id=int(row["room_id"]),
                viewer_id=row["viewer_id"],
                enter_time=row["enter_time"],
                leave_time=row["leave_time"],
                traffic_source=row["traffic_source"],
                clicked_product_id=int(row["clicked_product_id"])
                if row["clicked_product_id"]
                else None,
                paid=int(row["paid"]),
                pay_fen=fen(float(row["pay_amount"])),
                variant=row["variant"] or None,
            )
            for row in csv.DictReader(io.StringIO(text))
        ]

    def set_clock(self, now: str) -> None:
        r = self.http.post("/sandbox/clock", json={"now": now, "speed": 0})
        assert r.status_code == 200, r.text
        assert r.json()["now"] == now
