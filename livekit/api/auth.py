"""OAuth tokens of both platforms: the token file, refresh serialized across processes, login.

Refresh must be serialized across tasks, threads and processes: a 巨量千川 refresh returns a new
pair and the old refresh token dies at once, so two concurrent refreshes lock the user out
(protocols.md §1). :class:`TokenManager` takes an in-process ``asyncio.Lock`` first, then a file
lock next to the token file, re-reads the file, and refreshes only if nobody else already did.
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
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import parse_qs, urlencode, urlsplit

import filelock
import httpx

from livekit._files import write_bytes_atomic
from livekit.api import doudian as doudian_api
from livekit.api import qianchuan as qianchuan_api
from livekit.api.errors import (
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
from livekit.vocab.tz import CHINA_TZ

logger = logging.getLogger("livekit.api")

DOUDIAN_REFRESH_LIFETIME = 14 * 86400.0  # 抖店 token responses carry no refresh lifetime
PROACTIVE_REFRESH_MAX = 300.0  # refresh when less than min(300 s, 20 % of the lifetime) remains
PROACTIVE_REFRESH_FRACTION = 0.2
LOCK_TIMEOUT = 60.0
UNIX_TIME_THRESHOLD = 1e9  # 抖店 expires_in above this is a Unix time, else a duration


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


def needs_refresh(tokens: Tokens, now: float) -> bool:
    """True when less than ``min(300 s, 20 % of the access lifetime)`` remains."""
    lifetime = max(tokens.access_expires_at - tokens.obtained_at, 0.0)
    margin = min(PROACTIVE_REFRESH_MAX, PROACTIVE_REFRESH_FRACTION * lifetime)
    return now >= tokens.access_expires_at - margin


def _missing(platform: Platform) -> ReauthorizeRequired:
    return ReauthorizeRequired(
        platform,
        "",
        0,
        "本机尚未保存授权令牌",
        advice=f"请先运行 `livekit auth login {platform}` 完成授权。",
    )


# ---- the token file ------------------------------------------------------------------------
class TokenFile:
    """``tokens.json``: ``{"qianchuan": {...}, "doudian": {...}}``, mode 0600, written atomically.

    Writes go to a temporary file in the same folder (created 0600), are flushed and fsynced,
    then ``os.replace``\\ d over the file and the folder is fsynced: readers see the old file or
    the new one, never half of one. Callers that read-modify-write hold :meth:`lock`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

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

    @overload
    def load(self, platform: Literal["qianchuan"]) -> QianchuanTokens | None: ...
    @overload
    def load(self, platform: Literal["doudian"]) -> DoudianTokens | None: ...
    @overload
    def load(self, platform: Platform) -> Tokens | None: ...
    def load(self, platform: Platform) -> Tokens | None:
        """The platform's entry, ``None`` if absent; a broken file → ReauthorizeRequired."""
        try:
            entry = self.read().get(platform)
            if not entry:
                return None
            if platform == "qianchuan":
                return QianchuanTokens.from_json(entry)
            return DoudianTokens.from_json(entry)
        except (OSError, ValueError, KeyError, TypeError):
            raise ReauthorizeRequired(
                platform, "", 0, f"令牌文件 {self.path} 无法读取或已损坏"
            ) from None

    def save(self, platform: Platform, tokens: Tokens) -> None:
        """Replace one platform's entry (the caller holds :meth:`lock`)."""
        try:
            data = self.read()
        except (OSError, ValueError):
            data = {}  # a broken file is replaced by a good one
        data[platform] = asdict(tokens)
        self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        self._ensure_dir()
        payload = json.dumps(data, ensure_ascii=False, indent=2).encode()
        write_bytes_atomic(self.path, payload, mode=0o600)


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
    """Access tokens of one platform for one event loop; refreshes them when needed.

    ``access_token()`` refreshes proactively when the token is close to expiry;
    ``refresh_after_failure(token)`` after the upstream rejected ``token``. Both serialize the
    refresh: first an asyncio lock (tasks of this loop: a FileLock instance is reentrant, so
    tasks sharing one would not exclude each other, and waiters here need no worker thread),
    then the file lock ``<tokens path>.lock`` (threads and processes), then the file is re-read:
    if it holds a different access token, someone else already refreshed and that token is used
    without calling the refresh endpoint. The file is written before the lock is released.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        platform: Platform,
        *,
        token_file: TokenFile | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self._settings = settings
        self._http = http
        self.platform: Platform = platform
        self._file = token_file or TokenFile(settings.tokens_path)
        self._lock_timeout = lock_timeout
        self._lock = asyncio.Lock()
        self._cached: Tokens | None = None
        self._cached_key: tuple[int, int, int] | None = None

    def __repr__(self) -> str:
        return f"TokenManager(platform={self.platform!r}, path={str(self._file.path)!r})"

    def _file_key(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._file.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> Tokens:
        """The saved tokens (cached; re-read when the file changed on disk)."""
        key = self._file_key()
        if key is None:
            self._cached, self._cached_key = None, None
        elif key != self._cached_key or self._cached is None:
            self._cached, self._cached_key = self._file.load(self.platform), key
        if self._cached is None:
            raise _missing(self.platform)
        return self._cached

    async def access_token(self) -> str:
        """A usable access token, refreshed first if it is about to expire."""
        tokens = self.current()
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
            tokens = self.current()
            if self._settled(tokens, token, proactive):
                return tokens.access_token
            async with _locked(self._file, self._lock_timeout):
                saved = self._file.load(self.platform)
                if saved is None:
                    raise _missing(self.platform)
                tokens = saved
                if not self._settled(tokens, token, proactive):
                    tokens = await self._call_refresh(tokens)
                    self._file.save(self.platform, tokens)
                    logger.info("refreshed %s access token", self.platform)
                self._cached, self._cached_key = tokens, self._file_key()
                return tokens.access_token

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


async def _store(settings: Settings, platform: Platform, tokens: Tokens) -> None:
    token_file = TokenFile(settings.tokens_path)
    async with _locked(token_file, LOCK_TIMEOUT):
        token_file.save(platform, tokens)


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
    await _store(settings, "qianchuan", tokens)
    return tokens


async def create_doudian_token(
    settings: Settings, shop_id: int | None = None, *, http: httpx.AsyncClient | None = None
) -> DoudianTokens:
    """Create 抖店 tokens for a self-built app (``token.create``, ``authorization_self``); save."""
    settings.require_doudian()
    params: dict[str, Any] = {"code": "", "grant_type": "authorization_self"}
    if shop_id is not None:
        params["shop_id"] = shop_id
    now = time.time()
    async with _http_client(settings, http) as client:
        data = await doudian_api.token_call(client, settings, "token.create", params)
    tokens = doudian_tokens(data, now)
    await _store(settings, "doudian", tokens)
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


def status(settings: Settings) -> list[dict[str, Any]]:
    """Authorization state of both platforms (times in Asia/Shanghai; never tokens)."""
    token_file = TokenFile(settings.tokens_path)
    now = time.time()
    rows: list[dict[str, Any]] = []
    platforms: tuple[tuple[Platform, str], ...] = (("qianchuan", "巨量千川"), ("doudian", "抖店"))
    for platform, name in platforms:
        row: dict[str, Any] = {"platform": platform, "platform_label": name, "authorized": False}
        try:
            tokens = token_file.load(platform)
        except ReauthorizeRequired as exc:
            row["problem"] = str(exc)
            tokens = None
        if tokens is not None:
            row.update(
                authorized=now < tokens.refresh_expires_at,
                access_expires_at=_china_time(tokens.access_expires_at),
                refresh_expires_at=_china_time(tokens.refresh_expires_at),
                access_valid=now < tokens.access_expires_at,
                obtained_at=_china_time(tokens.obtained_at),
            )
            if isinstance(tokens, QianchuanTokens):
                row["advertiser_ids"] = list(tokens.advertiser_ids)
                ids = "、".join(str(a) for a in tokens.advertiser_ids) or "（无）"
                row["account"] = f"广告主 {ids}"
            else:
                row["shop_id"] = tokens.shop_id
                row["shop_name"] = tokens.shop_name
                row["account"] = f"店铺「{tokens.shop_name}」（{tokens.shop_id}）"
        rows.append(row)
    return rows
