"""The products report: when each product draws clicks, what an explanation (讲解) is worth,
and the order to sell in at the next show.

::

    import livekit
    from livekit.pages import products

    page = products.build(livekit.open("sandbox"), start="last_7_days")
    page.heat()          # 一、点击热力图: product × minute, the explanation windows outlined
    page.explanation()   # 二、讲解值不值: clicks and GMV per minute explained vs not, the lift
    page.order()         # 三、下一场的商品顺序: Wilson lower bounds, open / explain earlier / drop
    page.advice()        # 四、下一步

:func:`build` reads the period's viewer export (with its optional ``click_time``), the shows,
their products and the explanation windows — rebuilt from the live monitor's product polls
where it ran, else the sandbox's published schedule (:func:`livekit.analysis.explain.
windows_for`) — and runs :mod:`livekit.analysis.explain` and :mod:`livekit.analysis.products`
once. The prose functions (:func:`effect_text`, :func:`order_text` …) take the analysis frames
and word their codes in Chinese; they are tested on their own. Product titles are upstream
text: they meet Markdown only through :func:`livekit.text.escape_markdown`, tables escape every
cell and charts draw them as plain text.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from livekit.analysis.explain import (
    click_heat,
    explanation_effect,
    missing_click_times,
    window_sources,
    windows_for,
)
from livekit.analysis.products import (
    RANK_ALPHA,
    ROLE_DROP,
    ROLE_EXPLAIN_EARLIER,
    ROLE_OPEN,
    product_funnel,
    recommended_order,
    with_titles,
)
from livekit.analysis.rooms import only_rooms, room_ids
from livekit.charts.tables import Column, TableSpec
from livekit.pages._page import Period, Section, period, section, viewers_of
from livekit.text import escape_markdown as _md
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ
from livekit.vocab.units import format_count, format_money, format_number, format_percent

if TYPE_CHECKING:
    import altair as alt

    from livekit.source import Kit

__all__ = [
    "DATASETS",
    "EFFECT_TABLE",
    "MIN_CLICKS",
    "NO_CLICK_TIMES",
    "ORDER_TABLE",
    "ROLE_LABELS",
    "ProductsPage",
    "advice_text",
    "build",
    "data_note",
    "effect_text",
    "heat_cells",
    "heat_text",
    "lift_chart",
    "order_text",
]

DATASETS: tuple[str, ...] = ("viewers", "rooms", "room_products")
SANDBOX_DATASETS: tuple[str, ...] = ("explanations",)  # the sandbox's explanation schedule
MIN_CLICKS = 30  # a product is ranked from this many clicks on
HEAT_ROWS = 20  # products shown in the heat map (the most clicked)
MAX_CELLS_ACROSS = 150  # minutes are pooled into wider cells beyond this many per row
LIST_NAMES = 5  # products named one by one in a sentence
EARLIER_SHOWN = 3  # "explain earlier" products given a reason each

HeatBy = Literal["show", "hour"]

ROLE_LABELS: dict[str, str] = {
    ROLE_OPEN: "开场主推",
    ROLE_EXPLAIN_EARLIER: "提前讲解",
    ROLE_DROP: "考虑撤下",
}
TOO_LITTLE = "数据不足，暂不排名"
NO_CLICK_TIMES = (
    "观众明细没有点击时间（click_time 列），无法区分讲解时与不讲解时的点击："
    "请导入带点击时间的观众明细。"
)
WINDOW_SOURCE_LABELS = {"monitor": "实时监控记录", "schedule": "沙盒讲解排期"}


# ---- frames for the heat map ------------------------------------------------------------------
def heat_cells(
    heat: pl.DataFrame,
    titles: pl.DataFrame,
    *,
    rows: int = HEAT_ROWS,
    order: list[int] | None = None,
) -> tuple[pl.DataFrame, int]:
    """The heat map's cells: the ``rows`` most clicked products (in ``order`` when given, then
    by clicks), their titles, and minutes pooled into cells of ``step`` minutes so that a row
    has at most :data:`MAX_CELLS_ACROSS` cells. Returns (``title``, ``product_id``,
    ``minute``, ``clicks``) and ``step``."""
    last = int(heat["minute"].max() or 0) if heat.height else 0  # type: ignore[arg-type]
    step = max(1, math.ceil((last + 1) / MAX_CELLS_ACROSS))
    totals = heat.group_by("product_id").agg(pl.col("clicks").sum().alias("_total"))
    rank = {pid: i for i, pid in enumerate(order or [])}
    chosen = (
        totals.sort(["_total", "product_id"], descending=[True, False])
        .head(rows)
        .with_columns(pl.col("product_id").replace_strict(rank, default=len(rank)).alias("_order"))
        .sort(["_order", "_total", "product_id"], descending=[False, True, False])
    )
    cells = (
        heat.join(chosen.select("product_id"), on="product_id", how="semi")
        .filter(pl.col("clicks") > 0)
        .group_by("product_id", (pl.col("minute") // step * step).alias("minute"))
        .agg(pl.col("clicks").sum())
    )
    ordered = chosen.select("product_id").with_row_index("_row")
    out = (
        with_titles(cells, titles)
        .join(ordered, on="product_id")
        .sort("_row", "minute")
        .select("title", "product_id", "minute", "clicks")
    )
    return out, step


def _runs(heat: pl.DataFrame) -> pl.DataFrame:
    """Contiguous minutes marked ``explained`` per product as windows [start, end) in minutes."""
    marked = heat.filter(pl.col("explained")).sort("product_id", "minute")
    run = (pl.col("minute").diff().over("product_id") != 1).fill_null(True).cum_sum()
    return (
        marked.with_columns(run.alias("_run"))
        .group_by("product_id", "_run")
        .agg(pl.col("minute").min().alias("start"), (pl.col("minute").max() + 1).alias("end"))
        .select("product_id", pl.col("start").cast(pl.Float64), pl.col("end").cast(pl.Float64))
    )


def _show_windows(windows: pl.DataFrame, start: datetime) -> pl.DataFrame:
    """One show's windows in minutes since its start: ``product_id``, ``start``, ``end``."""
    at = pl.lit(start).cast(windows.schema["start_time"])
    return windows.select(
        "product_id",
        ((pl.col("start_time") - at).dt.total_seconds(fractional=True) / 60).alias("start"),
        ((pl.col("end_time") - at).dt.total_seconds(fractional=True) / 60).alias("end"),
    )


# ---- prose --------------------------------------------------------------------------------------
def _names(frame: pl.DataFrame, limit: int = LIST_NAMES) -> str:
    """「甲」、「乙」 … the first ``limit`` titles of ``frame``, and how many more."""
    titles = [f"「{_md(t)}」" for t in frame.get_column("title").to_list()]
    shown = "、".join(titles[:limit])
    return shown + (f"等 {len(titles)} 个商品" if len(titles) > limit else "")


def _times(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.2f} 倍"


def data_note(
    *,
    first: date,
    last: date,
    shows: int,
    visits: int,
    clicks: int,
    missing_times: int,
    sources: pl.DataFrame,
) -> str:
    """What the report rests on: shows, visits, clicks and how many have a click time, and where
    each show's explanation windows come from (``sources``: ``room_id``, ``source``)."""
    counts = {
        code: int(sources.filter(pl.col("source") == code).height) for code in WINDOW_SOURCE_LABELS
    }
    unknown = int(sources.filter(pl.col("source").is_null()).height)
    lines = [
        f"**{first} 至 {last}** 共 {format_count(shows)} 场直播、{format_count(visits)} 次访问，"
        f"其中 {format_count(clicks)} 次点击了商品。"
    ]
    if clicks and missing_times == clicks:
        lines.append(
            "观众明细没有点击时间（click_time 列）：热力图和讲解效果需要它，"
            "请导入带点击时间的观众明细；下面的商品排序不受影响。"
        )
    elif missing_times:
        lines.append(
            f"有 {format_count(missing_times)} 次点击没有点击时间"
            f"（占 {format_percent(missing_times / clicks)}），热力图和讲解效果未计入它们。"
        )
    known = [f"{counts[c]} 场来自{label}" for c, label in WINDOW_SOURCE_LABELS.items() if counts[c]]
    if known:
        lines.append("讲解时段：" + "，".join(known) + "。")
    if unknown:
        lines.append(
            f"另有 {unknown} 场没有讲解时段记录（开播时没有运行 livekit monitor）："
            "这些场次计入点击与成交，不计入讲解效果。"
        )
    return "\n\n".join(lines)


def heat_text(
    cells: pl.DataFrame,
    *,
    by: HeatBy,
    show: dict[str, Any] | None,
    step: int,
    windows: int,
    known: bool = True,
) -> str:
    """What the heat map shows: which show (or the hours pooled), the cell width, the busiest
    product and minute."""
    if cells.height == 0:
        return "所选场次没有带点击时间的点击，无法画热力图。"
    if by == "show" and show is not None:
        start = show["start_time"].astimezone(CHINA_TZ)
        what = (
            f"下图是 **{start:%m-%d %H:%M}** 开播的「{_md(show['label'])}」"
            f"（{format_count(show['clicks'])} 次点击，点击最多的一场）：每行一个商品，"
            "横轴是开播后第几分钟，颜色越深点击越多"
        )
    else:
        what = "下图把所选的各场直播按**整点后第几分钟**叠加：每行一个商品，颜色越深点击越多"
    cell = f"，每格 {step} 分钟" if step > 1 else ""
    if not known:
        boxes = "；没有讲解时段记录，图中不画红框"
    elif by == "hour":
        boxes = (
            "；红框标出一半以上场次都在讲解该商品的分钟"
            if windows
            else "；各场的讲解时段不同，叠加后没有哪一分钟一半以上场次都在讲解同一商品，"
            '所以图中没有红框（讲解效果见第二节；看单场请用 heat_by="show"）'
        )
    else:
        boxes = "；红框是讲解时段" if windows else "；这一场没有讲解时段记录，图中不画红框"
    top = cells.sort("clicks", descending=True).row(0, named=True)
    at = "开播后第" if by == "show" else "整点后第"
    return (
        f"{what}{cell}{boxes}。\n\n点击最集中的是「{_md(top['title'])}」在{at} "
        f"{top['minute']} 分钟起的这一格（{format_count(top['clicks'])} 次）。"
    )


def effect_text(effect: pl.DataFrame) -> str:
    """Which products earn their explanation time (the analysis's ``earns_time``), which do not,
    with lifts, intervals and GMV per minute (``effect`` with ``title``)."""
    if effect.height == 0:
        return "没有讲解时段或点击时间，无法比较讲解与不讲解时的点击。"
    defined = effect.filter(pl.col("lift_low").is_not_null() & pl.col("lift_high").is_not_null())
    earns = defined.filter(pl.col("earns_time")).sort("lift", descending=True, nulls_last=True)
    # the most clicked first: where "no clear difference" rests on the most data
    others = defined.filter(~pl.col("earns_time")).sort(
        pl.col("clicks_explained") + pl.col("clicks_not_explained"), descending=True
    )
    lines: list[str] = []
    if earns.height:
        best = earns.row(0, named=True)
        lines.append(
            f"**讲解明显带来点击的商品有 {earns.height} 个**：{_names(earns)}。"
            f"效果最大的是「{_md(best['title'])}」：讲解时每分钟 "
            f"{format_number(best['clicks_per_min_explained'], 2)} 次点击，不讲解时 "
            f"{format_number(best['clicks_per_min_not_explained'], 2)} 次，是 "
            f"**{_times(best['lift'])}**（95% 区间 {_times(best['lift_low'])}–"
            f"{_times(best['lift_high'])}）；每分钟成交 "
            f"{format_money(best['gmv_per_min_explained'])} 对 "
            f"{format_money(best['gmv_per_min_not_explained'])}。"
        )
    else:
        lines.append("没有哪个商品的讲解明显带来更多点击（所有提升倍数的区间下限都不高于 1）。")
    if others.height:
        weakest = others.row(0, named=True)
        lines.append(
            f"**{others.height} 个商品讲解与不讲解时的点击看不出明显差别**：{_names(others)}"
            f"（例如「{_md(weakest['title'])}」：{_times(weakest['lift'])}，"
            f"区间 {_times(weakest['lift_low'])}–{_times(weakest['lift_high'])}，含 1 倍）。"
            "它们的讲解时间可以缩短，让给上面讲解有效的商品。"
        )
    unknown = effect.join(defined.select("product_id"), on="product_id", how="anti")
    if unknown.height:
        lines.append(
            f"{_names(unknown)}在讲解时或不讲解时没有一次点击，倍数的区间无法计算，"
            "暂不判断讲解是否有效。"
        )
    return "\n\n".join(lines)


def _first_minute(row: dict[str, Any]) -> str:
    minute = row.get("first_explained_minute")
    if minute is None or not math.isfinite(minute):
        return ""
    return f"，一般在开播后第 {format_number(minute, 0)} 分钟才第一次讲解"


def order_text(order: pl.DataFrame, *, min_clicks: int = MIN_CLICKS) -> str:
    """The recommended order with its reasoning, from the analysis's ranks and role codes
    (``order`` from :func:`livekit.analysis.products.recommended_order` with ``title``)."""
    ranked = order.filter(pl.col("rank").is_not_null()).sort("rank")
    thin = order.filter(pl.col("too_little_data")).sort("clicks", descending=True)
    if ranked.height == 0:
        return f"没有点击次数足够（≥{min_clicks} 次）的商品，暂不排序；多播几场、积累点击后再看。"
    sequence = " → ".join(
        f"{r['rank']}. {_md(r['title'])}" for r in ranked.head(8).iter_rows(named=True)
    )
    lines = [
        "按点击后成交率的**保守估计**排序：Wilson 区间的下限（排序用单侧 "
        f"{format_percent(1 - RANK_ALPHA / 2, 0)} 的下限，表中列出的是 95% 区间），"
        "下限相同再看点击率的下限。数据少的商品下限更保守，不会因为偶然的几单排到前面。"
        f"\n\n**建议顺序**：{sequence}" + ("……" if ranked.height > 8 else "")
    ]
    opener = ranked.filter(pl.col("role") == ROLE_OPEN)
    if opener.height:
        r = opener.row(0, named=True)
        lines.append(
            f"- **开场先上「{_md(r['title'])}」**：在成交最好的前几名里，它的点击率最高"
            f"（{format_percent(r['click_through'])}，下限 {format_percent(r['ctr_low'])}），"
            f"点击后成交率 {format_percent(r['click_to_pay'])}（下限 "
            f"{format_percent(r['ctp_low'])}）：最能把刚进来的观众带进商品页并成交。"
        )
    earlier = ranked.filter(pl.col("role") == ROLE_EXPLAIN_EARLIER)
    for r in earlier.head(EARLIER_SHOWN).iter_rows(named=True):
        lines.append(
            f"- **「{_md(r['title'])}」提前讲解**：点击后成交率 "
            f"{format_percent(r['click_to_pay'])}（下限 {format_percent(r['ctp_low'])}）"
            f"不低于一般商品，但点击率只有 {format_percent(r['click_through'])}"
            f"{_first_minute(r)}：放到人多的时段讲，让更多人看到。"
        )
    if earlier.height > EARLIER_SHOWN:
        rest = earlier.slice(EARLIER_SHOWN)
        lines.append(
            f"- 同样值得提前讲解的还有{_names(rest)}：成交率不低于一般商品，但点击偏少、讲得也晚"
            "（见下表“提前讲解”）。"
        )
    drops = ranked.filter(pl.col("role") == ROLE_DROP)
    if drops.height:
        median_low = float(ranked.get_column("ctp_low").median())  # type: ignore[arg-type]
        lines.append(
            f"- **考虑撤下或换款**：{_names(drops)}。它们点击后成交率的区间**上限**也低于"
            f"一般商品的下限（{format_percent(median_low)}），成交明显偏弱；"
            "先检查价格、详情页和讲解，再决定是否撤下。"
        )
    if thin.height:
        lines.append(
            f"- **数据不足、暂不排名**：{_names(thin)}（点击不足 {min_clicks} 次）。"
            "它们不会排在任何已排名商品之前；多讲几场积累数据后再看。"
        )
    reasons = "\n".join(lines[1:])
    return f"{lines[0]}\n\n{reasons}" if reasons else lines[0]


def advice_text(effect: pl.DataFrame, order: pl.DataFrame) -> str:
    """Next steps: the opener, the products to explain earlier or longer, the time to give
    back, and how to check the change."""
    advice: list[str] = []
    ranked = order.filter(pl.col("rank").is_not_null()).sort("rank")
    opener = ranked.filter(pl.col("role") == ROLE_OPEN)
    if opener.height:
        advice.append(f"**开场主推「{_md(opener['title'][0])}」**，它在成交好的商品里最吸引点击。")
    earlier = ranked.filter(pl.col("role") == ROLE_EXPLAIN_EARLIER)
    if earlier.height:
        advice.append(f"**把{_names(earlier)}的讲解往前排**，放在开播后人最多的时段。")
    earns = effect.filter(pl.col("earns_time")).sort("lift", descending=True, nulls_last=True)
    idle = effect.filter(pl.col("lift").is_not_null() & ~pl.col("earns_time"))
    if earns.height and idle.height:
        advice.append(
            f"**把讲解时间从{_names(idle, 3)}挪给{_names(earns, 3)}**："
            "前者讲不讲点击差不多，后者一讲点击就明显上升。"
        )
    drops = ranked.filter(pl.col("role") == ROLE_DROP)
    if drops.height:
        advice.append(f"**复查{_names(drops, 3)}**的价格、库存和详情页，成交仍弱就换款。")
    advice.append(
        "调整顺序后，用同样的参数再跑一次本报告对比；想确认新顺序确实更好，"
        "可以做一次 A/B 实验（一半场次用新顺序），用 ab_test 报告分析。"
    )
    return "\n".join(f"{i}. {text}" for i, text in enumerate(advice, start=1))


# ---- tables and charts --------------------------------------------------------------------------
EFFECT_TABLE = TableSpec(
    (
        Column("title", "商品"),
        Column("shows", "场次", "count"),
        Column("explained_minutes", "讲解分钟", "{:,.0f}"),
        Column("clicks_per_min_explained", "讲解时每分钟点击", "{:,.2f}"),
        Column("clicks_per_min_not_explained", "不讲解时每分钟点击", "{:,.2f}"),
        Column("lift", "提升倍数", "ratio"),
        Column("lift_low", "倍数下限", "ratio"),
        Column("lift_high", "倍数上限", "ratio"),
        Column("gmv_per_min_explained", "讲解时每分钟成交", "money"),
        Column("gmv_per_min_not_explained", "不讲解时每分钟成交", "money"),
        Column("earns_time", "值得讲解"),
    ),
    max_rows=40,
)

ORDER_TABLE = TableSpec(
    (
        Column("rank", "建议顺序", "{}"),
        Column("title", "商品"),
        Column("role_label", "建议"),
        Column("clicks", "点击次数", "count"),
        Column("click_through", "点击率", "percent"),
        Column("ctr_low", "点击率下限", "percent"),
        Column("paid", "成交单数", "count"),
        Column("click_to_pay", "点击后成交率", "percent"),
        Column("ctp_low", "成交率下限", "percent"),
        Column("ctp_rank_bound", "排序依据（下限）", "percent"),
        Column("gmv", "成交金额", "money"),
    ),
    max_rows=40,
)


def _order_rows(order: pl.DataFrame) -> pl.DataFrame:
    label = (
        pl.when(pl.col("too_little_data"))
        .then(pl.lit(TOO_LITTLE))
        .otherwise(pl.col("role").replace_strict(ROLE_LABELS, default=None))
    )
    return order.with_columns(label.alias("role_label"))


def lift_chart(
    effect: pl.DataFrame,
    *,
    title: str = "讲解时的点击是不讲解时的几倍",
    subtitle: str
    | None = "点为提升倍数，横线为 95% 置信区间（对数刻度）；红线为 1 倍（讲不讲一样）",
) -> alt.LayerChart | None:
    """Each product's explanation lift with its interval on a log axis, coloured by the
    analysis's ``earns_time``; None when no lift is defined. ``effect`` has ``title``,
    ``lift``, ``lift_low``, ``lift_high``, ``earns_time``."""
    import altair as alt

    from livekit.charts._frames import clip_labels, require
    from livekit.charts._marks import layered, reference_line, title_params
    from livekit.charts.style import GOOD, NEUTRAL, WIDTH

    require(effect, ["title", "lift", "lift_low", "lift_high", "earns_time"], "lift_chart")
    rows = effect.filter(
        pl.col("lift").is_not_null()
        & (pl.col("lift") > 0)
        & pl.col("lift_low").is_not_null()
        & (pl.col("lift_low") > 0)
        & pl.col("lift_high").is_finite()
    ).sort("lift", descending=True, nulls_last=True)
    if rows.height == 0:
        return None
    earns, other = "讲解明显带来点击", "看不出明显差别"
    data = clip_labels(
        rows.select(
            pl.col("title").cast(pl.String),
            pl.col("lift", "lift_low", "lift_high").cast(pl.Float64),
            pl.when(pl.col("earns_time"))
            .then(pl.lit(earns))
            .otherwise(pl.lit(other))
            .alias("verdict"),
        ),
        "title",
    )
    order = data.get_column("title").to_list()
    present = [v for v in (earns, other) if v in set(data["verdict"].to_list())]
    colors = {earns: GOOD, other: NEUTRAL}
    color = alt.Color(
        "verdict:N",
        title=None,
        scale=alt.Scale(domain=present, range=[colors[v] for v in present]),
    )
    product = alt.Y("title:N", sort=order, title=None)
    low = min(1.0, float(data["lift_low"].min())) / 1.15  # type: ignore[arg-type]
    high = max(1.0, float(data["lift_high"].max())) * 1.15  # type: ignore[arg-type]
    x_scale = alt.Scale(type="log", domain=[low, high], nice=False)
    base = alt.Chart(data)
    band = base.mark_rule(strokeWidth=3, opacity=0.6).encode(
        y=product,
        x=alt.X("lift_low:Q", title="提升倍数（讲解时 ÷ 不讲解时）", scale=x_scale),
        x2="lift_high:Q",
        color=color,
    )
    point = base.mark_point(size=70).encode(
        y=product,
        x=alt.X("lift:Q", scale=x_scale),
        color=color,
        tooltip=[
            alt.Tooltip("title:N", title="商品"),
            alt.Tooltip("lift:Q", title="提升倍数", format=".2f"),
            alt.Tooltip("lift_low:Q", title="下限", format=".2f"),
            alt.Tooltip("lift_high:Q", title="上限", format=".2f"),
            alt.Tooltip("verdict:N", title="结论"),
        ],
    )
    return layered(band, point, *reference_line(1.0, None, horizontal=True)).properties(
        width=WIDTH, height=alt.Step(26), title=title_params(title, subtitle)
    )


def order_chart(order: pl.DataFrame, *, top: int = 15) -> alt.LayerChart | None:
    """The ranked products' click-to-pay with its interval, in the recommended order; None when
    none is ranked."""
    from livekit.charts.builders import rate_chart

    shown = order.filter(pl.col("rank").is_not_null()).sort("rank").head(top)
    if shown.height == 0:
        return None
    return rate_chart(
        shown.with_columns(pl.format("{}. {}", pl.col("rank"), pl.col("title")).alias("商品")),
        "商品",
        "click_to_pay",
        "ctp_low",
        "ctp_high",
        title="建议顺序与点击后成交率",
        subtitle="按建议顺序排列；点为点击后成交率，横线为 95% 置信区间",
        y_title="点击后成交率（95% 置信区间）",
    )


# ---- the page -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ProductsPage:
    """The products report of one period: the analysis results, and a method per section."""

    period: Period
    rooms: tuple[int, ...]  # the shows asked for; () = every show of the period
    shows: int
    visits: int
    clicks: int  # clicked visits
    missing_times: int  # clicked visits without a click time
    sources: pl.DataFrame  # room_id, source ("monitor" | "schedule" | null)
    heat_by: HeatBy
    heat_show: dict[str, Any] | None  # the show drawn (by="show"): room_id, label, start_time …
    cells: pl.DataFrame = field(repr=False)  # title, product_id, minute, clicks
    step: int  # minutes per heat-map cell
    boxes: pl.DataFrame = field(repr=False)  # title, product_id, start, end (minutes): drawn
    effect: pl.DataFrame = field(repr=False)  # explanation_effect with title
    ranking: pl.DataFrame = field(repr=False)  # recommended_order with title
    min_clicks: int = MIN_CLICKS

    def heat_chart(self) -> alt.LayerChart | None:
        """The heat map of the chosen show (or of the hours pooled), windows outlined."""
        from livekit.charts.heat import heat_map

        if self.cells.height == 0:
            return None
        x_title = "开播后第几分钟" if self.heat_by == "show" else "整点后第几分钟"
        return heat_map(
            self.cells,
            "minute",
            "clicks",
            "title",
            windows=self.boxes if self.boxes.height else None,
            step=self.step,
            title="商品点击热力图",
            subtitle="颜色越深点击越多；红框为讲解时段",
            x_title=x_title,
            y_title="点击次数",
        )

    def heat(self) -> Section:
        """一、点击热力图: the coverage note, what the data holds, the heat map."""
        note = data_note(
            first=self.period.first,
            last=self.period.last,
            shows=self.shows,
            visits=self.visits,
            clicks=self.clicks,
            missing_times=self.missing_times,
            sources=self.sources,
        )
        text = heat_text(
            self.cells,
            by=self.heat_by,
            show=self.heat_show,
            step=self.step,
            windows=self.boxes.height,
            known=bool(self.sources.filter(pl.col("source").is_not_null()).height),
        )
        return section(self.period.note, note, text, self.heat_chart())

    def explanation(self) -> Section:
        """二、讲解值不值: which products earn their explanation time, the chart, the table."""
        if self.clicks and self.missing_times == self.clicks:
            return section(NO_CLICK_TIMES)
        if self.effect.height == 0:
            return section(effect_text(self.effect))
        return section(
            effect_text(self.effect), lift_chart(self.effect), EFFECT_TABLE.render(self.effect)
        )

    def order(self) -> Section:
        """三、下一场的商品顺序: the order and its reasoning, the chart, the table."""
        return section(
            order_text(self.ranking, min_clicks=self.min_clicks),
            order_chart(self.ranking),
            ORDER_TABLE.render(_order_rows(self.ranking)),
        )

    def advice(self) -> Section:
        """四、下一步怎么做."""
        return section(advice_text(self.effect, self.ranking))


def _check_min_clicks(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LivekitError(f"min_clicks 须为正整数（点击次数），例如 30；收到 {value!r}")
    return value


def _check_heat_by(value: object) -> HeatBy:
    if value == "show":
        return "show"
    if value == "hour":
        return "hour"
    raise LivekitError(
        f"heat_by 须为 show（单场，开播后第几分钟）或 hour（多场叠加，整点后第几分钟）；收到 {value!r}"
    )


def _busiest_show(
    viewers: pl.DataFrame, shows: pl.DataFrame, wanted: int | None
) -> dict[str, Any] | None:
    """The show the heat map draws: ``wanted`` (a room id), else the one with the most clicks
    that have a click time."""
    if "click_time" not in viewers.columns:
        return None
    clicks = (
        viewers.filter(pl.col("click_time").is_not_null())
        .group_by("room_id")
        .agg(pl.len().alias("clicks"))
    )
    rows = shows.select("room_id", "start_time", "aweme_name", "room_title").join(
        clicks, on="room_id", how="left"
    )
    if wanted is not None:
        rows = rows.filter(pl.col("room_id") == wanted)
        if rows.height == 0:
            raise LivekitError(
                f"heat_room {wanted} 不在所选时段与直播间中：请检查 heat_room 参数。"
            )
    rows = rows.filter(pl.col("start_time").is_not_null()).with_columns(
        pl.col("clicks").fill_null(0)
    )
    if rows.height == 0:
        return None
    row = rows.sort(["clicks", "room_id"], descending=[True, False]).row(0, named=True)
    label = row["room_title"] or row["aweme_name"] or str(row["room_id"])
    return {**row, "label": label}


def build(
    kit: Kit,
    start: date | str = "last_7_days",
    end: date | str | None = None,
    *,
    rooms: Iterable[int | str] | None = None,
    min_clicks: int = MIN_CLICKS,
    heat_by: str = "show",
    heat_room: int | str | None = None,
) -> ProductsPage:
    """Read the period's viewer export, shows, products and explanation windows from ``kit`` (a
    sandbox kit fills what is missing first) and analyse them once.

    ``rooms`` keeps only those shows; ``min_clicks`` is the data threshold of the ranking;
    ``heat_by`` draws one show (``"show"``: ``heat_room``, else the show with the most clicks)
    or every show pooled by the minute of the clock hour (``"hour"``). Mistakes raise
    :class:`LivekitError` (one Chinese line) before any data is prepared.
    """
    from livekit.charts.render import setup

    ids = room_ids(rooms)
    threshold = _check_min_clicks(min_clicks)
    by = _check_heat_by(heat_by)
    wanted = room_ids(heat_room)[0] if heat_room not in (None, "") else None
    datasets = DATASETS + (SANDBOX_DATASETS if kit.source == "sandbox" else ())
    span = period(kit, start, end, datasets=datasets)
    viewers = viewers_of(kit, span, ids)
    shows = kit.load("rooms", span.first, span.last)
    titles = kit.load("room_products", span.first, span.last)
    schedule = kit.load("explanations", span.first, span.last) if kit.source == "sandbox" else None
    snapshots = kit.load("live_product_snapshots", span.first, span.last)  # the monitor's polls
    shows = only_rooms(shows, ids)
    shows = shows.join(viewers.select("room_id").unique(), on="room_id", how="semi")
    windows = windows_for(shows, snapshots, schedule)
    sources = window_sources(shows, snapshots, schedule)
    clicked = int(viewers["clicked_product_id"].is_not_null().sum())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        effect = with_titles(explanation_effect(viewers, shows, windows), titles)
        ranking = with_titles(
            recommended_order(product_funnel(viewers, shows, windows), min_clicks=threshold),
            titles,
        )
    show = _busiest_show(viewers, shows, wanted) if by == "show" else None
    if by == "show" and show is not None:
        one = shows.filter(pl.col("room_id") == show["room_id"])
        mine = windows.filter(pl.col("room_id") == show["room_id"])
        heat = click_heat(viewers.filter(pl.col("room_id") == show["room_id"]), one)
        lineup = mine.sort("start_time").get_column("product_id").unique(maintain_order=True)
        cells, step = heat_cells(heat, titles, order=lineup.to_list())
        boxes = _show_windows(mine, show["start_time"])
    else:
        heat = (
            click_heat(viewers, shows, windows, by="hour")
            if windows.height
            else click_heat(viewers, shows, by="hour")
        )
        cells, step = heat_cells(heat, titles)
        boxes = (
            _runs(heat)
            if "explained" in heat.columns
            else pl.DataFrame(
                schema={"product_id": pl.Int64, "start": pl.Float64, "end": pl.Float64}
            )
        )
    drawn = cells.select("product_id").unique()
    boxes = with_titles(boxes.join(drawn, on="product_id", how="semi"), titles).select(
        "title", "product_id", "start", "end"
    )
    setup()  # the theme, and charts drawn offline as inline SVG
    return ProductsPage(
        period=span,
        rooms=ids,
        shows=shows.height,
        visits=viewers.height,
        clicks=clicked,
        missing_times=missing_click_times(viewers),
        sources=sources,
        heat_by=by,
        heat_show=show,
        cells=cells,
        step=step,
        boxes=boxes,
        effect=effect,
        ranking=ranking,
        min_clicks=threshold,
    )
