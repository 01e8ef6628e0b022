"""The ``livekit`` command: Chinese help, the truth command, readable errors, cheap startup."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livekit.cli import app

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("polars", "pandas", "numpy", "statsmodels", "altair")
CJK = re.compile(r"[\u4e00-\u9fff]")

ENV = {**os.environ, "COLUMNS": "120", "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}

runner = CliRunner()


def run_module(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m livekit ARGS`` in a fresh interpreter (the .venv one running the tests)."""
    return subprocess.run(
        [sys.executable, "-m", "livekit", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        cwd=ROOT,
        env=ENV,
    )


@pytest.mark.parametrize(
    "args", [["--help"], ["sandbox", "--help"], ["sandbox", "serve", "--help"]]
)
def test_help_is_chinese(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output or "用法" in result.output
    assert len(CJK.findall(result.output)) >= 10, result.output


def test_root_help_lists_the_sandbox() -> None:
    result = runner.invoke(app, ["--help"])
    assert "sandbox" in result.output
    assert "抖音" in result.output


def test_sandbox_help_lists_its_commands() -> None:
    result = runner.invoke(app, ["sandbox", "--help"])
    for command in ("serve", "truth", "demo"):
        assert command in result.output
    assert "沙盒" in result.output


def test_truth_prints_json_with_the_planted_truths() -> None:
    result = run_module("sandbox", "truth", "--seed", "7", "--today", "2026-11-28")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in (
        "dwell_conversion",
        "viewer_experiment",
        "switchback_experiment",
        "roas",
        "repurchase",
        "incidents",
    ):
        assert key in data
    assert data["seed"] == 7
    assert data["today"] == "2026-11-28"


def test_bad_date_is_one_readable_chinese_line() -> None:
    result = run_module("sandbox", "truth", "--today", "2026-13-01")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert "--today" in lines[0]
    assert "2026-13-01" in lines[0]
    assert CJK.search(lines[0])


def test_bad_fault_rate_is_refused_before_serving() -> None:
    result = run_module("sandbox", "serve", "--fault-rate", "2", "--port", "1", timeout=30)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert "--fault-rate" in out
    assert "0 到 1" in out


@pytest.mark.parametrize(
    "argv", [["--help"], ["sync", "--help"], ["auth", "login", "--help"], ["import", "--help"]]
)
def test_import_and_help_stay_light(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        "import livekit\n"
        "assert callable(livekit.sync) and callable(livekit.load) and callable(livekit.datasets)\n"
        f"heavy = {HEAVY!r}\n"
        "after_import = [m for m in heavy if m in sys.modules]\n"
        "from livekit.cli import app\n"
        "try:\n"
        f"    app({argv!r}, prog_name='livekit')\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "else:\n"
        "    code = 0\n"
        "after_help = [m for m in heavy if m in sys.modules]\n"
        "import json\n"
        "print('RESULT' + json.dumps([code, after_import, after_help]), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=ROOT,
        env=ENV,
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("RESULT"))
    code, after_import, after_help = json.loads(line.removeprefix("RESULT"))
    assert code in (0, None), result.stderr
    assert after_import == [], f"import livekit loaded {after_import}"
    assert after_help == [], f"livekit --help loaded {after_help}"
    assert CJK.search(result.stdout)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["sync", "--from"], ["--from", "livekit --help"]),
        (["sync", "--bogus"], ["--bogus", "livekit sync --help"]),
        (["nosuch"], ["nosuch", "livekit --help"]),
        (["report", "run", "--jobs", "x"], ["--jobs", "livekit report run --help"]),
    ],
)
def test_command_line_usage_errors_are_one_line_too(args: list[str], names: list[str]) -> None:
    """A missing value, an unknown option or command, a value of the wrong type: one line
    (not click's English box), naming what was wrong and where the usage is, exit 2."""
    result = run_module(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("错误：命令行参数有误：")
    for name in names:
        assert name in lines[0]


def test_version_and_bare_command() -> None:
    from livekit import __version__

    version = run_module("--version")
    assert (version.returncode, version.stdout.strip()) == (0, __version__), version.stderr
    bare = run_module()
    assert bare.returncode == 0, bare.stderr
    assert "Usage" in bare.stdout
    assert bare.stderr == ""
