"""Raw response bodies of every data endpoint of both platforms (the determinism tests)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx

from livekit.sandbox.aggregates import ADVERTISER_METRICS
from tests.helpers.sandbox import TODAY, Doudian, Qianchuan
from tests.helpers.shop import ROOM_FIELDS, day_start


class Client:
    """Logs in to both platforms and returns raw response bodies of data calls."""

    def __init__(self, http: httpx.Client, qc: Qianchuan, dd: Doudian) -> None:
        self.http = http
        self.qc = qc
        self.dd = dd
        self.qc_token = qc.login()["access_token"]
        self.dd_token = dd.login()["access_token"]
        self.advertiser_id = self.qc_get("/open_api/oauth2/advertiser/get/")["data"]["list"][0][
            "advertiser_id"
        ]

    def qc_raw(self, path: str, **params: Any) -> bytes:
        encoded = {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
            for k, v in params.items()
        }
        r = self.http.get(path, params=encoded, headers={"Access-Token": self.qc_token})
        assert r.status_code == 200, r.text
        return r.content

    def qc_get(self, path: str, **params: Any) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.qc_raw(path, **params))
        assert body["code"] == 0, body
        return body

    def data(self, path: str, **params: Any) -> bytes:
        raw = self.qc_raw("/open_api/" + path, advertiser_id=self.advertiser_id, **params)
        assert json.loads(raw)["code"] == 0, raw[:300]
        return raw

    def orders(self, body: dict[str, Any]) -> bytes:
        from livekit.sandbox.doudian import param_json, sign

        pj = param_json(body)
        config = self.dd.config
        ts = "1795000000"
        q = {
            "app_key": config.doudian_app_key,
            "method": "order.searchList",
            "timestamp": ts,
            "v": "2",
            "sign_method": "hmac-sha256",
            "sign": sign(
                config.doudian_app_key, config.doudian_app_secret, "order.searchList", pj, ts
            ),
            "access_token": self.dd_token,
        }
        r = self.http.post("/order/searchList", params=q, content=pj.encode())
        assert r.status_code == 200, r.text
        assert json.loads(r.content)["code"] == 10000, r.text
        return r.content

    def sandbox(self, path: str, **params: Any) -> bytes:
        r = self.http.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.content


def request_sequence(c: Client) -> list[tuple[str, bytes]]:
    """A fixed sequence of data requests touching every data endpoint of both platforms."""
    out: list[tuple[str, bytes]] = []

    def add(name: str, body: bytes) -> None:
        out.append((name, body))

    add("aweme", c.data("v1.0/qianchuan/aweme/authorized/get/"))
    awemes = [a["aweme_id"] for a in json.loads(out[-1][1])["data"]["aweme_id_list"]]
    rooms: list[int] = []
    for d in (TODAY, TODAY - timedelta(days=1), TODAY - timedelta(days=17)):
        for aweme in awemes:
            body = c.data(
                "v1.0/qianchuan/today_live/room/get/",
                aweme_id=aweme,
                date_time=d.isoformat(),
                fields=ROOM_FIELDS,
            )
            add(f"rooms {aweme} {d}", body)
            rooms += [r["room_id"] for r in json.loads(body)["data"]["room_list"]]
            add(
                f"report_live {aweme} {d}",
                c.data(
                    "v1.0/qianchuan/report/live/get/",
                    aweme_id=aweme,
                    start_time=f"{d} 00:00:00",
                    end_time=f"{d} 23:59:59",
                    fields=ROOM_FIELDS,
                ),
            )
    assert len(rooms) >= 4
    for rid in rooms[:2] + rooms[-2:]:
        add(f"detail {rid}", c.data("v1.0/qianchuan/today_live/room/detail/get/", room_id=rid))
        add(
            f"flow {rid}",
            c.data("v1.0/qianchuan/today_live/room/flow_performance/get/", room_id=rid),
        )
        add(
            f"products {rid}",
            c.data(
                "v1.0/qianchuan/today_live/room/product_list/get/",
                room_id=rid,
                fields=["live_product_Inventory", "live_pay_order_gmv_alias"],
            ),
        )
        for event in ("ENTER", "PAY"):
            add(
                f"user {rid} {event}",
                c.data(
                    "v1.0/qianchuan/today_live/room/user/get/",
                    room_id=rid,
                    action_event=event,
                    dimension=["CITY", "GENDER", "AGE"],
                ),
            )
    for gran, days in (("TIME_GRANULARITY_DAILY", 29), ("TIME_GRANULARITY_HOURLY", 1)):
        add(
            f"advertiser {gran}",
            c.data(
                "v1.0/qianchuan/report/advertiser/get/",
                start_date=(TODAY - timedelta(days=days)).isoformat(),
                end_date=TODAY.isoformat(),
                fields=list(ADVERTISER_METRICS),
                filtering={"marketing_goal": "LIVE_PROM_GOODS"},
                time_granularity=gran,
            ),
        )
    add(
        "analysis",
        c.data(
            "v3.0/report/live_room/analysis/get/",
            filtering={"aweme_ids": awemes},
            start_time=f"{TODAY - timedelta(days=7)} 00:00:00",
            end_time=f"{TODAY} 23:59:59",
        ),
    )
    for page in (0, 1, 0):  # the repeat gets a new log_id, the same in both sandboxes
        for order_by in ("create_time", "update_time"):
            add(
                f"orders {page} {order_by}",
                c.orders(
                    {
                        "create_time_start": day_start(TODAY - timedelta(days=1)),
                        "create_time_end": day_start(TODAY + timedelta(days=1)) - 1,
                        "page": page,
                        "size": 100,
                        "order_by": order_by,
                    }
                ),
            )
    add(
        "orders by update time",
        c.orders(
            {"update_time_start": day_start(TODAY - timedelta(days=3)), "page": 2, "size": 50}
        ),
    )
    window = {"start_date": (TODAY - timedelta(days=1)).isoformat(), "end_date": TODAY.isoformat()}
    add("export csv", c.sandbox("/sandbox/export/viewers", format="csv", **window))
    add("export parquet", c.sandbox("/sandbox/export/viewers", format="parquet", **window))
    add(
        "export one account",
        c.sandbox("/sandbox/export/viewers", format="csv", aweme_id=awemes[1], **window),
    )
    add("totals", c.sandbox("/sandbox/totals", **window))
    add("truth", c.sandbox("/sandbox/truth"))
    return out
