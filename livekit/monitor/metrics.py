"""The live metrics the monitor computes and alert rules may name.

The poller turns the cumulative counters of a room on air (and of its products) into these
values; alert rules (:mod:`livekit.monitor.rules`) are checked against this registry. Units:

* ``flow`` metrics are per-minute counts averaged over the rule's window (``12.5`` new
  viewers a minute over the last 5 minutes);
* ``rate`` metrics are percentages, as 罗盘 and 千川 show them (``3.5`` means 3.5%), computed
  as Σ numerator / Σ denominator over the window (never an average of per-minute ratios); the
  :class:`~livekit.monitor.types.MetricValue` carries the denominator so that a rule's
  ``min_denominator`` can be checked;
* ``level`` metrics are a state at ``now()`` (minutes since the last order, stock left); the
  window does not apply.

Product clicks are an estimate: the product list of the real API has no click count, so the
poller derives click users from orders ÷ the click-to-pay ratio; the label says 估算.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Literal

from livekit.monitor.types import Scope

Kind = Literal["flow", "rate", "level"]

ROOM: frozenset[Scope] = frozenset({"room"})
PRODUCT: frozenset[Scope] = frozenset({"product"})
BOTH: frozenset[Scope] = frozenset({"room", "product"})

SCOPE_LABELS: dict[Scope, str] = {"room": "直播间", "product": "商品"}
NO_DATA_TEXT = "无数据"


@dataclass(frozen=True)
class LiveMetric:
    """One live metric: its name in rules, how it is shown, where it exists."""

    name: str
    label: str  # Simplified Chinese, as the merchant knows it
    kind: Kind
    scopes: frozenset[Scope]
    unit: str  # shown after the number: "人/分钟", "%", "元/分钟", "分钟", "件"
    decimals: int  # digits after the point when shown
    default_window: float  # minutes; levels ignore it
    denominator: str | None = None  # rates: what the rate is computed over (Chinese)
    estimated: frozenset[Scope] = frozenset()  # scopes where the value is an estimate
    description: str = ""  # Simplified Chinese definition, for users

    @property
    def is_rate(self) -> bool:
        return self.kind == "rate"

    def label_for(self, scope: Scope) -> str:
        """The label, marked 估算 where the value is an estimate."""
        return self.label + ("（估算）" if scope in self.estimated else "")

    def format(self, value: float | None) -> str:
        """``value`` with its unit, e.g. ``12.5 人/分钟``, ``3.2%``; 无数据 for None or NaN."""
        if value is None or not math.isfinite(value):
            return NO_DATA_TEXT
        number = f"{value:,.{self.decimals}f}"
        return number + self.unit if self.unit == "%" else f"{number} {self.unit}"


_FLOW_WINDOW = 5.0  # minutes: five Poisson minutes smooth the noise of one without lagging much
_RATE_WINDOW = 10.0  # minutes: a rate needs a denominator of a few dozen before it means much
_LEVEL_WINDOW = 1.0

METRICS: dict[str, LiveMetric] = {
    m.name: m
    for m in (
        LiveMetric(
            "new_viewers_per_min",
            "新进观众",
            "flow",
            ROOM,
            "人/分钟",
            1,
            _FLOW_WINDOW,
            description="每分钟进入直播间的人次（窗口内平均）",
        ),
        LiveMetric(
            "comments_per_min",
            "评论",
            "flow",
            ROOM,
            "条/分钟",
            1,
            _FLOW_WINDOW,
            description="每分钟评论条数（窗口内平均）",
        ),
        LiveMetric(
            "clicks_per_min",
            "商品点击",
            "flow",
            BOTH,
            "次/分钟",
            1,
            _FLOW_WINDOW,
            estimated=PRODUCT,
            description="每分钟商品点击（窗口内平均）；单个商品的点击由成交数 ÷ 点击-成交率估算",
        ),
        LiveMetric(
            "orders_per_min",
            "成交订单",
            "flow",
            BOTH,
            "单/分钟",
            2,
            _FLOW_WINDOW,
            description="每分钟支付订单数（窗口内平均）",
        ),
        LiveMetric(
            "gmv_per_min",
            "成交金额",
            "flow",
            BOTH,
            "元/分钟",
            2,
            _FLOW_WINDOW,
            description="每分钟支付金额（元，窗口内平均）",
        ),
        LiveMetric(
            "click_rate",
            "商品点击率",
            "rate",
            ROOM,
            "%",
            1,
            _RATE_WINDOW,
            denominator="新进观众",
            description="窗口内商品点击 ÷ 新进观众",
        ),
        LiveMetric(
            "conversion_rate",
            "点击-成交率",
            "rate",
            BOTH,
            "%",
            1,
            _RATE_WINDOW,
            denominator="商品点击",
            estimated=PRODUCT,
            description="窗口内成交订单 ÷ 商品点击（单个商品的点击为估算值）",
        ),
        LiveMetric(
            "interaction_rate",
            "互动率",
            "rate",
            ROOM,
            "%",
            1,
            _RATE_WINDOW,
            denominator="新进观众",
            description="窗口内（评论 + 分享）÷ 新进观众",
        ),
        LiveMetric(
            "minutes_since_order",
            "距上一单",
            "level",
            BOTH,
            "分钟",
            0,
            _LEVEL_WINDOW,
            description="距最近一笔支付订单的分钟数（开播后还没有订单时，为开播至今的分钟数）",
        ),
        LiveMetric(
            "inventory",
            "库存",
            "level",
            PRODUCT,
            "件",
            0,
            _LEVEL_WINDOW,
            description="商品当前剩余库存",
        ),
    )
}


def get_metric(name: str) -> LiveMetric | None:
    """The metric called ``name``, or None."""
    return METRICS.get(name)


def suggest(name: str) -> str | None:
    """The closest metric name to a misspelt ``name``, if any is close."""
    close = difflib.get_close_matches(name, list(METRICS), n=1, cutoff=0.6)
    return close[0] if close else None
