"""Products and regions: rank by the Wilson lower bound, and region over-/under-conversion.

metrics.md: rank products by the Wilson lower bound of click-through or conversion, not the
raw rate, so that 5/10 does not beat 40/100; a region's index is its share of buyers over its
share of viewers (> 1 over-converts), with an interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from livekit.analysis._stats import ALPHA, require_columns, safe_ratio, wilson_bounds, wilson_exprs
from livekit.analysis.regions import REGION_SCHEMA as REGION_SCHEMA  # one home: regions.py
from livekit.analysis.regions import region_index as region_index
from livekit.vocab.errors import LivekitError


def wilson_interval(successes: float, trials: float, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson score interval (low, high) of ``successes / trials`` at level 1 − ``alpha``.

    Agrees with statsmodels ``proportion_confint(successes, trials, alpha, method="wilson")``.
    ``trials == 0`` gives ``(0.0, 1.0)`` (nothing observed, every rate is possible); negative
    counts or more successes than trials raise :class:`LivekitError`.
    """
    return wilson_bounds(successes, trials, alpha)


def rank_products(
    frame: pl.DataFrame,
    successes: str = "paid",
    trials: str = "clicks",
    *,
    alpha: float = ALPHA,
    min_trials: int = 1,
    by: str | Sequence[str] | None = None,
) -> pl.DataFrame:
    """Rows ranked by the Wilson lower bound of ``successes / trials`` (best first).

    ``frame`` has one row per product (e.g. from :func:`product_conversions`), or several rows
    per product when ``by`` names the product columns to sum over first (e.g. one row per
    room and product). Added columns: ``rate``, ``ci_low``, ``ci_high`` (Wilson, level
    1 − ``alpha``) and ``rank`` (1 = best; ties in the lower bound are broken by the rate, then
    by more trials). Rows with fewer than ``min_trials`` trials, or with more successes than
    trials, stay in the frame, at the bottom, with a null ``rank``.
    """
    require_columns(frame, [successes, trials], "商品排序数据")
    if min_trials < 0:
        raise LivekitError(f"min_trials 不能为负，收到 {min_trials!r}")
    if by is not None:
        keys = [by] if isinstance(by, str) else list(by)
        require_columns(frame, keys, "商品排序数据")
        frame = frame.group_by(keys).agg(pl.col(successes, trials).sum())
    s, n = pl.col(successes), pl.col(trials)
    low, high = wilson_exprs(s, n, alpha)
    eligible = (n >= min_trials) & (n > 0) & (s >= 0) & (s <= n)
    out = frame.with_columns(
        safe_ratio(s, n).alias("rate"), low.alias("ci_low"), high.alias("ci_high")
    ).with_columns(eligible.fill_null(False).alias("_eligible"))
    out = out.sort(
        ["_eligible", "ci_low", "rate", trials],
        descending=[True, True, True, True],
        nulls_last=True,
    )
    ranks = pl.when(pl.col("_eligible")).then(pl.col("_eligible").cum_sum()).cast(pl.Int64)
    return out.with_columns(ranks.alias("rank")).drop("_eligible")


def product_conversions(viewers: pl.DataFrame) -> pl.DataFrame:
    """Per clicked product, from the viewer export: ``clicks``, ``paid`` (visits) and ``gmv``.

    A visit counts as a click of ``clicked_product_id``; a paid visit is credited to the
    product it clicked (the export has one clicked product per visit). Columns:
    ``product_id``, ``clicks``, ``paid``, ``gmv`` (yuan), sorted by ``product_id``.
    """
    require_columns(viewers, ["clicked_product_id", "paid", "pay_amount"], "观众明细（viewers）")
    return (
        viewers.filter(pl.col("clicked_product_id").is_not_null())
        .group_by(pl.col("clicked_product_id").alias("product_id"))
        .agg(
            pl.len().cast(pl.Int64).alias("clicks"),
            pl.col("paid").cast(pl.Int64).sum().alias("paid"),
            pl.col("pay_amount").filter(pl.col("paid")).sum().alias("gmv"),
        )
        .sort("product_id")
    )


def with_titles(frame: pl.DataFrame, room_products: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (with ``product_id``) plus each product's ``title`` from the ``room_products``
    dataset (``productId``, ``title``); a product without one is titled by its id."""
    require_columns(frame, ["product_id"], "商品数据")
    require_columns(room_products, ["productId", "title"], "直播间商品数据（room_products）")
    titles = (
        room_products.select(pl.col("productId").alias("product_id"), "title")
        .filter(pl.col("title").is_not_null())
        .unique("product_id", keep="first", maintain_order=True)
    )
    return (
        frame.drop("title", strict=False)
        .join(titles, on="product_id", how="left", maintain_order="left")
        .with_columns(pl.col("title").fill_null(pl.col("product_id").cast(pl.String)))
    )
