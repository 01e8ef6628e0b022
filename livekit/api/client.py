"""``Client``: one HTTP connection pool, one adaptive rate and semaphore per upstream, tokens.

::

    async with Client(load_settings()) as client:
        rooms = await client.qianchuan.rooms(adv, aweme, day, ["stat_cost"])
        orders = await client.doudian.order_pages(start, end)

``.qianchuan`` and ``.doudian`` are created on first use, so a missing 抖店 configuration fails
(ConfigError) only when 抖店 is used. A Client belongs to the event loop it is used in.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import httpx

from livekit.api.auth import TokenFile, TokenManager
from livekit.api.doudian import DoudianClient
from livekit.api.http import RateControl, install_log_redaction, make_timeout
from livekit.api.qianchuan import QianchuanClient
from livekit.config import Settings


class Client:
    """Async client of both platforms; use as ``async with Client(settings) as client``."""

    def __init__(self, settings: Settings) -> None:
        install_log_redaction()
        self.settings = settings
        self.http = httpx.AsyncClient(
            timeout=make_timeout(settings),
            limits=httpx.Limits(
                max_connections=2 * settings.concurrency + 4,
                max_keepalive_connections=2 * settings.concurrency,
            ),
            follow_redirects=False,
        )
        self.token_file = TokenFile(settings.tokens_path)
        self._qianchuan: QianchuanClient | None = None
        self._doudian: DoudianClient | None = None
        self.qianchuan_tokens = TokenManager(
            settings, self.http, "qianchuan", token_file=self.token_file
        )
        self.doudian_tokens = TokenManager(
            settings, self.http, "doudian", token_file=self.token_file
        )

    def __repr__(self) -> str:
        return f"Client(home={str(self.settings.home)!r})"

    @property
    def qianchuan(self) -> QianchuanClient:
        """The 巨量千川 client (ConfigError if its app id or secret is missing)."""
        if self._qianchuan is None:
            self.settings.require_qianchuan()
            self._qianchuan = QianchuanClient(
                self.http,
                self.settings,
                self.qianchuan_tokens,
                RateControl(self.settings.qps, name="qianchuan"),
                asyncio.Semaphore(self.settings.concurrency),
            )
        return self._qianchuan

    @property
    def doudian(self) -> DoudianClient:
        """The 抖店 client (ConfigError if its app key or secret is missing)."""
        if self._doudian is None:
            self.settings.require_doudian()
            self._doudian = DoudianClient(
                self.http,
                self.settings,
                self.doudian_tokens,
                RateControl(self.settings.qps, name="doudian"),
                asyncio.Semaphore(self.settings.concurrency),
            )
        return self._doudian

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
