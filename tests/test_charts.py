"""The chart builders: valid Vega-Lite, offline SVG with the Chinese titles, the CJK theme."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc
import yaml

from livekit import charts
from livekit.charts import _frames
from livekit.charts.style import LABEL_EMS
from livekit.pages import ab_test, dwell_time
from livekit.pages import funnel as funnel_page
from tests.helpers.experiments import lifts
from tests.helpers.markup import INVISIBLE
from tests.helpers.markup import parse_html as parse

CJK_FONTS = {"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei"}


@pytest.fixture(autouse=True)
def _theme() -> None:
    charts.setup()


def _funnel() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "stage": ["impressions", "entered", "product_exposed", "clicked", "paid"],
            "label": ["直播间曝光", "进入直播间", "商品曝光", "商品点击", "成交"],
            "count": [100_000.0, 25_000.0, 15_000.0, 2_500.0, 600.0],
            "step_rate": [None, 0.25, 0.6, 0.1667, 0.24],
            "cumulative_rate": [1.0, 0.25, 0.15, 0.025, 0.006],
            "drop_off": [None, 0.75, 0.4, 0.8333, 0.76],
            "ci_low": [None, 0.247, 0.59, 0.16, 0.22],
            "ci_high": [None, 0.253, 0.61, 0.17, 0.26],
            "flag": [False] * 5,
        }
    )


def _change() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "stage": ["impressions", "entered", "product_exposed", "clicked", "paid"],
            "label": ["直播间曝光", "进入直播间", "商品曝光", "商品点击", "成交"],
            "before": [90_000.0, 24_000.0, 14_000.0, 2_600.0, 620.0],
            "after": [100_000.0, 25_000.0, 15_000.0, 2_500.0, 600.0],
            "log_change": [0.105, -0.064, 0.028, -0.108, 0.006],
            "share": [-3.2, 1.9, -0.8, 3.3, -0.2],
        }
    )


def _days() -> pl.DataFrame:
    first = date(2026, 11, 20)
    return pl.DataFrame(
        {
            "date": [first + timedelta(days=i) for i in range(7)] * 2,
            "gmv": [50_000.0 + 1_000 * i for i in range(14)],
            "account": ["主号"] * 7 + ["小号"] * 7,
        }
    )


def _km(groups: int = 1) -> pl.DataFrame:
    frames = []
    for g in range(groups):
        t = pl.Series("time", [float(s) for s in range(0, 5400, 1)])
        surv = (-t / (300.0 * (g + 1))).exp()
        frames.append(
            pl.DataFrame(
                {
                    "time": t,
                    "at_risk": pl.Series([1000] * t.len()),
                    "events": pl.Series([1] * t.len()),
                    "survival": surv,
                    "ci_low": surv * 0.95,
                    "ci_high": (surv * 1.05).clip(0.0, 1.0),
                    "source": [f"来源{g}"] * t.len(),
                }
            )
        )
    return pl.concat(frames)


def _rooms() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "label": ["11-20 晚场", "11-21 早场", "11-21 晚场"],
            "roas": [2.6, 1.8, None],
            "net_roas": [2.4, 1.6, None],
            "roas_7d": [3.0, 2.0, None],
        }
    )


CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "funnel": (lambda: funnel_page.funnel_chart(_funnel()), "直播间转化漏斗"),
    "funnel_change": (lambda: funnel_page.funnel_change_chart(_change()), "成交变化拆解"),
    "trend": (
        lambda: charts.trend_chart(
            _days(), "date", "gmv", "account", title="每日成交金额", y_title="成交金额（元）"
        ),
        "每日成交金额",
    ),
    "trend_single": (
        lambda: charts.trend_chart(_days().head(7), "date", "gmv", title="主号成交走势"),
        "主号成交走势",
    ),
    "bar": (
        lambda: charts.bar_chart(
            _rooms().drop_nulls(),
            "label",
            "roas",
            title="各场支付ROI",
            reference=2.22,
            reference_label="保本",
        ),
        "各场支付ROI",
    ),
    "bar_days": (
        lambda: charts.bar_chart(_days(), "date", "gmv", "account", title="按天堆叠成交"),
        "按天堆叠成交",
    ),
    "survival": (lambda: charts.survival_chart(_km()), "观众留存曲线"),
    "survival_groups": (
        lambda: charts.survival_chart(_km(2), "source", color_title="流量来源", max_minutes=30),
        "观众留存曲线",
    ),
    "lift": (lambda: ab_test.lift_chart(lifts()), "实验组相对对照组的提升"),
    "rate": (
        lambda: charts.rate_chart(
            pl.DataFrame(
                {
                    "bucket": ["<1分钟", "1-3分钟", ">3分钟"],
                    "rate": [0.01, 0.02, 0.04],
                    "ci_low": [0.008, 0.017, 0.035],
                    "ci_high": [0.012, 0.023, 0.045],
                }
            ),
            "bucket",
            "rate",
            title="不同停留时长的转化率",
            reference=0.02,
            reference_label="整体",
        ),
        "不同停留时长的转化率",
    ),
    "metric_days": (
        lambda: charts.metric_chart(_days().head(7), "date", "gmv", title="成交金额按天"),
        "成交金额按天",
    ),
    "product_rank": (
        lambda: dwell_time.product_rank_chart(
            pl.DataFrame(
                {
                    "rank": [1, 2, None],
                    "title": [
                        "保温杯",
                        "一个名字非常非常长、长到超出坐标轴标签宽度的商品标题",
                        "样品",
                    ],
                    "rate": [0.25, 0.2, 0.75],
                    "ci_low": [0.18, 0.16, 0.4],
                    "ci_high": [0.33, 0.24, 0.93],
                }
            )
        ),
        "商品点击后成交率排名",
    ),
    "metric_names": (
        lambda: charts.metric_chart(
            _days().group_by("account").agg(pl.col("gmv").sum()),
            "account",
            "gmv",
            title="成交金额按账号",
        ),
        "成交金额按账号",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_chart_renders_offline_svg_with_chinese_title(name: str) -> None:
    build, title = CASES[name]
    chart = build()
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert svg.lstrip().startswith("<svg")
    assert title in svg
    assert "Noto Sans CJK SC" in svg  # the theme's font reached the text marks
    assert "<path" in svg or "<rect" in svg  # marks were drawn


def test_long_labels_are_clipped_before_rendering() -> None:
    config = charts.theme()["config"]
    assert config["axis"]["labelLimit"] == 0  # Vega does not measure labels to truncate them
    assert config["legend"]["labelLimit"] == 0
    long = "一个名字非常非常长、长到超出坐标轴标签宽度的商品标题"
    twin = "另一个名字也非常长、长到超出坐标轴标签宽度的商品标题"
    frame = pl.DataFrame({"k": [long, twin, twin + "乙", "短名"], "v": [1.0, 2.0, 3.0, 4.0]})
    clipped = _frames.clip_labels(frame, "k")["k"].to_list()
    assert clipped[3] == "短名"
    assert clipped[0] == long[:19] + "…"
    assert _frames.ems(clipped[0]) <= LABEL_EMS
    # the two twins would clip to the same text: they stay whole rather than merge
    assert clipped[1:3] == [twin, twin + "乙"]
    ascii_label = "11-21 20:36 " + "a" * 40
    assert _frames.ems(_frames.clip(ascii_label)) <= LABEL_EMS
    assert _frames.clip(ascii_label).startswith("11-21 20:36 aaaa")
    svg = vlc.vegalite_to_svg(CASES["product_rank"][0]().to_json())
    assert _frames.clip(f"2. {long}") in svg
    assert "1. 保温杯" in svg
    assert "样品" not in svg  # not ranked: too few clicks
    assert (
        dwell_time.product_rank_chart(
            pl.DataFrame(
                schema=dict.fromkeys(["rank", "title", "rate", "ci_low", "ci_high"], pl.Float64)
            )
        )
        is None
    )


def test_chart_data_is_inline_and_small() -> None:
    chart = charts.survival_chart(_km(2), "source")
    spec = chart.to_dict()
    rows = sum(len(v) for v in spec.get("datasets", {}).values())
    assert 0 < rows <= 4 * charts.MAX_POINTS + 10  # 10,800 input rows thinned
    assert "url" not in json.dumps(spec.get("data", {}))


def test_theme_font_list_starts_with_cjk() -> None:
    assert charts.FONTS[0] in CJK_FONTS
    assert charts.FONTS[-1] == "sans-serif"
    config = charts.theme()["config"]
    first = config["font"].split(",")[0].strip().strip('"')
    assert first in CJK_FONTS
    assert config["title"]["font"] == config["font"]
    assert config["locale"]["number"]["currency"] == ["¥", ""]


def test_setup_enables_theme_and_svg_renderer() -> None:
    charts.setup()
    assert alt.theme.active == charts.THEME_NAME
    assert alt.renderers.active == "svg"
    bundle = charts.bar_chart(_rooms().drop_nulls(), "label", "roas", title="渲染测试")
    rendered = bundle._repr_mimebundle_()
    data = rendered[0] if isinstance(rendered, tuple) else rendered
    assert set(data) == {"image/svg+xml"}
    assert "渲染测试" in data["image/svg+xml"]


def test_chinese_axis_numbers() -> None:
    chart = charts.bar_chart(
        pl.DataFrame({"k": ["甲", "乙"], "v": [120_000.0, 35_000.0]}), "k", "v", title="万"
    )
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert "10万" in svg  # the axis shows 万, not 100,000


def test_missing_columns_are_reported() -> None:
    with pytest.raises(ValueError, match="step_rate"):
        funnel_page.funnel_chart(pl.DataFrame({"label": ["a"], "count": [1]}))


def test_only_the_chart_modules_import_altair() -> None:
    """``import livekit.charts`` (and its tables and theme) loads no altair; among all of
    livekit only the chart-drawing modules of the package do."""
    drawing = {"builders", "render", "_marks"}
    code = (
        "import importlib, pkgutil, sys\n"
        "import livekit, livekit.charts as charts\n"
        "charts.table, charts.Column, charts.theme\n"
        "assert 'altair' not in sys.modules and 'vl_convert' not in sys.modules\n"
        "for m in pkgutil.walk_packages(livekit.__path__, 'livekit.'):\n"
        f"    if m.name.rpartition('.')[2] in {drawing!r} or m.name.endswith('__main__'):\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
        "    if 'altair' in sys.modules:\n"
        "        raise SystemExit('altair imported by ' + m.name)\n"
        "charts.bar_chart\n"
        "assert 'altair' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_names_resolve() -> None:
    for name in charts.__all__:
        assert getattr(charts, name) is not None, name
    assert set(charts.__all__) == set(charts._HOMES)
    with pytest.raises(AttributeError):
        _ = charts.DIMENSION_LABELS  # labels live in livekit.vocab.labels


# Keywords that used to name the same idea differently from builder to builder.
RETIRED_KEYWORDS = {
    "category",
    "value",
    "rate",
    "dimension",
    "group",
    "label",
    "metric",
    "value_title",
    "rate_title",
    "count_title",
    "category_title",
    "dimension_title",
    "group_title",
    "label_title",
    "value_format",
    "rule",
    "rule_label",
    "breakeven",
    "overall",
}
# The generic builders, and every chart made for one report (it lives on that report's page).
BUILDERS = [
    "charts:bar_chart",
    "charts:trend_chart",
    "charts:metric_chart",
    "charts:rate_chart",
    "charts:survival_chart",
    "charts:heat_map",
    "charts:china_map",
    "charts.forecast:forecast_chart",
    "pages.funnel:funnel_chart",
    "pages.funnel:funnel_change_chart",
    "pages.ab_test:lift_chart",
    "pages.ab_plan:mde_chart",
    "pages.ab_status:evenings_chart",
    "pages.roi:roi_chart",
    "pages.roi:roi_trend_chart",
    "pages.roi:repurchase_chart",
    "pages.dwell_time:dwell_conversion_chart",
    "pages.dwell_time:product_rank_chart",
    "pages.live_review:live_review_chart",
]


@pytest.mark.parametrize("name", BUILDERS)
def test_builders_speak_one_vocabulary(name: str) -> None:
    import importlib
    import inspect
    import typing

    module, _, attr = name.partition(":")
    builder = getattr(importlib.import_module(f"livekit.{module}"), attr)
    params = set(inspect.signature(builder).parameters)
    assert not params & RETIRED_KEYWORDS, f"{name}: {sorted(params & RETIRED_KEYWORDS)}"
    if "reference" in params:
        assert "reference_label" in params
    if "title" in params:
        assert "subtitle" in params
    # pages import altair only when they draw (under TYPE_CHECKING for their hints)
    returns = typing.get_type_hints(builder, localns={"alt": alt})["return"]
    kinds = set(typing.get_args(returns)) or {returns}
    kinds.discard(type(None))
    assert kinds, returns
    assert kinds <= {alt.Chart, alt.LayerChart, alt.HConcatChart}, returns


def test_grouped_bars_and_change_labels() -> None:
    change = _change()
    assert funnel_page.change_labels(change) == [
        "直播间曝光",
        "直播间曝光→进入直播间",
        "进入直播间→商品曝光",
        "商品曝光→商品点击",
        "商品点击→成交",
    ]
    rates = _funnel().filter(pl.col("step_rate").is_not_null())
    both = pl.concat([rates.with_columns(pl.lit(a).alias("账号")) for a in ("主号", "小号")])
    chart = charts.bar_chart(
        both, "label", "step_rate", "账号", title="分账号转化率", grouped=True, y_format=".1%"
    )
    spec = chart.to_dict()
    assert "yOffset" in json.dumps(spec)
    assert "分账号转化率" in vlc.vegalite_to_svg(chart.to_json())


def test_table_html() -> None:
    frame = pl.DataFrame(
        {
            "date": [date(2026, 11, 20), date(2026, 11, 21)],
            "room_id": [7704121983748191672, 7704188727557070776],
            "gmv": [12_345.6, None],
            "roas": [2.5, 1.2],
            "name": ["<b>直播</b>", "晚场"],
        }
    )
    html = str(
        charts.table(
            frame,
            {
                "date": "日期",
                "room_id": "直播间 ID",
                "gmv": "成交金额",
                "roas": "ROI",
                "name": "名称",
            },
            {"gmv": "yuan", "roas": "{:.2f}"},
            caption="明细",
        )
    )
    for text in ("<th", "日期", "明细", "¥12,345.60", "—", "2.50"):
        assert text in html
    assert "7704121983748191672" in html  # ids are not grouped with commas
    assert "&lt;b&gt;" in html  # text is escaped
    assert charts.table(frame)._repr_html_().count("<tr>") == 3
    described = charts.table(frame, {"gmv": "成交金额"}, {"gmv": "yuan"}, caption="说明")
    assert "说明" in str(described)
    assert "¥12,345.60" in str(described)
    assert "日期" not in str(described)  # only the described columns
    headers = str(charts.table(frame.select("date", "name")))
    assert "<th" in headers
    assert "日期" in headers
    assert "name" in headers


def test_one_table_spec_for_every_call_form() -> None:
    frame = pl.DataFrame(
        {"aweme_name": ["主号", "小号"], "gmv": [12_345.6, 80.0], "rate": [0.5, 0.1]}
    )
    spec = charts.TableSpec(
        (charts.Column("aweme_name"), charts.Column("gmv", "成交金额", "money")),
        caption="按账号",
    )
    html = str(charts.table(frame, spec))
    assert "抖音号" in html  # the dimension label when the column has none
    assert "¥12,345.60" in html
    assert "按账号" in html
    assert "0.5" not in html  # rate is not in the spec
    # the shorter forms build the same spec, and give the same table
    same = charts.table_spec({"aweme_name": "抖音号", "gmv": "成交金额"}, {"gmv": "money"})
    assert same == charts.TableSpec(
        (charts.Column("aweme_name", "抖音号"), charts.Column("gmv", "成交金额", "money"))
    )
    assert str(charts.table(frame, same, caption="按账号")) == html
    listed = charts.table(frame, ["aweme_name", charts.Column("rate", "比率", "percent")])
    assert "50.00%" in str(listed)
    assert "抖音号" in str(listed)
    named = charts.table(frame, {"gmv": "成交金额"}, {"gmv": "yuan"}, caption="说明")
    assert str(named) == str(
        charts.table(frame, [charts.Column("gmv", "成交金额", "money")], caption="说明")
    )
    assert charts.table(frame, spec, max_rows=1)._repr_html_().count("<tr>") == 2
    assert "共 2 行，仅显示前 1 行" in str(charts.table(frame, max_rows=1))


# ---- the report notebooks built on these charts ---------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ("funnel", "roi", "dwell_time", "ab_test", "ab_status", "custom_report", "live_review")


def _parameters(notebook: dict[str, Any]) -> dict[str, Any]:
    cells = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged parameters"
    tree = ast.parse("".join(cells[0]["source"]))
    out = {}
    for stmt in tree.body:
        assert isinstance(stmt, ast.Assign | ast.AnnAssign), ast.dump(stmt)
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
        assert isinstance(target, ast.Name)
        assert stmt.value is not None
        out[target.id] = ast.literal_eval(stmt.value)  # literals only
    return out


@pytest.mark.parametrize("name", REPORTS)
def test_notebook_is_committed_clean_and_matches_its_params(name: str) -> None:
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    assert notebook["metadata"]["kernelspec"]["name"] == "livekit"
    assert "papermill" not in notebook["metadata"]
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == []
            assert cell["execution_count"] is None
        assert "papermill" not in cell["metadata"]
    defaults = _parameters(notebook)
    assert defaults["source"] == "sandbox"
    params = yaml.safe_load((ROOT / "params" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert params == defaults


# ---- upstream text is data ------------------------------------------------------------------
def _hostile_frame() -> pl.DataFrame:
    from livekit.sandbox.hostile import LONG, PAYLOADS

    titles = [f"商品{i}{p}" for i, p in enumerate(PAYLOADS)] + ["长标题" + LONG]
    return pl.DataFrame({"title": titles, "clicks": list(range(1, len(titles) + 1))})


def test_table_shows_upstream_text_as_text() -> None:
    from livekit.text import plain_text

    frame = _hostile_frame()
    parsed = parse(str(charts.table(frame, {"title": "商品", "clicks": "点击"})))
    assert {tag for tag, _ in parsed.tags} == {"table", "thead", "tbody", "tr", "th", "td"}
    assert all(name in ("style", "class") for _, attrs in parsed.tags for name, _ in attrs)
    visible = "".join(parsed.text)
    for title in frame["title"]:
        assert plain_text(title) in visible  # every title readable, the long one shortened
    assert not INVISIBLE.search(visible)
    assert len(visible) < 10_000


def test_chart_labels_and_titles_from_upstream_stay_text() -> None:
    from livekit.sandbox.hostile import OUTSIDE_HOST

    frame = _hostile_frame()
    chart = charts.bar_chart(
        frame,
        "title",
        "clicks",
        title="宠粉福利专场<script>window.__pwned=1</script>\u202e：点击",
        x_title="商品",
        y_title="点击",
    )
    svg = vlc.vegalite_to_svg(chart.to_json())
    parsed = parse(svg)
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= {"svg", "g", "path", "rect", "text", "line", "defs", "clippath", "title"}
    for _, attrs in parsed.tags:
        for name, value in attrs:
            assert not name.startswith("on"), name
            assert name not in ("href", "xlink:href", "src", "srcset"), name
            assert "\u202e" not in (value or "")
    visible = "".join(parsed.text)
    assert "宠粉福利专场<script>window.__pwned=1</script>：点击" in visible  # as text
    assert "商品0<script>" in visible
    assert not INVISIBLE.search(svg)
    assert OUTSIDE_HOST not in "".join(
        v or "" for _, attrs in parsed.tags for _, v in attrs if _ != "aria-label"
    )
    assert len(svg) < 200_000  # the 10 kB label is clipped, not drawn whole
