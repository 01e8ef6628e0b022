"""``Client``: one HTTP connection pool, one adaptive rate and semaphore per upstream, tokens.

::

    async with Client(load_settings()) as client:
        rooms = await client.qianchuan.rooms(adv, aweme, day, ["stat_cost"])
        orders = await client.doudian.order_pages(start, end)

``.qianchuan`` and ``.doudian`` are created on first use, so a missing 抖店 configuration fails
(ConfigError) only when 抖店 is used. A Client belongs to the event loop it is used in.

With ``LIVEKIT_REDIS_URL`` set, both upstreams' rate-limit windows are shared through Redis,
per app (``livekit.api.shared``), and so is the token set (``livekit.api.tokens_redis``, on the
same connection pool); without it nothing imports redis.

With ``settings.shop`` (a shop of the shops file, :mod:`livekit.shops`) the client uses the
token set entries that cover that shop (:func:`livekit.api.auth.entry_for_shop`); none →
ReauthorizeRequired naming the shop and the login command, on first use.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from livekit.api.auth import TokenManager, TokenStore, open_token_store
from livekit.api.doudian import DoudianClient
from livekit.api.http import RateControl, install_log_redaction, make_timeout
from livekit.api.qianchuan import QianchuanClient
from livekit.config import Settings
from livekit.shops import current_shop

if TYPE_CHECKING:
    from livekit.api.shared import SharedLimits


class Client:
    """Async client of both platforms; use as ``async with Client(settings) as client``."""

    def __init__(self, settings: Settings) -> None:
        install_log_redaction()
        self.settings = settings
        shop = current_shop(settings) if settings.shop is not None else None  # before any pool
        self.http = httpx.AsyncClient(
            timeout=make_timeout(settings),
            limits=httpx.Limits(
                max_connections=2 * settings.concurrency + 4,
                max_keepalive_connections=2 * settings.concurrency,
            ),
            follow_redirects=False,
        )
        self.shared: SharedLimits | None = None
        if settings.redis_url is not None:
            from livekit.api.shared import SharedLimits

            # An in-flight slot frees itself after this long (a crashed worker's): longer than
            # a token refresh plus the request itself can take.
            hold = 2 * settings.http_timeout + 2.0
            self.shared = SharedLimits(settings.redis_url.get_secret_value(), hold=hold)
        self.token_store: TokenStore = open_token_store(
            settings, redis=self.shared.redis if self.shared is not None else None
        )
        self._qianchuan: QianchuanClient | None = None
        self._doudian: DoudianClient | None = None
        self.qianchuan_tokens = TokenManager(
            settings, self.http, "qianchuan", store=self.token_store, shop=shop
        )
        self.doudian_tokens = TokenManager(
            settings, self.http, "doudian", store=self.token_store, shop=shop
        )

    def __repr__(self) -> str:
        return f"Client(home={str(self.settings.home)!r})"

    @property
    def qianchuan(self) -> QianchuanClient:
        """The 巨量千川 client (ConfigError if its app id or secret is missing)."""
        if self._qianchuan is None:
            app_id, _ = self.settings.require_qianchuan()
            self._qianchuan = QianchuanClient(
                self.http,
                self.settings,
                self.qianchuan_tokens,
                RateControl(
                    self.settings.qps,
                    name="qianchuan",
                    shared=self.shared,
                    shared_key=f"qianchuan:{app_id}",
                ),
                asyncio.Semaphore(self.settings.concurrency),
            )
        return self._qianchuan

    @property
    def doudian(self) -> DoudianClient:
        """The 抖店 client (ConfigError if its app key or secret is missing)."""
        if self._doudian is None:
            app_key, _ = self.settings.require_doudian()
            self._doudian = DoudianClient(
                self.http,
                self.settings,
                self.doudian_tokens,
                RateControl(
                    self.settings.qps,
                    name="doudian",
                    shared=self.shared,
                    shared_key=f"doudian:{app_key}",
                ),
                asyncio.Semaphore(self.settings.concurrency),
            )
        return self._doudian

    async def aclose(self) -> None:
        try:
            await self.http.aclose()
        finally:
            try:
                await self.token_store.aclose()  # its Redis pool is the shared one's: left open
            finally:
                if self.shared is not None:
                    await self.shared.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
