"""What a report costs over its notebook's imports, and what ``--jobs 2`` buys.

Run:  .venv/bin/python bench/reports.py [--repeat 2] [--reports funnel,roi]

For each report (``notebooks/<name>.ipynb`` with ``params/<name>.yaml``) it prints the time of
livekit's whole run (checking the parameters, papermill in the ``livekit`` kernel, the HTML
page, the index) over the "floor": the same papermill run, in this same process, of a generated
notebook that only does the report's imports (with the chart stack the pages import lazily). Best of ``--repeat``, runs interleaved. Then the
whole set rendered with ``--jobs 2`` over the same set rendered serially. Goals: each report
≤ 1.5 × its floor; parallel ≤ 0.65 × serial. Nothing asserts (machines are noisy; ratios less).

Next to the wall-clock times it prints the CPU seconds of the same runs (this process and the
kernels it started and reaped, best of ``--repeat``): on a machine shared with other jobs the
wall-clock ratio mostly measures the neighbours, the CPU ratio what the report itself costs.

Data: the offline sandbox in ``.cache/bench-home`` (synced first, untimed, as ``make demo``
does); pages go to a temporary folder, never to ``reports/``.
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LIVEKIT_HOME", str(ROOT / ".cache" / "bench-home"))

import nbformat  # noqa: E402

import livekit  # noqa: E402
from livekit.dates import today  # noqa: E402
from livekit.reports import Project, run  # noqa: E402
from livekit.reports.project import Report  # noqa: E402
from livekit.reports.runner import RunOptions, execute, run_report  # noqa: E402

# What the pages import only when they draw (so that ``import livekit`` and ``livekit --help``
# stay light): part of every report's imports all the same, so part of its floor. Starting the
# chart engine and drawing (vl-convert's first conversion) is work, and stays in the report.
LAZY_IMPORTS = ("import altair", "import vl_convert")


def floor_notebook(notebook: Path, out: Path) -> Path:
    """A notebook with one cell: every top-level import statement of ``notebook``'s code, and
    the chart stack the pages import lazily (:data:`LAZY_IMPORTS`)."""
    nb = nbformat.read(notebook, as_version=4)
    imports: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                line = ast.get_source_segment(cell.source, node)
                if line and line not in imports:
                    imports.append(line)
    imports += [line for line in LAZY_IMPORTS if line not in imports]
    floor = nbformat.v4.new_notebook(metadata=nb.metadata)
    floor.cells = [nbformat.v4.new_code_cell("\n".join(imports))]
    path = out / f"{notebook.stem}_floor.ipynb"
    nbformat.write(floor, path)
    return path


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its reaped children (the kernels)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, best kept")
    parser.add_argument("--reports", help="comma-separated names (default: every report)")
    args = parser.parse_args()

    day = today()
    with tempfile.TemporaryDirectory(prefix="livekit-bench-") as tmp:
        out = Path(tmp)
        project = Project(ROOT, out / "reports")
        names = args.reports.split(",") if args.reports else project.names()
        print(f"LIVEKIT_HOME={os.environ['LIVEKIT_HOME']}；同步沙盒并预热（不计时）……", flush=True)
        livekit.open("sandbox").sync("45_days_ago", "today")
        warm = run(names, project=project)
        failed = [r.name for r in warm if not r.ok]
        if failed:
            sys.exit(f"预热失败：{failed}：{[r.error for r in warm if not r.ok]}")

        print(
            f"\n{'report':<16}{'floor s':>9}{'report s':>10}{'ratio':>8}   (goal ≤ 1.50)"
            f"{'cpu floor':>12}{'cpu report':>12}{'cpu ratio':>11}"
        )
        options = RunOptions()
        for name in names:
            report = project.report(name)
            floor = Report(f"{name}_floor", floor_notebook(report.notebook, out), out / "none.yaml")
            floors: list[float] = []
            renders: list[float] = []
            floor_cpu: list[float] = []
            render_cpu: list[float] = []
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), cpu_seconds()
                _, error = execute(floor, {}, out / "floor_out.ipynb", day, options)
                floors.append(time.perf_counter() - t0)
                floor_cpu.append(cpu_seconds() - c0)
                if error:
                    sys.exit(f"{name} 的 floor 笔记本失败：{error}")
                t0, c0 = time.perf_counter(), cpu_seconds()
                result = run_report(project, name, day, options)
                renders.append(time.perf_counter() - t0)
                render_cpu.append(cpu_seconds() - c0)
                if not result.ok:
                    sys.exit(f"{name} 失败：{result.error}")
            best_floor, best_render = min(floors), min(renders)
            cpu_floor, cpu_render = min(floor_cpu), min(render_cpu)
            print(
                f"{name:<16}{best_floor:>9.2f}{best_render:>10.2f}{best_render / best_floor:>8.2f}"
                f"{'':<17}{cpu_floor:>12.2f}{cpu_render:>12.2f}{cpu_render / cpu_floor:>11.2f}",
                flush=True,
            )

        t0 = time.perf_counter()
        run(names, project=project, jobs=1)
        serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        run(names, project=project, jobs=2)
        parallel = time.perf_counter() - t0
        print(
            f"\nall {len(names)} reports: serial {serial:.1f} s, --jobs 2 {parallel:.1f} s, "
            f"ratio {parallel / serial:.2f} (goal ≤ 0.65; {os.cpu_count()} CPUs)"
        )


if __name__ == "__main__":
    main()
