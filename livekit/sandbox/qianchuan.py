"""巨量千川 / Ocean Engine endpoints: OAuth2 and the live-room and report GETs.

Every response is HTTP 200 with ``{code, message, request_id, data}``; errors ride in ``code``.

With several shops (``SandboxConfig.shops``) one app serves them all, as an agency's app does:
the consent page's sandbox-only ``advertiser_ids`` says which advertisers the user ticked
(default: every shop's), the code and every token from it carry them, and a data request is
answered from the world of its ``advertiser_id`` when the token covers it (else 40002, as for
any advertiser the token was not granted).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from livekit.sandbox import aggregates as agg
from livekit.sandbox.core import ParamError, Sandbox, dumps
from livekit.sandbox.oauth import AccessToken, OAuthError, redirect_allowed
from livekit.sandbox.params import Params
from livekit.sandbox.shapes import shape_numbers
from livekit.sandbox.world import CHINA_TZ, Session, World, fmt_time, to_epoch

# (sandbox, the world of the request's advertiser, parameters, now) -> data
Handler = Callable[[Sandbox, World, Params, float], dict[str, Any]]

LIVE = "/open_api/v1.0/qianchuan/today_live/room/"
PATHS = {
    "aweme_authorized": "/open_api/v1.0/qianchuan/aweme/authorized/get/",
    "room_get": LIVE + "get/",
    "room_detail": LIVE + "detail/get/",
    "room_flow": LIVE + "flow_performance/get/",
    "room_user": LIVE + "user/get/",
    "room_products": LIVE + "product_list/get/",
    "report_live": "/open_api/v1.0/qianchuan/report/live/get/",
    "report_advertiser": "/open_api/v1.0/qianchuan/report/advertiser/get/",
    "room_analysis": "/open_api/v3.0/report/live_room/analysis/get/",
}
CONSENT_PATH = "/openapi/qc/audit/oauth.html"
TOKEN_PATH = "/open_api/oauth2/access_token/"
REFRESH_PATH = "/open_api/oauth2/refresh_token/"
ACCOUNTS_PATH = "/open_api/oauth2/advertiser/get/"

ACCESS_ERRORS = {
    "empty": (40104, "The access_token is empty."),
    "invalid": (40105, "access_token无效 (the access token is invalid or revoked)"),
    "expired": (40102, "access_token已过期 (the access token has expired)"),
}


def envelope(
    sb: Sandbox, request: Request, code: int, message: str, data: Any, payload: str
) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "request_id": sb.request_id(request.url.path, payload),
        "data": data,
    }


def respond(
    sb: Sandbox,
    request: Request,
    code: int,
    message: str,
    data: Any = None,
    payload: str = "",
    truncate: bool = False,
) -> Response:
    body = dumps(envelope(sb, request, code, message, {} if data is None else data, payload))
    sb.stats.outcomes[f"qianchuan:{code}"] += 1
    if truncate:
        body = body[: max(1, len(body) // 2)]
    return Response(body, media_type="application/json")


# ---- OAuth2 ---------------------------------------------------------------------------
async def consent(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    sb.stats.requests[CONSENT_PATH] += 1
    q = request.query_params
    redirect_uri = q.get("redirect_uri", "")
    if q.get("app_id") != str(sb.config.qianchuan_app_id):
        return HTMLResponse("<h1>授权失败</h1><p>app_id 不存在或未上线 (unknown app_id)</p>", 400)
    if not redirect_uri.startswith(("http://", "https://")):
        return HTMLResponse("<h1>授权失败</h1><p>redirect_uri 无效 (invalid redirect_uri)</p>", 400)
    if not redirect_allowed(sb.config.qianchuan_redirect_uri, redirect_uri):
        return HTMLResponse(
            "<h1>授权失败</h1><p>redirect_uri 与应用登记的回调地址不一致"
            " (redirect_uri does not match the registered one)</p>",
            400,
        )
    ticked = _ticked_advertisers(sb, q.get("advertiser_ids", ""))
    if ticked is None:
        return HTMLResponse(
            "<h1>授权失败</h1><p>advertiser_ids 应为本沙盒广告主 id 的逗号分隔列表"
            " (advertiser_ids must list advertisers of this sandbox)</p>",
            400,
        )
    code = sb.tokens.new_code(str(sb.config.qianchuan_app_id), sb.now_ts(), ticked)
    parts = urlsplit(redirect_uri)
    query = [*parse_qsl(parts.query), ("auth_code", code), ("state", q.get("state", ""))]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), 302)


def _ticked_advertisers(sb: Sandbox, raw: str) -> tuple[int, ...] | None:
    """The advertisers a consent grants (sandbox-only ``advertiser_ids``: the ones the user
    ticks on the real page), in shop order; empty: all of them (an agency account); None:
    a malformed list or an advertiser this sandbox does not have."""
    if not raw.strip():
        return sb.advertiser_ids
    wanted: set[int] = set()
    for part in raw.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()) or sb.shop_by_advertiser(int(part)) is None:
            return None
        wanted.add(int(part))
    return tuple(a for a in sb.advertiser_ids if a in wanted)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        raise ParamError("请求体不是合法的 JSON (request body must be JSON)") from None
    if not isinstance(body, dict):
        raise ParamError("请求体应为 JSON 对象 (request body must be a JSON object)")
    return body


def _check_app(sb: Sandbox, body: dict[str, Any]) -> str:
    app_id = str(body.get("app_id", ""))
    if not app_id:
        raise ParamError("app_id: 必填参数缺失 (required parameter missing)")
    if app_id != str(sb.config.qianchuan_app_id):
        raise ParamError("app_id 不存在 (unknown app_id)", 40001)
    if body.get("secret") != sb.config.qianchuan_secret:
        raise ParamError("secret 错误 (wrong app secret)", 40001)
    return app_id


async def access_token(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    sb.stats.requests[TOKEN_PATH] += 1
    try:
        body = await _json_body(request)
        app = _check_app(sb, body)
        code = str(body.get("auth_code", ""))
        if not code:
            raise ParamError("auth_code: 必填参数缺失 (required parameter missing)")
        pair = sb.tokens.qc_exchange(app, code, sb.now_ts())
    except ParamError as e:
        return respond(sb, request, e.code or 40001, e.message)
    except OAuthError as e:
        return respond(sb, request, e.code, e.message)
    granted = list(sb.tokens.grant(pair.access_token).advertisers)
    return respond(sb, request, 0, "OK", {**pair.__dict__, "advertiser_ids": granted})


async def refresh_token(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    sb.stats.requests[REFRESH_PATH] += 1
    try:
        body = await _json_body(request)
        app = _check_app(sb, body)
        token = str(body.get("refresh_token", ""))
        if not token:
            raise ParamError("refresh_token: 必填参数缺失 (required parameter missing)")
        pair = sb.tokens.qc_refresh(app, token, sb.now_ts())
    except ParamError as e:
        return respond(sb, request, e.code or 40001, e.message)
    except OAuthError as e:
        return respond(sb, request, e.code, e.message)
    return respond(sb, request, 0, "OK", pair.__dict__)


async def advertisers(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    sb.stats.requests[ACCOUNTS_PATH] += 1
    token = request.query_params.get("access_token", "") or request.headers.get("Access-Token", "")
    try:
        at = sb.tokens.check_access(token, sb.now_ts())
    except OAuthError as e:
        code, msg = ACCESS_ERRORS[e.message]
        return respond(sb, request, code, msg)
    items = []
    for adv in at.advertisers:
        shop = sb.shop_by_advertiser(adv)
        assert shop is not None  # a grant only ever holds this sandbox's advertisers
        items.append(
            {
                "advertiser_id": shop.advertiser_id,
                "advertiser_name": shop.advertiser_name,
                "advertiser_role": 1,
                "is_valid": True,
                "account_role": "PLATFORM_ROLE_QIANCHUAN_AGENT",
            }
        )
    return respond(sb, request, 0, "OK", {"list": items})


# ---- data endpoints -------------------------------------------------------------------
def data_endpoint(handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        sb: Sandbox = request.app.state.sandbox
        path = request.url.path
        sb.stats.requests[path] += 1
        token = request.headers.get("Access-Token", "")
        now = sb.now_ts()
        try:
            at = sb.tokens.check_access(token, now)
        except OAuthError as e:
            code, msg = ACCESS_ERRORS[e.message]
            return respond(sb, request, code, msg)
        if not sb.allow_request("qianchuan", at.app, path):
            sb.stats.rate_limited[path] += 1
            return respond(sb, request, 40100, "请求过于频繁，请稍后再试 (too many requests)")
        fault = sb.pick_fault()
        if fault == "5xx":
            sb.stats.outcomes["qianchuan:5xx"] += 1
            return Response(
                b"<html><body>502 Bad Gateway</body></html>", 502, media_type="text/html"
            )
        if fault == "rate_limit":
            return respond(sb, request, 40100, "请求过于频繁，请稍后再试 (too many requests)")
        if fault == "revoke":
            sb.tokens.revoke(token)
            code, msg = ACCESS_ERRORS["invalid"]
            return respond(sb, request, code, msg)
        if fault == "slow":
            await asyncio.sleep(sb.faults.slow_seconds)
        payload = str(request.url.query)
        try:
            params = Params(request.query_params)
            world = _world(sb, params, at)
            data = shape_numbers(handler(sb, world, params, now), sb.faults.number_shape)
        except ParamError as e:
            return respond(sb, request, e.code or 40001, e.message, payload=payload)
        return respond(sb, request, 0, "OK", data, payload, truncate=fault == "truncated")

    return endpoint


def _world(sb: Sandbox, p: Params, at: AccessToken) -> World:
    """The world of the request's ``advertiser_id``, if the token was granted it; else 40002
    (no permission), as for any advertiser not granted (the first check of every handler)."""
    adv = p.integer("advertiser_id")
    shop = sb.shop_by_advertiser(adv)
    if shop is None or adv not in at.advertisers:
        raise ParamError(f"无权限操作该广告主 (no permission for advertiser {adv})", 40002)
    sb.stats.shop_requests[shop.id] += 1
    return sb.world_of(shop.index)


def _aweme(w: World, p: Params) -> Any:
    aweme_id = p.integer("aweme_id")
    for acc in w.accounts:
        if acc.aweme_id == aweme_id:
            return acc
    raise ParamError(f"抖音号未授权给该广告主 (aweme {aweme_id} is not authorized)", 40002)


def _room(w: World, p: Params, now: float) -> Session:
    room_id = p.integer("room_id")
    s = w.session_by_room(room_id)
    if s is None or s.start_ts > now:
        raise ParamError(f"直播间不存在 (room {room_id} not found)", 40001)
    return s


def _page(p: Params, max_size: int, default_size: int = 20) -> tuple[int, int]:
    return p.integer("page", 1, lo=1), p.integer("page_size", default_size, lo=1, hi=max_size)


def _page_info(page: int, size: int, total: int, total_key: str) -> dict[str, int]:
    return {
        "page": page,
        "page_size": size,
        total_key: total,
        "total_page": math.ceil(total / size),
    }


def _public(metrics: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {f: metrics[f] for f in fields}


def aweme_authorized(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    page, size = _page(p, sb.config.limits.live_page_size, 10)
    items = [
        {
            "aweme_id": a.aweme_id,
            "aweme_show_id": f"yuehao{a.index + 1:03d}",
            "aweme_name": a.aweme_name,
            "aweme_avatar": a.avatar[0],
            "aweme_status": "NORMAL",
            "bind_type": ["OFFICIAL"] if a.index == 0 else ["SELF"],
            "aweme_has_live_permission": True,
            "aweme_has_video_permission": True,
        }
        for a in w.accounts
    ]
    chunk = items[(page - 1) * size : page * size]
    return {"aweme_id_list": chunk, "page_info": _page_info(page, size, len(items), "total_number")}


def _room_head(s: Session, now: float) -> dict[str, Any]:
    living = s.status(now) == "LIVING"
    return {
        "room_id": s.room_id,
        "room_title": s.title,
        "room_cover": list(s.cover),
        "room_status": s.status(now),
        "start_time": fmt_time(s.start_ts),
        "end_time": "" if living else fmt_time(s.end_ts),
        "aweme_id": s.account.aweme_id,
        "aweme_name": s.account.aweme_name,
        "aweme_avatar": list(s.account.avatar),
        "room_delivery": 1 if living else 0,
    }


def room_get(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    acc = _aweme(w, p)
    day = p.day("date_time")
    fields = p.fields(agg.ROOM_METRICS)
    status = p.enum("room_status", ("ALL", "LIVING", "FINISH"), "ALL")
    page, size = _page(p, sb.config.limits.live_page_size)
    rooms = [s for s in w.account_sessions(acc, day) if s.start_ts <= now]
    if status != "ALL":
        rooms = [s for s in rooms if s.status(now) == status]
    chunk = rooms[(page - 1) * size : page * size]
    items = [{**_room_head(s, now), **_public(agg.room_metrics(w, s, now), fields)} for s in chunk]
    return {"room_list": items, "page_info": _page_info(page, size, len(rooms), "total_num")}


def room_detail(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    return _room_head(_room(w, p, now), now)


def room_flow(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    s = _room(w, p, now)
    p.enum("flow_source", ("AllEcomFlowSource", "AllEcomGmvSource"), "AllEcomFlowSource")
    return dict(agg.flow_performance(s, now))


def room_user(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    s = _room(w, p, now)
    event = p.enum("action_event", ("ENTER", "PAY"))
    dims = p.json("dimension")
    if (
        not isinstance(dims, list)
        or not dims
        or any(d not in ("CITY", "GENDER", "AGE") for d in dims)
    ):
        raise ParamError('dimension: 应为 ["CITY","GENDER","AGE"] 的非空子集 (invalid dimension)')
    p.enum("flow_source", ("ALL", "PC"), "ALL")
    return agg.audience(w, s, now, event, dims)


def room_products(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    s = _room(w, p, now)
    fields = p.fields(agg.PRODUCT_METRICS)
    which = p.enum("explain_status", ("ALL", "HASEXPLAIN", "UNEXPLAIN"), "ALL")
    page, size = _page(p, sb.config.limits.live_page_size)
    rows = agg.product_rows(w, s, now)
    if which == "HASEXPLAIN":
        rows = [r for r in rows if r["explain_status"] != "UNEXPLAIN"]
    elif which == "UNEXPLAIN":
        rows = [r for r in rows if r["explain_status"] == "UNEXPLAIN"]
    chunk = rows[(page - 1) * size : page * size]
    head = ("productId", "title", "img_url", "explain_status")
    items = [{**{k: r[k] for k in head}, **_public(r, fields)} for r in chunk]
    return {"list": items, "page_info": _page_info(page, size, len(rows), "total_num")}


def report_live(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    acc = _aweme(w, p)
    start, end = p.moment("start_time"), p.moment("end_time")
    fields = p.fields(agg.ROOM_METRICS)
    if start.date() != end.date() or end < start:
        raise ParamError(
            "start_time 与 end_time 须在同一自然日内 (both times must be within one day)"
        )
    p.enum("stats_authority", ("CURRENT", "QUALIFICATION"), "CURRENT")
    t0, t1 = to_epoch(start), to_epoch(end)
    rooms = [
        agg.room_metrics(w, s, now)
        for s in w.account_sessions(acc, start.date())
        if t0 <= s.start_ts <= t1 and s.start_ts <= now
    ]
    return _public(agg.combine_rooms(rooms), fields)


def _date_range(p: Params, start_name: str, end_name: str, max_days: int) -> tuple[date, date]:
    start, end = p.day(start_name), p.day(end_name)
    if end < start:
        raise ParamError(f"{start_name} 不能晚于 {end_name} (start after end)")
    if (end - start).days + 1 > max_days:
        raise ParamError(f"时间跨度不能超过 {max_days} 天 (range longer than {max_days} days)")
    return start, end


def _id_list(filtering: dict[str, Any], key: str) -> list[int]:
    """An id array inside ``filtering``: JSON integers (digit strings accepted too)."""
    value = filtering.get(key) or []
    if not isinstance(value, list) or not all(
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, str) and v.isascii() and v.isdigit())
        for v in value
    ):
        raise ParamError(f"filtering.{key}: 应为整数数组 (must be a JSON array of integers)")
    return [int(v) for v in value]


def report_advertiser(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    start, end = _date_range(p, "start_date", "end_date", sb.config.limits.advertiser_report_days)
    fields = p.fields(agg.ADVERTISER_METRICS)
    filtering = p.json("filtering")
    if not isinstance(filtering, dict) or "marketing_goal" not in filtering:
        raise ParamError("filtering.marketing_goal: 必填参数缺失 (required parameter missing)")
    goal = filtering["marketing_goal"]
    if goal not in ("ALL", "LIVE_PROM_GOODS", "VIDEO_PROM_GOODS"):
        raise ParamError(f"filtering.marketing_goal: 取值无效 (invalid value {goal!r})")
    awemes = _id_list(filtering, "aweme_ids")
    gran = p.enum(
        "time_granularity", ("TIME_GRANULARITY_DAILY", "TIME_GRANULARITY_HOURLY", "NONE"), "NONE"
    )
    page, size = _page(p, sb.config.limits.report_page_size)
    buckets: dict[int, agg.AdBucket] = {}
    if goal != "VIDEO_PROM_GOODS":
        for s in w.iter_sessions(start, end):
            if s.start_ts > now or (awemes and s.account.aweme_id not in awemes):
                continue
            for b, bucket in agg.ad_buckets(w, s, now, gran == "TIME_GRANULARITY_HOURLY").items():
                key = b if gran != "NONE" else 0
                buckets.setdefault(key, agg.AdBucket()).add(bucket)
    rows = []
    for key in sorted(buckets):
        row: dict[str, Any] = {"advertiser_id": w.advertiser_id}
        if gran != "NONE":
            row["stat_datetime"] = fmt_time(key)
        row.update(_public(buckets[key].metrics(), fields))
        rows.append(row)
    chunk = rows[(page - 1) * size : page * size]
    return {"list": chunk, "page_info": _page_info(page, size, len(rows), "total_number")}


def room_analysis(sb: Sandbox, w: World, p: Params, now: float) -> dict[str, Any]:
    filtering = p.json("filtering")
    if not isinstance(filtering, dict) or not (
        filtering.get("room_ids") or filtering.get("aweme_ids")
    ):
        raise ParamError("filtering: 须包含 room_ids 或 aweme_ids (room_ids or aweme_ids required)")
    room_ids = _id_list(filtering, "room_ids")
    if len(room_ids) > sb.config.limits.analysis_room_ids:
        raise ParamError(
            f"filtering.room_ids: 最多 {sb.config.limits.analysis_room_ids} 个 (too many room ids)"
        )
    awemes = set(_id_list(filtering, "aweme_ids"))
    today = datetime.fromtimestamp(now, CHINA_TZ).date()
    default_start = datetime.combine(today - timedelta(days=7), datetime.min.time(), CHINA_TZ)
    start = p.moment("start_time", default_start)
    end = p.moment(
        "end_time", datetime.combine(today, datetime.max.time(), CHINA_TZ).replace(microsecond=0)
    )
    if end < start:
        raise ParamError("start_time 不能晚于 end_time (start after end)")
    if (end.date() - start.date()).days + 1 > sb.config.limits.analysis_days:
        raise ParamError(f"时间跨度不能超过 {sb.config.limits.analysis_days} 天 (range too long)")
    fields = p.fields(agg.ANALYSIS_METRICS, required=False)
    page, size = _page(p, sb.config.limits.live_page_size)
    wanted = set(room_ids)
    rows = []
    for s in w.iter_sessions(start.date(), end.date()):
        if s.day >= today:  # T+1: a day is analysed once it is over
            continue
        if not (to_epoch(start) <= s.start_ts <= to_epoch(end)):
            continue
        if (wanted and s.room_id not in wanted) or (awemes and s.account.aweme_id not in awemes):
            continue
        rows.append(
            {
                "room_id": s.room_id,
                "room_title": s.title,
                "room_cover": s.cover[0],
                "room_status": "END",
                "room_create_time": fmt_time(s.start_ts),
                "room_finish_time": fmt_time(s.end_ts),
                "anchor_id": s.account.aweme_id,
                "anchor_nick": s.account.aweme_name,
                "anchor_avatar": s.account.avatar[0],
                "fields": _public(agg.analysis_row(s), fields),
            }
        )
    chunk = rows[(page - 1) * size : page * size]
    return {"list": chunk, "page_info": _page_info(page, size, len(rows), "total_number")}


HANDLERS: dict[str, Handler] = {
    PATHS["aweme_authorized"]: aweme_authorized,
    PATHS["room_get"]: room_get,
    PATHS["room_detail"]: room_detail,
    PATHS["room_flow"]: room_flow,
    PATHS["room_user"]: room_user,
    PATHS["room_products"]: room_products,
    PATHS["report_live"]: report_live,
    PATHS["report_advertiser"]: report_advertiser,
    PATHS["room_analysis"]: room_analysis,
}
