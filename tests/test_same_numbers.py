"""bench/same_numbers.py: the figures it reads from a report page and how it pairs them."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "same_numbers.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("same_numbers", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


sn = _load()


def values(text: str) -> list[tuple[str, str, str]]:
    """(value, half step, kind) of every figure in ``text``, as strings."""
    return [(str(n.value), str(n.half_step), n.kind) for _, _, n in sn.parse_numbers(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("¥1,234.50", [("1234.50", "0.005", "money")]),
        ("1,234.50元", [("1234.50", "0.005", "money")]),
        ("3.5%", [("0.035", "0.0005", "percent")]),
        ("0.035", [("0.035", "0.0005", "plain")]),
        ("¥6.42万", [("64200.00", "50.00", "money")]),
        ("共 23 场", [("23", "0.5", "plain")]),
        ("区间 [−0.8%, +2.1%]", [("-0.008", "0.0005", "percent"), ("0.021", "0.0005", "percent")]),
        ("p = 1.2e-05", [("0.000012", "5E-7", "plain")]),
        ("ROAS 2.31", [("2.31", "0.005", "plain")]),
    ],
)
def test_a_figure_is_normalized_to_its_value_and_the_precision_shown(
    text: str, expected: list[tuple[str, str, str]]
) -> None:
    assert values(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28 至 2026-12-04",
        "11-28 至 11-30",
        "生成于 2026-12-01 07:30",
        "20:30 开播",
        "12月1日",
        "直播间 7704121983748191672",
        "7 日退款，近 30 天",
        "(成交金额 − 7 日退款)",
        "dtype i64 f64",
        "人数来自 T+1 分析",
    ],
)
def test_dates_times_ids_and_windows_are_not_figures(text: str) -> None:
    assert values(text) == []


PAGE = """<html><head><title>2.5</title><style>.a { width: 3px }</style></head><body>
<div class="jp-Cell jp-CodeCell"><div class="jp-InputArea"><div class="highlight"><pre>x = 99</pre>
</div></div><div class="jp-OutputArea">
<p>支付ROI <strong>2.40</strong>，退款 ¥6,531.30。</p>
<table><thead><tr><th>场次</th><th>消耗</th><th>转化率</th></tr></thead>
<tbody><tr><td>11-28 14:09 旗舰店</td><td>¥1,295.64</td><td>3.5%</td></tr></tbody></table>
<svg><text>12345</text></svg><script>var n = 77;</script>
</div></div></body></html>"""


def test_a_page_states_the_figures_of_its_prose_and_tables_only() -> None:
    figures = sn.page_figures(PAGE)
    assert [f.number.text for f in figures] == ["2.40", "¥6,531.30", "¥1,295.64", "3.5%"]
    contexts = [f.context for f in figures]
    assert contexts[0].startswith("支付ROI [2.40]")
    assert contexts[2] == "11-28 14:09 旗舰店 · 消耗 [¥1,295.64]"
    assert contexts[3] == "11-28 14:09 旗舰店 · 转化率 [3.5%]"


def test_a_bare_number_in_a_percent_column_is_a_rate() -> None:
    page = (
        "<table><thead><tr><th>场次</th><th>商品点击率（%）</th><th>观看-点击率</th></tr></thead>"
        "<tbody><tr><td>晚场</td><td>5.03</td><td>5.03%</td></tr></tbody></table>"
    )
    first, second = sn.page_figures(page)
    assert (first.number.value, first.number.kind) == (Decimal("0.0503"), "percent")
    assert sn.compare([first], [second]).equal == 1


def fig(text: str, context: str = "") -> Any:
    ((_, _, number),) = sn.parse_numbers(text)
    return sn.Figure(number, context or text)


def test_equal_values_pair_whatever_their_format() -> None:
    before = [fig("1,234.50元"), fig("3.50%"), fig("2.31")]
    after = [fig("2.31"), fig("¥1,234.5"), fig("0.035")]
    result = sn.compare(before, after)
    assert result.equal == 3
    assert result.only_before == []
    assert result.only_after == []
    assert result.equal_at_precision == []


def test_a_coarser_format_pairs_when_it_rounds_the_same_and_of_the_same_kind() -> None:
    result = sn.compare([fig("¥6.42万"), fig("2.3")], [fig("¥64,213.50"), fig("2.36")])
    assert [(b.number.text, a.number.text) for b, a in result.equal_at_precision] == [
        ("¥6.42万", "¥64,213.50")
    ]
    assert [f.number.text for f in result.only_before] == ["2.3"]
    assert [f.number.text for f in result.only_after] == ["2.36"]
    # a rate and a money amount never pair, however close
    kinds = sn.compare([fig("¥0.04")], [fig("3.5%")])
    assert kinds.equal_at_precision == []


def test_equal_values_pair_with_the_same_label_first() -> None:
    before = [fig("7", "A · 场次 [7]"), fig("7", "B · 场次 [7]")]
    after = [fig("7", "B · 场次 [7]"), fig("8", "A · 场次 [8]")]
    result = sn.compare(before, after)
    assert [f.context for f in result.only_before] == ["A · 场次 [7]"]


def test_at_the_precision_shown_the_same_label_pairs_first() -> None:
    before = [fig("¥2.01万", "A · 成交金额 [¥2.01万]")]
    after = [fig("¥20,090.00", "B · 成交金额 [¥20,090.00]"), fig("¥20,064.00", "A · 成交金额 [x]")]
    result = sn.compare(before, after)
    assert [a.number.text for _, a in result.equal_at_precision] == ["¥20,064.00"]
    assert [f.number.text for f in result.only_after] == ["¥20,090.00"]


def test_a_count_pairs_only_with_its_equal() -> None:
    result = sn.compare([fig("2", "[2] 场")], [fig("2.04", "净成交ROI [2.04]")])
    assert result.equal_at_precision == []
    assert [f.number.text for f in result.only_before] == ["2"]


def test_a_bare_number_in_a_money_column_is_money() -> None:
    page = (
        "<table><thead><tr><th>场次</th><th>成交金额（元）</th></tr></thead>"
        "<tbody><tr><td>晚场</td><td>20,064.00</td></tr></tbody></table>"
    )
    (figure,) = sn.page_figures(page)
    assert figure.number.kind == "money"
    assert len(sn.compare([figure], [fig("¥2.01万")]).equal_at_precision) == 1


def test_counts_are_compared_as_multisets() -> None:
    result = sn.compare([fig("7"), fig("7"), fig("8")], [fig("7"), fig("8"), fig("8")])
    assert result.equal == 2
    assert [f.number.text for f in result.only_before] == ["7"]
    assert [f.number.text for f in result.only_after] == ["8"]


def test_an_allowance_names_a_figure_by_text_value_or_label() -> None:
    roas = fig("2.68", "7日总支付ROI 为 [2.68]")
    assert sn.Allow.parse("roi:2.68").covers("roi", roas)
    assert sn.Allow.parse("roi:2.680").covers("roi", roas)
    assert sn.Allow.parse("*:7日总支付ROI").covers("roi", roas)
    assert not sn.Allow.parse("funnel:2.68").covers("roi", roas)
    assert not sn.Allow.parse("roi:2.64").covers("roi", roas)
    assert sn.Allow.parse("roi:*").covers("roi", roas)
    assert not sn.Allow.parse("funnel:*").covers("roi", roas)
    assert roas.number.value == Decimal("2.68")


def test_no_pages_is_no_proof(tmp_path: Path) -> None:
    page = tmp_path / "roi.html"
    page.write_text("<p>ROAS 2.31</p>", encoding="utf-8")
    assert sn.report_differences({}, {}, []) == 1
    assert sn.report_differences({"roi": page}, {}, []) == 1
    assert sn.report_differences({"roi": page}, {"roi": page}, []) == 0
