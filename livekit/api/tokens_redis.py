"""The token set in Redis, shared by every worker of a deployment (``LIVEKIT_REDIS_URL``).

Used instead of ``tokens.json`` when ``LIVEKIT_REDIS_URL`` is set (see :mod:`livekit.api.auth`);
``redis`` is imported when a :class:`RedisTokens` is made, never by ``import livekit``.

Layout (one hash per app and upstream, so two apps, or two sandboxes, never mix):

* ``livekit:tokens:qianchuan:<app id>:<base URL>`` and
  ``livekit:tokens:doudian:<app key>:<base URL>``: field = entry key (``qianchuan``,
  ``qianchuan:<advertiser id>``, ``doudian:<shop id>`` …), value = the entry's JSON, as in
  ``tokens.json``. The base URL is part of the name because tokens belong to the service that
  issued them: an in-process sandbox (a new port, new tokens, the same demo app) must never
  overwrite the tokens of another. A hash expires a day after the last refresh token in it
  would (every write pushes that further), so a forgotten sandbox's tokens go away by
  themselves.
* ``livekit:token-lock:<platform>:<app>:<base URL>:<entry>``: the entry's refresh lock (a
  ``redis.asyncio`` lock: a random token per holder, released only by its holder).

A refresh (:class:`livekit.api.auth.TokenManager`): take the entry's lock (it expires after
:attr:`RedisTokens.lock_ttl`, longer than one HTTP timeout, so a crashed worker's lock frees
itself; while the refresh runs a keep-alive renews it), re-read the entry, refresh only if
nobody did, then write with :data:`CAS_LUA`: only if the stored refresh token is still the one
spent. If the lock was lost anyway (a worker paused longer than the TTL), the compare-and-set
keeps a second writer from overwriting the first one's pair, and the ``LockNotOwnedError`` at
release is logged, not raised: the write itself was safe.

Every token read or written here is registered with :func:`livekit.credentials.register_value`,
so this process's logs mask it; the report scrub reads the hashes itself
(:func:`livekit.credentials.tokens_in_redis`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from livekit.api.auth import Tokens, platform_of, tokens_from_json, tokens_to_json
from livekit.api.errors import Platform, ReauthorizeRequired, TokenLockTimeout
from livekit.config import ConfigError, Settings
from livekit.credentials import REDIS_TOKENS_PREFIX, register_value

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("livekit.api")

LOCK_PREFIX = "livekit:token-lock:"
KEEP_AFTER_REFRESH_EXPIRY = 86400.0  # seconds a hash outlives its last refresh token

# KEYS[1]: the app's hash. ARGV[1]: entry; ARGV[2]: the refresh token spent; ARGV[3]: the new
# entry's JSON; ARGV[4]: ms the hash must live at least. Returns 1 if written, 0 if the stored
# entry is gone or holds another refresh token (someone else wrote meanwhile).
CAS_LUA = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return 0 end
local ok, entry = pcall(cjson.decode, stored)
if not ok or type(entry) ~= 'table' or entry['refresh_token'] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""

# KEYS[1]: the app's hash. ARGV[1]: entry; ARGV[2]: its JSON; ARGV[3]: ms to live at least.
PUT_LUA = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""


def _unreachable(exc: Exception) -> ConfigError:
    return ConfigError(
        f"无法使用 LIVEKIT_REDIS_URL 指向的 Redis 读写授权令牌（{type(exc).__name__}）："
        "请检查地址、密码和网络"
    )


class RedisTokens:
    """The token set in Redis (a :class:`livekit.api.auth.TokenStore`); see the module doc.

    ``redis``: a client to share (the :class:`~livekit.api.client.Client`'s rate-limit pool),
    left open by :meth:`aclose`; without it one is made from ``settings.redis_url`` and closed.
    """

    where = "Redis 中"

    def __init__(self, settings: Settings, *, redis: Redis | None = None) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise ConfigError(
                "设置了 LIVEKIT_REDIS_URL，但没有安装 redis 包：请安装 douyin-livekit[redis]"
            ) from None

        self._settings = settings
        self._owned = redis is None
        if redis is None:
            if settings.redis_url is None:
                raise ConfigError("缺少 LIVEKIT_REDIS_URL：令牌存放在 Redis 时必须设置")
            redis = aioredis.from_url(settings.redis_url.get_secret_value())
        self.redis: Redis = redis
        self._cas = self.redis.register_script(CAS_LUA)
        self._put = self.redis.register_script(PUT_LUA)
        # A lock outlives one refresh call (an HTTP timeout, twice, plus slack); the keep-alive
        # renews it while a slow refresh (retries) runs, so only a dead worker's lock expires.
        self.lock_ttl = max(10.0, 2 * settings.http_timeout + 5.0)

    def __repr__(self) -> str:
        return "RedisTokens(redis)"  # never the URL: it may carry a password

    # ---- names ---------------------------------------------------------------------------
    def _app(self, platform: Platform) -> str:
        if platform == "qianchuan":
            app_id, _ = self._settings.require_qianchuan()
            return f"qianchuan:{app_id}:{self._settings.qianchuan_base_url}"
        app_key, _ = self._settings.require_doudian()
        return f"doudian:{app_key}:{self._settings.doudian_base_url}"

    def hash_name(self, platform: Platform) -> str:
        """The Redis hash holding the platform's entries for this app and service."""
        return REDIS_TOKENS_PREFIX + self._app(platform)

    def lock_name(self, key: str) -> str:
        return f"{LOCK_PREFIX}{self._app(platform_of(key))}:{key}"

    def _configured(self) -> list[Platform]:
        out: list[Platform] = []
        if self._settings.qianchuan_app_id is not None:
            out.append("qianchuan")
        if self._settings.doudian_app_key is not None:
            out.append("doudian")
        return out

    # ---- reading ---------------------------------------------------------------------------
    def _parse(self, key: str, raw: bytes | str) -> Tokens:
        try:
            tokens = tokens_from_json(key, json.loads(raw))
        except (ValueError, KeyError, TypeError):
            raise ReauthorizeRequired(
                platform_of(key), "", 0, f"Redis 中的令牌条目 {key} 已损坏"
            ) from None
        register_value(tokens.access_token, tokens.refresh_token)
        return tokens

    async def get(self, key: str, *, fresh: bool = False) -> Tokens | None:
        """The entry (always read from Redis: one HGET, cheaper than being out of date)."""
        from redis.exceptions import RedisError

        try:
            raw = await self.redis.hget(self.hash_name(platform_of(key)), key)
        except RedisError as exc:
            raise _unreachable(exc) from None
        return None if raw is None else self._parse(key, raw)

    async def entries(self) -> dict[str, Tokens]:
        from redis.exceptions import RedisError

        out: dict[str, Tokens] = {}
        for platform in self._configured():
            try:
                stored = await self.redis.hgetall(self.hash_name(platform))
            except RedisError as exc:
                raise _unreachable(exc) from None
            for field, raw in stored.items():
                key = field.decode() if isinstance(field, bytes) else str(field)
                try:
                    if platform_of(key) == platform:
                        out[key] = self._parse(key, raw)
                except (ValueError, ReauthorizeRequired):
                    continue  # a damaged entry is not a usable grant
        return out

    # ---- writing ---------------------------------------------------------------------------
    def _ttl_ms(self, tokens: Tokens) -> int:
        left = tokens.refresh_expires_at - time.time() + KEEP_AFTER_REFRESH_EXPIRY
        return max(int(left * 1000), 60_000)

    async def put(self, key: str, tokens: Tokens) -> None:
        from redis.exceptions import RedisError

        register_value(tokens.access_token, tokens.refresh_token)
        body = json.dumps(tokens_to_json(tokens), ensure_ascii=False)
        try:
            await self._put(
                keys=[self.hash_name(platform_of(key))], args=[key, body, self._ttl_ms(tokens)]
            )
        except RedisError as exc:
            raise _unreachable(exc) from None

    async def replace(self, key: str, spent: Tokens, new: Tokens) -> bool:
        """Compare-and-set (:data:`CAS_LUA`): True if ``new`` was written."""
        from redis.exceptions import RedisError

        register_value(new.access_token, new.refresh_token)
        body = json.dumps(tokens_to_json(new), ensure_ascii=False)
        try:
            written = await self._cas(
                keys=[self.hash_name(platform_of(key))],
                args=[key, spent.refresh_token, body, self._ttl_ms(new)],
            )
        except RedisError as exc:
            raise _unreachable(exc) from None
        return bool(written)

    # ---- the entry's lock ------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def hold(self, key: str, timeout: float) -> AsyncIterator[None]:
        """The entry's lock; waiting longer than ``timeout`` → TokenLockTimeout.

        Held at most :attr:`lock_ttl` unless renewed; a keep-alive renews it every third of
        that while the body runs. A lock lost anyway (``LockNotOwnedError`` at release) is
        logged: the compare-and-set write already kept the stored entry consistent.
        """
        from redis.exceptions import LockError, LockNotOwnedError, RedisError

        lock = self.redis.lock(
            self.lock_name(key),
            timeout=self.lock_ttl,
            sleep=0.01,
            blocking_timeout=timeout,
            thread_local=False,
        )
        try:
            acquired = await lock.acquire()
        except RedisError as exc:
            raise _unreachable(exc) from None
        if not acquired:
            raise TokenLockTimeout(
                f"等待 Redis 中令牌条目 {key} 的锁超时（{timeout:.0f} 秒）："
                "另一个 worker 长时间占用，请稍后再试"
            )
        started = time.monotonic()
        keeper = asyncio.create_task(self._keep(lock))
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            held = time.monotonic() - started
            try:
                await lock.release()
            except LockNotOwnedError:
                logger.warning(
                    "the Redis lock of %s ran out after %.1f s before it was released", key, held
                )
            except (LockError, RedisError):
                logger.warning("could not release the Redis lock of %s; it expires by itself", key)
            logger.debug("Redis token lock of %s held %.1f ms", key, held * 1000)

    async def _keep(self, lock: Any) -> None:
        """Renew ``lock`` to its full TTL every third of it while the refresh runs."""
        from redis.exceptions import LockError, RedisError

        while True:
            await asyncio.sleep(self.lock_ttl / 3)
            try:
                await lock.reacquire()
            except (LockError, RedisError):
                return

    async def aclose(self) -> None:
        if self._owned:
            await self.redis.aclose()
