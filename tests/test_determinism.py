"""Same seed, same day, same frozen moment: the same shop, byte for byte.

Two sandboxes are served over HTTP side by side and asked the same sequence of data requests.
Tokens are random, but they travel in headers and query strings only, so every data response
body, including its request_id / log_id (deterministic under a frozen clock by design), must be
identical. A different seed must give a different shop.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from livekit.sandbox.aggregates import ADVERTISER_METRICS
from livekit.sandbox.server import running_sandbox
from tests.conftest import TODAY, Doudian, Qianchuan, make_config
from tests.test_consistency import ROOM_FIELDS, day_start


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


@pytest.fixture(scope="module")
def two_runs() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    runs = []
    for _ in range(2):
        with (
            running_sandbox(make_config()) as running,
            httpx.Client(base_url=running.url, timeout=60) as http,
        ):
            config = running.sandbox.config
            runs.append(
                request_sequence(Client(http, Qianchuan(http, config), Doudian(http, config)))
            )
    return runs[0], runs[1]


def test_same_seed_gives_byte_identical_bodies(
    two_runs: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]],
) -> None:
    first, second = two_runs
    assert [name for name, _ in first] == [name for name, _ in second]
    assert len(first) > 40
    for (name, a), (_, b) in zip(first, second, strict=True):
        assert a == b, name


def test_the_compared_bodies_carry_data(
    two_runs: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]],
) -> None:
    """Guard against comparing two empty answers: the sequence really returns a shop."""
    bodies = dict(two_runs[0])
    rooms = json.loads(
        bodies[
            f"rooms {json.loads(bodies['aweme'])['data']['aweme_id_list'][0]['aweme_id']} {TODAY}"
        ]
    )
    assert rooms["data"]["room_list"]
    assert json.loads(bodies["orders 0 create_time"])["data"]["total"] > 100
    rows = list(csv.reader(io.StringIO(bodies["export csv"].decode())))
    assert len(rows) > 1000
    assert bodies["export parquet"][:4] == b"PAR1"


def test_request_ids_are_deterministic_but_not_repeated(
    two_runs: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]],
) -> None:
    first = two_runs[0]
    orders = [json.loads(b) for name, b in first if name == "orders 0 create_time"]
    assert len(orders) == 2
    assert orders[0]["data"] == orders[1]["data"]
    assert orders[0]["log_id"] != orders[1]["log_id"]
    ids = [
        json.loads(b).get("request_id") or json.loads(b).get("log_id")
        for name, b in first
        if not name.startswith(("export", "totals", "truth"))
    ]
    assert len(set(ids)) == len(ids)


def _plain(seed: int) -> dict[str, Any]:
    with (
        running_sandbox(make_config(seed=seed)) as running,
        httpx.Client(base_url=running.url, timeout=60) as client,
    ):
        window = {
            "start_date": (TODAY - timedelta(days=2)).isoformat(),
            "end_date": TODAY.isoformat(),
        }
        export = client.get("/sandbox/export/viewers", params={"format": "csv", **window})
        totals = client.get("/sandbox/totals", params=window).json()
        rooms = {int(r["room_id"]) for r in csv.DictReader(io.StringIO(export.text))}
        return {"rooms": rooms, "totals": totals, "csv": export.content}


def test_a_different_seed_gives_a_different_shop() -> None:
    seven, eight, seven_again = _plain(7), _plain(8), _plain(7)
    assert seven == seven_again
    assert seven["rooms"]
    assert eight["rooms"]
    assert seven["rooms"].isdisjoint(eight["rooms"])
    for key in (
        "total_live_watch_cnt",
        "live_pay_order_gmv_alias",
        "stat_cost",
        "paid_amount_yuan",
    ):
        assert seven["totals"][key] != eight["totals"][key], key
    assert seven["csv"] != eight["csv"]


def test_load_test_accounts_leave_the_shop_unchanged_and_go_live_together() -> None:
    from datetime import datetime

    import numpy as np

    from livekit.sandbox.world import CHINA_TZ, World

    plain = World(7, TODAY, 10, 0.1)
    loaded = World(7, TODAY, 10, 0.1, extra_accounts=12)
    assert loaded.accounts[:2] == plain.accounts
    day = TODAY - timedelta(days=3)
    ours = [s for s in loaded.sessions_on(day) if s.account.index < 2]
    theirs = plain.sessions_on(day)
    assert [s.room_id for s in ours] == [s.room_id for s in theirs]
    assert all(
        np.array_equal(a.visits.enter_s, b.visits.enter_s)
        for a, b in zip(ours, theirs, strict=True)
    )
    now = datetime.combine(day, datetime.min.time(), CHINA_TZ).replace(hour=21).timestamp()
    extra = [s for s in loaded.sessions_on(day) if s.account.index >= 2]
    assert len(extra) == 12
    assert all(s.start_ts <= now < s.end_ts for s in extra)
