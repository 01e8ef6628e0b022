"""The ROI report (投放 ROI 报告): did the ads pay, room by room, with refunds still to come.

:func:`build` reads the period's 千川 rooms, six weeks of earlier rooms (the refund level of
closed rooms) and the 抖店 orders from 8 days back (refund timing) to 7 days after the period
(repurchases), runs the ROI analysis of :mod:`livekit.analysis.roi` once and keeps the results
in a :class:`RoiPage`; each of its methods is one part of the report, a :class:`Section`::

    import livekit
    from livekit.pages import roi

    page = roi.build(livekit.open("sandbox"), start="last_7_days", gross_margin=0.45)
    page.overview()   # totals, net ROAS projected over open refund windows, the 7-day view
    page.rooms()      # projected net ROAS per room against break-even: chart and ranking
    page.trend()      # ROAS per day (open refund windows marked), 7-day GMV's two parts
    page.losses()     # which rooms lose money, and what to do

The analysis decides, the page shows: the break-even verdict (shop and per room) is the
projection's (:func:`livekit.analysis.roi.project_net_roas`), and the per-room chart colours
each room by that verdict. The shop's 7-day ROI counts each order once
(:func:`livekit.analysis.roi.roi_summary` given the orders); per-room repurchases keep their
attribution, and the report says so.

Upstream text (抖音号 names in room labels) enters prose through
:func:`livekit.text.escape_markdown`; tables escape every cell (:func:`livekit.charts.table`)
and charts draw labels as plain text. Importing this module loads no altair.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import polars as pl

import livekit.charts as charts
from livekit.analysis.roi import (
    WINDOW_DAYS,
    NetRoasProjection,
    net_roas_by_day,
    project_net_roas,
    repurchase_by_day,
    roi_by_room,
    roi_summary,
)
from livekit.analysis.rooms import room_ids as parse_room_ids
from livekit.charts._frames import chartable, clip_labels, require
from livekit.charts.style import BAD, GOOD, HEIGHT, NEUTRAL, WIDTH
from livekit.charts.tables import Column, TableSpec
from livekit.dates import today
from livekit.pages._page import Period, Section, period, section
from livekit.text import escape_markdown as _md
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ
from livekit.vocab.units import format_money, format_number, format_percent

if TYPE_CHECKING:
    import altair as alt

    from livekit.source import Kit

__all__ = [
    "DATASETS",
    "HISTORY_WEEKS",
    "ORDER_DATASETS",
    "ROI_ATTRIBUTION_NOTE",
    "ROI_CAVEAT",
    "ROI_VERDICTS",
    "VERDICT_LEGEND",
    "RoiPage",
    "build",
    "ranking_rows",
    "ranking_table",
    "repurchase_chart",
    "roi_chart",
    "roi_loss_advice",
    "roi_overview",
    "roi_trend_chart",
    "with_room_labels",
]

DATASETS = ("rooms",)  # the period's rooms, and the earlier rooms behind the refund level
ORDER_DATASETS = ("orders", "order_items")  # repurchases and refund timing
HISTORY_WEEKS = 6  # closed rooms behind the refund level and its week-to-week variation

# ---- the page -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoiPage:
    """The ROI report of one period, analysed once (:func:`build`); each method is a section.

    ``by_room``: :func:`livekit.analysis.roi.roi_by_room` with the room ``label``;
    ``closed`` / ``so_far``: the :func:`~livekit.analysis.roi.roi_summary` rows without and with
    the rooms whose 7-day window is still open (each order counted once); ``projection``: the
    projected net ROAS (:func:`~livekit.analysis.roi.project_net_roas`).
    """

    period: Period
    orders_note: str | None  # the orders' coverage line (live data not fully synced)
    gross_margin: float
    by_room: pl.DataFrame = field(compare=False)
    closed: Mapping[str, Any] = field(compare=False)
    so_far: Mapping[str, Any] = field(compare=False)
    projection: NetRoasProjection = field(compare=False)

    @property
    def breakeven(self) -> float | None:
        """The break-even ROAS, 1 / gross margin (None without a positive margin)."""
        value: float | None = self.closed["breakeven_roas"]
        return value

    def overview(self) -> Section:
        """Totals, net ROAS with the open refund windows projected, the break-even verdict, the
        7-day view (each order once)."""
        text = roi_overview(
            self.closed,
            self.so_far,
            self.projection,
            gross_margin=self.gross_margin,
            first=self.period.first,
            last=self.period.last,
        )
        return section(self.period.note, self.orders_note, text)

    def rooms(self) -> Section:
        """Each room's projected net ROAS with its interval against break-even (chart), and the
        ranking by it (table)."""
        rows = ranking_rows(self.by_room, self.projection)
        if rows.is_empty():
            return section("这段时间没有有消耗的直播场次，没有 ROI 可比。")
        level = format_percent(self.projection.level, 0)
        chart = roi_chart(
            rows,
            reference=self.breakeven,
            subtitle=(
                f"毛利率 {format_percent(self.gross_margin, 0)}；点为预计的净成交ROI，横线为 "
                f"{level} 区间，颜色是保本判断；灰色短线是目前（只扣已发生退款）的净成交ROI"
            ),
            x_title="场次",
        )
        return section(chart, charts.table(rows, ranking_table(self.projection.level)))

    def trend(self) -> Section:
        """ROAS per day, days with open refund windows marked; the parts of 7-day GMV per day."""
        daily = net_roas_by_day(self.projection)
        if daily.is_empty():
            return section("这段时间没有直播场次。")
        return section(
            roi_trend_chart(daily, reference=self.breakeven),
            repurchase_chart(repurchase_by_day(self.by_room)),
        )

    def losses(self) -> Section:
        """The rooms below break-even (open windows judged by the projection) and what to do."""
        return section(
            roi_loss_advice(self.by_room, self.projection, gross_margin=self.gross_margin)
        )


def build(
    kit: Kit,
    start: date | str = "last_7_days",
    end: date | str | None = None,
    gross_margin: float = 0.45,
    rooms: Iterable[Any] | None = (),
) -> RoiPage:
    """Read the period from ``kit`` and run the ROI analysis once.

    The parameters are the notebook's: ``start``/``end`` (the date grammar of
    :mod:`livekit.dates`), ``gross_margin`` (a fraction: 0.45 = 45%; break-even ROAS = 1 /
    margin), ``rooms`` (room_ids; empty: every room). Read besides the period: the rooms of
    the six weeks before it (the refund level of closed rooms), and the 抖店 orders from 8 days
    before today (refund timing) or the period's start, whichever is earlier, to 7 days after
    the period (repurchases; at most today). A sandbox kit fills missing days first
    (:func:`livekit.pages.period`). Mistakes raise :class:`LivekitError` (one Chinese line).
    """
    margin = _gross_margin(gross_margin)
    room_ids = parse_room_ids(rooms)
    charts.setup()  # the charts' theme, rendered offline as SVG
    current = period(kit, start, end, datasets=DATASETS)
    first, last = current.first, current.last
    history_first = first - timedelta(days=HISTORY_WEEKS * 7)
    kit.prepare(history_first, first - timedelta(days=1), datasets=DATASETS)
    live = kit.load("rooms", first, last)
    if room_ids:
        live = live.filter(pl.col("room_id").is_in(room_ids))
    history = kit.load("rooms", history_first, first - timedelta(days=1))
    orders_first = min(first, today() - timedelta(days=WINDOW_DAYS + 1))  # refund timing
    orders_last = min(last + timedelta(days=WINDOW_DAYS), today())  # repurchases come later
    orders_note = kit.prepare(orders_first, orders_last, datasets=ORDER_DATASETS).note
    orders = kit.load("orders", orders_first, orders_last)
    items = kit.load("order_items", orders_first, orders_last)

    by_room = with_room_labels(roi_by_room(live, orders, items, gross_margin=margin))
    once: dict[str, Any] = {"gross_margin": margin, "orders": orders, "order_items": items}
    closed = MappingProxyType(roi_summary(by_room, **once).row(0, named=True))
    so_far = MappingProxyType(
        roi_summary(by_room, include_open_windows=True, **once).row(0, named=True)
    )
    latest = orders["create_time"].max() if orders.height else None
    as_of = latest if isinstance(latest, datetime) else datetime.now(CHINA_TZ)
    projection = project_net_roas(live, orders, items, history, as_of=as_of, gross_margin=margin)
    return RoiPage(current, orders_note, margin, by_room, closed, so_far, projection)


def _gross_margin(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LivekitError(f"毛利率 gross_margin 须为小数（如 0.45 表示 45%），收到 {value!r}")
    if value > 1:
        raise LivekitError(
            f"毛利率 gross_margin 须为不超过 1 的小数（如 0.45 表示 45%），收到 {value!r}"
        )
    return float(value)


# ---- prose --------------------------------------------------------------------------------------

ROI_CAVEAT = (
    "注意：保本ROI 只看毛利是否覆盖广告费，没有扣除人工、场地等固定成本；"
    "毛利率请按实际货盘填写，不同商品毛利不同时，以主推商品为准。"
)
# The projection's verdict codes (livekit.analysis.roi.VERDICTS) in words.
ROI_VERDICTS: dict[str, str] = {
    "above": "**高于保本线**（区间下限也在保本线之上），广告费能被毛利覆盖",
    "below": "**低于保本线**（区间上限也在保本线之下），按这个毛利率投放在亏钱",
    "cannot_tell": "**暂时无法判断**是否保本：区间跨过了保本线",
    "undefined": "无法判断",
}
# Every refund window closed: the values are final, no interval to speak of.
FINAL_VERDICTS: dict[str, str] = {
    "above": "**高于保本线**，广告费能被毛利覆盖",
    "below": "**低于保本线**，按这个毛利率投放在亏钱",
    "cannot_tell": ROI_VERDICTS["cannot_tell"],
    "undefined": "无法判断",
}
ROI_ATTRIBUTION_NOTE = (
    "店铺合计的 7 日成交中每笔订单只计一次；分场表中的复购按场归属，"
    "同一笔复购可能同时计入几场（或同时是另一场的直播成交），所以各场复购相加会大于合计。"
)


def with_room_labels(by_room: pl.DataFrame) -> pl.DataFrame:
    """``by_room`` plus ``label``, how the report names a room: "11-20 19:30 抖音号"."""
    return by_room.with_columns(
        label=pl.format(
            "{} {}", pl.col("start_time").dt.strftime("%m-%d %H:%M"), pl.col("aweme_name")
        )
    )


def _projection_lines(
    projection: NetRoasProjection, breakeven: float | None, margin: str
) -> list[str]:
    """The refund-window sentences: provisional rooms, the projected net ROAS, the verdict."""
    share = f"{format_percent(projection.level, 0)} 区间"
    lines: list[str] = []
    subject = "净成交ROI"
    verdicts = ROI_VERDICTS
    if projection.provisional_rooms and projection.net_roas_projected is not None:
        when = (
            f"{projection.final_at:%m-%d %H:%M} 后全部确定"
            if projection.final_at is not None
            else "有场次仍在直播"
        )
        lines.append(
            f"- 其中 **{projection.provisional_rooms} 场**的 7 日退款窗口还没结束（{when}），"
            f"目前退款占成交 {format_percent(projection.refund_ratio)}，退款还会增加。"
            "按近期已结束场次的退款进度推算，最终退款约 "
            f"{format_money(projection.refunds_projected, compact=True)}（占成交 "
            f"{format_percent(projection.refund_ratio_projected)}；{share} "
            f"{format_money(projection.refunds_low, compact=True)}–"
            f"{format_money(projection.refunds_high, compact=True)}），"
            f"净成交ROI 预计 **{format_number(projection.net_roas_projected, 2)}**"
            f"（{share} {format_number(projection.net_roas_low, 2)}–"
            f"{format_number(projection.net_roas_high, 2)}）；"
        )
        subject = "预计的净成交ROI"
    elif projection.provisional_rooms:
        lines.append(
            f"- 其中 {projection.provisional_rooms} 场的 7 日退款窗口还没结束，"
            "但没有足够的已结束场次来推算最终退款，净成交ROI 之后还会下降；"
        )
    else:
        verdicts = FINAL_VERDICTS  # every window closed: the refunds are final
    verdict = verdicts[projection.verdict]
    if projection.verdict == "cannot_tell" and projection.final_at is not None:
        verdict += f"，等 {projection.final_at:%m-%d} 退款窗口结束后再看"
    lines.append(
        f"- 毛利率 {margin} 时保本ROI 为 **{format_number(breakeven, 2)}**：{subject}{verdict}。"
    )
    return lines


def roi_overview(
    closed: Mapping[str, Any],
    so_far: Mapping[str, Any],
    projection: NetRoasProjection,
    *,
    gross_margin: float,
    first: date,
    last: date,
) -> str:
    """Did the ads pay: totals, the projected net ROAS against break-even, the 7-day view.

    ``closed`` and ``so_far`` are the rows of :func:`livekit.analysis.roi.roi_summary` without
    and with ``include_open_windows``; ``projection`` is
    :func:`livekit.analysis.roi.project_net_roas` over the same rooms: the break-even verdict is
    its, and the provisional rooms are named by count and the moment they become final.
    """
    breakeven = closed["breakeven_roas"]
    if not closed["rooms"]:
        return f"**{first} 至 {last}** 没有直播场次（或所选直播间不在这段时间内），没有 ROI 可算。"
    money = format_money
    lines = [
        f"**{first} 至 {last}** 共 {closed['rooms']} 场直播，"
        f"千川消耗 {money(closed['spend'], compact=True)}，"
        f"直播间成交 {money(closed['gmv'], compact=True)}，"
        f"截至目前 7 日退款 {money(closed['refunds'], compact=True)}。",
        f"- 支付ROI **{format_number(closed['roas'], 2)}**，"
        f"净成交ROI（扣退款）**{format_number(closed['net_roas'], 2)}**；",
    ]
    lines.extend(_projection_lines(projection, breakeven, format_percent(gross_margin, 0)))
    once = bool(closed.get("counted_once")) or bool(so_far.get("counted_once"))
    if closed["rooms_7d"]:
        lines.append(
            f"- 7 日窗口已结束的 {closed['rooms_7d']} 场：7日总支付ROI "
            f"**{format_number(closed['roas_7d'], 2)}**，"
            f"其中复购占 7 日成交的 {format_percent(closed['repurchase_share'])}。"
        )
    if so_far["rooms_7d"] > closed["rooms_7d"]:
        lines.append(
            "- 算上 7 日窗口还没结束的场次，截至目前 7日总支付ROI 为 "
            f"{format_number(so_far['roas_7d'], 2)}"
            f"（复购占 {format_percent(so_far['repurchase_share'])}）；"
            "这些场次的买家还有时间复购，最终数字只会更高。"
        )
    if once and (closed["rooms_7d"] or so_far["rooms_7d"]):
        lines.append(f"- {ROI_ATTRIBUTION_NOTE}")
    return "\n".join(lines)


def _judged(by_room: pl.DataFrame, projection: NetRoasProjection) -> pl.DataFrame:
    """``by_room`` with ``net_roas`` the projected one where there is one, and the room's
    ``verdict`` code from the projection."""
    projected = projection.rooms.select("room_id", "net_roas_projected", "verdict")
    return (
        by_room.drop("verdict", strict=False)
        .join(projected, on="room_id", how="left")
        .with_columns(pl.coalesce("net_roas_projected", "net_roas").alias("net_roas"))
        .drop("net_roas_projected")
    )


def roi_loss_advice(
    by_room: pl.DataFrame, projection: NetRoasProjection, *, gross_margin: float
) -> str:
    """Which rooms lose money at ``gross_margin`` (worst first, at most 10), their share of
    spend, which of them 7-day repurchases rescue, and what to do. A room whose refund window
    is open is judged by its projected net ROAS (and marked when its interval straddles
    break-even)."""
    breakeven = projection.breakeven_roas
    margin = format_percent(gross_margin, 0)
    parts: list[str] = []
    judged = _judged(by_room, projection)
    if projection.provisional_rooms:
        parts.append(
            f"（7 日退款窗口还没结束的 {projection.provisional_rooms} 场，"
            "下面按预计的净成交ROI 计。）"
        )
    if judged.filter(pl.col("roas").is_not_null()).is_empty():
        parts.append("这段时间没有有千川消耗的场次，没有亏损可看。")
    elif breakeven is None:
        parts.append("毛利率为 0 或未设置，无法计算保本ROI。请在参数中填写 gross_margin。")
    else:
        losing = judged.filter(pl.col("net_roas") < breakeven).sort("net_roas")
        if losing.height == 0:
            parts.append(
                f"按毛利率 {margin}，所有有消耗的场次净成交ROI 都不低于保本线 "
                f"{format_number(breakeven, 2)}。可以尝试逐步加预算，同时每天关注 ROI 是否跌破保本线。"
            )
        else:
            rescued = losing.filter(pl.col("roas_7d") >= breakeven).height
            spend = float(judged["spend"].sum())
            share = float(losing["spend"].sum()) / spend if spend else None
            listed = "\n".join(
                _losing_line(r, breakeven) for r in losing.head(10).iter_rows(named=True)
            )
            parts.append(
                f"按毛利率 {margin}（保本ROI {format_number(breakeven, 2)}），"
                f"**{losing.height} 场净成交ROI 低于保本线**，占总消耗的 {format_percent(share)}："
                f"\n\n{listed}\n\n"
                "建议：\n"
                "1. 这些场次先降低出价或预算，或把预算挪到 ROI 高的时段和账号；\n"
                "2. 对比亏损场次与盈利场次的开播时段、主推商品和流量结构，找出差异；\n"
                f"3. {rescued} 场算上买家 7 天内的复购可以回本：如果复购稳定，"
                "这些场次可以适当保留投放，但要持续跟踪 7日总支付ROI。"
            )
    no_spend = judged.filter(pl.col("roas").is_null()).height
    if no_spend:
        parts.append(f"另有 {no_spend} 场没有千川消耗，ROI 无定义，未计入排名。")
    parts.append(ROI_CAVEAT)
    return "\n\n".join(parts)


def _losing_line(room: Mapping[str, Any], breakeven: float) -> str:
    notes = []
    if room.get("verdict") == "cannot_tell":
        notes.append("预计区间跨过保本线，待窗口结束确认")
    if room["roas_7d"] is not None and room["roas_7d"] >= breakeven:
        notes.append("算上 7 天复购可回本")
    return (
        f"- {_md(room['label'])}：消耗 {format_money(room['spend'], compact=True)}，"
        f"净成交ROI {format_number(room['net_roas'], 2)}"
        + (f"（{'；'.join(notes)}）" if notes else "")
    )


# ---- the ranking table --------------------------------------------------------------------------

# The projection's verdict codes as the table and the chart mark a room.
ROOM_MARKS: dict[str, str] = {
    "above": "保本",
    "below": "亏损",
    "cannot_tell": "待定",
    "undefined": "—",
}


def ranking_rows(by_room: pl.DataFrame, projection: NetRoasProjection) -> pl.DataFrame:
    """Rooms with spend, best projected net ROAS first: ``by_room`` (labelled by
    :func:`with_room_labels`) with the projection's ``net_roas_projected``, ``net_roas_low``,
    ``net_roas_high``, ``provisional``, ``verdict`` (code) and, for the table, ``refund_window``
    and ``mark`` (保本 / 亏损 / 待定)."""
    projected = projection.rooms.select(
        "room_id",
        "net_roas_projected",
        "net_roas_low",
        "net_roas_high",
        "provisional",
        pl.when(pl.col("provisional"))
        .then(pl.lit("未结束"))
        .otherwise(pl.lit("已结束"))
        .alias("refund_window"),
        "verdict",
        pl.col("verdict").replace_strict(ROOM_MARKS, default="—").alias("mark"),
    )
    return (
        by_room.drop("verdict", strict=False)
        .join(projected, on="room_id", how="left")
        .filter(pl.col("roas").is_not_null())
        .sort("net_roas_projected", descending=True, nulls_last=True)
    )


def ranking_table(level: float) -> TableSpec:
    """The ranking of :func:`ranking_rows` as a table (intervals at ``level``, e.g. 0.9)."""
    return TableSpec(
        (
            Column("label", "场次"),
            Column("spend", "消耗", "money"),
            Column("gmv", "成交金额", "money"),
            Column("refunds", "已发生退款", "money"),
            Column("roas", "支付ROI", "ratio"),
            Column("net_roas", "净成交ROI（目前）", "ratio"),
            Column("net_roas_projected", "净成交ROI（预计）", "ratio"),
            Column("net_roas_low", "预计下限", "ratio"),
            Column("net_roas_high", "预计上限", "ratio"),
            Column("refund_window", "退款窗口"),
            Column("roas_7d", "7日总支付ROI", "ratio"),
            Column("repurchase_share", "复购占7日成交", "percent"),
            Column("mark", "按预计净成交ROI"),
        ),
        caption=(
            f"各场 ROI 排名（按预计净成交ROI 从高到低；区间为 {format_percent(level, 0)} "
            "区间；复购按场归属）"
        ),
    )


# ---- charts -------------------------------------------------------------------------------------

# The projection's verdict codes with the words of the ranking table and a colour each: the
# chart shows the verdict the analysis reached, never one of its own.
VERDICT_LEGEND: dict[str, tuple[str, str]] = {
    "above": ("保本", GOOD),
    "below": ("亏损", BAD),
    "cannot_tell": ("待定：区间跨过保本线", "#e0a030"),
    "undefined": ("无法判断", "#bbbbbb"),
}
WINDOW_SHAPES: dict[bool, tuple[str, str]] = {
    False: ("已结束：确定值", "circle"),
    True: ("未结束：预计值", "diamond"),
}


def _breakeven_label(reference: float | None, label: str | None) -> str | None:
    if label is not None or reference is None:
        return label
    return f"保本ROI {format_number(reference, 2)}"


def roi_chart(
    rooms: pl.DataFrame,
    x: str = "label",
    y: str = "net_roas_projected",
    *,
    ci_low: str = "net_roas_low",
    ci_high: str = "net_roas_high",
    title: str = "各场直播预计净成交ROI 与保本线",
    subtitle: str | None = None,
    x_title: str | None = None,
    y_title: str = "净成交ROI =（成交额 − 退款）÷ 消耗",
    reference: float | None = None,
    reference_label: str | None = None,
) -> alt.LayerChart:
    """Each room's projected net ROAS ``y`` (a point) with its interval ``ci_low``–``ci_high``
    (a line), coloured by the projection's ``verdict`` (:data:`VERDICT_LEGEND`), its shape
    saying whether the refund window is closed (``provisional``), a grey tick at the net ROAS
    so far (``net_roas``) and the break-even ROAS ``reference`` as a dashed line.

    ``rooms`` is :func:`ranking_rows`'s frame (rooms listed down the side in its order).
    Rooms without a projected value (no spend) are left out.
    """
    import altair as alt

    from livekit.charts._marks import layered, reference_line, title_params

    require(rooms, [x, y, ci_low, ci_high, "net_roas", "provisional", "verdict"], "roi_chart")
    unknown = set(rooms.get_column("verdict").drop_nulls().to_list()) - set(VERDICT_LEGEND)
    if unknown:
        raise ValueError(f"roi_chart: verdicts must be one of {list(VERDICT_LEGEND)}")
    data = clip_labels(
        chartable(
            rooms.filter(pl.col(y).is_not_null() & pl.col(y).is_finite()).select(
                pl.col(x).cast(pl.String).alias("label"),
                pl.col(y).alias("value"),
                pl.col(ci_low).alias("low"),
                pl.col(ci_high).alias("high"),
                pl.col("net_roas").alias("so_far"),
                pl.col("verdict")
                .fill_null("undefined")
                .replace_strict({c: t for c, (t, _) in VERDICT_LEGEND.items()})
                .alias("conclusion"),
                pl.col("provisional")
                .replace_strict({k: t for k, (t, _) in WINDOW_SHAPES.items()}, default=None)
                .alias("window"),
            )
        ),
        "label",
    )
    order = data.get_column("label").to_list()
    present = [c for c, (t, _) in VERDICT_LEGEND.items() if t in set(data["conclusion"].to_list())]
    color = alt.Color(
        "conclusion:N",
        title="保本判断",
        scale=alt.Scale(
            domain=[VERDICT_LEGEND[c][0] for c in present],
            range=[VERDICT_LEGEND[c][1] for c in present],
        ),
    )
    shapes = [s for s in WINDOW_SHAPES.values() if s[0] in set(data["window"].to_list())]
    shape = alt.Shape(
        "window:N",
        title="退款窗口",
        scale=alt.Scale(domain=[s[0] for s in shapes], range=[s[1] for s in shapes]),
    )
    room = alt.Y("label:N", sort=order, title=x_title, axis=alt.Axis(labelFontSize=12))
    base = alt.Chart(data)
    interval = base.mark_rule(strokeWidth=3, opacity=0.7).encode(
        y=room,
        x=alt.X("low:Q", title=y_title, axis=alt.Axis(format=".1f"), scale=alt.Scale(zero=False)),
        x2="high:Q",
        color=color,
    )
    so_far = (
        base.transform_filter("datum.window == '" + WINDOW_SHAPES[True][0] + "'")
        .mark_tick(color=NEUTRAL, thickness=2, size=12)
        .encode(y=room, x="so_far:Q")
    )
    point = base.mark_point(size=80, filled=True, opacity=1).encode(
        y=room,
        x="value:Q",
        color=color,
        shape=shape,
        tooltip=[
            alt.Tooltip("label:N", title=x_title or "场次"),
            alt.Tooltip("value:Q", title="净成交ROI（预计）", format=".2f"),
            alt.Tooltip("low:Q", title="预计下限", format=".2f"),
            alt.Tooltip("high:Q", title="预计上限", format=".2f"),
            alt.Tooltip("so_far:Q", title="净成交ROI（目前）", format=".2f"),
            alt.Tooltip("window:N", title="退款窗口"),
            alt.Tooltip("conclusion:N", title="保本判断"),
        ],
    )
    layers: list[alt.Chart] = [interval, so_far, point]
    if reference is not None and math.isfinite(reference):
        label = _breakeven_label(reference, reference_label)
        layers.extend(reference_line(reference, label, horizontal=True))
    return layered(*layers).properties(
        width=WIDTH, height=alt.Step(20), title=title_params(title, subtitle)
    )


TREND_MEASURES: dict[str, str] = {
    "roas": "支付ROI",
    "net_roas": "净成交ROI（目前）",
    "net_roas_projected": "净成交ROI（预计）",
}


def roi_trend_chart(
    daily: pl.DataFrame,
    *,
    title: str = "每日 ROI 走势",
    subtitle: str | None = (
        "灰色底的日期还有场次的 7 日退款窗口没结束：当天的“目前”净成交ROI 偏高，"
        "“预计”是推算的最终值；窗口结束的日期两条线重合"
    ),
    reference: float | None = None,
    reference_label: str | None = None,
) -> alt.LayerChart:
    """ROAS per day, one line per measure of :data:`TREND_MEASURES`, the days with an open
    refund window (``provisional_rooms`` > 0) shaded, and the break-even line ``reference``.

    ``daily`` is :func:`livekit.analysis.roi.net_roas_by_day`'s frame.
    """
    import altair as alt

    from livekit.charts._marks import layered, reference_line, title_params

    require(daily, ["date", "provisional_rooms", *TREND_MEASURES], "roi_trend_chart")
    days = daily.sort("date").with_columns(pl.col("date").dt.strftime("%m-%d").alias("day"))
    order = days.get_column("day").to_list()
    names = list(TREND_MEASURES.values())
    long = (
        days.select("day", *TREND_MEASURES)
        .unpivot(index="day", variable_name="metric", value_name="value")
        .filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
        .with_columns(pl.col("metric").replace_strict(TREND_MEASURES, return_dtype=pl.String))
    )
    x = alt.X("day:O", sort=order, title="开播日期", axis=alt.Axis(labelAngle=0))
    layers: list[alt.Chart] = []
    open_days = days.filter(pl.col("provisional_rooms") > 0).select("day", "provisional_rooms")
    if open_days.height:
        layers.append(
            alt.Chart(open_days)
            .mark_rect(color="#999999", opacity=0.15)
            .encode(
                x=x,
                tooltip=[
                    alt.Tooltip("day:O", title="开播日期"),
                    alt.Tooltip("provisional_rooms:Q", title="退款窗口未结束的场次"),
                ],
            )
        )
    layers.append(
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("value:Q", title="ROI（成交额 ÷ 消耗）", scale=alt.Scale(zero=False)),
            color=alt.Color("metric:N", title="口径", sort=names),
            strokeDash=alt.StrokeDash(
                "metric:N",
                sort=names,
                legend=None,
                scale=alt.Scale(domain=names, range=[[1, 0], [1, 0], [5, 3]]),
            ),
            tooltip=[
                alt.Tooltip("day:O", title="开播日期"),
                alt.Tooltip("metric:N", title="口径"),
                alt.Tooltip("value:Q", title="ROI", format=".2f"),
            ],
        )
    )
    if reference is not None and math.isfinite(reference):
        layers.extend(
            reference_line(
                reference, _breakeven_label(reference, reference_label), horizontal=False
            )
        )
    return layered(*layers).properties(
        width=WIDTH, height=HEIGHT, title=title_params(title, subtitle)
    )


def repurchase_chart(
    per_day: pl.DataFrame,
    *,
    title: str = "7 日成交的构成：本场成交 + 买家复购",
    subtitle: str | None = (
        "复购 = 本场买家（按抖店 doudian_open_id）7 天内在任意渠道的其他订单；"
        "按场归属，复购窗口未结束的日期仍在累计"
    ),
) -> alt.LayerChart:
    """Stacked bars per day: the rooms' own GMV and their buyers' 7-day repeat purchases
    (``per_day``: ``date``, ``gmv``, ``gmv_repurchase``, e.g.
    :func:`livekit.analysis.roi.repurchase_by_day`)."""

    require(per_day, ["date", "gmv", "gmv_repurchase"], "repurchase_chart")
    parts = (
        per_day.select(
            "date", pl.col("gmv").alias("本场成交"), pl.col("gmv_repurchase").alias("7天内复购")
        )
        .unpivot(index="date", variable_name="part", value_name="value")
        .sort("date", maintain_order=True)
    )
    return charts.bar_chart(
        parts,
        "date",
        "value",
        "part",
        title=title,
        subtitle=subtitle,
        x_title="开播日期",
        y_title="金额（元）",
        horizontal=False,
    )
