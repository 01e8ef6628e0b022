"""Small hand-made frames for the A/B tests (analysis and page): viewer-export rows and units."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import polars as pl

FIRST, LAST = date(2026, 10, 1), date(2026, 10, 14)
T0 = datetime(2026, 10, 1, 20, 0, 0)


def visits(rows: list[tuple[str, str | None, bool, int | None, int, float]]) -> pl.DataFrame:
    """Viewer-export rows: (viewer_id, variant, paid, clicked_product_id, seconds, pay_amount)."""
    return pl.DataFrame(
        {
            "room_id": [1] * len(rows),
            "viewer_id": [r[0] for r in rows],
            "variant": [r[1] for r in rows],
            "paid": [r[2] for r in rows],
            "clicked_product_id": [r[3] for r in rows],
            "enter_time": [T0] * len(rows),
            "leave_time": [T0 + timedelta(seconds=r[4]) for r in rows],
            "pay_amount": [r[5] for r in rows],
        },
        schema_overrides={
            "variant": pl.String,
            "clicked_product_id": pl.Int64,
            "pay_amount": pl.Float64,
        },
    )


def proportion_units(conv_a: int, n_a: int, conv_b: int, n_b: int) -> pl.DataFrame:
    """Per-viewer units with ``converted`` set for the first ``conv`` viewers of each arm."""
    arm = ["A"] * n_a + ["B"] * n_b
    converted = [i < conv_a for i in range(n_a)] + [i < conv_b for i in range(n_b)]
    return pl.DataFrame(
        {
            "viewer_id": [f"v{i}" for i in range(n_a + n_b)],
            "arm": arm,
            "converted": converted,
            "clicked": converted,
            "watch_seconds": [60.0 + (i % 7) for i in range(n_a + n_b)],
            "gmv": [0.0] * (n_a + n_b),
            "visits": [1] * (n_a + n_b),
        }
    )


def lifts(*, nan: bool = False) -> pl.DataFrame:
    """A results frame of three metrics as the lift chart takes it (verdicts up, none, error)."""
    return pl.DataFrame(
        {
            "label": ["成交转化率", "人均观看时长", "无法计算"],
            "lift": [0.14, 0.01, math.nan if nan else 0.02],
            "lift_low": [0.08, -0.03, math.nan if nan else -0.01],
            "lift_high": [0.20, 0.05, math.nan if nan else 0.05],
            "ci_level": [0.95] * 3,
            "adjusted_p": [0.001, 0.6, None],
            "verdict": ["up", "none", "error"],
        }
    )
