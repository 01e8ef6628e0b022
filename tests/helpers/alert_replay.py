"""Replay every show of the sandbox through the live monitor's state and alert engine, fast.

``livekit.jobs.replay_sandbox`` (tests/test_monitor_e2e.py) goes through HTTP, the poller and
the store: right for a few shows, too slow for the 244 shows of 90 days. Here the product
lists are computed straight from the simulated visits, vectorised per show (the same counters
as ``livekit.sandbox.aggregates.product_rows``: :func:`check_rows` compares them), and fed,
one poll a minute, to the real :class:`~livekit.monitor.live.LiveState` and the real
:func:`~livekit.monitor.engine.machine.evaluate`. Rooms carry their identity only unless
asked for the sandbox's room counters too (``room_counters``: slower, for room rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from livekit.monitor.engine import machine
from livekit.monitor.engine.state import EngineState
from livekit.monitor.live import LiveState
from livekit.monitor.poll import empty_products, empty_rooms
from livekit.monitor.rules import Rule
from livekit.sandbox import aggregates as agg
from livekit.sandbox.world import Session, World
from livekit.store.datasets import LIVE_COUNTERS, LIVE_PRODUCT_SNAPSHOTS, LIVE_SNAPSHOTS
from livekit.vocab.tz import CHINA_TZ

OFFSET_S = 30.0  # the first poll, after the show went on air (as test_monitor_e2e replays)
STEP_S = 60.0  # one poll a minute


@dataclass(frozen=True)
class Firing:
    """A firing transition of the replay."""

    rule: str
    room_id: int
    product_id: int | None
    at: datetime
    minute: int | None
    value: float | None
    baseline: float | None


def poll_times(s: Session, offset_s: float = OFFSET_S, step_s: float = STEP_S) -> np.ndarray:
    """Epoch seconds of the polls that see the show on air, plus one after it ended."""
    on_air = np.arange(s.start_ts + offset_s, s.end_ts, step_s)
    return np.append(on_air, on_air[-1] + step_s if on_air.size else s.start_ts + offset_s)


def _first_per_viewer(viewer: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Sorted first times of each distinct viewer (a viewer counted once, when first seen)."""
    if t.size == 0:
        return t
    order = np.lexsort((t, viewer))
    v, tt = viewer[order], t[order]
    first = np.ones(v.size, dtype=bool)
    first[1:] = v[1:] != v[:-1]
    return np.sort(tt[first])


def product_rows(world: World, s: Session, times: np.ndarray) -> list[list[dict[str, Any]]]:
    """The product list (the fields the monitor asks for) at each of ``times`` while on air."""
    v = s.visits
    sec = np.clip(times - s.start_ts, -1.0, float(s.duration_s))
    seg_starts = s.segment_start_s
    n_started = np.searchsorted(seg_starts, sec, "right")
    current = np.where(n_started > 0, s.segment_product[np.maximum(n_started - 1, 0)], -1)
    on_air = times < s.end_ts
    per_tick: list[list[dict[str, Any]]] = [[] for _ in times]
    click_s = np.nan_to_num(v.click_s, nan=np.inf)
    pay_s = np.nan_to_num(v.pay_s, nan=np.inf)
    for pos, pidx in enumerate(s.lineup.tolist()):
        p = world.products[pidx]
        mine = v.product == pos
        clicks = mine & v.clicked
        paid = mine & v.paid
        click_u = np.searchsorted(
            _first_per_viewer(v.viewer[clicks], click_s[clicks]), sec, "right"
        )
        pay_u = np.searchsorted(_first_per_viewer(v.viewer[paid], pay_s[paid]), sec, "right")
        order = np.argsort(pay_s[paid], kind="stable")
        pay_sorted = pay_s[paid][order]
        orders = np.searchsorted(pay_sorted, sec, "right")
        gmv = np.concatenate([[0], np.cumsum(v.amount_fen[paid][order])])[orders]
        sold = np.concatenate([[0], np.cumsum(v.item_num[paid][order])])[orders]
        seg_mine = np.concatenate([[0], np.cumsum(s.segment_product == pos)])[n_started]
        for k in np.flatnonzero(on_air).tolist():
            being = int(current[k]) == pos
            per_tick[k].append(
                {
                    "productId": p.product_id,
                    "title": p.title,
                    "explain_status": "BEINGEXPLAIN"
                    if being
                    else ("HASEXPLAIN" if seg_mine[k] else "UNEXPLAIN"),
                    "live_product_Inventory": max(int(s.inventory0[pos]) - int(sold[k]), 0),
                    "live_product_explain_cnt": int(seg_mine[k]),
                    "live_pay_order_gmv_alias": agg.yuan(int(gmv[k])),
                    "live_pay_order_count_alias": int(orders[k]),
                    "product_click_pay_ucnt_ratio": agg.pct(int(pay_u[k]), int(click_u[k])),
                }
            )
    return per_tick


def check_rows(world: World, s: Session, times: Iterable[float]) -> None:
    """Assert that :func:`product_rows` equals the sandbox's own product list at ``times``."""
    times = np.asarray(list(times), dtype=float)
    mine = product_rows(world, s, times)
    for k, t in enumerate(times.tolist()):
        theirs = agg.product_rows(world, s, t) if t < s.end_ts else []
        assert [{f: r[f] for f in row} for r, row in zip(theirs, mine[k], strict=True)] == mine[
            k
        ], (s.room_id, t)


def _frames(
    world: World, s: Session, times: np.ndarray, room_counters: bool = False
) -> tuple[dict[float, pl.DataFrame], dict[float, pl.DataFrame]]:
    stamps = [datetime.fromtimestamp(float(t), CHINA_TZ) for t in times]
    head = {
        "room_id": s.room_id,
        "advertiser_id": 1,
        "aweme_id": s.account.aweme_id,
        "aweme_name": s.account.aweme_name,
        "room_title": s.title,
        "start_time": datetime.fromtimestamp(s.start_ts, CHINA_TZ),
    }
    none_on_air = empty_rooms()
    if room_counters:  # the sandbox's own room counters at every poll (slower)
        room_rows = [
            {
                "snapshot_time": at,
                **head,
                **{f: v for f, v in agg.room_metrics(world, s, t).items() if f in LIVE_COUNTERS},
            }
            for t, at in zip(times.tolist(), stamps, strict=True)
            if t < s.end_ts
        ]
        frame = pl.DataFrame(room_rows, schema=dict(LIVE_SNAPSHOTS.schema), strict=False)
        by_time = frame.partition_by("snapshot_time", as_dict=True)
        rooms = {
            float(t): by_time.get((at,), none_on_air)
            for t, at in zip(times.tolist(), stamps, strict=True)
        }
    else:  # the room's identity only; one row serves every poll (the poll stamps the time)
        room = pl.DataFrame(
            [{"snapshot_time": stamps[0], **head}],
            schema=dict(LIVE_SNAPSHOTS.schema),
            strict=False,
        )
        rooms = {float(t): room if t < s.end_ts else none_on_air for t in times.tolist()}
    rows = [
        {"snapshot_time": at, "room_id": s.room_id, **r}
        for at, tick in zip(stamps, product_rows(world, s, times), strict=True)
        for r in tick
    ]
    frame = pl.DataFrame(rows, schema=dict(LIVE_PRODUCT_SNAPSHOTS.schema), strict=False)
    parts = frame.partition_by("snapshot_time", as_dict=True)
    none = empty_products()
    products = {
        float(t): parts.get((at,), none) for t, at in zip(times.tolist(), stamps, strict=True)
    }
    return rooms, products


def replay_show(
    world: World,
    s: Session,
    rules: Sequence[Rule],
    times: np.ndarray | None = None,
    room_counters: bool = False,
) -> list[Firing]:
    """The firings of ``rules`` over one show polled at ``times`` (default: every minute);
    ``room_counters`` for room rules (without, rooms carry their identity only)."""
    times = poll_times(s) if times is None else times
    rooms, products = _frames(world, s, times, room_counters)
    live = LiveState()
    state = EngineState(epoch="replay")
    out: list[Firing] = []
    for t in times.tolist():
        at = datetime.fromtimestamp(t, CHINA_TZ)
        live.update(at, rooms[t], products[t], product_rooms=(s.room_id,) if t < s.end_ts else ())
        changes = machine.evaluate(rules, state, live)
        state = EngineState(epoch=state.epoch, tick=state.tick + 1, alerts=changes.alerts)
        for tr in changes.transitions:
            if tr.kind == "firing":
                a = tr.alert
                out.append(
                    Firing(a.rule, a.room_id, a.product_id, at, a.minute, a.value, a.baseline)
                )
    return out


def replay_world(
    world: World, rules: Sequence[Rule], room_counters: bool = False
) -> dict[int, list[Firing]]:
    """Firings per room over every show of the sandbox's days."""
    return {
        s.room_id: replay_show(world, s, rules, room_counters=room_counters)
        for s in world.all_sessions()
    }
