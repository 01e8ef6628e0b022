"""The shops file (issue 15, point 1): each mistake in it is one Chinese line; ``select`` and
``resolve`` pick the shop every entry point works for; without a file nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from livekit.config import load_settings
from livekit.shops import (
    Shop,
    ShopError,
    current_shop,
    find_shops_file,
    load_shops,
    resolve,
    select,
    shops_of,
)

ROOT = Path(__file__).resolve().parents[1]
GOOD = """\
shops:
  - id: flagship
    name: 悦好生活旗舰店
    qianchuan: {advertiser_id: 1700000000000001}
    doudian: {shop_id: 12345678}
  - id: outlet
    qianchuan: {advertiser_id: "1700000000000002"}
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shops.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _one_line(tmp_path: Path, text: str) -> str:
    with pytest.raises(ShopError) as info:
        load_shops(_file(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def test_a_good_file_reads_every_shop(tmp_path: Path) -> None:
    shops = load_shops(_file(tmp_path, GOOD))
    assert shops == (
        Shop("flagship", "悦好生活旗舰店", 1700000000000001, 12345678),
        Shop("outlet", "outlet", 1700000000000002, None),  # no name: the id; a quoted number
    )
    assert shops[0].label == "悦好生活旗舰店（flagship）"
    assert shops[1].label == "outlet"


def test_the_shipped_example_is_a_valid_shops_file() -> None:
    shops = load_shops(ROOT / "params" / "shops.example.yaml")
    assert len(shops) >= 2
    assert len({s.id for s in shops}) == len(shops)
    # the project itself stays in one-shop mode
    assert not (ROOT / "params" / "shops.yaml").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a bad id
            "shops:\n  - id: Flag Ship\n    qianchuan: {advertiser_id: 1}\n",
            "第 1 个店铺 的 id “Flag Ship” 无效：应为 1–40 个小写字母、数字、- 或 _",
        ),
        (  # duplicate ids
            "shops:\n  - id: a\n    doudian: {shop_id: 1}\n  - id: a\n    doudian: {shop_id: 2}\n",
            "中 id “a” 出现了不止一次：每个店铺应各不相同",
        ),
        (  # the same advertiser twice
            "shops:\n  - id: a\n    qianchuan: {advertiser_id: 5}\n"
            "  - id: b\n    qianchuan: {advertiser_id: 5}\n",
            "中 qianchuan.advertiser_id “5” 出现了不止一次",
        ),
        (  # an unknown key
            "shops:\n  - id: a\n    doudian: {shop_id: 1}\n    token: x\n",
            "第 1 个店铺 有未知的键 token；可用的键：id、name、qianchuan、doudian",
        ),
        (  # neither platform
            "shops:\n  - id: a\n    name: 店\n",
            "第 1 个店铺（a） 至少要有 qianchuan.advertiser_id 或 doudian.shop_id 之一",
        ),
        (  # not a list
            "shops: {id: a}\n",
            " 应写成 “shops:” 下的店铺列表，每项含 id、name 等",
        ),
        (  # a list at the top, without "shops:"
            "- id: a\n  doudian: {shop_id: 1}\n",
            " 应写成 “shops:” 下的店铺列表",
        ),
        (  # YAML syntax
            "shops:\n  - id: a\n    doudian: {shop_id: 1\n",
            "YAML 格式错误",
        ),
        (  # a platform id that is not a positive number
            "shops:\n  - id: a\n    doudian: {shop_id: -3}\n",
            "第 1 个店铺（a） 的 doudian.shop_id 应为正整数",
        ),
    ],
    ids=[
        "bad-id",
        "duplicate-id",
        "duplicate-advertiser",
        "unknown-key",
        "no-platform",
        "not-a-list",
        "top-level-list",
        "yaml-syntax",
        "bad-platform-id",
    ],
)
def test_each_mistake_is_one_chinese_line(tmp_path: Path, text: str, expected: str) -> None:
    message = _one_line(tmp_path, text)
    assert expected in message
    assert str(tmp_path / "shops.yaml") in message  # it says which file


def test_a_yaml_error_names_the_line(tmp_path: Path) -> None:
    message = _one_line(tmp_path, "shops:\n  - id: a\n    doudian: {shop_id: 1\n")
    assert " 第 4 行" in message or " 第 3 行" in message


def test_a_missing_file_named_by_the_environment_is_one_line(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", shops_file=tmp_path / "nowhere.yaml")
    with pytest.raises(ShopError) as info:
        shops_of(settings)
    assert str(info.value) == (
        f"找不到店铺清单 {tmp_path / 'nowhere.yaml'}（环境变量 LIVEKIT_SHOPS_FILE）"
    )


def test_the_file_is_found_upward_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "params").mkdir(parents=True)
    (project / "params" / "shops.yaml").write_text(GOOD, encoding="utf-8")
    (project / "notebooks" / "deep").mkdir(parents=True)
    monkeypatch.chdir(project / "notebooks" / "deep")
    assert find_shops_file() == (project / "params" / "shops.yaml").resolve()
    # LIVEKIT_SHOPS_FILE wins over the project's
    other = _file(tmp_path, "shops:\n  - id: z\n    doudian: {shop_id: 9}\n")
    settings = load_settings(home=tmp_path / "home", shops_file=other)
    assert find_shops_file(settings) == other
    assert [s.id for s in shops_of(settings)] == ["z"]
    monkeypatch.chdir(tmp_path)
    assert find_shops_file() is None


def test_resolve_defaults() -> None:
    one = (Shop("a", "A", 1, None),)
    two = (*one, Shop("b", "B", None, 2))
    assert resolve((), None) is None  # no shops file: one shop, no shop level
    assert resolve(one, None) == one[0]  # the only shop
    assert resolve(two, "b") == two[1]
    with pytest.raises(ShopError, match=r"^店铺清单中有 2 个店铺，请指定其中一个：a、b（"):
        resolve(two, None)
    with pytest.raises(ShopError, match=r"^店铺清单中没有 “c”；可用的店铺：a、b$"):
        resolve(two, "c")
    with pytest.raises(ShopError, match=r"^没有店铺清单.*不能选择店铺 “a”$"):
        resolve((), "a")


def test_select_picks_the_settings_of_a_shop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no params/shops.yaml above
    monkeypatch.delenv("LIVEKIT_SHOP", raising=False)
    monkeypatch.delenv("LIVEKIT_SHOPS_FILE", raising=False)
    plain = load_settings(home=tmp_path / "home")
    assert select(plain) == plain  # one-shop mode: unchanged
    assert current_shop(plain) is None
    with pytest.raises(ShopError):
        select(plain, "flagship")

    many = plain.model_copy(update={"shops_file": _file(tmp_path, GOOD)})
    with pytest.raises(ShopError, match="请指定其中一个：flagship、outlet"):
        select(many)
    picked = select(many, "outlet")
    assert picked.shop == "outlet"
    assert current_shop(picked) == Shop("outlet", "outlet", 1700000000000002, None)
    assert select(picked) == picked  # the shop it already has
    monkeypatch.setenv("LIVEKIT_SHOP", "flagship")  # LIVEKIT_SHOP is settings.shop
    assert select(load_settings(home=tmp_path / "home", shops_file=many.shops_file)).shop == (
        "flagship"
    )
