"""The one registry of every metric livekit computes, shows, compares or alerts on.

Every metric has a name (unique across all families), a Chinese label (unique too: one label
means one definition), a numerator and a denominator, a unit, a window and a scope. Families
(``kind`` in :func:`metric`):

* ``room``: over stored room data (``rooms`` and the T+1 ``room_analysis``) for any set of
  rooms and any period, the metrics of reports, custom tables and session experiments. The
  numerator and the denominator are summed separately over the rows, then divided
  (``scale × Σ numerator / Σ denominator``), never an average of per-room ratios; a row takes
  part in a rate only when both are known. Counts from ``rooms`` are visits (人次); people
  (人数) come from ``room_analysis``. ``window`` is None: the window is the report's period.
* ``product``: per product of a room, from the viewer export (clicks → paid visits).
* ``live``: the live-minute metrics of the monitor (:class:`LiveMetric`): ``flow`` (per-minute
  counts averaged over the window), ``rate`` (Σ numerator / Σ denominator over the window) and
  ``level`` (a state at ``now()``); ``window`` is the default window in minutes, a rule may
  choose another.
* ``viewer``: per-viewer metrics of experiments randomized by viewer (one row per viewer
  over the experiment); ``measure`` says how arms are compared (``proportion`` / ``mean``).

Units: **rates are fractions** (unit ``"%"`` means "a fraction, shown as percent": 0.035 is
shown as 3.5%); money is yuan (``"元"``); "per thousand" metrics (GPM, CPM) are yuan per
1000 views or impressions, the one documented ``scale`` (1000). Upstream fields that arrive
in percent (:data:`UPSTREAM_PERCENT_FIELDS`) are stored verbatim under their upstream names
(stores synced before and after any change then agree) and divided by 100 once, in the one
definition that reads them; no frame carries them.

Which frame columns are rates (:func:`is_rate_column`): a registered rate metric's name,
``rate``, a name starting with ``rate_`` or ending in ``_rate`` or ``_share``, and
``ci_low`` / ``ci_high`` beside a ``rate`` / ``*_rate`` column (the interval of that rate).
Every such value is a fraction in [0, 1] (``tests/test_vocab.py`` checks every analysis frame
on the sandbox's data).

Importing this module loads no polars: expressions are built inside functions.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias, overload

from livekit.vocab.errors import LivekitError
from livekit.vocab.units import MISSING, PERCENT, format_percent, format_value

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "BOTH",
    "FAMILIES",
    "FAMILY_LABELS",
    "METRICS",
    "MISSING",
    "NO_DATA_TEXT",
    "PRODUCT",
    "ROOM",
    "ROOMS",
    "ROOM_ANALYSIS",
    "ROOM_RENAMED",
    "SESSION_COUNTERPARTS",
    "UPSTREAM_PERCENT_FIELDS",
    "VIEWERS",
    "Family",
    "LiveKind",
    "LiveMetric",
    "Metric",
    "Scope",
    "Term",
    "ViewerMeasure",
    "format_value",
    "is_rate_column",
    "live_metrics",
    "metric",
    "metric_names",
    "metrics_of",
    "rate_columns",
    "resolve",
    "suggest",
]

Family: TypeAlias = Literal["room", "product", "live", "viewer"]
FAMILIES: tuple[Family, ...] = ("room", "product", "live", "viewer")
FAMILY_LABELS: dict[str, str] = {
    "room": "直播间指标",
    "product": "商品指标",
    "live": "实时监控指标",
    "viewer": "按观众实验指标",
}
Scope: TypeAlias = Literal["room", "product"]
LiveKind: TypeAlias = Literal["flow", "rate", "level"]
ViewerMeasure: TypeAlias = Literal["proportion", "mean"]

ExprBuilder = Callable[[], "pl.Expr"]
Term = str | ExprBuilder  # a column (or counter) name, or a builder of a row-wise expression

ROOMS = "rooms"
ROOM_ANALYSIS = "room_analysis"
VIEWERS = "viewers"
NO_DATA_TEXT = "无数据"  # how the monitor shows a live value it does not have

ROOM: frozenset[Scope] = frozenset({"room"})
PRODUCT: frozenset[Scope] = frozenset({"product"})
BOTH: frozenset[Scope] = frozenset({"room", "product"})

# Fields the platforms send in percent (3.5 meaning 3.5%); stored verbatim under their
# upstream names, divided by 100 where a definition reads them.
UPSTREAM_PERCENT_FIELDS: frozenset[str] = frozenset({"all_live_enter_room_rate_td"})


def _term_expr(term: Term) -> pl.Expr:
    import polars as pl

    return pl.col(term) if isinstance(term, str) else term()


def _term_text(term: Term | None) -> str | None:
    """A stable text of a term, for comparing definitions (a builder: its expression)."""
    if term is None or isinstance(term, str):
        return term
    return str(term())


@dataclass(frozen=True)
class Metric:
    """One metric: its name, label and definition, and how it is shown.

    ``numerator`` / ``denominator``: for ``room`` metrics, column names or builders of
    row-wise polars expressions over the columns of ``dataset`` (plus those of ``joins``,
    joined on ``room_id``), ``denominator is None`` making the metric a plain sum; for the
    other families the names of the counters or per-viewer columns they divide.
    ``unit``: the display unit ("元", "%", "次", "人", "秒", "单", "" for a plain ratio such as
    ROAS, "人/分钟" …); a ``"%"`` metric's value is a fraction. ``digits``: decimals shown.
    """

    name: str
    label: str  # Simplified Chinese, unique in the registry
    family: Family
    numerator: Term
    denominator: Term | None
    unit: str
    digits: int = 2
    scale: float = 1.0  # 1000 for "per thousand" metrics (GPM, CPM); never 100
    window: float | None = None  # minutes (live metrics); None: the report's period
    scopes: frozenset[Scope] = ROOM
    dataset: str = ROOMS  # where the numerator's columns live
    joins: tuple[str, ...] = ()  # further datasets whose columns the metric needs
    description: str = ""  # Simplified Chinese: the definition, for users
    measure: str = ""  # live: flow/rate/level; viewer: proportion/mean; room: sum/ratio

    # ---- what it is ------------------------------------------------------------------
    @property
    def is_rate(self) -> bool:
        """A rate: a fraction in [0, 1], shown as percent."""
        return self.unit == PERCENT

    @property
    def is_ratio(self) -> bool:
        """Computed as numerator / denominator (a rate, ROAS, GPM, a mean …)."""
        return self.denominator is not None

    @property
    def datasets(self) -> tuple[str, ...]:
        """Every dataset the metric reads, ``dataset`` first."""
        return (self.dataset, *(d for d in self.joins if d != self.dataset))

    def definition(self) -> tuple[object, ...]:
        """What makes two metrics the same: family, numerator, denominator, unit, scale,
        window, scopes and datasets (used to check that one label means one definition)."""
        return (
            self.family,
            _term_text(self.numerator),
            _term_text(self.denominator),
            self.unit,
            self.scale,
            self.window,
            tuple(sorted(self.scopes)),
            self.datasets,
        )

    def shown(self, value: float | None) -> str:
        """``value`` as the merchant reads it (:func:`livekit.vocab.units.format_value`)."""
        return format_value(self, value)

    # ---- computing a room metric -------------------------------------------------------
    def numerator_expr(self) -> pl.Expr:
        return _term_expr(self.numerator)

    def denominator_expr(self) -> pl.Expr | None:
        return None if self.denominator is None else _term_expr(self.denominator)

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

        Sums: the sum of the known numerators, null when none is known. Ratios:
        ``scale × Σ num / Σ den`` over the rows where both are known; null when that
        denominator sum is zero or there is no such row (never inf or NaN).
        """
        import polars as pl

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


@dataclass(frozen=True)
class LiveMetric(Metric):
    """A live-minute metric of the monitor (family ``live``), with the monitor's API.

    ``kind`` is ``flow``, ``rate`` or ``level``; rates are fractions (0.035), shown as 3.5%.
    ``estimated``: scopes where the value is an estimate (the label says 估算).
    """

    estimated: frozenset[Scope] = frozenset()

    @property
    def kind(self) -> LiveKind:
        if self.measure == "flow":
            return "flow"
        if self.measure == "rate":
            return "rate"
        if self.measure == "level":
            return "level"
        raise AssertionError(f"live metric {self.name} has measure {self.measure!r}")

    @property
    def is_rate(self) -> bool:
        return self.kind == "rate"

    @property
    def default_window(self) -> float:
        """Minutes; levels ignore it."""
        return self.window if self.window is not None else 1.0

    @property
    def decimals(self) -> int:
        return self.digits

    def label_for(self, scope: Scope) -> str:
        """The label, marked 估算 where the value is an estimate."""
        return self.label + ("（估算）" if scope in self.estimated else "")

    def format(self, value: float | None) -> str:
        """``value`` with its unit: ``12.5 人/分钟``; a rate (a fraction) as ``3.2%``;
        无数据 for None or NaN."""
        if value is None or not math.isfinite(value):
            return NO_DATA_TEXT
        if self.is_rate:
            return format_percent(value, self.digits)
        return f"{value:,.{self.digits}f} {self.unit}"


# ---- row-wise builders of room metrics ---------------------------------------------------------
def _product(a: str, b: str) -> ExprBuilder:
    def build() -> pl.Expr:
        import polars as pl

        return pl.col(a).cast(pl.Float64) * pl.col(b).cast(pl.Float64)

    return build


def _minus(a: str, b: str) -> ExprBuilder:
    def build() -> pl.Expr:
        import polars as pl

        return pl.col(a).cast(pl.Float64) - pl.col(b).cast(pl.Float64)

    return build


def _impressions() -> pl.Expr:
    """Room impressions (直播间曝光次数) recovered from the T+1 report.

    ``all_live_enter_room_rate_td`` is entered / impressions in PERCENT (upstream), so
    impressions = watch count × 100 / that field, rounded to a whole count; null when the
    rate is zero or missing.
    """
    import polars as pl

    rate = pl.col("all_live_enter_room_rate_td").cast(pl.Float64)
    watch = pl.col("all_live_watch_cnt_td").cast(pl.Float64)
    return pl.when(rate > 0).then((watch * 100.0 / rate).round(0)).otherwise(None)


def _minutes_on_air() -> pl.Expr:
    """Whole minutes between room_create_time and room_finish_time (the per-minute curve)."""
    import polars as pl

    seconds = (pl.col("room_finish_time") - pl.col("room_create_time")).dt.total_seconds()
    return (seconds // 60).cast(pl.Float64)


def _online_minutes() -> pl.Expr:
    import polars as pl

    return pl.col("all_avg_live_pcu_td").cast(pl.Float64) * _minutes_on_air()


def _room(name: str, label: str, num: Term, den: Term | None, unit: str, digits: int = 2,
          *, scale: float = 1.0, dataset: str = ROOMS, joins: tuple[str, ...] = (),
          description: str = "") -> Metric:  # fmt: skip
    return Metric(name, label, "room", num, den, unit, digits, scale=scale, dataset=dataset,
                  joins=joins, description=description,
                  measure="sum" if den is None else "ratio")  # fmt: skip


_FLOW_WINDOW = 5.0  # minutes: five Poisson minutes smooth the noise of one without lagging much
_RATE_WINDOW = 10.0  # minutes: a rate needs a denominator of a few dozen before it means much
_LEVEL_WINDOW = 1.0


def _live(name: str, label: str, kind: LiveKind, scopes: frozenset[Scope], num: str,
          den: str | None, unit: str, digits: int, window: float, *,
          estimated: frozenset[Scope] = frozenset(), description: str = "") -> LiveMetric:  # fmt: skip
    return LiveMetric(name, label, "live", num, den, unit, digits, window=window, scopes=scopes,
                      dataset="live_snapshots", description=description, measure=kind,
                      estimated=estimated)  # fmt: skip


def _viewer(name: str, label: str, measure: ViewerMeasure, column: str, unit: str,
            description: str) -> Metric:  # fmt: skip
    return Metric(name, label, "viewer", column, "viewers", unit, 2, scopes=frozenset(),
                  dataset=VIEWERS, description=description, measure=measure)  # fmt: skip


_ALL: tuple[Metric, ...] = (
    # ---- room: money and counts (sums) ---------------------------------------------------
    _room("gmv", "成交金额", "live_pay_order_gmv_alias", None, "元",
          description="直播间支付订单金额（千川 live_pay_order_gmv_alias）。"),
    _room("ad_gmv", "广告成交金额", "luban_live_pay_order_gmv", None, "元",
          description="由千川广告带来的直播间支付金额（luban_live_pay_order_gmv）。"),
    _room("spend", "消耗", "stat_cost", None, "元", description="千川广告消耗（stat_cost）。"),
    _room("refunds", "退款金额", "live_order_refund_amount_7d", None, "元",
          description="直播间订单 7 日内退款金额（live_order_refund_amount_7d）。"),
    _room("orders", "成交单数", "live_pay_order_count_alias", None, "单", 0,
          description="直播间支付订单数（live_pay_order_count_alias）。"),
    _room("created_orders", "创建订单数", "live_create_order_count_alias", None, "单", 0,
          description="直播间创建订单数，含未支付（live_create_order_count_alias）。"),
    _room("watch_cnt", "观看次数", "total_live_watch_cnt", None, "次", 0,
          description="进入直播间的次数（人次，total_live_watch_cnt）。"),
    _room("product_exposures", "商品曝光次数", "live_click_cart_count_alias", None, "次", 0,
          description="看到商品（购物车/讲解卡）的观看次数（live_click_cart_count_alias）。"),
    _room("product_clicks", "商品点击次数", "live_click_product_count_alias", None, "次", 0,
          description="点击商品的观看次数（live_click_product_count_alias）。"),
    _room("ad_visits", "广告进房次数", "click_cnt", None, "次", 0,
          description="由千川广告进入直播间的次数（click_cnt）。"),
    _room("follows", "新增粉丝数", "total_live_follow_cnt", None, "人", 0,
          description="直播间新增关注数（total_live_follow_cnt，不扣除取关）。"),
    _room("comments", "评论次数", "total_live_comment_cnt", None, "次", 0,
          description="直播间评论次数（total_live_comment_cnt）。"),
    _room("shares", "分享次数", "total_live_share_cnt", None, "次", 0,
          description="直播间分享次数（total_live_share_cnt）。"),
    # ---- room: ratios over the rooms dataset --------------------------------------------
    _room("gpm", "千次观看成交金额", "live_pay_order_gmv_alias", "total_live_watch_cnt", "元",
          scale=1000.0, description="GPM = 1000 × 成交金额 / 观看次数（人次）。"),
    _room("roas", "支付ROI", "live_pay_order_gmv_alias", "stat_cost", "",
          description="成交金额 / 消耗（千川的“ROI”都是收入/消耗，即 ROAS）。"),
    _room("ad_roas", "广告支付ROI", "luban_live_pay_order_gmv", "stat_cost", "",
          description="广告成交金额 / 消耗。"),
    _room("net_roas", "净成交ROI",
          _minus("live_pay_order_gmv_alias", "live_order_refund_amount_7d"), "stat_cost", "",
          description="(成交金额 − 7 日退款金额) / 消耗。"),
    _room("exposure_rate", "观看-商品曝光率", "live_click_cart_count_alias",
          "total_live_watch_cnt", "%",
          description="商品曝光次数 / 观看次数（五维四率 r2，人次口径）。"),
    _room("watch_click_rate", "观看-点击率", "live_click_product_count_alias",
          "total_live_watch_cnt", "%",
          description="商品点击次数 / 观看次数（人次口径，整场或整个报告期）。"),
    _room("exposure_click_rate", "商品曝光-点击率", "live_click_product_count_alias",
          "live_click_cart_count_alias", "%",
          description="商品点击次数 / 商品曝光次数（五维四率 r3，人次口径）。"),
    _room("click_conversion_rate", "点击-成交率", "live_pay_order_count_alias",
          "live_click_product_count_alias", "%",
          description="成交单数 / 商品点击次数（五维四率 r4，千川 live_pay_order_rate 的口径；"
                      "整场或整个报告期）。"),
    _room("watch_conversion_rate", "观看-成交率", "live_pay_order_count_alias",
          "total_live_watch_cnt", "%", description="成交单数 / 观看次数。"),
    _room("aov", "客单价", "live_pay_order_gmv_alias", "live_pay_order_count_alias", "元",
          description="成交金额 / 成交单数（千川 live_pay_order_gmv_avg 的口径；"
                      "直播间数据没有买家人数）。"),
    _room("refund_rate", "退款率", "live_order_refund_amount_7d", "live_pay_order_gmv_alias",
          "%", description="7 日退款金额 / 成交金额。"),
    _room("one_minute_rate", "超1分钟观看率", "live_watch_one_minute_count",
          "total_live_watch_cnt", "%",
          description="停留超过 60 秒的观看次数 / 观看次数（人次口径）。"),
    _room("cpm", "千次展示费用", "std_ad_cost_amount_td", "std_ad_show_cnt_td", "元",
          scale=1000.0, dataset=ROOM_ANALYSIS,
          description="1000 × 广告消耗 / 广告展示次数（T+1 分析）。"),
    _room("ad_ctr", "广告点击率", "std_ad_click_cnt_td", "std_ad_show_cnt_td", "%",
          dataset=ROOM_ANALYSIS, description="广告点击次数 / 广告展示次数（T+1 分析）。"),
    # ---- room: people and time from the T+1 analysis -----------------------------------
    _room("viewers", "观看人数", "all_live_watch_ucnt_td", None, "人", 0,
          dataset=ROOM_ANALYSIS, description="进入直播间的人数（去重，T+1 分析）。"),
    _room("impressions", "直播间曝光次数", _impressions, None, "次", 0, dataset=ROOM_ANALYSIS,
          description="由进房率还原：观看次数 × 100 / all_live_enter_room_rate_td"
                      "（平台给的是百分数，T+1 分析）。"),
    _room("entry_rate", "曝光-进入率", "all_live_watch_cnt_td", _impressions, "%",
          dataset=ROOM_ANALYSIS,
          description="观看次数 / 直播间曝光次数（进房率，五维四率 r1）。"),
    _room("avg_watch_seconds", "人均观看时长",
          _product("all_avg_live_watch_duration_seconds_td", "all_live_watch_ucnt_td"),
          "all_live_watch_ucnt_td", "秒", 1, dataset=ROOM_ANALYSIS,
          description="总观看秒数 / 观看人数（总秒数由每场的人均时长 × 人数还原）。"),
    _room("avg_online", "平均在线人数", _online_minutes, _minutes_on_air, "人", 1,
          dataset=ROOM_ANALYSIS,
          description="每分钟在线人数的平均值（多场合并时按开播分钟数加权）。"),
    _room("one_minute_viewer_rate", "单次观看超1分钟占比", "all_live_single_watch_over_1m_cnt_td",
          "all_live_watch_cnt_td", "%", dataset=ROOM_ANALYSIS,
          description="单次观看超过 1 分钟的次数 / 观看次数（T+1 分析）。"),
    _room("follow_rate", "转粉率", "all_live_follow_cnt_td", "all_live_watch_ucnt_td", "%",
          dataset=ROOM_ANALYSIS, description="新增关注数 / 观看人数（不扣除取关，T+1 分析）。"),
    _room("comment_user_rate", "评论人数占比", "all_live_comment_ucnt_td",
          "all_live_watch_ucnt_td", "%", dataset=ROOM_ANALYSIS,
          description="评论人数 / 观看人数（T+1 分析）。"),
    _room("uv_value", "UV价值", "live_pay_order_gmv_alias", "all_live_watch_ucnt_td", "元",
          joins=(ROOM_ANALYSIS,),
          description="成交金额 / 观看人数（人数来自 T+1 分析，按 room_id 关联）。"),
    # ---- product: per product, from the viewer export --------------------------------------
    Metric("product_click_conversion_rate", "单品点击后成交率", "product", "paid", "clicks", "%",
           scopes=PRODUCT, dataset=VIEWERS, measure="ratio",
           description="点击该商品后成交的访问 / 点击该商品的访问（观众明细，按商品）。"),
    # ---- live: the monitor's live-minute metrics ---------------------------------------------
    _live("new_viewers_per_min", "新进观众", "flow", ROOM, "new_viewers", "minutes",
          "人/分钟", 1, _FLOW_WINDOW, description="每分钟进入直播间的人次（窗口内平均）"),
    _live("comments_per_min", "每分钟评论", "flow", ROOM, "comments", "minutes", "条/分钟", 1,
          _FLOW_WINDOW, description="每分钟评论条数（窗口内平均）"),
    _live("clicks_per_min", "每分钟商品点击", "flow", BOTH, "clicks", "minutes", "次/分钟", 1,
          _FLOW_WINDOW, estimated=PRODUCT,
          description="每分钟商品点击（窗口内平均）；单个商品的点击由成交数 ÷ 点击-成交率估算"),
    _live("orders_per_min", "每分钟成交订单", "flow", BOTH, "orders", "minutes", "单/分钟", 2,
          _FLOW_WINDOW, description="每分钟支付订单数（窗口内平均）"),
    _live("gmv_per_min", "每分钟成交金额", "flow", BOTH, "gmv", "minutes", "元/分钟", 2,
          _FLOW_WINDOW, description="每分钟支付金额（元，窗口内平均）"),
    _live("click_rate", "实时商品点击率", "rate", ROOM, "clicks", "new_viewers", "%", 1,
          _RATE_WINDOW, description="滚动窗口内商品点击 ÷ 新进观众（人次）"),
    _live("conversion_rate", "实时点击-成交率", "rate", BOTH, "orders", "clicks", "%", 1,
          _RATE_WINDOW, estimated=PRODUCT,
          description="滚动窗口内成交订单 ÷ 商品点击（单个商品的点击为估算值）"),
    _live("interaction_rate", "实时互动率", "rate", ROOM, "comments + shares", "new_viewers",
          "%", 1, _RATE_WINDOW, description="滚动窗口内（评论 + 分享）÷ 新进观众"),
    _live("minutes_since_order", "距上一单", "level", BOTH, "minutes since the last order",
          None, "分钟", 0, _LEVEL_WINDOW,
          description="距最近一笔支付订单的分钟数（开播后还没有订单时，为开播至今的分钟数）"),
    _live("inventory", "库存", "level", PRODUCT, "stock left", None, "件", 0, _LEVEL_WINDOW,
          description="商品当前剩余库存"),
    # ---- viewer: per-viewer experiment metrics ------------------------------------------------
    _viewer("conversion", "观众成交率（有成交的观众占比）", "proportion", "converted", "%",
            "实验期内有过成交的观众 / 观众数（每位观众汇总其全部访问）。"),
    _viewer("click", "观众点击率（点过商品的观众占比）", "proportion", "clicked", "%",
            "实验期内点过商品的观众 / 观众数（每位观众汇总其全部访问）。"),
    _viewer("watch_seconds", "每位观众观看时长（秒）", "mean", "watch_seconds", "秒",
            "每位观众实验期内全部访问的观看秒数之和，按观众平均。"),
    _viewer("gmv_per_viewer", "每位观众成交金额（元）", "mean", "gmv", "元",
            "每位观众实验期内的支付金额之和，按观众平均。"),
    _viewer("visits", "每位观众进入次数", "mean", "visits", "次",
            "每位观众实验期内进入直播间的次数，按观众平均。"),
)  # fmt: skip

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}
if len(METRICS) != len(_ALL) or len({m.label for m in _ALL}) != len(_ALL):
    raise AssertionError("metric names and labels must be unique")  # a registry bug, at import

# A viewer metric's counterpart among the room metrics, for experiments randomized by
# session (switchback): the closest room definition, so that the same parameter file works for
# both designs. The report names the room metric (its own label) it compares.
SESSION_COUNTERPARTS: dict[str, str] = {
    "conversion": "watch_conversion_rate",
    "click": "watch_click_rate",
    "watch_seconds": "avg_watch_seconds",
    "gmv_per_viewer": "uv_value",
}


def metrics_of(kind: Family | None = None) -> dict[str, Metric]:
    """The registered metrics of one family (all when ``kind`` is None), by name."""
    return {n: m for n, m in METRICS.items() if kind is None or m.family == kind}


def live_metrics() -> dict[str, LiveMetric]:
    """The monitor's live metrics, by name."""
    return {n: m for n, m in METRICS.items() if isinstance(m, LiveMetric)}


def metric_names(kind: Family | None = None) -> list[str]:
    """The names of :func:`metrics_of` ``kind``, in registry order."""
    return list(metrics_of(kind))


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in FAMILIES:
        raise LivekitError(f"未知的指标类别 {kind!r}；可用：{'、'.join(FAMILIES)}")


def _listing(kind: str | None) -> str:
    chosen = [m for m in METRICS.values() if kind is None or m.family == kind]
    return "、".join(f"{m.name}（{m.label}）" for m in chosen)


@overload
def metric(name: str, kind: Literal["live"]) -> LiveMetric: ...
@overload
def metric(name: str, kind: Family | None = None) -> Metric: ...
def metric(name: str, kind: Family | None = None) -> Metric:
    """The registered metric called ``name`` (of family ``kind`` when given).

    An unknown name raises :class:`LivekitError` with one Chinese line listing the valid names
    (of that family), and the closest name when one is close.
    """
    _check_kind(kind)
    m = METRICS.get(name) if isinstance(name, str) else None
    if m is not None and (kind is None or m.family == kind):
        return m
    where = f"{FAMILY_LABELS[kind]}中" if kind is not None else ""
    if m is not None:
        head = f"{name!r} 是{FAMILY_LABELS[m.family]}（{m.label}），不是{FAMILY_LABELS[str(kind)]}"
    else:
        head = f"未知的指标 {name!r}"
        close = suggest(str(name), kind)
        if close is not None:
            head += f"（是不是 {close}？）"
    raise LivekitError(
        f"{head}{_renamed_hint([str(name)], kind)}；{where}可用的指标有：{_listing(kind)}"
    )


def suggest(name: str, kind: Family | None = None) -> str | None:
    """The closest metric name (of family ``kind``) to a misspelt ``name``, if any is close."""
    close = difflib.get_close_matches(name, metric_names(kind), n=1, cutoff=0.6)
    return close[0] if close else None


def resolve(names: Iterable[str], kind: Family | None = None) -> list[Metric]:
    """Every name resolved, in order; ONE Chinese error naming every unknown one."""
    _check_kind(kind)
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in metrics_of(kind)]
    if unknown:
        where = f"{FAMILY_LABELS[kind]}中" if kind is not None else ""
        shown = "、".join(repr(n) for n in unknown)
        hint = _renamed_hint(unknown, kind)
        raise LivekitError(f"未知的指标 {shown}{hint}；{where}可用的指标有：{_listing(kind)}")
    return [METRICS[n] for n in names]


# Room metrics renamed when one name meant two definitions (the live metric kept the name):
# a parameter file written before says which name to use now.
ROOM_RENAMED: dict[str, str] = {
    "click_rate": "watch_click_rate",
    "conversion_rate": "click_conversion_rate",
}


def _renamed_hint(names: Iterable[str], kind: Family | None) -> str:
    if kind not in (None, "room"):
        return ""
    moved = [f"{old} 改用 {new}" for old, new in ROOM_RENAMED.items() if old in names]
    if not moved:
        return ""
    return f"（直播间指标已更名：{'、'.join(moved)}；原名现指实时监控的滚动窗口指标）"


# ---- which columns of a frame are rates ---------------------------------------------------------
_RATE_SUFFIXES = ("_rate", "_share")
_INTERVAL_COLUMNS = ("ci_low", "ci_high")


def is_rate_column(name: str, columns: Iterable[str] = ()) -> bool:
    """True when the frame column ``name`` holds a rate (a fraction in [0, 1]).

    The rule: a registered rate metric's name; ``rate``, a name starting with ``rate_``
    (``rate_before``) or ending in ``_rate`` or ``_share``; ``ci_low`` / ``ci_high`` when
    ``columns`` (the frame's) has a ``rate`` or ``*_rate`` column, whose interval they are. (``share`` alone is not a rate: a funnel
    change's shares split a change and may be negative; ``lift`` is a relative change; in a
    frame of shares without a rate, such as a region index, the interval bounds the index.)
    """
    m = METRICS.get(name)
    if m is not None:
        return m.is_rate
    if name == "rate" or name.startswith("rate_") or name.endswith(_RATE_SUFFIXES):
        return True
    if name in _INTERVAL_COLUMNS:
        return any(c == "rate" or c.endswith("_rate") for c in columns)
    return False


def rate_columns(columns: Iterable[str]) -> list[str]:
    """The columns among ``columns`` that :func:`is_rate_column` calls rates."""
    cols = list(columns)
    return [c for c in cols if is_rate_column(c, cols)]
