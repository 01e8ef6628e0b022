"""Shared by the report tests: fixture projects, the CLI in a subprocess, the chart count."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from livekit.reports import Project, RunResult, run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "notebooks"
# The sandbox data the real notebooks read: one folder shared by test runs (gitignored), so a
# 30-day sandbox sync happens once, never in the user's ~/.livekit. Under parallel workers,
# tests/conftest.py has given each worker its own LIVEKIT_HOME, and its reports go beside it.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_HOME = ROOT / ".cache" / ("test-home" + (f"-{_WORKER}" if _WORKER else ""))
TEST_REPORTS = ROOT / ".cache" / ("test-reports" + (f"-{_WORKER}" if _WORKER else ""))

# The test modules that read rendered_real_reports(). It renders once per process, so under
# pytest-xdist tests/conftest.py keeps these files in one worker: the notebooks execute once per
# test run (tests/test_test_hygiene.py checks this list is complete).
REAL_REPORT_MODULES = ("tests/test_reports_notebooks.py", "tests/test_report_html.py")


def real_reports() -> list[str]:
    """The project's own report notebooks (empty until they are written)."""
    return sorted(
        p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if not p.stem.startswith("_")
    )


def make_project(tmp: Path, notebooks: list[str], params: dict[str, str] | None = None) -> Path:
    """A project folder under ``tmp`` with fixture notebooks and ``params/<name>.yaml`` texts."""
    root = tmp / "project"
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    (root / "params").mkdir(exist_ok=True)
    for name in notebooks:
        shutil.copy(FIXTURES / f"{name}.ipynb", root / "notebooks" / f"{name}.ipynb")
    for name, text in (params or {}).items():
        (root / "params" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return root


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m livekit ARGS`` in ``cwd`` (a fresh interpreter, as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "livekit", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        cwd=cwd,
        env={
            **os.environ,
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "PYTHONIOENCODING": "utf-8",
            **(env or {}),
        },
    )


def load_nb(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def injected_source(nb: dict[str, Any]) -> str | None:
    """The source of papermill's ``injected-parameters`` cell, or None."""
    for cell in nb["cells"]:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            return "".join(source) if isinstance(source, list) else str(source)
    return None


def stream_text(nb: dict[str, Any]) -> str:
    return "".join(
        "".join(o.get("text", ""))
        for cell in nb["cells"]
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
    )


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables (kernels and workers inherit them), then restore them."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@functools.cache
def rendered_real_reports() -> tuple[Project, tuple[RunResult, ...]]:
    """Every report of the project, rendered once per test session (two at a time).

    Into ``.cache/test-reports[-<worker>]`` (not the project's reports/), against the sandbox data in
    ``TEST_HOME``. The sandbox is synced first, as ``make demo`` does: two reports syncing
    the same empty store at once would each start their own sandbox.
    """
    import livekit

    out = TEST_REPORTS
    shutil.rmtree(out, ignore_errors=True)
    project = Project(ROOT, out)
    with environment(LIVEKIT_HOME=str(TEST_HOME)):
        livekit.open("sandbox").sync("45_days_ago", "today")
        results = run(all=True, jobs=2, project=project)
    return project, tuple(results)
