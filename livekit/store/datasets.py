"""The datasets livekit keeps: names, Chinese descriptions, explicit schemas and row keys.

Every dataset is partitioned by one calendar day in China time (the ``date`` column, which
comes from the hive path ``date=YYYY-MM-DD``). Upstream fields keep their upstream names
(``productId``, ``live_product_Inventory`` included); money is yuan as ``Float64`` everywhere
(抖店 sends integer fen and is converted once, on the way in); ids are exact ``Int64`` (19-digit
Douyin ids exceed 2**53, so they never pass through a float) except 抖店 order ids, which the
platform itself sends as strings; times are ``Datetime("us", "Asia/Shanghai")``; rates stay
as the platform sends them (percentages, 3.5 meaning 3.5%).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

TIME = pl.Datetime("us", "Asia/Shanghai")
ID = pl.Int64()
COUNT = pl.Int64()
YUAN = pl.Float64()
RATE = pl.Float64()


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str  # Simplified Chinese, for users; states the unit of money columns
    schema: Mapping[str, pl.DataType]  # stored columns (the ``date`` partition column excluded)
    key: tuple[str, ...]  # columns that identify a row within the dataset
    source: str  # where the rows come from (endpoint), for users and docs
    # Bumped when the rows a sync writes change with the same columns (part of the partition's
    # schema tag, livekit.ingest.plan.schema_tag): partitions synced before are fetched again.
    revision: int = 0


# Metric fields requested from each endpoint, with their types. Order is the column order.
ROOM_METRIC_TYPES: dict[str, str] = {
    "stat_cost": "yuan",
    "cpm_platform": "yuan",
    "click_cnt": "count",
    "ctr": "rate",
    "convert_cnt": "count",
    "convert_rate": "rate",
    "live_pay_order_gmv_alias": "yuan",
    "luban_live_pay_order_gmv": "yuan",
    "live_pay_order_gmv_avg": "yuan",
    "live_pay_order_gmv_roi": "rate",
    "ad_live_prepay_and_pay_order_gmv_roi": "rate",
    "live_create_order_count_alias": "count",
    "luban_live_order_count": "count",
    "live_pay_order_count_alias": "count",
    "luban_live_pay_order_count": "count",
    "live_create_order_rate": "rate",
    "live_pay_order_rate": "rate",
    "total_live_pay_order_gpm": "yuan",
    "luban_live_pay_order_gpm": "yuan",
    "total_live_watch_cnt": "count",
    "live_watch_one_minute_count": "count",
    "total_live_follow_cnt": "count",
    "total_live_comment_cnt": "count",
    "total_live_share_cnt": "count",
    "live_click_cart_count_alias": "count",
    "live_click_product_count_alias": "count",
    "live_order_refund_amount_7d": "yuan",
    "live_order_refund_count_7d": "count",
}
PRODUCT_METRIC_TYPES: dict[str, str] = {
    "live_product_Inventory": "count",
    "live_product_bind_time": "time",
    "live_product_price": "yuan",
    "live_product_explain_cnt": "count",
    "live_pay_order_gmv_alias": "yuan",
    "luban_live_pay_order_gmv": "yuan",
    "live_pay_order_count_alias": "count",
    "luban_live_pay_order_count": "count",
    "product_click_pay_ucnt_ratio": "rate",
    "total_live_pay_order_gpm_ecom": "yuan",
}
ADVERTISER_METRIC_TYPES: dict[str, str] = {
    "stat_cost": "yuan",
    "show_cnt": "count",
    "click_cnt": "count",
    "ctr": "rate",
    "cpm_platform": "yuan",
    "cpc_platform": "yuan",
    "convert_cnt": "count",
    "convert_rate": "rate",
    "pay_order_count": "count",
    "pay_order_amount": "yuan",
    "create_order_count": "count",
    "create_order_amount": "yuan",
    "prepay_and_pay_order_roi": "rate",
    "dy_follow": "count",
    "luban_live_enter_cnt": "count",
    "luban_live_click_product_cnt": "count",
    "all_order_pay_count_7days": "count",
    "all_order_pay_gmv_7days": "yuan",
    "all_order_pay_roi_7days": "rate",
    "indirect_order_pay_count_7days": "count",
    "indirect_order_pay_gmv_7days": "yuan",
    "all_order_refund_count_7d": "count",
    "all_order_refund_amount_7d": "yuan",
}
ANALYSIS_METRIC_TYPES: dict[str, str] = {
    "all_live_watch_cnt_td": "count",
    "all_live_watch_ucnt_td": "count",
    "all_live_enter_room_rate_td": "rate",
    "all_avg_live_pcu_td": "rate",
    "all_live_max_1min_pcu_td": "count",
    "all_avg_live_watch_duration_seconds_td": "rate",
    "all_fans_live_watch_ucnt_td": "count",
    "all_live_follow_cnt_td": "count",
    "all_live_like_cnt_td": "count",
    "all_live_comment_cnt_td": "count",
    "all_live_comment_ucnt_td": "count",
    "all_live_share_cnt_td": "count",
    "all_live_single_watch_over_1m_cnt_td": "count",
    "all_live_single_watch_over_1m_rate_td": "rate",
    "std_ad_cost_amount_td": "yuan",
    "std_ad_show_cnt_td": "count",
    "std_ad_click_cnt_td": "count",
    "std_live_watch_cnt_td": "count",
    "std_live_watch_ucnt_td": "count",
}


def _metrics(types: dict[str, str]) -> dict[str, pl.DataType]:
    kinds = {"yuan": YUAN, "count": COUNT, "rate": RATE, "time": TIME}
    return {name: kinds[kind] for name, kind in types.items()}


ROOMS = Dataset(
    "rooms",
    "直播场次：每场一行（开播日期分区），含千川直播间的消耗、观看、点击、成交等累计指标；金额单位为元，比率为百分数。",
    {
        "room_id": ID,
        "advertiser_id": ID,
        "aweme_id": ID,
        "aweme_name": pl.String(),
        "room_title": pl.String(),
        "room_status": pl.String(),
        "start_time": TIME,
        "end_time": TIME,
        "room_cover": pl.List(pl.String()),
        "room_delivery": COUNT,
        **_metrics(ROOM_METRIC_TYPES),
    },
    ("room_id",),
    "巨量千川 today_live/room/get",
)
ROOM_PRODUCTS = Dataset(
    "room_products",
    "直播间商品：每场每个商品一行，含讲解状态、价格、库存与成交；金额单位为元。",
    {
        "room_id": ID,
        "advertiser_id": ID,
        "productId": ID,
        "title": pl.String(),
        "img_url": pl.String(),
        "explain_status": pl.String(),
        **_metrics(PRODUCT_METRIC_TYPES),
    },
    ("room_id", "productId"),
    "巨量千川 today_live/room/product_list/get",
)
ROOM_FLOW = Dataset(
    "room_flow",
    "直播间流量来源：每场每个来源一行（flow_source 为平台字段名，value 为进入次数）。",
    {"room_id": ID, "advertiser_id": ID, "flow_source": pl.String(), "value": COUNT},
    ("room_id", "flow_source"),
    "巨量千川 today_live/room/flow_performance/get",
)
ROOM_AUDIENCE = Dataset(
    "room_audience",
    "直播间人群画像：进入（ENTER）与成交（PAY）人数，按城市（省份）、性别、年龄分布，每个取值一行。",
    {
        "room_id": ID,
        "advertiser_id": ID,
        "action_event": pl.String(),
        "dimension": pl.String(),
        "name": pl.String(),
        "value": COUNT,
    },
    ("room_id", "action_event", "dimension", "name"),
    "巨量千川 today_live/room/user/get",
)
AD_DAILY = Dataset(
    "ad_daily",
    "千川账户日报（直播带货目标）：每个广告主每天一行，含消耗、成交与 7 日成交/退款；金额单位为元。",
    {
        "advertiser_id": ID,
        "marketing_goal": pl.String(),
        "stat_datetime": TIME,
        **_metrics(ADVERTISER_METRIC_TYPES),
    },
    ("advertiser_id", "marketing_goal", "stat_datetime"),
    "巨量千川 report/advertiser/get（按天）",
)
ROOM_ANALYSIS = Dataset(
    "room_analysis",
    "直播间 T+1 分析：每场一行（次日起可得），含场观、人数、在线人数、平均停留、互动与广告指标；金额单位为元。",
    {
        "room_id": ID,
        "advertiser_id": ID,
        "anchor_id": ID,
        "anchor_nick": pl.String(),
        "room_title": pl.String(),
        "room_status": pl.String(),
        "room_create_time": TIME,
        "room_finish_time": TIME,
        **_metrics(ANALYSIS_METRIC_TYPES),
    },
    ("room_id",),
    "巨量千川 v3.0 report/live_room/analysis/get",
)
# The delivery fields of 抖店 orders (issue 12), named as the official SDKs name them
# (docs/upstream/orders-explanations-clicks.md §1.3-§1.5): the 抖店 Go SDK's
# api/order_searchList/response/order_searchList_response.go (``ShopOrderListItem``,
# ``SkuOrderListItem``, ``LogisticsInfoItem``) and the Java SDK's
# com.doudian.open.api.order_searchList.data.ShopOrderListItem. The order-level ``ship_time``
# and ``receipt_time`` are derived so that they hold under every source (livekit.ingest.convert).
ORDERS = Dataset(
    "orders",
    "抖店订单：每个店铺订单一行（按下单日期分区），含状态、下单/支付/更新时间、承诺发货/发货/收货/完成时间、"
    "收件省市与首个包裹的快递公司；金额已由分换算为元。时间为空表示尚未发生。",
    {
        "order_id": pl.String(),
        "shop_id": ID,
        "order_status": COUNT,
        "order_status_desc": pl.String(),
        "main_status": COUNT,  # order_status plus 21/22/39: refund completed before/after ship/receipt
        "create_time": TIME,
        "pay_time": TIME,
        "update_time": TIME,
        "exp_ship_time": TIME,  # the latest promised ship time (发货超时时间)
        "ship_time": TIME,  # shop ship_time, else the earliest parcel's, else legacy logistics_time
        "receipt_time": TIME,  # the last sku's logistics receipt, else buyer confirm, else finish
        "finish_time": TIME,
        "order_amount": YUAN,
        "pay_amount": YUAN,
        "post_amount": YUAN,
        "promotion_amount": YUAN,
        "b_type": COUNT,
        "doudian_open_id": pl.String(),
        "cancel_reason": pl.String(),
        "post_addr_province": pl.String(),
        "post_addr_city": pl.String(),
        "logistics_company": pl.String(),  # logistics_info[0].company_name (e.g. 顺丰速运)
    },
    ("order_id",),
    "抖店 order.searchList",
)
ORDER_ITEMS = Dataset(
    "order_items",
    "抖店子订单：每个 SKU 行一行（按所属订单的下单日期分区），含商品、件数、金额、直播间与达人、"
    "承诺发货/发货/物流签收/确认收货/完成时间与售后状态；金额已由分换算为元。时间为空表示尚未发生。",
    {
        "order_id": pl.String(),
        "parent_order_id": pl.String(),
        "product_id": ID,
        "product_name": pl.String(),
        "item_num": COUNT,
        "origin_amount": YUAN,
        "sum_amount": YUAN,
        "order_amount": YUAN,
        "pay_amount": YUAN,
        "room_id": ID,
        "author_id": ID,
        "author_name": pl.String(),
        "theme_type": pl.String(),
        "order_status": COUNT,
        "main_status": COUNT,
        "create_time": TIME,
        "pay_time": TIME,
        "update_time": TIME,
        "exp_ship_time": TIME,
        "ship_time": TIME,
        "logistics_receipt_time": TIME,  # the carrier's delivered (signed) time
        "confirm_receipt_time": TIME,  # the buyer confirmed receipt (or it was auto-confirmed)
        "finish_time": TIME,
        "after_sale_status": COUNT,
        "after_sale_type": COUNT,
        "refund_status": COUNT,
    },
    ("order_id",),
    "抖店 order.searchList（sku_order_list）",
)

# ---- written by the live monitor (livekit monitor), appended while a show is on air ----------
LIVE_COUNTERS: dict[str, str] = {
    "total_live_watch_cnt": "count",
    "live_watch_one_minute_count": "count",
    "total_live_comment_cnt": "count",
    "total_live_share_cnt": "count",
    "total_live_follow_cnt": "count",
    "live_click_product_count_alias": "count",
    "live_create_order_count_alias": "count",
    "live_pay_order_count_alias": "count",
    "live_pay_order_gmv_alias": "yuan",
    "stat_cost": "yuan",
}
LIVE_PRODUCT_COUNTERS: dict[str, str] = {
    "live_product_Inventory": "count",
    "live_product_explain_cnt": "count",
    "live_pay_order_count_alias": "count",
    "live_pay_order_gmv_alias": "yuan",
    "product_click_pay_ucnt_ratio": "rate",
}
LIVE_SNAPSHOTS = Dataset(
    "live_snapshots",
    "直播实时快照（livekit monitor 写入）：开播中的直播间每次轮询一行，含观看、评论、点击、成交等累计计数；按快照日期分区，金额单位为元。",
    {
        "snapshot_time": TIME,
        "room_id": ID,
        "advertiser_id": ID,
        "aweme_id": ID,
        "aweme_name": pl.String(),
        "room_title": pl.String(),
        "start_time": TIME,
        **_metrics(LIVE_COUNTERS),
    },
    ("room_id", "snapshot_time"),
    "巨量千川 today_live/room/get（room_status=LIVING，轮询）",
)
LIVE_PRODUCT_SNAPSHOTS = Dataset(
    "live_product_snapshots",
    "直播商品实时快照（livekit monitor 写入）：开播中每个商品每次轮询一行，含库存、讲解状态与累计成交；金额单位为元，点击-成交率为百分数。",
    {
        "snapshot_time": TIME,
        "room_id": ID,
        "productId": ID,
        "title": pl.String(),
        "explain_status": pl.String(),
        **_metrics(LIVE_PRODUCT_COUNTERS),
    },
    ("room_id", "productId", "snapshot_time"),
    "巨量千川 today_live/room/product_list/get（轮询）",
)
ALERTS = Dataset(
    "alerts",
    "告警记录（livekit monitor 写入）：告警每次状态变化一行（待定、触发、恢复），含规则、直播间/商品、取值与阈值、开播分钟与消息正文。",
    {
        "alert_id": pl.String(),
        "rule": pl.String(),
        "metric": pl.String(),
        "severity": pl.String(),
        "scope": pl.String(),
        "room_id": ID,
        "product_id": ID,
        "state": pl.String(),
        "started_at": TIME,
        "changed_at": TIME,
        "value": pl.Float64(),
        "threshold": pl.Float64(),
        "benchmark": pl.Float64(),
        "minute_of_show": COUNT,
        "labels": pl.String(),
        "message": pl.String(),
        "note": pl.String(),
    },
    ("alert_id", "state", "changed_at"),
    "livekit monitor 告警引擎",
)
MONITOR_DATASETS = frozenset({"live_snapshots", "live_product_snapshots", "alerts"})

# ---- imported from files (livekit import viewers; the sandbox serves the same export) --------
# The schema lives here, in the store layer; livekit.viewers (above) reads and validates files
# into it.
VIEWERS_SCHEMA: dict[str, pl.DataType] = {
    "room_id": ID,
    "viewer_id": pl.String(),
    "enter_time": TIME,
    "leave_time": TIME,
    "province": pl.String(),
    "traffic_source": pl.String(),
    "clicked_product_id": ID,  # null: no product clicked
    # when the viewer clicked it; optional in files (a livekit convention, no platform field:
    # docs/upstream/orders-explanations-clicks.md §3); null: no click, or no time given
    "click_time": TIME,
    "paid": pl.Boolean(),
    "pay_amount": YUAN,  # yuan; 0 when not paid
    "variant": pl.String(),  # "A" / "B"; null outside an experiment
}
VIEWERS = Dataset(
    "viewers",
    "观众明细（导入的观看记录）：每次进入直播间一行，含进入/离开时间、省份、流量来源、点击商品与点击时间、"
    "是否成交与实验分组；金额单位为元。",
    VIEWERS_SCHEMA,
    ("room_id", "viewer_id", "enter_time"),  # not unique: a viewer may re-enter within a second
    "观众明细导出文件（livekit import viewers）",
    # 1: the sandbox's export carries the null experiment's arms (variant, 24..11 days back)
    revision=1,
)

# ---- published by the sandbox only (a sandbox sync writes it) ---------------------------------
SESSION_ARMS = Dataset(
    "session_arms",
    "场次实验分组（仅沙盒）：沙盒按场次轮换实验（switchback）的排期，每场一行，含直播间、抖音号与组别（A/B）；"
    "按开播日期分区。真实店铺的分组由商家自己记录（ab_test 报告的 session_arms 参数）。",
    {"room_id": ID, "aweme_id": ID, "variant": pl.String()},
    ("room_id",),
    "沙盒 /sandbox/export/session_arms",
)
# No platform API gives explanation (讲解) windows: 千川's product_list has only the current
# explain_status and a running live_product_explain_cnt (the Ocean Engine Go SDK's
# models/model_qianchuan_today_live_room_product_list_get_v1_0_response_data_list_inner.go), so
# live_product_snapshots rebuilds them by polling; where the monitor did not run, the sandbox
# publishes its explanation schedule as data (docs/upstream/orders-explanations-clicks.md §2).
EXPLANATIONS = Dataset(
    "explanations",
    "讲解排期（仅沙盒）：沙盒每场直播的商品讲解时段，每个讲解窗口一行，含直播间、抖音号、商品与讲解开始/结束时间；"
    "按开播日期分区。真实店铺的讲解时段来自 livekit monitor 轮询记录的商品实时快照（讲解状态）。",
    {"room_id": ID, "aweme_id": ID, "product_id": ID, "start_time": TIME, "end_time": TIME},
    ("room_id", "product_id", "start_time"),
    "沙盒 /sandbox/export/explanations",
)
SANDBOX_DATASETS = frozenset({"session_arms", "explanations"})

CATALOG: dict[str, Dataset] = {
    d.name: d
    for d in (
        ROOMS,
        ROOM_PRODUCTS,
        ROOM_FLOW,
        ROOM_AUDIENCE,
        AD_DAILY,
        ROOM_ANALYSIS,
        ORDERS,
        ORDER_ITEMS,
        LIVE_SNAPSHOTS,
        LIVE_PRODUCT_SNAPSHOTS,
        ALERTS,
        VIEWERS,
        SESSION_ARMS,
        EXPLANATIONS,
    )
}


def get(name: str) -> Dataset:
    """The dataset called ``name``; a readable error listing the known names otherwise."""
    if name not in CATALOG:
        from livekit.vocab.errors import LivekitError

        known = "、".join(CATALOG)
        raise LivekitError(f"未知的数据集 {name!r}：可用的数据集有 {known}")
    return CATALOG[name]


def all_datasets() -> list[Dataset]:
    return list(CATALOG.values())
