"""Regions: viewers, buyers, conversion and GMV per province, and the region index.

metrics.md: a region's index is its share of buyers over its share of viewers (> 1: it
over-converts), with an interval. This module is the one home of :func:`region_index` (it used
to live in ``products.py``, which re-exports it) and of the province-name normalisation used
for the viewer export and the 抖店 orders alike (``"北京市"`` and ``"北京"`` are one province).

The interval of the index (see :func:`_with_index`) carries the uncertainty of the overall
conversion and its correlation with the province's own (the overall rate contains the
province's buyers). The earlier interval (the Wilson interval of the province's conversion over
the overall rate taken as known) ignores both; for a province with a small share of the viewers
the two omissions nearly cancel (it also covers about 95% in the simulation of
tests/test_analysis_regions.py), but as a province's share grows its index is pinned towards 1
and that interval stays too wide (a single region has index 1 with no uncertainty at all,
yet that interval is as wide as its conversion's).
"""

from __future__ import annotations

import polars as pl

from livekit.analysis._stats import ALPHA, require_columns, safe_ratio, z_value
from livekit.vocab.errors import LivekitError

__all__ = [
    "REGION_SCHEMA",
    "REGION_TABLE_SCHEMA",
    "normalize_province",
    "province_expr",
    "province_series",
    "region_index",
    "region_table",
]

# The official suffixes of China's provincial-level divisions (省, 市 for the four
# municipalities, the five autonomous regions, the two special administrative regions).
# Longest first, so that "广西壮族自治区" loses "壮族自治区" and not just "自治区".
_PROVINCE_SUFFIX = r"(壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|省|市)$"


def province_expr(column: str | pl.Expr) -> pl.Expr:
    """A province name in its short form: ``"北京市"`` → ``"北京"``, ``"内蒙古自治区"`` →
    ``"内蒙古"``, ``"广西壮族自治区"`` → ``"广西"``, ``"广东省"`` → ``"广东"``; surrounding
    blanks dropped; an empty name is null. The short form is the one the viewer export and
    room_audience use; 抖店's ``post_addr.province.name`` has the long form (docs/upstream
    §1.2). The one normalisation every province column goes through."""
    expr = pl.col(column) if isinstance(column, str) else column
    short = expr.cast(pl.String).str.strip_chars().str.replace(_PROVINCE_SUFFIX, "")
    return pl.when(short.str.len_chars() > 0).then(short).otherwise(pl.lit(None, pl.String))


def province_series(values: pl.Series) -> pl.Series:
    """:func:`province_expr` applied to a column, computed once per distinct name (a season's
    orders hold millions of rows but a few dozen spellings; the regular expression on every
    row would cost seconds)."""
    names = values.cast(pl.String)
    distinct = names.unique()
    short = distinct.to_frame("raw").select(province_expr("raw")).to_series()
    mapping = {
        raw: new
        for raw, new in zip(distinct.to_list(), short.to_list(), strict=True)
        if raw is not None and raw != new
    }
    if not mapping:
        return names
    return names.replace(mapping)


def normalize_province(name: str | None) -> str | None:
    """:func:`province_expr` for one name (same rule, through the same expression)."""
    return pl.select(province_expr(pl.lit(name, pl.String))).item()  # type: ignore[no-any-return]


REGION_SCHEMA: dict[str, pl.DataType] = {
    "region": pl.String(),
    "viewers": pl.Int64(),
    "buyers": pl.Int64(),
    "viewer_share": pl.Float64(),
    "buyer_share": pl.Float64(),
    "conversion": pl.Float64(),
    "index": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
}


def _viewer_counts(viewers: pl.DataFrame, extra: list[pl.Expr]) -> pl.DataFrame:
    """Distinct viewers and buyers (and ``extra`` sums) per normalised province.

    One group-by of the rows by their province as written; the names are normalised on the
    groups (a few dozen), not on every row. Only when two spellings of one province occur
    (e.g. "北京" and "北京市") are the rows of those spellings grouped again by the short name,
    so that a viewer seen under both is counted once.
    """
    aggs = [
        pl.col("viewer_id").n_unique().cast(pl.Int64).alias("viewers"),
        pl.col("viewer_id").filter(pl.col("paid")).n_unique().cast(pl.Int64).alias("buyers"),
        *extra,
    ]
    raw = viewers.group_by(pl.col("province").alias("_raw")).agg(aggs)
    raw = raw.with_columns(province_expr("_raw").alias("region"))
    twice = raw.filter(pl.col("region").is_duplicated() & pl.col("region").is_not_null())
    if twice.height == 0:
        return raw.drop("_raw")
    names = twice.get_column("_raw")
    again = (
        viewers.filter(pl.col("province").is_in(names.implode()))
        .with_columns(province_expr("province").alias("region"))
        .group_by("region")
        .agg(aggs)
    )
    return pl.concat(
        [raw.filter(~pl.col("_raw").is_in(names.implode()).fill_null(False)).drop("_raw"), again],
        how="diagonal_relaxed",
    )


def _with_index(counts: pl.DataFrame, alpha: float) -> pl.DataFrame:
    """Shares, conversion, the index and its interval on per-region ``viewers``/``buyers``.

    index_p = (b_p / B) / (n_p / N) = c_p / c, with c_p = b_p / n_p and c = B / N. Write
    ρ = c_p / c_r, the ratio of the region's conversion to that of all OTHER regions
    (c_r = (B − b_p) / (N − n_p)), and w = n_p / N; then c = w·c_p + (1 − w)·c_r and

        index_p = ρ / (w·ρ + 1 − w),

    increasing in ρ. c_p and c_r rest on disjoint viewers, so they are independent: the
    interval of the ratio of two independent proportions, mapped through this function, is
    an interval for the index that carries the uncertainty of the overall rate and its
    correlation with the region's own (the overall rate contains the region's buyers).
    The ratio's interval is the log interval with 0.5 added to each count and each
    denominator (statsmodels ``confint_proportions_2indep(compare="ratio",
    method="log-adjusted")``, its default for ratios; Katz et al. 1978 with the
    Gart–Zweifel adjustment), which stays finite when a region has no buyer. On the sandbox
    it covered the planted expected index for 95.3% of 1,550 province intervals (50 worlds
    at scale 0.3, 30 days each; tests/helpers/regions_truths.py, bench/coverage.py), and 94.8%
    in a simulation with binomial buyers (tests/test_analysis_regions.py; below 90% only for
    a province expecting about two buyers). Undefined values are null; a region that holds
    every viewer has index 1 exactly. Where the adjustment leaves the
    estimate outside the interval (a region without buyers: index 0), the interval is
    widened to include it.
    """
    total_v = int(counts["viewers"].sum() or 0)
    total_b = int(counts["buyers"].sum() or 0)
    z = z_value(alpha)
    b, n = pl.col("buyers").cast(pl.Float64), pl.col("viewers").cast(pl.Float64)
    b_r, n_r = pl.lit(float(total_b)) - b, pl.lit(float(total_v)) - n
    w = n / pl.lit(float(total_v)) if total_v else pl.lit(None, pl.Float64)
    # log-adjusted ratio c_p / c_r (statsmodels' arithmetic, vectorised)
    b_, n_, br_, nr_ = b + 0.5, n + 0.5, b_r + 0.5, n_r + 0.5
    log_ratio = (b_ / n_ / (br_ / nr_)).log()
    half = z * (1 / b_ - 1 / n_ + 1 / br_ - 1 / nr_).sqrt()

    def index_of(rho: pl.Expr) -> pl.Expr:
        return rho / (w * rho + 1 - w)

    defined = (n > 0) & (pl.lit(total_b) > 0)
    whole = n_r == 0  # the only region: its index is 1, with no uncertainty

    def limit(rho: pl.Expr) -> pl.Expr:
        return (
            pl.when(~defined)
            .then(pl.lit(None, pl.Float64))
            .when(whole)
            .then(pl.lit(1.0))
            .otherwise(index_of(rho))
        )

    overall = total_b / total_v if total_v else None
    index = (
        pl.lit(None, pl.Float64)
        if not overall
        else safe_ratio(pl.col("buyers"), pl.col("viewers")) / pl.lit(overall)
    )
    return counts.with_columns(
        safe_ratio(pl.col("viewers"), pl.lit(total_v)).alias("viewer_share"),
        safe_ratio(pl.col("buyers"), pl.lit(total_b)).alias("buyer_share"),
        safe_ratio(pl.col("buyers"), pl.col("viewers")).alias("conversion"),
        index.alias("index"),
        limit((log_ratio - half).exp()).alias("ci_low"),
        limit((log_ratio + half).exp()).alias("ci_high"),
    ).with_columns(
        # the adjustment can leave an estimate at the edge (no buyers: index 0) outside its
        # interval; the interval is widened to contain it
        pl.min_horizontal("ci_low", "index").alias("ci_low"),
        pl.max_horizontal("ci_high", "index").alias("ci_high"),
    )


def _check_counts(counts: pl.DataFrame) -> None:
    bad = counts.filter(
        (pl.col("viewers") < 0) | (pl.col("buyers") < 0) | (pl.col("buyers") > pl.col("viewers"))
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise LivekitError(
            f"地区「{row['region']}」的成交人数（{row['buyers']}）须在 0 与观看人数"
            f"（{row['viewers']}）之间；请检查数据。"
        )


def region_index(
    viewers_or_audience: pl.DataFrame, *, alpha: float = ALPHA, dimension: str = "CITY"
) -> pl.DataFrame:
    """Each region's share of buyers over its share of viewers (index > 1 over-converts).

    Input, either:

    * the viewer export (columns ``viewer_id``, ``province``, ``paid``): per province (names
      normalised by :func:`province_expr`) the distinct viewers and the distinct viewers with
      a paid visit; or
    * the ``room_audience`` dataset (``action_event``, ``dimension``, ``name``, ``value``): per
      ``name`` of ``dimension`` (``CITY`` by default; ``PROVINCE`` names are normalised) the
      ENTER and PAY people, summed over rooms (a person who came to two rooms counts twice).

    index = (buyersᵢ / B) / (viewersᵢ / V) = conversionᵢ / overall conversion, with an
    interval at level 1 − ``alpha`` that includes the uncertainty of the overall conversion
    (see :func:`_with_index`). Columns :data:`REGION_SCHEMA`; sorted by index, highest first.
    """
    z_value(alpha)  # validates alpha
    cols = viewers_or_audience.columns
    if {"viewer_id", "province", "paid"} <= set(cols):
        counts = _viewer_counts(viewers_or_audience, [])
    elif {"action_event", "dimension", "name", "value"} <= set(cols):
        rows = viewers_or_audience.filter(pl.col("dimension") == dimension)
        name = province_expr("name") if dimension == "PROVINCE" else pl.col("name")
        counts = rows.group_by(name.alias("region")).agg(
            pl.col("value").filter(pl.col("action_event") == "ENTER").sum().alias("viewers"),
            pl.col("value").filter(pl.col("action_event") == "PAY").sum().alias("buyers"),
        )
    else:
        raise LivekitError(
            "地域分析需要观众明细（viewer_id、province、paid 列）或人群画像数据"
            f"（action_event、dimension、name、value 列）；现有的列：{'、'.join(cols)}"
        )
    counts = counts.with_columns(pl.col("viewers", "buyers").cast(pl.Int64))
    _check_counts(counts)
    out = _with_index(counts, alpha)
    return out.select(pl.col(name).cast(dtype) for name, dtype in REGION_SCHEMA.items()).sort(
        ["index", "buyers", "region"], descending=[True, True, False], nulls_last=True
    )


REGION_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "province": pl.String(),
    "viewers": pl.Int64(),
    "buyers": pl.Int64(),
    "conversion": pl.Float64(),
    "gmv": pl.Float64(),
    "viewer_share": pl.Float64(),
    "buyer_share": pl.Float64(),
    "index": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "orders": pl.Int64(),
    "order_gmv": pl.Float64(),
}


def region_table(
    viewers: pl.DataFrame, orders: pl.DataFrame | None = None, *, alpha: float = ALPHA
) -> pl.DataFrame:
    """Per province: viewers, buyers, conversion, GMV, shares and the region index.

    ``viewers`` is the viewer export (``viewer_id``, ``province``, ``paid``, ``pay_amount``):
    ``viewers`` = distinct viewers, ``buyers`` = distinct viewers with a paid visit,
    ``conversion`` = buyers / viewers, ``gmv`` = the paid visits' ``pay_amount`` (yuan),
    ``viewer_share``/``buyer_share`` and ``index`` with ``ci_low``/``ci_high`` as in
    :func:`region_index` (level 1 − ``alpha``).

    ``orders`` (optional) is the 抖店 ``orders`` dataset: ``orders`` = paid orders per
    receiver province (``post_addr_province``, normalised) and ``order_gmv`` their
    ``pay_amount``. Provinces with orders but no viewers appear with null viewer columns;
    without ``orders`` both columns are null. A null province (unknown) is a row of its own.
    Sorted by index, highest first (undefined last), then by viewers.
    """
    z_value(alpha)
    require_columns(viewers, ["viewer_id", "province", "paid", "pay_amount"], "观众明细（viewers）")
    gmv = pl.col("pay_amount").filter(pl.col("paid")).sum().cast(pl.Float64).alias("gmv")
    counts = _viewer_counts(viewers, [gmv])
    counts = counts.with_columns(pl.col("viewers", "buyers").cast(pl.Int64))
    table = _with_index(counts, alpha).rename({"region": "province"})
    if orders is not None:
        require_columns(orders, ["pay_time", "pay_amount", "post_addr_province"], "订单（orders）")
        # counts and sums add up: group by the name as written, then by the short name
        by_province = (
            orders.filter(pl.col("pay_time").is_not_null())
            .group_by("post_addr_province")
            .agg(
                pl.len().cast(pl.Int64).alias("orders"),
                pl.col("pay_amount").sum().cast(pl.Float64).alias("order_gmv"),
            )
            .group_by(province_expr("post_addr_province").alias("province"))
            .agg(pl.col("orders").sum(), pl.col("order_gmv").sum())
        )
        table = table.join(by_province, on="province", how="full", coalesce=True, nulls_equal=True)
    return table.select(
        pl.col(name).cast(dtype) if name in table.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in REGION_TABLE_SCHEMA.items()
    ).sort(["index", "viewers", "province"], descending=[True, True, False], nulls_last=True)
