"""巨量千川 / Ocean Engine client: GET with the ``Access-Token`` header, envelope → typed errors.

Envelope: HTTP 200 with ``{code, message, request_id, data}``; ``code == 0`` is success
(protocols.md §1). Paths are relative to ``LIVEKIT_QIANCHUAN_BASE_URL`` and end with a slash.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

import httpx

from livekit.api.errors import (
    AccessTokenRejected,
    ApiError,
    BadParameter,
    PermissionDenied,
    Platform,
    RateLimited,
    ReauthorizeRequired,
    UpstreamError,
)
from livekit.api.http import (
    RateControl,
    TokenGetter,
    TokenSource,
    call_with_token,
    encode_query,
    gather_in_order,
    paced_send,
    parse_json_body,
    send,
    with_retries,
)
from livekit.api.payload import paging_number, tag
from livekit.config import Settings

PLATFORM: Platform = "qianchuan"
logger = logging.getLogger("livekit.api")

TOKEN_PATH = "oauth2/access_token/"
REFRESH_PATH = "oauth2/refresh_token/"
ADVERTISERS_PATH = "oauth2/advertiser/get/"

AWEMES_PATH = "v1.0/qianchuan/aweme/authorized/get/"
ROOMS_PATH = "v1.0/qianchuan/today_live/room/get/"
ROOM_DETAIL_PATH = "v1.0/qianchuan/today_live/room/detail/get/"
ROOM_FLOW_PATH = "v1.0/qianchuan/today_live/room/flow_performance/get/"
ROOM_USER_PATH = "v1.0/qianchuan/today_live/room/user/get/"
ROOM_PRODUCTS_PATH = "v1.0/qianchuan/today_live/room/product_list/get/"
LIVE_REPORT_PATH = "v1.0/qianchuan/report/live/get/"
ADVERTISER_REPORT_PATH = "v1.0/qianchuan/report/advertiser/get/"
ROOM_ANALYSIS_PATH = "v3.0/report/live_room/analysis/get/"

ANALYSIS_MAX_ROOM_IDS = 100  # room ids per v3.0 analysis call

# Documented page sizes, largest first. Report endpoints: the sources disagree (500 or 1000), so
# the client starts at 500, valid under both; a client told to start higher steps down once
# when a 40001 names page_size (see QianchuanClient.pages).
REPORT_PAGE_SIZES = (1000, 500)
REPORT_PAGE_SIZE = 500
LIVE_PAGE_SIZE = 100
PAGE_SIZE_STEPS: dict[str, tuple[int, ...]] = {ADVERTISER_REPORT_PATH: REPORT_PAGE_SIZES}

TOKEN_CODES = frozenset({40102, 40104, 40105})  # access token expired / empty / invalid
REAUTHORIZE_CODES = frozenset({40103, 40107, 40110})  # refresh token dead, auth code bad


def unwrap(envelope: Any, endpoint: str) -> Any:
    """``data`` of a successful envelope, or the typed error its ``code`` asks for."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("code"), int):
        raise UpstreamError(PLATFORM, endpoint, 0, "响应格式不符合预期（缺少 code）")
    code: int = envelope["code"]
    request_id = str(envelope.get("request_id") or "")
    if code == 0:
        return tag(envelope.get("data"), endpoint, request_id)
    message = str(envelope.get("message") or "")
    kind: type[ApiError]
    if code == 40100:
        kind = RateLimited
    elif code == 50000:
        kind = UpstreamError
    elif code in TOKEN_CODES:
        kind = AccessTokenRejected
    elif code in REAUTHORIZE_CODES:
        kind = ReauthorizeRequired
    elif code == 40001:
        kind = BadParameter
    elif code == 40002:
        kind = PermissionDenied
    else:
        kind = ApiError
    raise kind(PLATFORM, endpoint, code, message, request_id=request_id)


async def oauth_post(
    http: httpx.AsyncClient, settings: Settings, path: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """POST a JSON body to an ``oauth2/*`` endpoint (no access token); returns ``data``.

    Retried like any call: if a response is lost after the server rotated the refresh token, a
    retry cannot make things worse (the new pair is lost either way) and reports 40107 clearly.
    """
    url = settings.qianchuan_base_url + path

    async def once() -> dict[str, Any]:
        request = http.build_request("POST", url, json=dict(body))
        response = await send(http, request, platform=PLATFORM, endpoint=path)
        data = unwrap(parse_json_body(response, platform=PLATFORM, endpoint=path), path)
        if not isinstance(data, dict):
            raise UpstreamError(PLATFORM, path, 0, "响应格式不符合预期（data 不是对象）")
        return data

    return await with_retries(
        once, settings=settings, limiter=None, platform=PLATFORM, endpoint=path
    )


def _moment(value: date | datetime, end: bool) -> str:
    """``YYYY-MM-DD HH:MM:SS``; a bare date means its first (or, for ``end``, last) second."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.max if end else time.min)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _chunks(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class QianchuanClient:
    """Calls to 巨量千川 through one rate limiter, one semaphore and one token manager."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        tokens: TokenSource,
        limiter: RateControl,
        semaphore: asyncio.Semaphore,
        page_sizes: Mapping[str, int] | None = None,
    ) -> None:
        """``page_sizes``: page size to start with per path (default: ``REPORT_PAGE_SIZE`` on
        the ad report, 100 elsewhere); a size refused by a 40001 is stepped down once."""
        self._http = http
        self._settings = settings
        self._tokens = tokens
        self._limiter = limiter
        self._semaphore = semaphore
        self.page_sizes: dict[str, int] = {ADVERTISER_REPORT_PATH: REPORT_PAGE_SIZE}
        self.page_sizes.update(page_sizes or {})
        self._stepped_down: set[str] = set()

    def __repr__(self) -> str:
        return f"QianchuanClient(base_url={self._settings.qianchuan_base_url!r})"

    async def _send_get(self, path: str, query: dict[str, str], get_token: TokenGetter) -> Any:
        async def build() -> httpx.Request:
            return self._http.build_request(
                "GET",
                self._settings.qianchuan_base_url + path,
                params=query,
                headers={"Access-Token": await get_token()},  # read after the wait
            )

        return await paced_send(
            self._http,
            self._limiter,
            self._semaphore,
            platform=PLATFORM,
            endpoint=path,
            build=build,
            unwrap=lambda envelope: unwrap(envelope, path),
        )

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` (relative to the base URL) and return ``data``.

        Lists and objects in ``params`` are JSON-encoded. Transient failures and rate limits are
        retried; an expired or revoked access token is refreshed once and the call retried.
        """
        path = path.lstrip("/")
        query = encode_query(params or {})
        data = await call_with_token(
            lambda get_token: self._send_get(path, query, get_token),
            self._tokens,
            settings=self._settings,
            limiter=self._limiter,
            platform=PLATFORM,
            endpoint=path,
        )
        if not isinstance(data, dict):
            raise UpstreamError(PLATFORM, path, 0, "响应格式不符合预期（data 不是对象）")
        return data

    def _step_down(self, path: str, size: int, error: BadParameter) -> int | None:
        """The next documented page size below ``size`` if ``error`` is about page_size.

        Once per path and client: the size that works is kept for the rest of the run.
        """
        if "page_size" not in error.message or path in self._stepped_down:
            return None
        smaller = [s for s in PAGE_SIZE_STEPS.get(path, ()) if s < size]
        if not smaller:
            return None
        self._stepped_down.add(path)
        self.page_sizes[path] = smaller[0]
        logger.warning(
            "%s refused page_size %d (%s); using %d from now on",
            path,
            size,
            error.message,
            smaller[0],
        )
        return smaller[0]

    async def pages(
        self, path: str, params: Mapping[str, Any], list_key: str, page_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a paginated list: page 1 first, then pages 2..N concurrently, in order.

        ``page_size`` defaults to the one remembered for ``path`` (``page_sizes``).
        """
        size = page_size or self.page_sizes.get(path, LIVE_PAGE_SIZE)

        def page_params(page: int) -> dict[str, Any]:
            return {**params, "page": page, "page_size": size}

        try:
            first = await self.get(path, page_params(1))
        except BadParameter as error:
            if error.code != 40001 or (smaller := self._step_down(path, size, error)) is None:
                raise
            size = smaller
            first = await self.get(path, page_params(1))
        items: list[dict[str, Any]] = list(first.get(list_key) or [])
        info = first.get("page_info") or {}
        if info.get("total_page") is not None:
            total_page = paging_number(
                info["total_page"],
                platform=PLATFORM,
                endpoint=path,
                field="total_page",
                source=first,
            )
        else:
            field = "total_num" if "total_num" in info else "total_number"
            total = paging_number(
                info.get(field, len(items)),
                platform=PLATFORM,
                endpoint=path,
                field=field,
                source=first,
            )
            total_page = math.ceil(total / size) if total else 1
        rest = await gather_in_order(
            [self.get(path, page_params(page)) for page in range(2, total_page + 1)]
        )
        for data in rest:
            items.extend(data.get(list_key) or [])
        return items

    # ---- endpoints ----------------------------------------------------------------------
    async def advertisers(self) -> list[dict[str, Any]]:
        """Advertiser accounts granted to the app (``oauth2/advertiser/get/``).

        protocols.md puts ``access_token`` in the query here. We send it in the ``Access-Token``
        header like every other call (the sandbox accepts both): a token in a URL ends up in
        access logs and httpx's INFO log line.
        """
        data = await self.get(ADVERTISERS_PATH)
        return list(data.get("list") or [])

    async def awemes(self, advertiser_id: int) -> list[dict[str, Any]]:
        """Douyin accounts authorized to the advertiser."""
        return await self.pages(AWEMES_PATH, {"advertiser_id": advertiser_id}, "aweme_id_list", 100)

    async def rooms(
        self,
        advertiser_id: int,
        aweme_id: int,
        day: date,
        fields: Iterable[str],
        status: str = "ALL",
    ) -> list[dict[str, Any]]:
        """Live rooms of one account on one day, with the requested metric fields.

        ``status`` is the upstream ``room_status`` filter: ALL, LIVING (on air) or FINISH.
        """
        params: dict[str, Any] = {
            "advertiser_id": advertiser_id,
            "aweme_id": aweme_id,
            "date_time": day.isoformat(),
            "fields": list(fields),
        }
        if status != "ALL":
            params["room_status"] = status
        return await self.pages(ROOMS_PATH, params, "room_list", 100)

    async def room_detail(self, advertiser_id: int, room_id: int) -> dict[str, Any]:
        """One room's title, status, cover, account and times."""
        return await self.get(
            ROOM_DETAIL_PATH, {"advertiser_id": advertiser_id, "room_id": room_id}
        )

    async def room_products(
        self, advertiser_id: int, room_id: int, fields: Iterable[str]
    ) -> list[dict[str, Any]]:
        """Products of a live room (note the upstream's ``productId`` and ``live_product_Inventory``)."""
        params = {"advertiser_id": advertiser_id, "room_id": room_id, "fields": list(fields)}
        return await self.pages(ROOM_PRODUCTS_PATH, params, "list", 100)

    async def room_flow(self, advertiser_id: int, room_id: int) -> dict[str, Any]:
        """Visits of a live room by traffic source."""
        return await self.get(ROOM_FLOW_PATH, {"advertiser_id": advertiser_id, "room_id": room_id})

    async def room_audience(
        self,
        advertiser_id: int,
        room_id: int,
        action_event: str,
        dimensions: Sequence[str] = ("CITY", "GENDER", "AGE"),
    ) -> dict[str, Any]:
        """Audience of a live room (``ENTER`` or ``PAY``) by city, gender and age."""
        params = {
            "advertiser_id": advertiser_id,
            "room_id": room_id,
            "action_event": action_event,
            "dimension": list(dimensions),
        }
        return await self.get(ROOM_USER_PATH, params)

    async def live_report(
        self,
        advertiser_id: int,
        aweme_id: int,
        start: date | datetime,
        end: date | datetime,
        fields: Iterable[str],
    ) -> dict[str, Any]:
        """Metrics of the rooms started in a window within one calendar day."""
        params = {
            "advertiser_id": advertiser_id,
            "aweme_id": aweme_id,
            "start_time": _moment(start, end=False),
            "end_time": _moment(end, end=True),
            "fields": list(fields),
        }
        return await self.get(LIVE_REPORT_PATH, params)

    async def advertiser_report(
        self,
        advertiser_id: int,
        start: date,
        end: date,
        fields: Iterable[str],
        marketing_goal: str = "LIVE_PROM_GOODS",
        time_granularity: str = "TIME_GRANULARITY_DAILY",
    ) -> list[dict[str, Any]]:
        """Account-level ad report rows (at most 30 days a call upstream)."""
        params = {
            "advertiser_id": advertiser_id,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "fields": list(fields),
            "filtering": {"marketing_goal": marketing_goal},
            "time_granularity": time_granularity,
        }
        return await self.pages(ADVERTISER_REPORT_PATH, params, "list")

    async def room_analysis(
        self,
        advertiser_id: int,
        start: date | datetime,
        end: date | datetime,
        fields: Iterable[str],
        aweme_ids: Sequence[int] | None = None,
        room_ids: Sequence[int] | None = None,
    ) -> list[dict[str, Any]]:
        """T+1 room analysis rows (v3.0). More than 100 room ids are split over several calls."""
        base: dict[str, Any] = {
            "advertiser_id": advertiser_id,
            "start_time": _moment(start, end=False),
            "end_time": _moment(end, end=True),
            "fields": list(fields),
        }
        filtering: dict[str, Any] = {}
        if aweme_ids:
            filtering["aweme_ids"] = [int(a) for a in aweme_ids]
        if not room_ids:
            return await self.pages(
                ROOM_ANALYSIS_PATH, {**base, "filtering": filtering}, "list", 100
            )
        chunks = _chunks([int(r) for r in room_ids], ANALYSIS_MAX_ROOM_IDS)
        results = await gather_in_order(
            [
                self.pages(
                    ROOM_ANALYSIS_PATH,
                    {**base, "filtering": {**filtering, "room_ids": chunk}},
                    "list",
                    100,
                )
                for chunk in chunks
            ]
        )
        return [row for rows in results for row in rows]
