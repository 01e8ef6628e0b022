"""The project's own reports: every notebook renders, and plain papermill agrees with livekit."""

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
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REPORTS, reason="notebooks/ 中还没有报告"),
]


@pytest.mark.parametrize("name", REPORTS)
def test_each_notebook_follows_the_conventions(name: str) -> None:
    nb = load_nb(ROOT / "notebooks" / f"{name}.ipynb")
    assert nb["metadata"]["kernelspec"]["name"] == "livekit"
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert declared_parameters(ROOT / "notebooks" / f"{name}.ipynb"), "no parameters cell"
    assert (ROOT / "params" / f"{name}.yaml").exists()
    check(name, project=ROOT)  # params/<name>.yaml fits the notebook


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_renders(name: str) -> None:
    project, results = rendered_real_reports()
    result = next(r for r in results if r.name == name)
    assert result.ok, result.error
    assert result.html is not None
    assert result.html.parent == project.reports_dir / name / today().isoformat()
    page = result.html.read_text(encoding="utf-8")
    assert offline_violations(page) == []
    assert "<script" not in page.lower()


def test_the_index_lists_every_report() -> None:
    project, results = rendered_real_reports()
    page = project.index_file.read_text(encoding="utf-8")
    for result in results:
        assert result.html is not None
        assert f'href="{result.html.relative_to(project.reports_dir).as_posix()}"' in page


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


@pytest.mark.parametrize("name", REPORTS)
def test_plain_papermill_with_the_params_file_gives_the_same_report(
    name: str, tmp_path: Path
) -> None:
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
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = load_nb(out)
    assert injected_source(theirs) == injected_source(load_nb(ours.notebook))
    assert theirs["metadata"]["papermill"]["parameters"] == json.loads(
        json.dumps(check(name, project=Project(ROOT)))
    )
