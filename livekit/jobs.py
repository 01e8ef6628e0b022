"""Top-level jobs that wire the layers together: sync (real or sandbox), the sandbox replay.

Like the CLI, this sits above every layer: it is the one place besides ``livekit.cli`` that may
start the sandbox, so that ``livekit sync --sandbox`` (and a sandbox kit's ``prepare``/``sync``,
which run that command in a subprocess) run exactly the client code a real sync runs, against
an in-process sandbox on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from livekit.config import Settings, load_settings, prepare_home
from livekit.vocab.labels import DATASET_LABELS

if TYPE_CHECKING:
    from pathlib import Path

    from livekit.ingest.run import SyncResult
    from livekit.sandbox.config import SandboxConfig

SANDBOX_QPS = 100.0
WORLD_VERSION_FILE = "world-version"  # in LIVEKIT_HOME/sandbox: the world its store came from


@dataclass
class SandboxSession:
    settings: Settings
    url: str
    server: Any  # livekit.sandbox.server.RunningSandbox

    @property
    def viewer_export_url(self) -> str:
        return self.url + "/sandbox/export/viewers"

    @property
    def session_arms_url(self) -> str:
        return self.url + "/sandbox/export/session_arms"

    @property
    def explanations_url(self) -> str:
        return self.url + "/sandbox/export/explanations"


@contextmanager
def sandbox_session(
    settings: Settings | None = None, config: SandboxConfig | None = None
) -> Iterator[SandboxSession]:
    """An in-process sandbox on loopback, with both platforms authorized (demo credentials).

    The sandbox's clock runs in real time on the real date unless ``config`` says otherwise.
    Its data lives under ``LIVEKIT_HOME/sandbox`` so it never mixes with real data.
    """
    from filelock import FileLock

    from livekit.sandbox.config import SandboxConfig
    from livekit.sandbox.server import running_sandbox

    base = settings or load_settings()
    # One sandbox session at a time per LIVEKIT_HOME: each in-process sandbox issues its own
    # tokens into LIVEKIT_HOME/sandbox/tokens.json, so two at once (reports run with --jobs 2 on
    # a cold store) would overwrite each other's tokens. The second waits, then finds the data.
    prepare_home(base.home)
    lock_dir = prepare_home(base.home / "sandbox")  # the sandbox's own home: private too
    with FileLock(str(lock_dir / "session.lock")):
        _clear_stale_store(lock_dir)
        with running_sandbox(config or SandboxConfig()) as server:
            yield _authorized(base, server)


def _authorized(base: Settings, server: Any) -> SandboxSession:
    s = base.for_sandbox(server.url)
    if "qps" not in base.model_fields_set:
        # The real limit (LIVEKIT_QPS, default 10) guards real accounts; the in-process
        # sandbox has none unless asked, so the demo need not crawl.
        s = s.model_copy(update={"qps": SANDBOX_QPS})
    authorize_sandbox(s)
    return SandboxSession(s, server.url, server)


def clear_stale_sandbox(settings: Settings | None = None) -> bool:
    """Clear the sandbox store when it was synced from another version of the sandbox's world.

    The store's closed days are final and never fetched again, so after an upgrade that
    changes the world (``livekit.sandbox.world.WORLD_VERSION``) they would silently disagree
    with the days synced afterwards. The sandbox store is a cache of a synthetic world: it is
    renamed aside (readers never see half a store) and deleted; the sandbox's tokens stay.
    Returns True when a store was cleared. Runs under the sandbox session lock; every sandbox
    session runs it, and ``livekit report run`` / the scheduler run it before rendering.
    """
    from filelock import FileLock

    base = settings or load_settings()
    home = base.home / "sandbox"
    if not home.is_dir():
        return False  # never used: nothing to clear, and nothing is created
    with FileLock(str(home / "session.lock")):
        return _clear_stale_store(home)


def _clear_stale_store(home: Path) -> bool:
    import os
    import shutil
    import sys

    from livekit._files import write_bytes_atomic
    from livekit.sandbox.world import WORLD_VERSION

    marker = home / WORLD_VERSION_FILE
    want = f"{WORLD_VERSION}\n"
    try:
        have: str | None = marker.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        have = None
    if have == want:
        return False
    store = home / "store"
    cleared = store.is_dir() and any(store.iterdir())
    if store.exists():
        trash = home / f"store.stale-{os.getpid()}"
        os.replace(store, trash)
        shutil.rmtree(trash, ignore_errors=True)
    write_bytes_atomic(marker, want.encode(), mode=0o600)
    if cleared:
        print(
            f"沙盒的模拟世界已更新（版本 {WORLD_VERSION}），旧的沙盒数据已清除，用到时重新生成",
            file=sys.stderr,
        )
    return cleared


def sandbox_auth_code(settings: Settings, state: str = "livekit-sandbox") -> str:
    """The auth_code a browser would bring back from the sandbox's consent page.

    The sandbox approves every consent at once, so its redirect is followed by hand.
    """
    import httpx

    consent = httpx.get(
        settings.qianchuan_auth_url,
        params={
            "app_id": settings.qianchuan_app_id,
            "state": state,
            "redirect_uri": "http://127.0.0.1/callback",
        },
        timeout=30,
    )
    query = parse_qs(urlsplit(consent.headers["location"]).query)
    if query.get("state") != [state]:
        raise RuntimeError("sandbox consent returned another state")
    return query["auth_code"][0]


def authorize_sandbox(settings: Settings) -> None:
    """Authorize both platforms of the sandbox ``settings`` points at (demo credentials)."""
    from livekit.api.auth import create_doudian_token, exchange_code
    from livekit.api.runner import run

    run(exchange_code(settings, sandbox_auth_code(settings)))
    run(create_doudian_token(settings))


def run_sync(
    start: date,
    end: date,
    *,
    refresh: bool = False,
    datasets: list[str] | None = None,
    sandbox: bool = False,
    progress: bool = True,
    settings: Settings | None = None,
    now: datetime | None = None,
    shop: str | None = None,
) -> SyncResult:
    """Synchronous face of the sync (works inside a running event loop too).

    ``datasets`` names the API datasets to sync (None: all). The sandbox's own exports (viewer
    export, switchback and explanation schedules) come with a full sync only: ``--datasets
    rooms`` over two years (the forecast's history) must not fetch two years of viewers.

    ``shop`` picks a shop of the shops file (:func:`livekit.shops.select`: None is
    ``settings.shop``, else the only shop; no shops file: one shop, as always). The built-in
    sandbox session is one shop: a ``shop`` with ``sandbox`` is one ShopError line.
    """
    from livekit.shops import ShopError, select
    from livekit.source import sync_store

    base = settings or load_settings()
    if sandbox:
        if shop is not None:
            raise ShopError(
                f"内置沙盒只有一个店铺，不能选择店铺 “{shop[:40]}”：请去掉 --shop 或 --sandbox"
            )
        base = base.for_shop(None)  # whatever LIVEKIT_SHOP says: the sandbox has no shop level
    else:
        base = select(base, shop)
    with sandbox_session(base) if sandbox else nullcontext() as session:
        s = session.settings if session else base
        exports = session if datasets is None else None
        return sync_store(
            s,
            start,
            end,
            refresh=refresh,
            datasets=datasets,
            progress=progress,
            now=now,
            viewer_export_url=exports.viewer_export_url if exports else None,
            session_arms_url=exports.session_arms_url if exports else None,
            explanations_url=exports.explanations_url if exports else None,
        )


def summary_rows(result: SyncResult) -> list[tuple[str, str, str, str]]:
    """(dataset label, days fetched, days already fresh, rows written) for a summary table."""
    return [
        (
            f"{DATASET_LABELS.get(name, name)}（{name}）",
            str(r.fetched_days),
            str(r.skipped_days),
            str(r.rows),
        )
        for name, r in result.datasets.items()
    ]


def replay_sandbox(
    windows: list[tuple[datetime, datetime]],
    *,
    ruleset: Any,
    channels: Any,
    step_s: float = 60.0,
    settings: Settings | None = None,
    config: SandboxConfig | None = None,
    on_tick: Any = None,
    deliver_s: float = 30.0,
) -> list[Any]:
    """Run the live monitor over stretches of the sandbox's world, stepping its clock.

    For each ``(start, end)`` window the sandbox clock is frozen and moved ``step_s`` seconds
    before each tick, so a four-hour show replays in seconds and every tick sees exactly the
    moment it asks for (the monitor reads the same stepped time). Snapshots, alert records and
    alert states go to the sandbox's own ``LIVEKIT_HOME/sandbox``. Returns the
    :class:`livekit.monitor.run.TickResult` of every tick.
    """
    from dataclasses import replace
    from datetime import timedelta

    from livekit.api.runner import run
    from livekit.monitor.run import Monitor

    if not windows:
        return []
    from livekit.sandbox.config import SandboxConfig

    cfg = replace(config or SandboxConfig(), now=windows[0][0], speed=0.0)
    results: list[Any] = []
    with sandbox_session(settings, cfg) as session:
        clock = session.server.sandbox.clock

        async def now() -> datetime:
            value: datetime = clock.now()
            return value

        async def main() -> None:
            async with Monitor(
                session.settings, ruleset, channels, interval_s=0.0, clock=now, on_tick=on_tick
            ) as monitor:
                for start, end in windows:
                    t = start
                    while t <= end:
                        clock.set(t, 0.0)
                        results.append(await monitor.tick())
                        t += timedelta(seconds=step_s)
                await monitor.deliver(deadline_s=deliver_s)

        run(main())
    return results


def fill_sandbox_monitor(
    days: list[date], settings: Settings | None = None, rules_path: Path | None = None
) -> list[date]:
    """Give the sandbox's monitor datasets the given past days, by replaying their shows.

    For each day (before the sandbox's today) with no ``live_snapshots`` stored yet, every show
    of that day is replayed through the live monitor with the rules of ``rules_path``
    (notifications go nowhere), so that ``livekit.open("sandbox").load("live_snapshots", day)``
    and the post-show review notebook work offline like everything else. With no rules file
    the shows are replayed without rules: snapshots only. Returns the days replayed.
    ``livekit sandbox replay`` runs this (a sandbox kit's ``prepare`` runs that command).
    """
    import io

    from livekit.monitor.notify import parse_channel_specs, resolve_channels
    from livekit.monitor.rules import load_rules
    from livekit.sandbox.config import SandboxConfig
    from livekit.sandbox.world import CHINA_TZ, World
    from livekit.store import Store

    base = settings or load_settings()
    clear_stale_sandbox(base)  # before reading which days the store already holds
    store = Store(base.model_copy(update={"home": base.home / "sandbox"}).store_dir)
    config = SandboxConfig()
    today = config.today or datetime.now(CHINA_TZ).date()  # the sandbox's today: China's
    world = World(config.seed, today, config.history_days, config.scale)
    todo = [
        d
        for d in days
        if world.in_range(d) and d < world.today and d not in store.partitions("live_snapshots")
    ]
    if not todo:
        return []
    if rules_path is not None and rules_path.is_file():
        ruleset = load_rules(rules_path)
    else:
        from livekit.monitor.rules import RuleSet

        ruleset = RuleSet((), {}, "<none>")
    channels = resolve_channels(
        parse_channel_specs(ruleset.channels),
        {"console"},
        {},
        console_stream=io.StringIO(),
    )
    # every rule goes to the console only: a replay of the past must not page anyone
    ruleset = type(ruleset)(
        tuple(r.model_copy(update={"channels": ("console",)}) for r in ruleset.rules),
        {},
        ruleset.source,
        ruleset.lines,
    )
    windows: list[tuple[datetime, datetime]] = []
    for d in todo:
        spans = sorted((s.start_ts, s.end_ts + 120) for s in world.sessions_on(d))
        merged: list[list[float]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        windows += [
            (datetime.fromtimestamp(a + 30, CHINA_TZ), datetime.fromtimestamp(b, CHINA_TZ))
            for a, b in merged
        ]
    if windows:
        replay_sandbox(windows, ruleset=ruleset, channels=channels, settings=base, config=config)
    return todo
