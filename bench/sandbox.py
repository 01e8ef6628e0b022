"""Throughput of the sandbox under a typical sync mix, against a trivial-endpoint baseline.

Run:  .venv/bin/python bench/sandbox.py [--requests 3000] [--concurrency 8] [--profile]

The sandbox runs as a real uvicorn server in a child process pinned to one CPU core (when the
OS allows it), with a frozen clock. This process warms it up, then drives a fixed number of
requests of a typical sync mix (巨量千川 live rooms, products, flow, audience, reports,
analysis; 抖店 order pages) over loopback with an async httpx client, and then the same number
of requests to a trivial endpoint (GET /sandbox/clock). Machines are noisy: the ratio
"mix / trivial" says more than the absolute numbers.

``--profile`` runs the same mix in-process through the ASGI app under cProfile instead, and
prints where the handlers spend their time. Nothing here asserts; everything is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livekit.sandbox.config import SandboxConfig  # noqa: E402
from livekit.sandbox.doudian import signed_request  # noqa: E402
from livekit.sandbox.server import free_port  # noqa: E402
from livekit.sandbox.world import CHINA_TZ  # noqa: E402

GOAL_RPS = 300.0
TODAY = date(2026, 11, 28)
NOW = "2026-11-28 21:00:00"
SEED = 7
TIME_BUDGET_S = 100.0  # the whole run stays under two minutes

# The server process: argv = port, core (-1: any), seed, today, now.
CHILD = """
import os, sys
port, core, seed, today, now = sys.argv[1:6]
if int(core) >= 0 and hasattr(os, "sched_setaffinity"):
    try:
        os.sched_setaffinity(0, {int(core)})
    except OSError:
        pass
from datetime import date, datetime
import uvicorn
from livekit.sandbox.app import create_app
from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.world import CHINA_TZ
cfg = SandboxConfig(
    seed=int(seed),
    today=date.fromisoformat(today),
    now=datetime.strptime(now, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ),
    speed=0.0,
)
uvicorn.run(create_app(cfg), host="127.0.0.1", port=int(port), log_level="warning",
            access_log=False, lifespan="off")
"""


Req = tuple[str, str, dict[str, Any], dict[str, str], bytes | None]  # method, path, params, ...


def pick_cores() -> tuple[int, set[int] | None]:
    """One core for the server; the others (if any) for this process."""
    if not hasattr(os, "sched_getaffinity"):
        return -1, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return cores[0], None
    return cores[-1], set(cores[:-1])


# ---- the mix -----------------------------------------------------------------------------
def qc_get(path: str, token: str, **params: Any) -> Req:
    return ("GET", "/open_api/" + path, params, {"Access-Token": token}, None)


def dd_post(cfg: SandboxConfig, method: str, body: dict[str, Any], token: str | None) -> Req:
    path, query, content = signed_request(
        cfg.doudian_app_key, cfg.doudian_app_secret, method, body, token
    )
    return ("POST", path, query, {}, content)


def ok(resp: httpx.Response) -> Any:
    body = resp.json()
    if body.get("code") not in (0, 10000):
        raise RuntimeError(f"{resp.request.url.path}: {body}")
    return body["data"]


async def build_mix(http: httpx.AsyncClient, cfg: SandboxConfig) -> list[Req]:
    """Log in like a client would, discover rooms, and return the requests of one sync."""
    consent = await http.get(
        "/openapi/qc/audit/oauth.html",
        params={
            "app_id": cfg.qianchuan_app_id,
            "state": "b",
            "redirect_uri": "http://127.0.0.1/callback",
        },
    )
    code = parse_qs(urlsplit(consent.headers["location"]).query)["auth_code"][0]
    tok = ok(
        await http.post(
            "/open_api/oauth2/access_token/",
            json={
                "app_id": cfg.qianchuan_app_id,
                "secret": cfg.qianchuan_secret,
                "auth_code": code,
            },
        )
    )
    qt, adv = tok["access_token"], tok["advertiser_ids"][0]
    awemes = ok(
        await http.get(
            "/open_api/v1.0/qianchuan/aweme/authorized/get/",
            params={"advertiser_id": adv},
            headers={"Access-Token": qt},
        )
    )["aweme_id_list"]
    aweme_ids = [a["aweme_id"] for a in awemes]
    dd_body = {"code": "", "grant_type": "authorization_self"}
    dd = ok(await send(http, dd_post(cfg, "token.create", dd_body, None)))
    dt = dd["access_token"]

    live = "v1.0/qianchuan/today_live/room/"
    room_fields = json.dumps(
        ["stat_cost", "total_live_watch_cnt", "live_pay_order_gmv_alias", "live_pay_order_gmv_roi"]
    )
    days = [TODAY - timedelta(days=i) for i in range(7)]
    mix: list[Req] = []
    rooms: list[int] = []
    for d in days:
        for aw in aweme_ids:
            req = qc_get(
                live + "get/",
                qt,
                advertiser_id=adv,
                aweme_id=aw,
                date_time=d.isoformat(),
                fields=room_fields,
                page_size=100,
            )
            mix.append(req)
            rooms += [r["room_id"] for r in ok(await send(http, req))["room_list"]]
            mix.append(
                qc_get(
                    "v1.0/qianchuan/report/live/get/",
                    qt,
                    advertiser_id=adv,
                    aweme_id=aw,
                    start_time=f"{d} 00:00:00",
                    end_time=f"{d} 23:59:59",
                    fields=room_fields,
                )
            )
    product_fields = json.dumps(
        ["live_product_price", "live_product_Inventory", "live_pay_order_gmv_alias"]
    )
    for room in rooms:
        mix.append(
            qc_get(
                live + "product_list/get/",
                qt,
                advertiser_id=adv,
                room_id=room,
                fields=product_fields,
                page_size=100,
            )
        )
        mix.append(qc_get(live + "flow_performance/get/", qt, advertiser_id=adv, room_id=room))
        mix.append(
            qc_get(
                live + "user/get/",
                qt,
                advertiser_id=adv,
                room_id=room,
                action_event="ENTER",
                dimension=json.dumps(["CITY", "GENDER", "AGE"]),
            )
        )
    mix.append(
        qc_get(
            "v1.0/qianchuan/report/advertiser/get/",
            qt,
            advertiser_id=adv,
            start_date=(TODAY - timedelta(days=29)).isoformat(),
            end_date=TODAY.isoformat(),
            fields=json.dumps(["stat_cost", "pay_order_amount", "all_order_pay_gmv_7days"]),
            filtering=json.dumps({"marketing_goal": "LIVE_PROM_GOODS"}),
            time_granularity="TIME_GRANULARITY_DAILY",
            page_size=100,
        )
    )
    mix.append(
        qc_get(
            "v3.0/report/live_room/analysis/get/",
            qt,
            advertiser_id=adv,
            filtering=json.dumps({"aweme_ids": aweme_ids}),
            start_time=f"{TODAY - timedelta(days=7)} 00:00:00",
            end_time=f"{TODAY - timedelta(days=1)} 23:59:59",
            page_size=100,
        )
    )
    for i in range(1, 4):  # yesterday .. three days ago, two pages of each
        d0 = datetime.combine(TODAY - timedelta(days=i), datetime.min.time(), CHINA_TZ)
        t0 = int(d0.timestamp())
        for page in range(2):
            body = {
                "page": page,
                "size": 100,
                "create_time_start": t0,
                "create_time_end": t0 + 86399,
                "order_by": "create_time",
                "order_asc": True,
            }
            mix.append(dd_post(cfg, "order.searchList", body, dt))
    return mix


async def send(http: httpx.AsyncClient, req: Req) -> httpx.Response:
    method, path, params, headers, content = req
    return await http.request(method, path, params=params, headers=headers, content=content)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux; NaN elsewhere)."""
    if pid is None:
        return math.nan
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    http: httpx.AsyncClient, reqs: list[Req], n: int, concurrency: int, pid: int | None = None
) -> tuple[float, float]:
    """Send n requests cycling through reqs with `concurrency` workers.

    Returns (requests per second, server CPU milliseconds per request).
    """
    feed = itertools.islice(itertools.cycle(reqs), n)
    errors: list[str] = []

    async def worker() -> None:
        for req in feed:
            r = await send(http, req)
            # cheap check (no JSON parsing on the client): an envelope starts with its code
            if r.status_code != 200 or (
                req[1].startswith(("/open_api/", "/order/"))
                and not r.content.startswith((b'{"code":0,', b'{"code":10000,'))
            ):
                errors.append(f"{req[1]} -> {r.status_code} {r.text[:200]}")

    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    if errors:
        print(f"  {len(errors)} unexpected answers, e.g. {errors[0]}")
    return n / elapsed, 1000 * cpu / n


TRIVIAL: list[Req] = [("GET", "/sandbox/clock", {}, {}, None)]


async def bench(url: str, pid: int, n: int, concurrency: int, rounds: int, deadline: float) -> None:
    cfg = SandboxConfig()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        t0 = time.perf_counter()
        mix = await build_mix(http, cfg)
        for req in mix:  # warm-up: every distinct request once (simulates the days touched)
            await send(http, req)
        await drive(http, TRIVIAL, 200, concurrency)
        print(f"mix: {len(mix)} distinct requests; warm-up {time.perf_counter() - t0:.1f} s")
        # Interleaved rounds, so that load from elsewhere hits both sides alike.
        per_round = max(n // rounds, len(mix))
        mix_rps: list[float] = []
        trivial_rps: list[float] = []
        mix_cpu: list[float] = []
        trivial_cpu: list[float] = []
        for _ in range(rounds):
            if mix_rps and time.monotonic() > deadline:
                break
            rps, cpu = await drive(http, mix, per_round, concurrency, pid)
            mix_rps.append(rps)
            mix_cpu.append(cpu)
            rps, cpu = await drive(http, TRIVIAL, per_round, concurrency, pid)
            trivial_rps.append(rps)
            trivial_cpu.append(cpu)
    done = len(mix_rps)
    ratios = [m / t for m, t in zip(mix_rps, trivial_rps, strict=True)]
    med_mix, med_trivial = statistics.median(mix_rps), statistics.median(trivial_rps)
    print(
        f"{done} rounds of {per_round} mix + {per_round} trivial requests, concurrency {concurrency}"
    )
    print(f"sync mix : median {med_mix:7.1f} req/s   best {max(mix_rps):7.1f}")
    print(f"trivial  : median {med_trivial:7.1f} req/s   best {max(trivial_rps):7.1f}")
    print(
        f"mix / goal ({GOAL_RPS:.0f} req/s): {med_mix / GOAL_RPS:.2f} (best {max(mix_rps) / GOAL_RPS:.2f})"
    )
    print(f"mix / trivial: {statistics.median(ratios):.2f} (median of per-round ratios)")
    # Server CPU per request: much less sensitive to other load on the machine than wall time.
    cpu_mix, cpu_trivial = sum(mix_cpu) / done, sum(trivial_cpu) / done
    if not math.isnan(cpu_mix) and cpu_mix > 0:
        print(
            f"server CPU per request: mix {cpu_mix:.2f} ms, trivial {cpu_trivial:.2f} ms"
            f"  -> one-core capacity {1000 / cpu_mix:.0f} req/s mix"
            f" ({1000 / cpu_mix / GOAL_RPS:.2f} x goal), {1000 / max(cpu_trivial, 1e-9):.0f} trivial"
        )


def run_server_and_bench(n: int, concurrency: int, rounds: int) -> None:
    deadline = time.monotonic() + TIME_BUDGET_S
    server_core, client_cores = pick_cores()
    if client_cores and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, client_cores)
        except OSError:
            client_cores = None
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(port),
            str(server_core),
            str(SEED),
            TODAY.isoformat(),
            NOW,
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if child.poll() is not None:
                raise SystemExit(f"sandbox server exited with {child.returncode}")
            if time.monotonic() > deadline - 80:
                raise SystemExit("sandbox server did not start in time")
            try:
                httpx.get(url + "/sandbox/clock", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        pinned = f"core {server_core}" if server_core >= 0 else "not pinned"
        print(f"sandbox server pid {child.pid} ({pinned}); client cores {client_cores or 'any'}")
        asyncio.run(bench(url, child.pid, n, concurrency, rounds, deadline))
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def profile(n: int) -> None:
    """The same mix, in-process through the ASGI app, under cProfile."""
    import cProfile
    import pstats

    from livekit.sandbox.app import create_app

    cfg = SandboxConfig(
        seed=SEED,
        today=TODAY,
        now=datetime.strptime(NOW, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ),
        speed=0.0,
    )
    app = create_app(cfg)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            mix = await build_mix(http, cfg)
            for req in mix:
                await send(http, req)
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            await drive(http, mix, n, 1)
            prof.disable()
            print(f"in-process (ASGI, no sockets): {n / (time.perf_counter() - t0):.1f} req/s")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)

    asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=6, help="interleaved mix/trivial rounds")
    ap.add_argument("--profile", action="store_true", help="cProfile the handlers in-process")
    args = ap.parse_args()
    if args.profile:
        profile(min(args.requests, 1000))
    else:
        run_server_and_bench(args.requests, args.concurrency, args.rounds)


if __name__ == "__main__":
    main()
