"""抖店 open platform: signed POST calls, token.create / token.refresh, order.searchList.

Envelope ``{code, msg, sub_code, sub_msg, log_id, data}``; success is ``code == 10000``.
Amounts are integer fen, times Unix seconds (int64; 0 = has not happened as seen at ``now``),
pages count from 0.

Order fields follow the official 抖店 SDKs (the generated Go SDK ``doudian.com/open/sdk_golang``
``api/order_searchList/response``, and the Java SDK's ``order_searchList.data.ShopOrderListItem``;
see docs/upstream/orders-explanations-clicks.md §1): shop order ``exp_ship_time`` (latest
promised ship time), ``ship_time``, ``finish_time``, ``order_status``, ``main_status`` (with
21/22/39: refund completed before shipping / after shipping / after receipt),
``logistics_info[]{tracking_no, company, company_name, ship_time, delivery_id,
product_info[]}`` and ``post_addr``; sku order ``exp_ship_time``, ``ship_time``,
``logistics_receipt_time``, ``confirm_receipt_time``, ``finish_time``, ``post_addr`` and
``main_status``. The times come from ``livekit.sandbox.delivery``.

With several shops (``SandboxConfig.shops``) one app is authorized by each shop: ``token.create``
with ``authorization_self`` and an optional ``shop_id`` (default: the first shop), or with
``authorization_code`` and the code of the sandbox-only page ``/sandbox/doudian/authorize``
(the stand-in of the merchant's authorization page). The token and every refreshed pair are
bound to that shop: ``order.searchList`` serves its world, answers carry its shop_id/shop_name.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from livekit.sandbox.core import ParamError, Sandbox, dumps
from livekit.sandbox.delivery import CARRIERS
from livekit.sandbox.oauth import OAuthError
from livekit.sandbox.shapes import shape_numbers
from livekit.sandbox.shopset import ShopInfo
from livekit.sandbox.world import Order, World

AUTHORIZE_PATH = "/sandbox/doudian/authorize"

CANCEL_REASON_TIMEOUT = "超时未支付"

STATUS_DESC = {
    1: "待支付",
    105: "已支付",
    2: "备货中",
    101: "部分发货",
    3: "已发货",
    4: "已取消",
    5: "已完成",
}
# main_status codes of a completed refund (order.orderDetail's main_status comment)
REFUND_BEFORE_SHIP = 21
REFUND_AFTER_SHIP = 22
REFUND_AFTER_RECEIPT = 39


def param_json(params: Any) -> str:
    """Canonical param_json: keys sorted at every level, compact, non-ASCII kept."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(
    app_key: str,
    secret: str,
    method: str,
    pj: str,
    timestamp: str,
    sign_method: str = "hmac-sha256",
) -> str:
    s = f"{secret}app_key{app_key}method{method}param_json{pj}timestamp{timestamp}v2{secret}"
    if sign_method == "md5":
        return hashlib.md5(s.encode()).hexdigest()
    return hmac.new(secret.encode(), s.encode(), hashlib.sha256).hexdigest()


def signed_request(
    app_key: str,
    secret: str,
    method: str,
    body: dict[str, Any],
    token: str | None = None,
    timestamp: str | None = None,
) -> tuple[str, dict[str, str], bytes]:
    """(path, query, body bytes) of a correctly signed call: for demos, tests and benchmarks.

    The livekit client signs on its own side of the wire; it must not import the sandbox.
    """
    pj = param_json(body)
    ts = timestamp or str(int(time.time()))
    query = {
        "app_key": app_key,
        "method": method,
        "timestamp": ts,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": sign(app_key, secret, method, pj, ts),
    }
    if token:
        query["access_token"] = token
    return "/" + method.replace(".", "/"), query, pj.encode()


def respond(
    sb: Sandbox,
    request: Request,
    code: int,
    msg: str,
    data: Any = None,
    sub_code: str = "",
    sub_msg: str = "",
    payload: str = "",
    truncate: bool = False,
) -> Response:
    body = dumps(
        {
            "code": code,
            "msg": msg,
            "sub_code": sub_code,
            "sub_msg": sub_msg,
            "log_id": sb.request_id(request.url.path, payload),
            "data": {} if data is None else data,
        }
    )
    sb.stats.outcomes[f"doudian:{code}"] += 1
    if truncate:
        body = body[: max(1, len(body) // 2)]
    return Response(body, media_type="application/json")


def _err(sb: Sandbox, request: Request, e: ParamError) -> Response:
    code = e.code or 40004
    msg = {
        40001: "缺少必选参数",
        40002: "缺少必选参数",
        40003: "非法的参数",
        40004: "非法的参数",
    }.get(code, "错误")
    return respond(sb, request, code, msg, sub_code=e.sub_code, sub_msg=e.message)


async def endpoint(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    path = request.url.path
    sb.stats.requests[path] += 1
    method_from_path = path.strip("/").replace("/", ".")
    q = request.query_params
    raw = await request.body()
    try:
        app_key = q.get("app_key", "")
        if not app_key:
            raise ParamError("app_key 缺失", 40001, "isv.app-id-missing")
        if app_key != sb.config.doudian_app_key:
            raise ParamError("app_key 不存在", 40003, "isv.app-id-invalid")
        if not q.get("sign"):
            raise ParamError("sign 缺失", 40001, "isv.signature-missing")
        method = q.get("method", "")
        if method != method_from_path:
            raise ParamError(
                f"method 与路径不符 (method {method!r} does not match the path)",
                40003,
                "isv.parameter-format-invalid",
            )
        if q.get("v") != "2":
            raise ParamError("v 应为 2", 40003, "isv.parameter-format-invalid")
        ts = q.get("timestamp", "")
        if not ts.isdigit():
            raise ParamError("timestamp 应为 Unix 秒", 40003, "isv.timestamp-invalid")
        sign_method = q.get("sign_method", "md5")
        if sign_method not in ("hmac-sha256", "md5"):
            raise ParamError(
                "sign_method 应为 hmac-sha256 或 md5", 40003, "isv.parameter-format-invalid"
            )
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            raise ParamError(
                "param_json 不是合法的 JSON", 40003, "isv.parameter-format-invalid"
            ) from None
        if not isinstance(body, dict):
            raise ParamError("param_json 应为 JSON 对象", 40003, "isv.parameter-format-invalid")
        expected = sign(
            app_key, sb.config.doudian_app_secret, method, param_json(body), ts, sign_method
        )
        if not hmac.compare_digest(expected, q.get("sign", "")):
            raise ParamError(
                "签名校验失败 (signature does not match)", 40003, "isv.signature-invalid"
            )
    except ParamError as e:
        return _err(sb, request, e)

    now = sb.now_ts()
    if method in ("token.create", "token.refresh"):
        return _token(sb, request, method, body, now)

    token = q.get("access_token", "")
    if not token:
        return _err(sb, request, ParamError("access_token 缺失", 40001, "isv.access-token-missing"))
    try:
        at = sb.tokens.check_access(token, now)
    except OAuthError as e:
        sub = (
            "isv.access-token-expired" if e.message == "expired" else "isv.access-token-no-existed"
        )
        return respond(
            sb, request, 40003, "非法的参数", sub_code=sub, sub_msg="access_token已过期或不存在"
        )
    if not sb.allow_request("doudian", app_key, path):
        sb.stats.rate_limited[path] += 1
        return respond(
            sb, request, 60000, "访问频率超限", sub_code="isv.rate-limit", sub_msg="请求过于频繁"
        )
    fault = sb.pick_fault()
    if fault == "5xx":
        sb.stats.outcomes["doudian:5xx"] += 1
        return Response(
            b"<html><body>503 Service Unavailable</body></html>", 503, media_type="text/html"
        )
    if fault == "rate_limit":
        return respond(
            sb, request, 60000, "访问频率超限", sub_code="isv.rate-limit", sub_msg="请求过于频繁"
        )
    if fault == "revoke":
        sb.tokens.revoke(token)
        return respond(
            sb,
            request,
            40003,
            "非法的参数",
            sub_code="isv.access-token-no-existed",
            sub_msg="access_token不存在",
        )
    if fault == "slow":
        await asyncio.sleep(sb.faults.slow_seconds)
    if method != "order.searchList":
        return respond(
            sb, request, 70000, "API 不存在或已下线", sub_code="isp.api-service-off", sub_msg=method
        )
    shop = sb.shops[at.shop]
    sb.stats.shop_requests[shop.id] += 1
    try:
        data = shape_numbers(
            search_list(sb, sb.world_of(shop.index), body, now), sb.faults.number_shape
        )
    except ParamError as e:
        return _err(sb, request, e)
    return respond(
        sb, request, 10000, "success", data, payload=param_json(body), truncate=fault == "truncated"
    )


def _token(
    sb: Sandbox, request: Request, method: str, body: dict[str, Any], now: float
) -> Response:
    app = sb.config.doudian_app_key
    try:
        if method == "token.create":
            grant = body.get("grant_type")
            if grant == "authorization_self":
                shop = _shop_param(sb, body)
                pair = sb.tokens.dd_create(app, now, shop.index if shop else 0)
            elif grant == "authorization_code":
                shop = _shop_param(sb, body)
                code = str(body.get("code") or "")
                pair = sb.tokens.dd_exchange(app, code, now, shop.index if shop else None)
            else:
                raise OAuthError(
                    50001, "grant_type 无效", "dop.token-generate-failed:grant-type-invalid"
                )
        else:
            if body.get("grant_type") != "refresh_token":
                raise OAuthError(
                    50001, "grant_type 无效", "dop.token-generate-failed:grant-type-invalid"
                )
            pair = sb.tokens.dd_refresh(app, str(body.get("refresh_token", "")), now)
    except OAuthError as e:
        return respond(sb, request, e.code, "平台处理失败", sub_code=e.sub_code, sub_msg=e.message)
    bound = sb.shops[sb.tokens.grant(pair.access_token).shop]
    data = {
        "access_token": pair.access_token,
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "scope": "SCOPE",
        "shop_id": bound.shop_id,
        "shop_name": bound.name,
        "authority_id": str(bound.shop_id),
        "auth_subject_type": "MiniApp",
    }
    return respond(sb, request, 10000, "success", data)


def _shop_param(sb: Sandbox, body: dict[str, Any]) -> ShopInfo | None:
    """The shop ``token.create``'s optional ``shop_id`` names (None when absent or empty).

    A shop the app was never authorized by answers as the other failures to create a token do
    (code 50001, a ``dop.token-generate-failed`` sub code): the platform's exact code for it is
    not published; 50001 with ``…:shop-not-authorized`` is a guess in the same shape, and the
    livekit client reads any ``dop.token-generate-failed`` answer as "authorize again".
    """
    raw = body.get("shop_id")
    if raw is None or raw == "":
        return None
    text = str(raw)
    shop = (
        sb.shop_by_doudian_id(int(text))
        if not isinstance(raw, bool) and text.isascii() and text.isdigit()
        else None
    )
    if shop is None:
        raise OAuthError(
            50001,
            f"店铺 {text[:40]} 未授权该应用 (the shop has not authorized this app)",
            "dop.token-generate-failed:shop-not-authorized",
        )
    return shop


async def authorize(request: Request) -> Response:
    """``GET /sandbox/doudian/authorize?app_key=&shop_id=&state=&redirect_uri=``: the sandbox's
    stand-in of the page where a merchant authorizes an app for its shop. Approves at once and
    redirects to ``redirect_uri`` with ``code`` (single use, ``TokenLifetimes.auth_code``) and
    ``state``; the code's tokens are bound to the shop (default: the first)."""
    sb: Sandbox = request.app.state.sandbox
    sb.stats.requests[AUTHORIZE_PATH] += 1
    q = request.query_params
    if q.get("app_key") != sb.config.doudian_app_key:
        return HTMLResponse("<h1>授权失败</h1><p>app_key 不存在 (unknown app_key)</p>", 400)
    raw = q.get("shop_id", "")
    shop: ShopInfo | None = sb.shops[0]
    if raw:
        shop = sb.shop_by_doudian_id(int(raw)) if raw.isascii() and raw.isdigit() else None
    if shop is None:
        return HTMLResponse(
            "<h1>授权失败</h1><p>shop_id 不是本沙盒的店铺 (unknown shop_id)</p>", 400
        )
    redirect_uri = q.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")):
        return HTMLResponse("<h1>授权失败</h1><p>redirect_uri 无效 (invalid redirect_uri)</p>", 400)
    code = sb.tokens.dd_new_code(sb.config.doudian_app_key, sb.now_ts(), shop.index)
    parts = urlsplit(redirect_uri)
    query = [*parse_qsl(parts.query), ("code", code), ("state", q.get("state", ""))]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), 302)


def _int(body: dict[str, Any], name: str, required: bool = False) -> int | None:
    if name not in body:
        if required:
            raise ParamError(f"{name} 缺失 (required)", 40002, "isv.missing-parameter")
        return None
    value = body[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or not (str(value).isascii() and str(value).removeprefix("-").isdigit())
    ):
        raise ParamError(
            f"{name} 应为整数 (must be an integer)", 40004, "isv.parameter-format-invalid"
        )
    return int(value)


def seen(ts: int, now: float) -> int:
    """An event's time as seen at ``now``: 0 when it has not happened (yet)."""
    return ts if 0 < ts <= now else 0


def update_ts(o: Order, now: float) -> int:
    """The order's last change at ``now``. A completed refund closes the order: what happens
    to the parcel after it (the carrier's receipt) does not update it, so a refunded order's
    update_time is its refund time."""
    events = [o.create_ts, o.pay_ts, o.cancel_ts, o.refund_ts]
    if o.pay_ts:
        events += [o.ship_ts, o.receipt_ts, o.confirm_ts]
    if 0 < o.refund_ts <= now:
        now = o.refund_ts
    return max(t for t in events if 0 < t <= now)


def search_list(sb: Sandbox, w: World, body: dict[str, Any], now: float) -> dict[str, Any]:
    page = _int(body, "page", required=True)
    size = _int(body, "size", required=True)
    assert page is not None
    assert size is not None
    if page < 0:
        raise ParamError(
            "page 从 0 开始 (pages count from 0)", 40004, "isv.parameter-format-invalid"
        )
    if not 1 <= size <= sb.config.limits.doudian_page_size:
        raise ParamError(
            f"size 须在 1 到 {sb.config.limits.doudian_page_size} 之间",
            40004,
            "isv.parameter-format-invalid",
        )
    cs, ce = _int(body, "create_time_start"), _int(body, "create_time_end")
    us, ue = _int(body, "update_time_start"), _int(body, "update_time_end")
    if cs is None and us is None:
        raise ParamError(
            "须指定 create_time_start 或 update_time_start", 40002, "isv.missing-parameter"
        )
    order_by = body.get("order_by", "create_time")
    if order_by not in ("create_time", "update_time"):
        raise ParamError(
            "order_by 应为 create_time 或 update_time", 40004, "isv.parameter-format-invalid"
        )
    asc = body.get("order_asc", False)
    if not isinstance(asc, bool):
        raise ParamError(
            "order_asc 应为布尔值 (must be true or false)", 40004, "isv.parameter-format-invalid"
        )
    lo = cs if cs is not None else (us or 0) - 30 * 86400
    hi = min(ce if ce is not None else int(now), int(now))
    orders = [o for o in w.orders_between(lo, hi) if o.create_ts <= now]
    if us is not None:
        orders = [o for o in orders if us <= update_ts(o, now) <= (ue if ue is not None else now)]

    if order_by == "create_time":  # orders_between already sorts by (create_time, order_id)
        if not asc:
            orders.reverse()
    else:
        orders.sort(key=lambda o: (update_ts(o, now), o.order_id), reverse=not asc)
    chunk = orders[page * size : (page + 1) * size]
    return {
        "page": page,
        "size": size,
        "total": len(orders),
        "shop_order_list": [shop_order(w, o, now) for o in chunk],
    }


def _status(o: Order, now: float) -> tuple[int, int, dict[str, int]]:
    """(order_status, main_status, after_sale_info) as seen at ``now``."""
    after = {"after_sale_status": 0, "after_sale_type": 0, "refund_status": 0}
    if not o.pay_ts or o.pay_ts > now:
        status = 4 if o.cancel_ts and o.cancel_ts <= now else 1
        return status, status, after
    if seen(o.confirm_ts, now):
        status = 5
    elif seen(o.ship_ts, now):
        status = 3
    else:
        status = 2
    if not seen(o.refund_ts, now):
        return status, status, after
    if not o.ship_ts:  # refunded before shipping: the order is cancelled, nothing ships
        kind, status, main = 2, 4, REFUND_BEFORE_SHIP
    elif o.refund_ts < o.receipt_ts:  # 已发货仅退款
        kind, main = 1, REFUND_AFTER_SHIP
    else:  # 退货退款
        kind, main = 0, REFUND_AFTER_RECEIPT
    return status, main, {"after_sale_status": 12, "after_sale_type": kind, "refund_status": 3}


def shop_order(w: World, o: Order, now: float) -> dict[str, Any]:
    status, main_status, after = _status(o, now)
    prov_idx = int(w.population.province[o.buyer])
    province, city = w.province_names[prov_idx], w.city_names[prov_idx]
    pid = str(prov_idx + 11)
    post_addr = {
        "province": {"name": province, "id": pid},
        "city": {"name": city, "id": pid + "01"},
    }
    is_live = o.room_id != 0
    author = next((a for a in w.accounts if a.aweme_id == o.author_id), None)
    pay_ts = seen(o.pay_ts, now)
    exp_ship = o.exp_ship_ts if pay_ts else 0
    ship, receipt, confirm = seen(o.ship_ts, now), seen(o.receipt_ts, now), seen(o.confirm_ts, now)
    updated = update_ts(o, now)
    skus = []
    parcel_lines = []
    for line in o.lines:
        prod = w.products[line.product_index]
        skus.append(
            {
                "order_id": line.sku_order_id,
                "parent_order_id": o.order_id,
                "order_status": status,
                "order_status_desc": STATUS_DESC[status],
                "main_status": main_status,
                "create_time": o.create_ts,
                "pay_time": pay_ts,
                "update_time": updated,
                "exp_ship_time": exp_ship,
                "ship_time": ship,
                "logistics_receipt_time": receipt,
                "confirm_receipt_time": confirm,
                "finish_time": confirm,
                "product_id": prod.product_id,
                "product_id_str": str(prod.product_id),
                "product_name": prod.title,
                "item_num": line.item_num,
                "origin_amount": line.pay_amount_fen // line.item_num,
                "sum_amount": line.pay_amount_fen,
                "order_amount": line.pay_amount_fen,
                "pay_amount": line.pay_amount_fen,
                "author_id": o.author_id,
                "author_name": author.aweme_name if author else "",
                "room_id": o.room_id,
                "room_id_str": str(o.room_id),
                "theme_type": "1" if is_live else "0",
                "theme_type_desc": "直播间" if is_live else "其他",
                "post_addr": post_addr,
                "after_sale_info": after,
            }
        )
        parcel_lines.append(
            {
                "product_id": prod.product_id,
                "product_id_str": str(prod.product_id),
                "sku_order_id": line.sku_order_id,
                "product_count": line.item_num,
                "price": line.pay_amount_fen // line.item_num,
                "product_name": prod.title,
            }
        )
    logistics = []
    if ship:
        carrier = CARRIERS[o.carrier]
        logistics.append(
            {
                "tracking_no": o.tracking_no,
                "company": carrier.company,
                "company_name": carrier.name,
                "ship_time": ship,
                "delivery_id": f"{carrier.company}_{o.tracking_no}",
                "product_info": parcel_lines,
            }
        )
    return {
        "order_id": o.order_id,
        "shop_id": w.shop_id,
        "shop_name": w.shop_name,
        "order_status": status,
        "order_status_desc": STATUS_DESC[status],
        "main_status": main_status,
        "create_time": o.create_ts,
        "pay_time": pay_ts,
        "update_time": updated,
        "exp_ship_time": exp_ship,
        "ship_time": ship,
        "finish_time": confirm,
        "order_amount": o.amount_fen,
        "pay_amount": o.amount_fen,
        "post_amount": 0,
        "promotion_amount": 0,
        "b_type": 2,
        "b_type_desc": "抖音",
        "doudian_open_id": w.open_id(o.buyer),
        "cancel_reason": CANCEL_REASON_TIMEOUT if status == 4 and not pay_ts else "",
        "post_addr": post_addr,
        "logistics_info": logistics,
        "sku_order_list": skus,
    }
