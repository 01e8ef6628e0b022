"""The project's own reports: every notebook renders, and plain papermill agrees with livekit.

This is where the notebooks execute in ``make test``, once each: the runner renders every
report (papermill in the project's kernel ``livekit``, against the sandbox on loopback) with
``params/<name>.yaml``, which holds exactly the notebook's defaults, so the render is also the
check that every notebook runs on its defaults (what ``make nbval`` shows again, for people).
``tests/test_report_html.py`` opens the same rendered pages in a browser; both files run in
one pytest-xdist worker (``tests/conftest.py``), so nothing renders twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from livekit.config import SANDBOX_DOUDIAN_APP_SECRET, SANDBOX_QIANCHUAN_SECRET
from livekit.dates import today
from livekit.reports import Project, check
from livekit.reports.html import offline_violations
from livekit.reports.params import declared_parameters
from tests.helpers.reports import (
    ROOT,
    TEST_HOME,
    environment,
    injected_source,
    load_nb,
    real_reports,
    rendered_real_reports,
)

REPORTS = real_reports()
# The checks of the notebooks' files are fast; every test reading the rendered reports is slow
# (the first one renders all of them).
pytestmark = pytest.mark.skipif(not REPORTS, reason="notebooks/ 中还没有报告")


@pytest.mark.parametrize("name", REPORTS)
def test_each_notebook_follows_the_conventions(name: str) -> None:
    nb = load_nb(ROOT / "notebooks" / f"{name}.ipynb")
    assert nb["metadata"]["kernelspec"]["name"] == "livekit"
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert declared_parameters(ROOT / "notebooks" / f"{name}.ipynb"), "no parameters cell"
    assert (ROOT / "params" / f"{name}.yaml").exists()
    check(name, project=ROOT)  # params/<name>.yaml fits the notebook


@pytest.mark.parametrize("name", REPORTS)
def test_the_params_file_holds_the_notebooks_defaults(name: str) -> None:
    """So the rendered report below is the notebook run on its defaults."""
    defaults = {
        k: p.default for k, p in declared_parameters(ROOT / "notebooks" / f"{name}.ipynb").items()
    }
    assert check(name, project=ROOT) == defaults


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORTS)
def test_every_report_renders(name: str) -> None:
    project, results = rendered_real_reports()
    result = next(r for r in results if r.name == name)
    assert result.ok, result.error
    assert result.html is not None
    assert result.notebook is not None
    executed = load_nb(result.notebook)  # every cell ran, in the project's kernel
    assert executed["metadata"]["kernelspec"]["name"] == "livekit"
    assert executed["metadata"]["papermill"]["exception"] is None
    code = [c for c in executed["cells"] if c["cell_type"] == "code" and c["source"]]
    assert all(c.get("execution_count") for c in code), "a code cell did not run"
    assert result.html.parent == project.reports_dir / name / today().isoformat()
    page = result.html.read_text(encoding="utf-8")
    assert offline_violations(page) == []
    assert "<script" not in page.lower()


@pytest.mark.slow
def test_the_index_lists_every_report() -> None:
    project, results = rendered_real_reports()
    page = project.index_file.read_text(encoding="utf-8")
    for result in results:
        assert result.html is not None
        assert f'href="{result.html.relative_to(project.reports_dir).as_posix()}"' in page


@pytest.mark.slow
def test_reports_hold_no_secret_or_token() -> None:
    project, _ = rendered_real_reports()
    secrets = {SANDBOX_QIANCHUAN_SECRET, SANDBOX_DOUDIAN_APP_SECRET, "do-not-use-in-production"}
    tokens = TEST_HOME / "sandbox" / "tokens.json"
    for platform in json.loads(tokens.read_text()).values():
        secrets |= {v for k, v in platform.items() if k.endswith("_token") and v}
    assert len(secrets) > 3
    leaks = [
        f"{path.relative_to(project.reports_dir)}: {secret[:12]}…"
        for path in project.reports_dir.rglob("*")
        if path.is_file()
        for secret in secrets
        if secret in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert leaks == []


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORTS)
def test_plain_papermill_with_the_params_file_injects_the_same_parameters(
    name: str, tmp_path: Path
) -> None:
    """papermill's own command line, as a user runs it, without executing again
    (``--prepare-only``: the notebook executes once per test run, in the render)."""
    _, results = rendered_real_reports()
    ours = next(r for r in results if r.name == name)
    assert ours.notebook is not None
    out = tmp_path / f"{name}.ipynb"
    with environment(LIVEKIT_HOME=str(TEST_HOME)):
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("papermill")),
                f"notebooks/{name}.ipynb",
                str(out),
                "-f",
                f"params/{name}.yaml",
                "-k",
                "livekit",
                "--cwd",
                "notebooks",
                "--prepare-only",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = load_nb(out)
    assert injected_source(theirs) == injected_source(load_nb(ours.notebook))
    assert theirs["metadata"]["papermill"]["parameters"] == json.loads(
        json.dumps(check(name, project=Project(ROOT)))
    )
