"""Report parameters: the notebook's ``parameters`` cell, params/<name>.yaml, and the checks."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import papermill.iorw
import pytest
import yaml

from livekit.reports.params import (
    Kind,
    NoDatesSafeLoader,
    ParameterError,
    check_meanings,
    check_names_and_types,
    declared_parameters,
    load_yaml,
    report_parameters,
)
from livekit.reports.project import Project, ReportError
from tests.helpers.reports import FIXTURES, make_project

DAY = date(2026, 11, 28)


def notebook_with(tmp_path: Path, source: str, name: str = "nb") -> Path:
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# 标题"},
            {
                "cell_type": "code",
                "metadata": {"tags": ["parameters"]},
                "source": source,
                "outputs": [],
                "execution_count": None,
            },
        ],
        "metadata": {"kernelspec": {"name": "livekit"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    return path


def test_declared_parameters_of_the_fixture() -> None:
    declared = declared_parameters(FIXTURES / "ok.ipynb")
    assert list(declared) == ["start", "end", "metrics", "top_n", "ratio", "title", "show_table"]
    assert declared["start"].default == "last_7_days"
    assert declared["start"].kind == Kind(str)
    assert declared["end"].kind == Kind(None, optional=True)
    assert declared["metrics"].kind == Kind(list, str)
    assert declared["top_n"].kind == Kind(int)
    assert declared["ratio"].kind == Kind(float)
    assert declared["show_table"].kind == Kind(bool)
    assert declared["top_n"].comment == "显示前几名"


def test_annotations_win_over_defaults(tmp_path: Path) -> None:
    path = notebook_with(
        tmp_path,
        "end: str | None = None\nlimit: int = 5\nrooms: list[int] = []\nratio: float = 1\n"
        "names: Optional[list[str]] = None\n",
    )
    declared = declared_parameters(path)
    assert declared["end"].kind == Kind(str, optional=True)
    assert declared["rooms"].kind == Kind(list, int)
    assert declared["ratio"].kind == Kind(float)
    assert declared["names"].kind == Kind(list, str, optional=True)


def test_a_notebook_without_parameters_declares_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert declared_parameters(path) == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("start = today()\n", "第 1 行"),
        ("x = 1\nimport os\n", "第 2 行"),
        ("a, b = 1, 2\n", "第 1 行"),
        ("x = [\n", "语法错误"),
    ],
)
def test_a_parameters_cell_must_hold_literal_assignments(
    tmp_path: Path, source: str, expected: str
) -> None:
    with pytest.raises(ParameterError, match=expected):
        declared_parameters(notebook_with(tmp_path, source))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"top_n": "5"}, '参数 top_n 应为整数，收到文本 "5"'),
        ({"top_n": True}, "参数 top_n 应为整数"),
        ({"top_n": 2.5}, "参数 top_n 应为整数"),
        ({"ratio": "half"}, "参数 ratio 应为数字"),
        ({"metrics": "gmv"}, "参数 metrics 应为文本的列表，收到文本"),
        ({"metrics": ["gmv", 3]}, "第 2 项是整数 3"),
        ({"show_table": "yes"}, "参数 show_table 应为布尔值"),
        ({"title": None}, "参数 title 应为文本，不能为空"),
    ],
)
def test_wrong_types_are_named(given: dict[str, object], expected: str) -> None:
    declared = declared_parameters(FIXTURES / "ok.ipynb")
    with pytest.raises(ParameterError) as info:
        check_names_and_types(
            declared, given, source="params/ok.yaml", notebook=FIXTURES / "ok.ipynb"
        )
    assert str(info.value).startswith("params/ok.yaml：")
    assert expected in str(info.value)


def test_right_types_pass() -> None:
    declared = declared_parameters(FIXTURES / "ok.ipynb")
    check_names_and_types(
        declared,
        {"top_n": 2, "ratio": 1, "end": "yesterday", "metrics": [], "show_table": False},
        source="params/ok.yaml",
        notebook=FIXTURES / "ok.ipynb",
    )


def test_an_unknown_parameter_is_named_with_a_suggestion_and_the_declared_ones() -> None:
    declared = declared_parameters(FIXTURES / "ok.ipynb")
    with pytest.raises(ParameterError) as info:
        check_names_and_types(
            declared, {"topn": 3}, source="params/ok.yaml", notebook=FIXTURES / "ok.ipynb"
        )
    message = str(info.value)
    assert "未知参数 'topn'" in message
    assert "是不是 top_n" in message
    assert "start、end、metrics、top_n" in message


def test_yaml_is_read_as_papermill_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("start: 2026-11-01\nn: 3\nx: 1.5\nflag: yes\nlist: [a, 2026-11-02]\n")
    ours = load_yaml(path)
    assert ours == papermill.iorw.read_yaml_file(str(path))
    assert ours["start"] == "2026-11-01"  # a string, as the notebook declares it
    assert NoDatesSafeLoader is not yaml.SafeLoader


def test_yaml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("start: last_7_days\nmetrics: [gmv, roas\n")
    with pytest.raises(ParameterError) as info:
        load_yaml(path, shown="params/p.yaml")
    message = str(info.value)
    assert message.startswith("params/p.yaml 第 3 行第 1 列：YAML 格式错误")
    assert "\n" not in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "1: x\n"])
def test_yaml_must_be_a_mapping_of_names(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=r"p\.yaml"):
        load_yaml(path)


def test_missing_and_empty_yaml_are_no_parameters(tmp_path: Path) -> None:
    assert load_yaml(tmp_path / "missing.yaml") == {}
    (tmp_path / "empty.yaml").write_text("# 只有注释\n")
    assert load_yaml(tmp_path / "empty.yaml") == {}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"start": "yesterday", "end": "3_days_ago"},
            "开始日期 2026-11-27 晚于结束日期 2026-11-25",
        ),
        ({"start": "2026-11-01", "end": "2026-12-01"}, "结束日期 2026-12-01 晚于今天"),
        ({"start": "last_week", "end": "yesterday"}, "已是一个区间"),
        ({"start": "someday", "end": None}, "无法识别"),
        ({"promo_start": "2026-11-10", "promo_end": "2026-11-01"}, "晚于结束日期"),
        ({"day": "2026-02-30"}, "无法识别"),
        ({"metrics": ["gmv", "gmvv"]}, "未知的指标 'gmvv'"),
        ({"metric": "nope"}, "未知的指标 'nope'"),
    ],
)
def test_meanings_are_checked_before_running(values: dict[str, object], expected: str) -> None:
    sources = dict.fromkeys(values, "params/x.yaml")
    defaults = {"metrics": ["gmv"], "metric": "roas"}
    with pytest.raises(ParameterError) as info:
        check_meanings(values, sources, DAY, defaults)
    assert str(info.value).startswith("params/x.yaml：参数 ")
    assert expected in str(info.value)


def test_metrics_are_registry_names_only_when_the_default_is() -> None:
    experiment = {"metrics": ["conversion", "watch_seconds"]}  # an A/B test's own metrics
    check_meanings({"metrics": ["conversion"]}, {}, DAY, experiment)
    check_meanings({"metrics": ["revenue"]}, {}, DAY, {"metrics": []})
    with pytest.raises(ParameterError, match="未知的指标 'revenue'"):
        check_meanings({"metrics": ["revenue"]}, {}, DAY, {"metrics": ["gmv", "roas"]})


def test_good_meanings_pass() -> None:
    check_meanings(
        {
            "start": "last_7_days",
            "end": None,
            "compare_start": "14_days_ago",
            "compare_end": "8_days_ago",
            "day": "yesterday",
            "metrics": ["gmv", "roas"],
            "title": "任意文本",
        },
        {},
        DAY,
        {"metrics": ["gmv"]},
    )


def test_report_parameters_returns_exactly_the_yaml(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ok"], {"ok": "top_n: 2\nstart: last_3_days\n"})
    report = Project(root).report("ok")
    assert report_parameters(report, DAY) == {"top_n": 2, "start": "last_3_days"}
    (root / "params" / "ok.yaml").unlink()
    assert report_parameters(report, DAY) == {}


def test_a_bad_default_in_the_notebook_is_reported_as_such(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ok"], {"ok": "start: 2026-12-01\n"})
    with pytest.raises(ParameterError) as info:
        report_parameters(Project(root).report("ok"), DAY)
    assert str(info.value).startswith("params/ok.yaml：参数 start")
    (root / "params" / "ok.yaml").write_text("top_n: 2\n")
    notebook = root / "notebooks" / "ok.ipynb"
    notebook.write_text(notebook.read_text().replace("last_7_days", "next_week"))
    with pytest.raises(ParameterError, match=r"notebooks/ok.ipynb 的默认值：参数 start"):
        report_parameters(Project(root).report("ok"), DAY)


def test_unknown_reports_are_named_with_the_known_ones(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ok", "broken"])
    with pytest.raises(ReportError) as info:
        Project(root).report("funel")
    assert "未知的报告 'funel'" in str(info.value)
    assert "broken、ok" in str(info.value)
    with pytest.raises(ReportError):
        Project(root).report("../ok")


def test_the_project_is_found_upwards(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ok"])
    (root / "notebooks" / "sub").mkdir()
    assert Project.find(root / "notebooks" / "sub").root == root
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ReportError, match="找不到 notebooks/"):
        Project.find(tmp_path / "elsewhere")
