"""Shared HTTP machinery: rate limiting, retries, transport-error mapping, log redaction.

Each upstream (巨量千川, 抖店) gets one :class:`RateLimiter` and one semaphore, shared by every
task of one :class:`livekit.api.client.Client`. A request goes: semaphore → limiter slot → send
→ envelope → typed error. :func:`with_retries` retries :class:`UpstreamError` and
:class:`RateLimited` with exponential backoff and jitter; :func:`call_with_token` adds the
refresh-once-and-retry answer to a rejected access token.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

import httpx
import stamina

from livekit.api.errors import (
    AccessTokenRejected,
    ApiError,
    Platform,
    RateLimited,
    ReauthorizeRequired,
    UpstreamError,
    redact,
)
from livekit.config import Settings
from livekit.credentials import install_log_masking

logger = logging.getLogger("livekit.api")

T = TypeVar("T")


class TokenSource(Protocol):
    """What a platform client needs from token management (see livekit.api.auth)."""

    async def access_token(self) -> str: ...

    async def refresh_after_failure(self, failed_token: str) -> str: ...


# ---- rate limiting ------------------------------------------------------------------------
class RateLimiter:
    """At most ``qps`` requests in any ``window + margin`` seconds, shared by all tasks of an upstream.

    Hand-written on purpose: the upstream (and the sandbox, livekit/sandbox/core.py RateLimiter)
    counts requests in a *sliding one-second window*. Token or leaky buckets (aiolimiter and
    friends) let a full bucket drain at once and refill meanwhile, which puts up to 2 × qps
    requests inside one such window after a burst, and the server answers 40100 / 60000. A
    sliding-window log makes the same count the server makes.

    The server stamps a request when it handles it, somewhere between our send and our receipt
    of the answer, and that delay varies (queueing on a busy server, the network). So a request
    made through :meth:`slot` stays in the log from the moment it is sent until ``window +
    margin`` seconds after its answer arrived: a new request is sent only when fewer than
    ``qps`` requests are in flight or answered within the last ``window + margin`` seconds. Then
    no window of the server's can hold more than ``qps`` of them, whatever the latency, and the
    cost is only the latency added to each window (a client still reaches ~0.95 × qps).
    :meth:`acquire` is the plain variant: the request counts from the moment of sending.

    Waiting tasks queue on one asyncio lock (FIFO, so it is fair) and sleep until the oldest
    entry leaves the window or an answer arrives: no busy waiting. Time is ``time.monotonic()``.
    """

    def __init__(self, qps: float, window: float = 1.0, margin: float = 0.03) -> None:
        if not qps > 0 or math.isinf(qps):
            raise ValueError("qps must be a positive finite number")
        if qps >= 1:
            self.capacity = int(qps)
            self.span = window + margin
        else:  # fewer than one request per window: one request per 1/qps windows
            self.capacity = 1
            self.span = window / qps + margin
        self._done: list[float] = []  # heap of the times requests finished (or were sent)
        self._in_flight = 0
        self._lock = asyncio.Lock()
        self._finished = asyncio.Event()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold off every waiting task for ``seconds`` (after a rate-limit answer)."""
        if seconds > 0:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def _take(self) -> float:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                while self._done and now - self._done[0] >= self.span:
                    heapq.heappop(self._done)
                if self._in_flight + len(self._done) < self.capacity:
                    self._in_flight += 1
                    return now
                # Full: wake when the oldest entry leaves the window, or when an answer arrives
                # (an in-flight request then gets a known expiry).
                self._finished.clear()
                timeout = self._done[0] + self.span - now if self._done else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finished.wait(), timeout)

    def _finish(self, at: float | None = None) -> None:
        self._in_flight -= 1
        heapq.heappush(self._done, time.monotonic() if at is None else at)
        self._finished.set()

    async def acquire(self) -> float:
        """Take a slot for a request counted from now; returns the monotonic time taken."""
        now = await self._take()
        self._finish(now)
        return now

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold a slot while one request is sent and answered (see the class docstring)."""
        taken = await self._take()
        try:
            yield taken
        finally:
            self._finish()


# ---- retries ------------------------------------------------------------------------------
RETRYABLE: tuple[type[ApiError], ...] = (UpstreamError, RateLimited)


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    settings: Settings,
    limiter: RateLimiter | None,
    platform: Platform,
    endpoint: str,
    retry_on: tuple[type[ApiError], ...] = RETRYABLE,
) -> T:
    """Run ``operation`` and retry it on ``retry_on`` (UpstreamError and RateLimited).

    Backoff: ``min(wait_max, wait_initial * 2**(n-1) + U(0, wait_initial))``. After a
    rate-limit answer the limiter pauses every task of the upstream for that backoff.

    Built on ``stamina.retry_context``, not the decorator: stamina's retry hooks log the
    decorated callable's arguments, which could carry tokens. Only endpoint, code and attempt
    number are logged here.
    """
    attempts = settings.retry_attempts
    async for attempt in stamina.retry_context(
        on=retry_on,
        attempts=attempts,
        timeout=None,  # bounded by attempts; a total deadline would cut long paginations
        wait_initial=settings.retry_wait_initial,
        wait_max=settings.retry_wait_max,
        wait_jitter=settings.retry_wait_initial,
    ):
        with attempt:
            try:
                return await operation()
            except retry_on as exc:
                if attempt.num < attempts:
                    backoff = attempt.next_wait
                    if isinstance(exc, RateLimited) and limiter is not None:
                        limiter.pause(backoff)
                    logger.info(
                        "retrying %s %s after %s (code %s), attempt %d of %d, backoff %.2fs",
                        platform,
                        endpoint,
                        type(exc).__name__,
                        exc.code,
                        attempt.num,
                        attempts,
                        backoff,
                    )
                else:
                    logger.warning(
                        "giving up on %s %s after %d attempts: %s (code %s)",
                        platform,
                        endpoint,
                        attempts,
                        type(exc).__name__,
                        exc.code,
                    )
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def call_with_token(
    send_with: Callable[[str], Awaitable[T]],
    tokens: TokenSource,
    *,
    settings: Settings,
    limiter: RateLimiter,
    platform: Platform,
    endpoint: str,
) -> T:
    """Call ``send_with(access_token)`` with retries; a rejected token is refreshed once, retried.

    A rejected access token (expired, revoked) is refreshed with ``refresh_after_failure`` and
    the call retried once. If the fresh token is rejected too, the attempt fails and the retry
    policy takes over: the next attempt refreshes again. A real loss of authorization shows up
    as a failing refresh (ReauthorizeRequired at once); a fresh token rejected on every attempt
    ends as ReauthorizeRequired too. (Giving up after the first double rejection would turn the
    rare but recoverable "revoked twice in a row" into a forced re-login.)
    """
    rejected: list[str] = []  # the last token rejected at the end of an attempt

    async def attempt() -> T:
        if rejected:
            token = await tokens.refresh_after_failure(rejected.pop())
        else:
            token = await tokens.access_token()
        try:
            return await send_with(token)
        except AccessTokenRejected:
            pass
        fresh = await tokens.refresh_after_failure(token)
        try:
            return await send_with(fresh)
        except AccessTokenRejected:
            rejected.append(fresh)
            raise

    try:
        return await with_retries(
            attempt,
            settings=settings,
            limiter=limiter,
            platform=platform,
            endpoint=endpoint,
            retry_on=(*RETRYABLE, AccessTokenRejected),
        )
    except AccessTokenRejected as again:
        raise ReauthorizeRequired(
            platform,
            endpoint,
            again.code,
            again.message,
            sub_code=again.sub_code,
            request_id=again.request_id,
            advice=f"刷新后的令牌仍被拒绝：请运行 `livekit auth login {platform}` 重新授权。",
        ) from None


# ---- transport -----------------------------------------------------------------------------
_TRANSPORT_ERRORS: tuple[tuple[type[httpx.RequestError], str], ...] = (
    (httpx.ConnectTimeout, "连接超时"),
    (httpx.ReadTimeout, "读取超时"),
    (httpx.WriteTimeout, "发送超时"),
    (httpx.PoolTimeout, "等待空闲连接超时"),
    (httpx.TimeoutException, "请求超时"),
    (httpx.ConnectError, "无法连接服务器"),
    (httpx.RemoteProtocolError, "服务器提前断开了连接"),
    (httpx.ReadError, "读取响应时网络出错"),
    (httpx.WriteError, "发送请求时网络出错"),
    (httpx.ProxyError, "代理服务器出错"),
    (httpx.DecodingError, "响应内容无法解码"),
)


def describe_transport_error(exc: httpx.RequestError) -> str:
    """A Chinese description of a transport error by its type only (no URL, no query)."""
    for kind, text in _TRANSPORT_ERRORS:
        if isinstance(exc, kind):
            return text
    return f"网络错误（{type(exc).__name__}）"


async def send(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    platform: Platform,
    endpoint: str,
) -> httpx.Response:
    """Send and read a request; transport errors become UpstreamError (described by type)."""
    try:
        return await http.send(request)
    except httpx.RequestError as exc:  # transport errors, undecodable bodies, ...
        raise UpstreamError(platform, endpoint, 0, describe_transport_error(exc)) from None


def parse_json_body(response: httpx.Response, *, platform: Platform, endpoint: str) -> Any:
    """The JSON body of a 2xx response; 5xx, 429 and broken bodies become typed errors.

    Parsed with the standard json module, which keeps 19-digit ids exact ints.
    """
    status = response.status_code
    if status >= 500:
        raise UpstreamError(platform, endpoint, status, f"HTTP {status}")
    if status == 429:
        raise RateLimited(platform, endpoint, status, "HTTP 429")
    if status >= 400:
        setting = (
            "LIVEKIT_QIANCHUAN_BASE_URL" if platform == "qianchuan" else "LIVEKIT_DOUDIAN_BASE_URL"
        )
        raise ApiError(
            platform,
            endpoint,
            status,
            f"HTTP {status}",
            advice=f"请检查 {setting} 是否指向正确的服务地址。",
        )
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UpstreamError(platform, endpoint, 0, "响应不是完整的 JSON（可能被截断）") from None


def encode_query(params: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters the way 巨量千川 reads them: lists and objects JSON-encoded compactly."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple | dict):
            out[key] = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[key] = value.strftime("%Y-%m-%d %H:%M:%S")
        elif isinstance(value, date):
            out[key] = value.isoformat()
        else:
            out[key] = str(value)
    return out


def make_timeout(settings: Settings) -> httpx.Timeout:
    """Explicit timeouts: the whole budget for reads, at most 10 s to connect."""
    total = settings.http_timeout
    return httpx.Timeout(total, connect=min(total, 10.0), pool=total)


# ---- log redaction -------------------------------------------------------------------------
class RedactingFilter(logging.Filter):
    """Masks tokens, signatures and secrets in log records (httpx logs full URLs at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the logging machinery
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_REDACTED_LOGGERS = ("httpx", "httpcore")
# httpcore's loggers; some are created only when their module is first imported (at the first
# connection), so they are created here in advance and get the filter up front.
_KNOWN_CHILD_LOGGERS = (
    "httpcore.connection",
    "httpcore.connection_pool",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` to the httpx and httpcore loggers (idempotent).

    A logger's filters see only records logged on that logger, not on its children, so every
    existing ``httpcore.*`` logger gets the filter too.
    """
    install_log_masking()  # every secret livekit knows (livekit.credentials), in every logger
    names = {*_REDACTED_LOGGERS, *_KNOWN_CHILD_LOGGERS}
    names.update(
        name
        for name in logging.root.manager.loggerDict
        if name.startswith(tuple(n + "." for n in _REDACTED_LOGGERS))
    )
    for name in sorted(names):
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in log.filters):
            log.addFilter(RedactingFilter())


async def gather_in_order(coros: list[Awaitable[T]]) -> list[T]:
    """Run awaitables concurrently; results in order. The first failure cancels the rest and is
    raised as itself (not wrapped in an ExceptionGroup)."""
    if not coros:
        return []
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks.extend(group.create_task(_as_coroutine(c)) for c in coros)
    except BaseExceptionGroup as group_error:
        first: BaseException = group_error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
