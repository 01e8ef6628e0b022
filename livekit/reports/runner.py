"""Run reports: papermill in the project's kernel, then the HTML page, then the index.

One run of report ``name`` for day ``D``:

1. its parameters (``params/<name>.yaml``, then any ``-f`` files and ``-p`` values of this run)
   are checked against the notebook (params.py);
2. papermill executes ``notebooks/<name>.ipynb`` in the Jupyter kernel ``livekit`` (the
   project's .venv), in the notebook's folder, with ``LIVEKIT_REPORT_DATE=D`` in the kernel's
   environment, a time limit per cell and one for the whole notebook, into
   ``reports/<name>/<D>/<name>.ipynb`` (for a shop: ``reports/shop=<id>/<name>/<D>/``, see
   :func:`report_shop`);
3. known secrets are scrubbed from the executed notebook (a run that printed one fails);
4. the notebook becomes ``<name>.html`` (html.py), and the run is added to the index.

A run that fails at 2–4 leaves its executed notebook, is recorded as failed and raises
nothing: :func:`run_reports` goes on with the other reports. With ``jobs > 1``, ``jobs``
reports run at a time, each from a thread of this process: the work is in the kernels, which
are processes of their own, so threads cost nothing to start and share what this process has
already imported (papermill, nbconvert). Nothing here changes the process's working folder.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livekit.dates import REPORT_DATE_ENV
from livekit.reports import index
from livekit.reports.params import SHOP_PARAMETER, Overrides, ParameterError, report_parameters
from livekit.reports.project import Project, Report, ReportError, write_text_atomic
from livekit.reports.result import RunResult
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

if TYPE_CHECKING:
    from livekit.shops import Shop

KERNEL = "livekit"
SCRUBBED = "***"


@dataclass(frozen=True)
class RunOptions:
    """Limits and the kernel. Timeouts are seconds; a cell is also bound by the notebook's."""

    timeout: float = 1800.0  # the whole notebook
    cell_timeout: float = 600.0  # one cell
    start_timeout: float = 60.0  # the kernel's start
    kernel: str = KERNEL

    def with_limits(
        self, timeout: float | None = None, cell_timeout: float | None = None
    ) -> RunOptions:
        """A copy with the limits that are given (None keeps the current one)."""
        return RunOptions(
            timeout=self.timeout if timeout is None else timeout,
            cell_timeout=self.cell_timeout if cell_timeout is None else cell_timeout,
            start_timeout=self.start_timeout,
            kernel=self.kernel,
        )

    def __post_init__(self) -> None:
        for name in ("timeout", "cell_timeout", "start_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ReportError(f"时限 {name} 应为正数（秒），收到 {value!r}")


# ---- one report, in this process ---------------------------------------------------------------


def run_report(
    project: Project,
    name: str,
    day: date,
    options: RunOptions | None = None,
    overrides: Overrides | None = None,
) -> RunResult:
    """Run report ``name`` for ``day``; failures are recorded and returned, not raised.

    ``overrides`` (``-f`` files, ``-p`` values) change ``params/<name>.yaml`` for this run only.
    A run for a shop (its ``shop`` parameter, see :func:`report_shop`) goes to
    ``reports/shop=<id>/<name>/<day>/``.

    An unknown report or shop raises :class:`ReportError` (there is nothing to record a run of).
    """
    options = options or RunOptions()
    report = project.report(name)
    shop = report_shop(project, report, day, overrides)
    out_dir = project.output_dir_for(name, day, shop.id if shop else None)
    nb_path, html_path = out_dir / f"{name}.ipynb", out_dir / f"{name}.html"
    started, t0 = datetime.now(CHINA_TZ), time.monotonic()
    error: str | None = None
    html: Path | None = None
    executed = False
    try:
        parameters = report_parameters(report, day, overrides)
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in (nb_path, html_path):  # the folder must show this run, not an older one
            stale.unlink(missing_ok=True)
        executed = True
        nb, error = execute(report, parameters, nb_path, day, options)
        secrets = known_secrets(project)
        if nb is not None and scrub(nb, secrets):
            _write_notebook(nb, nb_path)
            error = error or "输出中出现了密钥或令牌（已替换为 ***）：请不要在笔记本中打印凭据"
        if error is None and nb is not None:
            index_href = os.path.relpath(project.index_file, out_dir)
            html = _export(nb, html_path, report.title, day, index_href)
    except ReportError as exc:  # ParameterError, a page that would load from elsewhere ...
        error = str(exc)
    except Exception as exc:  # a report must never take the others down
        error = f"{type(exc).__name__}: {exc}"
    if error is not None:  # whatever failed, the message recorded and shown holds no secret
        error = _scrubbed(error, known_secrets(project))
    result = RunResult(
        name=name,
        title=report.title,
        date=day,
        status="failed" if error else "ok",
        started_at=started,
        seconds=time.monotonic() - t0,
        notebook=nb_path if executed and nb_path.exists() else None,
        html=html if error is None else None,
        error=error,
        shop=shop.id if shop else None,
        shop_name=shop.name if shop else None,
    )
    index.record(project.reports_dir, result)
    return result


SANDBOX_SOURCE = "sandbox"


def report_shop(
    project: Project, report: Report, day: date, overrides: Overrides | None = None
) -> Shop | None:
    """The shop a run of ``report`` is for; None for a run without one (one-shop mode).

    Only a notebook that declares the parameter ``shop`` runs for a shop: its value (from
    ``params/<name>.yaml``, ``-f``, ``-p``/``--shop``), else ``LIVEKIT_SHOP``, else the only
    shop, resolved in the shops file the kernel finds (``LIVEKIT_SHOPS_FILE``, else the nearest
    ``params/shops.yaml`` above the notebooks). Without a shops file and without a value: None,
    as always. A report that reads the built-in sandbox (``source: sandbox``) has no shop: the
    sandbox kit is one shop. Raises :class:`ParameterError` (one line) for an unknown shop, a
    value that is not an id, or several shops and no choice, before any kernel starts.
    """
    from livekit.reports.params import declared_parameters

    declared = declared_parameters(report.notebook)
    if SHOP_PARAMETER not in declared:
        return None
    given = report_parameters(report, day, overrides)
    values = {n: p.default for n, p in declared.items()} | given
    value = values[SHOP_PARAMETER]
    if value is not None and not isinstance(value, str):
        raise ParameterError(f"报告 {report.name}：参数 shop 应为店铺 id（文本）或留空")
    if values.get("source") == SANDBOX_SOURCE:
        if value is not None:
            raise ParameterError(
                f"报告 {report.name} 读取内置沙盒（source: sandbox），沙盒只有一个店铺，"
                f"不能指定店铺 “{value[:40]}”：请把 source 设为 live"
            )
        return None
    from livekit.config import ConfigError, load_settings
    from livekit.shops import ShopError, find_shops_file, load_shops, resolve

    try:
        try:
            settings = load_settings()
        except ConfigError:
            if value is None and not _shops_configured(report):
                return None  # one shop: the kernel says what is wrong with the settings, as always
            raise
        path = find_shops_file(settings, start=report.notebook.parent)
        shops = load_shops(path) if path is not None else ()
        return resolve(shops, value if value is not None else settings.shop)
    except ShopError as exc:
        raise ParameterError(f"报告 {report.name}：{exc}") from None
    except LivekitError as exc:  # settings that cannot be read (ConfigError): one line too
        raise ParameterError(f"报告 {report.name}：{exc}") from None


def _shops_configured(report: Report) -> bool:
    """Whether anything asks for shops without reading the settings: ``LIVEKIT_SHOPS_FILE`` or
    ``LIVEKIT_SHOP`` in the environment, or a ``params/shops.yaml`` above the notebooks."""
    from livekit.shops import find_shops_file

    if os.environ.get("LIVEKIT_SHOPS_FILE") or os.environ.get("LIVEKIT_SHOP"):
        return True
    return find_shops_file(None, start=report.notebook.parent) is not None


def _export(nb: Any, path: Path, title: str, day: date, index_href: str) -> Path:
    from livekit.reports.html import export_html

    return export_html(nb, path, title=title, day=day.isoformat(), index_href=index_href)


def execute(
    report: Report, parameters: dict[str, Any], nb_path: Path, day: date, options: RunOptions
) -> tuple[Any, str | None]:
    """(executed notebook or None, error or None). papermill writes ``nb_path`` as it goes."""
    import nbformat
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    deadline = time.monotonic() + options.timeout

    def cell_limit(cell: Any) -> int:
        # nbclient asks before each cell: the cell's own limit, or what is left of the whole.
        return max(1, math.ceil(min(options.cell_timeout, deadline - time.monotonic())))

    def timed_out() -> str:
        if time.monotonic() >= deadline - 0.5:
            return f"报告运行超过总时限 {options.timeout:g} 秒，已中止"
        return f"有单元执行超过单元时限 {options.cell_timeout:g} 秒，已中止"

    error: str | None = None
    failure: Any = None
    with report_date_env(day):
        try:
            nb = pm.execute_notebook(
                str(report.notebook),
                str(nb_path),
                parameters=parameters,
                kernel_name=options.kernel,
                # The kernel starts in the notebook's folder. Not papermill's ``cwd``: that
                # changes this whole process's folder, which reports run in threads share.
                resources={"metadata": {"path": str(report.notebook.parent)}},
                progress_bar=False,
                log_output=False,
                start_timeout=math.ceil(options.start_timeout),
                execution_timeout=math.ceil(options.cell_timeout),
                timeout_func=cell_limit,
                # CurveZMQ on the kernel's loopback sockets, as its kernelspec allows.
                config=Config({"KernelManager": {"transport_encryption": "auto"}}),
                interrupt_on_timeout=True,
                error_on_timeout={
                    "ename": "TimeoutError",
                    "evalue": "单元执行超时，已中止",
                    "traceback": ["TimeoutError: 单元执行超时，已中止"],
                },
            )
            return nb, None
        except pm.PapermillExecutionError as exc:
            failure = exc
        except CellTimeoutError:
            error = timed_out()
        except DeadKernelError:
            error = "Jupyter 内核意外退出（内存不足或崩溃？）"
    nb = nbformat.read(str(nb_path), as_version=4) if nb_path.exists() else None  # type: ignore[no-untyped-call]
    if failure is not None:
        timeout_names = ("TimeoutError", "KeyboardInterrupt", "CellTimeoutError")
        error = timed_out() if failure.ename in timeout_names else _describe(failure, nb)
    return nb, error


def _describe(exc: Any, nb: Any) -> str:
    """``单元 [5]出错：ValueError: …`` from papermill's error (or the cell's stderr when the
    kernel printed the traceback instead of sending it as an error output)."""
    cell = f"单元 [{exc.exec_count}]" if exc.exec_count else f"第 {exc.cell_index + 1} 个单元"
    detail = f"{exc.ename}: {_first_line(exc.evalue)}" if exc.evalue else ""
    if not detail and nb is not None and 0 <= exc.cell_index < len(nb.cells):
        stderr = "".join(
            o.get("text", "")
            for o in nb.cells[exc.cell_index].get("outputs", [])
            if o.get("output_type") == "stream" and o.get("name") == "stderr"
        )
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        detail = _first_line(lines[-1]) if lines else ""
    return f"{cell}出错：{detail or exc.ename}"


def _first_line(text: str, limit: int = 300) -> str:
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _write_notebook(nb: Any, path: Path) -> None:
    import nbformat

    write_text_atomic(path, nbformat.writes(nb))  # type: ignore[no-untyped-call]


@contextmanager
def report_date_env(day: date) -> Iterator[None]:
    """``LIVEKIT_REPORT_DATE`` for the kernels started inside (they inherit the environment)."""
    before = os.environ.get(REPORT_DATE_ENV)
    os.environ[REPORT_DATE_ENV] = day.isoformat()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(REPORT_DATE_ENV, None)
        else:
            os.environ[REPORT_DATE_ENV] = before


# ---- secrets ---------------------------------------------------------------------------------


def known_secrets(project: Project | None = None) -> set[str]:
    """Every secret value (livekit.credentials): app secrets, webhook URLs and their keys,
    signing secrets, the SMTP password, tokens in the token files, the sandbox's demo secrets.

    ``.env`` is read where the settings find it and, with ``project``, upwards from the
    project's notebooks folder (where the report kernels start).
    """
    from livekit.credentials import secret_values

    folders = [] if project is None else [project.root, project.notebooks_dir]
    return secret_values(folders)


def _scrubbed(text: str, secrets: set[str]) -> str:
    from livekit.credentials import mask

    return mask(text, secrets)


def scrub(node: Any, secrets: set[str]) -> bool:
    """Replace every secret inside ``node`` (a notebook, in place) by ``***``; True if any was."""
    if not secrets:
        return False
    from livekit.credentials import mask

    ordered = sorted(secrets, key=len, reverse=True)
    found = False

    def walk(value: Any) -> Any:
        nonlocal found
        if isinstance(value, str):
            cleaned = mask(value, ordered)
            found = found or cleaned != value
            return cleaned
        if isinstance(value, dict):
            for k in list(value):
                value[k] = walk(value[k])
        elif isinstance(value, list):
            for i, v in enumerate(value):
                value[i] = walk(v)
        return value

    walk(node)
    return found


# ---- many reports ------------------------------------------------------------------------------


def report_day(value: date | str | None) -> date:
    """The report's date: today (China) by default; ISO or a relative word; never in the future."""
    from livekit.dates import resolve_day, today

    now = today()
    day = now if value is None else resolve_day(value, name="报告日期", on=now)
    if day > now:
        raise ReportError(f"报告日期 {day} 晚于今天（{now}，北京时间）")
    return day


def check_kernel(name: str) -> None:
    """The Jupyter kernel ``name`` is installed, or a ReportError that says how to install it."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise ReportError(
            f"找不到 Jupyter 内核 {name!r}：请先运行 make setup（或 "
            f"python -m ipykernel install --sys-prefix --name {name}）"
        ) from None


def check_reports(
    project: Project, names: Sequence[str], day: date, overrides: Overrides | None = None
) -> None:
    """Every report exists and its parameters fit its notebook; one error listing all problems.

    With ``overrides`` for several reports, every report must declare every overridden name:
    otherwise one line says which reports do not (nothing runs).
    """
    if overrides is not None and len(names) > 1:
        check_overrides_fit(project, names, overrides)
    problems: list[str] = []
    for name in names:
        try:
            report_parameters(project.report(name), day, overrides)
            report_shop(project, project.report(name), day, overrides)
        except ReportError as exc:
            problems.append(str(exc))
    if problems:
        raise ParameterError("\n".join(dict.fromkeys(problems)))


def check_overrides_fit(project: Project, names: Sequence[str], overrides: Overrides) -> None:
    """Every report of ``names`` declares every name ``overrides`` set, or one ParameterError."""
    from livekit.reports.params import declared_parameters

    wanted = overrides.names()
    missing: list[str] = []
    for name in names:
        declared = declared_parameters(project.report(name).notebook)
        lacking = [n for n in wanted if n not in declared]
        if lacking:
            missing.append(f"{name}（无 {'、'.join(lacking)}）")
    if missing:
        raise ParameterError(
            "命令行 -p/-f 的参数须被每个要运行的报告声明，以下报告没有："
            + "；".join(missing)
            + "（请分别运行这些报告）"
        )


def run_reports(
    project: Project,
    names: Sequence[str],
    day: date,
    *,
    jobs: int = 1,
    options: RunOptions | None = None,
    on_done: Callable[[RunResult], None] | None = None,
    overrides: Overrides | None = None,
    shops: Sequence[str] | None = None,
) -> list[RunResult]:
    """Check every report first (nothing runs if one is wrong), then run them all.

    ``overrides`` apply to every report of this run (each must declare their names).
    ``shops`` (ids of the shops file): every report runs once per shop, as ``-p shop <id>``
    would (each must declare ``shop``); results come shop by shop.

    ``jobs > 1`` runs that many at a time (threads; each report's kernel is its own process),
    starting with the reports whose last recorded run took longest, so that a long one does
    not start last and run alone. Results come back in the order of ``names``; ``on_done`` is
    called as each finishes.
    """
    from livekit.credentials import install_log_masking

    install_log_masking()  # papermill and nbclient log at DEBUG; no secret in any record
    options = options or RunOptions()
    if jobs < 1:
        raise ReportError(f"并行数 --jobs 应至少为 1，收到 {jobs}")
    names = list(dict.fromkeys(names))
    runs: list[tuple[str, Overrides | None]] = []
    if shops is None:
        check_reports(project, names, day, overrides)
        runs = [(n, overrides) for n in names]
    else:
        if not shops:
            raise ReportError("店铺清单中没有店铺：没有要运行的报告")
        for shop in dict.fromkeys(shops):
            with_shop = with_parameter(overrides, SHOP_PARAMETER, shop)
            check_reports(project, names, day, with_shop)
            runs += [(n, with_shop) for n in names]
    check_kernel(options.kernel)

    def one(job: int) -> RunResult:
        name, job_overrides = runs[job]
        result = run_report(project, name, day, options, job_overrides)
        if on_done is not None:
            on_done(result)
        return result

    with report_date_env(day):  # once for all: the threads share this process's environment
        if jobs == 1 or len(runs) == 1:
            return [one(i) for i in range(len(runs))]
        order = longest_first(project, [n for n, _ in runs])
        ranked = sorted(range(len(runs)), key=lambda i: order.index(runs[i][0]))
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="livekit-report") as pool:
            futures = {i: pool.submit(one, i) for i in ranked}
            return [futures[i].result() for i in range(len(runs))]


def project_shops(project: Project) -> tuple[Shop, ...]:
    """The shops of the shops file the project's kernels find (``LIVEKIT_SHOPS_FILE``, else the
    nearest ``params/shops.yaml`` above the notebooks); () without one (one shop)."""
    from livekit.config import load_settings
    from livekit.shops import find_shops_file, load_shops

    try:
        path = find_shops_file(load_settings(), start=project.notebooks_dir)
        return load_shops(path) if path is not None else ()
    except LivekitError as exc:  # ShopError, ConfigError: one line
        raise ReportError(str(exc)) from None


def with_parameter(overrides: Overrides | None, name: str, value: str) -> Overrides:
    """``overrides`` plus ``-p name value`` (a later ``-p`` wins, so this one does)."""
    base = overrides or Overrides()
    return Overrides(base.files, (*base.values, (name, value)))


def longest_first(project: Project, names: Sequence[str]) -> list[str]:
    """``names`` by the time of their last successful recorded run, longest first; reports
    never run come first, and ties keep their order (longest-processing-time scheduling)."""
    last: dict[str, float] = {}
    wanted = set(names)
    for run in index.read_history(project.reports_dir):  # oldest first: the last one wins
        if run.name in wanted and run.ok:
            last[run.name] = run.seconds
    return sorted(names, key=lambda n: -last.get(n, math.inf))


def record_failure(
    project: Project,
    name: str,
    day: date,
    error: str,
    started: datetime,
    seconds: float,
    shop: Shop | None = None,
) -> RunResult:
    """Record a run that failed before its notebook ran (bad parameters, no kernel …)."""
    try:
        title = project.report(name).title
    except ReportError:
        title = name
    result = RunResult(
        name,
        title,
        day,
        "failed",
        started,
        seconds,
        None,
        None,
        error,
        shop=shop.id if shop else None,
        shop_name=shop.name if shop else None,
    )
    index.record(project.reports_dir, result)
    return result
