"""OAuth tokens of both platforms: the token set, refresh serialized across processes, login.

Refresh must be serialized across tasks, threads, processes and machines: a 巨量千川 refresh
returns a new pair and the old refresh token dies at once, so two concurrent refreshes lock the
user out (protocols.md §1). :class:`TokenManager` takes an in-process ``asyncio.Lock`` first,
then the token set's own lock for the entry, re-reads the entry, refreshes only if nobody else
already did, and writes the new pair only if the stored refresh token is still the one it spent.

**Where the token set lives** (a :class:`TokenStore`):

- by default ``<LIVEKIT_HOME>/tokens.json`` (:class:`TokenFile`: mode 0600, atomic writes, a
  file lock next to it), shared by the processes of one machine;
- with ``LIVEKIT_REDIS_URL`` set, in that Redis (:mod:`livekit.api.tokens_redis`), shared by every
  worker of a deployment: ``livekit auth login`` writes there, every worker reads and refreshes
  there (a Redis lock per entry and a compare-and-set write), and the token file is **not used at
  all** (not read, not written). Log in once, from any machine with the same settings, and every
  worker is authorized. The Redis must keep its data across restarts (RDB or AOF) or a restart
  means logging in again; it holds credentials, so protect it like them (password, TLS,
  ``rediss://``, no public port).

**Entries of the token set.** One shop (no shops file, :mod:`livekit.shops`): ``qianchuan`` and
``doudian``, exactly as before. With a shops file (an agency: one app authorized by many
advertisers and shops) every grant is its own entry: ``qianchuan:<first advertiser id of the
grant>`` and ``doudian:<抖店 shop id>``. A :class:`~livekit.api.client.Client` for a shop
(``settings.shop``) uses the 巨量千川 entry whose advertisers include the shop's advertiser and
the 抖店 entry of the shop's 抖店 shop; without a shop, the plain entries (or, when a platform
has no plain entry but exactly one other, that one: a sandbox session in an agency's project).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import secrets
import threading
import time
import webbrowser
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload
from urllib.parse import parse_qs, urlencode, urlsplit

import filelock
import httpx

from livekit._files import write_bytes_atomic
from livekit.api import doudian as doudian_api
from livekit.api import qianchuan as qianchuan_api
from livekit.api.errors import (
    PLATFORM_NAMES,
    LivekitError,
    LoginError,
    Platform,
    ReauthorizeRequired,
    TokenLockTimeout,
    UpstreamError,
)
from livekit.api.http import install_log_redaction, make_timeout
from livekit.api.runner import run
from livekit.config import Settings
from livekit.shops import Shop, ShopError, shops_of
from livekit.vocab.tz import CHINA_TZ

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("livekit.api")

DOUDIAN_REFRESH_LIFETIME = 14 * 86400.0  # 抖店 token responses carry no refresh lifetime
PROACTIVE_REFRESH_MAX = 300.0  # refresh when less than min(300 s, 20 % of the lifetime) remains
PROACTIVE_REFRESH_FRACTION = 0.2
LOCK_TIMEOUT = 60.0
UNIX_TIME_THRESHOLD = 1e9  # 抖店 expires_in above this is a Unix time, else a duration
PLATFORMS: tuple[Platform, ...] = ("qianchuan", "doudian")


# ---- token entries -------------------------------------------------------------------------
@dataclass
class QianchuanTokens:
    """巨量千川 tokens; times are Unix seconds. The repr hides the tokens."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: float
    refresh_expires_at: float
    advertiser_ids: list[int]
    obtained_at: float

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> QianchuanTokens:
        return cls(
            access_token=str(raw["access_token"]),
            refresh_token=str(raw["refresh_token"]),
            access_expires_at=float(raw["access_expires_at"]),
            refresh_expires_at=float(raw["refresh_expires_at"]),
            advertiser_ids=[int(a) for a in raw.get("advertiser_ids") or []],
            obtained_at=float(raw["obtained_at"]),
        )


@dataclass
class DoudianTokens:
    """抖店 tokens of one shop; times are Unix seconds. The repr hides the tokens."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: float
    refresh_expires_at: float
    shop_id: int
    shop_name: str
    obtained_at: float

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DoudianTokens:
        return cls(
            access_token=str(raw["access_token"]),
            refresh_token=str(raw["refresh_token"]),
            access_expires_at=float(raw["access_expires_at"]),
            refresh_expires_at=float(raw["refresh_expires_at"]),
            shop_id=int(raw["shop_id"]),
            shop_name=str(raw.get("shop_name") or ""),
            obtained_at=float(raw["obtained_at"]),
        )


Tokens = QianchuanTokens | DoudianTokens


def platform_of(key: str) -> Platform:
    """The platform of a token set entry: ``qianchuan``, ``qianchuan:<id>`` → ``qianchuan``."""
    head = key.split(":", 1)[0]
    if head == "qianchuan":
        return "qianchuan"
    if head == "doudian":
        return "doudian"
    raise ValueError(f"not a token entry key: {key[:40]!r}")


def tokens_from_json(key: str, raw: Any) -> Tokens:
    """The entry ``key`` from its JSON form; KeyError/TypeError/ValueError when malformed."""
    if not isinstance(raw, dict):
        raise TypeError("token entry is not an object")
    if platform_of(key) == "qianchuan":
        return QianchuanTokens.from_json(raw)
    return DoudianTokens.from_json(raw)


def tokens_to_json(tokens: Tokens) -> dict[str, Any]:
    return asdict(tokens)


def needs_refresh(tokens: Tokens, now: float) -> bool:
    """True when less than ``min(300 s, 20 % of the access lifetime)`` remains."""
    lifetime = max(tokens.access_expires_at - tokens.obtained_at, 0.0)
    margin = min(PROACTIVE_REFRESH_MAX, PROACTIVE_REFRESH_FRACTION * lifetime)
    return now >= tokens.access_expires_at - margin


# ---- which entry -------------------------------------------------------------------------
def entry_key(settings: Settings, tokens: Tokens) -> str:
    """The entry a new grant is saved under: the platform's name in one-shop mode (no shops
    file), else ``qianchuan:<first advertiser id of the grant>`` / ``doudian:<shop id>``."""
    platform: Platform = "qianchuan" if isinstance(tokens, QianchuanTokens) else "doudian"
    if not shops_of(settings):
        return platform
    if isinstance(tokens, QianchuanTokens):
        ids = tokens.advertiser_ids
        return f"qianchuan:{ids[0]}" if ids else platform
    return f"doudian:{tokens.shop_id}" if tokens.shop_id else platform


def _alive_then_newest(entries: Mapping[str, Tokens], keys: list[str], now: float) -> str:
    """Of several entries that fit, one whose refresh token still lives, the newest grant."""
    return max(keys, key=lambda k: (now < entries[k].refresh_expires_at, entries[k].obtained_at, k))


def entry_for_shop(entries: Mapping[str, Tokens], platform: Platform, shop: Shop) -> str | None:
    """The entry a shop's client uses, None when no grant covers the shop.

    巨量千川: an entry (``qianchuan`` or ``qianchuan:…``) whose advertisers include the shop's
    advertiser; 抖店: an entry whose shop is the shop's 抖店 shop. Several fit (a re-grant under
    another first advertiser): one whose refresh token still lives, the newest grant first.
    """
    fits: list[str] = []
    for key, tokens in entries.items():
        if platform_of(key) != platform:
            continue
        if isinstance(tokens, QianchuanTokens):
            if shop.advertiser_id is not None and shop.advertiser_id in tokens.advertiser_ids:
                fits.append(key)
        elif shop.doudian_shop_id is not None and tokens.shop_id == shop.doudian_shop_id:
            fits.append(key)
    return _alive_then_newest(entries, fits, time.time()) if fits else None


def default_entry(entries: Mapping[str, Tokens], platform: Platform) -> str | None:
    """The entry a client without a shop uses: the plain one (one-shop mode, as always); when
    the platform has none but exactly one other entry, that one (e.g. a sandbox session started
    in an agency's project saves its demo grant under ``qianchuan:<id>``)."""
    if platform in entries:
        return platform
    others = [k for k in entries if platform_of(k) == platform]
    return others[0] if len(others) == 1 else None


def _missing(platform: Platform, where: str = "本机") -> ReauthorizeRequired:
    return ReauthorizeRequired(
        platform,
        "",
        0,
        f"{where}尚未保存授权令牌",
        advice=f"请先运行 `livekit auth login {platform}` 完成授权。",
    )


def login_command(platform: Platform, shop: Shop) -> str:
    """The command that authorizes ``shop`` on ``platform`` (for messages)."""
    apps = f" --credentials {shop.credentials}" if shop.credentials else ""
    if platform == "qianchuan":
        return f"livekit auth login qianchuan{apps}"
    return f"livekit auth login doudian --shop-id {shop.doudian_shop_id}{apps}"


def _shop_missing(platform: Platform, shop: Shop) -> LivekitError:
    if platform == "qianchuan":
        if shop.advertiser_id is None:
            return ShopError(
                f"店铺 {shop.label} 在店铺清单中没有 qianchuan.advertiser_id：它没有巨量千川数据"
            )
        return ReauthorizeRequired(
            platform,
            "",
            0,
            f"店铺 {shop.label} 的广告主 {shop.advertiser_id} 尚未授权给本应用",
            advice=f"请运行 `{login_command(platform, shop)}`，在授权页勾选广告主 "
            f"{shop.advertiser_id}。",
        )
    if shop.doudian_shop_id is None:
        return ShopError(f"店铺 {shop.label} 在店铺清单中没有 doudian.shop_id：它没有抖店数据")
    return ReauthorizeRequired(
        platform,
        "",
        0,
        f"店铺 {shop.label} 的抖店店铺 {shop.doudian_shop_id} 尚未授权给本应用",
        advice=f"请运行 `{login_command(platform, shop)}`（服务商应用加上 --code 授权码）。",
    )


# ---- where the token set lives ---------------------------------------------------------------
class TokenStore(Protocol):
    """The token set: :class:`TokenFile` (``tokens.json``) or Redis (``tokens_redis``).

    :class:`TokenManager` has one code path for both: ``hold`` an entry (a lock every process
    and machine sharing the set respects), re-``get`` it, refresh, ``replace`` (a
    compare-and-set: written only if the stored refresh token is still the one spent).
    """

    @property
    def where(self) -> str:
        """How messages name the place: ``本机`` or ``Redis 中``."""
        ...

    async def get(self, key: str, *, fresh: bool = False) -> Tokens | None:
        """The entry, None if absent; ``fresh``: bypass any cache (under :meth:`hold`)."""
        ...

    async def entries(self) -> dict[str, Tokens]:
        """Every readable entry (an unreadable whole set → ReauthorizeRequired)."""
        ...

    def hold(self, key: str, timeout: float) -> contextlib.AbstractAsyncContextManager[None]:
        """The entry's lock; waiting longer than ``timeout`` → TokenLockTimeout."""
        ...

    async def put(self, key: str, tokens: Tokens) -> None:
        """Write the entry as it is (a login), under :meth:`hold`."""
        ...

    async def replace(self, key: str, spent: Tokens, new: Tokens) -> bool:
        """Write ``new`` only if the stored refresh token is ``spent``'s; True if written."""
        ...

    async def aclose(self) -> None: ...


def open_token_store(settings: Settings, *, redis: Redis | None = None) -> TokenStore:
    """Redis with ``LIVEKIT_REDIS_URL`` (``redis``: a client to share), else the token file."""
    if settings.redis_url is None:
        return TokenFile(settings.tokens_path)
    from livekit.api.tokens_redis import RedisTokens

    return RedisTokens(settings, redis=redis)


def store_label(settings: Settings) -> str:
    """Where logins are saved, for the CLI's messages."""
    if settings.redis_url is not None:
        return "Redis（LIVEKIT_REDIS_URL，各 worker 共用）"
    return f"{settings.tokens_path}（仅本人可读）"


# ---- the token file ------------------------------------------------------------------------
class TokenFile:
    """``tokens.json``: ``{"qianchuan": {...}, "doudian": {...}}``, mode 0600, written atomically.

    With a shops file the keys are entry keys (``qianchuan:<id>``, ``doudian:<id>``).
    Writes go to a temporary file in the same folder (created 0600), are flushed and fsynced,
    then ``os.replace``\\ d over the file and the folder is fsynced: readers see the old file or
    the new one, never half of one. Callers that read-modify-write hold :meth:`lock` (one lock
    for the whole file: :meth:`hold` of any entry takes it).
    """

    where = "本机"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def lock(self, timeout: float = LOCK_TIMEOUT) -> filelock.FileLock:
        """A new inter-process lock object on ``<tokens path>.lock``.

        ``thread_local=False``: it may be acquired in a worker thread and released in another.
        """
        self._ensure_dir()
        return filelock.FileLock(
            self.lock_path,
            timeout=timeout,
            mode=0o600,
            thread_local=False,
            preserve_lock_file=True,
        )

    def _ensure_dir(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def read(self) -> dict[str, Any]:
        """The whole file; ``{}`` when it does not exist. ValueError when it is not valid."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("token file is not a JSON object")
        return data

    def _broken(self, key: str) -> ReauthorizeRequired:
        return ReauthorizeRequired(
            platform_of(key), "", 0, f"令牌文件 {self.path} 无法读取或已损坏"
        )

    @overload
    def load(self, platform: Literal["qianchuan"]) -> QianchuanTokens | None: ...
    @overload
    def load(self, platform: Literal["doudian"]) -> DoudianTokens | None: ...
    @overload
    def load(self, platform: str) -> Tokens | None: ...
    def load(self, platform: str) -> Tokens | None:
        """The entry ``platform`` (a platform or an entry key), ``None`` if absent; a broken
        file → ReauthorizeRequired."""
        try:
            entry = self.read().get(platform)
            return tokens_from_json(platform, entry) if entry else None
        except (OSError, ValueError, KeyError, TypeError):
            raise self._broken(platform) from None

    def _stat_key(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _snapshot(self, key: str) -> dict[str, Any]:
        """The file's content, re-read only when the file changed on disk."""
        stat_key = self._stat_key()
        if stat_key is None:
            self._cache = None
            return {}
        if self._cache is None or self._cache[0] != stat_key:
            try:
                self._cache = (stat_key, self.read())
            except (OSError, ValueError):
                self._cache = None
                raise self._broken(key) from None
        return self._cache[1]

    def cached(self, key: str) -> Tokens | None:
        """Like :meth:`load`, cached until the file changes on disk (a few stat calls)."""
        entry = self._snapshot(key).get(key)
        if not entry:
            return None
        try:
            return tokens_from_json(key, entry)
        except (ValueError, KeyError, TypeError):
            raise self._broken(key) from None

    def save(self, platform: str, tokens: Tokens) -> None:
        """Replace one entry (the caller holds :meth:`lock`)."""
        try:
            data = self.read()
        except (OSError, ValueError):
            data = {}  # a broken file is replaced by a good one
        data[platform] = tokens_to_json(tokens)
        self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        self._ensure_dir()
        payload = json.dumps(data, ensure_ascii=False, indent=2).encode()
        write_bytes_atomic(self.path, payload, mode=0o600)

    # ---- TokenStore ----------------------------------------------------------------------
    async def get(self, key: str, *, fresh: bool = False) -> Tokens | None:
        return self.load(key) if fresh else self.cached(key)

    def entries_now(self) -> dict[str, Tokens]:
        """Every readable entry (cached until the file changes); a broken file → Reauthorize…"""
        out: dict[str, Tokens] = {}
        for key, entry in self._snapshot("qianchuan").items():
            try:
                out[key] = tokens_from_json(key, entry)
            except (ValueError, KeyError, TypeError):
                continue  # an unknown key or a damaged entry: not a usable grant
        return out

    async def entries(self) -> dict[str, Tokens]:
        return self.entries_now()

    def hold(self, key: str, timeout: float) -> contextlib.AbstractAsyncContextManager[None]:
        return _locked(self, timeout)

    async def put(self, key: str, tokens: Tokens) -> None:
        self.save(key, tokens)

    async def replace(self, key: str, spent: Tokens, new: Tokens) -> bool:
        try:
            stored = self.load(key)
        except ReauthorizeRequired:
            return False
        if stored is None or stored.refresh_token != spent.refresh_token:
            return False
        self.save(key, new)
        return True

    async def aclose(self) -> None:
        return None


@contextlib.asynccontextmanager
async def _locked(token_file: TokenFile, timeout: float) -> AsyncIterator[None]:
    """Hold the token file lock; acquired in a worker thread so the event loop keeps running."""
    lock = token_file.lock(timeout)
    acquiring = asyncio.ensure_future(asyncio.to_thread(lock.acquire))
    try:
        await asyncio.shield(acquiring)
    except asyncio.CancelledError:
        # The worker thread may still get the lock: release it then, or other processes wait.
        acquiring.add_done_callback(lambda f: _release_if_acquired(lock, f))
        raise
    except filelock.Timeout:
        raise TokenLockTimeout(
            f"等待令牌文件锁超时（{timeout:.0f} 秒）：另一个 livekit 进程长时间占用 "
            f"{token_file.path}，请稍后再试"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _release_if_acquired(lock: filelock.FileLock, future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        lock.release()


# ---- token manager -------------------------------------------------------------------------
class TokenManager:
    """Access tokens of one token set entry for one event loop; refreshes them when needed.

    ``key`` is an entry key (``qianchuan``, ``doudian:123`` …); with ``shop`` it is the platform
    and the entry is the one covering the shop (:func:`entry_for_shop`), found on first use.
    A plain key without a shop also takes a platform's only entry (:func:`default_entry`).

    ``access_token()`` refreshes proactively when the token is close to expiry;
    ``refresh_after_failure(token)`` after the upstream rejected ``token``. Both serialize the
    refresh: first an asyncio lock (tasks of this loop: a FileLock instance is reentrant, so
    tasks sharing one would not exclude each other, and waiters here need no worker thread),
    then the store's lock of the entry (threads, processes; machines with Redis), then the
    entry is re-read: if it holds a different access token, someone else already refreshed and
    that token is used without calling the refresh endpoint. The new pair is written before the
    lock is released, and only if the stored refresh token is still the one spent.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        key: str,
        *,
        token_file: TokenFile | None = None,
        store: TokenStore | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        shop: Shop | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self.platform: Platform = platform_of(key)
        self._store: TokenStore = store or token_file or open_token_store(settings)
        self._lock_timeout = lock_timeout
        self._lock = asyncio.Lock()
        self._shop = shop
        self._wanted = self.platform if shop is not None else key
        self.key: str | None = None  # the entry in use, once found

    def __repr__(self) -> str:
        where = f"path={str(self._store.path)!r}" if isinstance(self._store, TokenFile) else "redis"
        shop = f", shop={self._shop.id!r}" if self._shop is not None else ""
        return f"TokenManager(platform={self.platform!r}{shop}, {where})"

    def _choose(self, entries: Mapping[str, Tokens]) -> str:
        if self._shop is not None:
            key = entry_for_shop(entries, self.platform, self._shop)
            if key is None:
                raise _shop_missing(self.platform, self._shop)
            return key
        if self._wanted != self.platform:  # a fixed entry
            if self._wanted not in entries:
                raise _missing(self.platform, self._store.where)
            return self._wanted
        key = default_entry(entries, self.platform)
        if key is None:
            raise _missing(self.platform, self._store.where)
        return key

    async def tokens(self) -> Tokens:
        """The saved tokens of the entry (the token file's are cached until it changes)."""
        if self.key is not None or self._shop is None:
            # The entry in use, or the plain/fixed one: one read; the whole set only if absent.
            key = self.key or self._wanted
            found = await self._store.get(key)
            if found is not None:
                self.key = key
                return found
        entries = await self._store.entries()
        self.key = self._choose(entries)
        return entries[self.key]

    def current(self) -> Tokens:
        """:meth:`tokens` read synchronously: the token file only (cached until it changes)."""
        store = self._store
        if not isinstance(store, TokenFile):
            raise TypeError("current() reads the token file; use `await tokens()`")
        if self.key is not None or self._shop is None:
            key = self.key or self._wanted
            found = store.cached(key)
            if found is not None:
                self.key = key
                return found
        entries = store.entries_now()
        self.key = self._choose(entries)
        return entries[self.key]

    async def access_token(self) -> str:
        """A usable access token, refreshed first if it is about to expire."""
        tokens = await self.tokens()
        if not needs_refresh(tokens, time.time()):
            return tokens.access_token
        return await self._refresh(tokens.access_token, proactive=True)

    async def refresh_after_failure(self, failed_token: str) -> str:
        """A new access token after the upstream rejected ``failed_token``."""
        return await self._refresh(failed_token, proactive=False)

    def _settled(self, tokens: Tokens, token: str, proactive: bool) -> bool:
        """True when ``tokens`` can be used as they are (someone else already refreshed)."""
        if tokens.access_token != token:
            return True
        return proactive and not needs_refresh(tokens, time.time())

    async def _refresh(self, token: str, *, proactive: bool) -> str:
        async with self._lock:
            tokens = await self.tokens()
            if self._settled(tokens, token, proactive):
                return tokens.access_token
            key = self.key
            assert key is not None
            async with self._store.hold(key, self._lock_timeout):
                saved = await self._store.get(key, fresh=True)
                if saved is None:
                    raise _missing(self.platform, self._store.where)
                if self._settled(saved, token, proactive):
                    return saved.access_token
                try:
                    new = await self._call_refresh(saved)
                except ReauthorizeRequired:
                    # Spent meanwhile by a process whose lock ran out? Its pair is stored.
                    stored = await self._store.get(key, fresh=True)
                    if stored is None or stored.refresh_token == saved.refresh_token:
                        raise
                    logger.warning("%s tokens were refreshed by another process meanwhile", key)
                    return stored.access_token
                if not await self._store.replace(key, saved, new):
                    stored = await self._store.get(key, fresh=True)
                    if stored is None:
                        raise _missing(self.platform, self._store.where) from None
                    logger.warning("%s tokens changed during the refresh; using the stored", key)
                    return stored.access_token
                logger.info("refreshed %s access token", key)
                return new.access_token

    async def _call_refresh(self, tokens: Tokens) -> Tokens:
        now = time.time()  # before the call: expiry times err on the early side
        if isinstance(tokens, QianchuanTokens):
            app_id, secret = self._settings.require_qianchuan()
            data = await qianchuan_api.oauth_post(
                self._http,
                self._settings,
                qianchuan_api.REFRESH_PATH,
                {
                    "app_id": app_id,
                    "secret": secret.get_secret_value(),
                    "refresh_token": tokens.refresh_token,
                },
            )
            return qianchuan_tokens(data, now, tokens.advertiser_ids)
        data = await doudian_api.token_call(
            self._http,
            self._settings,
            "token.refresh",
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
        )
        return doudian_tokens(data, now, previous=tokens)


# ---- token responses -----------------------------------------------------------------------
def qianchuan_tokens(
    data: dict[str, Any], now: float, advertiser_ids: list[int] | None = None
) -> QianchuanTokens:
    """Tokens from an ``oauth2/access_token/`` or ``oauth2/refresh_token/`` answer."""
    try:
        ids = data.get("advertiser_ids")
        return QianchuanTokens(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            access_expires_at=now + float(data["expires_in"]),
            refresh_expires_at=now + float(data["refresh_token_expires_in"]),
            advertiser_ids=[int(a) for a in ids] if ids else list(advertiser_ids or []),
            obtained_at=now,
        )
    except (KeyError, TypeError, ValueError):
        raise UpstreamError(
            "qianchuan", "oauth2", 0, "令牌响应缺少 access_token / refresh_token / expires_in"
        ) from None


def _doudian_expiry(value: Any, now: float) -> float:
    """抖店 ``expires_in``: sources disagree whether it is a duration or a Unix time."""
    number = float(value)
    return number if number > UNIX_TIME_THRESHOLD else now + number


def doudian_tokens(
    data: dict[str, Any], now: float, previous: DoudianTokens | None = None
) -> DoudianTokens:
    """Tokens from a ``token.create`` or ``token.refresh`` answer."""
    try:
        refresh = str(data["refresh_token"])
        same_refresh = previous is not None and previous.refresh_token == refresh
        return DoudianTokens(
            access_token=str(data["access_token"]),
            refresh_token=refresh,
            access_expires_at=_doudian_expiry(data["expires_in"], now),
            refresh_expires_at=(
                previous.refresh_expires_at
                if same_refresh and previous is not None
                else now + DOUDIAN_REFRESH_LIFETIME
            ),
            shop_id=int(data.get("shop_id") or (previous.shop_id if previous else 0)),
            shop_name=str(data.get("shop_name") or (previous.shop_name if previous else "")),
            obtained_at=now,
        )
    except (KeyError, TypeError, ValueError):
        raise UpstreamError(
            "doudian", "token", 0, "令牌响应缺少 access_token / refresh_token / expires_in"
        ) from None


# ---- login ---------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def _http_client(
    settings: Settings, http: httpx.AsyncClient | None
) -> AsyncIterator[httpx.AsyncClient]:
    if http is not None:
        yield http
        return
    install_log_redaction()
    async with httpx.AsyncClient(timeout=make_timeout(settings)) as client:
        yield client


async def _store(settings: Settings, tokens: Tokens) -> str:
    """Save a new grant under its entry (:func:`entry_key`); returns the key."""
    key = entry_key(settings, tokens)
    store = open_token_store(settings)
    try:
        async with store.hold(key, LOCK_TIMEOUT):
            await store.put(key, tokens)
    finally:
        await store.aclose()
    return key


def consent_url(settings: Settings, state: str, redirect_uri: str, scope: str | None = None) -> str:
    """The 巨量千川 consent page URL (no secrets in it: app id, state and redirect only)."""
    app_id, _ = settings.require_qianchuan()
    params = {"app_id": str(app_id), "state": state, "redirect_uri": redirect_uri}
    if scope:
        params["scope"] = scope
    base = settings.qianchuan_auth_url
    return base + ("&" if "?" in base else "?") + urlencode(params)


async def exchange_code(
    settings: Settings, code: str, *, http: httpx.AsyncClient | None = None
) -> QianchuanTokens:
    """Exchange a 巨量千川 auth code for tokens and save them.

    Saved as ``qianchuan`` in one-shop mode, ``qianchuan:<first advertiser id>`` with a shops
    file (an agency's grant covers the advertisers ticked on the consent page).
    A used, expired or unknown code → ReauthorizeRequired (log in again).
    """
    app_id, secret = settings.require_qianchuan()
    now = time.time()
    async with _http_client(settings, http) as client:
        data = await qianchuan_api.oauth_post(
            client,
            settings,
            qianchuan_api.TOKEN_PATH,
            {"app_id": app_id, "secret": secret.get_secret_value(), "auth_code": code},
        )
    tokens = qianchuan_tokens(data, now)
    await _store(settings, tokens)
    return tokens


async def create_doudian_token(
    settings: Settings,
    shop_id: int | None = None,
    code: str | None = None,
    *,
    http: httpx.AsyncClient | None = None,
) -> DoudianTokens:
    """Create 抖店 tokens (``token.create``) and save them.

    Without ``code``: a self-built app (``grant_type=authorization_self``; ``shop_id`` picks
    the shop, default the app's own). With ``code``: a service provider's app authorized by a
    shop (``grant_type=authorization_code``, the code the shop's authorization brought back).
    Saved as ``doudian`` in one-shop mode, ``doudian:<shop id>`` with a shops file.
    """
    settings.require_doudian()
    params: dict[str, Any] = (
        {"code": code, "grant_type": "authorization_code"}
        if code is not None
        else {"code": "", "grant_type": "authorization_self"}
    )
    if shop_id is not None:
        params["shop_id"] = shop_id
    now = time.time()
    async with _http_client(settings, http) as client:
        data = await doudian_api.token_call(client, settings, "token.create", params)
    tokens = doudian_tokens(data, now)
    await _store(settings, tokens)
    return tokens


_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>livekit 授权</title>'
    '</head><body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{text}</p>'
    "</body></html>"
)


def login_qianchuan_loopback(
    settings: Settings,
    *,
    port: int = 0,
    timeout: float = 300.0,
    open_browser: bool = True,
    on_url: Callable[[str], object] | None = None,
    scope: str | None = None,
) -> QianchuanTokens:
    """Log in to 巨量千川 through the browser; returns the saved tokens.

    Starts a small HTTP server at ``http://127.0.0.1:<port>/callback`` (``port=0``: any free
    port; the real platform only redirects to a redirect URI registered for the app, so pick a
    fixed port there), hands the consent URL to ``on_url`` (the CLI prints it) and opens the
    browser. On the redirect it checks ``state``: a mismatch is refused and the code is not
    exchanged. Then the code is exchanged, the tokens saved, and the browser gets a short page.
    """
    settings.require_qianchuan()
    state = secrets.token_urlsafe(24)
    done = threading.Event()
    claim = threading.Lock()
    outcome: dict[str, Any] = {}

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/callback":
                self._page(404, "未找到", "这里只接收巨量千川的授权回调。")
                return
            if not claim.acquire(blocking=False):
                self._page(409, "本次登录已结束", "请回到终端查看结果。")
                return
            try:
                query = parse_qs(parts.query)
                got_state = query.get("state", [""])[0]
                code = (query.get("auth_code") or query.get("code") or [""])[0]
                if not secrets.compare_digest(got_state.encode(), state.encode()):
                    raise LoginError(
                        "授权回调的 state 与本次登录不一致，已拒绝（可能是过期或伪造的回调）：请重新运行 "
                        "`livekit auth login qianchuan`"
                    )
                if not code:
                    raise LoginError("授权回调中没有 auth_code（可能未同意授权）：请重新登录")
                outcome["tokens"] = run(exchange_code(settings, code))
                self._page(200, "授权成功", "巨量千川授权已保存，可以关闭此页面并回到终端。")
            except LivekitError as exc:
                outcome["error"] = exc
                self._page(400, "授权失败", str(exc))
            except Exception:
                logger.exception("qianchuan login callback failed")
                outcome["error"] = LoginError("处理授权回调时出错：请重新登录")
                self._page(500, "授权失败", "处理授权回调时出错，请回到终端查看。")
            finally:
                done.set()

        def _page(self, status: int, title: str, text: str) -> None:
            body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # The default writes the request line to stderr, and it carries the auth code.
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Callback)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="livekit-login",
        daemon=True,
    )
    thread.start()
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
        url = consent_url(settings, state, redirect_uri, scope)
        if on_url is not None:
            on_url(url)
        if open_browser:
            webbrowser.open(url)
        if not done.wait(timeout):
            raise LoginError(
                f"等待浏览器授权超时（{timeout:.0f} 秒）：请重新运行 `livekit auth login qianchuan`"
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    error = outcome.get("error")
    if error is not None:
        raise error
    tokens: QianchuanTokens = outcome["tokens"]
    return tokens


# ---- status --------------------------------------------------------------------------------
def _china_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


async def _entries(settings: Settings) -> tuple[dict[str, Tokens], str | None]:
    """Every entry of the token set, and what made it unreadable (None: readable)."""
    store = open_token_store(settings)
    try:
        return await store.entries(), None
    except ReauthorizeRequired as exc:
        return {}, str(exc)
    finally:
        await store.aclose()


def _row(key: str, tokens: Tokens, now: float) -> dict[str, Any]:
    platform = platform_of(key)
    row: dict[str, Any] = {
        "platform": platform,
        "platform_label": PLATFORM_NAMES[platform],
        "key": key,
        "authorized": now < tokens.refresh_expires_at,
        "access_expires_at": _china_time(tokens.access_expires_at),
        "refresh_expires_at": _china_time(tokens.refresh_expires_at),
        "access_valid": now < tokens.access_expires_at,
        "obtained_at": _china_time(tokens.obtained_at),
    }
    if isinstance(tokens, QianchuanTokens):
        row["advertiser_ids"] = list(tokens.advertiser_ids)
        ids = "、".join(str(a) for a in tokens.advertiser_ids) or "（无）"
        row["account"] = f"广告主 {ids}"
    else:
        row["shop_id"] = tokens.shop_id
        row["shop_name"] = tokens.shop_name
        row["account"] = f"店铺「{tokens.shop_name}」（{tokens.shop_id}）"
    return row


def status(settings: Settings) -> list[dict[str, Any]]:
    """Every entry of the token set (times in Asia/Shanghai; never tokens), 巨量千川 first.

    A platform without any entry shows as one unauthorized row under its plain key, as in
    one-shop mode, so both platforms always appear.
    """
    entries, problem = run(_entries(settings))
    now = time.time()
    rows: list[dict[str, Any]] = []
    for platform in PLATFORMS:
        keys = sorted(k for k in entries if platform_of(k) == platform)
        keys.sort(key=lambda k: k != platform)  # the plain entry first
        for key in keys:
            rows.append(_row(key, entries[key], now))
        if not keys:
            row: dict[str, Any] = {
                "platform": platform,
                "platform_label": PLATFORM_NAMES[platform],
                "key": platform,
                "authorized": False,
            }
            if problem is not None:
                row["problem"] = problem
            rows.append(row)
    return rows


def shop_status(settings: Settings) -> list[dict[str, Any]]:
    """One row per shop of the shops file (``[]`` without one): which entry authorizes it on
    each platform (None: none does; a platform the shop does not use is left out)."""
    from livekit.shops import with_credentials

    shops = shops_of(settings)
    if not shops:
        return []
    # each set of app credentials has its own token set (its own file or Redis hash)
    by_apps: dict[str | None, Mapping[str, Tokens]] = {}
    for name in dict.fromkeys(s.credentials for s in shops):
        by_apps[name], _ = run(_entries(with_credentials(settings, name, platforms=())))
    now = time.time()
    rows = []
    for shop in shops:
        entries = by_apps[shop.credentials]
        row: dict[str, Any] = {"shop": shop.id, "label": shop.label, "name": shop.name}
        wanted_ids: tuple[tuple[Platform, int | None], ...] = (
            ("qianchuan", shop.advertiser_id),
            ("doudian", shop.doudian_shop_id),
        )
        for platform, wanted in wanted_ids:
            if wanted is None:
                continue
            key = entry_for_shop(entries, platform, shop)
            row[platform] = {
                "id": wanted,
                "key": key,
                "authorized": key is not None and now < entries[key].refresh_expires_at,
                "login": login_command(platform, shop),
            }
        rows.append(row)
    return rows
