"""``livekit report run NAME -p key value -f other.yaml``: parameters for one run.

Overrides are checked exactly like ``params/<name>.yaml`` (declared names, types, dates,
credentials), apply in the order notebook default < params file < ``-f`` files < ``-p``, and
change what the rendered report uses (one real render, through a real ``livekit`` process).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livekit.cli import app
from livekit.config import SANDBOX_QIANCHUAN_SECRET
from livekit.reports import Overrides, ParameterError, Project, check
from livekit.reports.params import cli_value, declared_parameters
from tests.helpers.reports import FIXTURES, cli, injected_source, load_nb, make_project

DAY = date(2026, 11, 28)
runner = CliRunner()


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("错误：")
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Fixture reports ok and hello; params/ok.yaml sets top_n, ratio and title."""
    root = make_project(
        tmp_path, ["ok", "hello"], {"ok": "top_n: 2\nratio: 0.1\ntitle: 文件标题\n"}
    )
    (tmp_path / "first.yaml").write_text("top_n: 3\nratio: 0.2\n", encoding="utf-8")
    (tmp_path / "second.yaml").write_text("ratio: 0.3\n", encoding="utf-8")
    return root


# ---- precedence and values ------------------------------------------------------------------


def test_file_then_each_f_in_order_then_p(project: Path, tmp_path: Path) -> None:
    files = (tmp_path / "first.yaml", tmp_path / "second.yaml")
    assert check("ok", DAY, project) == {"top_n": 2, "ratio": 0.1, "title": "文件标题"}
    assert check("ok", DAY, project, Overrides(files[:1])) == {
        "top_n": 3,
        "ratio": 0.2,
        "title": "文件标题",
    }
    assert check("ok", DAY, project, Overrides(files))["ratio"] == 0.3
    assert check("ok", DAY, project, Overrides(files[::-1]))["ratio"] == 0.2
    given = check("ok", DAY, project, Overrides(files, (("ratio", "0.4"), ("top_n", "5"))))
    assert given == {"top_n": 5, "ratio": 0.4, "title": "文件标题"}
    # from Python, values may be given as values
    assert check("ok", DAY, project, Overrides(values=(("top_n", 8),)))["top_n"] == 8
    with pytest.raises(ParameterError, match="参数 top_n 应为整数"):
        check("ok", DAY, project, Overrides(values=(("top_n", 8.5),)))
    # two -p for one name: the last wins, as papermill's do
    given = check("ok", DAY, project, Overrides(values=(("top_n", "5"), ("top_n", "6"))))
    assert given["top_n"] == 6


def test_days_in_a_params_file_may_be_written_as_numbers(tmp_path: Path) -> None:
    """``start: -29`` (a YAML number) is the day -29, as on the command line; a number that is
    no day is the one date message."""
    root = make_project(tmp_path, ["ok"], {"ok": "start: -29\nend: -1\n"})
    assert check("ok", DAY, root) == {"start": "-29", "end": "-1"}
    (root / "params" / "ok.yaml").write_text("start: 5\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"params/ok.yaml：参数 start、end：.*无法识别：'5'"):
        check("ok", DAY, root)
    (root / "params" / "ok.yaml").write_text("top_n: -29\n", encoding="utf-8")
    assert check("ok", DAY, root) == {"top_n": -29}  # not a date parameter: left alone


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("metrics", "[gmv, roas]", ["gmv", "roas"]),
        ("ratio", "0.1", 0.1),
        ("ratio", "1", 1),
        ("top_n", "7", 7),
        ("show_table", "false", False),
        ("start", "2026-11-01", "2026-11-01"),  # dates stay text, as in the params file
        ("start", "-29", "-29"),  # a date parameter takes the text as typed
        ("end", "-1", "-1"),
        ("end", "null", None),
        ("title", "2026", "2026"),  # a text parameter too
        ("title", "[不是列表", "[不是列表"),
        ("title", "#井号", "#井号"),
        ("title", "~", None),
    ],
)
def test_p_values_read_as_yaml_like_papermill(name: str, text: str, expected: object) -> None:
    declared = declared_parameters(FIXTURES / "ok.ipynb")
    value = cli_value(name, text, declared[name])
    assert value == expected
    assert type(value) is type(expected)


# ---- mistakes: one line naming the parameter and where it came from -------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["-p", "bogus", "1"], ["命令行 -p", "'bogus'", "ok.ipynb 声明的参数"]),
        (["-p", "top_m", "1"], ["命令行 -p", "是不是 top_n"]),
        (["-p", "top_n", "x"], ["命令行 -p", "参数 top_n", "整数"]),
        (["-p", "ratio", "[1, 2"], ["命令行 -p", "参数 ratio", "YAML"]),
        (["-p", "start", "soon"], ["命令行 -p", "参数 start", "'soon'", "-N（N 天前）"]),
        (["-p", "start", "2026-02-30"], ["命令行 -p", "参数 start", "无法识别"]),
        (["-p", "start", "-3", "-p", "end", "-5"], ["命令行 -p", "晚于结束日期"]),
        (
            ["-p", "end", "last_week"],
            ["ok.ipynb 的默认值、命令行 -p：参数 start、end", "'last_week'", "是一个区间"],
        ),
        (["-f", "missing.yaml"], ["找不到参数文件", "missing.yaml"]),
        (["-f", "bad.yaml"], ["-f bad.yaml", "未知参数 'colour'"]),
        (["--all", "-p", "top_n", "2"], ["hello", "top_n", "每个要运行的报告"]),
    ],
)
def test_a_bad_override_is_one_line_and_nothing_runs(
    project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needles: list[str]
) -> None:
    (project / "bad.yaml").write_text("colour: red\n", encoding="utf-8")
    monkeypatch.chdir(project)
    names = [] if "--all" in args else ["ok"]
    result = runner.invoke(app, ["report", "run", *names, "--date", "2026-11-28", *args])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    line = one_error_line(result.stderr)
    for needle in needles:
        assert needle in line, line
    assert not (project / "reports").exists()  # checked before anything ran


def test_a_p_needs_a_name_and_a_value(project: Path) -> None:
    done = cli("report", "run", "ok", "-p", "top_n", cwd=project, timeout=60)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "-p" in line
    assert "2 arguments" in line


@pytest.mark.parametrize("where", ["-p", "-f"])
def test_credentials_are_never_parameters(
    project: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    (project / "leak.yaml").write_text(f"title: 'x {SANDBOX_QIANCHUAN_SECRET}'\n", "utf-8")
    override = ["-p", "title", SANDBOX_QIANCHUAN_SECRET] if where == "-p" else ["-f", "leak.yaml"]
    monkeypatch.chdir(project)
    result = runner.invoke(app, ["report", "run", "ok", *override])
    assert result.exit_code != 0
    line = one_error_line(result.stderr)
    assert "参数 title 含有密钥或令牌" in line
    assert SANDBOX_QIANCHUAN_SECRET not in result.output
    assert not (project / "reports").exists()
    with pytest.raises(ParameterError, match="密钥"):  # and the library path refuses it too
        check("ok", DAY, project, Overrides(values=(("title", f"#{SANDBOX_QIANCHUAN_SECRET}"),)))


def test_all_runs_when_every_report_declares_the_names(tmp_path: Path) -> None:
    """With several reports (--all), the overrides must fit each; then each is checked alike."""
    from livekit.reports.runner import check_reports

    root = make_project(tmp_path, ["hello", "ok"])
    shutil.copy(FIXTURES / "hello.ipynb", root / "notebooks" / "hello2.ipynb")
    project = Project(root)
    greeting = Overrides(values=(("greeting", "嗨"),))
    check_reports(project, ["hello", "hello2"], DAY, greeting)  # both declare greeting
    with pytest.raises(ParameterError, match=r"以下报告没有：ok（无 greeting）"):
        check_reports(project, ["hello", "hello2", "ok"], DAY, greeting)
    assert check("hello2", DAY, root, greeting) == {"greeting": "嗨"}


# ---- a real render ------------------------------------------------------------------------------


def test_overrides_change_the_rendered_report(project: Path, tmp_path: Path) -> None:
    """A real ``livekit report run`` (papermill, kernel, HTML): the notebook runs with the
    file's title, -f's top_n and the -p ratio and start; params/ok.yaml is unchanged."""
    before = (project / "params" / "ok.yaml").read_text(encoding="utf-8")
    done = cli(
        "report",
        "run",
        "ok",
        "--date",
        "2026-11-28",
        "-f",
        str(tmp_path / "first.yaml"),
        "-p",
        "ratio",
        "0.25",
        "-p",
        "start",
        "-29",
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    out = project / "reports" / "ok" / "2026-11-28"
    injected = injected_source(load_nb(out / "ok.ipynb"))
    assert injected is not None
    assert f"title = {json.dumps('文件标题')}" in injected  # papermill writes \\u escapes
    assert "top_n = 3" in injected
    assert "ratio = 0.25" in injected
    assert 'start = "-29"' in injected
    html = (out / "ok.html").read_text(encoding="utf-8")
    assert "比例参数为 0.25" in html
    assert "文件标题：商品成交额" in html
    assert "区间 2026-10-30 ~ 2026-10-30" in html  # -29 from the report's date
    assert (project / "params" / "ok.yaml").read_text(encoding="utf-8") == before


def test_the_help_shows_the_p_examples_as_typed() -> None:
    result = runner.invoke(app, ["report", "run", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    assert "-p metrics '[gmv, roas]'" in result.output  # not eaten as rich markup
    assert "-p start -29" in result.output
