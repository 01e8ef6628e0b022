"""The regions report: where buyers over- or under-convert, how long parcels take to reach each
province, what late parcels cost in refunds, and what to promise each province.

::

    import livekit
    from livekit.pages import regions

    page = regions.build(livekit.open("sandbox"), start="last_30_days")
    page.regions()    # 一、各省的观众与买家: the region index on a tile map of China, the table
    page.delivery()   # 二、包裹多久能到: Kaplan–Meier pay → ship and pay → receipt per province
    page.refunds()    # 三、发货超时与迟到的代价: late shipping, refund rate by delivery days
    page.promise()    # 四、每个省承诺几天: p90 per province, faster promise / second warehouse
    page.advice()     # 五、下一步

:func:`build` reads the period's viewer export and 抖店 orders, runs
:mod:`livekit.analysis.regions` and :mod:`livekit.analysis.delivery` once and keeps the results
in a :class:`RegionsPage`. The prose functions take the analysis results and word their codes
in Chinese; they are tested on their own. Province names come from upstream (the export, the
orders' ``post_addr``): they meet Markdown through :func:`livekit.text.escape_markdown`, tables
escape every cell, charts draw them as plain text.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from livekit.analysis.delivery import (
    ALL,
    LATE_DAYS,
    DeliveryCurves,
    RefundByDelay,
    delivery_curves,
    delivery_times,
    late_ship_share,
    promise_advice,
    refund_by_delay,
)
from livekit.analysis.regions import REGION_TABLE_SCHEMA, region_table
from livekit.analysis.rooms import room_ids
from livekit.charts.tables import Column, TableSpec
from livekit.pages._page import Period, Section, period, section
from livekit.text import escape_markdown as _md
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ, CHINA_TZ_NAME
from livekit.vocab.units import format_count, format_money, format_number, format_percent

if TYPE_CHECKING:
    import altair as alt

    from livekit.source import Kit

__all__ = [
    "ADVICE_LABELS",
    "DATASETS",
    "DELIVERY_TABLE",
    "PROMISE_TABLE",
    "REGION_TABLE",
    "RegionsPage",
    "advice_text",
    "build",
    "delivery_chart",
    "delivery_curve_chart",
    "delivery_text",
    "promise_text",
    "refund_text",
    "region_text",
]

DATASETS: tuple[str, ...] = ("viewers", "orders")
SETTLE_DAYS = 7  # a parcel's refunds are all in the data this many days after its receipt
LIST_NAMES = 5

ADVICE_LABELS: dict[str, str] = {
    "second_warehouse": "考虑第二仓就近发货",
    "faster_promise": "可以承诺更快送达",
    "keep": "维持现有承诺",
    "too_little_data": "订单太少，暂不建议",
}


# ---- prose --------------------------------------------------------------------------------------
def _days(value: float | None, digits: int = 1) -> str:
    return (
        "—" if value is None or not math.isfinite(value) else f"{format_number(value, digits)} 天"
    )


def _names(names: Iterable[str], limit: int = LIST_NAMES) -> str:
    shown = [_md(n) for n in names]
    return "、".join(shown[:limit]) + (f"等 {len(shown)} 个省份" if len(shown) > limit else "")


def region_text(table: pl.DataFrame, *, first: date, last: date) -> str:
    """Viewers and buyers in the period, and the provinces whose index interval lies above or
    below 1 (``table`` from :func:`livekit.analysis.regions.region_table`)."""
    rows = table.filter(pl.col("viewers").is_not_null() & (pl.col("viewers") > 0))
    if rows.height == 0:
        return f"{first} 至 {last} 没有带省份的观众明细，无法按地区比较。"
    viewers = int(rows["viewers"].sum() or 0)
    buyers = int(rows["buyers"].sum() or 0)
    gmv = float(rows["gmv"].sum() or 0.0)
    lines = [
        f"**{first} 至 {last}** 共 {format_count(viewers)} 位观众（按人去重）来自 "
        f"{rows.filter(pl.col('province').is_not_null()).height} 个省份，其中 "
        f"{format_count(buyers)} 位下单（转化率 {format_percent(buyers / viewers if viewers else None, 2)}），"
        f"成交 {format_money(gmv, compact=True)}。",
        "**地域指数** = 该省买家占比 ÷ 观众占比：大于 1 说明这里的观众比平均更愿意买，小于 1 则更不愿意。",
    ]
    known = rows.filter(pl.col("province").is_not_null())
    high = known.filter(pl.col("ci_low") > 1).sort("index", descending=True)
    low = known.filter(pl.col("ci_high") < 1).sort("index")

    def example(row: dict[str, Any]) -> str:
        return (
            f"「{_md(row['province'])}」{format_number(row['index'], 2)}"
            f"（95% 区间 {format_number(row['ci_low'], 2)}–{format_number(row['ci_high'], 2)}）"
        )

    if high.height:
        lines.append(
            f"- **明显高于平均**（区间整个大于 1）：{_names(high['province'].to_list())}；"
            f"最高的是{example(high.row(0, named=True))}。"
        )
    if low.height:
        lines.append(
            f"- **明显低于平均**（区间整个小于 1）：{_names(low['province'].to_list())}；"
            f"最低的是{example(low.row(0, named=True))}。"
        )
    rest = known.height - high.height - low.height
    if rest:
        lines.append(f"- 其余 {rest} 个省份的区间包含 1，与平均的差别可能只是随机波动。")
    if not high.height and not low.height:
        lines.append("- 没有哪个省份明显偏离平均。")
    return "\n".join([f"{lines[0]}\n\n{lines[1]}\n", *lines[2:]])


def delivery_text(
    times: pl.DataFrame,
    receipt: DeliveryCurves,
    ship: DeliveryCurves,
    festival: DeliveryCurves | None,
    *,
    excluded: int,
) -> str:
    """How long parcels take: orders counted, in transit (censored), the overall median and p90
    on ordinary days, the fastest and slowest provinces, the 双十一 backlog."""
    if times.height == 0:
        return "所选时段没有已付款、需要配送的订单，无法统计配送时长。"
    transit = int((~times["received"]).sum())
    lines = [
        f"共 {format_count(times.height)} 单已付款订单需要配送"
        + (
            f"（另有 {format_count(excluded)} 单在发货前退款，没有配送，不计入）"
            if excluded
            else ""
        )
        + f"；其中 {format_count(transit)} 单（{format_percent(transit / times.height)}）"
        "在统计时还没签收，只知道“至少要这么久”，按删失处理（Kaplan–Meier），不当作已经送到。"
    ]
    overall = receipt.summary.filter(pl.col("group") == ALL)
    ships = ship.summary.filter(pl.col("group") == ALL)
    if overall.height:
        r = overall.row(0, named=True)
        ship_text = ""
        if ships.height:
            s = ships.row(0, named=True)
            ship_text = f"从付款到发货中位 {format_number(s['median_days'] * 24, 1)} 小时；"
        lines.append(
            f"平时（不含双十一备货期）{ship_text}从付款到签收中位 **{_days(r['median_days'])}**"
            f"（95% 区间 {_days(r['median_ci_low'])}–{_days(r['median_ci_high'])}），"
            f"90% 的包裹在 **{_days(r['p90_days'])}** 内签收，"
            f"{format_percent(r['late_share'])} 超过 {format_number(LATE_DAYS, 0)} 天。"
        )
    if festival is not None:
        f_all = festival.summary.filter(pl.col("group") == ALL)
        if f_all.height and overall.height:
            f = f_all.row(0, named=True)
            lines.append(
                f"双十一备货期（11-01 至 11-13）付款的 {format_count(f['orders'])} 单，签收中位 "
                f"{_days(f['median_days'])}，90% 在 {_days(f['p90_days'])} 内：大促期间的承诺要另外放宽。"
            )
    provinces = receipt.summary.filter(
        (pl.col("group") != ALL) & pl.col("median_days").is_not_null()
    ).sort("median_days")
    if provinces.height >= 2:
        fast, slow = provinces.row(0, named=True), provinces.row(-1, named=True)
        lines.append(
            f"最快的是「{_md(fast['group'])}」（中位 {_days(fast['median_days'])}），"
            f"最慢的是「{_md(slow['group'])}」（中位 {_days(slow['median_days'])}，"
            f"90% 要 {_days(slow['p90_days'])}）。"
        )
    return "\n\n".join(lines)


def refund_text(late: pl.DataFrame, refunds: RefundByDelay, *, settled_before: datetime) -> str:
    """Late shipping overall, and the refund rate of late (> LATE_DAYS) vs on-time parcels with
    Newcombe's interval (``late`` from :func:`late_ship_share` with ``by=None``)."""
    lines: list[str] = []
    if late.height and late["orders"][0]:
        row = late.row(0, named=True)
        lines.append(
            f"**发货超时**：{format_count(row['orders'])} 单里有 {format_count(row['late'])} 单"
            f"在承诺的发货时间之后才发货（或过了时间还没发），占 **{format_percent(row['share'])}**"
            f"（95% 区间 {format_percent(row['ci_low'])}–{format_percent(row['ci_high'])}）。"
        )
    settled = f"{settled_before.astimezone(CHINA_TZ):%m-%d}"
    days = format_number(refunds.late_days, 0)
    if refunds.error or refunds.difference is None or refunds.difference_ci is None:
        lines.append(
            f"**迟到与退款**：{settled} 之前签收、退款期已过的包裹里，"
            f"超过 {days} 天和 {days} 天内签收的两组至少有一组没有订单，无法比较退款率。"
        )
        return "\n\n".join(lines)
    low, high = refunds.difference_ci
    verdict = (
        "迟到的包裹**明显更容易退款**"
        if refunds.detected
        else (
            "迟到的包裹退款率反而更低" if high < 0 else "两者的差别在误差范围内，看不出迟到会多退款"
        )
    )
    lines.append(
        f"**迟到与退款**：只看 {settled} 之前签收、退款期已过的包裹：超过 {days} 天才签收的 "
        f"{format_count(refunds.orders_late)} 单，退款率 **{format_percent(refunds.rate_late)}**；"
        f"{days} 天内签收的 {format_count(refunds.orders_on_time)} 单，退款率 "
        f"{format_percent(refunds.rate_on_time)}。差 "
        f"**{format_percent(refunds.difference, 1, signed=True)}**（95% 区间 "
        f"{format_percent(low, 1, signed=True)} 至 {format_percent(high, 1, signed=True)}），"
        f"{verdict}。"
    )
    return "\n\n".join(lines)


def promise_text(advice: pl.DataFrame) -> str:
    """The suggested promise (p90 in whole days) and where a second warehouse or a faster
    promise would pay (``advice`` from :func:`livekit.analysis.delivery.promise_advice`)."""
    if advice.height == 0:
        return "没有足够的签收记录，暂时给不出各省的承诺时效。"
    known = advice.filter(
        pl.col("promise_days").is_not_null() & (pl.col("advice") != "too_little_data")
    )
    lines = [
        "**建议承诺时效** = 该省付款到签收的第 90 百分位，向上取整到天：按它承诺，"
        "十个包裹里有九个能按时送到。"
    ]
    if known.height:
        groups = known.group_by("promise_days").agg(pl.col("province")).sort("promise_days")
        for row in groups.iter_rows(named=True):
            lines.append(
                f"- 承诺 **{row['promise_days']} 天**：{_names(sorted(row['province']), 12)}"
            )
    warehouse = advice.filter(pl.col("advice") == "second_warehouse")
    if warehouse.height:
        cost = warehouse["refund_cost"].drop_nulls()
        money = (
            f"，按迟到多出的退款率估算，这些省份本期因迟到多退约 "
            f"{format_money(float(cost.sum()), compact=True)}"
            if cost.len()
            else ""
        )
        lines.append(
            f"\n**第二仓（就近发货）最值得考虑的**：{_names(warehouse['province'].to_list())}："
            f"订单多，又有不少包裹超过 {format_number(LATE_DAYS, 0)} 天才到{money}。"
        )
    faster = advice.filter(pl.col("advice") == "faster_promise")
    if faster.height:
        lines.append(
            f"\n**可以承诺更快的**：{_names(faster['province'].to_list())}：90% 的包裹两天内就到，"
            "页面上可以写“次日/隔日达”，提高下单意愿。"
        )
    thin = advice.filter(pl.col("advice") == "too_little_data")
    if thin.height:
        lines.append(
            f"\n{_names(thin['province'].to_list())}的订单太少，时效估计不稳，暂按相邻省份承诺。"
        )
    return "\n".join(lines)


def advice_text(table: pl.DataFrame, advice: pl.DataFrame, refunds: RefundByDelay | None) -> str:
    """Next steps: where to spend on acquisition, what to promise, where to ship from."""
    steps: list[str] = []
    high = table.filter(pl.col("province").is_not_null() & (pl.col("ci_low") > 1)).sort(
        "index", descending=True
    )
    low = table.filter(pl.col("province").is_not_null() & (pl.col("ci_high") < 1)).sort("index")
    if high.height:
        steps.append(
            f"**投放向{_names(high['province'].to_list(), 3)}倾斜**：这些省份的观众明显更愿意下单，"
            "千川定向可以加大这些地区的出价或预算。"
        )
    if low.height:
        steps.append(
            f"**查一查{_names(low['province'].to_list(), 3)}为什么不买**：配送慢、运费、价格还是商品不对路？"
            "配送慢的话看下面第二仓的建议。"
        )
    warehouse = advice.filter(pl.col("advice") == "second_warehouse")
    if warehouse.height:
        steps.append(
            f"**评估在{_names(warehouse['province'].to_list(), 3)}附近设第二仓**，"
            "或与当地快递合作：缩短配送可以减少迟到引起的退款。"
        )
    if refunds is not None and refunds.detected:
        steps.append(
            f"**商品页按省写明承诺时效**（见第四节），超过 {format_number(refunds.late_days, 0)} 天"
            "的包裹退款明显更多：宁可承诺保守、按时送到。"
        )
    else:
        steps.append("**商品页按省写明承诺时效**（见第四节）：承诺保守、按时送到。")
    steps.append("过一个月用同样的参数再跑一次本报告，看调整后各省的转化和时效有没有变化。")
    return "\n".join(f"{i}. {text}" for i, text in enumerate(steps, start=1))


# ---- tables and charts --------------------------------------------------------------------------
REGION_TABLE = TableSpec(
    (
        Column("province", "省份"),
        Column("viewers", "观众（人）", "count"),
        Column("buyers", "买家（人）", "count"),
        Column("conversion", "转化率", "percent"),
        Column("gmv", "成交金额", "money"),
        Column("index", "地域指数", "ratio"),
        Column("ci_low", "指数下限", "ratio"),
        Column("ci_high", "指数上限", "ratio"),
        Column("orders", "订单数", "count"),
    ),
    max_rows=40,
)

DELIVERY_TABLE = TableSpec(
    (
        Column("province", "省份"),
        Column("orders", "订单数", "count"),
        Column("censored_share", "未签收（删失）", "percent"),
        Column("ship_hours", "发货中位（小时）", "{:,.1f}"),
        Column("median_days", "签收中位（天）", "{:,.1f}"),
        Column("median_ci_low", "中位下限", "{:,.1f}"),
        Column("median_ci_high", "中位上限", "{:,.1f}"),
        Column("p90_days", "90% 签收（天）", "{:,.1f}"),
        Column("late_share", f"超过 {LATE_DAYS:.0f} 天", "percent"),
        Column("late_ship", "发货超时", "percent"),
    ),
    caption="各省配送时效（平时：不含双十一备货期付款的订单）",
    max_rows=40,
)

PROMISE_TABLE = TableSpec(
    (
        Column("province", "省份"),
        Column("orders", "订单数", "count"),
        Column("order_share", "订单占比", "percent"),
        Column("median_days", "签收中位（天）", "{:,.1f}"),
        Column("promise_days", "建议承诺（天）", "{}"),
        Column("late_share", f"超过 {LATE_DAYS:.0f} 天", "percent"),
        Column("refund_cost", "迟到多退（估）", "money"),
        Column("advice_label", "建议"),
    ),
    max_rows=40,
)


def delivery_rows(
    receipt: DeliveryCurves, ship: DeliveryCurves, late: pl.DataFrame
) -> pl.DataFrame:
    """One row per province: the receipt summary, the median hours to ship and the late-ship
    share (the frames of :func:`delivery_curves` and :func:`late_ship_share`)."""
    ships = ship.summary.select(pl.col("group"), (pl.col("median_days") * 24).alias("ship_hours"))
    lates = late.select(pl.col("group"), pl.col("share").alias("late_ship"))
    return (
        receipt.summary.filter(pl.col("group") != ALL)
        .join(ships, on="group", how="left")
        .join(lates, on="group", how="left")
        .rename({"group": "province"})
        .sort("median_days", nulls_last=True)
    )


def delivery_chart(rows: pl.DataFrame) -> alt.LayerChart | None:
    """Per province the median days to receipt (point) with its interval (line) and the 90th
    percentile (tick), fastest first; None without rows."""
    import altair as alt

    from livekit.charts._frames import clip_labels, require
    from livekit.charts._marks import layered, title_params
    from livekit.charts.style import ACCENT, BAD, WIDTH

    require(
        rows,
        ["province", "median_days", "median_ci_low", "median_ci_high", "p90_days"],
        "delivery_chart",
    )
    data = clip_labels(
        rows.filter(pl.col("median_days").is_not_null())
        .select(
            pl.col("province").cast(pl.String),
            pl.col("median_days", "median_ci_low", "median_ci_high", "p90_days").cast(pl.Float64),
        )
        .with_columns(
            # an open upper limit (the band never drops below one half) is drawn to the p90
            pl.when(pl.col("median_ci_high").is_finite())
            .then(pl.col("median_ci_high"))
            .otherwise(pl.col("p90_days"))
            .alias("median_ci_high")
        ),
        "province",
    )
    if data.height == 0:
        return None
    order = data.get_column("province").to_list()
    y = alt.Y("province:N", sort=order, title=None)
    base = alt.Chart(data)
    band = base.mark_rule(strokeWidth=3, color=ACCENT, opacity=0.5).encode(
        y=y,
        x=alt.X("median_ci_low:Q", title="付款到签收（天）"),
        x2="median_ci_high:Q",
    )
    median = base.mark_point(color=ACCENT, size=60).encode(
        y=y,
        x="median_days:Q",
        tooltip=[
            alt.Tooltip("province:N", title="省份"),
            alt.Tooltip("median_days:Q", title="中位（天）", format=".1f"),
            alt.Tooltip("median_ci_low:Q", title="下限", format=".1f"),
            alt.Tooltip("median_ci_high:Q", title="上限", format=".1f"),
            alt.Tooltip("p90_days:Q", title="90% 签收（天）", format=".1f"),
        ],
    )
    p90 = base.mark_tick(color=BAD, thickness=2, size=14).encode(y=y, x="p90_days:Q")
    return layered(band, median, p90).properties(
        width=WIDTH,
        height=alt.Step(18),
        title=title_params(
            "各省包裹多久签收（平时）",
            "点为中位天数，横线为 95% 置信区间，红色竖线为 90% 包裹签收的天数（建议承诺）",
        ),
    )


def delivery_curve_chart(receipt: DeliveryCurves, ship: DeliveryCurves) -> alt.LayerChart | None:
    """Share of parcels shipped and received by day after payment (1 − Kaplan–Meier), over every
    province (the ``all`` curves); None when both are empty."""
    import altair as alt

    from livekit.charts._frames import thin_steps
    from livekit.charts._marks import layered, title_params
    from livekit.charts.style import HEIGHT, MAX_POINTS, NEUTRAL, WIDTH

    parts = [
        c.curves.filter(pl.col("group") == ALL).select(
            "time", "survival", pl.lit(name).alias("what")
        )
        for c, name in ((ship, "已发货"), (receipt, "已签收"))
    ]
    data = pl.concat(parts)
    if data.height == 0:
        return None
    data = thin_steps(data, "what", MAX_POINTS).with_columns(
        (1 - pl.col("survival")).alias("share")
    )
    x = alt.X("time:Q", title="付款后天数", scale=alt.Scale(nice=False))
    line = (
        alt.Chart(data)
        .mark_line(interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y(
                "share:Q", title="比例", axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1])
            ),
            color=alt.Color("what:N", title=None, sort=["已发货", "已签收"]),
            tooltip=[
                alt.Tooltip("what:N", title="环节"),
                alt.Tooltip("time:Q", title="天", format=".1f"),
                alt.Tooltip("share:Q", title="比例", format=".1%"),
            ],
        )
    )
    late = (
        alt.Chart(pl.DataFrame({"x": [float(LATE_DAYS)]}))
        .mark_rule(color=NEUTRAL, strokeDash=[4, 4])
        .encode(x="x:Q")
    )
    return layered(line, late).properties(
        width=WIDTH,
        height=HEIGHT,
        title=title_params(
            "付款后几天发货、几天签收（全部省份，平时）",
            f"Kaplan–Meier 估计，未签收的包裹按删失处理；虚线为 {LATE_DAYS:.0f} 天",
        ),
    )


def refund_chart(refunds: RefundByDelay) -> alt.LayerChart | None:
    """Refund rate per delivery-days bucket with its Wilson interval; None when no bucket has
    orders."""
    from livekit.charts.builders import rate_chart

    rows = refunds.by_bucket.filter(pl.col("orders") > 0).with_columns(
        (pl.col("bucket") + "天").alias("配送天数")
    )
    if rows.height == 0:
        return None
    overall = (refunds.refunds_late + refunds.refunds_on_time) / max(
        1, refunds.orders_late + refunds.orders_on_time
    )
    return rate_chart(
        rows,
        "配送天数",
        "rate",
        title="签收越晚，退款越多吗",
        subtitle="付款到签收的天数分档；点为退款率，横线为 95% 置信区间，红线为整体退款率",
        x_title="付款到签收",
        y_title="退款率（95% 置信区间）",
        reference=overall,
        reference_label=f"整体 {format_percent(overall)}",
    )


def _advice_rows(advice: pl.DataFrame) -> pl.DataFrame:
    return advice.with_columns(
        pl.col("advice").replace_strict(ADVICE_LABELS, default=None).alias("advice_label")
    )


# ---- the page -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RegionsPage:
    """The regions report of one period: the analysis results, and a method per section."""

    period: Period
    rooms: tuple[int, ...]
    now: datetime  # the delivery times are as seen at this moment (censored at it)
    table: pl.DataFrame = field(repr=False)  # region_table
    times: pl.DataFrame = field(repr=False)  # delivery_times
    excluded: int  # paid orders refunded before shipping (no delivery)
    receipt: DeliveryCurves = field(repr=False)  # ordinary days, by province and overall ("all")
    ship: DeliveryCurves = field(repr=False)
    festival: DeliveryCurves | None = field(repr=False)  # 双十一 backlog days, overall
    late: pl.DataFrame = field(repr=False)  # late_ship_share by province, ordinary days
    late_overall: pl.DataFrame = field(repr=False)  # every order of the period
    refund_delay: RefundByDelay = field(repr=False)
    advice_frame: pl.DataFrame = field(repr=False)  # promise_advice

    @property
    def settled_before(self) -> datetime:
        return self.now - timedelta(days=SETTLE_DAYS)

    def map_chart(self) -> alt.LayerChart | None:
        """The region index on the tile map of China (tooltips: the table's numbers)."""
        from livekit.charts.china import china_map

        rows = self.table.filter(pl.col("viewers").is_not_null() & pl.col("province").is_not_null())
        if rows.height == 0:
            return None
        return china_map(
            rows,
            "province",
            "index",
            details=tuple(c for c in REGION_TABLE.columns if c.name not in ("province", "index")),
            title="各省地域指数（买家占比 ÷ 观众占比）",
            subtitle="蓝色：观众更愿意下单（> 1）；红色：更不愿意（< 1）；灰色：无数据",
            y_title="地域指数",
        )

    def regions(self) -> Section:
        """一、各省的观众与买家: the coverage note, the index's reading, the map, the table."""
        text = region_text(self.table, first=self.period.first, last=self.period.last)
        table = REGION_TABLE.render(self.table) if self.table.height else None
        return section(self.period.note, text, self.map_chart(), table)

    def delivery(self) -> Section:
        """二、包裹多久能到: counts and censoring, the curves, per province chart and table."""
        rows = delivery_rows(self.receipt, self.ship, self.late)
        return section(
            delivery_text(
                self.times, self.receipt, self.ship, self.festival, excluded=self.excluded
            ),
            delivery_curve_chart(self.receipt, self.ship),
            delivery_chart(rows) if rows.height else None,
            DELIVERY_TABLE.render(rows) if rows.height else None,
        )

    def refunds(self) -> Section:
        """三、发货超时与迟到的代价."""
        return section(
            refund_text(self.late_overall, self.refund_delay, settled_before=self.settled_before),
            refund_chart(self.refund_delay),
        )

    def promise(self) -> Section:
        """四、每个省承诺几天: the suggested promise, second warehouse, faster promise."""
        rows = _advice_rows(self.advice_frame)
        return section(
            promise_text(self.advice_frame), PROMISE_TABLE.render(rows) if rows.height else None
        )

    def advice(self) -> Section:
        """五、下一步怎么做."""
        return section(advice_text(self.table, self.advice_frame, self.refund_delay))


def _orders_of_rooms(
    kit: Kit, orders: pl.DataFrame, span: Period, ids: tuple[int, ...]
) -> pl.DataFrame:
    """The orders with a sku order sold in one of the rooms ``ids`` (through ``order_items``)."""
    items = kit.load("order_items", span.first, span.last)
    parents = items.filter(pl.col("room_id").is_in(ids)).select(
        pl.col("parent_order_id").alias("order_id")
    )
    return orders.join(parents.unique(), on="order_id", how="semi")


def build(
    kit: Kit,
    start: date | str = "last_30_days",
    end: date | str | None = None,
    *,
    rooms: Iterable[int | str] | None = None,
) -> RegionsPage:
    """Read the period's viewer export and 抖店 orders from ``kit`` (a sandbox kit fills what is
    missing first) and analyse them once.

    The delivery times are as seen when the orders were last synced (a parcel not received by
    then is censored); the refund comparison keeps parcels received at least
    :data:`SETTLE_DAYS` days before that. ``rooms`` keeps the viewers of those shows and the
    orders sold in them (``order_items``' room). Neither viewers nor orders in the period is a
    :class:`LivekitError`.
    """
    from livekit.charts.render import setup

    ids = room_ids(rooms)
    datasets = DATASETS + (("order_items",) if ids else ())
    span = period(kit, start, end, datasets=datasets)
    viewers = kit.load("viewers", span.first, span.last)
    orders = kit.load("orders", span.first, span.last)
    if ids:
        viewers = viewers.filter(pl.col("room_id").is_in(ids))
        orders = _orders_of_rooms(kit, orders, span, ids)
    if viewers.height == 0 and orders.height == 0:
        raise LivekitError(
            f"{span.first} 至 {span.last} 没有观众明细，也没有抖店订单："
            + ("请检查 rooms 参数。" if ids else "请先同步店铺数据（livekit sync）或导入观众明细。")
        )
    synced = span.coverage.last_synced
    now = datetime.now(CHINA_TZ)
    if synced is not None:
        now = min(now, synced.astimezone(CHINA_TZ))
    at = pl.lit(now).dt.convert_time_zone(CHINA_TZ_NAME)
    paid = orders.filter(pl.col("pay_time").is_not_null() & (pl.col("pay_time") <= at))
    table = (
        region_table(viewers, paid) if viewers.height else pl.DataFrame(schema=REGION_TABLE_SCHEMA)
    )
    with warnings.catch_warnings():
        # statsmodels-style log(0) at the end of a curve: the analysis already gives no interval
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        times = delivery_times(orders, now)
        ordinary = times.filter(~pl.col("festival"))
        receipt = _curves(ordinary, "receipt")
        ship = _curves(ordinary, "ship")
        busy = times.filter(pl.col("festival"))
        festival = delivery_curves(busy, by=None) if busy.height else None
        late = late_ship_share(ordinary)  # per province, beside the ordinary days' curves
        late_overall = late_ship_share(times, by=None)
        refunds = refund_by_delay(times, settled_before=now - timedelta(days=SETTLE_DAYS))
        advice = promise_advice(
            DeliveryCurves(
                summary=receipt.summary.filter(pl.col("group") != ALL),
                curves=receipt.curves,
                what=receipt.what,
                by=receipt.by,
            ),
            table if {"orders", "order_gmv"} <= set(table.columns) and viewers.height else None,
            refunds=refunds,
        )
    setup()  # the theme, and charts drawn offline as inline SVG
    return RegionsPage(
        period=span,
        rooms=ids,
        now=now,
        table=table,
        times=times,
        excluded=paid.height - times.height,
        receipt=receipt,
        ship=ship,
        festival=festival,
        late=late,
        late_overall=late_overall,
        refund_delay=refunds,
        advice_frame=advice,
    )


def _curves(times: pl.DataFrame, kind: Literal["receipt", "ship"]) -> DeliveryCurves:
    """Curves per province and over all provinces (group ``"all"``) in one result."""
    by_province = delivery_curves(times.filter(pl.col("province").is_not_null()), "province", kind)
    overall = delivery_curves(times, None, kind)
    return DeliveryCurves(
        summary=pl.concat([by_province.summary, overall.summary]),
        curves=pl.concat([by_province.curves, overall.curves]),
        what=kind,
        by="province",
    )
