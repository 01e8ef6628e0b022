"""Products and regions: rank by the Wilson lower bound, and region over-/under-conversion.

metrics.md: rank products by the Wilson lower bound of click-through or conversion, not the
raw rate, so that 5/10 does not beat 40/100; a region's index is its share of buyers over its
share of viewers (> 1 over-converts), with an interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from livekit.analysis._stats import ALPHA, require_columns, safe_ratio, wilson_bounds, wilson_exprs
from livekit.analysis.explain import explained_per_show
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


# ---- the product funnel and the recommended order ----------------------------------------------
FUNNEL_SCHEMA: dict[str, pl.DataType] = {
    "product_id": pl.Int64(),
    "shows": pl.Int64(),  # shows listing the product
    "visits": pl.Int64(),  # visits of those shows
    "clicks": pl.Int64(),  # visits that clicked the product
    "paid": pl.Int64(),  # of those, paid visits
    "gmv": pl.Float64(),  # yuan
}
EXPLAINED_SCHEMA: dict[str, pl.DataType] = {
    "explained_minutes": pl.Float64(),  # over the shows listing it
    "first_explained_minute": pl.Float64(),  # median over those shows; null: never explained
}
# Role codes of the recommended order (the report page says them in Chinese).
ROLE_OPEN = "open"  # open the show with it: the best click-through among the top ranks
ROLE_EXPLAIN_EARLIER = "explain_earlier"  # converts well but explained late / drawing few clicks
ROLE_DROP = "drop"  # converts clearly worse than the typical ranked product
ORDER_SCHEMA: dict[str, pl.DataType] = {
    "click_through": pl.Float64(),
    "ctr_low": pl.Float64(),
    "ctr_high": pl.Float64(),
    "click_to_pay": pl.Float64(),
    "ctp_low": pl.Float64(),
    "ctp_high": pl.Float64(),
    "ctp_rank_bound": pl.Float64(),  # the ranking's bounds (level 1 - rank_alpha)
    "ctr_rank_bound": pl.Float64(),
    "rank": pl.Int64(),  # 1 = sell first; null with too little data
    "too_little_data": pl.Boolean(),
    "role": pl.String(),  # ROLE_* or null
}
# The ranking's Wilson bounds are two-sided 50% intervals' lower ends (one-sided 75%): see
# recommended_order for why and what it was measured against.
RANK_ALPHA = 0.5
_VIEWERS = "观众明细（viewers）"


def product_funnel(
    viewers: pl.DataFrame, rooms: pl.DataFrame, windows: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Per product: the shows listing it, their visits, its clicks, paid clicks and GMV.

    From the viewer export (one row per visit), over the visits of the ``rooms`` (``room_id``).
    A product is listed in a show when a visit of that show clicked it, or when ``windows``
    (:func:`livekit.analysis.explain.windows_for`) has an explanation of it in that show.
    ``visits`` counts every visit of the listing shows (the click-through denominator);
    ``clicks`` the visits that clicked the product, ``paid`` those of them that paid, ``gmv``
    their ``pay_amount`` (yuan). Columns :data:`FUNNEL_SCHEMA`, plus, with ``windows``,
    ``explained_minutes`` (summed over the listing shows) and ``first_explained_minute`` (the
    median over the shows that explained it of the minute of its first explanation; null when
    never explained). Sorted by ``product_id``.
    """
    require_columns(viewers, ["room_id", "clicked_product_id", "paid", "pay_amount"], _VIEWERS)
    require_columns(rooms, ["room_id"], "直播场次（rooms）")
    ids = rooms.select(pl.col("room_id").cast(pl.Int64)).drop_nulls().unique()
    visits = viewers.with_columns(pl.col("room_id").cast(pl.Int64)).join(
        ids, on="room_id", how="semi"
    )
    per_room = visits.group_by("room_id").agg(pl.len().cast(pl.Int64).alias("visits"))
    keys = ["room_id", "product_id"]
    clicked = (
        visits.filter(pl.col("clicked_product_id").is_not_null())
        .group_by("room_id", pl.col("clicked_product_id").cast(pl.Int64).alias("product_id"))
        .agg(
            pl.len().cast(pl.Int64).alias("clicks"),
            pl.col("paid").fill_null(False).cast(pl.Int64).sum().alias("paid"),
            pl.col("pay_amount")
            .cast(pl.Float64)
            .filter(pl.col("paid").fill_null(False))
            .sum()
            .alias("gmv"),
        )
    )
    listed = clicked
    explained: pl.DataFrame | None = None
    if windows is not None:
        explained = explained_per_show(windows, rooms).join(ids, on="room_id", how="semi")
        listed = clicked.join(explained.select(keys), on=keys, how="full", coalesce=True)
    rows = listed.join(per_room, on="room_id", how="left").with_columns(
        pl.col("clicks", "paid", "visits").fill_null(0), pl.col("gmv").fill_null(0.0)
    )
    out = rows.group_by("product_id").agg(
        pl.len().cast(pl.Int64).alias("shows"),
        pl.col("visits", "clicks", "paid", "gmv").sum(),
    )
    out = out.select(pl.col(c).cast(d) for c, d in FUNNEL_SCHEMA.items())
    if explained is not None:
        per_product = explained.group_by("product_id").agg(
            pl.col("explained_minutes").sum(),
            pl.col("first_minute").median().alias("first_explained_minute"),
        )
        out = out.join(per_product, on="product_id", how="left").with_columns(
            pl.col("explained_minutes").fill_null(0.0)
        )
    return out.sort("product_id")


def recommended_order(
    funnel: pl.DataFrame,
    *,
    min_clicks: int = 30,
    alpha: float = ALPHA,
    rank_alpha: float = RANK_ALPHA,
    top: int = 3,
) -> pl.DataFrame:
    """The order to sell in next: ranked by the Wilson lower bound of click-to-pay, then of
    click-through (metrics.md: a bound, not the raw rate, so 2/3 does not beat 40/100).

    ``funnel`` is :func:`product_funnel` (``product_id``, ``visits``, ``clicks``, ``paid``;
    optionally ``first_explained_minute``). Added columns (:data:`ORDER_SCHEMA`, Wilson
    intervals at level 1 − ``alpha``): ``click_through`` = clicks / visits with ``ctr_low``,
    ``ctr_high``; ``click_to_pay`` = paid / clicks with ``ctp_low``, ``ctp_high``; the ranking
    bounds ``ctp_rank_bound`` and ``ctr_rank_bound``; ``rank``; ``too_little_data``; ``role``.

    Products with fewer than ``min_clicks`` clicks (or inconsistent counts) have too little data:
    ``rank`` null, ``too_little_data`` True, listed after every ranked product (most clicks
    first), never above one. Ranked products: by ``ctp_rank_bound``, then ``ctr_rank_bound``,
    then clicks, then product id (descending, descending, descending, ascending).

    The ranking bounds are the lower ends of Wilson intervals at level 1 − ``rank_alpha``
    (default 0.5: a one-sided 75% bound, z = 0.674), not of the displayed 95% intervals. Why:
    ranking is a decision, not a claim. The data threshold already keeps thin products out;
    past it, the 95% bound (z = 1.96) punishes a product for having fewer clicks far more than
    it separates good from bad. Over 100 sandbox worlds (seeds 1000–1049 and 2000–2049, 30 days
    at scale 0.3; tests/helpers/products_truths.py), the top three held the planted best product
    by click-to-pay 83 times with the 75% bound, 81 with the raw rate (every clicked product,
    or only those past the threshold) and 76 with the 95% bound.

    Roles (codes; null for the rest):

    * :data:`ROLE_OPEN` — among the first ``top`` ranks, the highest ``ctr_low`` (draws the
      most clicks of the products that sell best: open the show with it);
    * :data:`ROLE_DROP` — ``ctp_high`` below the median ``ctp_low`` of the ranked products
      (converts clearly worse than the typical one);
    * :data:`ROLE_EXPLAIN_EARLIER` — not open, ``ctp_low`` at least that median, a ``ctr_low``
      below the ranked products' median (few clicks for how well it converts) and, when the
      funnel has ``first_explained_minute``, explained later than the median ranked product
      (late *and* short of clicks: moving it up is what would bring them). Either condition
      alone flagged a third of the ranked products of a week of sandbox shows, which is no
      advice.
    """
    require_columns(funnel, ["product_id", "visits", "clicks", "paid"], "商品漏斗数据")
    if min_clicks < 1:
        raise LivekitError(f"min_clicks 须为正整数，收到 {min_clicks!r}")
    if top < 1:
        raise LivekitError(f"top 须为正整数，收到 {top!r}")
    visits, clicks, paid = pl.col("visits"), pl.col("clicks"), pl.col("paid")
    ctr_low, ctr_high = wilson_exprs(clicks, visits, alpha)
    ctp_low, ctp_high = wilson_exprs(paid, clicks, alpha)
    ctr_rank, _ = wilson_exprs(clicks, visits, rank_alpha)
    ctp_rank, _ = wilson_exprs(paid, clicks, rank_alpha)
    eligible = (
        (clicks >= min_clicks) & (paid >= 0) & (paid <= clicks) & (clicks <= visits)
    ).fill_null(False)
    out = (
        funnel.drop(*ORDER_SCHEMA, strict=False)
        .with_columns(
            click_through=safe_ratio(clicks, visits),
            ctr_low=ctr_low,
            ctr_high=ctr_high,
            click_to_pay=safe_ratio(paid, clicks),
            ctp_low=ctp_low,
            ctp_high=ctp_high,
            ctp_rank_bound=ctp_rank,
            ctr_rank_bound=ctr_rank,
            too_little_data=~eligible,
        )
        .sort(
            ["too_little_data", "ctp_rank_bound", "ctr_rank_bound", "clicks", "product_id"],
            descending=[False, True, True, True, False],
            nulls_last=True,
        )
        .with_columns(
            rank=pl.when(~pl.col("too_little_data")).then(
                (~pl.col("too_little_data")).cum_sum().cast(pl.Int64)
            )
        )
    )
    ranked = out.filter(~pl.col("too_little_data"))
    role = pl.lit(None, pl.String)
    if ranked.height:
        open_id = (
            ranked.head(top)
            .sort(["ctr_low", "rank"], descending=[True, False])
            .get_column("product_id")[0]
        )
        mid_ctp = ranked.get_column("ctp_low").median()
        mid_ctr = ranked.get_column("ctr_low").median()
        late = pl.lit(True)
        if "first_explained_minute" in ranked.columns:
            mid_first = ranked.get_column("first_explained_minute").median()
            if mid_first is not None:
                late = (pl.col("first_explained_minute") > mid_first).fill_null(False)
        is_ranked = ~pl.col("too_little_data")
        role = (
            pl.when(is_ranked & (pl.col("product_id") == open_id))
            .then(pl.lit(ROLE_OPEN))
            .when(is_ranked & (pl.col("ctp_high") < mid_ctp))
            .then(pl.lit(ROLE_DROP))
            .when(is_ranked & (pl.col("ctp_low") >= mid_ctp) & (pl.col("ctr_low") < mid_ctr) & late)
            .then(pl.lit(ROLE_EXPLAIN_EARLIER))
            .otherwise(pl.lit(None, pl.String))
        )
    return out.with_columns(role=role).with_columns(
        pl.col(c).cast(d) for c, d in ORDER_SCHEMA.items()
    )
