"""The store partitioned by shop and the kit that reads it (issue 15, point 1): each shop's
data under ``shop=<id>/<dataset>/date=…``; ``kit.load(…, shop=…)`` reads one shop or many
(a leading ``shop`` column), still a pure read; ``livekit shops`` and the CLI's shop mistakes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import livekit
from livekit.config import Settings, load_settings
from livekit.ingest.plan import partition_meta
from livekit.shops import ShopError
from livekit.store import Store, open_store
from livekit.store.datasets import ORDERS, ROOMS, Dataset
from livekit.vocab.tz import CHINA_TZ

ROOT = Path(__file__).resolve().parents[1]
DAYS = [date(2026, 11, 20) + timedelta(days=i) for i in range(3)]
FETCHED = datetime(2026, 12, 31, 8, 0, tzinfo=CHINA_TZ)  # long after: final partitions
SHOPS = """\
shops:
  - id: north
    name: 北店
    qianchuan: {advertiser_id: 1700000000000011}
    doudian: {shop_id: 11111111}
  - id: south
    name: 南店
    qianchuan: {advertiser_id: 1700000000000022}
  - id: west
    doudian: {shop_id: 33333333}
"""
ENV = {**os.environ, "COLUMNS": "160", "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}


def _rooms(seed: int, day: date, n: int) -> pl.DataFrame:
    """``n`` rooms of one day with a few real numbers (the rest null), distinct per seed."""
    base = datetime.combine(day, datetime.min.time(), CHINA_TZ) + timedelta(hours=20)
    ids = [7_700_000_000_000_000_000 + seed * 10**9 + day.toordinal() * 100 + i for i in range(n)]
    return (
        pl.DataFrame({"room_id": ids})
        .with_columns(
            *(pl.lit(None, dtype=t).alias(c) for c, t in ROOMS.schema.items() if c != "room_id")
        )
        .with_columns(
            pl.lit(base).dt.cast_time_unit("us").alias("start_time"),
            pl.Series("stat_cost", [seed * 100.0 + i for i in range(n)]),
        )
    )


def _write(store: Store, ds: Dataset, day: date, frame: pl.DataFrame) -> None:
    store.write_partition(ds.name, day, frame, ds.schema, partition_meta(ds, day, FETCHED))


@pytest.fixture
def agency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A home with a shops file of three shops; north and south hold rooms, west nothing."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIVEKIT_SHOP", raising=False)
    (tmp_path / "shops.yaml").write_text(SHOPS, encoding="utf-8")
    settings = load_settings(home=tmp_path / "home", shops_file=tmp_path / "shops.yaml")
    for seed, shop in enumerate(("north", "south"), start=1):
        store = open_store(settings.for_shop(shop))
        for i, d in enumerate(DAYS):
            _write(store, ROOMS, d, _rooms(seed, d, i + seed))
    return settings


def test_each_shop_lives_under_its_own_level_on_disk(agency: Settings) -> None:
    root = agency.home / "store"
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "shop=north",
        "shop=south",
    ]
    for shop in ("north", "south"):
        days = sorted(p.name for p in (root / f"shop={shop}" / "rooms").iterdir())
        assert days == [f"date={d}" for d in DAYS]
        assert (root / f"shop={shop}" / "rooms" / f"date={DAYS[0]}" / "part.parquet").is_file()
    assert not (root / "rooms").exists()  # nothing at the one-shop level


def test_load_reads_one_shop_or_many_with_a_shop_column(agency: Settings) -> None:
    north = livekit.open(settings=agency, shop="north")
    assert north.shop == "north"
    own = north.load("rooms", DAYS[0], DAYS[-1])
    assert own.columns == ["date", *ROOMS.schema]
    assert own.height == 1 + 2 + 3
    assert set(own["stat_cost"].to_list()) == {100.0, 101.0, 102.0}
    # another shop by id, from the same kit
    south = north.load("rooms", DAYS[0], DAYS[-1], shop="south")
    assert south.height == 2 + 3 + 4
    assert_frame_equal(south, livekit.open(settings=agency, shop="south").load("rooms"))

    # many: an independent Hive scan over shop=*/rooms/date=* must give the same rows
    every = north.load("rooms", shop="*")
    assert every.columns == ["shop", "date", *ROOMS.schema]
    assert every.schema["shop"] == pl.Utf8
    scanned = (
        pl.scan_parquet(
            agency.home / "store" / "shop=*" / "rooms" / "date=*" / "*.parquet",
            hive_partitioning=True,
            hive_schema={"shop": pl.Utf8, "date": pl.Date},
        )
        .select("shop", "date", *ROOMS.schema)
        .collect()
    )
    key = ["shop", "room_id"]
    assert_frame_equal(every.sort(key), scanned.sort(key))
    assert every.height == own.height + south.height
    assert_frame_equal(livekit.load("rooms", shop="*", settings=agency), every)  # the shortcut
    # a list reads those shops in its order; west has nothing: no rows, no error
    listed = north.load("rooms", DAYS[1], DAYS[1], shop=["south", "west", "north"])
    assert listed["shop"].unique(maintain_order=True).to_list() == ["south", "north"]
    assert listed.height == 3 + 2
    assert (listed["date"] == DAYS[1]).all()


def test_many_shops_with_nothing_stored_keep_the_schema(agency: Settings) -> None:
    kit = livekit.open(settings=agency, shop="west")
    assert kit.load("rooms").height == 0
    empty = kit.load("orders", shop=("west",))
    assert empty.height == 0
    expected: dict[str, pl.DataType] = {"shop": pl.Utf8(), "date": pl.Date(), **ORDERS.schema}
    assert empty.schema == pl.Schema(expected)
    none = kit.load("orders", shop=[])
    assert none.schema == empty.schema


def test_an_unknown_shop_is_one_line(agency: Settings) -> None:
    kit = livekit.open(settings=agency, shop="north")
    for shop in ("east", ["north", "east"]):
        with pytest.raises(ShopError) as info:
            kit.load("rooms", shop=shop)
        assert str(info.value) == "店铺清单中没有 “east”；可用的店铺：north、south、west"
    with pytest.raises(ShopError, match=r"^店铺清单中没有 “east”"):
        livekit.open(settings=agency, shop="east")


def test_several_shops_and_none_picked(agency: Settings) -> None:
    """The kit reads named shops; what needs its own shop names the shops to pick from."""
    kit = livekit.open(settings=agency)
    assert kit.shop is None
    assert kit.load("rooms", shop="*").height == 6 + 9
    for needs_a_shop in (
        lambda: kit.load("rooms"),
        kit.datasets,
        lambda: kit.coverage(DAYS[0], DAYS[-1]),
        lambda: kit.sync(DAYS[0]),
    ):
        with pytest.raises(ShopError) as info:
            needs_a_shop()
        assert str(info.value).startswith(
            "店铺清单中有 3 个店铺，请指定其中一个：north、south、west"
        )


def test_datasets_and_coverage_are_the_kits_shop(agency: Settings) -> None:
    north = livekit.open(settings=agency, shop="north")
    stored = north.datasets().filter(pl.col("name") == "rooms").row(0, named=True)
    assert (stored["days_stored"], stored["first_day"], stored["last_day"]) == (3, DAYS[0], DAYS[2])
    west = livekit.open(settings=agency, shop="west")
    assert west.datasets().filter(pl.col("name") == "rooms")["days_stored"].item() == 0
    cov = west.coverage(DAYS[0], DAYS[-1], datasets=("rooms",), now=FETCHED)
    assert cov.missing == {"rooms": tuple(DAYS)}
    assert north.coverage(DAYS[0], DAYS[-1], datasets=("rooms",), now=FETCHED).complete


def test_shops_lists_the_file(agency: Settings, tmp_path: Path) -> None:
    frame = livekit.open(settings=agency).shops()
    assert frame.columns == ["id", "name", "advertiser_id", "doudian_shop_id"]
    assert frame.rows() == [
        ("north", "北店", 1700000000000011, 11111111),
        ("south", "南店", 1700000000000022, None),
        ("west", "west", None, 33333333),
    ]
    plain = load_settings(home=tmp_path / "plain")  # cwd has no params/shops.yaml
    assert livekit.open(settings=plain).shops().height == 0


def test_load_of_many_shops_is_a_pure_read(
    agency: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[str] = []

    def refuse(what: str) -> Any:
        def raiser(*args: Any, **kwargs: Any) -> Any:
            tried.append(what)
            raise AssertionError(f"{what} during a pure read")

        return raiser

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(threading.Thread, "start", refuse("Thread.start"))
    kit = livekit.open(settings=agency, shop="south")
    assert kit.load("rooms", shop="*").height == 15
    assert kit.load("rooms", DAYS[0]).height == 2
    assert tried == []


def test_the_sandbox_kit_has_one_shop(agency: Settings) -> None:
    with pytest.raises(ShopError) as info:
        livekit.open("sandbox", settings=agency, shop="north")
    assert str(info.value) == "内置沙盒只有一个店铺，不能选择店铺 “north”：请去掉 shop 参数"
    kit = livekit.open("sandbox", settings=agency.for_shop("north"))  # LIVEKIT_SHOP: ignored
    assert kit.shop is None
    assert kit.load("rooms").height == 0
    assert kit.shops().height == 0
    with pytest.raises(ShopError, match=r"^内置沙盒只有一个店铺"):
        kit.load("rooms", shop="*")


def test_without_a_shops_file_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIVEKIT_SHOP", raising=False)
    plain = load_settings(home=tmp_path / "home")
    _write(Store(plain.home / "store"), ROOMS, DAYS[0], _rooms(1, DAYS[0], 2))
    kit = livekit.open(settings=plain)
    assert kit.shop is None
    assert kit.load("rooms").height == 2
    assert repr(kit) == f"Kit(source='live', home={str(plain.home)!r})"
    with pytest.raises(ShopError, match=r"^没有店铺清单.*不能读取所有店铺"):
        kit.load("rooms", shop="*")
    with pytest.raises(ShopError, match=r"^没有店铺清单.*不能选择店铺 “north”"):
        livekit.open(settings=plain, shop="north")


# ---- the command line ---------------------------------------------------------------------------
def _cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livekit", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        cwd=cwd,
        env={**ENV, "LIVEKIT_HOME": str(cwd / "home"), **env},
    )


def _one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout + done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("错误："), lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


def test_livekit_shops_prints_the_table_or_how_to_make_one(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    done = _cli(bare, "shops")
    assert done.returncode == 0, done.stderr
    assert "没有店铺清单" in done.stdout
    assert "params/shops.example.yaml" in done.stdout
    assert len(done.stdout.strip().splitlines()) == 1

    project = tmp_path / "project"
    (project / "params").mkdir(parents=True)
    (project / "params" / "shops.yaml").write_text(SHOPS, encoding="utf-8")
    done = _cli(project, "shops")
    assert done.returncode == 0, done.stderr
    for text in ("千川广告主", "抖店店铺", "北店", "1700000000000011", "11111111", "west"):
        assert text in done.stdout
    south = next(line for line in done.stdout.splitlines() if "south" in line)
    assert "南店" in south
    assert "—" in south  # no 抖店 shop
    broken = tmp_path / "broken"
    (broken / "params").mkdir(parents=True)
    (broken / "params" / "shops.yaml").write_text("shops: [", encoding="utf-8")
    assert "YAML 格式错误" in _one_error(_cli(broken, "shops"))


def test_cli_shop_mistakes_are_one_red_line(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    project = tmp_path / "project"
    (project / "params").mkdir(parents=True)
    (project / "params" / "shops.yaml").write_text(SHOPS, encoding="utf-8")
    day = ("--from", "2026-11-20", "--to", "2026-11-20")
    cases = [
        (
            project,
            ("sync", "--shop", "east", *day),
            "店铺清单中没有 “east”；可用的店铺：north、south、west",
        ),
        (bare, ("sync", "--shop", "north", *day), "没有店铺清单"),
        (project, ("sync", "--shop", "north", "--all-shops"), "--shop 与 --all-shops 只能选一个"),
        (bare, ("sync", "--all-shops", *day), "params/shops.example.yaml"),
        (project, ("sync", *day), "店铺清单中有 3 个店铺，请指定其中一个"),
        (project, ("sync", "--sandbox", "--shop", "north"), "内置沙盒只有一个店铺"),
        (project, ("datasets", "--shop", "east"), "店铺清单中没有 “east”"),
    ]
    for cwd, args, expected in cases:
        line = _one_error(_cli(cwd, *args))
        assert expected in line, (args, line)
    # LIVEKIT_SHOP naming an unknown shop is the same line
    line = _one_error(_cli(project, "sync", "--from", "2026-11-20", LIVEKIT_SHOP="east"))
    assert "店铺清单中没有 “east”" in line


def test_many_shops_on_object_storage_read_like_on_disk(agency: Settings, tmp_path: Path) -> None:
    """The same shop level under LIVEKIT_STORE_URL (moto on loopback); an outside Hive scan
    over ``<url>/shop=*/rooms/`` reads the same rows the kit does."""
    from livekit.store.objects import ObjectStore
    from tests.helpers.s3 import running_s3

    with running_s3() as s3:
        url = f"s3://{s3.new_bucket()}/agency"
        remote = agency.model_copy(update={"home": tmp_path / "remote", **s3.settings_changes(url)})
        for seed, shop in enumerate(("north", "south"), start=1):
            store = open_store(remote.for_shop(shop))
            for i, d in enumerate(DAYS):
                _write(store, ROOMS, d, _rooms(seed, d, i + seed))
        kit = livekit.open(settings=remote, shop="north")
        every = kit.load("rooms", shop="*")
        local = livekit.open(settings=agency, shop="north").load("rooms", shop="*")
        key = ["shop", "room_id"]
        assert_frame_equal(every.sort(key), local.sort(key))
        north = open_store(remote.for_shop("north"))
        assert isinstance(north, ObjectStore)
        options = north.storage_options()
        scanned = (
            pl.scan_parquet(
                f"{url}/shop=*/rooms/date=*/*.parquet",
                hive_partitioning=True,
                hive_schema={"shop": pl.Utf8, "date": pl.Date},
                storage_options=options,
            )
            .select("shop", "date", *ROOMS.schema)
            .collect()
        )
        assert_frame_equal(every.sort(key), scanned.sort(key))
        assert kit.load("rooms").height == 6


def test_livekit_datasets_shows_the_shops_own_store(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "params").mkdir(parents=True)
    (project / "params" / "shops.yaml").write_text(SHOPS, encoding="utf-8")
    settings = load_settings(home=project / "home", shops_file=project / "params" / "shops.yaml")
    store = open_store(settings.for_shop("south"))
    for d in DAYS[:2]:
        _write(store, ROOMS, d, _rooms(2, d, 1))
    done = _cli(project, "datasets", "--shop", "south")
    assert done.returncode == 0, done.stderr
    assert "店铺 south 的数据集" in done.stdout
    rooms = next(line for line in done.stdout.splitlines() if "rooms" in line)
    assert f"{DAYS[0]} ~ {DAYS[1]}" in rooms
    done = _cli(project, "datasets", "--shop", "west")
    rooms = next(line for line in done.stdout.splitlines() if "rooms" in line)
    assert "—" in rooms
