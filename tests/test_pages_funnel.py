"""The funnel page (livekit.pages.funnel): built on a synced sandbox, each section states the
numbers an independent computation from the stored rows gives; the prose, charts and tables it
took over from narrative.py and charts/reports.py; parameter mistakes are one Chinese line."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc

import livekit
from livekit.analysis import funnel as fun_of
from livekit.analysis import funnel_change
from livekit.analysis.funnel import AccountGap
from livekit.charts.tables import HtmlTable
from livekit.pages import Section
from livekit.pages import funnel as fp
from livekit.sandbox.hostile import PAYLOADS
from livekit.source import Kit
from livekit.text import escape_html, plain_text
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import format_count, format_percent
from tests.helpers.markup import parse_html, render_nbconvert
from tests.helpers.reports import TEST_HOME

STAGE_COLUMNS = {
    "entered": "total_live_watch_cnt",
    "product_exposed": "live_click_cart_count_alias",
    "clicked": "live_click_product_count_alias",
    "paid": "live_pay_order_count_alias",
}


@pytest.fixture(scope="module")
def kit() -> Kit:
    # the sandbox data the real reports read (synced once, shared): prepare fills what is missing
    return livekit.open("sandbox", home=TEST_HOME)


@pytest.fixture(scope="module")
def page(kit: Kit) -> fp.FunnelPage:
    return fp.build(kit, start="last_7_days")


def _counts(kit: Kit, first: date, last: date, rooms: list[int] | None = None) -> dict[str, int]:
    """The stage counts written out from the stored rows: room impressions are the T+1 watch
    count × 100 / the enter-room rate (upstream percent), only rooms with that rate count."""
    live = kit.load("rooms", first, last)
    if rooms:
        live = live.filter(pl.col("room_id").is_in(rooms))
    t1 = (
        kit.load("room_analysis", first, last)
        .filter(pl.col("all_live_enter_room_rate_td") > 0)
        .unique("room_id", keep="last")
        .select(
            "room_id",
            (pl.col("all_live_watch_cnt_td") * 100.0 / pl.col("all_live_enter_room_rate_td"))
            .round(0)
            .alias("impressions"),
        )
    )
    joined = live.join(t1, on="room_id")
    out = {"impressions": int(joined["impressions"].sum())}
    out.update({stage: int(joined[col].sum()) for stage, col in STAGE_COLUMNS.items()})
    return out


def _visible(markdown: str) -> str:
    """The text ``markdown`` shows, as nbconvert renders it."""
    return " ".join("".join(parse_html(render_nbconvert(markdown)).text).split())


# ---- the sections, against the stored rows -------------------------------------------------------
def test_overview_states_the_periods_funnel(kit: Kit, page: fp.FunnelPage) -> None:
    first, last = page.period.first, page.period.last
    assert (last - first).days == 6
    counts = _counts(kit, first, last)
    assert dict(page.counts) == counts
    assert page.sessions == kit.load("rooms", first, last)["room_id"].n_unique()
    section = page.overview()
    assert isinstance(section, Section)
    text = section.markdown
    assert page.period.note is None  # a sandbox period is filled first
    assert text.startswith(f"**{first} 至 {last}**（7 天）共 **{page.sessions} 场**直播")
    assert f"直播间曝光 {format_count(counts['impressions'])} 次" in text
    assert f"进入直播间 {format_count(counts['entered'])} 次" in text
    assert f"进房率 {format_percent(counts['entered'] / counts['impressions'])}" in text
    steps = [("product_exposed", "entered"), ("clicked", "product_exposed"), ("paid", "clicked")]
    for stage, before in steps:
        assert f"**{format_percent(counts[stage] / counts[before])}**" in text
    assert f"曝光-成交率 {format_percent(counts['paid'] / counts['impressions'], 2)}" in text
    assert f"观看-成交率 {format_percent(counts['paid'] / counts['entered'], 2)}" in text
    assert f"共成交 {format_count(counts['paid'])} 单" in text
    [chart] = section.charts
    assert isinstance(chart, alt.HConcatChart)
    [table] = [p for p in section if isinstance(p, HtmlTable)]
    html = str(table)
    assert "累计转化率（占曝光）" in html
    assert format_count(counts["paid"]) in html
    assert format_percent(counts["clicked"] / counts["product_exposed"], 2) in html


def test_change_states_the_split_of_the_change(kit: Kit, page: fp.FunnelPage) -> None:
    first, last = page.period.first, page.period.last
    assert page.comparison is not None
    assert (page.comparison.first, page.comparison.last) == (
        first - timedelta(days=7),
        last - timedelta(days=7),
    )
    before = _counts(kit, page.comparison.first, page.comparison.last)
    after = _counts(kit, first, last)
    assert page.split is not None
    # the split is exact: the stages' log changes add up to the change in orders
    assert page.split["log_change"].sum() == pytest.approx(math.log(after["paid"] / before["paid"]))
    section = page.change()
    text = section.markdown
    total = format_percent(after["paid"] / before["paid"] - 1, signed=True)
    assert (
        f"成交单量从 {format_count(before['paid'])} 变为 {format_count(after['paid'])}（**{total}**）"
        in text
    )
    labels = page.step_labels
    lost = page.split.filter(pl.col("largest_loss"))
    if lost.height:
        row = lost.row(0, named=True)
        effect = format_percent(math.expm1(row["log_change"]), signed=True)
        assert f"**拖累最多的是「{labels[row['stage']]}」" in text
        assert f"成交会变化 {effect}。**" in text
    [chart] = section.charts
    assert isinstance(chart, alt.LayerChart)
    # the advice names the step the analysis found lost most (else the weakest step)
    advice = page.advice().markdown
    if lost.height:
        assert advice.startswith(f"**优先处理「{labels[lost['stage'][0]]}」。**")
    else:
        assert advice.startswith("本期各环节没有明显变差")
    assert "ab_test" in advice


def test_accounts_add_up_to_the_shop_and_name_the_largest_gap(
    kit: Kit, page: fp.FunnelPage
) -> None:
    per = page.per_account
    accounts = sorted(kit.load("rooms", page.period.first, page.period.last)["aweme_name"].unique())
    assert per["aweme_name"].unique(maintain_order=True).to_list() == accounts
    sums = dict(per.group_by("stage").agg(pl.col("count").sum()).iter_rows())
    assert sums == {k: float(v) for k, v in page.counts.items()}
    section = page.accounts()
    gap = page.gap
    if len(accounts) > 1:
        assert gap is not None
        text = _visible(section.markdown)
        assert f"{plain_text(gap.best)} 为 {format_percent(gap.high)}" in text
        assert f"{plain_text(gap.worst)} 为 {format_percent(gap.low)}" in text
        # the gap is the analysis's: the best and worst step rates of that stage
        at = per.filter(pl.col("stage") == gap.stage)
        assert (gap.low, gap.high) == (at["step_rate"].min(), at["step_rate"].max())
    [chart] = section.charts
    assert isinstance(chart, alt.LayerChart)
    [table] = [p for p in section if isinstance(p, HtmlTable)]
    for name in accounts:
        assert escape_html(name) in str(table)


def test_daily_rates_are_each_days_sums_divided(kit: Kit, page: fp.FunnelPage) -> None:
    live = kit.load("rooms", page.period.first, page.period.last)
    by_day = live.group_by("date").agg(
        pl.col("live_pay_order_count_alias").sum() / pl.col("live_click_product_count_alias").sum()
    )
    got = page.by_day.filter(pl.col("metric") == "click_conversion_rate")
    expected = dict(by_day.iter_rows())
    assert dict(got.select("date", "value").iter_rows()) == pytest.approx(expected)
    assert page.by_day["value"].drop_nulls().is_between(0, 1).all()  # fractions
    [chart] = page.daily().charts
    spec = json.dumps(chart.to_dict(), ensure_ascii=False)
    for label in ("曝光-进入率", "观看-商品曝光率", "商品曝光-点击率", "点击-成交率"):
        assert label in spec


def test_rooms_and_no_comparison(kit: Kit, page: fp.FunnelPage) -> None:
    ids = sorted(kit.load("rooms", page.period.first, page.period.last)["room_id"].to_list())[:2]
    assert len(ids) == 2
    chosen = fp.build(kit, start="last_7_days", rooms=[str(i) for i in ids])
    assert chosen.rooms == tuple(ids)
    assert chosen.sessions == 2
    assert dict(chosen.counts) == _counts(kit, page.period.first, page.period.last, ids)
    assert chosen.comparison is None
    assert "本次不做对比（指定了直播间（room_id）时" in chosen.change().markdown
    none = fp.build(kit, start="last_7_days", compare_to="none")
    assert none.comparison is None
    assert none.change().markdown == "本次不做对比（compare_to 为 none）。"
    # the advice without a comparison: the weakest step of the period
    assert none.advice().markdown.startswith("本期各环节没有明显变差。转化率最低的一步是")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"rooms": ["abc"]}, "rooms"),
        ({"compare_to": "last_weekk"}, "对比期开始日期"),
        ({"start": "nonsense"}, "nonsense"),
    ],
)
def test_parameter_mistakes_are_one_chinese_line(
    tmp_path: Path, params: dict[str, object], words: str
) -> None:
    """Checked before anything is prepared: a fresh sandbox home stays empty."""
    home = tmp_path / "home"
    with pytest.raises(LivekitError) as caught:
        fp.build(livekit.open("sandbox", home=home), **params)  # type: ignore[arg-type]
    message = str(caught.value)
    assert words in message
    assert "\n" not in message
    assert not (home / "sandbox" / "store").exists()


def test_an_unsynced_live_period_says_so_first(tmp_path: Path) -> None:
    """A live home with nothing synced: the first section opens with the coverage note, the
    comparison's note heads the change, and no section fails on the empty period."""
    page = fp.build(livekit.open(home=tmp_path / "home"), start="2026-11-01", end="2026-11-03")
    assert page.period.note is not None
    overview = list(page.overview())
    assert overview[0] == page.period.note
    assert page.comparison is not None
    assert page.comparison.note is not None
    assert page.change().parts[0] == page.comparison.note
    assert "无法拆解" in page.change().markdown
    assert page.sessions == 0
    for section in (page.accounts(), page.daily(), page.advice()):
        assert section.markdown


# ---- the prose, tables and charts the page took over ---------------------------------------------
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 14)


def test_funnel_sentences_on_a_small_funnel() -> None:
    before = {
        "impressions": 10_000,
        "entered": 2_000,
        "product_exposed": 800,
        "clicked": 160,
        "paid": 32,
    }
    after = {**before, "clicked": 120, "paid": 24}
    fun = fun_of(after)
    text = fp.funnel_overview(fun, after, first=FIRST, last=LAST, sessions=5, analysed=4)
    assert "（14 天）共 **5 场**直播（其中 4 场已有 T+1 分析" in text
    assert "进房率 20.0%" in text
    assert "观看-成交率 1.20%，共成交 24 单" in text
    assert fp.funnel_flag_note(fun) is None
    change = funnel_change(before, after)
    labels = dict(zip(change["stage"].to_list(), fp.change_labels(change), strict=True))
    summary = fp.funnel_change_summary(
        change, before, after, labels, before_first=FIRST, before_last=LAST
    )
    assert "成交单量从 32 变为 24（**-25.0%**）" in summary
    assert "**拖累最多的是「商品曝光→商品点击」：转化率由 20.0% 变为 15.0%" in summary
    advice = fp.funnel_advice(fun, change, labels)
    assert advice.startswith("**优先处理「商品曝光→商品点击」。**")
    assert "本期各环节没有明显变差" in fp.funnel_advice(fun, None, None)


def test_the_flag_note_names_a_stage_larger_than_the_one_before() -> None:
    fun = fun_of(
        {"impressions": 100, "entered": 50, "product_exposed": 80, "clicked": 10, "paid": 1}
    )
    note = fp.funnel_flag_note(fun)
    assert note is not None
    assert note.startswith("⚠️ 商品曝光 的数量比前面的环节还大")


def test_account_names_in_the_gap_note_are_escaped() -> None:
    name = "悦好生活" + PAYLOADS[0]
    other = "另一个号[链接](http://outside.invalid)"
    gap = AccountGap("clicked", "商品点击", name, other, 0.2, 0.1, 0.18, 0.12)
    note = fp.account_gap_note(gap)
    assert note is not None
    parsed = parse_html(render_nbconvert(note))
    assert {tag for tag, _ in parsed.tags} == {"p"}
    assert all(not attrs for _, attrs in parsed.tags)
    visible = "".join(parsed.text)
    assert plain_text(name) in visible
    assert other in visible
    assert "置信区间不重叠，差距是真实的" in visible  # 0.18 > 0.12
    assert fp.account_gap_note(None) is None


def test_tables_escape_account_names() -> None:
    per = pl.DataFrame(
        {
            "aweme_name": ["<script>alert(1)</script>主号"],
            "label": ["成交"],
            "count": [12.0],
            "step_rate": [0.25],
            "ci_low": [0.2],
            "ci_high": [0.3],
        }
    )
    html = str(fp.ACCOUNT_TABLE.render(per))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;主号" in html
    assert "25.00%" in html


def test_change_labels_name_each_step() -> None:
    change = funnel_change(
        {"impressions": 100, "entered": 50, "product_exposed": 20, "clicked": 10, "paid": 2},
        {"impressions": 120, "entered": 50, "product_exposed": 25, "clicked": 10, "paid": 3},
    )
    assert fp.change_labels(change) == [
        "直播间曝光",
        "直播间曝光→进入直播间",
        "进入直播间→商品曝光",
        "商品曝光→商品点击",
        "商品点击→成交",
    ]
    assert fp.change_labels(change.head(0)) == []


def test_charts_draw_the_analysis_frames() -> None:
    livekit.charts.setup()
    counts = {"impressions": 100_000, "entered": 25_000, "product_exposed": 15_000,
              "clicked": 2_500, "paid": 600}  # fmt: skip
    fun = fun_of(counts)
    chart = fp.funnel_chart(fun, subtitle="按人次统计", y_title="人次")
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert "直播间转化漏斗" in svg
    assert format_count(600) + "（累计 0.60%）" in svg
    change = funnel_change({**counts, "paid": 500}, counts)
    svg = vlc.vegalite_to_svg(fp.funnel_change_chart(change).to_json())
    assert "成交变化拆解" in svg
    assert format_percent(600 / 500 - 1, 1, signed=True) in svg  # the paid step's effect
    with pytest.raises(ValueError, match="step_rate"):
        fp.funnel_chart(pl.DataFrame({"label": ["a"], "count": [1]}))


def test_importing_the_page_loads_no_altair() -> None:
    import subprocess
    import sys

    code = "import sys, livekit.pages.funnel\nassert 'altair' not in sys.modules\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
