"""Shared machinery of the sandbox server: state, request counting, rate limits, faults."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

from livekit.sandbox.clock import Clock
from livekit.sandbox.config import Faults, SandboxConfig
from livekit.sandbox.oauth import TokenStore
from livekit.sandbox.shopset import ShopInfo, shop_infos
from livekit.sandbox.world import CHINA_TZ, World, stable_hash


class ParamError(Exception):
    """A request the real service would reject; carries the platform's code."""

    def __init__(self, message: str, code: int | None = None, sub_code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.sub_code = sub_code


def dumps(obj: Any) -> bytes:
    # Python's json keeps big ints exact (no float round trip), like the real services.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class RateLimiter:
    """Sliding one-second windows, in real (not virtual) time, one per key (an app, or an app
    and one endpoint)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def allow(self, app: str, qps: float | None) -> bool:
        return self.allow_all([(app, qps)])

    def allow_all(self, limits: Iterable[tuple[str, float | None]]) -> bool:
        """Admit a request only if every ``(key, qps)`` window has room; then count it in all.

        A request refused by one window (say its endpoint's) is counted in none, so a per-app
        window only ever holds requests the server actually answered.
        """
        now = time.monotonic()
        with self._lock:
            windows = []
            for key, qps in limits:
                if qps is None:
                    continue
                q = self._hits.setdefault(key, deque())
                while q and now - q[0] >= 1.0:
                    q.popleft()
                if len(q) >= qps:
                    return False
                windows.append(q)
            for q in windows:
                q.append(now)
            return True


@dataclass
class Stats:
    """Every request counted by endpoint and outcome, for tests and benchmarks."""

    requests: Counter[str]
    outcomes: Counter[str]
    faults: Counter[str]
    rate_limited: Counter[str]
    shop_requests: Counter[str]  # data requests routed to each shop (s1, s2, …)

    @classmethod
    def empty(cls) -> Stats:
        return cls(Counter(), Counter(), Counter(), Counter(), Counter())


class Sandbox:
    """One running sandbox: its shops' worlds, the clock, tokens, faults and counters.

    Shop s1's world (``world``) is built at once; the others when first used (``world_of``):
    a world costs ~30 ms and ~3.6 MB at scale 1 before it simulates anything (measured), and
    a load test may ask for a hundred shops of which a request touches a few.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        today = config.today or datetime.now(CHINA_TZ).date()
        self._today = today
        self.shops: tuple[ShopInfo, ...] = shop_infos(
            config.seed, config.shops, config.hostile_text
        )
        self._by_advertiser = {s.advertiser_id: s for s in self.shops}
        self._by_doudian = {s.shop_id: s for s in self.shops}
        self._by_key = {s.id: s for s in self.shops}
        self._worlds: list[World | None] = [None] * len(self.shops)
        self._worlds_lock = threading.Lock()
        self.world_of(0)
        start = config.now
        if start is None:
            real = datetime.now(CHINA_TZ)
            start = datetime.combine(today, real.time(), CHINA_TZ)
        self.clock = Clock(start, config.speed)
        self.tokens = TokenStore(config.lifetimes)
        self.faults: Faults = config.faults
        self._fault_rng = random.Random(config.faults.seed)
        self.limiter = RateLimiter()
        self.stats = Stats.empty()
        self._lock = threading.Lock()
        self._request_counter: Counter[str] = Counter()

    # ---- shops ------------------------------------------------------------------------
    @property
    def world(self) -> World:
        """Shop s1's world: the whole sandbox when it serves one shop."""
        w = self._worlds[0]
        assert w is not None
        return w

    def world_of(self, index: int) -> World:
        """The world of shop ``index`` (0-based), built on first use (once, thread-safe)."""
        w = self._worlds[index]
        if w is not None:
            return w
        with self._worlds_lock:
            w = self._worlds[index]
            if w is None:
                cfg, info = self.config, self.shops[index]
                w = World(
                    info.seed,
                    self._today,
                    cfg.history_days,
                    cfg.scale,
                    cfg.extra_accounts,
                    hostile_text=cfg.hostile_text,
                    shop_number=index + 1,
                )
                self._worlds[index] = w
            return w

    @property
    def worlds_built(self) -> int:
        """How many shops' worlds exist yet (the others are built when first asked for)."""
        return sum(w is not None for w in self._worlds)

    def shop_by_key(self, key: str) -> ShopInfo | None:
        """The shop of sandbox id ``key`` (``s1`` …)."""
        return self._by_key.get(key)

    def shop_by_advertiser(self, advertiser_id: int) -> ShopInfo | None:
        return self._by_advertiser.get(advertiser_id)

    def shop_by_doudian_id(self, shop_id: int) -> ShopInfo | None:
        return self._by_doudian.get(shop_id)

    @property
    def advertiser_ids(self) -> tuple[int, ...]:
        """Every shop's advertiser, in shop order (what an agency account may authorize)."""
        return tuple(s.advertiser_id for s in self.shops)

    # ---- time -------------------------------------------------------------------------
    def now_ts(self) -> float:
        return self.clock.timestamp()

    def today(self) -> date:
        return self.clock.now().date()

    # ---- ids --------------------------------------------------------------------------
    def request_id(self, path: str, payload: str) -> str:
        """Deterministic under a frozen clock: same requests in the same order, same ids."""
        key = f"{path}?{payload}"
        with self._lock:
            self._request_counter[key] += 1
            n = self._request_counter[key]
        stamp = self.clock.now().strftime("%Y%m%d%H%M%S")
        return stamp + stable_hash(self.config.seed, key, n, length=18).upper()

    # ---- faults -----------------------------------------------------------------------
    def set_faults(self, **changes: Any) -> Faults:
        with self._lock:
            if "seed" in changes:
                self._fault_rng = random.Random(changes["seed"])
            self.faults = replace(self.faults, **changes)
            return self.faults

    def pick_fault(self) -> str | None:
        f = self.faults
        if f.rate <= 0 or not f.kinds:
            return None
        with self._lock:
            if self._fault_rng.random() >= f.rate:
                return None
            kind = self._fault_rng.choice(f.kinds)
        self.stats.faults[kind] += 1
        return kind

    def allow_request(self, platform: str, app: str, path: str) -> bool:
        """The real rate limit: per app and platform, and per endpoint where one is set."""
        f = self.faults
        own = f.qianchuan_qps if platform == "qianchuan" else f.doudian_qps
        limits = [x for x in (f.qps, own) if x is not None]
        key = f"{platform}:{app}"
        checks: list[tuple[str, float | None]] = [(key, min(limits) if limits else None)]
        if path in f.endpoint_qps:
            checks.append((f"{key}:{path}", f.endpoint_qps[path]))
        return self.limiter.allow_all(checks)

    def stats_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.stats.requests),
            "total_requests": sum(self.stats.requests.values()),
            "outcomes": dict(self.stats.outcomes),
            "faults_injected": dict(self.stats.faults),
            "rate_limited": dict(self.stats.rate_limited),
            "dead_refresh_token_uses": dict(self.tokens.dead_refresh_uses),
            "refreshes": dict(self.tokens.refreshes),
            "faults": asdict(self.faults),
            # several shops only: the answer of a one-shop sandbox stays as it always was
            **({"shop_requests": dict(self.stats.shop_requests)} if len(self.shops) > 1 else {}),
        }

    def reset_stats(self) -> None:
        self.stats = Stats.empty()
