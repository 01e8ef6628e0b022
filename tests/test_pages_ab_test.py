"""The A/B report's page (livekit.pages.ab_test): built on a sandbox kit, each section states the
analysis's numbers; the words, formats and the lift chart moved here from the analysis and the
charts (their unit tests with them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import altair as alt
import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

import livekit
from livekit.analysis import experiment as ex
from livekit.analysis.abtest import (
    MIN_UNITS_PER_ARM,
    adjust_pvalues,
    compare_means,
    compare_proportions,
    compare_sessions,
)
from livekit.analysis.bayes import bayesian_proportions
from livekit.charts.style import GOOD, NEUTRAL
from livekit.pages import Period, ab_test
from livekit.source import Kit
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import format_count, format_percent
from tests.helpers.experiments import FIRST, LAST, lifts, proportion_units, visits


def session_frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    ids = list(range(1, 13))
    rooms = pl.DataFrame(
        {
            "room_id": ids,
            "live_click_product_count_alias": [50 + 3 * i for i in ids],
            "total_live_watch_cnt": [1000 + 10 * (i % 4) for i in ids],
        }
    )
    analysis = pl.DataFrame(
        {
            "room_id": ids,
            "all_avg_live_watch_duration_seconds_td": [60.0 + i for i in ids],
            "all_live_watch_ucnt_td": [800 + i for i in ids],
        }
    )
    arms = ex.arms_frame({str(i): ("a " if i % 2 else "B") for i in [*ids[:10], 99]})
    return rooms, analysis, arms


class _Rows(HTMLParser):
    """The rows of an HTML table as lists of cell texts (the header row first)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: object) -> list[list[str]]:
    parser = _Rows()
    parser.feed(str(html))
    parser.close()
    return parser.rows


# ---- the page on the sandbox ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    """A sandbox kit in a home of its own (build fills what it reads, in a subprocess)."""
    return livekit.open("sandbox", home=tmp_path_factory.mktemp("page-abtest") / "home")


@pytest.fixture(scope="module")
def viewer_page(kit: Kit) -> ab_test.AbTestPage:
    # three days of the sandbox's viewer-randomized test (it runs 40 to 27 days ago)
    return ab_test.build(
        kit,
        experiment_start="40_days_ago",
        experiment_end="38_days_ago",
        metrics=["conversion", "click", "watch_seconds"],
    )


@pytest.fixture(scope="module")
def session_page(kit: Kit) -> ab_test.AbTestPage:
    # the first week of its switchback (24 to 11 days ago); the arms are the dataset the
    # sandbox publishes
    return ab_test.build(
        kit,
        experiment_start="24_days_ago",
        experiment_end="17_days_ago",
        unit="session",
        metrics=["click", "conversion", "gpm"],
        session_arms={},
    )


def _independent_viewer_rates(kit: Kit, page: ab_test.AbTestPage) -> dict[str, dict[str, float]]:
    """Per arm, the share of viewers (seen in one arm only) who paid / clicked: straight from
    the stored export, not through the analysis."""
    raw = kit.load("viewers", page.period.first, page.period.last).filter(
        pl.col("variant").is_not_null()
    )
    per_viewer = (
        raw.group_by("viewer_id")
        .agg(
            pl.col("variant").n_unique().alias("arms"),
            pl.col("variant").first().alias("arm"),
            pl.col("paid").fill_null(False).any().alias("conversion"),
            pl.col("clicked_product_id").is_not_null().any().alias("click"),
        )
        .filter(pl.col("arms") == 1)
    )
    by_arm = per_viewer.group_by("arm").agg(pl.col("conversion").mean(), pl.col("click").mean())
    return {
        row["arm"]: {"conversion": row["conversion"], "click": row["click"]}
        for row in by_arm.iter_rows(named=True)
    }


def test_viewer_page_states_the_numbers_of_its_data(
    kit: Kit, viewer_page: ab_test.AbTestPage
) -> None:
    page, report = viewer_page, viewer_page.report
    assert page.unit == "viewer"
    assert page.viewers is not None
    design = page.design().markdown
    assert f"实验期 **{page.period.first} 至 {page.period.last}**" in design
    assert f"访问 {format_count(page.viewers.visits)} 次" in design
    assert f"来自 {format_count(page.viewers.viewers)} 位观众" in design
    for name, m in report.metrics.items():
        assert f"- `{name}`：{m.label}" in design

    a, b = report.observed
    assert a + b == page.viewers.units.height
    split = page.split().markdown
    assert f"实际 A 组 {a:,} 个观众、B 组 {b:,} 个观众" in split
    assert f"p = {report.srm.p_value:.4f}" in split

    rates = _independent_viewer_rates(kit, page)
    differences = page.differences()
    [html] = [p for p in differences if not isinstance(p, str | alt.TopLevelMixin)]
    header, *rows = table_rows(html)
    assert header == [c.label for c in ab_test.RESULTS_TABLE.columns]
    by_label = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    conclusion = page.conclusion().markdown
    for name in ("conversion", "click"):
        label = report.metrics[name].label
        shown_a = format_percent(rates["A"][name], 2)
        shown_b = format_percent(rates["B"][name], 2)
        assert (by_label[label]["A 组"], by_label[label]["B 组"]) == (shown_a, shown_b)
        assert f"**{label}**：A 组 {shown_a}，B 组 {shown_b}" in conclusion
        lift = format_percent(rates["B"][name] / rates["A"][name] - 1, 1, signed=True)
        assert by_label[label]["相对提升"] == lift
        assert f"B 组相对 A 组 {lift}" in conclusion
        assert by_label[label]["结论"] == ab_test.verdict_text(report, name)
    assert conclusion.endswith(ab_test.summary_markdown(report))


def test_viewer_page_differences_chart_draws_the_verdicts(
    viewer_page: ab_test.AbTestPage,
) -> None:
    section = viewer_page.differences()
    [chart] = section.charts
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    [rows] = [v for v in spec["datasets"].values() if v and "verdict" in v[0]]
    report = viewer_page.report
    drawn = {r["label"]: r["verdict"] for r in rows}
    assert drawn == {report.metrics[n].label: v for n, v in report.verdicts.items()}
    assert "95% 置信区间" in section.markdown
    assert "Holm 校正" in section.markdown


def test_viewer_page_sample_size_plan(viewer_page: ab_test.AbTestPage) -> None:
    report = viewer_page.report
    assert report.plan_metric == "conversion"  # the first proportion metric
    assert report.plan is not None
    section = viewer_page.sample_size()
    c = report.comparisons["conversion"]
    assert f"{format_percent(c.mean_a, 2)} 为基线" in section.markdown
    [html] = [p for p in section if not isinstance(p, str)]
    header, *rows = table_rows(html)
    assert header == [c.label for c in ab_test.PLAN_TABLE.columns]
    have = min(c.n_a, c.n_b)
    assert len(rows) == report.plan.height
    for shown, row in zip(rows, report.plan.iter_rows(named=True), strict=True):
        need = row["needed_per_arm"]
        assert shown[0] == format_percent(row["lift"], 1, signed=True)
        assert shown[2:] == [f"{need:,}", f"{have:,}", "足够" if have >= need else "不够"]


def test_the_first_section_says_when_the_period_is_not_fully_synced(
    viewer_page: ab_test.AbTestPage,
) -> None:
    assert viewer_page.period.note is None  # the sandbox kit filled the period
    assert viewer_page.design().parts == (viewer_page.notes(),)
    note = "注意：10-01 至 10-03 的数据尚未同步完整，本报告相应部分为不完整数据。"
    coverage: Any = SimpleNamespace(note=note)  # what a live kit's Coverage says
    partial = replace(viewer_page, period=Period(FIRST, LAST, coverage))
    assert partial.design().parts[0] == note
    assert partial.design().markdown.startswith(note)


def test_session_page_reads_the_published_arms(kit: Kit, session_page: ab_test.AbTestPage) -> None:
    page, report = session_page, session_page.report
    published = kit.load("session_arms", page.period.first, page.period.last)
    rooms = kit.load("rooms", page.period.first, page.period.last)
    aired = published.join(rooms.select("room_id"), on="room_id", how="semi")
    assert page.arm_source == ab_test.PUBLISHED_ARMS
    design = page.design().markdown
    assert f"分组来自{ab_test.PUBLISHED_ARMS}：{published.height} 场有组别" in design
    assert f"其中 {aired.height} 场在实验期的直播数据中找到" in design
    a = aired.filter(pl.col("variant") == "A").height
    b = aired.filter(pl.col("variant") == "B").height
    assert report.observed == (a, b)
    assert f"实际 A 组 {a:,} 个场次、B 组 {b:,} 个场次" in page.split().markdown
    assert f"本次 A 组 {a} 场、B 组 {b} 场" in page.sample_size().markdown
    assert page.sample_size().parts == (page.sample_size().markdown,)  # no plan per session

    # the click rate per view of each arm, summed over its shows straight from the rooms
    arm_rooms = rooms.join(aired.select("room_id", "variant"), on="room_id")
    per_arm = arm_rooms.group_by("variant").agg(
        (
            pl.col("live_click_product_count_alias").sum() / pl.col("total_live_watch_cnt").sum()
        ).alias("rate")
    )
    rate = dict(zip(per_arm["variant"].to_list(), per_arm["rate"].to_list(), strict=True))
    conclusion = page.conclusion().markdown
    label = report.metrics["click"].label
    expected = (
        f"**{label}**：A 组 {format_percent(rate['A'], 2)}，B 组 {format_percent(rate['B'], 2)}"
    )
    assert expected in conclusion
    assert isinstance(page.differences().charts[0], alt.LayerChart)


def test_session_arms_given_as_a_parameter(kit: Kit, session_page: ab_test.AbTestPage) -> None:
    published = kit.load("session_arms", session_page.period.first, session_page.period.last)
    given: dict[str | int, str] = {
        str(r["room_id"]): str(r["variant"]) for r in published.iter_rows(named=True)
    }
    page = ab_test.build(
        kit,
        experiment_start=session_page.period.first,
        experiment_end=session_page.period.last,
        unit="session",
        metrics=["click", "conversion", "gpm"],
        session_arms=given,
    )
    assert page.arm_source == ab_test.PARAMETER_ARMS
    assert page.report.comparisons == session_page.report.comparisons


# ---- parameter mistakes: one Chinese line, before any data is read ------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": ["conversion", "nope"]}, "按观众分析时未知的指标：nope"),
        ({"unit": "room"}, "unit 只能是"),
        ({"correction": "bonferroni"}, "未知的多重比较校正方法"),
        ({"metrics": []}, "metrics 不能为空"),
        ({"unit": "session", "metrics": ["conversion_rate"]}, "按场次分析时未知的指标"),
        ({"engine": "bayes"}, "未知的分析引擎"),
        ({"sequential": "yes"}, "sequential 须为 true 或 false"),
        ({"sequential_tuning": -1}, "sequential_tuning"),
        ({"covariate": "pre"}, "covariate 只能是 none"),
        ({"pre_period_days": 0}, "pre_period_days 须为 1 到 365"),
        ({"pre_period_days": True}, "pre_period_days"),
        ({"engine": "bayesian", "sequential": True}, "贝叶斯引擎请用 sequential: false"),
        (
            {"unit": "session", "covariate": "pre_period"},
            "covariate: pre_period 只支持按观众随机.*请改用 covariate: none",
        ),
        ({"unit": "session", "metrics": ["click"], "sequential": True}, "sequential: false"),
        ({"unit": "session", "metrics": ["click"], "engine": "bayesian"}, "engine: frequentist"),
        ({"washout_minutes": 5}, "washout_minutes（换组后的洗脱期）只用于按场次轮换"),
        (
            {"unit": "session", "metrics": ["click", "follow_rate", "gmv"], "washout_minutes": 5},
            "follow_rate、gmv 无法这样计算；可用：click / watch_click_rate（观看-点击率）、",
        ),
        ({"unit": "session", "metrics": ["click"], "washout_minutes": -1}, "不能为负数"),
        ({"unit": "session", "metrics": ["click"], "washout_minutes": 2.5}, "必须是非负整数"),
        (
            {"unit": "session", "metrics": ["click"], "washout_minutes": 5, "sequential": True},
            "sequential: false",
        ),
    ],
)
def test_parameter_mistakes_read_nothing(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    kit = livekit.open("sandbox", home=tmp_path / "home")
    with pytest.raises(LivekitError, match=message) as info:
        ab_test.build(kit, **changes)
    assert "\n" not in str(info.value)
    assert list((tmp_path / "home").iterdir()) == []  # no sync was started


def test_a_live_session_test_needs_its_arms(tmp_path: Path) -> None:
    kit = livekit.open(home=tmp_path / "home")
    with pytest.raises(LivekitError, match="session_arms"):
        ab_test.build(kit, unit="session", metrics=["click"])


def test_a_live_viewer_test_without_variants(tmp_path: Path) -> None:
    kit = livekit.open(home=tmp_path / "home")
    with pytest.raises(LivekitError, match="没有 variant 列的分组数据"):
        ab_test.build(kit, experiment_start="2026-10-01", experiment_end="2026-10-03")


# ---- the words (moved from livekit.analysis.experiment) ---------------------------------------
def test_viewer_notes_hand_computed() -> None:
    frame = visits(
        [
            ("v1", "A", False, 11, 30, 0.0),
            ("v1", "A", True, None, 90, 25.5),
            ("v2", "B", False, None, 45, 0.0),
            ("v3", "A", False, None, 10, 0.0),
            ("v3", "B", True, 12, 20, 9.9),  # v3 in both arms: dropped
            ("v4", None, True, 13, 600, 99.0),  # outside the experiment
        ]
    )
    notes = ab_test.viewer_notes(ex.viewer_units(frame), FIRST, LAST, ["conversion"])
    assert "访问 5 次" in notes
    assert "来自 3 位观众" in notes
    assert "有 1 位观众同时出现在两组" in notes
    assert "- `conversion`：观众成交率" in notes


def test_viewer_notes_without_variant_raise() -> None:
    data = ex.viewer_units(visits([("v1", None, False, None, 30, 0.0)]))
    with pytest.raises(LivekitError, match="没有 variant 列的分组数据"):
        ab_test.viewer_notes(data, FIRST, LAST, ["conversion"])


def test_session_notes_and_text() -> None:
    rooms, analysis, arms = session_frames()
    units = ex.session_units(rooms, analysis, arms, ["click"])
    notes = ab_test.session_notes(arms, units, ab_test.PARAMETER_ARMS, FIRST, LAST, ["click"])
    assert "11 场有组别，其中 10 场在实验期的直播数据中找到（1 场不在这段日期内，未计入）" in notes
    assert "- `click` → 观看-点击率" in notes
    assert "刀切法（jackknife）" in notes
    report = ex.analyse_experiment(units, ["click"], unit="session")
    assert report.observed == (5, 5)
    assert f"每组只有 5 场（建议每组至少 {MIN_UNITS_PER_ARM} 场）" in ab_test.srm_markdown(report)
    assert "A 组 5 场、B 组 5 场" in ab_test.sample_size_markdown(report)
    assert ab_test.plan_table(report) is None


def test_choose_session_arms() -> None:
    fallback = pl.DataFrame({"room_id": ["7"], "variant": ["B"]})
    arms, where = ab_test.choose_session_arms({"5": "a"}, fallback)
    assert (arms.to_dicts(), where) == ([{"room_id": 5, "variant": "A"}], "参数 session_arms")
    arms, where = ab_test.choose_session_arms({}, fallback)
    assert (arms.to_dicts(), where) == ([{"room_id": 7, "variant": "B"}], "沙盒公布的实验排期")
    with pytest.raises(LivekitError, match="session_arms"):
        ab_test.choose_session_arms({}, None)


def test_verdict_words_and_summary() -> None:
    up = ex.analyse_experiment(proportion_units(10, 200, 40, 200), ["conversion"], unit="viewer")
    assert ab_test.verdict_text(up, "conversion") == "显著：B 组更高"
    assert ab_test.summary_markdown(up).startswith(
        "**B 方案在 观众成交率（有成交的观众占比） 上显著更高"
    )
    down = ex.analyse_experiment(proportion_units(40, 200, 10, 200), ["conversion"], unit="viewer")
    assert ab_test.verdict_text(down, "conversion") == "显著：B 组更低"
    assert "显著更低" in ab_test.summary_markdown(down)
    none = ex.analyse_experiment(proportion_units(20, 200, 21, 200), ["conversion"], unit="viewer")
    assert ab_test.verdict_text(none, "conversion") == "没有检测到差异"
    assert ab_test.summary_markdown(none).startswith("**没有指标出现显著差异**")
    srm = ex.analyse_experiment(proportion_units(10, 300, 40, 150), ["conversion"], unit="viewer")
    assert ab_test.summary_markdown(srm) == "**先解决分组比例问题，再看结果。**"
    assert "分组比例明显偏离计划（SRM）" in ab_test.srm_markdown(srm)
    units = proportion_units(0, 5, 0, 5).with_columns(watch_seconds=pl.lit(60.0))
    error = ex.analyse_experiment(units, ["watch_seconds"], unit="viewer")
    assert ab_test.verdict_text(error, "watch_seconds").startswith("无法判断：")
    assert "→ **无法判断：" in ab_test.conclusion_markdown(error)


def test_planned_split_in_words() -> None:
    report = ex.analyse_experiment(
        proportion_units(10, 300, 40, 150), ["conversion"], unit="viewer", planned_split=[2, 1]
    )
    text = ab_test.srm_markdown(report)
    assert "A:B = 67%:33%" in text
    assert "实际 A 组 300 个观众、B 组 150 个观众" in text
    assert "分组比例与计划一致" in text


def test_formatting() -> None:
    conv = ex.experiment_metric("conversion", "viewer")
    secs = ex.experiment_metric("watch_seconds", "viewer")
    rate = ex.experiment_metric("watch_click_rate", "session")
    uv = ex.experiment_metric("gmv_per_viewer", "session")
    assert ab_test.format_metric_value(conv, 0.12345) == "12.35%"
    assert ab_test.format_diff(conv, 0.0123) == "+1.23 个百分点"
    assert ab_test.format_diff(conv, -0.0123) == "-1.23 个百分点"
    assert ab_test.format_metric_value(secs, 1234.5) == "1,234.50秒"
    assert ab_test.format_diff(secs, -3.0) == "-3.00秒"
    per_viewer = ex.experiment_metric("gmv_per_viewer", "viewer")
    assert ab_test.format_metric_value(per_viewer, 25.5) == "¥25.50"  # money has one format
    assert ab_test.format_diff(per_viewer, 1.25) == "+¥1.25"
    assert ab_test.format_metric_value(rate, 0.035) == "3.50%"
    assert ab_test.format_diff(rate, 0.001) == "+0.10 个百分点"
    assert ab_test.format_metric_value(uv, 2.5) == "¥2.50"
    assert ab_test.format_diff(uv, 2.5) == "+¥2.50"
    assert ab_test.format_diff(uv, -2.5) == "-¥2.50"
    gpm = ex.experiment_metric("gpm", "session")  # yuan per thousand views: the one scale
    assert ab_test.format_metric_value(gpm, 0.8) == "¥800.00"
    for f in (ab_test.format_metric_value, ab_test.format_diff):
        assert f(conv, None) == "—"
        assert f(conv, float("nan")) == "—"
    assert ab_test.format_p(0.0004) == "< 0.001"
    assert ab_test.format_p(0.04213) == "0.042"
    assert ab_test.format_p(None) == "—"


def test_tables_and_text() -> None:
    units = proportion_units(10, 200, 40, 200)
    report = ex.analyse_experiment(units, ["conversion", "watch_seconds"], unit="viewer")
    cells = ab_test.results_cells(report)
    assert cells.columns == [c.name for c in ab_test.RESULTS_TABLE.columns]
    row = cells.row(0, named=True)
    assert (row["a"], row["b"]) == ("5.00%", "20.00%")
    assert row["diff"] == "+15.00 个百分点"
    assert row["lift"] == "+300.0%"
    assert row["verdict"] == "显著：B 组更高"
    direct = compare_proportions(10, 200, 40, 200)
    assert row["p_value"] == ab_test.format_p(direct.p_value)
    low, high = direct.diff_ci
    assert row["diff_range"] == f"{low * 100:+.2f} 个百分点 ~ {high * 100:+.2f} 个百分点"
    header, *rows = table_rows(ab_test.results_table(report))
    assert header[3] == "差值（B − A）"
    assert header[8] == "校正后 p 值"
    assert rows == [list(r) for r in cells.iter_rows()]
    text = ab_test.conclusion_markdown(report)
    assert (
        "- **观众成交率（有成交的观众占比）**：A 组 5.00%，B 组 20.00%，B 组相对 A 组 +300.0%"
        in text
    )
    assert "→ **显著：B 组更高**。这个差异不太可能是随机波动造成的。" in text
    assert text.endswith(ab_test.summary_markdown(report))
    assert "Holm 校正" in ab_test.method_note(report)
    assert "95% 置信区间" in ab_test.method_note(report)


def test_plan_table_and_text() -> None:
    report = ex.analyse_experiment(
        proportion_units(20, 200, 30, 200), ["watch_seconds", "click"], unit="viewer"
    )
    assert report.plan is not None
    header, *rows = table_rows(ab_test.plan_table(report))
    assert header == [c.label for c in ab_test.PLAN_TABLE.columns]
    assert header[:2] == ["可检测的相对提升", "B 组转化率"]
    assert [r[0] for r in rows] == ["+5.0%", "+10.0%", "+20.0%", "+50.0%"]  # 10% -> 15% seen
    assert rows[-1][1] == "15.00%"
    for shown, row in zip(rows, report.plan.iter_rows(named=True), strict=True):
        enough = "足够" if row["enough"] else "不够"
        assert shown[2:] == [f"{row['needed_per_arm']:,}", "200", enough]
    assert "10.00% 为基线" in ab_test.sample_size_markdown(report)
    # no computable size: the cells say so
    full = ex.analyse_experiment(proportion_units(20, 20, 19, 20), ["conversion"], unit="viewer")
    assert {r[2] for r in table_rows(ab_test.plan_table(full))[1:]} == {"—"}
    none = ex.analyse_experiment(proportion_units(1, 20, 2, 20), ["visits"], unit="viewer")
    assert ab_test.sample_size_markdown(none) == "所选指标中没有比例类指标，样本量估算从略。"
    assert ab_test.plan_table(none) is None


def test_tables_escape_their_text() -> None:
    report = ex.analyse_experiment(
        proportion_units(10, 200, 40, 200), ["conversion"], unit="viewer"
    )
    hostile = replace(
        report,
        metrics={
            n: replace(m, label="<script>alert(1)</script>|**x**")
            for n, m in report.metrics.items()
        },
    )
    html = str(ab_test.results_table(hostile))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ---- the lift chart (moved from livekit.charts.reports) ----------------------------------------
def _colours(chart: Any) -> dict[str, str]:
    """Each metric's colour in a lift chart, as the spec maps its data to the colour scale."""
    spec = chart.to_dict()
    [rows] = [v for v in spec["datasets"].values() if v and "verdict" in v[0]]
    colour = next(
        layer["encoding"]["color"] for layer in spec["layer"] if "color" in layer["encoding"]
    )
    scale = dict(zip(colour["scale"]["domain"], colour["scale"]["range"], strict=True))
    return {row["label"]: scale[row[colour["field"]]] for row in rows}


def _units(conv_b: int, n: int = 1000) -> pl.DataFrame:
    """Per-viewer units: 100 of ``n`` converted in A, ``conv_b`` in B; clicks and watch time
    alike in both arms."""
    return pl.DataFrame(
        {
            "viewer_id": [f"v{i}" for i in range(2 * n)],
            "arm": ["A"] * n + ["B"] * n,
            "converted": [i < 100 for i in range(n)] + [i < conv_b for i in range(n)],
            "clicked": [i < 200 for i in range(n)] * 2,
            "watch_seconds": [60.0 + (i % 7) for i in range(2 * n)],
            "gmv": [0.0] * (2 * n),
            "visits": [1] * (2 * n),
        }
    )


def test_lift_chart_colours_the_adjusted_verdict_not_the_raw_interval() -> None:
    # Three metrics; conversion 10.0% -> 13.4%: p = 0.018 alone, its interval excludes 0, but
    # Holm over three metrics adjusts p to 0.054: the analysis says "no difference".
    report = ex.analyse_experiment(
        _units(134), ["conversion", "click", "watch_seconds"], unit="viewer", correction="holm"
    )
    lifts = ex.results_frame(report)
    conversion = lifts.row(0, named=True)
    assert conversion["lift_low"] > 0  # the unadjusted interval alone would say "up"
    assert report.comparisons["conversion"].p_value < 0.05 < conversion["adjusted_p"]
    assert conversion["verdict"] == "none"
    chart = ab_test.lift_chart(lifts)
    colours = _colours(chart)
    assert colours[conversion["label"]] == NEUTRAL
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert GOOD not in svg  # nothing drawn as a significant gain
    assert "没有检测到差异" in svg
    assert "未做多重比较校正" in svg
    assert "95%" in svg
    assert "校正后不显著" in svg

    # with a larger gain the same path says "up", and the chart follows
    stronger = ex.results_frame(
        ex.analyse_experiment(_units(140), ["conversion", "click", "watch_seconds"], unit="viewer")
    )
    assert stronger["verdict"][0] == "up"
    drawn = ab_test.lift_chart(stronger)
    assert _colours(drawn)[stronger["label"][0]] == GOOD
    assert GOOD in vlc.vegalite_to_svg(drawn.to_json())


def test_lift_chart_needs_the_verdict() -> None:
    with pytest.raises(ValueError, match="verdict"):
        ab_test.lift_chart(lifts().drop("verdict"))
    with pytest.raises(ValueError, match="verdict"):
        ab_test.lift_chart(lifts().with_columns(pl.lit("显著").alias("verdict")))


def test_lift_chart_leaves_out_undefined_lifts_and_takes_a_title() -> None:
    chart = ab_test.lift_chart(lifts(nan=True), title="提升森林图", subtitle="自定义说明")
    assert set(_colours(chart)) == {"成交转化率", "人均观看时长"}
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert "提升森林图" in svg
    assert "自定义说明" in svg


def test_lift_legend_speaks_like_the_results_table() -> None:
    for code, text in ab_test.VERDICT_TEXT.items():
        assert ab_test.VERDICT_LEGEND[code][0] == text
    for code, text in ab_test.BAYES_VERDICT_TEXT.items():
        assert ab_test.BAYES_VERDICT_LEGEND[code][0] == text
    assert set(ab_test.BAYES_VERDICT_LEGEND) == set(ab_test.VERDICT_LEGEND)


def test_bayesian_words_hand_made() -> None:
    up = ex.analyse_experiment(
        proportion_units(10, 200, 40, 200), ["conversion"], unit="viewer", engine="bayesian"
    )
    assert ab_test.verdict_text(up, "conversion") == "B 组更好（胜出概率 ≥ 95%）"
    assert ab_test.summary_markdown(up).startswith("**B 方案在 观众成交率")
    none = ex.analyse_experiment(
        proportion_units(20, 200, 21, 200), ["conversion"], unit="viewer", engine="bayesian"
    )
    assert ab_test.verdict_text(none, "conversion") == "还不能确定哪组更好"
    assert ab_test.summary_markdown(none).startswith("**还没有指标分出胜负**")
    error = ex.analyse_experiment(
        proportion_units(0, 5, 0, 5), ["conversion"], unit="viewer", engine="bayesian"
    )
    assert ab_test.verdict_text(error, "conversion").startswith(
        "无法判断：对照组（A 组）的均值为 0"
    )
    cells = ab_test.results_cells(up)
    assert cells.columns == [c.name for c in ab_test.BAYES_RESULTS_TABLE.columns]
    assert "→ **B 组更好（胜出概率 ≥ 95%）**" in ab_test.conclusion_markdown(up)


# ---- engines, sequential and CUPED on the sandbox ------------------------------------------------
def _table(section: Any) -> tuple[list[str], dict[str, dict[str, str]]]:
    [html] = [p for p in section if not isinstance(p, str | alt.TopLevelMixin)]
    header, *rows = table_rows(html)
    return header, {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def _arm(units: pl.DataFrame, arm: str, column: str) -> pl.Series:
    return units.filter(pl.col("arm") == arm).get_column(column).cast(pl.Float64)


@pytest.fixture(scope="module")
def bayes_page(kit: Kit, viewer_page: ab_test.AbTestPage) -> ab_test.AbTestPage:
    return ab_test.build(
        kit,
        experiment_start=viewer_page.period.first,
        experiment_end=viewer_page.period.last,
        metrics=["conversion", "click", "watch_seconds"],
        engine="bayesian",
    )


def test_bayesian_page_shows_chance_to_win_and_risks(bayes_page: ab_test.AbTestPage) -> None:
    report = bayes_page.report
    assert bayes_page.viewers is not None
    units = bayes_page.viewers.units
    a, b = _arm(units, "A", "converted"), _arm(units, "B", "converted")
    direct = bayesian_proportions(int(a.sum()), a.len(), int(b.sum()), b.len())
    assert report.bayes["conversion"] == direct
    section = bayes_page.differences()
    header, rows = _table(section)
    assert header == [c.label for c in ab_test.BAYES_RESULTS_TABLE.columns]
    assert "p 值" not in header
    row = rows[report.metrics["conversion"].label]
    assert row["B 胜出的概率"] == format_percent(direct.chance_to_win, 1)
    assert row["选 A 的风险"] == format_percent(direct.risk_a, 2)
    assert row["选 B 的风险"] == format_percent(direct.risk_b, 2)
    low, high = (format_percent(x, 1, signed=True) for x in direct.lift_ci)
    assert row["可信区间"] == f"{low} ~ {high}"
    assert row["结论"] == ab_test.BAYES_VERDICT_TEXT[report.verdicts["conversion"]]
    text = section.markdown
    for words in (
        "B 胜出的概率",
        "选 B 的风险 / 选 A 的风险",
        "选错时平均损失的相对提升",
        "可信区间",
    ):
        assert words in text
    assert "多重比较" in text  # says that no correction is made
    [chart] = section.charts
    spec = chart.to_dict()
    legend = {t for t, _ in ab_test.BAYES_VERDICT_LEGEND.values()}
    [data] = [v for v in spec["datasets"].values() if v and "verdict" in v[0]]
    assert {r["conclusion"] for r in data} <= legend
    assert "可信区间" in spec["title"]["subtitle"]
    conclusion = bayes_page.conclusion().markdown
    assert f"B 胜出的概率 {format_percent(direct.chance_to_win, 1)}" in conclusion
    assert f"选 B 的风险 {format_percent(direct.risk_b, 2)}" in conclusion


def test_sequential_page_says_the_interval_is_always_valid(
    kit: Kit, viewer_page: ab_test.AbTestPage
) -> None:
    page = ab_test.build(
        kit,
        experiment_start=viewer_page.period.first,
        experiment_end=viewer_page.period.last,
        metrics=["conversion", "click", "watch_seconds"],
        sequential=True,
        sequential_tuning=8000,
    )
    assert page.viewers is not None
    units = page.viewers.units
    a, b = _arm(units, "A", "converted"), _arm(units, "B", "converted")
    direct = compare_proportions(
        int(a.sum()), a.len(), int(b.sum()), b.len(), sequential=True, sequential_tuning=8000
    )
    assert page.report.comparisons["conversion"] == direct
    text = page.differences().markdown
    assert "“始终有效”" in text
    assert "每天看也不会增加误判" in text
    assert "代价是区间更宽" in text
    assert "N* = 8,000" in text
    header, _ = _table(page.differences())
    assert header == [c.label for c in ab_test.RESULTS_TABLE.columns]
    for name in ("conversion", "click", "watch_seconds"):
        fixed = viewer_page.report.comparisons[name].lift_ci
        always = page.report.comparisons[name].lift_ci
        assert always[1] - always[0] > fixed[1] - fixed[0]  # the price of peeking safely
    assert "始终有效区间" in page.conclusion().markdown


@pytest.fixture(scope="module")
def cuped_page(kit: Kit, viewer_page: ab_test.AbTestPage) -> ab_test.AbTestPage:
    # a week of pre-period keeps the sync short
    return ab_test.build(
        kit,
        experiment_start=viewer_page.period.first,
        experiment_end=viewer_page.period.last,
        metrics=["conversion", "watch_seconds"],
        covariate="pre_period",
        pre_period_days=7,
    )


def test_cuped_page_reads_the_pre_period_and_says_what_it_gained(
    kit: Kit, cuped_page: ab_test.AbTestPage, viewer_page: ab_test.AbTestPage
) -> None:
    page, report = cuped_page, cuped_page.report
    pre = page.pre_period
    assert pre is not None
    assert (pre.first, pre.last) == (
        page.period.first - timedelta(days=7),
        page.period.first - timedelta(days=1),
    )
    assert pre.note is None  # the sandbox kit synced those days too
    # the covariate straight from the stored export: each viewer's watch seconds before
    raw = kit.load("viewers", pre.first, pre.last)
    before = raw.group_by("viewer_id").agg(
        (pl.col("leave_time") - pl.col("enter_time")).dt.total_seconds().sum().alias("pre")
    )
    assert page.viewers is not None
    units = page.viewers.units.join(before, on="viewer_id", how="left").with_columns(
        pl.col("pre").fill_null(0).cast(pl.Float64)
    )
    seen = units.filter(pl.col("viewer_id").is_in(raw["viewer_id"].implode())).height
    assert page.pre_seen == seen
    design = page.design().markdown
    assert f"**{pre.first} 至 {pre.last}**（实验开始前 7 天）" in design
    assert f"中有 {format_count(seen)} 位" in design
    direct = compare_means(
        _arm(units, "A", "watch_seconds"),
        _arm(units, "B", "watch_seconds"),
        covariate_a=_arm(units, "A", "pre"),
        covariate_b=_arm(units, "B", "pre"),
    )
    c = report.comparisons["watch_seconds"]
    assert c.theta == pytest.approx(direct.theta, rel=1e-9)
    assert c.lift_ci == pytest.approx(direct.lift_ci, rel=1e-9)
    vr = c.variance_reduction
    assert vr > 0
    plain = viewer_page.report.comparisons["watch_seconds"].lift_ci
    assert c.lift_ci[1] - c.lift_ci[0] < plain[1] - plain[0]
    text = page.differences().markdown
    label = report.metrics["watch_seconds"].label
    assert (
        f"{label}：用实验前 7 天同一指标做了回归调整，方差减少 {format_percent(vr, 1)}，"
        f"相当于多了 {format_percent(vr / (1 - vr), 1)} 的样本" in text
    )
    header, rows = _table(page.differences())
    assert "方差减少（CUPED）" in header
    assert rows[label]["方差减少（CUPED）"] == format_percent(vr, 1)
    frame = page.results
    assert frame.filter(pl.col("metric") == "watch_seconds")["theta"][0] == c.theta


def test_pre_period_notes_say_when_days_are_missing() -> None:
    note = "注意：09-01 至 09-03 的数据尚未同步完整，本报告相应部分为不完整数据。"
    coverage: Any = SimpleNamespace(note=note)
    text = ab_test.pre_period_notes(Period(FIRST, LAST, coverage), 30, (60, 40))
    assert "实验开始前 14 天" in text
    assert "100 位观众中有 30 位（30.0%）" in text
    assert f"⚠️ 实验前数据不完整：{note}" in text
    assert "不影响结论的正确性" in text


def test_a_live_kit_without_pre_period_viewers(
    tmp_path: Path, kit: Kit, viewer_page: ab_test.AbTestPage
) -> None:
    """Live data with the experiment's viewers but nothing before it: one Chinese line."""
    from livekit.viewers import VIEWERS_SCHEMA, import_viewers_frame

    live = livekit.open(home=tmp_path / "home")
    day = viewer_page.period.first  # synced by the fixture
    first = kit.load("viewers", day, day).select(list(VIEWERS_SCHEMA))
    assert first.height
    import_viewers_frame(live.store, first, meta={"fetched_at": "2026-01-01T00:00:00+08:00"})
    plain = ab_test.build(live, experiment_start=day, experiment_end=day)
    assert plain.report.observed[0] > 0  # the experiment itself is there
    with pytest.raises(LivekitError, match=r"实验开始前 28 天.*没有观众明细") as info:
        ab_test.build(
            live,
            experiment_start=day,
            experiment_end=day,
            covariate="pre_period",
        )
    message = str(info.value)
    assert "\n" not in message
    assert "livekit import viewers" in message
    assert "covariate 设为 none" in message


# ---- switchback refinements: the washout and the carryover check ---------------------------------
@pytest.fixture(scope="module")
def washed_page(kit: Kit, session_page: ab_test.AbTestPage) -> ab_test.AbTestPage:
    # the same week of the switchback as session_page, with a 10-minute washout
    return ab_test.build(
        kit,
        experiment_start=session_page.period.first,
        experiment_end=session_page.period.last,
        unit="session",
        metrics=["click", "conversion", "gpm"],
        washout_minutes=10,
    )


def _switchback(kit: Kit, page: ab_test.AbTestPage) -> tuple[pl.DataFrame, ...]:
    """The stored viewer export, rooms, room analysis and published arms of the page's days."""
    first, last = page.period.first, page.period.last
    arms = kit.load("session_arms", first, last)
    return (
        kit.load("viewers", first, last),
        kit.load("rooms", first, last),
        kit.load("room_analysis", first, last),
        arms.select(pl.col("room_id").cast(pl.Int64), "variant"),
    )


def test_a_washout_compares_the_washed_visits(
    kit: Kit, session_page: ab_test.AbTestPage, washed_page: ab_test.AbTestPage
) -> None:
    viewers, rooms, _, arms = _switchback(kit, washed_page)
    every = ex.session_visits(viewers, rooms, arms)
    kept = ex.session_visits(viewers, rooms, arms, washout_minutes=10)
    assert 0 < kept.height < every.height  # the washout reads fewer visits
    washout = washed_page.washout
    assert washout is not None
    assert session_page.washout is None
    switched = every.unique("room_id").filter(pl.col("switched")).height
    assert (washout.minutes, washout.switched) == (10, switched)
    assert (washout.visits, washout.kept) == (every.height, kept.height)
    design = washed_page.design().markdown
    assert f"共去掉 {format_count(every.height - kept.height)} 次访问" in design
    assert f"本次 {switched} 场直播紧跟着换组" in design
    assert "- `click` → 观看-点击率：点击过商品的访问 / 访问次数" in design
    assert "已去掉换组后前 10 分钟的访问" in washed_page.differences().markdown

    # each metric is compare_sessions over the washed visits, called here directly
    numerators = {
        "click": pl.col("clicked_product_id").is_not_null(),
        "conversion": pl.col("paid"),
        "gpm": pl.col("pay_amount"),
    }
    report = washed_page.report
    direct = {
        n: compare_sessions(kept, numerator=e, unit="room_id", variant="arm", method="jackknife")
        for n, e in numerators.items()
    }
    for n, c in direct.items():
        assert repr(report.comparisons[n]) == repr(c)  # every field, nan-safe
        assert report.comparisons[n].lift != session_page.report.comparisons[n].lift
    holm = adjust_pvalues([c.p_value for c in direct.values()], "holm")
    assert [report.adjusted[n] for n in direct] == pytest.approx(holm, rel=1e-12)
    click = report.comparisons["click"]
    lift = format_percent(click.lift, 1, signed=True)
    assert f"B 组相对 A 组 {lift}" in washed_page.conclusion().markdown
    # the split is the shows', as without a washout
    assert report.observed == session_page.report.observed
    assert report.srm == session_page.report.srm


def test_visit_metrics_count_what_the_room_totals_count(
    kit: Kit, session_page: ab_test.AbTestPage
) -> None:
    """Without a washout, every metric counted from the visits is the room metric itself: the
    sandbox's room totals are sums over the same visits (watch time and one-minute stays up to
    the export's whole seconds and the T+1 report's rounded averages)."""
    viewers, rooms, analysis, arms = _switchback(kit, session_page)
    every = ex.session_visits(viewers, rooms, arms)
    names = [ex.SESSION_ALIASES.get(n, n) for n in ab_test.VISIT_METRICS]
    units = ex.session_units(rooms, analysis, arms, names)
    from_rooms = ex.analyse_experiment(units, names, unit="session").comparisons
    from_visits = ab_test.visit_comparisons(every, ex.resolve_metrics(names, "session"), alpha=0.05)
    rounded = {"avg_watch_seconds": 1e-3, "one_minute_rate": 1e-2}
    for n in names:
        rel = rounded.get(n, 1e-9)
        a, b = from_visits[n], from_rooms[n]
        assert (a.n_a, a.n_b) == (b.n_a, b.n_b)
        assert (a.mean_a, a.mean_b) == pytest.approx((b.mean_a, b.mean_b), rel=rel), n
        if n not in rounded:
            assert (a.lift, a.p_value) == pytest.approx((b.lift, b.p_value), rel=1e-9), n


def test_session_page_checks_carryover_per_metric(
    session_page: ab_test.AbTestPage, viewer_page: ab_test.AbTestPage
) -> None:
    per_show = {
        "click": pl.col("live_click_product_count_alias") / pl.col("total_live_watch_cnt"),
        "conversion": pl.col("live_pay_order_count_alias") / pl.col("total_live_watch_cnt"),
        "gpm": pl.col("live_pay_order_gmv_alias") / pl.col("total_live_watch_cnt"),
    }
    assert session_page.sessions is not None
    split = session_page.split().markdown
    assert "**残留效应检查（carryover）**" in split
    for n, y in per_show.items():
        c = ex.carryover(session_page.sessions, y)
        assert session_page.carryover[n] == c
        m = session_page.report.metrics[n]
        low, high = (ab_test.format_diff(m, v) for v in c.ci)
        line = (
            f"{m.label}：上一场是 B 组比上一场是 A 组，本场平均相差 {ab_test.format_diff(m, c.coef)}"
            f"（95% 区间 {low} ~ {high}，p = {ab_test.format_p(c.p_value)}，{c.n} 场）"
        )
        assert line in split
        assert (f"- ⚠️ {line}：**上一场的组别能预测本场的结果**" in split) == c.warning
    assert "残留效应" not in viewer_page.split().markdown
    assert viewer_page.carryover == {}


def _shows_with_carryover(carry: float, n: int = 24) -> pl.DataFrame:
    """Session units of one account whose click rate carries ``carry`` from a B show before."""
    rng = np.random.default_rng(7)
    arm = ["AB"[int(i)] for i in rng.integers(0, 2, n)]
    prev = [0.0, *[float(a == "B") for a in arm[:-1]]]
    rate = [
        0.05 + 0.01 * (a == "B") + carry * p + rng.normal(0, 0.002)
        for a, p in zip(arm, prev, strict=True)
    ]
    watch = 10_000
    return pl.DataFrame(
        {
            "room_id": list(range(1, n + 1)),
            "aweme_id": [1] * n,
            "start_time": [datetime(2026, 10, 1, 20) + timedelta(days=i) for i in range(n)],
            "arm": arm,
            "live_click_product_count_alias": [round(r * watch) for r in rate],
            "total_live_watch_cnt": [watch] * n,
        }
    )


def test_carryover_words() -> None:
    metrics = ex.resolve_metrics(["click"], "session")
    planted = ab_test.carryover_checks(_shows_with_carryover(0.01), metrics)
    c = planted["click"]
    assert isinstance(c, ex.Carryover)
    assert c.warning
    assert c.ci[0] < 0.01 < c.ci[1]
    text = ab_test.carryover_markdown(planted, metrics)
    assert (
        f"- ⚠️ 观看-点击率：上一场是 B 组比上一场是 A 组，本场平均相差 {ab_test.format_diff(metrics['click'], c.coef)}"
        in text
    )
    assert "建议设置洗脱期（washout_minutes" in text
    assert "或加长每场直播" in text
    washed = ab_test.carryover_markdown(planted, metrics, washout_minutes=10)
    assert "本报告已去掉换组后前 10 分钟的访问" in washed
    assert "（按整场数据检查，未去掉洗脱期）" in washed
    caveat = ab_test.carryover_caveat(planted, metrics)
    assert caveat is not None
    assert "观看-点击率 有残留效应" in caveat

    clean = ab_test.carryover_checks(_shows_with_carryover(0.0), metrics)
    assert isinstance(clean["click"], ex.Carryover)
    assert not clean["click"].warning
    text = ab_test.carryover_markdown(clean, metrics)
    assert "：没有发现残留效应。" in text
    assert "⚠️" not in text
    assert ab_test.carryover_caveat(clean, metrics) is None

    few = ab_test.carryover_checks(_shows_with_carryover(0.0, n=4), metrics)
    assert isinstance(few["click"], str)
    assert "至少 5 场" in few["click"]
    assert f"- 观看-点击率：无法检查：{few['click']}" in ab_test.carryover_markdown(few, metrics)


def test_a_washout_without_visits_of_the_shows(kit: Kit, session_page: ab_test.AbTestPage) -> None:
    """A live store whose viewer export misses the test's days: one Chinese line."""
    _, rooms, _, arms = _switchback(kit, session_page)
    empty = SimpleNamespace(load=lambda name, first, last: kit.load("viewers", first, last).clear())
    with pytest.raises(LivekitError, match=r"观众明细里没有访问记录.*washout_minutes 设为 0"):
        ab_test._washed(empty, session_page.period, rooms, arms, session_page.report, 10)  # type: ignore[arg-type]
