"""Test hygiene: shared helpers live in ``tests/helpers``; no test module imports another.

Fixtures reach tests by name through ``tests/conftest.py``; everything else a test shares is a
plain module under ``tests/helpers``. A test module importing ``tests.conftest`` or another
``tests.test_*`` module runs that module's import side effects twice (pytest imports it as a
test module too) and ties one file's tests to another's internals.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# The test modules, the helpers, and the benchmarks (which share the helpers too).
CHECKED = sorted(
    [*TESTS.glob("test_*.py"), *(TESTS / "helpers").glob("*.py"), *(ROOT / "bench").glob("*.py")]
)


def _is_forbidden(module: str) -> bool:
    """``tests.conftest`` and ``tests.test_*`` (or anything inside them)."""
    parts = module.split(".")
    return (
        len(parts) >= 2
        and parts[0] == "tests"
        and (parts[1] == "conftest" or parts[1].startswith("test_"))
    )


def forbidden_imports(source: str, package: str = "tests") -> list[str]:
    """The modules ``source`` imports that are test modules or the conftest, as written.

    Relative imports are resolved against ``package``; imports inside functions count too.
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if _is_forbidden(module):
                found.append(module)
            else:  # from tests import conftest / from tests import test_x
                found += [
                    f"{module}.{a.name}" for a in node.names if _is_forbidden(f"{module}.{a.name}")
                ]
    return found


def test_the_check_sees_every_way_of_importing_a_test_module() -> None:
    bad = """
import tests.conftest
from tests.conftest import NOW
from tests.test_sync import read_all
from tests import test_escape, helpers
from .conftest import make_config
from . import test_store

def later():
    import tests.test_cli as cli
"""
    assert forbidden_imports(bad) == [
        "tests.conftest",
        "tests.conftest",
        "tests.test_sync",
        "tests.test_escape",
        "tests.conftest",
        "tests.test_store",
        "tests.test_cli",
    ]
    good = "from tests.helpers.sync import read_all\nimport tests.helpers.reports\nfrom tests import helpers\n"
    assert forbidden_imports(good) == []
    # helpers are a package one level down: ``..conftest`` from there is the conftest
    assert forbidden_imports("from ..conftest import x", package="tests.helpers") == [
        "tests.conftest"
    ]


def test_the_checked_files_include_every_test_module_and_helper() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in CHECKED}
    assert "tests/test_test_hygiene.py" in names
    assert "tests/helpers/reports.py" in names
    assert "bench/coverage.py" in names
    assert len(names) > 50


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_test_module_or_helper_imports_a_test_module_or_the_conftest(path: Path) -> None:
    package = "tests.helpers" if path.parent.name == "helpers" else "tests"
    assert forbidden_imports(path.read_text(encoding="utf-8"), package) == [], (
        f"{path.name}: shared code belongs in tests/helpers (fixtures in conftest.py, used by name)"
    )


def test_shared_helpers_are_only_in_the_helpers_package() -> None:
    """Every non-test module of tests/ is the conftest, a package marker, or under helpers/."""
    loose = sorted(
        p.name
        for p in TESTS.glob("*.py")
        if not p.name.startswith("test_") and p.name not in ("conftest.py", "__init__.py")
    )
    assert loose == []
    assert (TESTS / "helpers" / "__init__.py").exists()


def test_every_module_reading_the_rendered_reports_runs_in_one_worker() -> None:
    """The project's reports render once per process; conftest keeps their readers together."""
    from tests.helpers.reports import REAL_REPORT_MODULES

    readers = sorted(
        f"tests/{p.name}"
        for p in TESTS.glob("test_*.py")
        if "rendered_real_reports" in _imported_names(p.read_text(encoding="utf-8"))
    )
    assert readers == sorted(REAL_REPORT_MODULES)


def _imported_names(source: str) -> set[str]:
    return {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
