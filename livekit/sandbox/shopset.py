"""The shops of one sandbox (``SandboxConfig.shops``): ids, seeds, names, advertisers.

A sandbox serves ``N`` shops, ``s1`` … ``sN``, each its own ``World`` behind the same two apps
(one 巨量千川 app, one 抖店 app: one rate limit over all of them). Shop ``s1`` (index 0) is the
world of the sandbox's own seed, exactly the one-shop sandbox. Shop index ``k >= 1`` has the
seed ``shop_seed(seed, k)``:

    blake2b-64 of the text "livekit-sandbox-shop|<seed>|<k>", as an unsigned big-endian
    integer, modulo 2**31

(so its random streams, ids and truths are unrelated to every other shop's, and the same for
the same ``(seed, k)`` on every machine), and its shop and advertiser names carry its number
(``悦好生活官方旗舰店·2号店``, ``world.shop_names``).

Everything here is computed without building a world (``world_ids`` draws just the ids), so
listing 100 shops or writing their shops file costs nothing; the worlds themselves are built
when first used (``core.Sandbox.world_of``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SEED_SPACE = 2**31


def shop_seed(seed: int, index: int) -> int:
    """The world seed of shop ``index`` (0-based) of a sandbox of seed ``seed``."""
    if index == 0:
        return seed
    digest = hashlib.blake2b(f"livekit-sandbox-shop|{seed}|{index}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") % SEED_SPACE


def shop_key(index: int) -> str:
    """The sandbox's id of shop ``index`` (0-based): ``s1``, ``s2``, …"""
    return f"s{index + 1}"


@dataclass(frozen=True)
class ShopInfo:
    """One shop of the sandbox, as ``/sandbox/shops`` and the shops file list it."""

    index: int  # 0-based
    id: str  # s1, s2, …
    seed: int  # its world's seed
    name: str  # the 抖店 shop name (world.shop_name)
    advertiser_name: str  # the 千川 advertiser's name (world.advertiser_name)
    advertiser_id: int
    shop_id: int  # the 抖店 shop id

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "advertiser_id": self.advertiser_id,
            "shop_id": self.shop_id,
        }


def shop_infos(seed: int, shops: int = 1, hostile_text: bool = False) -> tuple[ShopInfo, ...]:
    """The ``shops`` shops of a sandbox of seed ``seed``, in order (s1 first)."""
    from livekit.sandbox.world import shop_names, world_ids

    out = []
    for k in range(shops):
        s = shop_seed(seed, k)
        advertiser_id, shop_id = world_ids(s)
        name, advertiser_name = shop_names(k + 1, hostile_text)
        out.append(ShopInfo(k, shop_key(k), s, name, advertiser_name, advertiser_id, shop_id))
    # Ids are drawn from 8 * 10**14 and 8 * 10**7 values: two shops of one sandbox sharing one
    # is very unlikely, but routing by id would then be ambiguous, so refuse rather than guess.
    for attr in ("advertiser_id", "shop_id"):
        values = [getattr(i, attr) for i in out]
        if len(set(values)) != len(values):
            raise ValueError(f"seed {seed} gives two of its {shops} shops the same {attr}")
    return tuple(out)


def shops_yaml(infos: tuple[ShopInfo, ...], seed: int) -> str:
    """A shops file (``livekit.shops.load_shops``) listing the sandbox's shops."""
    import yaml

    header = (
        f"# 离线沙盒的店铺清单（livekit sandbox shops 生成）：种子 {seed}，共 {len(infos)} 个店铺。\n"
        f"# 与 livekit sandbox serve --shops {len(infos)} --seed {seed} 启动的沙盒一致；"
        "id 为 s1…sN，千川广告主与抖店店铺都是沙盒里的。\n"
    )
    entries = [
        {
            "id": i.id,
            "name": i.name,
            "qianchuan": {"advertiser_id": i.advertiser_id},
            "doudian": {"shop_id": i.shop_id},
        }
        for i in infos
    ]
    body = yaml.safe_dump(
        {"shops": entries}, allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    return header + body
