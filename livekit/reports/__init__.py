"""Reports: the project's notebooks, run with papermill into self-contained HTML pages.

A report is ``notebooks/<name>.ipynb`` run with the parameters in ``params/<name>.yaml`` (and
nothing else, so ``papermill notebooks/<name>.ipynb out.ipynb -f params/<name>.yaml -k livekit``
renders the same report). Each run writes ``reports/<name>/<YYYY-MM-DD>/<name>.ipynb`` and
``<name>.html`` and is listed in ``reports/index.html``. ``params/schedules.yaml`` says when
each report runs (see :mod:`livekit.reports.schedule`).

With a shops file (an agency's shops, :mod:`livekit.shops`) a notebook's ``shop`` parameter
picks the shop (``--shop ID`` is ``-p shop ID``; ``--all-shops`` runs each shop in turn; the
default is the only shop) and the run goes to ``reports/shop=<id>/<name>/<YYYY-MM-DD>/``; the
index shows the shop. :mod:`livekit.reports.publish` uploads runs and the index to the object
store (``LIVEKIT_STORE_URL``) for workers that share no disk.

::

    from livekit import reports
    reports.run(["funnel", "roi"], date="yesterday")    # -> [RunResult, ...]
    reports.run(all=True, jobs=2)
    reports.names()                                     # every report of the project
    reports.parameters("funnel")                        # what its parameters cell declares
    reports.check("funnel")                             # params/funnel.yaml, checked
    reports.run("funnel", overrides=reports.Overrides(values=(("top_n", "5"),)))  # -p top_n 5
    reports.run("funnel", shop="flagship")              # one shop of params/shops.yaml
    reports.run("funnel", all_shops=True)               # every shop, one run each

Bad parameters, unknown reports and a missing kernel raise :class:`ReportError` before
anything runs; a notebook that fails is returned as a failed :class:`RunResult` (its executed
notebook kept) and does not stop the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from livekit.reports.params import (
    SHOP_PARAMETER,
    Overrides,
    Parameter,
    ParameterError,
    declared_parameters,
    report_parameters,
)
from livekit.reports.project import Project, Report, ReportError
from livekit.reports.result import RunResult
from livekit.reports.runner import (
    RunOptions,
    project_shops,
    report_day,
    run_reports,
    with_parameter,
)

__all__ = [
    "Overrides",
    "Parameter",
    "ParameterError",
    "Project",
    "Report",
    "ReportError",
    "RunOptions",
    "RunResult",
    "check",
    "names",
    "parameters",
    "run",
]


def _project(project: Project | Path | str | None) -> Project:
    if isinstance(project, Project):
        return project
    return Project.find(Path(project) if project is not None else None)


def run(
    names: Sequence[str] | str | None = None,
    *,
    all: bool = False,
    date: dt.date | str | None = None,
    jobs: int = 1,
    options: RunOptions | None = None,
    project: Project | Path | str | None = None,
    on_done: Callable[[RunResult], None] | None = None,
    overrides: Overrides | None = None,
    shop: str | None = None,
    all_shops: bool = False,
) -> list[RunResult]:
    """Run the reports ``names`` (or ``all=True``: every notebook) for ``date`` (default today).

    ``shop`` (an id of the shops file, see :mod:`livekit.shops`) is ``-p shop <id>``: the
    report reads that shop and goes to ``reports/shop=<id>/<name>/<date>/``; ``all_shops``
    runs every report once for each shop of the shops file.

    ``date`` is the report's date (any day of :mod:`livekit.dates`: ``YYYY-MM-DD``, ``today``,
    ``yesterday``, ``N_days_ago``, ``-N``): the output folder, and the day relative dates in the
    parameters resolve against. ``overrides`` (``-f`` files, ``-p`` values) change the
    parameters files for this run; every chosen report must declare their names.
    ``jobs`` reports run at a time. The project is found from the current folder upwards.
    """
    proj = _project(project)
    if isinstance(names, str):
        names = [names]
    if all and names:
        raise ReportError("不能同时指定报告名称与 --all")
    if all:
        chosen = proj.names()
        if not chosen:
            raise ReportError(f"{proj.notebooks_dir} 中没有任何报告笔记本")
    elif names:
        chosen = list(names)
    else:
        raise ReportError("请指定要运行的报告名称，或用 --all 运行全部报告")
    shops = _shops(proj, shop, all_shops)
    if shop is not None and not all_shops:
        overrides = with_parameter(overrides, SHOP_PARAMETER, shop)
    return run_reports(
        proj,
        chosen,
        report_day(date),
        jobs=jobs,
        options=options,
        on_done=on_done,
        overrides=overrides,
        shops=shops,
    )


def _shops(project: Project, shop: str | None, all_shops: bool) -> list[str] | None:
    """Every shop id of the shops file for ``all_shops`` (else None)."""
    if not all_shops:
        return None
    if shop is not None:
        raise ReportError("不能同时指定 --shop 与 --all-shops")
    shops = [s.id for s in project_shops(project)]
    if not shops:
        raise ReportError(
            "没有店铺清单（params/shops.yaml 或环境变量 LIVEKIT_SHOPS_FILE）：--all-shops 用于多个店铺"
        )
    return shops


def names(project: Project | Path | str | None = None) -> list[str]:
    """Every report of the project (the notebooks in ``notebooks/``)."""
    return _project(project).names()


def parameters(name: str, project: Project | Path | str | None = None) -> dict[str, Parameter]:
    """The parameters report ``name``'s notebook declares: name, default, type, comment."""
    return declared_parameters(_project(project).report(name).notebook)


def check(
    name: str,
    date: dt.date | str | None = None,
    project: Project | Path | str | None = None,
    overrides: Overrides | None = None,
) -> dict[str, Any]:
    """``params/<name>.yaml`` (then ``overrides``), checked against the notebook: the values
    papermill receives. Raises ParameterError if wrong."""
    return report_parameters(_project(project).report(name), report_day(date), overrides)
