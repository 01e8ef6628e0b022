"""抖店 open platform client: signed POSTs, envelope → typed errors, order search.

Signing (protocols.md §2), implemented on this side of the wire (the client never imports the
sandbox): ``param_json`` is compact JSON with keys sorted at every level and non-ASCII kept;
``sign = hex(HMAC_SHA256(secret, secret + "app_key" + app_key + "method" + method + "param_json"
+ param_json + "timestamp" + timestamp + "v2" + secret))``. The call is
``POST <base>/<method with . → />?app_key&method&timestamp&v=2&sign_method=hmac-sha256&sign
[&access_token]`` with ``param_json`` as the body. Success is ``code == 10000``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import httpx

from livekit.api.errors import (
    AccessTokenRejected,
    ApiError,
    BadParameter,
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
    gather_in_order,
    paced_send,
    parse_json_body,
    send,
    with_retries,
)
from livekit.api.payload import paging_number, tag
from livekit.config import Settings

PLATFORM: Platform = "doudian"
SUCCESS = 10000
TOKEN_METHODS = frozenset({"token.create", "token.refresh"})
TOKEN_SUB_CODES = frozenset({"isv.access-token-expired", "isv.access-token-no-existed"})
PARAMETER_CODES = frozenset({40001, 40002, 40003, 40004})
RETRY_CODES = frozenset({20000, 20001, 50000, 50001, 90000})
ORDER_PAGE_SIZE = 100

SIGNATURE_ADVICE = "签名校验失败：请确认 LIVEKIT_DOUDIAN_APP_SECRET 正确；若无误，这是 livekit 签名实现的缺陷，请报告问题。"


def param_json(params: Mapping[str, Any]) -> str:
    """Canonical ``param_json``: keys sorted at every level, compact, non-ASCII kept."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(app_key: str, secret: str, method: str, body: str, timestamp: str) -> str:
    """Lowercase hex HMAC-SHA256 signature of one call (``v=2``); ``body`` is the param_json."""
    text = f"{secret}app_key{app_key}method{method}param_json{body}timestamp{timestamp}v2{secret}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def build_request(
    http: httpx.AsyncClient,
    settings: Settings,
    method: str,
    params: Mapping[str, Any],
    access_token: str | None = None,
    timestamp: int | None = None,
) -> httpx.Request:
    """A signed request for ``method``; ``access_token`` is left out on token calls."""
    app_key, secret = settings.require_doudian()
    body = param_json(params)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    query = {
        "app_key": app_key,
        "method": method,
        "timestamp": ts,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": sign(app_key, secret.get_secret_value(), method, body, ts),
    }
    if access_token is not None:
        query["access_token"] = access_token
    url = settings.doudian_base_url.rstrip("/") + "/" + method.replace(".", "/")
    return http.build_request(
        "POST",
        url,
        params=query,
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )


def unwrap(envelope: Any, method: str) -> Any:
    """``data`` of a successful envelope, or the typed error its code asks for."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("code"), int):
        raise UpstreamError(PLATFORM, method, 0, "响应格式不符合预期（缺少 code）")
    code: int = envelope["code"]
    if code == SUCCESS:
        return tag(envelope.get("data"), method, str(envelope.get("log_id") or ""))
    sub_code = str(envelope.get("sub_code") or "")
    msg = str(envelope.get("msg") or "")
    sub_msg = str(envelope.get("sub_msg") or "")
    message = f"{msg}：{sub_msg}" if msg and sub_msg and sub_msg != msg else (msg or sub_msg)
    log_id = str(envelope.get("log_id") or "")
    advice: str | None = None
    kind: type[ApiError]
    if code == 40003 and sub_code in TOKEN_SUB_CODES:
        kind = AccessTokenRejected
    elif code == 40003 and sub_code == "isv.signature-invalid":
        kind, advice = BadParameter, SIGNATURE_ADVICE
    elif code in PARAMETER_CODES:
        kind = BadParameter
    elif code == 30001:
        kind = ReauthorizeRequired
    elif code == 60000:
        kind = RateLimited
    elif method in TOKEN_METHODS and sub_code.startswith("dop.token-generate-failed"):
        kind = ReauthorizeRequired
    elif code in RETRY_CODES:
        kind = UpstreamError
    else:
        kind = ApiError
    raise kind(PLATFORM, method, code, message, sub_code=sub_code, request_id=log_id, advice=advice)


async def token_call(
    http: httpx.AsyncClient, settings: Settings, method: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """``token.create`` / ``token.refresh``: signed, without an access token; returns ``data``."""

    async def once() -> dict[str, Any]:
        request = build_request(http, settings, method, params)
        response = await send(http, request, platform=PLATFORM, endpoint=method)
        data = unwrap(parse_json_body(response, platform=PLATFORM, endpoint=method), method)
        if not isinstance(data, dict):
            raise UpstreamError(PLATFORM, method, 0, "响应格式不符合预期（data 不是对象）")
        return data

    return await with_retries(
        once, settings=settings, limiter=None, platform=PLATFORM, endpoint=method
    )


class DoudianClient:
    """Signed 抖店 calls through one rate limiter, one semaphore and one token manager."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        tokens: TokenSource,
        limiter: RateControl,
        semaphore: asyncio.Semaphore,
    ) -> None:
        settings.require_doudian()
        self._http = http
        self._settings = settings
        self._tokens = tokens
        self._limiter = limiter
        self._semaphore = semaphore

    def __repr__(self) -> str:
        return f"DoudianClient(base_url={self._settings.doudian_base_url!r})"

    async def _send(self, method: str, params: Mapping[str, Any], get_token: TokenGetter) -> Any:
        async def build() -> httpx.Request:
            # After the wait: the token read now, signed now (the timestamp is signed too).
            token = await get_token()
            return build_request(self._http, self._settings, method, params, token)

        return await paced_send(
            self._http,
            self._limiter,
            self._semaphore,
            platform=PLATFORM,
            endpoint=method,
            build=build,
            unwrap=lambda envelope: unwrap(envelope, method),
        )

    async def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Call a data method (e.g. ``order.searchList``) and return ``data``.

        Transient failures and rate limits are retried; an expired or missing access token is
        refreshed once and the call retried.
        """
        if method in TOKEN_METHODS:
            raise ValueError("token methods go through livekit.api.auth, not DoudianClient.call")
        data = await call_with_token(
            lambda get_token: self._send(method, params, get_token),
            self._tokens,
            settings=self._settings,
            limiter=self._limiter,
            platform=PLATFORM,
            endpoint=method,
        )
        if not isinstance(data, dict):
            raise UpstreamError(PLATFORM, method, 0, "响应格式不符合预期（data 不是对象）")
        return data

    async def search_orders(
        self, create_time_start: int, create_time_end: int, page: int, size: int = ORDER_PAGE_SIZE
    ) -> dict[str, Any]:
        """One page (from 0) of ``order.searchList`` by creation time, oldest first."""
        params = {
            "create_time_start": int(create_time_start),
            "create_time_end": int(create_time_end),
            "order_by": "create_time",
            "order_asc": True,  # a JSON boolean: the upstream rejects "true" strings
            "page": page,
            "size": size,
        }
        return await self.call("order.searchList", params)

    async def order_pages(
        self, create_time_start: int, create_time_end: int
    ) -> list[dict[str, Any]]:
        """Every shop order created in the window: page 0, then the rest concurrently, in order."""
        first = await self.search_orders(create_time_start, create_time_end, 0)
        orders: list[dict[str, Any]] = list(first.get("shop_order_list") or [])
        total = paging_number(
            first.get("total") or 0,
            platform=PLATFORM,
            endpoint="order.searchList",
            field="total",
            source=first,
        )
        pages = math.ceil(total / ORDER_PAGE_SIZE)
        rest = await gather_in_order(
            [
                self.search_orders(create_time_start, create_time_end, page)
                for page in range(1, pages)
            ]
        )
        for data in rest:
            orders.extend(data.get("shop_order_list") or [])
        return orders
