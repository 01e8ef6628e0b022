"""The viewer-level export (protocols.md §3): one row per viewer visit; and the switchback
schedule (``session_arms``) and the explanation schedule (``explanations``), which the sandbox
publishes as data of its own.

This is the file format livekit accepts from users (CSV or Parquet). Columns:

room_id (int64), viewer_id (hashed), enter_time and leave_time (``YYYY-MM-DD HH:MM:SS``,
China time), province, traffic_source, clicked_product_id (int64, empty when none),
click_time (``YYYY-MM-DD HH:MM:SS`` China time of that click, empty when none; optional in
imports), paid (0/1), pay_amount (yuan, 0 when not paid), variant (``A``/``B``, empty outside
an experiment).

A visit still open at the moment of export has leave_time = that moment; a visit open when
the show ended has leave_time = the room's end: both are censored observations.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from livekit.sandbox.world import Session, World, fmt_time

# Column types of the Parquet files (polars type names, resolved lazily: the sandbox serves JSON
# without polars). CSV writes every value as text and None as an empty cell.
VIEWER_TYPES = {
    "room_id": "Int64",
    "viewer_id": "String",
    "enter_time": "String",
    "leave_time": "String",
    "province": "String",
    "traffic_source": "String",
    "clicked_product_id": "Int64",
    "click_time": "String",
    "paid": "Int8",
    "pay_amount": "Float64",
    "variant": "String",
}


COLUMNS = tuple(VIEWER_TYPES)


def _session_columns(
    world: World, s: Session, now_ts: float, hashes: dict[int, str]
) -> dict[str, list[Any]]:
    v = s.visits
    sec = now_ts - s.start_ts
    keep = np.flatnonzero(v.enter_s <= sec)
    leave = np.minimum(v.leave_s[keep], sec)
    paid = v.paid[keep] & (np.nan_to_num(v.pay_s[keep], nan=np.inf) <= sec)
    clicked = v.clicked[keep] & (np.nan_to_num(v.click_s[keep], nan=np.inf) <= sec)
    pids = np.array([world.products[int(i)].product_id for i in s.lineup], dtype=np.int64)
    viewers = v.viewer[keep]
    for vid in np.unique(viewers).tolist():
        if vid not in hashes:
            hashes[vid] = world.viewer_hash(vid)
    prov = world.population.province[viewers]
    return {
        "room_id": [s.room_id] * keep.size,
        "viewer_id": [hashes[i] for i in viewers.tolist()],
        "enter_time": [fmt_time(s.start_ts + t) for t in v.enter_s[keep].tolist()],
        "leave_time": [fmt_time(s.start_ts + t) for t in leave.tolist()],
        "province": [world.province_names[i] for i in prov.tolist()],
        "traffic_source": [world.export_sources[i] for i in v.source[keep].tolist()],
        "clicked_product_id": [
            int(pids[p]) if c else None
            for p, c in zip(v.product[keep].tolist(), clicked.tolist(), strict=True)
        ],
        "click_time": [
            fmt_time(s.start_ts + t) if c else None
            for t, c in zip(v.click_s[keep].tolist(), clicked.tolist(), strict=True)
        ],
        "paid": paid.astype(int).tolist(),
        "pay_amount": [
            round(a / 100, 2) if p else 0.0
            for a, p in zip(v.amount_fen[keep].tolist(), paid.tolist(), strict=True)
        ],
        "variant": [("A", "B")[x] if x >= 0 else None for x in v.variant[keep].tolist()],
    }


def viewer_columns(
    world: World, start: date, end: date, now_ts: float, aweme_id: int | None = None
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    hashes: dict[int, str] = {}
    for s in world.iter_sessions(start, end):
        if s.start_ts > now_ts or (aweme_id is not None and s.account.aweme_id != aweme_id):
            continue
        cols = _session_columns(world, s, now_ts, hashes)
        for c in COLUMNS:
            out[c].extend(cols[c])
    return out


def table_csv(columns: dict[str, list[Any]], names: Sequence[str]) -> bytes:
    """``columns`` as CSV with the header ``names`` (None as an empty cell)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(
        zip(*(["" if x is None else x for x in columns[c]] for c in names), strict=True)
    )
    return buf.getvalue().encode()


def table_parquet(columns: dict[str, list[Any]], types: dict[str, str]) -> bytes:
    """``columns`` as Parquet, typed by ``types`` (polars type names, in column order)."""
    import polars as pl  # lazy: the sandbox serves JSON without it

    frame = pl.DataFrame(columns, schema={c: getattr(pl, t) for c, t in types.items()})
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def to_csv(columns: dict[str, list[Any]]) -> bytes:
    """The viewer export as CSV."""
    return table_csv(columns, COLUMNS)


def to_parquet(columns: dict[str, list[Any]]) -> bytes:
    """The viewer export as Parquet."""
    return table_parquet(columns, VIEWER_TYPES)


# ---- the switchback schedule -----------------------------------------------------------------
# A real merchant keeps the record of which show ran which version outside the platforms; the
# sandbox plays that part by publishing its schedule as a small table (sessions started by now).
ARM_TYPES = {"room_id": "Int64", "aweme_id": "Int64", "date": "String", "variant": "String"}
ARM_COLUMNS = tuple(ARM_TYPES)


def session_arm_columns(
    world: World, start: date, end: date, now_ts: float
) -> dict[str, list[Any]]:
    """One row per session of the switchback experiment in [start, end] started by ``now_ts``."""
    out: dict[str, list[Any]] = {c: [] for c in ARM_COLUMNS}
    for s in world.iter_sessions(start, end):
        if s.switchback < 0 or s.start_ts > now_ts:
            continue
        out["room_id"].append(s.room_id)
        out["aweme_id"].append(s.account.aweme_id)
        out["date"].append(s.day.isoformat())
        out["variant"].append("AB"[s.switchback])
    return out


# ---- the explanation schedule ----------------------------------------------------------------
# Where no monitor polled a show, its explanation windows (讲解) are not in any platform's data;
# the sandbox publishes its schedule as a table, the way a merchant's run sheet would record it.
EXPLANATION_TYPES = {
    "room_id": "Int64",
    "aweme_id": "Int64",
    "date": "String",
    "product_id": "Int64",
    "start_time": "String",
    "end_time": "String",
}
EXPLANATION_COLUMNS = tuple(EXPLANATION_TYPES)


def explanation_windows(s: Session, now_ts: float) -> list[tuple[int, float, float]]:
    """(lineup position, start s, end s) of the show's explanation windows started by
    ``now_ts``, in seconds of the show: a window ends where the next one starts, the last at
    the show's end, one still open at ``now_ts`` there; consecutive segments of one product
    are one window."""
    sec = min(now_ts - s.start_ts, float(s.duration_s))
    ends = np.append(s.segment_start_s[1:], float(s.duration_s)).tolist()
    out: list[tuple[int, float, float]] = []
    for pos, a, b in zip(s.segment_product.tolist(), s.segment_start_s.tolist(), ends, strict=True):
        if a >= sec:  # not started yet (or starting this very second: nothing to show)
            break
        b = min(b, sec)
        if out and out[-1][0] == pos and out[-1][2] == a:
            out[-1] = (pos, out[-1][1], b)
        else:
            out.append((int(pos), float(a), float(b)))
    return out


def explanation_columns(
    world: World, start: date, end: date, now_ts: float
) -> dict[str, list[Any]]:
    """One row per explanation window of every show in [start, end] started by ``now_ts``."""
    out: dict[str, list[Any]] = {c: [] for c in EXPLANATION_COLUMNS}
    for s in world.iter_sessions(start, end):
        if s.start_ts > now_ts:
            continue
        for pos, a, b in explanation_windows(s, now_ts):
            out["room_id"].append(s.room_id)
            out["aweme_id"].append(s.account.aweme_id)
            out["date"].append(s.day.isoformat())
            out["product_id"].append(world.products[int(s.lineup[pos])].product_id)
            out["start_time"].append(fmt_time(s.start_ts + a))
            out["end_time"].append(fmt_time(s.start_ts + b))
    return out
