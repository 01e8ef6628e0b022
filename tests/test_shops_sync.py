"""The sync per shop against the real sandbox over loopback (issue 15, point 1): a shop's sync
writes under ``shop=<id>/`` exactly what a one-shop sync of that world writes; it syncs only
the shop's advertiser and 抖店 shop (a shop lacking one gets a note, not an error); an
advertiser the token may not read is one line naming the shop and the login command;
``livekit sync --all-shops`` goes on past a failing shop and exits non-zero."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import livekit
from livekit.api.auth import create_doudian_token, exchange_code
from livekit.api.runner import run
from livekit.config import Settings
from livekit.ingest.run import DOUDIAN_DATASETS, QIANCHUAN_DATASETS, sync_async
from livekit.jobs import SandboxSession, run_sync, sandbox_auth_code, sandbox_session
from livekit.sandbox.server import running_sandbox
from livekit.sandbox.shopset import shop_seed
from livekit.store import Store
from livekit.store.datasets import get
from livekit.vocab.errors import LivekitError
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import DATASETS, child_env, cli, make_settings

START = TODAY - timedelta(days=3)
END = TODAY - timedelta(days=1)
STRANGER = 1_700_000_000_000_099  # an advertiser the sandbox never authorizes


@dataclass
class World:
    session: SandboxSession
    home: Path  # the sandbox home: its tokens, and the store of the one-shop reference sync
    advertiser_id: int
    doudian_shop_id: int
    reference: dict[str, pl.DataFrame]  # a one-shop sync of the world, per dataset

    def shops_file(self, name: str, text: str) -> Settings:
        path = self.home.parent / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return self.session.settings.model_copy(update={"shops_file": path})


def _read(root: Path, names: list[str] = DATASETS) -> dict[str, pl.DataFrame]:
    """Every dataset of the store at ``root`` for [START, END], sorted by every column."""
    store = Store(root)
    out = {}
    for name in names:
        ds = get(name)
        frame = store.read(name, ds.schema, START, END)
        out[name] = frame.sort(["date", *ds.key, *(c for c in ds.schema if c not in ds.key)])
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("shops-sync")
    with sandbox_session(make_settings(home), make_config()) as session:
        run(sync_async(session.settings, START, END, now=NOW))
        sandbox = session.server.sandbox
        yield World(
            session,
            home / "sandbox",
            sandbox.world.advertiser_id,
            sandbox.world.shop_id,
            _read(home / "sandbox" / "store"),
        )


def test_a_shop_sync_equals_the_one_shop_sync_under_its_own_level(world: World) -> None:
    assert world.reference["rooms"].height > 0
    assert world.reference["orders"].height > 0
    settings = world.shops_file(
        "one",
        f"shops:\n  - id: main\n    name: 主店\n"
        f"    qianchuan: {{advertiser_id: {world.advertiser_id}}}\n"
        f"    doudian: {{shop_id: {world.doudian_shop_id}}}\n",
    )
    result = run_sync(START, END, settings=settings, shop="main", now=NOW, progress=False)
    assert result.shop == "main"
    assert result.notes == []
    assert [a["advertiser_id"] for a in result.accounts] == [world.advertiser_id]
    level = world.home / "store" / "shop=main"
    for name in (*QIANCHUAN_DATASETS, *DOUDIAN_DATASETS):
        assert [p.name for p in sorted((level / name).iterdir())] == [
            f"date={d}" for d in _days(START, END)
        ]
    stored = _read(level)
    for name in DATASETS:
        assert_frame_equal(stored[name], world.reference[name], check_row_order=True)
    # read back through the kit: the only shop is the default
    kit = livekit.open(settings=settings)
    assert kit.shop == "main"
    assert_frame_equal(
        kit.load("rooms", START, END).sort("date", "room_id"),
        world.reference["rooms"].sort("date", "room_id"),
    )
    both = kit.load("orders", START, END, shop="*")
    assert both["shop"].unique().to_list() == ["main"]
    assert both.height == world.reference["orders"].height


def test_a_shop_without_a_platform_syncs_the_other_with_a_note(world: World) -> None:
    settings = world.shops_file(
        "split",
        f"shops:\n"
        f"  - id: ads\n    name: 投放号\n    qianchuan: {{advertiser_id: {world.advertiser_id}}}\n"
        f"  - id: shop-orders\n    doudian: {{shop_id: {world.doudian_shop_id}}}\n",
    )
    ads = run_sync(START, END, settings=settings, shop="ads", now=NOW, progress=False)
    assert set(ads.datasets) == set(QIANCHUAN_DATASETS)
    assert ads.notes == [
        "店铺 投放号（ads） 没有抖店店铺（doudian.shop_id），未同步抖店数据：orders、order_items"
    ]
    orders = run_sync(START, END, settings=settings, shop="shop-orders", now=NOW, progress=False)
    assert set(orders.datasets) == set(DOUDIAN_DATASETS)
    assert orders.accounts == []  # no 千川 call at all
    assert orders.notes == [
        "店铺 shop-orders 没有千川广告主（qianchuan.advertiser_id），未同步千川数据："
        + "、".join(QIANCHUAN_DATASETS)
    ]
    store = world.home / "store"
    assert not (store / "shop=ads" / "orders").exists()
    assert not (store / "shop=shop-orders" / "rooms").exists()
    for name, frame in _read(store / "shop=ads", list(QIANCHUAN_DATASETS)).items():
        assert_frame_equal(frame, world.reference[name])
    for name, frame in _read(store / "shop=shop-orders", list(DOUDIAN_DATASETS)).items():
        assert_frame_equal(frame, world.reference[name])


def test_an_advertiser_not_authorized_is_one_line(world: World) -> None:
    settings = world.shops_file(
        "stranger",
        f"shops:\n  - id: other\n    name: 别家店\n    qianchuan: {{advertiser_id: {STRANGER}}}\n",
    )
    with pytest.raises(LivekitError) as info:
        run_sync(START, END, settings=settings, shop="other", now=NOW, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert "别家店（other）" in message
    assert "livekit auth login qianchuan" in message
    assert not (world.home / "store" / "shop=other" / "rooms").exists()


def test_orders_of_another_shop_are_never_stored(world: World, tmp_path: Path) -> None:
    """A 抖店 grant saved under the wrong shop (its token serves the sandbox's shop, the entry
    claims another): the sync stops with one line and writes no order under that shop."""
    import json
    import os

    entries = json.loads((world.home / "tokens.json").read_text(encoding="utf-8"))
    claimed = 12_345_678
    entries[f"doudian:{claimed}"] = {**entries["doudian"], "shop_id": claimed}
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    tokens = home / "tokens.json"
    tokens.write_text(json.dumps(entries), encoding="utf-8")
    os.chmod(tokens, 0o600)
    settings = world.shops_file(
        "mislabelled", f"shops:\n  - id: fake\n    doudian: {{shop_id: {claimed}}}\n"
    ).model_copy(update={"home": home})
    with pytest.raises(LivekitError) as info:
        run_sync(START, END, settings=settings, shop="fake", now=NOW, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"抖店返回了店铺 {world.doudian_shop_id} 的订单，而店铺 fake 的")
    assert "livekit auth login doudian" in message
    assert not (home / "store" / "shop=fake" / "orders").exists()
    assert not (home / "store" / "shop=fake" / "order_items").exists()


def test_all_shops_goes_on_past_a_failing_shop(world: World, tmp_path: Path) -> None:
    """Real CLI in a child process: the failing shop comes first, the good one still syncs."""
    path = tmp_path / "shops.yaml"
    path.write_text(
        f"shops:\n"
        f"  - id: other\n    name: 别家店\n    qianchuan: {{advertiser_id: {STRANGER}}}\n"
        f"  - id: cli-main\n    name: 主店\n"
        f"    qianchuan: {{advertiser_id: {world.advertiser_id}}}\n"
        f"    doudian: {{shop_id: {world.doudian_shop_id}}}\n",
        encoding="utf-8",
    )
    day = END
    env = child_env(world.session, LIVEKIT_SHOPS_FILE=str(path))
    done = cli(env, "sync", "--all-shops", "--from", day.isoformat(), "--to", day.isoformat())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    errors = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(errors) == 2, done.stderr
    assert errors[0].startswith("错误：店铺 别家店（other）：")
    assert "livekit auth login qianchuan" in errors[0]
    assert errors[1] == "错误：1 / 2 个店铺同步失败：other"
    lines = [x for x in done.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith("店铺 主店（cli-main）：新拉取 ")
    stored = _read(world.home / "store" / "shop=cli-main")
    for name in DATASETS:
        want = world.reference[name].filter(pl.col("date") == day)
        assert_frame_equal(stored[name], want)


# ---- a sandbox of two shops --------------------------------------------------------------------
def _reference(home: Path, seed: int) -> dict[str, pl.DataFrame]:
    """A one-shop sync of the sandbox world of ``seed`` (its own sandbox, its own home)."""
    with sandbox_session(make_settings(home), make_config(seed=seed)) as session:
        run(sync_async(session.settings, START, END, now=NOW))
    return _read(home / "sandbox" / "store")


def test_two_shops_each_under_its_level_equal_one_shop_syncs_of_their_worlds(
    world: World, tmp_path: Path
) -> None:
    """``livekit sync --all-shops`` (a child process) over a sandbox of two shops, one app each
    platform authorized by both (a 千川 grant of both advertisers, a 抖店 token per shop): each
    shop's store equals a one-shop sync of its world, and each reads only its own data."""
    with running_sandbox(make_config(shops=2)) as server:
        listed = httpx.get(server.url + "/sandbox/shops", timeout=10).json()["shops"]
        assert [s["id"] for s in listed] == ["s1", "s2"]
        path = tmp_path / "shops.yaml"
        path.write_text(
            "shops:\n"
            + "".join(
                f"  - id: {s['id']}\n    name: {s['name']}\n"
                f"    qianchuan: {{advertiser_id: {s['advertiser_id']}}}\n"
                f"    doudian: {{shop_id: {s['shop_id']}}}\n"
                for s in listed
            ),
            encoding="utf-8",
        )
        settings = make_settings(tmp_path / "home", shops_file=path).for_sandbox(server.url)
        run(exchange_code(settings, sandbox_auth_code(settings)))  # consent: both advertisers
        for s in listed:
            run(create_doudian_token(settings, shop_id=s["shop_id"]))
        env = child_env(SandboxSession(settings, server.url, server), LIVEKIT_SHOPS_FILE=str(path))
        done = cli(env, "sync", "--all-shops", "--from", START.isoformat(), "--to", END.isoformat())
        assert done.returncode == 0, done.stdout + done.stderr
        lines = [x for x in done.stdout.splitlines() if x.strip()]
        assert [x.split("：")[0] for x in lines] == [
            f"店铺 {s['name']}（{s['id']}）" for s in listed
        ]
        totals = [
            httpx.get(
                server.url + "/sandbox/totals",
                params={
                    "start_date": START.isoformat(),
                    "end_date": END.isoformat(),
                    "shop": s["id"],
                },
                timeout=30,
            ).json()
            for s in listed
        ]
    store = settings.home / "store"
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == [
        "shop=s1",
        "shop=s2",
    ]
    first, second = _read(store / "shop=s1"), _read(store / "shop=s2")
    other = _reference(tmp_path / "ref-s2", shop_seed(7, 1))
    for name in DATASETS:
        assert_frame_equal(first[name], world.reference[name])
        assert_frame_equal(second[name], other[name])
    for stored, total in zip((first, second), totals, strict=True):
        assert stored["rooms"].height == total["rooms"] > 0
        assert stored["orders"].height == total["orders"] > 0
    # the two shops' data are their own: no room or order in both
    for name, key in (("rooms", "room_id"), ("orders", "order_id")):
        assert set(first[name][key]).isdisjoint(second[name][key])
    kit = livekit.open(settings=settings, shop="s2")
    both = kit.load("orders", START, END, shop="*")
    assert both.group_by("shop").len().sort("shop").rows() == [
        ("s1", first["orders"].height),
        ("s2", second["orders"].height),
    ]


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
