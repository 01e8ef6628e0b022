"""Rate-limit windows shared through Redis, so that N workers together stay under one ceiling.

Used only when ``LIVEKIT_REDIS_URL`` is set (``pip install douyin-livekit[redis]``); ``redis`` is
imported when a :class:`SharedLimits` is made, never by ``import livekit``.

The upstream counts the requests of one *app* in a sliding one-second window, whichever machine
sends them. So each :class:`livekit.api.http.RateLimiter` window (one per upstream, one per
endpoint with a limit of its own) becomes one Redis sorted set, ``livekit:rate:<platform>:<app>``
(``…:<endpoint>`` for an endpoint's own window):

* a member is one request (a random id); its score is when its slot frees, in **microseconds
  on the Redis server's clock** (``TIME``): one clock for every machine, and fine enough that
  two grants never share a stamp (millisecond stamps let 13 through a 10/s window in a trial);
* :data:`WINDOW_LUA` drops the freed slots, and grants a new one if fewer than ``capacity``
  remain, atomically (a Lua script runs alone on the server). ``capacity`` comes with every call,
  so the caller's adaptive rate (AIMD) applies at once. A refused caller gets the microseconds
  until the oldest slot frees and sleeps that long (capped), never busy-looping;
* in-flight slots as in the local limiter: a granted slot is stored as freeing at
  ``now + hold`` (longer than a request can take, so a crashed worker's slot frees itself), and
  :data:`FINISH_LUA` moves it to ``answer + window + margin`` when the answer arrives. The plain
  variant (:meth:`SharedWindow.take` with ``in_flight=False``) frees at ``now + span``.

Then no sliding second of the server's holds more than ``capacity`` requests from all workers
together, whatever the latency, as for one process.

Each process keeps its own AIMD state: the capacity it passes is its own rate, never above
``LIVEKIT_QPS``, so the shared ceiling holds whichever worker's rate is in force; a worker that
cut its rate takes fewer slots while another may still take up to its own. A grant says whether
the shared window was full (:attr:`Grant.filled`): then the workers together used the rate, and
a worker's rate may climb back after a cut even though its own share never filled its own
window. (Sharing the AIMD state itself is not built yet.)

Hand-written Lua on purpose: the ``limits`` library stamps requests with the client's clock and
counts whole-second windows, with no in-flight slots; ``pyrate-limiter`` fixes its rates when
it is built, so an adaptive rate cannot change them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livekit.config import ConfigError

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("livekit.api")

KEY_PREFIX = "livekit:rate:"
MAX_WAIT = 0.25  # seconds a refused caller sleeps at most before asking again
MIN_WAIT = 0.001

# KEYS[1]: the window's slots. ARGV[1]: capacity; ARGV[2]: the request's id; ARGV[3]: µs until
# the new slot frees. Returns {1, now, slots taken now} (granted) or {0, µs until the oldest
# slot frees}.
WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local hold = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + hold, ARGV[2])
  local ttl = math.ceil(hold / 1000) + 1000
  if redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
  return {1, now, redis.call('ZCARD', KEYS[1])}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) - now}
"""

# KEYS[1]: the window's slots. ARGV[1]: the request's id; ARGV[2]: µs the slot still counts
# after the answer (window + margin). XX: a slot already freed (held too long) stays freed.
FINISH_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
"""


def _unreachable(exc: Exception) -> ConfigError:
    return ConfigError(
        f"无法使用 LIVEKIT_REDIS_URL 指向的 Redis（{type(exc).__name__}）：请检查地址、密码和网络"
    )


class SharedLimits:
    """One Redis connection pool behind every shared window of one :class:`Client`."""

    def __init__(self, url: str, *, hold: float) -> None:
        try:
            import redis.asyncio
        except ImportError:
            raise ConfigError(
                "设置了 LIVEKIT_REDIS_URL，但没有安装 redis 包：请安装 douyin-livekit[redis]"
            ) from None

        self.hold = hold  # seconds an in-flight slot counts at most (a crashed worker's frees)
        self.redis: Redis = redis.asyncio.from_url(url)
        self._window = self.redis.register_script(WINDOW_LUA)
        self._finish = self.redis.register_script(FINISH_LUA)

    def __repr__(self) -> str:
        return "SharedLimits(redis)"  # never the URL: it may carry a password

    def window(self, name: str) -> SharedWindow:
        return SharedWindow(self, KEY_PREFIX + name)

    async def call_window(self, key: str, capacity: int, member: str, free_in: int) -> list[int]:
        return await self._run(self._window, key, capacity, member, free_in)  # type: ignore[no-any-return]

    async def call_finish(self, key: str, member: str, span: int) -> None:
        await self._run(self._finish, key, member, span)

    async def _run(self, script: Any, key: str, *args: object) -> Any:
        from redis.exceptions import RedisError

        try:
            return await script(keys=[key], args=list(args))
        except RedisError as exc:
            raise _unreachable(exc) from None

    async def aclose(self) -> None:
        await self.redis.aclose()


@dataclass(frozen=True)
class Grant:
    """A slot of a shared window."""

    member: str  # its id, for :meth:`SharedWindow.finish`
    at: int  # when it was granted: µs on the Redis server's clock
    filled: bool  # the window was full (all workers together used the rate): it was tested


class SharedWindow:
    """One sliding window in Redis (see the module docstring)."""

    def __init__(self, limits: SharedLimits, key: str) -> None:
        self.limits = limits
        self.key = key

    def __repr__(self) -> str:
        return f"SharedWindow({self.key!r})"

    async def take(self, capacity: int, span: float, *, in_flight: bool) -> Grant:
        """Wait for a slot (see :class:`Grant`)."""
        member = uuid.uuid4().hex
        free_in = self.limits.hold if in_flight else span
        waited = False
        while True:
            answer = await self.limits.call_window(self.key, capacity, member, round(free_in * 1e6))
            if answer[0]:
                return Grant(member, answer[1], waited or answer[2] >= capacity)
            waited = True
            await asyncio.sleep(min(MAX_WAIT, max(MIN_WAIT, answer[1] / 1e6)))

    async def finish(self, member: str, span: float) -> None:
        """The answer arrived: the slot frees ``span`` seconds from now (Redis' clock)."""
        try:
            await self.limits.call_finish(self.key, member, round(span * 1e6))
        except ConfigError:  # the slot frees itself after ``hold``; the answer is not lost
            logger.warning("could not release a shared rate-limit slot; it frees itself later")
