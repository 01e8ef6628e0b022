"""Every run of every report: ``reports/history.json`` and the page ``reports/index.html``.

Both files are rewritten whole (temporary file, then rename) while holding a file lock beside
them, so reports finishing at the same moment in several processes each add their run and
never lose another's, and a reader never sees half a file.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import filelock

from livekit._files import keep_damaged
from livekit.reports.project import write_text_atomic
from livekit.reports.result import RunResult
from livekit.vocab.tz import CHINA_TZ

HISTORY = "history.json"
LOCK = ".history.lock"
LOCK_TIMEOUT = 60.0
MAX_RUNS = 5000  # the page stays small; older runs drop off the history
STATUS_LABELS = {"ok": "成功", "failed": "失败"}

log = logging.getLogger("livekit.reports")

Present = Callable[[Path], bool]
"""Whether a linked file exists (on disk; in the object store for the published index)."""


@contextmanager
def locked(reports_dir: Path) -> Iterator[None]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(reports_dir / LOCK, timeout=LOCK_TIMEOUT):
        yield


def read_history(reports_dir: Path) -> list[RunResult]:
    """The recorded runs, oldest first ([] when none or unreadable).

    A damaged entry is skipped, and a file that is not a history at all counts as none: either
    way the original is kept beside it (livekit._files.keep_damaged) with a one-line warning.
    """
    try:
        return _load(reports_dir)
    except OSError:
        return []


def _load(reports_dir: Path) -> list[RunResult]:
    """Like :func:`read_history`, but OSError when the file exists and cannot be read."""
    path = reports_dir / HISTORY
    try:
        original = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        raw = json.loads(original)
        entries = raw["runs"]
        if not isinstance(entries, list):
            raise TypeError("runs")
    except (ValueError, TypeError, KeyError):
        keep_damaged(path, original, skipped=None)
        return []
    runs: list[RunResult] = []
    for entry in entries:
        try:
            runs.append(RunResult.from_json(entry, reports_dir))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            continue
    if len(runs) < len(entries):
        keep_damaged(path, original, skipped=len(entries) - len(runs))
    return runs


def record(reports_dir: Path, run: RunResult) -> None:
    """Add ``run`` to the history and rewrite ``index.html``, under the lock.

    A history that exists but cannot be read (permissions) is left alone: the run is not
    added rather than the file replaced by this one run.
    """
    with locked(reports_dir):
        try:
            history = _load(reports_dir)
        except OSError as exc:
            log.warning(
                "无法读取 %s（%s），本次运行未记入历史", reports_dir / HISTORY, exc.strerror
            )
            return
        runs = [*history, run][-MAX_RUNS:]
        payload = {"version": 1, "runs": [r.to_json(reports_dir) for r in runs]}
        text = json.dumps(payload, ensure_ascii=False, indent=1)
        write_text_atomic(reports_dir / HISTORY, text + "\n")
        write_text_atomic(reports_dir / "index.html", render(runs, reports_dir))


def refresh(reports_dir: Path) -> Path:
    """Rewrite ``index.html`` from the history (e.g. after deleting report folders)."""
    with locked(reports_dir):
        path = reports_dir / "index.html"
        write_text_atomic(path, render(read_history(reports_dir), reports_dir))
    return path


def _link(reports_dir: Path, path: Path | None, text: str, present: Present) -> str:
    if path is None or not present(path):
        return ""
    try:
        href = path.relative_to(reports_dir).as_posix()
    except ValueError:
        href = path.as_uri()
    return f'<a href="{html.escape(href)}">{text}</a>'


def _row(run: RunResult, reports_dir: Path, present: Present, shops: bool) -> str:
    status = STATUS_LABELS.get(run.status, run.status)
    links = " ".join(
        link
        for link in (
            _link(reports_dir, run.html, "查看报告", present),
            _link(reports_dir, run.notebook, "笔记本", present),
        )
        if link
    )
    started = run.started_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
    error = f'<div class="error">{html.escape(run.error)}</div>' if run.error else ""
    shop = ""
    if shops:  # the shop's name (upstream text: escaped), its id below as the report's is
        name = run.shop_name or run.shop or "—"
        below = f'<div class="name">{html.escape(run.shop)}</div>' if run.shop else ""
        shop = f'<td><div class="title">{html.escape(name)}</div>{below}</td>'
    return (
        f'<tr class="{html.escape(run.status)}">'
        f"{shop}"
        f'<td><div class="title">{html.escape(run.title)}</div>'
        f'<div class="name">{html.escape(run.name)}</div></td>'
        f"<td>{run.date.isoformat()}</td>"
        f'<td class="status">{html.escape(status)}{error}</td>'
        f'<td class="num">{run.seconds:.1f} 秒</td>'
        f"<td>{html.escape(started)}</td>"
        f"<td>{links or '—'}</td></tr>"
    )


_SHOP_HEAD = "<th>店铺</th>"
_HEAD = """<th>报告</th><th>报告日期</th><th>状态</th><th>用时</th><th>开始时间</th>
<th>链接</th></tr>"""

_PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>livekit 报告索引</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
  sans-serif; max-width: 1080px; margin: 0 auto; padding: 16px 24px 48px; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 32px; }}
p.meta {{ color: #666; font-size: 13px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
th, td {{ text-align: left; padding: 6px 10px; border-bottom: 1px solid #e6e6e6;
  vertical-align: top; }}
th {{ background: #f6f7f9; font-weight: 600; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
.name {{ color: #888; font-size: 12px; }}
tr.ok td.status {{ color: #2ca58d; font-weight: 600; }}
tr.failed td.status {{ color: #d64550; font-weight: 600; }}
.error {{ color: #a33; font-weight: normal; font-size: 12px; max-width: 380px;
  word-break: break-all; }}
a {{ color: #2f6fde; text-decoration: none; margin-right: 8px; }}
</style>
</head>
<body>
<h1>livekit 报告索引</h1>
<p class="meta">共 {total} 次运行，其中失败 {failed} 次；更新于 {updated}。同一报告同一天再次运行会覆盖该天的文件。</p>
<h2>各报告最近一次运行</h2>
<table>{head}{latest}</table>
<h2>全部运行记录（最新在前）</h2>
<table>{head}{all}</table>
</body>
</html>
"""


def render(runs: list[RunResult], reports_dir: Path, present: Present | None = None) -> str:
    """The index page: the latest run of each report, then every run, newest first.

    Links point at the files ``present`` says exist (default: on this disk), relative to
    ``reports_dir``. When a run is for a shop (many shops), a first column names the shop and
    the latest run is per shop and report.
    """
    present = present or Path.exists
    shops = any(r.shop for r in runs)
    newest_first = sorted(runs, key=lambda r: r.started_at, reverse=True)
    latest: dict[tuple[str, str], RunResult] = {}
    for run in newest_first:
        latest.setdefault((run.shop or "", run.name), run)
    head = "<tr>" + (_SHOP_HEAD if shops else "") + _HEAD
    empty = f'<tr><td colspan="{7 if shops else 6}">还没有运行记录</td></tr>'
    return _PAGE.format(
        total=len(runs),
        failed=sum(r.status != "ok" for r in runs),
        updated=datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        head=head,
        latest="".join(_row(latest[k], reports_dir, present, shops) for k in sorted(latest))
        or empty,
        all="".join(_row(r, reports_dir, present, shops) for r in newest_first) or empty,
    )
