"""The regions page: built on a sandbox kit, each section states what the stored rows say.

The page is built once on a fresh sandbox home over two closed weeks (the kit syncs them in a
subprocess, as the notebook does). Viewers and buyers per province, delivery medians and the
90th percentile (statsmodels ``SurvfuncRight`` on the stored orders, parcels in transit
censored), and the refund difference of late parcels (statsmodels' Newcombe interval) are
worked out here from the stored rows and compared with what the page says. The prose functions
are also tested on hand-made frames, and province names from upstream are shown, never obeyed.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

import altair as alt
import numpy as np
import polars as pl
import pytest
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.proportion import confint_proportions_2indep

import livekit
from livekit.analysis.delivery import RefundByDelay, delivery_curves
from livekit.charts.china import TILES
from livekit.pages import Section
from livekit.pages import regions as rp
from livekit.sandbox.hostile import PAYLOADS
from livekit.source import Kit
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ, CHINA_TZ_NAME
from livekit.vocab.units import format_count, format_number, format_percent
from tests.helpers.markup import parse_html, render_nbconvert

START, END = "14_days_ago", "yesterday"  # closed days, outside the 双十一 backlog


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return livekit.open("sandbox", home=tmp_path_factory.mktemp("page-regions") / "home")


@pytest.fixture(scope="module")
def page(kit: Kit) -> rp.RegionsPage:
    return rp.build(kit, start=START, end=END)


@pytest.fixture(scope="module")
def orders(kit: Kit, page: rp.RegionsPage) -> pl.DataFrame:
    """The paid orders that had a delivery, with their days as seen at the page's ``now``."""
    now = pl.lit(page.now).dt.convert_time_zone(CHINA_TZ_NAME)
    raw = kit.load("orders", page.period.first, page.period.last)
    paid = raw.filter(pl.col("pay_time").is_not_null() & (pl.col("pay_time") <= now))
    refunded_before_ship = (pl.col("main_status") == 21) | (
        (pl.col("order_status") == 4) & pl.col("ship_time").is_null()
    )
    received = pl.col("receipt_time").is_not_null() & (pl.col("receipt_time") <= now)
    end = pl.when(received).then(pl.col("receipt_time")).otherwise(now)
    return paid.with_columns(refunded_before_ship.alias("no_delivery")).with_columns(
        received.alias("received"),
        ((end - pl.col("pay_time")).dt.total_seconds() / 86400).alias("days"),
        pl.col("main_status").is_in([22, 39]).alias("refunded"),
    )


def _km(frame: pl.DataFrame) -> SurvfuncRight:
    return SurvfuncRight(frame["days"].to_numpy(), frame["received"].to_numpy().astype(float))


@pytest.mark.slow  # the module's page syncs two weeks of a sandbox shop (~30 s)
def test_the_page_is_one_period_analysed_once(page: rp.RegionsPage) -> None:
    assert page.period.days == 14
    assert page.period.note is None
    assert page.festival is None  # no order of these days was paid in the 双十一 backlog
    parts = [page.regions(), page.delivery(), page.refunds(), page.promise(), page.advice()]
    for part in parts:
        assert isinstance(part, Section)
        assert part.markdown
    for part in parts[:3]:
        assert part.charts
        for chart in part.charts:
            assert isinstance(chart, alt.TopLevelMixin)
            chart.to_dict()
    assert page.now <= datetime.now(CHINA_TZ)


@pytest.mark.slow  # the module's page syncs two weeks of a sandbox shop (~30 s)
def test_viewers_buyers_and_the_provinces_named_are_the_stored_ones(
    kit: Kit, page: rp.RegionsPage
) -> None:
    viewers = kit.load("viewers", page.period.first, page.period.last)
    n = viewers["viewer_id"].n_unique()
    buyers = viewers.filter(pl.col("paid"))["viewer_id"].n_unique()
    text = page.regions().markdown
    assert f"共 {format_count(n)} 位观众（按人去重）" in text
    assert f"其中 {format_count(buyers)} 位下单（转化率 {format_percent(buyers / n, 2)}）" in text
    per_province = viewers.group_by("province").agg(pl.col("viewer_id").n_unique().alias("v"))
    table = page.table.select("province", "viewers").join(per_province, on="province")
    assert table.height == per_province.height
    assert (table["viewers"] == table["v"]).all()
    high = page.table.filter(pl.col("ci_low") > 1).sort("index", descending=True)
    low = page.table.filter(pl.col("ci_high") < 1).sort("index")
    assert high.height
    assert low.height
    assert f"最高的是「{high['province'][0]}」{format_number(high['index'][0], 2)}" in text
    assert f"最低的是「{low['province'][0]}」{format_number(low['index'][0], 2)}" in text
    # the map: every tile, each province coloured by its index
    spec = page.map_chart().to_dict()  # type: ignore[union-attr]
    rows = spec["datasets"][spec["data"]["name"]]
    assert {r["province"] for r in rows} == set(TILES)
    index = dict(zip(page.table["province"], page.table["index"], strict=True))
    for r in rows:
        assert r["value"] == pytest.approx(index.get(r["province"]))


@pytest.mark.slow  # the module's page syncs two weeks of a sandbox shop (~30 s)
def test_delivery_medians_are_kaplan_meier_of_the_stored_orders(
    page: rp.RegionsPage, orders: pl.DataFrame
) -> None:
    delivered = orders.filter(~pl.col("no_delivery"))
    text = page.delivery().markdown
    excluded = orders.height - delivered.height
    assert f"共 {format_count(delivered.height)} 单已付款订单需要配送" in text
    if excluded:
        assert f"另有 {format_count(excluded)} 单在发货前退款" in text
    transit = int((~delivered["received"]).sum())
    assert (
        f"其中 {format_count(transit)} 单（{format_percent(transit / delivered.height)}）" in text
    )
    km = _km(delivered)
    median, p90 = float(km.quantile(0.5)), float(km.quantile(0.9))
    assert f"从付款到签收中位 **{format_number(median, 1)} 天**" in text
    assert f"90% 的包裹在 **{format_number(p90, 1)} 天** 内签收" in text
    # per province: the promise is the 90th percentile rounded up, as the promise section says
    promise = page.promise().markdown
    for province in ("浙江", "广东", "四川"):
        mine = delivered.filter(pl.col("post_addr_province") == province)
        days = math.ceil(float(_km(mine).quantile(0.9)) - 1e-9)
        row = page.advice_frame.filter(pl.col("province") == province).row(0, named=True)
        assert row["promise_days"] == days
        line = next(x for x in promise.splitlines() if f"承诺 **{days} 天**" in x)
        assert province in line


@pytest.mark.slow  # the module's page syncs two weeks of a sandbox shop (~30 s)
def test_late_parcels_refund_difference_is_newcombes_on_settled_orders(
    page: rp.RegionsPage, orders: pl.DataFrame
) -> None:
    settled = orders.filter(
        ~pl.col("no_delivery")
        & pl.col("received")
        & (
            pl.col("receipt_time")
            < pl.lit(page.now - timedelta(days=rp.SETTLE_DAYS)).dt.convert_time_zone(CHINA_TZ_NAME)
        )
    )
    late = settled.filter(pl.col("days") > 4)
    on_time = settled.filter(pl.col("days") <= 4)
    x1, n1 = int(late["refunded"].sum()), late.height
    x0, n0 = int(on_time["refunded"].sum()), on_time.height
    low, high = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    text = page.refunds().markdown
    assert f"超过 4 天才签收的 {format_count(n1)} 单，退款率 **{format_percent(x1 / n1)}**" in text
    assert f"4 天内签收的 {format_count(n0)} 单，退款率 {format_percent(x0 / n0)}" in text
    diff = format_percent(x1 / n1 - x0 / n0, 1, signed=True)
    interval = f"{format_percent(low, 1, signed=True)} 至 {format_percent(high, 1, signed=True)}"
    assert f"差 **{diff}**（95% 区间 {interval}）" in text
    assert ("明显更容易退款" in text) == (low > 0)


def test_a_period_without_data_is_one_chinese_line(tmp_path: object) -> None:
    with pytest.raises(LivekitError, match="rooms 须为直播间 room_id"):
        rp.build(livekit.open("sandbox", home=f"{tmp_path}/home"), rooms=["x"])


# ---- the prose on hand-made frames ----------------------------------------------------------------
def _table(names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "province": names,
            "viewers": [1000, 800, 500, 300],
            "buyers": [60, 20, 20, 5],
            "conversion": [0.06, 0.025, 0.04, 0.0167],
            "gmv": [6000.0, 2000.0, 2000.0, 500.0],
            "index": [1.5, 0.62, 1.0, 0.41],
            "ci_low": [1.2, 0.4, 0.7, 0.18],
            "ci_high": [1.8, 0.95, 1.4, 0.92],
            "orders": [70, 22, 20, 6],
            "order_gmv": [7000.0, 2200.0, 2000.0, 600.0],
        }
    )


def test_region_text_names_the_provinces_whose_interval_leaves_one() -> None:
    text = rp.region_text(
        _table(["上海", "河南", "江苏", "西藏"]), first=date(2026, 11, 1), last=date(2026, 11, 30)
    )
    assert "共 2,600 位观众（按人去重）来自 4 个省份，其中 105 位下单（转化率 4.04%）" in text
    assert (
        "**明显高于平均**（区间整个大于 1）：上海；最高的是「上海」1.50（95% 区间 1.20–1.80）"
        in text
    )
    assert "**明显低于平均**（区间整个小于 1）：西藏、河南；最低的是「西藏」0.41" in text
    assert "其余 1 个省份的区间包含 1" in text
    empty = _table(["a", "b", "c", "d"]).with_columns(pl.lit(0).alias("viewers"))
    assert "没有带省份的观众明细" in rp.region_text(
        empty, first=date(2026, 11, 1), last=date(2026, 11, 30)
    )


def _times(days: list[float], received: list[bool]) -> pl.DataFrame:
    n = len(days)
    return pl.DataFrame(
        {
            "province": ["浙江"] * n,
            "received": received,
            "receipt_days": days,
            "shipped": [True] * n,
            "ship_hours": [16.0] * n,
        }
    )


def test_delivery_text_on_hand_made_curves() -> None:
    rng = np.random.default_rng(3)
    days = list(rng.lognormal(1.0, 0.3, 200))
    times = _times(days, [True] * 180 + [False] * 20)
    curves = delivery_curves(times, None)
    ship = delivery_curves(times, None, "ship")
    text = rp.delivery_text(times, curves, ship, curves, excluded=3)
    km = SurvfuncRight(np.array(days), np.array([1.0] * 180 + [0.0] * 20))
    assert "共 200 单已付款订单需要配送（另有 3 单在发货前退款" in text
    assert "其中 20 单（10.0%）在统计时还没签收" in text
    assert f"从付款到签收中位 **{format_number(float(km.quantile(0.5)), 1)} 天**" in text
    assert f"从付款到发货中位 {format_number(16.0, 1)} 小时；" in text
    assert "双十一备货期（11-01 至 11-13）付款的 200 单" in text
    assert rp.delivery_text(times.head(0), curves, ship, None, excluded=0).startswith(
        "所选时段没有已付款"
    )


def test_refund_text_without_one_side_says_so() -> None:
    empty = RefundByDelay(
        by_bucket=pl.DataFrame(),
        late_days=4.0,
        orders_late=0,
        refunds_late=0,
        orders_on_time=10,
        refunds_on_time=1,
        rate_late=None,
        rate_on_time=0.1,
        difference=None,
        difference_ci=None,
        alpha=0.05,
        error="empty_arm",
    )
    late = pl.DataFrame(
        {
            "group": ["all"],
            "orders": [100],
            "late": [12],
            "share": [0.12],
            "ci_low": [0.07],
            "ci_high": [0.2],
        }
    )
    text = rp.refund_text(late, empty, settled_before=datetime(2026, 11, 28, tzinfo=CHINA_TZ))
    assert "100 单里有 12 单在承诺的发货时间之后才发货" in text
    assert "占 **12.0%**（95% 区间 7.0%–20.0%）" in text
    assert "两组至少有一组没有订单，无法比较退款率" in text


def _advice(names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "province": names,
            "orders": [500, 300, 200, 8],
            "order_share": [0.5, 0.3, 0.2, 0.008],
            "median_days": [1.2, 3.5, 2.0, 5.0],
            "promise_days": [2, 6, 3, 9],
            "late_share": [0.01, 0.3, 0.05, 0.6],
            "refund_cost": [10.0, 850.0, 20.0, None],
            "advice": ["faster_promise", "second_warehouse", "keep", "too_little_data"],
        }
    )


def test_promise_text_groups_provinces_by_promise_and_names_the_advice() -> None:
    text = rp.promise_text(_advice(["浙江", "四川", "河南", "西藏"]))
    assert "- 承诺 **2 天**：浙江" in text
    assert "- 承诺 **6 天**：四川" in text
    assert "- 承诺 **3 天**：河南" in text
    assert "承诺 **9 天**" not in text  # too little data: no promise of its own
    assert "**第二仓（就近发货）最值得考虑的**：四川" in text
    assert "多退约 ¥850.00" in text
    assert "**可以承诺更快的**：浙江" in text
    assert "西藏的订单太少" in text
    advice = rp.advice_text(
        _table(["上海", "河南", "江苏", "西藏"]), _advice(["浙江", "四川", "河南", "西藏"]), None
    )
    assert "**投放向上海倾斜**" in advice
    assert "**查一查西藏、河南为什么不买**" in advice
    assert "**评估在四川附近设第二仓**" in advice


def test_upstream_province_names_are_quoted_as_text() -> None:
    names = [f"省{p}" for p in PAYLOADS[:4]]
    allowed = {"p", "strong", "em", "code", "ul", "ol", "li", "blockquote", "br"}
    for markdown in (
        rp.region_text(_table(names), first=date(2026, 11, 1), last=date(2026, 11, 30)),
        rp.promise_text(_advice(names)),
        rp.advice_text(_table(names), _advice(names), None),
    ):
        parsed = parse_html(render_nbconvert(markdown))
        assert {tag for tag, _ in parsed.tags} <= allowed, markdown[:300]
        assert all(not attrs for _, attrs in parsed.tags)
        assert any(p in "".join(parsed.text) for p in PAYLOADS[:4])
    table = str(rp.REGION_TABLE.render(_table(names)))
    assert "<script>" not in table
    assert "&lt;script&gt;" in table


@pytest.mark.slow  # reads the module's synced sandbox
def test_rooms_keep_their_viewers_and_the_orders_sold_in_them(
    kit: Kit, page: rp.RegionsPage
) -> None:
    first, last = page.period.first, page.period.last
    room = int(kit.load("rooms", first, last).sort("start_time")["room_id"][0])
    mine = rp.build(kit, start=START, end=END, rooms=[room])
    assert mine.rooms == (room,)
    viewers = kit.load("viewers", first, last).filter(pl.col("room_id") == room)
    assert int(mine.table["viewers"].sum() or 0) == viewers["viewer_id"].n_unique()
    items = kit.load("order_items", first, last).filter(pl.col("room_id") == room)
    sold = set(items["parent_order_id"].to_list())
    assert sold
    assert set(mine.times["order_id"].to_list()) <= sold
    assert mine.times.height < page.times.height


@pytest.mark.slow  # reads the module's synced sandbox
@pytest.mark.parametrize("empty", ["orders", "viewers"])
def test_a_shop_without_orders_or_without_viewers_still_gets_its_report(
    kit: Kit, monkeypatch: pytest.MonkeyPatch, empty: str
) -> None:
    """Live shops may have synced 抖店 orders but imported no viewer export, or the reverse:
    the sections that need the missing data say so, the others stand."""
    load = kit.load

    def without(name: str, *args: Any, **kwargs: Any) -> pl.DataFrame:
        frame = load(name, *args, **kwargs)
        return frame.head(0) if name == empty else frame

    monkeypatch.setattr(kit, "load", without)
    page = rp.build(kit, start=START, end=END)
    regions, delivery, promise = page.regions(), page.delivery(), page.promise()
    if empty == "orders":
        assert regions.charts  # the map, from the viewers
        assert delivery.markdown == "所选时段没有已付款、需要配送的订单，无法统计配送时长。"
        assert promise.markdown == "没有足够的签收记录，暂时给不出各省的承诺时效。"
        assert "无法比较退款率" in page.refunds().markdown
    else:
        assert regions.charts == []
        assert "没有带省份的观众明细，无法按地区比较" in regions.markdown
        assert delivery.charts
        assert "建议承诺时效" in promise.markdown
    assert page.advice().markdown.startswith("1. ")
