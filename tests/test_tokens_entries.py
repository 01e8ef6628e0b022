"""Which token set entry a grant is saved under and which one a shop's client uses (issue 15,
point 1's agency flows): unit tests on the token file, no network."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from livekit.api.auth import (
    DoudianTokens,
    QianchuanTokens,
    TokenFile,
    Tokens,
    default_entry,
    entry_for_shop,
    entry_key,
)
from livekit.api.client import Client
from livekit.api.errors import ReauthorizeRequired
from livekit.api.runner import run
from livekit.config import Settings, load_settings
from livekit.shops import Shop, ShopError

NOW = time.time()
A1, A2, A3 = 1_700_000_000_000_001, 1_700_000_000_000_002, 1_700_000_000_000_003
D1, D2 = 80_000_001, 80_000_002


def qc(ids: list[int], obtained: float = NOW, refresh_left: float = 86400.0) -> QianchuanTokens:
    return QianchuanTokens(
        f"qc-access-{ids}-{obtained}",
        f"qc-refresh-{ids}-{obtained}",
        obtained + 3600,
        NOW + refresh_left,
        ids,
        obtained,
    )


def dd(shop_id: int, obtained: float = NOW) -> DoudianTokens:
    return DoudianTokens(
        f"dd-access-{shop_id}-{obtained}",
        f"dd-refresh-{shop_id}-{obtained}",
        obtained + 3600,
        NOW + 86400,
        shop_id,
        f"店{shop_id}",
        obtained,
    )


SHOPS_YAML = f"""shops:
  - id: one
    name: 一号店
    qianchuan: {{advertiser_id: {A1}}}
    doudian: {{shop_id: {D1}}}
  - id: two
    name: 二号店
    qianchuan: {{advertiser_id: {A2}}}
    doudian: {{shop_id: {D2}}}
  - id: three
    name: 三号店
    qianchuan: {{advertiser_id: {A3}}}
  - id: orders-only
    name: 只有订单
    doudian: {{shop_id: 80000009}}
"""


@pytest.fixture
def one_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)  # no params/shops.yaml above: one-shop mode
    for name in ("LIVEKIT_SHOPS_FILE", "LIVEKIT_SHOP", "LIVEKIT_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return load_settings(
        home=tmp_path / "home",
        qianchuan_app_id=1,
        qianchuan_secret="qc-app-secret",
        doudian_app_key="k",
        doudian_app_secret="dd-app-secret",
    )


@pytest.fixture
def agency(one_shop: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "shops.yaml"
    path.write_text(SHOPS_YAML, encoding="utf-8")
    return one_shop.model_copy(update={"shops_file": path})


def test_one_shop_keys_are_the_platforms(one_shop: Settings) -> None:
    assert entry_key(one_shop, qc([A1, A2])) == "qianchuan"
    assert entry_key(one_shop, dd(D1)) == "doudian"


def test_with_a_shops_file_a_grant_is_keyed_by_its_first_advertiser_or_its_shop(
    agency: Settings,
) -> None:
    assert entry_key(agency, qc([A2, A1])) == f"qianchuan:{A2}"
    assert entry_key(agency, dd(D2)) == f"doudian:{D2}"
    assert entry_key(agency, qc([])) == "qianchuan"  # a grant of no advertiser: nothing to key


def test_entry_for_shop_takes_the_grant_covering_the_shop() -> None:
    one = Shop("one", "一号店", A1, D1)
    three = Shop("three", "三号店", A3, None)
    entries: dict[str, Tokens] = {
        f"qianchuan:{A2}": qc([A2, A1]),
        f"qianchuan:{A3}": qc([A3]),
        f"doudian:{D1}": dd(D1),
        f"doudian:{D2}": dd(D2),
    }
    assert entry_for_shop(entries, "qianchuan", one) == f"qianchuan:{A2}"
    assert entry_for_shop(entries, "doudian", one) == f"doudian:{D1}"
    assert entry_for_shop(entries, "qianchuan", three) == f"qianchuan:{A3}"
    assert entry_for_shop(entries, "doudian", three) is None  # the shop has no 抖店 shop
    assert entry_for_shop({f"doudian:{D2}": dd(D2)}, "doudian", one) is None
    # the plain one-shop entry counts too, when it covers the shop
    assert entry_for_shop({"qianchuan": qc([A1])}, "qianchuan", one) == "qianchuan"


def test_of_two_grants_covering_a_shop_the_living_newest_wins() -> None:
    one = Shop("one", "一号店", A1, D1)
    old, new = qc([A1], obtained=NOW - 100), qc([A2, A1], obtained=NOW)
    assert entry_for_shop({"qianchuan:a": old, "qianchuan:b": new}, "qianchuan", one) == (
        "qianchuan:b"
    )
    dead = qc([A2, A1], obtained=NOW, refresh_left=-1.0)  # its refresh token has expired
    assert entry_for_shop({"qianchuan:a": old, "qianchuan:b": dead}, "qianchuan", one) == (
        "qianchuan:a"
    )


def test_without_a_shop_the_plain_entry_or_the_only_one() -> None:
    assert default_entry({"qianchuan": qc([A1]), "qianchuan:9": qc([9])}, "qianchuan") == (
        "qianchuan"
    )
    assert default_entry({f"qianchuan:{A1}": qc([A1])}, "qianchuan") == f"qianchuan:{A1}"
    assert default_entry({"qianchuan:1": qc([1]), "qianchuan:2": qc([2])}, "qianchuan") is None
    assert default_entry({"doudian": dd(D1)}, "qianchuan") is None


def _write(settings: Settings, entries: dict[str, Tokens]) -> None:
    tf = TokenFile(settings.tokens_path)
    for key, tokens in entries.items():
        tf.save(key, tokens)


def _client_keys(settings: Settings) -> tuple[str | None, str | None]:
    async def main() -> tuple[str | None, str | None]:
        async with Client(settings) as client:
            await client.qianchuan_tokens.tokens()
            await client.doudian_tokens.tokens()
            return client.qianchuan_tokens.key, client.doudian_tokens.key

    return run(main())


def test_a_shops_client_uses_the_shops_entries(agency: Settings) -> None:
    grants: dict[str, Tokens] = {
        f"qianchuan:{A2}": qc([A2, A1]),
        f"qianchuan:{A3}": qc([A3]),
        f"doudian:{D1}": dd(D1),
        f"doudian:{D2}": dd(D2),
    }
    _write(agency, grants)
    assert _client_keys(agency.for_shop("one")) == (f"qianchuan:{A2}", f"doudian:{D1}")
    assert _client_keys(agency.for_shop("two")) == (f"qianchuan:{A2}", f"doudian:{D2}")

    async def three() -> str:
        async with Client(agency.for_shop("three")) as client:
            tokens = await client.qianchuan_tokens.tokens()
            assert isinstance(tokens, QianchuanTokens)
            assert tokens.advertiser_ids == [A3]
            with pytest.raises(ShopError, match="三号店"):  # no 抖店 shop in the shops file
                await client.doudian_tokens.access_token()
            return await client.qianchuan_tokens.access_token()

    assert run(three()) == grants[f"qianchuan:{A3}"].access_token


def test_a_shop_nobody_authorized_names_the_shop_and_the_login(agency: Settings) -> None:
    _write(agency, {f"qianchuan:{A2}": qc([A2]), f"doudian:{D2}": dd(D2)})

    async def one(platform: str) -> str:
        async with Client(agency.for_shop("one")) as client:
            manager = client.qianchuan_tokens if platform == "qianchuan" else client.doudian_tokens
            return await manager.access_token()

    with pytest.raises(ReauthorizeRequired) as qc_missing:
        run(one("qianchuan"))
    text = str(qc_missing.value)
    assert "一号店（one）" in text
    assert str(A1) in text
    assert "livekit auth login qianchuan" in text
    with pytest.raises(ReauthorizeRequired) as dd_missing:
        run(one("doudian"))
    assert "一号店（one）" in str(dd_missing.value)
    assert f"livekit auth login doudian --shop-id {D1}" in str(dd_missing.value)
    for secret in (qc([A2]).access_token, dd(D2).refresh_token):
        assert secret not in text + str(dd_missing.value)


def test_one_shop_mode_reads_the_plain_entries_as_before(one_shop: Settings) -> None:
    _write(one_shop, {"qianchuan": qc([A1]), "doudian": dd(D1), f"qianchuan:{A2}": qc([A2])})
    assert _client_keys(one_shop) == ("qianchuan", "doudian")
    data = json.loads(one_shop.tokens_path.read_text(encoding="utf-8"))
    assert set(data["qianchuan"]) == {
        "access_token",
        "refresh_token",
        "access_expires_at",
        "refresh_expires_at",
        "advertiser_ids",
        "obtained_at",
    }


def test_without_a_plain_entry_the_platforms_only_entry_is_used(one_shop: Settings) -> None:
    _write(one_shop, {f"qianchuan:{A1}": qc([A1]), f"doudian:{D1}": dd(D1)})
    assert _client_keys(one_shop) == (f"qianchuan:{A1}", f"doudian:{D1}")
    _write(one_shop, {f"qianchuan:{A2}": qc([A2])})  # two now: which one is not ours to guess

    async def main() -> None:
        async with Client(one_shop) as client:
            await client.qianchuan_tokens.access_token()

    with pytest.raises(ReauthorizeRequired, match="livekit auth login qianchuan"):
        run(main())


def test_an_unknown_shop_is_one_line(agency: Settings) -> None:
    with pytest.raises(ShopError, match="nowhere"):
        Client(agency.for_shop("nowhere"))
