"""A shop whose apps are not the default ones (the shops file's ``credentials``): its 巨量千川 and
抖店 app come from ``LIVEKIT_<NAME>_…`` variables, its grants live in their own token set
(``tokens-<name>.json``), and its sync and logins use them, never the default apps."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livekit.api.auth import shop_status
from livekit.config import Settings
from livekit.jobs import run_sync, sandbox_auth_code
from livekit.sandbox.config import (
    DEMO_DOUDIAN_APP_KEY,
    DEMO_DOUDIAN_APP_SECRET,
    DEMO_QIANCHUAN_APP_ID,
    DEMO_QIANCHUAN_SECRET,
)
from livekit.sandbox.server import running_sandbox
from livekit.shops import ShopError, load_shops, select, with_credentials
from livekit.store import Store
from livekit.store.datasets import get
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import cli, make_settings
from tests.helpers.tokens import doudian_code

START = TODAY - timedelta(days=2)
END = TODAY - timedelta(days=1)
SECOND = {
    "LIVEKIT_SECOND_QIANCHUAN_APP_ID": str(DEMO_QIANCHUAN_APP_ID),
    "LIVEKIT_SECOND_QIANCHUAN_SECRET": DEMO_QIANCHUAN_SECRET,
    "LIVEKIT_SECOND_DOUDIAN_APP_KEY": DEMO_DOUDIAN_APP_KEY,
    "LIVEKIT_SECOND_DOUDIAN_APP_SECRET": DEMO_DOUDIAN_APP_SECRET,
}


def _shops(tmp_path: Path, extra: str = "    credentials: second\n") -> Path:
    path = tmp_path / "shops.yaml"
    path.write_text(
        "shops:\n  - id: main\n    name: 主店\n    qianchuan: {advertiser_id: 17}\n"
        "    doudian: {shop_id: 99}\n" + extra,
        encoding="utf-8",
    )
    return path


# ---- the shops file and the overlay ------------------------------------------------------------
def test_the_credentials_key_is_read_and_checked(tmp_path: Path) -> None:
    (shop,) = load_shops(_shops(tmp_path))
    assert shop.credentials == "second"
    assert shop.platforms == ("qianchuan", "doudian")
    for bad in ("Second", "2nd", "se-cond", '""', "[a]"):
        with pytest.raises(ShopError, match="credentials") as caught:
            load_shops(_shops(tmp_path, f"    credentials: {bad}\n"))
        assert "\n" not in str(caught.value)


def test_select_takes_the_shops_apps_and_its_own_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = {
        "LIVEKIT_QIANCHUAN_APP_ID": "1",
        "LIVEKIT_QIANCHUAN_SECRET": "default-secret",
        "LIVEKIT_DOUDIAN_APP_KEY": "1",
        "LIVEKIT_DOUDIAN_APP_SECRET": "default-secret",
    }
    for name, value in {**SECOND, **defaults}.items():
        monkeypatch.setenv(name, value)
    base = make_settings(tmp_path / "home", shops_file=_shops(tmp_path))
    chosen = select(base, "main")
    assert (chosen.shop, chosen.credentials) == ("main", "second")
    assert chosen.qianchuan_app_id == DEMO_QIANCHUAN_APP_ID
    assert chosen.doudian_app_key == DEMO_DOUDIAN_APP_KEY
    assert chosen.qianchuan_secret is not None
    assert chosen.qianchuan_secret.get_secret_value() == DEMO_QIANCHUAN_SECRET
    assert chosen.tokens_path == base.home / "tokens-second.json"
    assert base.tokens_path == base.home / "tokens.json"
    assert "default-secret" not in repr(chosen)
    assert DEMO_QIANCHUAN_SECRET not in repr(chosen)
    # back to the default apps of LIVEKIT_* (a shop without credentials after one with them)
    again = with_credentials(chosen, None)
    assert (again.credentials, again.qianchuan_app_id, again.doudian_app_key) == (None, 1, "1")


def test_missing_variables_are_one_line_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SECOND:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIVEKIT_SECOND_DOUDIAN_APP_KEY", DEMO_DOUDIAN_APP_KEY)
    base = make_settings(tmp_path / "home", shops_file=_shops(tmp_path))
    with pytest.raises(ShopError) as caught:
        select(base, "main")
    said = str(caught.value)
    assert "\n" not in said
    assert "主店" in said
    for name in (
        "LIVEKIT_SECOND_QIANCHUAN_APP_ID",
        "LIVEKIT_SECOND_QIANCHUAN_SECRET",
        "LIVEKIT_SECOND_DOUDIAN_APP_SECRET",
    ):
        assert name in said
    assert "LIVEKIT_SECOND_DOUDIAN_APP_KEY" not in said  # that one is set
    # a shop of one platform needs only that platform's variables
    only_orders = tmp_path / "orders-only.yaml"
    only_orders.write_text(
        "shops:\n  - id: o\n    doudian: {shop_id: 99}\n    credentials: second\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LIVEKIT_SECOND_DOUDIAN_APP_SECRET", DEMO_DOUDIAN_APP_SECRET)
    chosen = select(base.model_copy(update={"shops_file": only_orders}), "o")
    assert chosen.doudian_app_key == DEMO_DOUDIAN_APP_KEY
    assert chosen.qianchuan_app_id is None  # never the default app's


# ---- against the sandbox: the default apps are wrong, the shop's set is right ------------------
@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with running_sandbox(make_config()) as server:
        yield server.url


def _env(settings: Settings, shops: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(SECOND)
    env.update(
        {
            "LIVEKIT_HOME": str(settings.home),
            "LIVEKIT_SHOPS_FILE": str(shops),
            "LIVEKIT_QIANCHUAN_APP_ID": "1",  # the default apps: the sandbox knows neither
            "LIVEKIT_QIANCHUAN_SECRET": "wrong",
            "LIVEKIT_DOUDIAN_APP_KEY": "1",
            "LIVEKIT_DOUDIAN_APP_SECRET": "wrong",
            "LIVEKIT_QIANCHUAN_BASE_URL": settings.qianchuan_base_url,
            "LIVEKIT_QIANCHUAN_AUTH_URL": settings.qianchuan_auth_url,
            "LIVEKIT_DOUDIAN_BASE_URL": settings.doudian_base_url,
            "PYTHONIOENCODING": "utf-8",
            "NO_COLOR": "1",
            "COLUMNS": "250",
        }
    )
    return env


def test_a_shop_on_its_own_apps_logs_in_and_syncs_with_them(
    sandbox_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    for name, value in SECOND.items():
        monkeypatch.setenv(name, value)
    world = httpx.get(sandbox_url + "/sandbox/shops", timeout=10).json()["shops"][0]
    shops = tmp_path / "shops.yaml"
    shops.write_text(
        f"shops:\n  - id: main\n    name: 主店\n"
        f"    qianchuan: {{advertiser_id: {world['advertiser_id']}}}\n"
        f"    doudian: {{shop_id: {world['shop_id']}}}\n    credentials: second\n",
        encoding="utf-8",
    )
    demo = make_settings(tmp_path / "demo").for_sandbox(sandbox_url)
    base = make_settings(
        tmp_path / "home",
        qianchuan_app_id=1,
        qianchuan_secret="wrong",
        doudian_app_key="1",
        doudian_app_secret="wrong",
        qianchuan_base_url=demo.qianchuan_base_url,
        qianchuan_auth_url=demo.qianchuan_auth_url,
        doudian_base_url=demo.doudian_base_url,
        shops_file=shops,
    )
    env = _env(base, shops)
    # the default apps are refused by the platform; the shop's set is what logs in
    refused = cli(env, "auth", "login", "doudian", "--shop-id", str(world["shop_id"]))
    assert refused.returncode != 0
    code = sandbox_auth_code(demo)
    done = cli(env, "auth", "login", "qianchuan", "--credentials", "second", "--code", code)
    assert done.returncode == 0, done.stderr
    dd = doudian_code(demo, world["shop_id"])
    args = ("--shop-id", str(world["shop_id"]), "--code", dd, "--credentials", "second")
    done = cli(env, "auth", "login", "doudian", *args)
    assert done.returncode == 0, done.stderr
    entries = json.loads((base.home / "tokens-second.json").read_text(encoding="utf-8"))
    assert sorted(entries) == [f"doudian:{world['shop_id']}", f"qianchuan:{world['advertiser_id']}"]
    assert not (base.home / "tokens.json").exists()  # the default apps' set is untouched
    (row,) = shop_status(base)
    assert row["qianchuan"]["authorized"]
    assert row["doudian"]["authorized"]
    status = cli(env, "auth", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "livekit auth login" not in status.stdout  # nothing left to log in
    # the sync of the shop uses its apps and its tokens
    result = run_sync(START, END, settings=base, shop="main", now=NOW, progress=False)
    assert result.datasets["rooms"].rows > 0
    assert result.datasets["orders"].rows > 0
    stored = Store(base.store_dir / "shop=main").read("orders", get("orders").schema, START, END)
    assert stored.height == result.datasets["orders"].rows
    # a login with an unknown set is one line naming its variables
    wrong = cli(env, "auth", "login", "qianchuan", "--credentials", "third", "--code", "x")
    assert wrong.returncode != 0
    assert "LIVEKIT_THIRD_QIANCHUAN_APP_ID" in wrong.stderr
    assert "Traceback" not in wrong.stderr
