"""``SandboxConfig.hostile_text``: every upstream text field carries a payload, nothing else
changes. The same sequence of data requests as the determinism test is asked of a plain and a
hostile sandbox over HTTP: every number, id and enum is identical, every differing string is the
plain one followed by a payload, and together the fields carry every payload."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import polars as pl
import pytest

from livekit.sandbox.hostile import LONG, PAYLOADS
from livekit.sandbox.server import running_sandbox
from tests.helpers.raw_client import Client, request_sequence
from tests.helpers.sandbox import Doudian, Qianchuan, make_config

SUFFIXES = (*PAYLOADS, LONG)


def _sequence(hostile_text: bool) -> list[tuple[str, bytes]]:
    with (
        running_sandbox(make_config(hostile_text=hostile_text)) as running,
        httpx.Client(base_url=running.url, timeout=60) as http,
    ):
        client = Client(
            http, Qianchuan(http, running.sandbox.config), Doudian(http, running.sandbox.config)
        )
        return request_sequence(client)


@pytest.fixture(scope="module")
def runs() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    return _sequence(False), _sequence(True)


class Diff:
    """Walks a plain and a hostile value side by side; records which payloads appeared."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.fields: set[str] = set()

    def text(self, where: str, plain: str, hostile: str) -> None:
        if plain == hostile:
            return
        suffix = hostile[len(plain) :]
        assert hostile.startswith(plain), (where, plain, hostile[:200])
        assert suffix in SUFFIXES, (where, plain, hostile[:200])
        self.used.add(suffix)
        self.fields.add(where.rsplit(".", 1)[-1])

    def walk(self, where: str, plain: Any, hostile: Any) -> None:
        if isinstance(plain, dict):
            assert isinstance(hostile, dict), where
            assert list(plain) == list(hostile), where
            for key in plain:
                self.walk(f"{where}.{key}", plain[key], hostile[key])
        elif isinstance(plain, list):
            assert isinstance(hostile, list), where
            assert len(plain) == len(hostile), where
            for item_p, item_h in zip(plain, hostile, strict=True):
                self.walk(where, item_p, item_h)
        elif isinstance(plain, str):
            assert isinstance(hostile, str), where
            self.text(where, plain, hostile)
        else:
            assert plain == hostile, (where, plain, hostile)

    def table(self, where: str, plain: list[dict[str, Any]], hostile: list[dict[str, Any]]) -> None:
        assert len(plain) == len(hostile), where
        assert plain or where == "export one account", where  # that account may be off air
        for row_p, row_h in zip(plain, hostile, strict=True):
            self.walk(where, row_p, row_h)


def test_hostile_sandbox_changes_only_text(
    runs: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]],
) -> None:
    plain, hostile = runs
    assert [name for name, _ in plain] == [name for name, _ in hostile]
    diff = Diff()
    for (name, body_p), (_, body_h) in zip(plain, hostile, strict=True):
        if name.startswith("export csv") or name == "export one account":
            diff.table(
                name,
                list(csv.DictReader(io.StringIO(body_p.decode()))),
                list(csv.DictReader(io.StringIO(body_h.decode()))),
            )
        elif name == "export parquet":
            diff.table(
                name,
                pl.read_parquet(io.BytesIO(body_p)).to_dicts(),
                pl.read_parquet(io.BytesIO(body_h)).to_dicts(),
            )
        else:
            diff.walk(name, json.loads(body_p), json.loads(body_h))
    assert diff.used == set(SUFFIXES)
    assert {
        "aweme_name",
        "anchor_nick",
        "room_title",
        "title",
        "product_name",
        "author_name",
        "shop_name",
        "name",  # 抖店 post_addr province and city
        "city_name",
        "province",
        "traffic_source",
    } <= diff.fields


def test_plain_sandbox_is_the_default() -> None:
    from livekit.sandbox.config import SandboxConfig
    from livekit.sandbox.world import World

    assert SandboxConfig().hostile_text is False
    day = make_config().today
    assert day is not None
    plain, hostile = World(7, day, scale=0.05), World(7, day, scale=0.05, hostile_text=True)
    assert not any("<" in p.title for p in plain.products)
    assert not any("<" in a.aweme_name for a in plain.accounts)
    # The advertiser name is asked for at login, outside the compared sequence.
    assert hostile.advertiser_name.startswith(plain.advertiser_name)
    assert hostile.advertiser_name[len(plain.advertiser_name) :] in PAYLOADS


def test_serve_hostile_text_from_the_command_line() -> None:
    """``livekit sandbox serve --hostile-text``: a real process whose export carries payloads."""
    import os
    import subprocess
    import sys
    import time

    from livekit.sandbox.server import free_port

    port = free_port()
    day = "2026-11-27"
    args = f"sandbox serve --hostile-text --port {port} --today 2026-11-28 --scale 0.05"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livekit", *args.split()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        url = f"http://127.0.0.1:{port}/sandbox/export/viewers"
        params = {"start_date": day, "end_date": day, "format": "csv"}
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(url, params=params, timeout=30)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                assert proc.poll() is None, "the sandbox exited"
                time.sleep(0.2)
        assert answer.status_code == 200, answer.text[:300]
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert rows
        assert all(any(row["province"].endswith(p) for p in PAYLOADS) for row in rows)
        assert all(any(row["traffic_source"].endswith(p) for p in PAYLOADS) for row in rows)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
