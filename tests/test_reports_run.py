"""Running reports on fixture notebooks: outputs, failures, timeouts, the index, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from livekit.dates import DateError, today
from livekit.reports import Project, ReportError, RunOptions, run
from livekit.reports.html import chart_outputs, export_html, offline_violations
from livekit.reports.index import read_history, record
from livekit.reports.result import RunResult, Status
from livekit.reports.runner import longest_first, scrub
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.reports import (
    ROOT,
    cli,
    injected_source,
    load_nb,
    make_project,
    stream_text,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, list[RunResult]]]:
    """ok and broken, run together with --jobs 2 (one report fails, the other must not care)."""
    tmp = tmp_path_factory.mktemp("rendered")
    root = make_project(tmp, ["ok", "broken"], {"ok": "top_n: 2\nstart: last_3_days\n"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEKIT_HOME", str(tmp / "home"))
        project = Project(root)
        yield project, run(["ok", "broken"], jobs=2, project=project)


def test_results_come_back_in_order_with_their_status(
    rendered: tuple[Project, list[RunResult]],
) -> None:
    _, (ok, broken) = rendered
    assert (ok.name, ok.status, broken.name, broken.status) == ("ok", "ok", "broken", "failed")
    assert ok.date == broken.date == today()
    assert ok.title == "测试报告：成交概览"
    assert ok.error is None
    assert ok.seconds > 0


def test_a_run_writes_the_executed_notebook_and_the_page(
    rendered: tuple[Project, list[RunResult]],
) -> None:
    project, (ok, _) = rendered
    folder = project.reports_dir / "ok" / today().isoformat()
    assert ok.notebook == folder / "ok.ipynb"
    assert ok.html == folder / "ok.html"
    nb = load_nb(ok.notebook)
    assert injected_source(nb) == '# Parameters\ntop_n = 2\nstart = "last_3_days"\n'
    assert nb["metadata"]["papermill"]["parameters"] == {"top_n": 2, "start": "last_3_days"}
    assert chart_outputs(nb) == 2


def test_a_failing_notebook_is_kept_marked_failed_and_stops_nothing(
    rendered: tuple[Project, list[RunResult]],
) -> None:
    _project, (ok, broken) = rendered
    assert broken.error is not None
    assert "RuntimeError: 数据缺失" in broken.error
    assert broken.html is None
    assert broken.notebook is not None
    assert broken.notebook.exists()
    assert not broken.notebook.with_suffix(".html").exists()
    text = stream_text(load_nb(broken.notebook))
    assert "开始" in text
    assert "不应执行到这里" not in text
    assert ok.ok


def test_the_page_has_no_code_no_parameters_and_loads_nothing(
    rendered: tuple[Project, list[RunResult]],
) -> None:
    _, (ok, _) = rendered
    assert ok.html is not None
    page = ok.html.read_text(encoding="utf-8")
    for code in ("import altair", "alt.Chart(", "top_n = 2", "# Parameters", "show_table ="):
        assert code not in page
    assert "injected-parameters" not in page
    assert "<script" not in page.lower()
    assert offline_violations(page) == []
    assert page.count("<svg") >= 2
    for text in ("下一步", "成交额最高的商品", "报告日期", '<html lang="zh">'):
        assert text in page


def test_the_index_lists_every_run(rendered: tuple[Project, list[RunResult]]) -> None:
    project, _ = rendered
    history = read_history(project.reports_dir)
    assert len(history) == 2
    assert {(r.name, r.status) for r in history} == {("ok", "ok"), ("broken", "failed")}
    page = project.index_file.read_text(encoding="utf-8")
    day = today().isoformat()
    assert f'href="ok/{day}/ok.html"' in page
    assert f'href="broken/{day}/broken.ipynb"' in page
    assert "成功" in page
    assert "失败" in page
    assert "数据缺失" in page
    assert offline_violations(page) == []


def test_the_report_date_reaches_the_kernel_and_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    root = make_project(tmp_path, ["hello"], {"hello": "greeting: 早上好\n"})
    [result] = run("hello", date="2026-11-20", project=root)
    assert result.ok, result.error
    assert result.html == root / "reports" / "hello" / "2026-11-20" / "hello.html"
    assert result.notebook is not None
    assert "早上好，报告日期 2026-11-20，目录 notebooks" in stream_text(load_nb(result.notebook))


def test_plain_papermill_with_the_params_file_injects_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    root = make_project(tmp_path, ["hello"], {"hello": "greeting: 晚上好\n"})
    [ours] = run("hello", project=root)
    assert ours.notebook is not None
    out = tmp_path / "plain.ipynb"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("papermill")),
            str(root / "notebooks" / "hello.ipynb"),
            str(out),
            "-f",
            str(root / "params" / "hello.yaml"),
            "-k",
            "livekit",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert injected_source(load_nb(out)) == injected_source(load_nb(ours.notebook))
    assert "晚上好" in stream_text(load_nb(out))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (RunOptions(cell_timeout=2), "单元时限 2 秒"),
        (RunOptions(timeout=5, cell_timeout=60), "总时限 5 秒"),
    ],
)
def test_timeouts_stop_the_notebook_and_keep_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: RunOptions, expected: str
) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    root = make_project(tmp_path, ["slow"], {"slow": "seconds: 3\n"})
    [result] = run("slow", project=root, options=options)
    assert result.status == "failed"
    assert result.error is not None
    assert expected in result.error
    assert result.seconds < 30
    assert result.notebook is not None
    assert result.notebook.exists()


def test_nothing_runs_when_one_report_has_bad_parameters(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["hello", "ok"], {"ok": "top_nn: 1\n"})
    with pytest.raises(ReportError, match="未知参数 'top_nn'"):
        run(["hello", "ok"], project=root)
    assert not (root / "reports").exists()


def test_run_needs_names_or_all_not_both(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["hello"])
    with pytest.raises(ReportError, match="--all"):
        run(project=root)
    with pytest.raises(ReportError, match="不能同时"):
        run(["hello"], all=True, project=root)
    with pytest.raises(ReportError, match="晚于今天"):
        run(["hello"], date=(today() + timedelta(days=1)).isoformat(), project=root)
    with pytest.raises(DateError, match="超出可用范围"):  # checked before any arithmetic
        run(["hello"], date="2999-01-01", project=root)
    with pytest.raises(ReportError, match="并行数"):
        run(["hello"], jobs=0, project=root)
    with pytest.raises(ReportError, match="找不到 Jupyter 内核 'no-such-kernel'"):
        run(["hello"], project=root, options=RunOptions(kernel="no-such-kernel"))


# ---- the command --------------------------------------------------------------------------


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert lines[0].startswith("错误：")
    assert CJK.search(lines[0])
    return lines[0]


@pytest.mark.parametrize(
    ("args", "params", "expected"),
    [
        (["ok"], "top_nn: 3\n", "未知参数 'top_nn'，是不是 top_n？"),
        (["ok"], "top_n: three\n", '参数 top_n 应为整数，收到文本 "three"'),
        (["ok"], "start: yesterday\nend: 5_days_ago\n", "晚于结束日期"),
        (["ok"], "metrics: [gmv, revenue]\n", "未知的指标 'revenue'"),
        (["ok"], "metrics: [gmv\n", "params/ok.yaml 第 2 行第 1 列：YAML 格式错误"),
        (["funnel"], "", "未知的报告 'funnel'"),
        ([], "", "请指定要运行的报告名称"),
        (["ok", "--date", "someday"], "", "--date"),
    ],
)
def test_bad_parameters_fail_before_running_with_one_message(
    tmp_path: Path, args: list[str], params: str, expected: str
) -> None:
    root = make_project(tmp_path, ["ok"], {"ok": params})
    done = cli("report", "run", *args, cwd=root, env={"LIVEKIT_HOME": str(tmp_path / "home")})
    assert expected in one_error_line(done)
    assert not (root / "reports").exists()


def test_the_command_runs_all_reports_and_exits_non_zero_when_one_fails(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["hello", "broken"])
    done = cli(
        "report", "run", "--all", "--jobs", "2", cwd=root, env={"LIVEKIT_HOME": str(tmp_path)}
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "✓ 成功 hello（问候报告）" in done.stdout
    assert "✗ 失败 broken（出错的报告）" in done.stdout
    assert f"报告索引：{root / 'reports' / 'index.html'}" in done.stdout
    assert "1 个报告失败：broken" in done.stderr
    folder = root / "reports" / "hello" / today().isoformat()
    assert (folder / "hello.html").exists()
    assert "目录 notebooks" in stream_text(load_nb(folder / "hello.ipynb"))  # kernel's folder


def test_report_list_and_help_are_chinese(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["hello", "ok"], {"ok": "top_n: 2\n"})
    done = cli("report", "list", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "问候报告" in done.stdout
    assert "params/ok.yaml" in done.stdout
    for args in (["report", "--help"], ["report", "run", "--help"], ["schedule", "--help"]):
        done = cli(*args, cwd=root)
        assert done.returncode == 0
        assert len(CJK.findall(done.stdout)) >= 10


def test_outside_a_project_the_command_says_where_to_run(tmp_path: Path) -> None:
    assert "找不到 notebooks/" in one_error_line(cli("report", "run", "x", cwd=tmp_path))


# ---- pieces -------------------------------------------------------------------------------


def test_offline_violations_finds_every_kind_of_fetch() -> None:
    page = (
        '<script src="https://cdn.example/require.js"></script>'
        "<link rel=stylesheet href=//fonts.example/a.css>"
        '<img src="http://x/y.png"><img src="data:image/png;base64,AAA">'
        "<style>@import 'https://x/b.css'; .a{background:url(https://x/c.png)}"
        ".b{clip-path:url(#clip0)}</style>"
        '<a href="https://example.com/docs">文档</a>'
    )
    found = " ".join(offline_violations(page))
    for url in (
        "https://cdn.example/require.js",
        "//fonts.example/a.css",
        "http://x/y.png",
        "https://x/b.css",
        "https://x/c.png",
        "https://example.com/docs",
    ):
        assert url in found
    assert "data:image" not in found
    assert "#clip0" not in found


def test_a_chart_left_as_vega_lite_fails_the_page_with_advice(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("chart")
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={"application/vnd.vegalite.v5+json": {}, "text/plain": "alt.Chart(...)"},
            execution_count=1,
        )
    ]
    nb.cells = [cell]
    with pytest.raises(ReportError, match=r"livekit\.charts\.setup\(\)"):
        export_html(nb, tmp_path / "x.html", title="图", day="2026-11-28")
    assert not (tmp_path / "x.html").exists()


def test_scrub_replaces_secrets_everywhere() -> None:
    nb = {"cells": [{"outputs": [{"text": ["a TOKEN-12345678 b", "x"]}]}], "meta": "TOKEN-12345678"}
    assert scrub(nb, {"TOKEN-12345678"})
    assert json.dumps(nb).count("***") == 2
    assert not scrub(nb, {"TOKEN-12345678"})


def test_concurrent_recorders_lose_no_run(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from datetime import date, datetime, timezone\n"
        "from pathlib import Path\n"
        "from livekit.reports.index import record\n"
        "from livekit.reports.result import RunResult\n"
        "for i in range(10):\n"
        "    record(Path(sys.argv[1]), RunResult(f'r{sys.argv[2]}', '报告', date(2026, 11, 28),\n"
        "        'ok', datetime.now(timezone.utc), 1.0, None, None))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(i)], cwd=ROOT)
        for i in range(6)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    history = read_history(tmp_path)
    assert len(history) == 60
    assert sorted({r.name for r in history}) == [f"r{i}" for i in range(6)]
    assert (tmp_path / "index.html").read_text(encoding="utf-8").count("<tr class=") == 60 + 6


def test_history_survives_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "history.json").write_text("{not json")
    assert read_history(tmp_path) == []
    started = datetime(2026, 11, 28, 8, 0, tzinfo=CHINA_TZ)
    result = RunResult("x", "报告", date(2026, 11, 28), "failed", started, 2.5, None, None, "出错")
    record(tmp_path, result)
    assert read_history(tmp_path) == [result]


def test_parallel_runs_start_with_the_longest_report(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path, ["ok"]))
    started = datetime(2026, 11, 20, 9, 0, tzinfo=CHINA_TZ)

    def past(name: str, seconds: float, status: Status = "ok") -> RunResult:
        return RunResult(name, name, date(2026, 11, 20), status, started, seconds, None, None)

    for run_ in (
        past("a", 9.0),
        past("b", 4.0),
        past("c", 7.0),
        past("a", 3.0),
        past("c", 60.0, "failed"),
    ):
        record(project.reports_dir, run_)
    # the last successful run counts (a: 3 s); never run (d) goes first; ties keep their order
    assert longest_first(project, ["a", "b", "c", "d"]) == ["d", "c", "b", "a"]
    assert longest_first(project, ["e", "a", "d"]) == ["e", "d", "a"]
