"""The ASGI application: both platforms' real paths, plus the sandbox's own ``/sandbox/`` paths.

``/sandbox/`` is clearly separate from anything the real services serve: the published truth,
the viewer export, request counters, the clock and fault settings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import date, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livekit.sandbox import aggregates as agg
from livekit.sandbox import doudian, qianchuan
from livekit.sandbox.config import Faults, SandboxConfig
from livekit.sandbox.core import Sandbox, dumps
from livekit.sandbox.world import CHINA_TZ, World


def _json(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status, media_type="application/json")


def _sb(request: Request) -> Sandbox:
    sb: Sandbox = request.app.state.sandbox
    return sb


async def index(request: Request) -> Response:
    sb = _sb(request)
    return _json(
        {
            "sandbox": "livekit sandbox of 巨量千川 and 抖店",
            "seed": sb.config.seed,
            "today": sb.world.today.isoformat(),
            "now": sb.clock.now().strftime("%Y-%m-%d %H:%M:%S"),
            "qianchuan_base_url": str(request.base_url) + "open_api/",
            "qianchuan_auth_url": str(request.base_url) + qianchuan.CONSENT_PATH.lstrip("/"),
            "doudian_base_url": str(request.base_url).rstrip("/"),
            "shops": len(sb.shops),
            "sandbox_paths": [
                "/sandbox/shops",
                "/sandbox/truth?shop=",
                "/sandbox/export/viewers?start_date=&end_date=&aweme_id=&format=csv|parquet&shop=",
                "/sandbox/export/session_arms?start_date=&end_date=&format=csv|parquet&shop=",
                "/sandbox/export/explanations?start_date=&end_date=&format=csv|parquet&shop=",
                "/sandbox/stats",
                "/sandbox/clock",
                "/sandbox/faults",
                "/sandbox/totals?start_date=&end_date=&shop=",
                "/sandbox/doudian/authorize?app_key=&shop_id=&state=&redirect_uri=",
            ],
        }
    )


async def shops(request: Request) -> Response:
    """The sandbox's shops: id (s1 …), 抖店 shop name, 千川 advertiser id, 抖店 shop id."""
    return _json({"shops": [s.public() for s in _sb(request).shops]})


def _world(request: Request, sb: Sandbox) -> World:
    """The world of the ``shop`` query parameter (``s1`` … ; default ``s1``)."""
    key = request.query_params.get("shop", "") or "s1"
    shop = sb.shop_by_key(key)
    if shop is None:
        known = ", ".join(s.id for s in sb.shops[:5]) + (" …" if len(sb.shops) > 5 else "")
        raise ValueError(f"unknown shop {key[:40]!r}; this sandbox has {known}")
    return sb.world_of(shop.index)


async def truth(request: Request) -> Response:
    from livekit.sandbox.truth import truth as compute

    try:
        world = _world(request, _sb(request))
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    return _json(compute(world))


def _dates(request: Request, world: World) -> tuple[date, date]:
    q = request.query_params
    try:
        # Without start_date: the detail window (the last 90 days), not the 800 days served,
        # whose per-visit export would be gigabytes.
        start = date.fromisoformat(q.get("start_date", world.detail_first_day.isoformat()))
        end = date.fromisoformat(q.get("end_date", world.today.isoformat()))
    except ValueError as exc:
        raise ValueError(f"bad date: {exc}") from None
    if end < start:
        raise ValueError("start_date is after end_date")
    return start, end


async def export_viewers(request: Request) -> Response:
    from livekit.sandbox import export

    sb = _sb(request)
    sb.stats.requests[request.url.path] += 1
    try:
        world = _world(request, sb)
        start, end = _dates(request, world)
        aweme = request.query_params.get("aweme_id")
        aweme_id = int(aweme) if aweme else None
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "parquet"):
        return _json({"error": "format must be csv or parquet"}, 400)
    cols = export.viewer_columns(world, start, end, sb.now_ts(), aweme_id)
    name = f"viewers_{start.isoformat()}_{end.isoformat()}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return Response(export.to_csv(cols), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(
        export.to_parquet(cols), media_type="application/vnd.apache.parquet", headers=headers
    )


def _schedule_export(
    request: Request,
    name: str,
    columns: Callable[[World, date, date, float], dict[str, list[Any]]],
    types: dict[str, str],
) -> Response:
    """A schedule the sandbox publishes as a table (CSV or Parquet) over ``start_date`` ..
    ``end_date``, for the shows started by now."""
    from livekit.sandbox import export

    sb = _sb(request)
    sb.stats.requests[request.url.path] += 1
    try:
        world = _world(request, sb)
        start, end = _dates(request, world)
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "parquet"):
        return _json({"error": "format must be csv or parquet"}, 400)
    cols = columns(world, start, end, sb.now_ts())
    filename = f"{name}_{start.isoformat()}_{end.isoformat()}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        body = export.table_csv(cols, tuple(types))
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    body = export.table_parquet(cols, types)
    return Response(body, media_type="application/vnd.apache.parquet", headers=headers)


async def export_session_arms(request: Request) -> Response:
    """The switchback schedule: which session ran which arm (sessions started by now)."""
    from livekit.sandbox import export

    return _schedule_export(request, "session_arms", export.session_arm_columns, export.ARM_TYPES)


async def export_explanations(request: Request) -> Response:
    """The explanation schedule: one row per explanation window (shows started by now)."""
    from livekit.sandbox import export

    return _schedule_export(
        request, "explanations", export.explanation_columns, export.EXPLANATION_TYPES
    )


async def stats(request: Request) -> Response:
    sb = _sb(request)
    if request.method == "POST":
        sb.reset_stats()
    return _json(sb.stats_json())


async def clock(request: Request) -> Response:
    sb = _sb(request)
    if request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            now = body.get("now")
            if now is not None and not isinstance(now, str):
                raise TypeError("now must be a string")
            start = (
                datetime.strptime(now, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
                if now
                else sb.clock.now()
            )
            sb.clock.set(start, body.get("speed"))  # checks range and speed before changing
        except (ValueError, TypeError, OverflowError) as exc:  # JSON and UTF-8 errors too
            return _json(
                {"error": f"expected {{'now': 'YYYY-MM-DD HH:MM:SS', 'speed': float}}: {exc}"}, 400
            )
    return _json({"now": sb.clock.now().strftime("%Y-%m-%d %H:%M:%S"), "speed": sb.clock.speed})


def _positive_or_none(value: object) -> bool:
    return value is None or (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def _check_faults(f: Faults) -> None:
    """Reject settings that would silently do something else than asked."""
    known = set(Faults().kinds)  # the default lists every kind the endpoints implement
    if not isinstance(f.kinds, tuple) or not all(isinstance(k, str) for k in f.kinds):
        raise ValueError("kinds must be a list of strings")
    unknown_kinds = set(f.kinds) - known
    if unknown_kinds:
        raise ValueError(f"unknown fault kinds {sorted(unknown_kinds)}; known {sorted(known)}")
    if isinstance(f.rate, bool) or not isinstance(f.rate, int | float) or not 0 <= f.rate <= 1:
        raise ValueError(f"rate must be a number from 0 to 1, got {f.rate!r}")
    for name in ("qps", "qianchuan_qps", "doudian_qps"):
        if not _positive_or_none(getattr(f, name)):
            raise ValueError(f"{name} must be a positive number or null, got {getattr(f, name)!r}")
    if not isinstance(f.endpoint_qps, dict) or not all(
        isinstance(k, str) and k.startswith("/") and _positive_or_none(v) and v is not None
        for k, v in f.endpoint_qps.items()
    ):
        raise ValueError(
            "endpoint_qps must map request paths (starting with /) to positive numbers, "
            f"got {f.endpoint_qps!r}"
        )
    if (
        isinstance(f.slow_seconds, bool)
        or not isinstance(f.slow_seconds, int | float)
        or not f.slow_seconds >= 0
    ):
        raise ValueError(f"slow_seconds must be a number >= 0, got {f.slow_seconds!r}")
    if isinstance(f.seed, bool) or not isinstance(f.seed, int):
        raise ValueError(f"seed must be an integer, got {f.seed!r}")


async def faults(request: Request) -> Response:
    sb = _sb(request)
    if request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
            allowed = {f.name for f in fields(Faults)}
            unknown = set(body) - allowed
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")
            if "kinds" in body:
                body["kinds"] = tuple(body["kinds"])
            _check_faults(replace(sb.faults, **body))
            sb.set_faults(**body)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return _json({"error": str(exc)}, 400)
    f = sb.faults
    return _json(
        {
            "qps": f.qps,
            "qianchuan_qps": f.qianchuan_qps,
            "doudian_qps": f.doudian_qps,
            "endpoint_qps": dict(f.endpoint_qps),
            "rate": f.rate,
            "slow_seconds": f.slow_seconds,
            "kinds": list(f.kinds),
            "seed": f.seed,
        }
    )


async def totals(request: Request) -> Response:
    """The sandbox's own totals over a date range, as visible now (for sync tests)."""
    sb = _sb(request)
    try:
        world = _world(request, sb)
        start, end = _dates(request, world)
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    now = sb.now_ts()
    rooms = [s for s in world.iter_sessions(start, end) if s.start_ts <= now]
    metrics = [agg.room_metrics(world, s, now) for s in rooms]
    combined = agg.combine_rooms(metrics) if metrics else None
    t0 = int(datetime.combine(start, datetime.min.time(), CHINA_TZ).timestamp())
    t1 = (
        int(datetime.combine(end + timedelta(days=1), datetime.min.time(), CHINA_TZ).timestamp())
        - 1
    )
    orders = world.orders_between(t0, min(t1, int(now)))
    paid = [o for o in orders if 0 < o.pay_ts <= now]
    return _json(
        {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "rooms": len(rooms),
            "total_live_watch_cnt": combined["total_live_watch_cnt"] if combined else 0,
            "live_pay_order_count_alias": combined["live_pay_order_count_alias"] if combined else 0,
            "live_pay_order_gmv_alias": combined["live_pay_order_gmv_alias"] if combined else 0.0,
            "stat_cost": combined["stat_cost"] if combined else 0.0,
            "orders": len(orders),
            "order_items": sum(len(o.lines) for o in orders),
            "paid_orders": len(paid),
            "paid_amount_yuan": round(sum(o.amount_fen for o in paid) / 100, 2),
        }
    )


def create_app(config: SandboxConfig | None = None, **overrides: Any) -> Starlette:
    """Build the sandbox ASGI app. ``overrides`` replace fields of ``config``."""
    cfg = replace(config or SandboxConfig(), **overrides)
    routes = [
        Route("/", index),
        Route(qianchuan.CONSENT_PATH, qianchuan.consent),
        Route(qianchuan.TOKEN_PATH, qianchuan.access_token, methods=["POST"]),
        Route(qianchuan.REFRESH_PATH, qianchuan.refresh_token, methods=["POST"]),
        Route(qianchuan.ACCOUNTS_PATH, qianchuan.advertisers),
        *[Route(path, qianchuan.data_endpoint(h)) for path, h in qianchuan.HANDLERS.items()],
        Route("/token/create", doudian.endpoint, methods=["POST"]),
        Route("/token/refresh", doudian.endpoint, methods=["POST"]),
        Route("/order/searchList", doudian.endpoint, methods=["POST"]),
        Route("/sandbox/shops", shops),
        Route("/sandbox/truth", truth),
        Route(doudian.AUTHORIZE_PATH, doudian.authorize),
        Route("/sandbox/export/viewers", export_viewers),
        Route("/sandbox/export/session_arms", export_session_arms),
        Route("/sandbox/export/explanations", export_explanations),
        Route("/sandbox/stats", stats, methods=["GET", "POST"]),
        Route("/sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/sandbox/faults", faults, methods=["GET", "POST"]),
        Route("/sandbox/totals", totals),
        # any other 抖店 method: answered in the envelope (70000 isp.api-service-off), not a 404
        Route("/{group}/{api}", doudian.endpoint, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = Sandbox(cfg)
    return app


__all__ = ["create_app"]
