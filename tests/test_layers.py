"""The import-layer contract ([tool.importlinter] in pyproject.toml, `make layers`) can fail.

Each case copies the package and the contract into a temporary directory, adds one import that
breaks a rule to the copy, and runs the real `lint-imports` on the copy (PYTHONPATH and the working
directory point at it, so the editable install of the project is not what is checked). The
untouched copy is checked too: it passes, so the failures come from the added import alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_project(target: Path) -> Path:
    shutil.copytree(
        ROOT / "livekit", target / "livekit", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _append(path: Path, line: str) -> int:
    """Append ``line`` to ``path``; return its line number."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    text += line + "\n"
    path.write_text(text, encoding="utf-8")
    return text.count("\n")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_project(tmp_path_factory.mktemp("pristine"))


def test_the_unmodified_copy_keeps_every_contract(pristine: Path) -> None:
    result = _lint(pristine)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    # The copy is what was checked, not the project the editable install points at.
    where = subprocess.run(
        [sys.executable, "-c", "import livekit; print(livekit.__file__)"],
        cwd=pristine,
        env={**os.environ, "PYTHONPATH": str(pristine)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(pristine)


# (file to edit, import added, contract expected broken, text lint-imports reports)
CASES = [
    pytest.param(
        "livekit/analysis/__init__.py",
        "import livekit.reports",
        "Layers: each layer imports only the layers below it BROKEN",
        "livekit.analysis -> livekit.reports (l.{line})",
        id="analysis-imports-reports",
    ),
    pytest.param(
        "livekit/monitor/__init__.py",
        "import livekit.reports",
        "Layers: each layer imports only the layers below it BROKEN",
        "livekit.monitor -> livekit.reports (l.{line})",
        id="monitor-imports-its-sibling-reports",
    ),
    pytest.param(
        "livekit/store/__init__.py",
        "import livekit.sandbox.world",
        "The client never imports the sandbox, not even through another module BROKEN",
        "livekit.store -> livekit.sandbox.world (l.{line})",
        id="store-imports-sandbox",
    ),
    pytest.param(
        "livekit/sandbox/__init__.py",
        "import livekit.api",
        "The sandbox never imports the client BROKEN",
        "livekit.sandbox -> livekit.api (l.{line})",
        id="sandbox-imports-client",
    ),
    pytest.param(
        "livekit/vocab/__init__.py",
        "import livekit.config",
        "livekit.vocab imports nothing from livekit BROKEN",
        "livekit.vocab -> livekit.config (l.{line})",
        id="vocab-imports-config",
    ),
    pytest.param(
        "livekit/charts/__init__.py",
        "import livekit.store",
        "Analysis and charts are pure: no settings, no store, no client, no files BROKEN",
        "livekit.charts -> livekit.store (l.{line})",
        id="charts-reads-the-store",
    ),
    pytest.param(
        "livekit/__init__.py",
        "import livekit.monitor",
        "imports nothing from monitor, reports, sandbox, jobs, cli BROKEN",
        "livekit -> livekit.monitor (l.{line})",
        id="package-root-imports-monitor",
    ),
    pytest.param(
        "livekit/analysis/__init__.py",
        "def _later() -> None:\n    import livekit.cli",
        "Layers: each layer imports only the layers below it BROKEN",
        "livekit.analysis -> livekit.cli (l.{line})",
        id="lazy-import-counts-too",
    ),
]


@pytest.mark.parametrize(("module", "line", "contract", "reported"), CASES)
def test_an_import_against_the_layers_breaks_the_contract(
    pristine: Path, tmp_path: Path, module: str, line: str, contract: str, reported: str
) -> None:
    project = tmp_path / "project"
    shutil.copytree(pristine, project)
    path = project / module
    if not path.exists() and path.name == "__init__.py":  # a package that is one module again
        path = path.parent.with_suffix(".py")
    last = _append(path, line)
    result = _lint(project)
    assert result.returncode == 1, result.stdout + result.stderr
    # lint-imports wraps long contract names; compare the output with line breaks removed.
    flat = result.stdout.replace("\n", "")
    assert contract in flat, result.stdout
    assert reported.format(line=last) in result.stdout, result.stdout


def test_a_new_top_level_module_must_be_given_a_floor(pristine: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(pristine, project)
    (project / "livekit" / "newfloor.py").write_text('"""Not placed in any layer."""\n')
    result = _lint(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "livekit.newfloor" in result.stdout, result.stdout
