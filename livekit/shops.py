"""The shops file: which shops an agency (服务商 / MCN) runs under one app per platform.

::

    # params/shops.yaml
    shops:
      - id: flagship                  # letters, digits, - and _: in paths and task names
        name: 悦好生活旗舰店            # shown in reports
        qianchuan: {advertiser_id: 1700000000000001}
        doudian: {shop_id: 12345678}
        credentials: agency2          # optional: this shop's apps are another set (below)

Without a shops file livekit runs one shop, as it always did: the store has no shop level and
the tokens are the single ``qianchuan`` / ``doudian`` entries. With one, every shop's data lives
under ``shop=<id>/`` of the store, a report reads one shop (``shop`` parameter; the default is
the only shop when the file lists one), and the sync runs per shop (``livekit sync --shop``).

The file is ``LIVEKIT_SHOPS_FILE`` when set, else ``params/shops.yaml`` in the current folder
or the nearest parent that has one (the project's, as the report runner finds notebooks/).

``credentials`` names another set of app credentials for a shop whose 巨量千川 or 抖店 app is not
the default one (an agency with a second app): ``LIVEKIT_<NAME>_QIANCHUAN_APP_ID``,
``LIVEKIT_<NAME>_QIANCHUAN_SECRET``, ``LIVEKIT_<NAME>_DOUDIAN_APP_KEY`` and
``LIVEKIT_<NAME>_DOUDIAN_APP_SECRET`` (environment or ``.env``; ``<NAME>`` upper-cased). Each
app has its own rate ceiling and its own token set (``tokens-<name>.json``, or its own Redis
hash), so nothing of two apps ever mixes.

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
CREDENTIALS = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
_KEYS = frozenset({"id", "name", "qianchuan", "doudian", "credentials"})
# what a credentials set ``<NAME>`` holds: the Settings field → the variable after LIVEKIT_<NAME>_
CREDENTIAL_FIELDS = {
    "qianchuan": (
        ("qianchuan_app_id", "QIANCHUAN_APP_ID"),
        ("qianchuan_secret", "QIANCHUAN_SECRET"),
    ),
    "doudian": (
        ("doudian_app_key", "DOUDIAN_APP_KEY"),
        ("doudian_app_secret", "DOUDIAN_APP_SECRET"),
    ),
}


class ShopError(LivekitError):
    """The shops file is unreadable or wrong, or a shop id is unknown; one Chinese line."""


@dataclass(frozen=True)
class Shop:
    """One shop: its id (paths, task names), its name, its 千川 advertiser and its 抖店 shop."""

    id: str
    name: str
    advertiser_id: int | None = None  # 巨量千川 advertiser (None: no 千川 data for this shop)
    doudian_shop_id: int | None = None  # 抖店 shop (None: no orders for this shop)
    credentials: str | None = None  # another set of app credentials (None: the default apps)

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platforms this shop has: ``qianchuan``, ``doudian`` or both."""
        return tuple(
            p
            for p, v in (("qianchuan", self.advertiser_id), ("doudian", self.doudian_shop_id))
            if v is not None
        )

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

    from livekit._yaml import NoAliasSafeLoader, syntax_error

    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ShopError(f"找不到店铺清单 {shown}（环境变量 LIVEKIT_SHOPS_FILE）") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ShopError(f"无法读取店铺清单 {shown}：{exc}") from None
    try:
        data = yaml.load(text, Loader=NoAliasSafeLoader)
    except yaml.YAMLError as exc:
        raise ShopError(syntax_error(exc, shown)) from None
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
            "可用的键：id、name、qianchuan、doudian、credentials"
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
    credentials = entry.get("credentials")
    if credentials is not None and (
        not isinstance(credentials, str) or not CREDENTIALS.fullmatch(credentials)
    ):
        shown = printable(str(credentials))[:40]
        raise ShopError(
            f"{where} 的 credentials “{shown}” 无效：应为 1–30 个小写字母、数字或 _，以字母开头"
            "（对应环境变量 LIVEKIT_<名称>_QIANCHUAN_APP_ID 等）"
        )
    return Shop(shop_id, name.strip(), advertiser, doudian, credentials)


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
    if shop is None:
        return settings.for_shop(None)
    chosen = settings.for_shop(shop.id)
    if shop.credentials is None and settings.credentials is None:
        return chosen
    return with_credentials(chosen, shop.credentials, shop.platforms, shop=shop)


def credential_variables(name: str) -> dict[str, str]:
    """The environment variables of credentials set ``name``: Settings field → variable."""
    prefix = f"LIVEKIT_{name.upper()}_"
    return {f: prefix + v for pairs in CREDENTIAL_FIELDS.values() for f, v in pairs}


def with_credentials(
    settings: Settings,
    name: str | None,
    platforms: tuple[str, ...] = ("qianchuan", "doudian"),
    *,
    shop: Shop | None = None,
) -> Settings:
    """``settings`` using credentials set ``name`` (None: the default apps of ``LIVEKIT_*``).

    The set's app id/key and secret of each of ``platforms`` must be set (environment, or the
    ``.env`` that load_settings reads): else one ShopError line naming the variables. A
    platform of the set left unset is cleared, so it can never borrow the default app's.
    """
    import os

    from pydantic import SecretStr

    if name is None:
        if settings.credentials is None:
            return settings
        from livekit.config import load_settings

        base = load_settings(home=settings.home)  # the default apps again
        update: dict[str, object] = {
            f: getattr(base, f) for pairs in CREDENTIAL_FIELDS.values() for f, _ in pairs
        }
        return settings.model_copy(update={**update, "credentials": None})
    import dotenv

    found = dotenv.find_dotenv(usecwd=True)
    env: dict[str, str | None] = {**(dotenv.dotenv_values(found) if found else {}), **os.environ}
    names = credential_variables(name)
    update = {"credentials": name}
    missing: list[str] = []
    for platform, pairs in CREDENTIAL_FIELDS.items():
        values = {f: (env.get(names[f]) or "").strip() for f, _ in pairs}
        if not all(values.values()):
            if platform in platforms:
                missing += [names[f] for f, v in values.items() if not v]
            update.update({f: None for f in values})
            continue
        for field, value in values.items():
            if field == "qianchuan_app_id":
                if not value.isdigit():
                    raise ShopError(f"环境变量 {names[field]} 应为整数（巨量千川 app_id）")
                update[field] = int(value)
            elif field.endswith("secret"):
                update[field] = SecretStr(value)
            else:
                update[field] = value
    if missing:
        whose = f"店铺 {shop.label} 使用的" if shop is not None else ""
        raise ShopError(f"{whose}凭据 {name}：缺少环境变量 {'、'.join(missing)}（可写在 .env 中）")
    return settings.model_copy(update=update)


def _listed(shops: tuple[Shop, ...], limit: int = 20) -> str:
    ids = [s.id for s in shops[:limit]]
    more = f" 等 {len(shops)} 个" if len(shops) > limit else ""
    return "、".join(ids) + more
