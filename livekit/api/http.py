"""Shared HTTP machinery: rate limiting, retries, transport-error mapping, log redaction.

Each upstream (巨量千川, 抖店) gets one :class:`RateControl` (an adaptive :class:`RateLimiter`,
plus one per endpoint that has a lower limit of its own) and one semaphore, shared by every
task of one :class:`livekit.api.client.Client`. A request goes: endpoint slot → semaphore →
upstream slot → access token → send → envelope → typed error (:func:`paced_send`).
:func:`with_retries` retries :class:`RateLimited` until a deadline and :class:`UpstreamError` a
few times, with exponential backoff and jitter; :func:`call_with_token` adds the
refresh-once-and-retry answer to a rejected access token.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

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

if TYPE_CHECKING:
    from livekit.api.shared import SharedLimits, SharedWindow

logger = logging.getLogger("livekit.api")

T = TypeVar("T")


class TokenSource(Protocol):
    """What a platform client needs from token management (see livekit.api.auth)."""

    async def access_token(self) -> str: ...

    async def refresh_after_failure(self, failed_token: str) -> str: ...


# ---- rate limiting ------------------------------------------------------------------------
DECREASE = 0.75  # multiplicative decrease of the rate after a rate-limit answer
PROBE_WINDOWS = 8  # windows of clean answers before the rate retries a level that was limited
PROBE_WINDOWS_MAX = 64  # ... doubling each time that level is limited again, up to this
RATE_FLOOR = 0.2  # requests per second the adaptive rate never goes below
OBSERVED_SPAN = 60.0  # seconds of clean answers behind the "rate the server allowed"
CUT_EVIDENCE = 3  # rate-limit answers (at least, and at least CUT_FRACTION of them) ...
CUT_FRACTION = 0.25  # ... among the last EVIDENCE_WINDOWS windows of answers before a cut
EVIDENCE_WINDOWS = 8
EVIDENCE_ANSWERS = 40  # ... and never fewer answers than this (a fraction needs a sample)


class RateLimiter:
    """At most ``capacity`` requests in any ``span`` seconds; ``capacity`` adapts (AIMD).

    Hand-written on purpose: the upstream (and the sandbox, livekit/sandbox/core.py RateLimiter)
    counts requests in a *sliding one-second window*. Token or leaky buckets (aiolimiter and
    friends) let a full bucket drain at once and refill meanwhile, which puts up to 2 × qps
    requests inside one such window after a burst, and the server answers 40100 / 60000. A
    sliding-window log makes the same count the server makes.

    The server stamps a request when it handles it, somewhere between our send and our receipt
    of the answer, and that delay varies (queueing on a busy server, the network). So a request
    made through :meth:`slot` stays in the log from the moment it is sent until ``window +
    margin`` seconds after its answer arrived: a new request is sent only when fewer than
    ``capacity`` requests are in flight or answered within the last ``window + margin`` seconds.
    Then no window of the server's can hold more than ``capacity`` of them, whatever the latency,
    and the cost is only the latency added to each window (a client still reaches ~0.95 × qps).
    :meth:`acquire` is the plain variant: the request counts from the moment of sending.

    Adaptive rate (AIMD): ``qps`` (``LIVEKIT_QPS``) is a ceiling, not a promise; no rate limit
    is published.

    * :meth:`rate_limited` cuts the rate by ``DECREASE`` (or down to what the server accepted in
      the last window, not below ``DECREASE²``) when ``CUT_FRACTION`` (and at least
      ``CUT_EVIDENCE``) of the answers of the last ``EVIDENCE_WINDOWS`` windows (at least
      ``EVIDENCE_ANSWERS`` answers) were refusals:
      a rate well above the server's limit is refused that often, while refusals that come at
      any rate (a server shedding load at random) are noise that would otherwise drag the rate
      down for good. A probe of the level refused last is cut at its first refusal. One cut per
      rate: refusals of requests sent before the last cut say nothing about the new rate.
    * :meth:`clean` raises it by about one request per second per window of clean answers, only
      while requests fill the window (a rate not used is not tested). The level refused last is
      approached slowly (``PROBE_WINDOWS`` windows, doubling each time it is refused again), so
      a server with a fixed limit sees about one refusal per probe, not one per window.
    * The rate stays within [``floor``, ``qps``]. The window's capacity is a whole number of
      requests (``int(rate)``); below one request per second, one request per ``1 / rate`` s.

    Hand-written too: no maintained Python library does AIMD over a sliding-window log (the
    adaptive ones adjust token buckets or concurrency, see above).

    Waiting tasks queue on one asyncio lock (FIFO, so it is fair) and sleep until the oldest
    entry leaves the window or an answer arrives: no busy waiting. Time is ``time.monotonic()``.

    With ``shared`` (``LIVEKIT_REDIS_URL``), a request admitted here also takes a slot of the
    same window in Redis, held the same way, so that every process of one app together stays
    under the ceiling (:mod:`livekit.api.shared`).
    """

    def __init__(
        self,
        qps: float,
        window: float = 1.0,
        margin: float = 0.03,
        *,
        floor: float = RATE_FLOOR,
        name: str = "",
        shared: SharedWindow | None = None,
    ) -> None:
        if not qps > 0 or math.isinf(qps):
            raise ValueError("qps must be a positive finite number")
        self.name = name
        self.shared = shared
        self.ceiling = float(qps)
        self.floor = min(float(floor), self.ceiling)
        self.window = window
        self.margin = margin
        self.rate = self.ceiling
        self._set_rate(self.ceiling)
        self._done: list[float] = []  # heap of the times requests finished (or were sent)
        self._in_flight = 0
        self._lock = asyncio.Lock()
        self._finished = asyncio.Event()
        self._cut_at = -math.inf  # when the rate was last cut
        self._raised_at = -math.inf  # when the capacity last went up
        self._limited_rate: float | None = None  # the rate that was rate limited last
        self._probe_windows = PROBE_WINDOWS
        self._clean_at_level = 0  # clean answers to requests sent since the capacity went up
        self._clean_times: collections.deque[float] = collections.deque()
        self._answers: collections.deque[bool] = collections.deque(maxlen=256)  # True: limited
        self._first_taken: float | None = None
        self._saturated_at = -math.inf  # when a request last filled the window
        self.last_clean = -math.inf  # monotonic time of the last clean answer

    def __repr__(self) -> str:
        label = f"{self.name}, " if self.name else ""
        return f"RateLimiter({label}rate={self.rate:.2f}, ceiling={self.ceiling:g})"

    def _set_rate(self, rate: float) -> None:
        self.rate = min(self.ceiling, max(self.floor, rate))
        if self.rate >= 1:
            self.capacity = int(self.rate)
            self.span = self.window + self.margin
        else:  # fewer than one request per window: one request per 1/rate windows
            self.capacity = 1
            self.span = self.window / self.rate + self.margin

    # ---- AIMD -----------------------------------------------------------------------------
    def rate_limited(self, sent_at: float) -> bool:
        """A request sent at ``sent_at`` got a rate-limit answer: cut the rate (True if cut)."""
        self._answers.append(True)
        if sent_at < self._cut_at:
            return False  # sent under an older, higher rate: already answered by that cut
        recent = list(self._answers)[-max(EVIDENCE_WINDOWS * self.capacity, EVIDENCE_ANSWERS) :]
        refused = sum(recent)
        # at least two windows' worth of answers behind a fraction: early ones are few
        needed = max(CUT_EVIDENCE, CUT_FRACTION * max(len(recent), 2 * self.capacity))
        if not self.probing:  # a probe of a level limited before needs no more evidence
            if refused < needed:
                return False
            if time.monotonic() - self._cut_at < 2 * self.span:
                return False  # the refusals behind the last cut are still in the sample
        self.cut()
        return True

    @property
    def probing(self) -> bool:
        """True while the rate is at (or above) the level that was rate limited last."""
        bad = self._limited_rate
        if bad is None:
            return False
        if bad >= 1 and self.rate >= 1:
            return self.capacity >= int(bad)
        return self.rate >= bad

    def cut(self) -> None:
        """Cut the rate by ``DECREASE`` now, and remember the level that was limited."""
        if self.probing:
            self._probe_windows = min(PROBE_WINDOWS_MAX, self._probe_windows * 2)
        else:
            self._probe_windows = PROBE_WINDOWS
        self._limited_rate = self.rate
        # The clean answers of the last window say what the server accepted: after a burst far
        # above its limit, go there at once (not below DECREASE², answers may be in flight).
        now = time.monotonic()
        accepted = sum(1 for t in self._clean_times if now - t < self.span)
        rate = min(self.rate * DECREASE, max(accepted, self.rate * DECREASE**2))
        if self.capacity >= 2:  # a cut lowers the window's capacity by one request at least
            rate = min(rate, self.capacity - 0.5)
        self._set_rate(rate)
        logger.debug("rate limited: %s, next probe after %d windows", self, self._probe_windows)
        self._cut_at = time.monotonic()
        self._clean_at_level = 0

    def clean(self, sent_at: float) -> None:
        """A request sent at ``sent_at`` was answered without a rate limit: raise the rate."""
        now = time.monotonic()
        self._answers.append(False)
        self.last_clean = now
        self._clean_times.append(now)
        while self._clean_times and now - self._clean_times[0] > OBSERVED_SPAN:
            self._clean_times.popleft()
        if self.rate >= self.ceiling or now - self._saturated_at > 2 * self.span:
            return  # not using the rate it has: a higher one would be untested
        step = 1 / self.rate if self.rate >= 1 else self.rate  # ~ +1 req/s per window
        bad = self._limited_rate
        if bad is not None:
            near = int(self.rate) + 1 >= int(bad) if self.rate >= 1 else self.rate >= bad * DECREASE
            if near:
                step /= self._probe_windows
            if self.capacity >= int(bad) and sent_at >= self._raised_at:
                self._clean_at_level += 1
                if self._clean_at_level >= 2 * self.capacity:  # two clean windows: it holds
                    self._limited_rate = None
                    self._probe_windows = PROBE_WINDOWS
        before = self.capacity
        self._set_rate(self.rate + step)
        if self.capacity > before:
            logger.debug("clean answers: %s", self)
            self._raised_at = now
            self._clean_at_level = 0
        self._finished.set()  # a waiting task may fit now

    def snapshot(self) -> tuple[float, float | None, int]:
        return self.rate, self._limited_rate, self._probe_windows

    def restore(self, state: tuple[float, float | None, int]) -> None:
        """Undo cuts that turned out to belong to one endpoint's own limit."""
        rate, self._limited_rate, self._probe_windows = state
        self._set_rate(max(rate, self.rate))
        self._finished.set()

    def observed_rate(self) -> float:
        """Clean answers per second over the last minute (or since the first request)."""
        if self._first_taken is None:
            return 0.0
        now = time.monotonic()
        while self._clean_times and now - self._clean_times[0] > OBSERVED_SPAN:
            self._clean_times.popleft()
        elapsed = min(OBSERVED_SPAN, max(now - self._first_taken, self.window))
        return len(self._clean_times) / elapsed

    # ---- the sliding window -----------------------------------------------------------------
    async def _take(self, *, in_flight: bool = True) -> tuple[float, str | None]:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._done and now - self._done[0] >= self.span:
                    heapq.heappop(self._done)
                if self._in_flight + len(self._done) < self.capacity:
                    member = None
                    filled = self._in_flight + len(self._done) + 1 >= self.capacity
                    if self.shared is not None:  # then the window of every process, in Redis
                        grant = await self.shared.take(
                            self.capacity, self.span, in_flight=in_flight
                        )
                        member, now = grant.member, time.monotonic()
                        filled = filled or grant.filled  # the workers together used the rate
                    if filled:
                        self._saturated_at = now  # this request fills the window
                    self._in_flight += 1
                    if self._first_taken is None:
                        self._first_taken = now
                    return now, member
                # Full: wake when the oldest entry leaves the window, or when an answer arrives
                # (an in-flight request then gets a known expiry) or the rate goes up.
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
        now, _ = await self._take(in_flight=False)
        self._finish(now)
        return now

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold a slot while one request is sent and answered (see the class docstring)."""
        taken, member = await self._take()
        try:
            yield taken
        finally:
            self._finish()
            if self.shared is not None and member is not None:
                await self.shared.finish(member, self.span)


@dataclass(frozen=True)
class Ticket:
    """One request that went through a :class:`RateControl` slot."""

    endpoint: str
    sent_at: float


@dataclass(frozen=True)
class _Limited:
    endpoint: str
    at: float  # monotonic time of the answer
    probing: bool  # the upstream was probing a level limited before: the likelier culprit
    state: tuple[float, float | None, int]  # the upstream limiter before this answer
    clean_total: int  # clean answers of the upstream so far
    clean_here: int  # clean answers of this endpoint so far


ENDPOINT_EVIDENCE = 3  # rate-limit answers in a row on one endpoint, while others succeed


class RateControl:
    """The adaptive rate of one upstream: its :class:`RateLimiter`, plus one per endpoint that
    turns out to have a lower limit of its own.

    A rate-limit answer counts against the upstream's rate, unless the last
    ``ENDPOINT_EVIDENCE`` of them all came from one endpoint (at least ``CUT_FRACTION`` of its
    answers meanwhile), spread over two windows or more,
    while the upstream ran at a rate not limited before and the other endpoints got at least as
    many clean answers as that endpoint got answers (the upstream had room): then the limit is
    that endpoint's. It gets its own limiter (layered under the upstream's, starting below
    the rate it was just sent at) and the cuts it caused to the upstream are undone. Later
    rate-limit answers on that endpoint cut only its own rate. Both climb back while clean.
    """

    def __init__(
        self,
        qps: float,
        *,
        window: float = 1.0,
        margin: float = 0.03,
        name: str = "",
        shared: SharedLimits | None = None,
        shared_key: str = "",
    ) -> None:
        self.name = name
        self._shared = shared
        self._shared_key = shared_key or name
        self.upstream = RateLimiter(
            qps, window, margin, name=name, shared=self._shared_window(self._shared_key)
        )
        self.endpoints: dict[str, RateLimiter] = {}
        self._window = window
        self._margin = margin
        self._recent: collections.deque[_Limited] = collections.deque(maxlen=ENDPOINT_EVIDENCE)
        self._clean: collections.Counter[str] = collections.Counter()
        self._sent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._last_clean: dict[str, float] = {}

    @property
    def qps(self) -> float:
        return self.upstream.ceiling

    def _shared_window(self, key: str) -> SharedWindow | None:
        return self._shared.window(key) if self._shared is not None else None

    @contextlib.asynccontextmanager
    async def slot(
        self, endpoint: str, semaphore: asyncio.Semaphore | None = None
    ) -> AsyncIterator[Ticket]:
        """Endpoint slot (if it has its own limit), then ``semaphore``, then the upstream slot.

        The endpoint's slot comes first so that tasks waiting on a slow endpoint hold neither
        a semaphore permit nor the upstream's queue: the other endpoints keep the rate up.
        """
        own = self.endpoints.get(endpoint)
        async with contextlib.AsyncExitStack() as stack:
            if own is not None:
                await stack.enter_async_context(own.slot())
            if semaphore is not None:
                await stack.enter_async_context(semaphore)
            sent_at = await stack.enter_async_context(self.upstream.slot())
            sent = self._sent[endpoint]
            sent.append(sent_at)
            while sent and sent_at - sent[0] > 2 * self._window:
                sent.popleft()
            yield Ticket(endpoint, sent_at)

    def clean(self, ticket: Ticket) -> None:
        """The request was answered without a rate limit."""
        self.upstream.clean(ticket.sent_at)
        own = self.endpoints.get(ticket.endpoint)
        if own is not None:
            own.clean(ticket.sent_at)
        self._clean[ticket.endpoint] += 1
        self._last_clean[ticket.endpoint] = time.monotonic()

    def rate_limited(self, ticket: Ticket) -> None:
        """The request got a rate-limit answer: cut the rate of whoever set the limit."""
        endpoint = ticket.endpoint
        own = self.endpoints.get(endpoint)
        if own is not None:
            own.rate_limited(ticket.sent_at)
            return
        event = _Limited(
            endpoint,
            time.monotonic(),
            self.upstream.probing,
            self.upstream.snapshot(),
            sum(self._clean.values()),
            self._clean[endpoint],
        )
        self._recent.append(event)
        first = self._recent[0]
        if (
            len(self._recent) == ENDPOINT_EVIDENCE
            and all(e.endpoint == endpoint and not e.probing for e in self._recent)
            and event.at - first.at >= 2 * self._window
        ):  # a steady pattern, not one burst
            here = self._clean[endpoint] - first.clean_here + ENDPOINT_EVIDENCE
            others = sum(self._clean.values()) - first.clean_total - (here - ENDPOINT_EVIDENCE)
            often = CUT_FRACTION * here <= ENDPOINT_EVIDENCE  # not the odd refusal among many
            if often and others >= max(here, ENDPOINT_EVIDENCE):
                self._split(endpoint, ticket, first.state)
                return
        self.upstream.rate_limited(ticket.sent_at)

    def _split(
        self, endpoint: str, ticket: Ticket, before: tuple[float, float | None, int]
    ) -> None:
        span = self._window + self._margin
        sent_recently = sum(1 for t in self._sent[endpoint] if ticket.sent_at - t < span)
        own = RateLimiter(
            self.upstream.ceiling,
            self._window,
            self._margin,
            name=f"{self.name} {endpoint}",
            shared=self._shared_window(f"{self._shared_key}:{endpoint}"),
        )
        own._set_rate(max(sent_recently, 1.0))
        own.cut()  # below the rate it was limited at, probing back slowly
        self.endpoints[endpoint] = own
        self.upstream.restore(before)
        self._recent.clear()
        logger.info(
            "%s has a rate limit of its own: about %.2f req/s from now on", endpoint, own.rate
        )

    def last_clean(self, endpoint: str) -> float:
        """Monotonic time of the last clean answer of ``endpoint`` (-inf if none)."""
        return self._last_clean.get(endpoint, -math.inf)

    def observed_rate(self, endpoint: str | None = None) -> float:
        """Clean answers per second over the last minute, of the upstream or one endpoint."""
        own = self.endpoints.get(endpoint) if endpoint is not None else None
        return (own or self.upstream).observed_rate()


# ---- retries ------------------------------------------------------------------------------
RETRYABLE: tuple[type[ApiError], ...] = (UpstreamError, RateLimited)


def _backoff(settings: Settings, n: int) -> float:
    """``min(wait_max, wait_initial * 2**(n-1) + U(0, wait_initial))`` for the n-th retry."""
    initial = settings.retry_wait_initial
    grown = initial * 2.0 ** min(n - 1, 60) + random.uniform(0, initial)
    return min(settings.retry_wait_max, grown)


def _rate_text(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"


def deadline_error(exc: RateLimited, settings: Settings, rates: RateControl | None) -> RateLimited:
    """The one error for a request rate limited past ``LIVEKIT_RATE_LIMIT_DEADLINE``."""
    allowed = rates.observed_rate() if rates is not None else 0.0
    deadline = f"{settings.rate_limit_deadline:g}"
    if allowed > 0:
        suggest = _rate_text(math.floor(allowed) if allowed >= 1 else allowed)
        advice = (
            f"服务器实际只允许约 {_rate_text(allowed)} 次/秒（LIVEKIT_QPS={settings.qps:g}），"
            f"该接口超过 {deadline} 秒一直被限流：请设置 LIVEKIT_QPS={suggest} 后重试，"
            "或调大 LIVEKIT_RATE_LIMIT_DEADLINE。"
        )
    else:
        advice = (
            f"服务器在 {deadline} 秒内没有接受任何请求（实际允许 0 次/秒）："
            "请稍后再试，或设置更低的 LIVEKIT_QPS（如 LIVEKIT_QPS=1）、"
            "调大 LIVEKIT_RATE_LIMIT_DEADLINE。"
        )
    return RateLimited(
        exc.platform,
        exc.endpoint,
        exc.code,
        exc.message,
        sub_code=exc.sub_code,
        request_id=exc.request_id,
        advice=advice,
    )


async def _patient(
    operation: Callable[[], Awaitable[T]],
    *,
    settings: Settings,
    rates: RateControl | None,
    platform: Platform,
    endpoint: str,
) -> T:
    """Run ``operation``, retrying rate-limit answers until ``LIVEKIT_RATE_LIMIT_DEADLINE``.

    Rate limits are not failures: the server answers, just not yet. They do not use up
    ``LIVEKIT_RETRY_ATTEMPTS``; each one backs off (exponentially, like a failure) while the
    :class:`RateControl` lowers the rate. A request gives up only when it has been rate limited
    for longer than the deadline and its endpoint has had no clean answer in that time.
    """
    first: float | None = None
    n = 0
    while True:
        try:
            return await operation()
        except RateLimited as exc:
            now = time.monotonic()
            first = now if first is None else first
            n += 1
            deadline = settings.rate_limit_deadline
            last_clean = rates.last_clean(endpoint) if rates is not None else -math.inf
            if now - first > deadline and now - last_clean > deadline:
                logger.warning(
                    "giving up on %s %s: rate limited for %.0fs (code %s)",
                    platform,
                    endpoint,
                    now - first,
                    exc.code,
                )
                raise deadline_error(exc, settings, rates) from None
            backoff = _backoff(settings, n)
            logger.info(
                "%s %s rate limited (code %s), %d in a row; retrying in %.2fs",
                platform,
                endpoint,
                exc.code,
                n,
                backoff,
            )
            await asyncio.sleep(backoff)


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    settings: Settings,
    limiter: RateControl | None,
    platform: Platform,
    endpoint: str,
    retry_on: tuple[type[ApiError], ...] = RETRYABLE,
) -> T:
    """Run ``operation``; retry rate limits patiently and ``retry_on`` failures a few times.

    Rate-limit answers are retried by :func:`_patient` (deadline, not attempts). Other
    ``retry_on`` errors (UpstreamError …) are retried up to ``LIVEKIT_RETRY_ATTEMPTS`` times
    with backoff ``min(wait_max, wait_initial * 2**(n-1) + U(0, wait_initial))``.

    Built on ``stamina.retry_context``, not the decorator: stamina's retry hooks log the
    decorated callable's arguments, which could carry tokens. Only endpoint, code and attempt
    number are logged here.
    """
    attempts = settings.retry_attempts
    failures = tuple(kind for kind in retry_on if not issubclass(kind, RateLimited))

    async def patient() -> T:
        if RateLimited not in retry_on:
            return await operation()
        return await _patient(
            operation, settings=settings, rates=limiter, platform=platform, endpoint=endpoint
        )

    async for attempt in stamina.retry_context(
        on=failures,
        attempts=attempts,
        timeout=None,  # bounded by attempts; a total deadline would cut long paginations
        wait_initial=settings.retry_wait_initial,
        wait_max=settings.retry_wait_max,
        wait_jitter=settings.retry_wait_initial,
    ):
        with attempt:
            try:
                return await patient()
            except failures as exc:
                if attempt.num < attempts:
                    logger.info(
                        "retrying %s %s after %s (code %s), attempt %d of %d, backoff %.2fs",
                        platform,
                        endpoint,
                        type(exc).__name__,
                        exc.code,
                        attempt.num,
                        attempts,
                        attempt.next_wait,
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


TokenGetter = Callable[[], Awaitable[str]]


async def call_with_token(
    send_with: Callable[[TokenGetter], Awaitable[T]],
    tokens: TokenSource,
    *,
    settings: Settings,
    limiter: RateControl,
    platform: Platform,
    endpoint: str,
) -> T:
    """Call ``send_with(get_token)`` with retries; a rejected token is refreshed once, retried.

    ``send_with`` awaits ``get_token()`` only once it holds its rate-limiter slot, right before
    sending: a token read before a long wait (rate limit, backoff, an upstream-wide pause) could
    expire while waiting, and every attempt would then be rejected, refreshed and rejected again.

    A rejected access token (expired, revoked) is refreshed with ``refresh_after_failure`` and
    the call retried once. If the fresh token is rejected too, the attempt fails and the retry
    policy takes over: the next attempt refreshes again. A real loss of authorization shows up
    as a failing refresh (ReauthorizeRequired at once); a fresh token rejected on every attempt
    ends as ReauthorizeRequired too. (Giving up after the first double rejection would turn the
    rare but recoverable "revoked twice in a row" into a forced re-login.)
    """
    rejected: list[str] = []  # the last token rejected at the end of an attempt

    async def attempt() -> T:
        used: list[str] = []

        async def first_token() -> str:
            if rejected:
                token = await tokens.refresh_after_failure(rejected.pop())
            else:
                token = await tokens.access_token()
            used.append(token)
            return token

        async def fresh_token() -> str:
            token = await tokens.refresh_after_failure(used[-1])
            used.append(token)
            return token

        try:
            return await send_with(first_token)
        except AccessTokenRejected:
            pass
        try:
            return await send_with(fresh_token)
        except AccessTokenRejected:
            rejected.append(used[-1])
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


async def paced_send(
    http: httpx.AsyncClient,
    rates: RateControl,
    semaphore: asyncio.Semaphore,
    *,
    platform: Platform,
    endpoint: str,
    build: Callable[[], Awaitable[httpx.Request]],
    unwrap: Callable[[Any], Any],
) -> Any:
    """Wait for a slot, then ``build()`` the request (reading the token now), send, unwrap.

    The answer feeds the adaptive rate: a rate-limit answer cuts it, any other answer that
    carries data raises it.
    """
    async with rates.slot(endpoint, semaphore) as ticket:
        request = await build()
        response = await send(http, request, platform=platform, endpoint=endpoint)
    try:
        data = unwrap(parse_json_body(response, platform=platform, endpoint=endpoint))
    except RateLimited:
        rates.rate_limited(ticket)
        raise
    rates.clean(ticket)
    return data


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
