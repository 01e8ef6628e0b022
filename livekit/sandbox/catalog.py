"""Static vocabularies of the synthetic shop: provinces, cities, products, traffic sources.

Weights are rough shares of Douyin e-commerce audiences; they only need to be plausible,
stable and deterministic.
"""

from __future__ import annotations

# (province, capital-or-large city, audience weight)
PROVINCES: tuple[tuple[str, str, float], ...] = (
    ("广东", "广州", 11.0),
    ("江苏", "南京", 7.5),
    ("山东", "济南", 7.0),
    ("浙江", "杭州", 6.8),
    ("河南", "郑州", 6.5),
    ("四川", "成都", 5.6),
    ("河北", "石家庄", 5.0),
    ("湖北", "武汉", 4.3),
    ("湖南", "长沙", 4.3),
    ("福建", "福州", 3.6),
    ("安徽", "合肥", 3.8),
    ("上海", "上海", 3.2),
    ("北京", "北京", 3.0),
    ("陕西", "西安", 2.8),
    ("辽宁", "沈阳", 2.8),
    ("江西", "南昌", 2.6),
    ("广西", "南宁", 2.6),
    ("云南", "昆明", 2.4),
    ("重庆", "重庆", 2.3),
    ("山西", "太原", 2.1),
    ("黑龙江", "哈尔滨", 1.9),
    ("贵州", "贵阳", 1.9),
    ("吉林", "长春", 1.4),
    ("天津", "天津", 1.3),
    ("内蒙古", "呼和浩特", 1.2),
    ("新疆", "乌鲁木齐", 1.1),
    ("甘肃", "兰州", 1.1),
    ("海南", "海口", 0.7),
    ("宁夏", "银川", 0.4),
    ("青海", "西宁", 0.3),
    ("西藏", "拉萨", 0.2),
)

GENDERS: tuple[tuple[str, float], ...] = (("女", 0.64), ("男", 0.36))
AGES: tuple[tuple[str, float], ...] = (
    ("18-23", 0.14),
    ("24-30", 0.27),
    ("31-40", 0.31),
    ("41-50", 0.18),
    ("50+", 0.10),
)

# Traffic sources as the flow_performance endpoint names them. The paid source
# (千川 PC ads) is separate: its share follows the session's ad budget.
ORGANIC_SOURCES: tuple[tuple[str, float], ...] = (
    ("homepage_follow", 0.16),  # 关注页
    ("homepage_hot", 0.08),  # 推荐 feed card
    ("other_recommend_live", 0.38),  # 直播推荐
    ("video_to_live", 0.18),  # 短视频引流
    ("general_search", 0.07),  # 搜索
    ("others_homepage", 0.05),  # 个人主页
    ("live_merge", 0.04),  # 直播广场
    ("ecom_other", 0.04),
)
PAID_SOURCE = "live_pc_qian_chuan"
TRAFFIC_SOURCES: tuple[str, ...] = (*(s for s, _ in ORGANIC_SOURCES), PAID_SOURCE)

# Dwell mixture weights (swiper, browser, stayer) by source: fans stay, ads swipe.
DWELL_MIX: dict[str, tuple[float, float, float]] = {
    "homepage_follow": (0.30, 0.35, 0.35),
    "homepage_hot": (0.60, 0.28, 0.12),
    "other_recommend_live": (0.58, 0.29, 0.13),
    "video_to_live": (0.50, 0.33, 0.17),
    "general_search": (0.40, 0.35, 0.25),
    "others_homepage": (0.35, 0.35, 0.30),
    "live_merge": (0.60, 0.28, 0.12),
    "ecom_other": (0.55, 0.30, 0.15),
    PAID_SOURCE: (0.62, 0.27, 0.11),
}

# (title, price in yuan, attractiveness)
PRODUCTS: tuple[tuple[str, float, float], ...] = (
    ("玻尿酸补水面膜 10片装", 59.9, 1.4),
    ("烟酰胺美白精华 30ml", 129.0, 1.1),
    ("氨基酸洁面乳 120g", 49.9, 1.2),
    ("防晒霜 SPF50+ 50ml", 89.0, 1.0),
    ("修护眼霜 15g", 159.0, 0.8),
    ("持妆粉底液 30ml", 139.0, 0.9),
    ("哑光口红 三支装", 99.0, 1.0),
    ("控油定妆散粉", 69.9, 0.9),
    ("卸妆油 200ml", 79.0, 1.0),
    ("身体乳 400ml", 59.0, 1.1),
    ("洗发水 无硅油 500ml", 45.9, 1.2),
    ("护发精油 100ml", 69.0, 0.8),
    ("香氛沐浴露 1L", 49.0, 1.1),
    ("牙膏 美白 3支装", 39.9, 1.3),
    ("电动牙刷 声波款", 199.0, 0.7),
    ("保温杯 500ml", 89.0, 0.9),
    ("纯棉T恤 女款", 69.0, 1.0),
    ("高腰阔腿裤", 129.0, 0.9),
    ("羊毛混纺围巾", 99.0, 0.8),
    ("加厚羽绒服 短款", 399.0, 0.6),
    ("运动袜 五双装", 29.9, 1.4),
    ("坚果礼盒 1kg", 109.0, 1.0),
    ("每日坚果 30包", 89.9, 1.2),
    ("冻干咖啡 24颗", 69.0, 1.1),
    ("低糖燕麦片 1kg", 39.9, 1.2),
    ("牛肉干 500g", 79.0, 1.0),
    ("蜂蜜柚子茶 1kg", 49.9, 1.0),
    ("螺蛳粉 5袋装", 45.0, 1.3),
    ("自热火锅 3盒", 59.9, 1.0),
    ("红枣枸杞 礼盒", 69.9, 0.8),
    ("洗衣凝珠 60颗", 49.9, 1.3),
    ("厨房湿巾 80抽×3", 29.9, 1.2),
    ("抽纸 24包整箱", 54.9, 1.4),
    ("四件套 纯棉", 299.0, 0.6),
    ("记忆棉枕头", 129.0, 0.8),
    ("儿童保温水壶", 79.0, 0.9),
    ("宝宝湿巾 10包", 49.9, 1.1),
    ("猫粮 全价 2kg", 99.0, 0.9),
    ("空气炸锅 4L", 259.0, 0.7),
    ("便携榨汁杯", 99.0, 0.9),
)

ACCOUNT_NAMES: tuple[str, ...] = ("悦好生活官方旗舰店", "悦好生活·好物直播间")
SHOP_NAME = "悦好生活官方旗舰店"
ADVERTISER_NAME = "悦好生活-千川账户"

ROOM_TITLES: tuple[str, ...] = (
    "宠粉福利专场｜限时秒杀",
    "今晚上新 好物直降",
    "工厂直发 源头好价",
    "护肤小课堂 边学边买",
    "周末囤货节 满减叠券",
    "老粉回馈 抽奖送好礼",
    "品质生活 直播间专享价",
)

# Keys the real flow_performance endpoint always returns; the sandbox has no traffic on these.
ZERO_SOURCES: tuple[str, ...] = (
    "homepage_fresh",
    "douyin_shopping_center",
    "activity",
    "touxi_saas",
    "live_xiao_dian_qian_chuan",
)
GENDER_TYPES: tuple[str, ...] = ("FEMALE", "MALE")
AGE_TYPES: tuple[str, ...] = ("AGE_18_23", "AGE_24_30", "AGE_31_40", "AGE_41_50", "AGE_ABOVE_50")
