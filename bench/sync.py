"""How economical and how fast `livekit sync` is: a 30-day backfill under a QPS limit.

Run:  .venv/bin/python bench/sync.py [--qps 50] [--days 30] [--scale 1.0] [--limit 4] [--only-limited]

The sandbox runs as `livekit sandbox serve` in a child process (frozen clock, per-app QPS limit
`--qps`); this process logs in with the demo credentials and runs the real client with
LIVEKIT_QPS equal to the limit. It prints three ratios (machines are noisy; ratios are not):

* requests made / the minimum the endpoints allow (goal 1.00). The minimum is computed from
  the sandbox's own totals, not from the client: discovery (accounts, 抖音号), one room list
  per (抖音号, day), per room one product page + one flow call + two audience calls, one ad
  report and one T+1 analysis page per 100 rooms per 30-day window, one 抖店 page per 100 orders;
* achieved / allowed QPS on 巨量千川, the upstream that bounds the sync (goal >= 0.9);
* data requests made by an immediate second sync of the same closed range (goal 0).

Then a second run meets limits the client does not know (issue 10): the sandbox allows
`--limit` (4) requests/s per platform and half of that on the room flow endpoint, and answers
report pages above 500 with 40001, while the client runs with LIVEKIT_QPS=10. It prints:

* achieved / the server's real limit: 巨量千川 requests the server accepted per second over the
  sync, ÷ `--limit` (goal >= 0.8);
* requests made / the minimum, as above: rate-limit answers count as requests made
  (goal <= 1.05).

Nothing here asserts; the sandbox counts every request it receives (GET /sandbox/stats).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livekit.api.runner import run  # noqa: E402
from livekit.config import load_settings  # noqa: E402
from livekit.ingest.plan import CHINA_TZ  # noqa: E402
from livekit.ingest.run import sync_async  # noqa: E402
from livekit.jobs import authorize_sandbox  # noqa: E402
from livekit.sandbox.server import free_port  # noqa: E402

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 21, 0, tzinfo=CHINA_TZ)
TOKEN_PATHS = ("/open_api/oauth2/access_token/", "/open_api/oauth2/refresh_token/")
DOUDIAN_TOKEN_PATHS = ("/token/create", "/token/refresh")


FLOW_PATH = "/open_api/v1.0/qianchuan/today_live/room/flow_performance/get/"


def start_server(
    port: int, qps: float, scale: float, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "livekit",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--today",
        TODAY.isoformat(),
        "--now",
        NOW.strftime("%Y-%m-%d %H:%M:%S"),
        "--speed",
        "0",
        "--scale",
        str(scale),
        "--qps",
        str(qps),
        *extra,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/sandbox/clock", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("sandbox server did not start")


def stats(url: str) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(url + "/sandbox/stats").json()
    return out


def data_requests(st: dict[str, Any]) -> tuple[int, int]:
    """(巨量千川 data requests, 抖店 data requests) the sandbox received."""
    qc = dd = 0
    for path, n in st["requests"].items():
        if path.startswith("/sandbox/") or path in TOKEN_PATHS or path in DOUDIAN_TOKEN_PATHS:
            continue
        if path.startswith("/open"):
            qc += n
        else:
            dd += n
    return qc, dd


def minimum_requests(url: str, start: date, end: date, awemes: int) -> tuple[int, int]:
    """(巨量千川, 抖店) minimum for [start, end] of closed days, from the sandbox's totals."""
    days = (end - start).days + 1
    windows = math.ceil(days / 30)
    totals = httpx.get(
        url + "/sandbox/totals",
        params={"start_date": start.isoformat(), "end_date": end.isoformat()},
    ).json()
    rooms, orders = int(totals["rooms"]), int(totals["orders"])
    qc = 1 + math.ceil(awemes / 100)  # advertiser list, 抖音号 list
    qc += awemes * days  # one room list per (抖音号, day): never more than 100 rooms
    qc += rooms * 4  # products (one page), flow, audience ENTER + PAY
    qc += windows  # one ad report page (<= 500 days) per window
    for w in range(windows):
        w0 = start + timedelta(days=30 * w)
        w1 = min(end, w0 + timedelta(days=29))
        t = httpx.get(
            url + "/sandbox/totals",
            params={"start_date": w0.isoformat(), "end_date": w1.isoformat()},
        ).json()
        qc += max(1, math.ceil(int(t["rooms"]) / 100))  # T+1 analysis pages
    dd = max(1, math.ceil(orders / 100))
    return qc, dd


@dataclass(frozen=True)
class Backfill:
    """One measured sync: its time, the sandbox's counters, and the requests it needed at least."""

    seconds: float
    stats: dict[str, Any]
    qc: int  # data requests made to 巨量千川
    dd: int  # ... and to 抖店
    min_qc: int
    min_dd: int
    rows: int  # rows stored


def measured_backfill(url: str, settings: Any, start: date, end: date) -> Backfill:
    """Warm the sandbox, reset its counters, and time one sync of [start, end].

    Warming simulates the month's shows once, so that what is measured is the client, not the
    sandbox's first-touch simulation (a real service is warm).
    """
    httpx.get(
        url + "/sandbox/totals",
        params={"start_date": start.isoformat(), "end_date": end.isoformat()},
        timeout=120,
    )
    httpx.post(url + "/sandbox/stats")  # reset counters
    t0 = time.perf_counter()
    result = run(sync_async(settings, start, end, now=NOW))
    seconds = time.perf_counter() - t0
    st = stats(url)
    qc, dd = data_requests(st)
    awemes = sum(len(a["awemes"]) for a in result.accounts)
    min_qc, min_dd = minimum_requests(url, start, end, awemes)
    rows = sum(r.rows for r in result.datasets.values())
    return Backfill(seconds, st, qc, dd, min_qc, min_dd, rows)


def limited_run(start: date, end: date, limit: float, scale: float) -> None:
    """A sync at LIVEKIT_QPS=10 against a sandbox that allows ``limit`` req/s per platform."""
    extra = (
        "--qianchuan-qps",
        str(limit),
        "--doudian-qps",
        str(limit),
        "--endpoint-qps",
        f"{FLOW_PATH}={limit / 2:g}",
        "--report-page-size",
        "500",
    )
    port = free_port()
    server = start_server(port, 1000.0, scale, extra)
    url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(home=Path(home), qps=10.0).for_sandbox(url)
            authorize_sandbox(settings)
            b = measured_backfill(url, settings, start, end)
    finally:
        server.terminate()
        server.wait(timeout=30)
    seconds, qc, dd, min_qc, min_dd = b.seconds, b.qc, b.dd, b.min_qc, b.min_dd
    limited = {p: n for p, n in b.stats["rate_limited"].items() if n}
    qc_limited = sum(n for p, n in limited.items() if p.startswith("/open"))
    accepted = qc - qc_limited
    print(
        f"same backfill, server limit {limit:g} req/s per platform ({limit / 2:g} on room flow), "
        "report pages <= 500, LIVEKIT_QPS=10"
    )
    print(f"  {seconds:.1f} s; {sum(limited.values())} answers were 40100/60000 (real limit)")
    print(
        f"  achieved / server's real limit: {accepted / seconds / limit:.2f}"
        f"   (巨量千川 {accepted / seconds:.2f} of {limit:g} req/s accepted; goal >= 0.8)"
    )
    print(
        f"  requests made / minimum:        {(qc + dd) / (min_qc + min_dd):.2f}"
        f"   (巨量千川 {qc}/{min_qc}, 抖店 {dd}/{min_dd}; goal <= 1.05)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qps", type=float, default=50.0)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--limit", type=float, default=4.0, help="the limited run's real limit")
    parser.add_argument("--only-limited", action="store_true", help="skip the first run")
    args = parser.parse_args()
    end = TODAY - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    if args.only_limited:
        limited_run(start, end, args.limit, args.scale)
        return
    port = free_port()
    server = start_server(port, args.qps, args.scale)
    url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(home=Path(home), qps=args.qps).for_sandbox(url)
            authorize_sandbox(settings)
            b = measured_backfill(url, settings, start, end)
            seconds, qc, dd, min_qc, min_dd = b.seconds, b.qc, b.dd, b.min_qc, b.min_dd
            rate_limited = sum(b.stats["rate_limited"].values())

            httpx.post(url + "/sandbox/stats")
            run(sync_async(settings, start, end, now=NOW))
            again_qc, again_dd = data_requests(stats(url))
    finally:
        server.terminate()
        server.wait(timeout=30)

    rows = b.rows
    print(f"30-day backfill {start} ~ {end}, sandbox scale {args.scale}, QPS limit {args.qps:g}")
    print(f"  stored {rows:,} rows in {seconds:.1f} s; {rate_limited} answers were 40100/60000")
    print(
        f"  requests made / minimum:      {(qc + dd) / (min_qc + min_dd):.2f}"
        f"   (巨量千川 {qc}/{min_qc}, 抖店 {dd}/{min_dd}; goal 1.00)"
    )
    print(
        f"  achieved / allowed QPS:       {qc / seconds / args.qps:.2f}"
        f"   (巨量千川 {qc / seconds:.1f} of {args.qps:g} req/s; goal >= 0.9)"
    )
    print(f"  second sync, data requests:   {again_qc + again_dd}   (goal 0)")
    print()
    limited_run(start, end, args.limit, args.scale)


if __name__ == "__main__":
    main()
