"""Where reports come from and go: ``notebooks/<name>.ipynb``, ``params/<name>.yaml``, ``reports/``.

A project is a folder holding ``notebooks/`` (one notebook per report) and ``params/`` (the
parameters each report runs with, plus ``schedules.yaml``). Rendered reports go to
``reports/<name>/<YYYY-MM-DD>/`` (a shop's run: ``reports/shop=<id>/<name>/<YYYY-MM-DD>/``), with ``reports/index.html`` listing every run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from livekit._files import write_bytes_atomic
from livekit.vocab.errors import LivekitError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
PROJECT_HINT = "请在项目目录（含 notebooks/ 与 params/）中运行"


class ReportError(LivekitError):
    """A report that cannot be found or read; the message says which and what exists."""


@dataclass(frozen=True)
class Report:
    """One report: a notebook and (optionally) the YAML file of its parameters."""

    name: str
    notebook: Path
    params_file: Path

    @property
    def title(self) -> str:
        """The notebook's first Markdown heading (its Chinese title), or the report's name."""
        return notebook_title(self.notebook) or self.name


@dataclass(frozen=True)
class Project:
    """The folders of one project. ``reports_dir`` may point elsewhere (tests, benchmarks)."""

    root: Path
    output_dir: Path | None = field(default=None)

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        """The nearest folder at or above ``start`` (default: the current one) with ``notebooks/``."""
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "notebooks").is_dir():
                return cls(folder)
        raise ReportError(f"找不到 notebooks/ 目录：{PROJECT_HINT}（当前目录 {here}）")

    @property
    def notebooks_dir(self) -> Path:
        return self.root / "notebooks"

    @property
    def params_dir(self) -> Path:
        return self.root / "params"

    @property
    def reports_dir(self) -> Path:
        return self.output_dir or self.root / "reports"

    @property
    def schedules_file(self) -> Path:
        return self.params_dir / "schedules.yaml"

    @property
    def index_file(self) -> Path:
        return self.reports_dir / "index.html"

    def names(self) -> list[str]:
        """Every report of the project: the notebooks in ``notebooks/``, sorted by name."""
        if not self.notebooks_dir.is_dir():
            raise ReportError(f"找不到 {self.notebooks_dir}：{PROJECT_HINT}")
        return sorted(
            p.stem
            for p in self.notebooks_dir.glob("*.ipynb")
            if NAME.match(p.stem) and not p.stem.startswith("_")
        )

    def report(self, name: str) -> Report:
        """The report called ``name``, or an error listing the reports that exist."""
        path = self.notebooks_dir / f"{name}.ipynb"
        if not NAME.match(name) or not path.is_file():
            known = "、".join(self.names()) or "（无）"
            raise ReportError(
                f"未知的报告 {name!r}：{self.notebooks_dir} 中没有它；已有报告：{known}"
            )
        return Report(name, path, self.params_dir / f"{name}.yaml")

    def output_dir_for(self, name: str, day: date, shop: str | None = None) -> Path:
        """``reports/<name>/<day>/``, or ``reports/shop=<id>/<name>/<day>/`` for a shop's run."""
        return self.reports_dir / shop_folder(shop) / name / day.isoformat()


def shop_folder(shop: str | None) -> str:
    """The folder of a shop's reports under ``reports/``: the store's level (``shop=<id>``),
    or ``""`` (the reports folder itself) in one-shop mode."""
    return f"shop={shop}" if shop else ""  # livekit.store.SHOP_LEVEL, without importing polars


def notebook_title(path: Path) -> str | None:
    """The text of the first ``# heading`` in the notebook's Markdown cells."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        for line in text.splitlines():
            if line.startswith("# "):
                return line[2:].strip() or None
    return None


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    write_bytes_atomic(path, text.encode("utf-8"), mode=0o644)
