"""Chinese labels of the words livekit's data uses: dimensions, stages, sources, severities…

One home per label. Metric labels live with the metrics (:mod:`livekit.vocab.metrics`).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ALERT_STATE_LABELS",
    "DATASET_LABELS",
    "DIMENSION_LABELS",
    "SCOPE_LABELS",
    "SEVERITY_LABELS",
    "SEVERITY_ORDER",
    "STAGE_LABELS",
    "TRAFFIC_SOURCE_LABELS",
    "label_of",
]

# Chinese names of the columns a report groups by (custom reports, breakdowns).
DIMENSION_LABELS: dict[str, str] = {
    "date": "日期",
    "week": "周",
    "weekday": "星期",
    "month": "月份",
    "hour": "开播小时",
    "aweme_id": "抖音号 ID",
    "aweme_name": "抖音号",
    "advertiser_id": "千川账户 ID",
    "room_id": "直播间 ID",
    "room_title": "直播标题",
    "room_status": "直播状态",
    "start_time": "开播时间",
    "end_time": "下播时间",
    "anchor_nick": "主播",
    "traffic_source": "流量来源",
    "flow_source": "流量来源",
    "province": "省份",
    "variant": "实验组",
}

# metrics.md, "Live-room funnel": the five stages and their 罗盘 labels, in funnel order.
STAGE_LABELS: dict[str, str] = {
    "impressions": "直播间曝光",
    "entered": "进入直播间",
    "product_exposed": "商品曝光",
    "clicked": "商品点击",
    "paid": "成交",
}

# 巨量千川 flow_performance source names (also the viewer export's traffic_source).
TRAFFIC_SOURCE_LABELS: dict[str, str] = {
    "homepage_follow": "关注页",
    "homepage_hot": "推荐页",
    "other_recommend_live": "直播推荐",
    "video_to_live": "短视频引流",
    "general_search": "搜索",
    "others_homepage": "个人主页",
    "live_merge": "直播广场",
    "ecom_other": "其他电商场景",
    "live_pc_qian_chuan": "千川广告",
}

# Alert severities, most severe first.
SEVERITY_LABELS: dict[str, str] = {"critical": "严重", "warning": "警告", "info": "提示"}
SEVERITY_ORDER: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITY_LABELS)}

# The states of an alert instance (the ``alerts`` dataset's ``state``), and the repeat reminder.
ALERT_STATE_LABELS: dict[str, str] = {
    "pending": "待定",
    "firing": "触发",
    "repeat": "持续",
    "resolved": "恢复",
}

# What an alert or live metric is about.
SCOPE_LABELS: dict[str, str] = {"room": "直播间", "product": "商品"}

# The stored datasets, as the sync's progress and summary name them.
DATASET_LABELS: dict[str, str] = {
    "rooms": "直播场次",
    "room_products": "直播间商品",
    "room_flow": "流量来源",
    "room_audience": "人群画像",
    "ad_daily": "千川日报",
    "room_analysis": "T+1 分析",
    "orders": "抖店订单",
    "order_items": "子订单",
    "viewers": "观众明细",
    "session_arms": "场次实验分组",
    "explanations": "讲解排期",
    "live_snapshots": "直播实时快照",
    "live_product_snapshots": "商品实时快照",
    "alerts": "告警记录",
}


def label_of(name: str, labels: Mapping[str, str] = DIMENSION_LABELS) -> str:
    """The Chinese name of ``name`` from ``labels``, or ``name`` itself when it has none."""
    return labels.get(name, name)
