"""The report text and tables of livekit.analysis.narrative (ROI and dwell time), checked against
numbers worked out here from the input frames."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from livekit.analysis import dwell as dw
from livekit.analysis import narrative as nv
from livekit.analysis.dwell import dwell_conversion
from livekit.analysis.products import rank_products, with_titles
from livekit.analysis.roi import repurchase_by_day, roi_summary
from livekit.sandbox.hostile import LONG, PAYLOADS
from livekit.text import plain_text
from tests.helpers.markup import INVISIBLE

CHINA = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2026, 11, 20), date(2026, 11, 26)
MARGIN = 0.4  # break-even ROAS 2.5


# ---- ROI ------------------------------------------------------------------------------------------
def _by_room(
    spend: list[float], gmv: list[float], refunds: list[float], rep: list[float]
) -> pl.DataFrame:
    """A roi_by_room-like frame: ratios worked out here, null where there is no spend."""
    n = len(spend)
    starts = [datetime(2026, 11, 20 + i % 7, 19, 30, tzinfo=CHINA) for i in range(n)]

    def ratio(num: float, den: float) -> float | None:
        return num / den if den > 0 else None

    frame = pl.DataFrame(
        {
            "date": [s.date() for s in starts],
            "room_id": list(range(1, n + 1)),
            "aweme_name": [f"账号{i % 2}" for i in range(n)],
            "start_time": starts,
            "spend": spend,
            "gmv": gmv,
            "refunds": refunds,
            "gmv_repurchase": rep,
            "gmv_7d": [g + r for g, r in zip(gmv, rep, strict=True)],
            "repurchase_share": [ratio(r, g + r) for g, r in zip(gmv, rep, strict=True)],
            "window_closed": [i % 3 != 0 for i in range(n)],
            "roas": [ratio(g, s) for g, s in zip(gmv, spend, strict=True)],
            "net_roas": [ratio(g - f, s) for g, f, s in zip(gmv, refunds, spend, strict=True)],
            "roas_7d": [ratio(g + r, s) for g, r, s in zip(gmv, rep, spend, strict=True)],
            "breakeven_roas": [1 / MARGIN] * n,
        },
        schema_overrides={"start_time": pl.Datetime("us", "Asia/Shanghai")},
    )
    return nv.with_room_labels(frame)


@pytest.fixture
def rooms() -> pl.DataFrame:
    return _by_room(
        spend=[1000.0, 2000.0, 500.0, 4000.0, 0.0, 3000.0],
        gmv=[3000.0, 3600.0, 2000.0, 6000.0, 800.0, 7800.0],
        refunds=[100.0, 200.0, 0.0, 400.0, 0.0, 300.0],
        rep=[50.0, 1800.0, 0.0, 100.0, 0.0, 900.0],
    )


def _shown(markdown: str) -> str:
    """``markdown`` with the escapes of upstream text undone (what a reader sees of it)."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown))


def _labels(text: str) -> list[str]:
    return re.findall(r"^- (\d\d-\d\d \d\d:\d\d 账号\d)：", _shown(text), flags=re.MULTILINE)


def test_room_labels_are_start_time_and_account(rooms: pl.DataFrame) -> None:
    assert rooms["label"][0] == "11-20 19:30 账号0"
    assert rooms["label"][3] == "11-23 19:30 账号1"


def test_roi_overview_states_totals_and_the_breakeven_verdict(rooms: pl.DataFrame) -> None:
    closed = roi_summary(rooms, gross_margin=MARGIN).row(0, named=True)
    so_far = roi_summary(rooms, gross_margin=MARGIN, include_open_windows=True).row(0, named=True)
    text = nv.roi_overview(closed, so_far, gross_margin=MARGIN, first=FIRST, last=LAST)
    spend, gmv = sum([1000, 2000, 500, 4000, 0, 3000]), sum([3000, 3600, 2000, 6000, 800, 7800])
    net = (gmv - 1000) / spend
    assert f"共 {rooms.height} 场直播" in text
    assert f"千川消耗 ¥{spend / 1e4:,.2f}万" in text
    assert f"支付ROI **{gmv / spend:.2f}**" in text
    assert f"净成交ROI（扣退款）**{net:.2f}**" in text
    assert "保本ROI 为 **2.50**" in text
    assert ("高于保本线" if net >= 2.5 else "低于保本线") in text
    closed_rooms = rooms.filter(pl.col("window_closed"))
    assert f"7 日窗口已结束的 {closed_rooms.height} 场" in text
    roas_7d = closed_rooms["gmv_7d"].sum() / closed_rooms["spend"].sum()
    assert f"7日总支付ROI **{roas_7d:.2f}**" in text
    assert "算上 7 日窗口还没结束的场次" in text  # two rooms are still open


def test_roi_overview_says_when_ads_lose_money() -> None:
    losing = _by_room([1000.0], [1500.0], [0.0], [0.0])
    row = roi_summary(losing, gross_margin=MARGIN).row(0, named=True)
    text = nv.roi_overview(row, row, gross_margin=MARGIN, first=FIRST, last=LAST)
    assert "净成交ROI **低于保本线**" in text
    assert "算上 7 日窗口还没结束" not in text


def test_roi_ranking_is_by_net_roas_and_marks_the_losers(rooms: pl.DataFrame) -> None:
    table = nv.roi_ranking_table(rooms)
    frame = table.frame
    with_spend = rooms.filter(pl.col("spend") > 0)
    assert frame.height == with_spend.height  # the room without spend has no ROAS
    expected = with_spend.sort("net_roas", descending=True)["label"].to_list()
    assert frame["label"].to_list() == expected
    for row in frame.iter_rows(named=True):
        assert row["verdict"] == ("保本" if row["net_roas"] >= 2.5 else "亏损")
    assert list(table.columns) == list(nv.ROI_RANKING_COLUMNS)
    assert table.formats["spend"] == "yuan"


def test_roi_loss_advice_names_the_worst_room_first(rooms: pl.DataFrame) -> None:
    text = nv.roi_loss_advice(rooms, gross_margin=MARGIN, breakeven=2.5)
    losing = rooms.filter(pl.col("net_roas") < 2.5).sort("net_roas")
    assert losing.height == 2  # worked out: 3400/2000 = 1.7 and 5600/4000 = 1.4
    worst = rooms.filter(pl.col("net_roas") == pl.col("net_roas").min())["label"][0]
    assert _labels(text)[0] == worst
    assert _labels(text) == losing["label"].to_list()
    assert f"**{losing.height} 场净成交ROI 低于保本线**" in text
    share = losing["spend"].sum() / rooms["spend"].sum()
    assert f"占总消耗的 {share * 100:.1f}%" in text
    # the 2,000 room: (3600 + 1800) / 2000 = 2.7 ≥ 2.5, rescued by repurchases
    rescued = losing.filter(pl.col("roas_7d") >= 2.5)
    assert rescued.height == 1
    assert (
        f"{rescued['label'][0]}：消耗 ¥2,000.00，净成交ROI 1.70（算上 7 天复购可回本）"
        in _shown(text)
    )
    assert f"3. {rescued.height} 场算上买家 7 天内的复购可以回本" in text
    assert "另有 1 场没有千川消耗" in text
    assert text.endswith(nv.ROI_CAVEAT)


def test_roi_loss_advice_lists_at_most_ten_rooms() -> None:
    many = _by_room([100.0 + i for i in range(14)], [50.0] * 14, [0.0] * 14, [0.0] * 14)
    text = nv.roi_loss_advice(many, gross_margin=MARGIN, breakeven=2.5)
    assert "**14 场净成交ROI 低于保本线**" in text
    assert len(_labels(text)) == 10
    worst = many.sort("net_roas")["label"][0]
    assert _labels(text)[0] == worst


def test_roi_loss_advice_without_losses_or_margin(rooms: pl.DataFrame) -> None:
    winners = rooms.filter(pl.col("net_roas") >= 2.5)
    text = nv.roi_loss_advice(winners, gross_margin=MARGIN, breakeven=2.5)
    assert "所有有消耗的场次净成交ROI 都不低于保本线 2.50" in text
    assert "另有" not in text
    assert "无法计算保本ROI" in nv.roi_loss_advice(rooms, gross_margin=0.0, breakeven=None)


def test_repurchase_by_day_sums_each_day(rooms: pl.DataFrame) -> None:
    per_day = repurchase_by_day(rooms)
    assert per_day["date"].is_sorted()
    day = rooms["date"][1]
    row = per_day.filter(pl.col("date") == day).row(0, named=True)
    same_day = rooms.filter(pl.col("date") == day)
    assert row["gmv"] == same_day["gmv"].sum()
    assert row["gmv_repurchase"] == same_day["gmv_repurchase"].sum()
    assert per_day["gmv"].sum() == rooms["gmv"].sum()


# ---- dwell time -----------------------------------------------------------------------------------
def _visits(groups: dict[str, list[float]], censored_after: float = 10**9) -> pl.DataFrame:
    rows = [
        {"source_label": name, "dwell": float(t), "left": t < censored_after}
        for name, times in groups.items()
        for t in times
    ]
    return pl.DataFrame(rows)


def test_dwell_overview_reports_median_and_shares() -> None:
    # no censoring before 600 s, so Kaplan-Meier is the plain share of longer visits
    times = [10, 20, 30, 45, 70, 100, 200, 400, 700, 900]
    visits = _visits({"推荐页": times}, censored_after=650)
    ret = dw.retention(visits["dwell"], visits["left"])
    text = nv.dwell_overview(ret, first=FIRST, last=LAST)
    share = {s: sum(t > s for t in times) / len(times) for s in (60, 180, 600)}
    assert f"共 {len(times)} 次访问（20.0% 一直看到下播" in text
    # median: the first time at which fewer than half are still watching
    median = next(t for t in sorted(times) if sum(x > t for x in times) / len(times) < 0.5)
    assert f"一半的访问在 **{median} 秒**内离开" in text
    assert f"超过 1 分钟的占 **{share[60] * 100:.1f}%**" in text
    assert f"超过 3 分钟的占 {share[180] * 100:.1f}%" in text
    assert f"超过 10 分钟的占 {share[600] * 100:.1f}%" in text


def test_retention_by_group_names_the_best_and_worst_source() -> None:
    rng = np.random.default_rng(5)
    scales = {"关注页": 300.0, "推荐页": 40.0, "千川广告": 20.0, "搜索": 120.0}
    visits = _visits({k: rng.exponential(v, 400).round(1).tolist() for k, v in scales.items()})
    groups = dw.retention_by_group(visits, top=5)
    medians = {
        k: float(np.sort(visits.filter(pl.col("source_label") == k)["dwell"].to_numpy())[200])
        for k in scales
    }  # 400 uncensored visits: S drops below 0.5 at the 201st shortest
    best, worst = max(medians, key=medians.__getitem__), min(medians, key=medians.__getitem__)
    text = nv.source_retention_summary(groups)
    assert f"留存最好的是「{best}」（一半的访问留到 {medians[best]:,.0f} 秒）" in text
    assert f"最差的是「{worst}」（{medians[worst]:,.0f} 秒）" in text
    assert "差异显著（对数秩检验 p < 0.001）" in text
    assert groups.summary["group"].to_list() == sorted(medians, key=medians.__getitem__)[::-1]
    table = nv.source_retention_table(groups)
    assert table.frame["visits"].to_list() == [400] * 4
    advice = nv.dwell_advice(dw.retention(visits["dwell"], visits["left"]), groups, _no_products())
    assert f"**承接「{worst}」的流量**" in advice


def test_retention_by_group_folds_small_sources_into_other() -> None:
    sizes = {"a": 60, "b": 50, "c": 40, "d": 30, "e": 20, "f": 10, "g": 5}
    visits = _visits({k: [float(10 + i) for i in range(n)] for k, n in sizes.items()})
    groups = dw.retention_by_group(visits, top=5)
    summary = dict(zip(groups.summary["group"], groups.summary["visits"], strict=True))
    assert summary == {"a": 60, "b": 50, "c": 40, "d": 30, "e": 20, dw.OTHER_GROUP: 15}
    assert set(groups.curves["group"].unique()) == set(summary)


def test_similar_sources_are_not_called_different() -> None:
    rng = np.random.default_rng(8)
    visits = _visits({k: rng.exponential(60.0, 300).tolist() for k in ("关注页", "推荐页")})
    text = nv.source_retention_summary(dw.retention_by_group(visits))
    assert "差异不显著" in text
    one = dw.retention_by_group(_visits({"关注页": [10.0, 20.0, 30.0]}))
    assert one.p_value is None
    assert "无法在来源之间比较" in nv.source_retention_summary(one)


def test_visit_durations_censor_visits_that_last_to_the_end() -> None:
    start = datetime(2026, 11, 20, 20, 0, tzinfo=CHINA)
    end = start + timedelta(hours=2)
    viewers = pl.DataFrame(
        {
            "room_id": [1, 1, 2],
            "enter_time": [start, start + timedelta(minutes=5), start],
            "leave_time": [start + timedelta(seconds=90), end, start + timedelta(minutes=3)],
            "traffic_source": ["homepage_follow", None, "new_source"],
        }
    )
    rooms = pl.DataFrame({"room_id": [1, 2], "end_time": [end, None]})
    visits = dw.visit_durations(viewers, rooms, source_labels={"homepage_follow": "关注页"})
    assert visits["dwell"].to_list() == [90.0, 115 * 60.0, 180.0]
    assert visits["left"].to_list() == [True, False, False]  # room 2 has no end: still on air
    assert visits["source_label"].to_list() == ["关注页", "未知", "new_source"]


def _viewers(long_paid: int, long_n: int, short_paid: int, short_n: int) -> pl.DataFrame:
    t0 = datetime(2026, 11, 20, 20, 0, tzinfo=CHINA)
    rows = [(300, i < long_paid) for i in range(long_n)] + [
        (30, i < short_paid) for i in range(short_n)
    ]
    return pl.DataFrame(
        {
            "enter_time": [t0] * len(rows),
            "leave_time": [t0 + timedelta(seconds=s) for s, _ in rows],
            "paid": [p for _, p in rows],
        }
    )


def test_dwell_conversion_summary_states_both_rates_and_the_ratio() -> None:
    result = dwell_conversion(_viewers(60, 1000, 20, 1000), threshold_s=180)
    text = nv.dwell_conversion_summary(result)
    assert "停留超过 3 分钟的访问，成交率 **6.00%**" in text
    assert "不超过 3 分钟的，成交率 2.00%" in text
    assert "前者是后者的 **3.00 倍**" in text
    assert "也就是高出约 200%" in text
    assert result.note in text
    same = nv.dwell_conversion_summary(dwell_conversion(_viewers(20, 1000, 20, 1000)))
    assert "区间包含 1，看不出明显差别" in same
    empty = nv.dwell_conversion_summary(dwell_conversion(_viewers(0, 0, 5, 100)))
    assert empty.startswith("无法比较：")


# ---- products -------------------------------------------------------------------------------------
def _no_products() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "product_id": pl.Int64,
            "clicks": pl.Int64,
            "paid": pl.Int64,
            "rate": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "rank": pl.Int64,
            "title": pl.String,
        }
    )


@pytest.fixture
def ranked() -> pl.DataFrame:
    conversions = pl.DataFrame(
        {
            "product_id": [11, 12, 13, 14, 15],
            "clicks": [400, 120, 900, 8, 50],
            "paid": [80, 30, 90, 6, 4],
            "gmv": [8000.0, 3000.0, 9000.0, 600.0, 400.0],
        }
    )
    room_products = pl.DataFrame(
        {"productId": [11, 12, 13, 14], "title": ["保温杯", "纯棉T恤", "抽纸 24包", "香薰蜡烛"]}
    )
    return with_titles(rank_products(conversions, min_trials=30), room_products)


def test_product_pick_names_the_best_lower_bound(ranked: pl.DataFrame) -> None:
    rows = {11: (80, 400), 12: (30, 120), 13: (90, 900), 15: (4, 50)}  # ≥ 30 clicks
    low = {k: proportion_confint(s, n, method="wilson")[0] for k, (s, n) in rows.items()}
    best = max(low, key=low.__getitem__)
    assert best == 12  # 30/120 beats 80/400 on the lower bound, and is not the most clicked
    title = ranked.filter(pl.col("product_id") == best)["title"][0]
    text = nv.product_pick_summary(ranked)
    assert text.startswith(f"**最值得提前讲解的是「{title}」**")
    s, n = rows[best]
    assert f"点击 {n} 次、成交 {s} 单，点击后成交率 {s / n * 100:.1f}%" in text
    assert f"保守估计（下限）也有 {low[best] * 100:.1f}%" in text
    # the most clicked (抽纸, 10%) is clearly worse than the pick
    assert (
        "目前点击最多的是「抽纸 24包」（点击后成交率 10.0%）：它吸引点击，但成交明显不如前者"
        in text
    )
    # 香薰蜡烛: 6/8 is the best raw rate but too few clicks to rank
    assert "「香薰蜡烛」的原始成交率最高（6/8），但点击太少" in text
    advice = nv.dwell_advice(
        dw.retention([10.0, 20.0], [True, True]),
        dw.retention_by_group(_visits({"关注页": [10.0]})),
        ranked,
    )
    assert f"**把「{title}」的讲解往前排**" in advice
    assert re.findall(r"^(\d)\. ", advice, flags=re.MULTILINE) == ["1", "2", "3"]


def test_product_titles_and_table(ranked: pl.DataFrame) -> None:
    assert ranked.filter(pl.col("product_id") == 15)["title"][0] == "15"  # no title: the id
    table = nv.product_table(ranked, rows=3)
    assert table.frame.height == 3
    assert table.frame["rank"].to_list() == [1, 2, 3]
    assert table.columns["title"] == "商品"


def test_product_pick_without_enough_clicks() -> None:
    assert nv.product_pick_summary(_no_products(), min_clicks=30) == (
        "没有点击次数足够（≥30 次）的商品，暂不排名。"
    )


# ---- upstream text is data ------------------------------------------------------------------------
MARKUP = {"p", "strong", "ol", "ul", "li", "blockquote"}  # what the sentences themselves use


def _rendered(markdown: str) -> tuple[set[str], str]:
    """The tags (none may carry an attribute) and the visible text of ``markdown`` as nbconvert
    renders it."""
    from tests.helpers.markup import parse_html as parse
    from tests.helpers.markup import render_nbconvert

    parsed = parse(render_nbconvert(markdown))
    assert all(not attrs for _, attrs in parsed.tags), parsed.tags
    return {tag for tag, _ in parsed.tags}, "".join(parsed.text)


@pytest.mark.parametrize("index", range(len(PAYLOADS) + 1))
def test_upstream_text_in_sentences_is_shown_not_obeyed(index: int) -> None:
    payload = PAYLOADS[index] if index < len(PAYLOADS) else LONG
    title = "玻尿酸补水面膜" + payload
    conversions = pl.DataFrame(
        {"product_id": [11, 12], "clicks": [400, 120], "paid": [80, 30], "gmv": [1.0, 2.0]}
    )
    products = pl.DataFrame({"productId": [11, 12], "title": [title, "纯棉T恤" + payload]})
    ranked = with_titles(rank_products(conversions, min_trials=30), products)
    groups = dw.retention_by_group(_visits({"关注页" + payload: [10.0] * 50, "搜索": [100.0] * 50}))
    room = _by_room([1000.0], [1000.0], [0.0], [0.0]).with_columns(
        label=pl.lit("11-20 19:30 悦好生活" + payload)
    )
    texts = [
        nv.product_pick_summary(ranked),
        nv.dwell_advice(dw.retention([10.0, 20.0], [True, True]), groups, ranked),
        nv.source_retention_summary(groups),
        nv.roi_loss_advice(room, gross_margin=MARGIN, breakeven=2.5),
    ]
    for text in texts:
        tags, visible = _rendered(text)
        assert tags <= MARKUP, (tags, text[:300])
        assert not INVISIBLE.search(visible)
    assert plain_text(title) in _rendered(texts[0])[1]
    assert plain_text("关注页" + payload) in _rendered(texts[2])[1]
    assert plain_text("11-20 19:30 悦好生活" + payload) in _rendered(texts[3])[1]


def test_account_names_in_the_gap_note_are_escaped() -> None:
    name = "悦好生活" + PAYLOADS[0]
    rates = pl.DataFrame(
        {
            "stage": ["clicked", "clicked"],
            "label": ["商品点击率", "商品点击率"],
            "账号": [name, "另一个号[链接](http://outside.invalid)"],
            "step_rate": [0.2, 0.1],
            "ci_low": [0.18, 0.08],
            "ci_high": [0.22, 0.12],
        }
    )
    note = nv.account_gap_note(rates)
    assert note is not None
    tags, visible = _rendered(note)
    assert tags == {"p"}
    assert plain_text(name) in visible
    assert "另一个号[链接](http://outside.invalid)" in visible
