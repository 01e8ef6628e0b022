"""The shops file: which shops an agency (服务商 / MCN) runs under one app per platform.

::

    # params/shops.yaml
    shops:
      - id: flagship                  # letters, digits, - and _: in paths and task names
        name: 悦好生活旗舰店            # shown in reports
        qianchuan: {advertiser_id: 1700000000000001}
        doudian: {shop_id: 12345678}

Without a shops file livekit runs one shop, as it always did: the store has no shop level and
the tokens are the single ``qianchuan`` / ``doudian`` entries. With one, every shop's data lives
under ``shop=<id>/`` of the store, a report reads one shop (``shop`` parameter; the default is
the only shop when the file lists one), and the sync runs per shop (``livekit sync --shop``).

The file is ``LIVEKIT_SHOPS_FILE`` when set, else ``params/shops.yaml`` in the current folder
or the nearest parent that has one (the project's, as the report runner finds notebooks/).

This module sits at the config floor: it imports nothing from livekit but config, _yaml and vocab.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livekit.vocab.errors import LivekitError

if TYPE_CHECKING:
    from livekit.config import Settings

SHOPS_FILE = Path("params") / "shops.yaml"
SHOP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_KEYS = frozenset({"id", "name", "qianchuan", "doudian"})


class ShopError(LivekitError):
    """The shops file is unreadable or wrong, or a shop id is unknown; one Chinese line."""


@dataclass(frozen=True)
class Shop:
    """One shop: its id (paths, task names), its name, its 千川 advertiser and its 抖店 shop."""

    id: str
    name: str
    advertiser_id: int | None = None  # 巨量千川 advertiser (None: no 千川 data for this shop)
    doudian_shop_id: int | None = None  # 抖店 shop (None: no orders for this shop)

    @property
    def label(self) -> str:
        """How messages name it: ``悦好生活旗舰店（flagship）``."""
        return f"{self.name}（{self.id}）" if self.name and self.name != self.id else self.id


def find_shops_file(settings: Settings | None = None, start: Path | None = None) -> Path | None:
    """``LIVEKIT_SHOPS_FILE``, else the nearest ``params/shops.yaml`` at or above ``start``."""
    if settings is not None and settings.shops_file is not None:
        return settings.shops_file
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / SHOPS_FILE
        if candidate.is_file():
            return candidate
    return None


def load_shops(path: Path) -> tuple[Shop, ...]:
    """Every shop of the file at ``path``, checked; one ShopError line on any mistake."""
    import yaml

    from livekit._yaml import NoAliasSafeLoader

    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ShopError(f"找不到店铺清单 {shown}（环境变量 LIVEKIT_SHOPS_FILE）") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ShopError(f"无法读取店铺清单 {shown}：{exc}") from None
    try:
        data = yaml.load(text, Loader=NoAliasSafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" 第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else ""
        problem = " ".join((exc.problem or exc.context or "无法解析").split())
        raise ShopError(f"{shown}{at}：YAML 格式错误（{problem}）") from None
    except yaml.YAMLError as exc:
        raise ShopError(f"{shown}：YAML 格式错误（{' '.join(str(exc).split())}）") from None
    if not isinstance(data, dict) or not isinstance(data.get("shops"), list) or not data["shops"]:
        raise ShopError(f"{shown} 应写成 “shops:” 下的店铺列表，每项含 id、name 等")
    shops: list[Shop] = []
    for i, entry in enumerate(data["shops"], start=1):
        shops.append(_shop(entry, f"{shown} 第 {i} 个店铺"))
    _check_unique(shops, shown)
    return tuple(shops)


def _shop(entry: Any, where: str) -> Shop:
    from livekit._yaml import printable

    if not isinstance(entry, dict):
        raise ShopError(f"{where} 应为映射（id、name、qianchuan、doudian）")
    unknown = sorted(str(k) for k in entry if k not in _KEYS)
    if unknown:
        raise ShopError(
            f"{where} 有未知的键 {'、'.join(printable(k)[:40] for k in unknown)}；"
            "可用的键：id、name、qianchuan、doudian"
        )
    shop_id = entry.get("id")
    if not isinstance(shop_id, str) or not SHOP_ID.fullmatch(shop_id):
        shown = printable(str(shop_id))[:40]
        raise ShopError(
            f"{where} 的 id “{shown}” 无效：应为 1–40 个小写字母、数字、- 或 _，以字母或数字开头"
        )
    where = f"{where}（{shop_id}）"
    name = entry.get("name", shop_id)
    if not isinstance(name, str) or not name.strip():
        raise ShopError(f"{where} 的 name 应为非空文本")
    advertiser = _id_in(entry, "qianchuan", "advertiser_id", where)
    doudian = _id_in(entry, "doudian", "shop_id", where)
    if advertiser is None and doudian is None:
        raise ShopError(f"{where} 至少要有 qianchuan.advertiser_id 或 doudian.shop_id 之一")
    return Shop(shop_id, name.strip(), advertiser, doudian)


def _id_in(entry: dict[str, Any], platform: str, key: str, where: str) -> int | None:
    block = entry.get(platform)
    if block is None:
        return None
    if not isinstance(block, dict) or set(block) - {key}:
        raise ShopError(f"{where} 的 {platform} 应写成 {{{key}: 数字}}")
    value = block.get(key)
    # a bool is an int to Python; a quoted number is accepted (ids this long are often quoted)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ShopError(f"{where} 的 {platform}.{key} 应为正整数")
    return value


def _check_unique(shops: list[Shop], shown: str) -> None:
    for attr, what in (
        ("id", "id"),
        ("advertiser_id", "qianchuan.advertiser_id"),
        ("doudian_shop_id", "doudian.shop_id"),
    ):
        seen: set[object] = set()
        for shop in shops:
            value = getattr(shop, attr)
            if value is None:
                continue
            if value in seen:
                raise ShopError(f"{shown} 中 {what} “{value}” 出现了不止一次：每个店铺应各不相同")
            seen.add(value)


def shops_of(settings: Settings) -> tuple[Shop, ...]:
    """The shops of the shops file ``settings`` find; ``()`` when there is none (one shop)."""
    path = find_shops_file(settings)
    return load_shops(path) if path is not None else ()


def resolve(shops: tuple[Shop, ...], shop_id: str | None) -> Shop | None:
    """The shop ``shop_id`` names; with ``None``, the only shop (or None without a shops file).

    Several shops and no id, or an unknown id: one ShopError line listing the ids.
    """
    if not shops:
        if shop_id is not None:
            raise ShopError(
                f"没有店铺清单（params/shops.yaml 或环境变量 LIVEKIT_SHOPS_FILE），"
                f"不能选择店铺 “{str(shop_id)[:40]}”"
            )
        return None
    if shop_id is None:
        if len(shops) == 1:
            return shops[0]
        raise ShopError(
            f"店铺清单中有 {len(shops)} 个店铺，请指定其中一个："
            f"{_listed(shops)}（参数 shop 或命令行 --shop）"
        )
    for shop in shops:
        if shop.id == shop_id:
            return shop
    raise ShopError(f"店铺清单中没有 “{str(shop_id)[:40]}”；可用的店铺：{_listed(shops)}")


def current_shop(settings: Settings) -> Shop | None:
    """The shop ``settings`` are for (``settings.shop`` resolved in the shops file)."""
    return resolve(shops_of(settings), settings.shop)


def select(settings: Settings, shop_id: str | None = None) -> Settings:
    """``settings`` for shop ``shop_id`` (None: ``settings.shop``, else the only shop).

    The one way entry points (the CLI's ``--shop``, ``livekit.open(shop=)``, a report's
    ``shop`` parameter, an Airflow task) pick a shop: without a shops file and without an id
    the settings come back unchanged (one shop, no shop level in the store).
    """
    shop = resolve(shops_of(settings), shop_id if shop_id is not None else settings.shop)
    return settings.for_shop(shop.id if shop is not None else None)


def _listed(shops: tuple[Shop, ...], limit: int = 20) -> str:
    ids = [s.id for s in shops[:limit]]
    more = f" 等 {len(shops)} 个" if len(shops) > limit else ""
    return "、".join(ids) + more
