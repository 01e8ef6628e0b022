"""Upstream JSON → typed polars frames in the store's schemas (livekit.store.datasets).

One place converts units and types, once: 千川 times (``YYYY-MM-DD HH:MM:SS`` China time) and
抖店 times (Unix seconds, 0 meaning "not yet") become ``Datetime("us", "Asia/Shanghai")``;
抖店 fen become yuan; counts that a report sends as floats (``12.0``) become exact integers.
Rows are built with an explicit raw schema, so 19-digit ids go from Python ints straight into
Int64 and never through a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import polars as pl

from livekit.store.datasets import (
    AD_DAILY,
    ORDER_ITEMS,
    ORDERS,
    ROOM_ANALYSIS,
    ROOM_AUDIENCE,
    ROOM_FLOW,
    ROOM_PRODUCTS,
    ROOMS,
    TIME,
    Dataset,
)

QC_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DAY = "_day"  # helper column: the partition day of each row


def _qc_time(name: str) -> pl.Expr:
    return (
        pl.col(name)
        .replace("", None)
        .str.to_datetime(QC_TIME_FORMAT, time_zone="Asia/Shanghai", time_unit="us")
    )


def _epoch_time(name: str) -> pl.Expr:
    return (
        pl.when(pl.col(name) > 0)
        .then(pl.from_epoch(pl.col(name), "s"))
        .otherwise(None)
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("Asia/Shanghai")
        .cast(TIME)
    )


def _exact_int(name: str) -> pl.Expr:
    """A count sent as a float: cast to Int64, refusing silent truncation of a fraction."""
    col = pl.col(name)
    return (
        pl.when(col.is_null() | (col == col.round(0)))
        .then(col.cast(pl.Int64))
        .otherwise(pl.lit(None, pl.Int64))
    )


def _qianchuan_frame(
    ds: Dataset,
    rows: list[dict[str, Any]],
    constants: Mapping[str, Any],
    float_counts: bool = False,
) -> pl.DataFrame:
    raw: dict[str, pl.DataType] = {}
    exprs: list[pl.Expr] = []
    for name, dtype in ds.schema.items():
        if name in constants:
            exprs.append(pl.lit(constants[name], dtype).alias(name))
            continue
        if dtype == TIME:
            raw[name] = pl.String()
            exprs.append(_qc_time(name).alias(name))
        elif float_counts and dtype == pl.Int64() and not name.endswith("_id"):
            raw[name] = pl.Float64()
            exprs.append(_exact_int(name).alias(name))
        else:
            raw[name] = dtype
            exprs.append(pl.col(name))
    frame = pl.from_dicts(rows, schema=raw) if rows else pl.DataFrame(schema=raw)
    _check_exact(frame, ds, float_counts)
    return frame.select(exprs)


def _check_exact(frame: pl.DataFrame, ds: Dataset, float_counts: bool) -> None:
    if not float_counts or frame.is_empty():
        return
    for name, dtype in ds.schema.items():
        if name in frame.columns and frame.schema[name] == pl.Float64() and dtype == pl.Int64():
            bad = frame.filter(pl.col(name) != pl.col(name).round(0))
            if not bad.is_empty():
                raise ValueError(f"{ds.name}.{name}: 非整数计数 {bad[name][0]!r}")


def rooms(rows: list[dict[str, Any]], advertiser_id: int) -> pl.DataFrame:
    return _qianchuan_frame(ROOMS, rows, {"advertiser_id": advertiser_id})


def room_products(rows: list[dict[str, Any]], room_id: int, advertiser_id: int) -> pl.DataFrame:
    return _qianchuan_frame(
        ROOM_PRODUCTS, rows, {"room_id": room_id, "advertiser_id": advertiser_id}
    )


def room_flow(data: Mapping[str, Any], room_id: int, advertiser_id: int) -> pl.DataFrame:
    rows = [
        {"flow_source": k, "value": v}
        for k, v in data.items()
        if isinstance(v, int) and not isinstance(v, bool)
    ]
    return _qianchuan_frame(ROOM_FLOW, rows, {"room_id": room_id, "advertiser_id": advertiser_id})


AUDIENCE_KEYS = {  # response key -> (dimension, name field)
    "city": ("CITY", "city_name"),
    "gender": ("GENDER", "gender_type"),
    "age": ("AGE", "age_type"),
}


def room_audience(
    data: Mapping[str, Any], action_event: str, room_id: int, advertiser_id: int
) -> pl.DataFrame:
    rows = []
    for key, (dimension, field) in AUDIENCE_KEYS.items():
        for item in data.get(key) or []:
            rows.append({"dimension": dimension, "name": item[field], "value": item["value"]})
    return _qianchuan_frame(
        ROOM_AUDIENCE,
        rows,
        {"room_id": room_id, "advertiser_id": advertiser_id, "action_event": action_event},
    )


def ad_daily(rows: list[dict[str, Any]], advertiser_id: int, marketing_goal: str) -> pl.DataFrame:
    frame = _qianchuan_frame(
        AD_DAILY,
        rows,
        {"advertiser_id": advertiser_id, "marketing_goal": marketing_goal},
        float_counts=True,
    )
    return frame.with_columns(pl.col("stat_datetime").dt.date().alias(DAY))


def room_analysis(rows: list[dict[str, Any]], advertiser_id: int) -> pl.DataFrame:
    flat = [
        {**{k: v for k, v in r.items() if k != "fields"}, **(r.get("fields") or {})} for r in rows
    ]
    frame = _qianchuan_frame(ROOM_ANALYSIS, flat, {"advertiser_id": advertiser_id})
    return frame.with_columns(pl.col("room_create_time").dt.date().alias(DAY))


# ---- 抖店 ------------------------------------------------------------------------------
ORDER_TIMES = ("create_time", "pay_time", "update_time", "finish_time")
FEN = ("order_amount", "pay_amount", "post_amount", "promotion_amount")
ITEM_FEN = ("origin_amount", "sum_amount", "order_amount", "pay_amount")


def _doudian_frame(
    ds: Dataset, rows: list[dict[str, Any]], times: Iterable[str], fen: Iterable[str]
) -> pl.DataFrame:
    times, fen = set(times), set(fen)
    raw: dict[str, pl.DataType] = {}
    exprs: list[pl.Expr] = []
    for name, dtype in ds.schema.items():
        if name in times:
            raw[name] = pl.Int64()
            exprs.append(_epoch_time(name).alias(name))
        elif name in fen:
            raw[name] = pl.Int64()
            exprs.append((pl.col(name) / 100).alias(name))
        else:
            raw[name] = dtype
            exprs.append(pl.col(name))
    frame = pl.from_dicts(rows, schema=raw) if rows else pl.DataFrame(schema=raw)
    return frame.select(exprs).with_columns(pl.col("create_time").dt.date().alias(DAY))


def orders(shop_orders: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(orders, order_items) frames, each with the helper day column (the order's create day)."""
    heads: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for o in shop_orders:
        addr = o.get("post_addr") or {}
        heads.append(
            {
                **o,
                "post_addr_province": (addr.get("province") or {}).get("name"),
                "post_addr_city": (addr.get("city") or {}).get("name"),
            }
        )
        for sku in o.get("sku_order_list") or []:
            after = sku.get("after_sale_info") or {}
            items.append(
                {
                    **sku,
                    "parent_order_id": sku.get("parent_order_id") or o["order_id"],
                    # the item's day is its order's create day, even if a sku says otherwise
                    "create_time": o["create_time"],
                    "after_sale_status": after.get("after_sale_status"),
                    "after_sale_type": after.get("after_sale_type"),
                    "refund_status": after.get("refund_status"),
                }
            )
    return (
        _doudian_frame(ORDERS, heads, ORDER_TIMES, FEN),
        _doudian_frame(ORDER_ITEMS, items, ("create_time", "pay_time", "update_time"), ITEM_FEN),
    )


def split_by_day(frame: pl.DataFrame, days: Iterable[date]) -> dict[date, pl.DataFrame]:
    """One frame per requested day (empty frames for days without rows), helper column dropped."""
    out = {d: frame.filter(pl.col(DAY) == d).drop(DAY) for d in days}
    return out
