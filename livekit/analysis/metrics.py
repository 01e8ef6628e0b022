"""The metric registry: one definition per metric, used by funnels, reports, custom tables, alerts.

A metric is a numerator and (for rates) a denominator over a stored dataset. Over any group of
rows both are summed separately and then divided: ``scale × Σ numerator / Σ denominator``,
never an average of per-room ratios (metrics.md: "store every rate as numerator and
denominator"). A row takes part in a rate only when both its numerator and its denominator are
known, so a room without a T+1 analysis row does not shift a rate that needs one.

Values are in display units: money in yuan, percentages as percent (3.5 meaning 3.5%, the way
the platforms show them, ``scale = 100``), GPM per thousand views (``scale = 1000``).

Counts from the ``rooms`` dataset (巨量千川 today_live/room/get) are visits (人次); people (人数)
come from ``room_analysis`` (the T+1 report), joined on ``room_id``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from livekit.config import LivekitError

ExprBuilder = Callable[[], pl.Expr]
Term = str | ExprBuilder  # a column name, or a builder of a row-wise expression over columns

ROOMS = "rooms"
ROOM_ANALYSIS = "room_analysis"
MISSING = "—"  # how an undefined value is shown


def _expr(term: Term) -> pl.Expr:
    return pl.col(term) if isinstance(term, str) else term()


@dataclass(frozen=True)
class Metric:
    """One metric: what it is called, how it is computed and how it is shown.

    ``numerator`` and ``denominator`` are column names or builders of row-wise polars
    expressions over the columns of ``dataset`` (plus those of ``joins``, joined on
    ``room_id``). ``denominator is None`` makes the metric a plain sum.
    """

    name: str
    label: str  # Simplified Chinese, as the merchant knows it from 罗盘 / 千川
    numerator: Term
    denominator: Term | None
    unit: str  # "元", "%", "次", "人", "秒", "单", "" (a plain ratio such as ROI)
    format: str  # format spec of the number, e.g. "{:,.2f}"; the unit is appended
    scale: float = 1.0  # 100 for percentages, 1000 for "per thousand" metrics
    dataset: str = ROOMS  # where the numerator's columns live
    joins: tuple[str, ...] = ()  # further datasets whose columns the metric needs
    description: str = ""  # Simplified Chinese: the definition, for users

    @property
    def datasets(self) -> tuple[str, ...]:
        """Every dataset the metric reads, ``dataset`` first."""
        return (self.dataset, *(d for d in self.joins if d != self.dataset))

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None

    def numerator_expr(self) -> pl.Expr:
        return _expr(self.numerator)

    def denominator_expr(self) -> pl.Expr | None:
        return None if self.denominator is None else _expr(self.denominator)

    @property
    def columns(self) -> tuple[str, ...]:
        """The stored columns the metric reads (numerator first), without duplicates."""
        names = self.numerator_expr().meta.root_names()
        den = self.denominator_expr()
        if den is not None:
            names += den.meta.root_names()
        return tuple(dict.fromkeys(names))

    def aggregate(self) -> pl.Expr:
        """An aggregation expression (for ``select`` / ``group_by().agg``) named ``self.name``.

        Sums: the sum of the known numerators, null when none is known. Rates:
        ``scale × Σ num / Σ den`` over the rows where both are known; null when that
        denominator sum is zero or there is no such row (never inf or NaN).
        """
        num = self.numerator_expr().cast(pl.Float64)
        den = self.denominator_expr()
        if den is None:
            out = pl.when(num.is_not_null().any()).then(num.sum())
        else:
            den = den.cast(pl.Float64)
            both = num.is_not_null() & den.is_not_null()
            n_sum = num.filter(both).sum()
            d_sum = den.filter(both).sum()
            out = pl.when(both.any() & (d_sum != 0)).then(self.scale * n_sum / d_sum)
        return out.otherwise(pl.lit(None, pl.Float64)).alias(self.name)

    def value(self, numerator: float | None, denominator: float | None = None) -> float | None:
        """The metric from already-summed parts; None where it is not defined."""
        if numerator is None or not math.isfinite(numerator):
            return None
        if self.denominator is None:
            return float(numerator)
        if denominator is None or not math.isfinite(denominator) or denominator == 0:
            return None
        return self.scale * numerator / denominator

    def evaluate(self, frame: pl.DataFrame) -> float | None:
        """The metric over all rows of ``frame`` (which must have :attr:`columns`)."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise LivekitError(f"计算指标 {self.name}（{self.label}）缺少列：{'、'.join(missing)}")
        out = frame.select(self.aggregate()).item()
        return None if out is None else float(out)


def _product(a: str, b: str) -> ExprBuilder:
    return lambda: pl.col(a).cast(pl.Float64) * pl.col(b).cast(pl.Float64)


def _minus(a: str, b: str) -> ExprBuilder:
    return lambda: pl.col(a).cast(pl.Float64) - pl.col(b).cast(pl.Float64)


def _impressions() -> pl.Expr:
    """Room impressions (直播间曝光次数) recovered from the T+1 report.

    ``all_live_enter_room_rate_td`` is entered / impressions in percent, so impressions =
    watch count × 100 / rate, rounded to a whole count; null when the rate is zero or missing.
    """
    rate = pl.col("all_live_enter_room_rate_td").cast(pl.Float64)
    watch = pl.col("all_live_watch_cnt_td").cast(pl.Float64)
    return pl.when(rate > 0).then((watch * 100.0 / rate).round(0)).otherwise(None)


def _minutes_on_air() -> pl.Expr:
    """Whole minutes between room_create_time and room_finish_time (the per-minute curve)."""
    seconds = (pl.col("room_finish_time") - pl.col("room_create_time")).dt.total_seconds()
    return (seconds // 60).cast(pl.Float64)


MONEY = "{:,.2f}"
COUNT = "{:,.0f}"
PCT = "{:.2f}"
RATIO = "{:.2f}"

_ALL: tuple[Metric, ...] = (
    # ---- money and counts (sums) ----------------------------------------------------------
    Metric("gmv", "成交金额", "live_pay_order_gmv_alias", None, "元", MONEY,
           description="直播间支付订单金额（千川 live_pay_order_gmv_alias）。"),
    Metric("ad_gmv", "广告成交金额", "luban_live_pay_order_gmv", None, "元", MONEY,
           description="由千川广告带来的直播间支付金额（luban_live_pay_order_gmv）。"),
    Metric("spend", "消耗", "stat_cost", None, "元", MONEY,
           description="千川广告消耗（stat_cost）。"),
    Metric("refunds", "退款金额", "live_order_refund_amount_7d", None, "元", MONEY,
           description="直播间订单 7 日内退款金额（live_order_refund_amount_7d）。"),
    Metric("orders", "成交单数", "live_pay_order_count_alias", None, "单", COUNT,
           description="直播间支付订单数（live_pay_order_count_alias）。"),
    Metric("created_orders", "创建订单数", "live_create_order_count_alias", None, "单", COUNT,
           description="直播间创建订单数，含未支付（live_create_order_count_alias）。"),
    Metric("watch_cnt", "观看次数", "total_live_watch_cnt", None, "次", COUNT,
           description="进入直播间的次数（人次，total_live_watch_cnt）。"),
    Metric("product_exposures", "商品曝光次数", "live_click_cart_count_alias", None, "次", COUNT,
           description="看到商品（购物车/讲解卡）的观看次数（live_click_cart_count_alias）。"),
    Metric("product_clicks", "商品点击次数", "live_click_product_count_alias", None, "次", COUNT,
           description="点击商品的观看次数（live_click_product_count_alias）。"),
    Metric("ad_visits", "广告进房次数", "click_cnt", None, "次", COUNT,
           description="由千川广告进入直播间的次数（click_cnt）。"),
    Metric("follows", "新增粉丝数", "total_live_follow_cnt", None, "人", COUNT,
           description="直播间新增关注数（total_live_follow_cnt，不扣除取关）。"),
    Metric("comments", "评论次数", "total_live_comment_cnt", None, "次", COUNT,
           description="直播间评论次数（total_live_comment_cnt）。"),
    Metric("shares", "分享次数", "total_live_share_cnt", None, "次", COUNT,
           description="直播间分享次数（total_live_share_cnt）。"),
    # ---- rates over the rooms dataset ----------------------------------------------------
    Metric("gpm", "千次观看成交金额", "live_pay_order_gmv_alias", "total_live_watch_cnt", "元",
           MONEY, scale=1000.0,
           description="GPM = 1000 × 成交金额 / 观看次数（人次）。"),
    Metric("roas", "支付ROI", "live_pay_order_gmv_alias", "stat_cost", "", RATIO,
           description="成交金额 / 消耗（千川的“ROI”都是收入/消耗，即 ROAS）。"),
    Metric("ad_roas", "广告支付ROI", "luban_live_pay_order_gmv", "stat_cost", "", RATIO,
           description="广告成交金额 / 消耗。"),
    Metric("net_roas", "净成交ROI",
           _minus("live_pay_order_gmv_alias", "live_order_refund_amount_7d"), "stat_cost", "",
           RATIO, description="(成交金额 − 7 日退款金额) / 消耗。"),
    Metric("exposure_rate", "观看-商品曝光率", "live_click_cart_count_alias",
           "total_live_watch_cnt", "%", PCT, scale=100.0,
           description="商品曝光次数 / 观看次数（五维四率 r2，人次口径）。"),
    Metric("click_rate", "商品点击率", "live_click_product_count_alias", "total_live_watch_cnt",
           "%", PCT, scale=100.0,
           description="商品点击次数 / 观看次数（观看-点击率，人次口径）。"),
    Metric("exposure_click_rate", "商品曝光-点击率", "live_click_product_count_alias",
           "live_click_cart_count_alias", "%", PCT, scale=100.0,
           description="商品点击次数 / 商品曝光次数（五维四率 r3，人次口径）。"),
    Metric("conversion_rate", "点击-成交率", "live_pay_order_count_alias",
           "live_click_product_count_alias", "%", PCT, scale=100.0,
           description="成交单数 / 商品点击次数（五维四率 r4，千川 live_pay_order_rate 的口径）。"),
    Metric("watch_conversion_rate", "观看-成交率", "live_pay_order_count_alias",
           "total_live_watch_cnt", "%", PCT, scale=100.0,
           description="成交单数 / 观看次数。"),
    Metric("aov", "客单价", "live_pay_order_gmv_alias", "live_pay_order_count_alias", "元", MONEY,
           description="成交金额 / 成交单数（千川 live_pay_order_gmv_avg 的口径；"
                       "直播间数据没有买家人数）。"),
    Metric("refund_rate", "退款率", "live_order_refund_amount_7d", "live_pay_order_gmv_alias",
           "%", PCT, scale=100.0, description="7 日退款金额 / 成交金额。"),
    Metric("one_minute_rate", "超1分钟观看率", "live_watch_one_minute_count",
           "total_live_watch_cnt", "%", PCT, scale=100.0,
           description="停留超过 60 秒的观看次数 / 观看次数（人次口径）。"),
    Metric("cpm", "千次展示费用", "std_ad_cost_amount_td", "std_ad_show_cnt_td", "元", MONEY,
           scale=1000.0, dataset=ROOM_ANALYSIS,
           description="1000 × 广告消耗 / 广告展示次数（T+1 分析）。"),
    Metric("ad_ctr", "广告点击率", "std_ad_click_cnt_td", "std_ad_show_cnt_td", "%", PCT,
           scale=100.0, dataset=ROOM_ANALYSIS,
           description="广告点击次数 / 广告展示次数（T+1 分析）。"),
    # ---- people and time from the T+1 analysis -------------------------------------------
    Metric("viewers", "观看人数", "all_live_watch_ucnt_td", None, "人", COUNT,
           dataset=ROOM_ANALYSIS, description="进入直播间的人数（去重，T+1 分析）。"),
    Metric("impressions", "直播间曝光次数", _impressions, None, "次", COUNT,
           dataset=ROOM_ANALYSIS,
           description="由进房率还原：观看次数 × 100 / all_live_enter_room_rate_td（T+1 分析）。"),
    Metric("entry_rate", "曝光-进入率", "all_live_watch_cnt_td", _impressions, "%", PCT,
           scale=100.0, dataset=ROOM_ANALYSIS,
           description="观看次数 / 直播间曝光次数（进房率，五维四率 r1）。"),
    Metric("avg_watch_seconds", "人均观看时长",
           _product("all_avg_live_watch_duration_seconds_td", "all_live_watch_ucnt_td"),
           "all_live_watch_ucnt_td", "秒", "{:,.1f}", dataset=ROOM_ANALYSIS,
           description="总观看秒数 / 观看人数（总秒数由每场的人均时长 × 人数还原）。"),
    Metric("avg_online", "平均在线人数",
           lambda: pl.col("all_avg_live_pcu_td").cast(pl.Float64) * _minutes_on_air(),
           _minutes_on_air, "人", "{:,.1f}", dataset=ROOM_ANALYSIS,
           description="每分钟在线人数的平均值（多场合并时按开播分钟数加权）。"),
    Metric("one_minute_viewer_rate", "超1分钟观看率（T+1）", "all_live_single_watch_over_1m_cnt_td",
           "all_live_watch_cnt_td", "%", PCT, scale=100.0, dataset=ROOM_ANALYSIS,
           description="单次观看超过 1 分钟的次数 / 观看次数（T+1 分析）。"),
    Metric("follow_rate", "转粉率", "all_live_follow_cnt_td", "all_live_watch_ucnt_td", "%", PCT,
           scale=100.0, dataset=ROOM_ANALYSIS,
           description="新增关注数 / 观看人数（不扣除取关，T+1 分析）。"),
    Metric("comment_user_rate", "评论人数占比", "all_live_comment_ucnt_td",
           "all_live_watch_ucnt_td", "%", PCT, scale=100.0, dataset=ROOM_ANALYSIS,
           description="评论人数 / 观看人数（T+1 分析）。"),
    Metric("uv_value", "UV价值", "live_pay_order_gmv_alias", "all_live_watch_ucnt_td", "元", MONEY,
           joins=(ROOM_ANALYSIS,),
           description="成交金额 / 观看人数（人数来自 T+1 分析，按 room_id 关联）。"),
)  # fmt: skip

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


def metric(name: str) -> Metric:
    """The registered metric called ``name``; a Chinese error listing the known names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        known = "、".join(f"{m.name}（{m.label}）" for m in METRICS.values())
        raise LivekitError(f"未知的指标 {name!r}；可用的指标有：{known}") from None


def format_value(m: Metric, value: float | None) -> str:
    """``value`` as the merchant reads it, unit included ("12.34%", "1,234.50元", "2.60").

    ``None``, NaN and infinities show as "—".
    """
    if value is None or not math.isfinite(value):
        return MISSING
    return m.format.format(value) + m.unit
