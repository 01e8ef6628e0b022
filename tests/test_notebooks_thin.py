"""Notebooks are thin: parameters, a handful of calls into livekit, and Markdown (issue 11).

Every notebook under notebooks/ has at most 40 code lines (parameters cell included; blank and
comment-only lines not counted), imports only public names of livekit, and has no loop,
comprehension, function definition or group-by of its own: that logic lives in livekit, where it
is tested.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_CODE_LINES = 40
GROUPING = frozenset({"group_by", "groupby", "partition_by", "rolling", "group_by_dynamic", "over"})
LOOPS = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
)


def code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def code_lines(source: str) -> int:
    lines = (line.strip() for line in source.splitlines())
    return sum(1 for line in lines if line and not line.startswith("#"))


def problems(source: str) -> list[str]:
    """What in ``source`` (one cell) a thin notebook may not have."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if not _public_livekit(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [a.name for a in node.names]
            if node.level or not _public_livekit(module) or any(n.startswith("_") for n in names):
                found.append(f"from {'.' * node.level}{module} import {', '.join(names)}")
        elif isinstance(node, LOOPS):
            found.append(f"{type(node).__name__} on line {node.lineno}")
        elif isinstance(node, ast.Attribute) and node.attr in GROUPING:
            found.append(f".{node.attr} on line {node.lineno}")
    return found


def _public_livekit(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "livekit" and not any(p.startswith("_") for p in parts)


def test_the_checker_catches_what_it_forbids() -> None:
    bad = (
        "import polars as pl\n"
        "from livekit.pages._page import Section\n"
        "from livekit.analysis import _stats\n"
        "x = [r for r in rooms]\n"
        "for r in rooms:\n    pass\n"
        "def f():\n    return 1\n"
        "df.group_by('a').agg()\n"
    )
    found = problems(bad)
    assert len(found) == 7, found
    assert (
        problems("import livekit\nfrom livekit.pages import funnel\npage = funnel.build(k)\n") == []
    )
    assert code_lines("# comment\n\nx = 1\n  # indented comment\ny = 2\n") == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin(path: Path) -> None:
    cells = code_cells(path)
    total = sum(code_lines(c) for c in cells)
    assert total <= MAX_CODE_LINES, f"{path.name}: {total} code lines (at most {MAX_CODE_LINES})"
    found = [p for c in cells for p in problems(c)]
    assert found == [], f"{path.name}: {found}"


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 6
