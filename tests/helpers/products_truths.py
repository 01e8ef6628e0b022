"""The sandbox's planted product truths, recovered through the shipped analysis path.

One world in-process (no HTTP): its viewer export (with ``click_time``) read the way a user's
file is read (``livekit.viewers.read_viewer_bytes``), its shows as a ``rooms`` frame and its
published explanation schedule as the ``explanations`` dataset's columns; then
``livekit.analysis.explain`` (windows, effect) and ``livekit.analysis.products`` (funnel,
recommended order) as the products report runs them, compared with
``livekit.sandbox.truth_products.products`` for the same window. Shared by
``tests/test_analysis_explain.py`` / ``tests/test_analysis_product_order.py`` (one seed) and
``bench/coverage.py`` (many seeds, for interval coverage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import polars as pl

from livekit.analysis.explain import LiftMethod, explanation_effect, windows_for
from livekit.analysis.products import product_funnel, recommended_order
from livekit.sandbox.export import explanation_columns, to_parquet, viewer_columns
from livekit.sandbox.truth_products import products as product_truth
from livekit.sandbox.world import World
from livekit.viewers import read_viewer_bytes

TIME = pl.Datetime("us", "Asia/Shanghai")
ALPHA = 0.05
TOP = 3  # "the recommended top three"


@dataclass(frozen=True)
class WorldFrames:
    """What the products report reads, for the shows started on days [first, last]."""

    viewers: pl.DataFrame  # VIEWERS_SCHEMA with click_time
    rooms: pl.DataFrame  # room_id, start_time, end_time
    schedule: pl.DataFrame  # the explanations dataset's columns


def _china_time(column: str) -> pl.Expr:
    return (
        pl.col(column)
        .str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S")
        .dt.replace_time_zone("Asia/Shanghai")
    )


def world_frames(world: World, first: date, last: date, now: datetime) -> WorldFrames:
    now_ts = now.timestamp()
    viewers = read_viewer_bytes(to_parquet(viewer_columns(world, first, last, now_ts)), "parquet")
    sessions = [s for s in world.iter_sessions(first, last) if s.start_ts <= now_ts]
    rooms = pl.DataFrame(
        {
            "room_id": [s.room_id for s in sessions],
            "start_time": [s.start_ts for s in sessions],
            "end_time": [s.end_ts for s in sessions],
        },
        schema={"room_id": pl.Int64, "start_time": pl.Int64, "end_time": pl.Int64},
    ).with_columns(
        pl.from_epoch(c, "s").dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Shanghai")
        for c in ("start_time", "end_time")
    )
    schedule = pl.DataFrame(
        explanation_columns(world, first, last, now_ts),
        schema={
            "room_id": pl.Int64,
            "aweme_id": pl.Int64,
            "date": pl.String,
            "product_id": pl.Int64,
            "start_time": pl.String,
            "end_time": pl.String,
        },
    ).with_columns(_china_time("start_time"), _china_time("end_time"))
    return WorldFrames(viewers=viewers, rooms=rooms, schedule=schedule)


@dataclass(frozen=True)
class ProductsRecovery:
    """Per product: the lift interval and the planted expected lift; and the order's top."""

    lifts: pl.DataFrame  # product_id, expected, lift, lift_low, lift_high, covers, clicks
    best: int | None  # truth best_by_click_to_pay
    top: list[int]  # recommended_order's first TOP product ids
    raw_top: list[int]  # the first TOP by the raw click-to-pay (every clicked product)
    raw_top_threshold: list[int]  # the same among products with >= min_clicks clicks
    order: pl.DataFrame = field(compare=False)
    truth: dict[str, Any] = field(compare=False, repr=False)

    @property
    def coverage(self) -> tuple[int, int]:
        """(intervals covering the expected lift, intervals compared)."""
        defined = self.lifts.filter(pl.col("covers").is_not_null())
        return int(defined["covers"].sum()), defined.height

    @property
    def top_has_best(self) -> bool:
        return self.best in self.top

    @property
    def raw_top_has_best(self) -> bool:
        return self.best in self.raw_top


def recover_products(
    world: World,
    first: date,
    last: date,
    now: datetime,
    *,
    method: LiftMethod = "wald-log",
    min_clicks: int = 30,
    frames: WorldFrames | None = None,
) -> ProductsRecovery:
    """Run the products analysis on ``world``'s shows of [first, last] (seen at ``now``) and
    compare with the planted truth of the same window."""
    f = frames or world_frames(world, first, last, now)
    windows = windows_for(f.rooms, None, f.schedule)
    effect = explanation_effect(f.viewers, f.rooms, windows, alpha=ALPHA, method=method)
    truth = product_truth(world, first, last)
    expected = pl.DataFrame(
        [
            {"product_id": p["product_id"], "expected": p["explanation_lift"]}
            for p in truth["products"]
        ],
        schema={"product_id": pl.Int64, "expected": pl.Float64},
    )
    lifts = effect.join(expected, on="product_id", how="inner").select(
        "product_id",
        "expected",
        "lift",
        "lift_low",
        "lift_high",
        (pl.col("clicks_explained") + pl.col("clicks_not_explained")).alias("clicks"),
        pl.when(pl.col("lift_low").is_not_null() & pl.col("expected").is_not_null())
        .then(pl.col("expected").is_between(pl.col("lift_low"), pl.col("lift_high")))
        .alias("covers"),
    )
    funnel = product_funnel(f.viewers, f.rooms, windows)
    order = recommended_order(funnel, min_clicks=min_clicks, alpha=ALPHA)
    raw = funnel.filter(pl.col("clicks") > 0).with_columns(rate=pl.col("paid") / pl.col("clicks"))
    by_rate = raw.sort(["rate", "clicks"], descending=True)
    return ProductsRecovery(
        lifts=lifts,
        best=truth["best_by_click_to_pay"],
        top=order.head(TOP)["product_id"].to_list(),
        raw_top=by_rate.head(TOP)["product_id"].to_list(),
        raw_top_threshold=by_rate.filter(pl.col("clicks") >= min_clicks)
        .head(TOP)["product_id"]
        .to_list(),
        order=order,
        truth=truth,
    )


@lru_cache(maxsize=2)
def seed_recovery(
    seed: int, today: date, now: datetime, days: int, scale: float
) -> ProductsRecovery:
    """:func:`recover_products` of the ``days`` days before ``today`` of ``World(seed, today,
    scale=scale)``, once per process (the explain and product-order tests share it)."""
    world = World(seed, today, scale=scale)
    return recover_products(world, today - timedelta(days=days), today - timedelta(days=1), now)
