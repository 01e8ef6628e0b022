"""The agency OAuth flows against the real sandbox of three shops on loopback (issue 15, point 1):
one 千川 app authorized by several advertisers (grants of the advertisers ticked on the consent
page), one 抖店 app authorized by several shops (``authorization_code`` with the shop's code, or
``authorization_self`` with ``shop_id``); each grant its own token set entry; each shop's client
uses the entry covering it; a refresh writes back the same entry; ``livekit auth`` commands."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from livekit.api.auth import (
    TokenFile,
    TokenManager,
    create_doudian_token,
    exchange_code,
    login_qianchuan_loopback,
    shop_status,
    status,
)
from livekit.api.client import Client
from livekit.api.errors import ApiError, ReauthorizeRequired
from livekit.api.runner import run
from livekit.config import Settings
from livekit.sandbox.server import RunningSandbox, running_sandbox
from tests.helpers.api import sandbox_settings, stats
from tests.helpers.sandbox import NOW, make_config
from tests.helpers.tokens import (
    consent_code,
    doudian_code,
    sandbox_shops,
    shops_yaml,
    worker_env,
)

DAY = int(NOW.timestamp())


@dataclass
class Agency:
    server: RunningSandbox
    shops: list[dict[str, Any]]  # /sandbox/shops: id, name, advertiser_id, shop_id
    shops_file: Path

    def settings(self, home: Path, **changes: Any) -> Settings:
        base = sandbox_settings(home, self.server.url, **changes)
        return base.model_copy(update={"shops_file": self.shops_file})

    def adv(self, k: int) -> int:
        return int(self.shops[k]["advertiser_id"])

    def dd(self, k: int) -> int:
        return int(self.shops[k]["shop_id"])


def _agency(tmp_path: Path, **config: Any) -> Iterator[Agency]:
    with running_sandbox(make_config(shops=3, **config)) as server:
        shops = sandbox_shops(server.url)
        path = tmp_path / "shops.yaml"
        path.write_text(shops_yaml(shops), encoding="utf-8")
        yield Agency(server, shops, path)


@pytest.fixture(scope="module")
def agency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agency]:
    yield from _agency(tmp_path_factory.mktemp("agency"))


def _grant_all(agency: Agency, settings: Settings) -> None:
    """千川: advertisers 1 and 2 in one grant, 3 in another; 抖店: shop 1 and 2 by code (one
    with its shop_id, one without), shop 3 as a self-built app's ``authorization_self``."""
    run(exchange_code(settings, consent_code(settings, [agency.adv(0), agency.adv(1)])))
    run(exchange_code(settings, consent_code(settings, [agency.adv(2)])))
    code = doudian_code(settings, agency.dd(0))
    run(create_doudian_token(settings, shop_id=agency.dd(0), code=code))
    run(create_doudian_token(settings, code=doudian_code(settings, agency.dd(1))))
    run(create_doudian_token(settings, shop_id=agency.dd(2)))


async def _use(settings: Settings, shop: dict[str, Any]) -> tuple[str | None, str | None]:
    """One 千川 and one 抖店 call for ``shop``; the entries its client used."""
    async with Client(settings.for_shop(shop["id"])) as client:
        awemes = await client.qianchuan.awemes(shop["advertiser_id"])
        assert awemes
        orders = await client.doudian.search_orders(DAY - 86400, DAY, 0, 5)
        listed = orders["shop_order_list"]
        assert listed
        assert {o["shop_id"] for o in listed} == {shop["shop_id"]}  # the token's own shop
        return client.qianchuan_tokens.key, client.doudian_tokens.key


def test_each_grant_is_an_entry_and_each_shop_uses_the_one_covering_it(
    agency: Agency, tmp_path: Path
) -> None:
    s = agency.settings(tmp_path)
    _grant_all(agency, s)
    a1, a3 = agency.adv(0), agency.adv(2)
    d1, d2, d3 = agency.dd(0), agency.dd(1), agency.dd(2)
    stored = json.loads(s.tokens_path.read_text(encoding="utf-8"))
    assert set(stored) == {
        f"qianchuan:{a1}",
        f"qianchuan:{a3}",
        f"doudian:{d1}",
        f"doudian:{d2}",
        f"doudian:{d3}",
    }
    assert stored[f"qianchuan:{a1}"]["advertiser_ids"] == [a1, agency.adv(1)]
    used = [run(_use(s, shop)) for shop in agency.shops]
    assert used == [
        (f"qianchuan:{a1}", f"doudian:{d1}"),
        (f"qianchuan:{a1}", f"doudian:{d2}"),
        (f"qianchuan:{a3}", f"doudian:{d3}"),
    ]
    rows = {r["key"]: r for r in status(s)}
    assert rows[f"qianchuan:{a1}"]["advertiser_ids"] == [a1, agency.adv(1)]
    assert rows[f"doudian:{d2}"]["shop_name"] == agency.shops[1]["name"]
    per_shop = shop_status(s)
    assert [(r["shop"], r["qianchuan"]["key"], r["doudian"]["key"]) for r in per_shop] == [
        (shop["id"], q, d) for shop, (q, d) in zip(agency.shops, used, strict=True)
    ]

    # the wrong entry really is refused: the sandbox binds a grant to its advertisers
    async def wrong() -> None:
        async with httpx.AsyncClient() as http:
            manager = TokenManager(s, http, f"qianchuan:{a1}")
            async with Client(s.for_shop(agency.shops[2]["id"])) as client:
                client.qianchuan._tokens = manager  # the 1+2 grant for shop 3's advertiser
                await client.qianchuan.awemes(a3)

    with pytest.raises(ApiError, match="40002"):
        run(wrong())


def test_the_loopback_login_keys_the_grant_by_its_first_advertiser(
    agency: Agency, tmp_path: Path
) -> None:
    s = agency.settings(tmp_path)
    ticked = [agency.adv(2), agency.adv(0)]

    def browser(url: str) -> None:
        """The user ticks advertisers 3 and 1 on the consent page (the sandbox-only parameter)."""
        page = httpx.get(
            url + "&advertiser_ids=" + ",".join(map(str, ticked)),
            follow_redirects=True,
            timeout=10,
        )
        assert "授权成功" in page.text

    tokens = login_qianchuan_loopback(s, open_browser=False, on_url=browser, timeout=20)
    assert sorted(tokens.advertiser_ids) == sorted(ticked)
    first = tokens.advertiser_ids[0]  # the first of the grant's answer names the entry
    assert TokenFile(s.tokens_path).load(f"qianchuan:{first}") == tokens
    assert list(json.loads(s.tokens_path.read_text(encoding="utf-8"))) == [f"qianchuan:{first}"]


def test_a_shop_nobody_authorized_is_one_line_naming_it(agency: Agency, tmp_path: Path) -> None:
    s = agency.settings(tmp_path)
    run(exchange_code(s, consent_code(s, [agency.adv(0)])))
    run(create_doudian_token(s, shop_id=agency.dd(0)))
    assert run(_use(s, agency.shops[0]))
    shop = agency.shops[1]

    async def second() -> None:
        async with Client(s.for_shop(shop["id"])) as client:
            await client.qianchuan.awemes(shop["advertiser_id"])

    with pytest.raises(ReauthorizeRequired) as caught:
        run(second())
    text = str(caught.value)
    assert f"（{shop['id']}）" in text
    assert str(shop["advertiser_id"]) in text
    assert "livekit auth login qianchuan" in text
    assert "\n" not in text


def test_a_refresh_writes_back_the_same_entry(tmp_path: Path) -> None:
    for agency in _agency(tmp_path):
        s = agency.settings(tmp_path / "home")
        _grant_all(agency, s)
        before = json.loads(s.tokens_path.read_text(encoding="utf-8"))
        agency.server.sandbox.clock.set(NOW + timedelta(days=8), 0.0)  # every token expired
        assert run(_use(s, agency.shops[1]))  # shop 2: the 1+2 grant and shop 2's 抖店 grant
        after = json.loads(s.tokens_path.read_text(encoding="utf-8"))
        counts = stats(agency.server.url)
    assert set(after) == set(before)  # no new entry, no plain one
    a1, a3 = agency.adv(0), agency.adv(2)
    changed = {k for k in after if after[k]["refresh_token"] != before[k]["refresh_token"]}
    assert changed == {f"qianchuan:{a1}", f"doudian:{agency.dd(1)}"}
    assert after[f"qianchuan:{a1}"]["advertiser_ids"] == [a1, agency.adv(1)]
    assert after[f"qianchuan:{a3}"] == before[f"qianchuan:{a3}"]
    assert counts["refreshes"] == {"qianchuan": 1, "doudian": 1}
    assert counts["dead_refresh_token_uses"] == {"qianchuan": 0, "doudian": 0}


# ---- the commands -------------------------------------------------------------------------
@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def _cli(env: dict[str, str], *args: str) -> Done:
    """``livekit ARGS`` in this process (typer's runner), with only ``env``'s LIVEKIT_* set."""
    from typer.testing import CliRunner

    from livekit.cli import app

    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LIVEKIT_")}
    result = CliRunner().invoke(app, list(args), env={**unset, **env})
    return Done(result.exit_code, result.stdout, result.stderr)


def test_auth_login_doudian_with_a_code_and_status_per_shop(agency: Agency, tmp_path: Path) -> None:
    s = agency.settings(tmp_path)
    env = worker_env(s, tmp_path, LIVEKIT_SHOPS_FILE=str(agency.shops_file))
    before = _cli(env, "auth", "status")
    assert before.returncode == 1
    assert before.stderr.startswith("错误：")
    assert before.stdout.count("未授权") >= 6  # both platforms of three shops (and the entries)
    qc = _cli(env, "auth", "login", "qianchuan", "--code", consent_code(s))  # every advertiser
    assert qc.returncode == 0, qc.stderr
    assert f"条目 qianchuan:{agency.adv(0)}" in qc.stdout
    assert "适用于店铺：" in qc.stdout
    assert all(f"（{shop['id']}）" in qc.stdout for shop in agency.shops)
    outputs = [qc.stdout]
    for k in range(2):  # shops 1 and 2 authorize the app; shop 3 does not yet
        code = doudian_code(s, agency.dd(k))
        done = _cli(env, "auth", "login", "doudian", "--shop-id", str(agency.dd(k)), "--code", code)
        assert done.returncode == 0, done.stderr
        assert agency.shops[k]["name"] in done.stdout
        assert f"条目 doudian:{agency.dd(k)}" in done.stdout
        assert f"适用于店铺：{agency.shops[k]['name']}（{agency.shops[k]['id']}）" in done.stdout
        outputs.append(done.stdout)
        again = _cli(env, "auth", "login", "doudian", "--code", code)  # a code is single use
        assert again.returncode == 1
        assert again.stderr.startswith("错误：")
        assert "Traceback" not in again.stderr
    partial = _cli(env, "auth", "status")
    assert partial.returncode == 1  # shop 3's 抖店 is missing: said, with its command
    assert f"livekit auth login doudian --shop-id {agency.dd(2)}" in partial.stderr
    assert agency.shops[2]["id"] in partial.stderr
    done = _cli(env, "auth", "login", "doudian", "--shop-id", str(agency.dd(2)))
    assert done.returncode == 0, done.stderr
    full = _cli(env, "auth", "status")
    assert full.returncode == 0, full.stderr
    for k, shop in enumerate(agency.shops):
        assert f"已授权（doudian:{agency.dd(k)}）" in full.stdout
        assert shop["id"] in full.stdout
    assert full.stdout.count(f"已授权（qianchuan:{agency.adv(0)}）") == 3
    blob = "\n".join([*outputs, before.stdout, partial.stdout, partial.stderr, full.stdout])
    for entry in json.loads((tmp_path / "tokens.json").read_text(encoding="utf-8")).values():
        assert entry["access_token"] not in blob
        assert entry["refresh_token"] not in blob
