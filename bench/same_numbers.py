"""Same numbers: every report rendered by two versions of the code, the figures they state compared.

Run:  .venv/bin/python bench/same_numbers.py [--before 39c9201] [--after .] [--date 2026-12-01]
                                             [--allow REPORT:TEXT ...] [--keep DIR]

``--before REV`` (default ``39c9201``, the commit before issue 11) is checked out into a temporary
``git worktree``; ``--after`` is the working tree as it is (``.``, copied to a temporary folder
first so that edits made during the run do not mix in) or another revision. Each version renders
every report of its own ``notebooks/`` with its own ``params/``: ``python -m livekit sync
--sandbox`` of the ``--sync-days`` (60) days up to D, then ``python -m livekit report run --all
--date D``, started in its folder with ``PYTHONPATH`` at it (the project's editable install
would otherwise win; the script checks which ``livekit`` the interpreter and the report kernel
import), in a ``LIVEKIT_HOME`` of its own.

Both versions see the same sandbox world: the sandbox builds its world around its "today", and the
sync sees what is visible "now". So each version runs under libfaketime (``apt-get install
faketime``) with the clock of every process it starts moved to D at 07:30 China time (an offset,
the same for every process of the run: the kernels, the sync and the in-process sandbox agree on
the time), and syncs the sandbox's days first, at that moment: refunds and repurchases are what
is visible when a day is synced, so a sync left to the first report that needs the day would see
a moment that depends on how long the reports before it took (the roi report's intervals moved
by 0.01 between two renderings of one commit before this). Without libfaketime the runs use the
real clock and D must be today (the script says so): then the two runs are minutes apart and a
refund that falls between them may show up.

The comparison survives a redesign of tables, prose and formats: from each report's HTML it takes
the visible text of prose and tables (not code, not charts), finds every number, and normalizes it
to a value with the precision shown: ``¥1,234.50`` and ``1,234.50元`` → 1234.50 (money);
``3.5%`` → 0.035, and so is a bare 3.5 under a column headed "…（%）" (a bare number under
"…（元）" is money); ``¥6.42万`` → 64200 ± 50.
Dates, times of day, ids (10 digits or more) and windows in labels ("7 日退款") are not figures.
Figures are compared per report as multisets of values: equal values pair first (same label
first), then values that agree at the coarser of the two precisions shown (``¥6.42万`` and
``¥64,213.50``; of one kind: money, percent or plain; a plain whole number is a count and pairs
only with its equal; a pair under the same label is taken before one under another, which the
listing marks "≈?"). Each figure keeps its nearest label (the table's row and column, or the
words before it) for the listing of what appears only before or only after.

``--pages DIR`` compares the pages a run with ``--keep DIR`` left (DIR/pages-before and
DIR/pages-after) without rendering again.

Exit status: 0 when every report rendered in both versions and every difference is allowed by an
``--allow REPORT:TEXT`` (TEXT is the figure as printed, its value, or words of its label; REPORT
or TEXT may be ``*``); 1 otherwise, and when either version rendered no page at all.

Not part of ``make test``: it renders every report twice (about 4–5 minutes on the 2-core box).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
CHINA = timezone(timedelta(hours=8))
MORNING = (7, 30)  # the fake time of day of every run: before any show, like a scheduled report
FAKETIME_LIBS = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
)
# What a version folder needs to render its reports (the rest of the tree is not read).
PROJECT_PARTS = ("livekit", "notebooks", "params", "pyproject.toml")

# ---------------------------------------------------------------------------------------------
# Numbers in text
# ---------------------------------------------------------------------------------------------

# Not figures: dates, times of day, month-day pairs, long ids. Replaced by a blank first.
NOT_FIGURES = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"  # 2026-12-01, 2026-12-01 07:30
    r"|\d{4}年\d{1,2}月(?:\d{1,2}日)?|\d{1,2}月\d{1,2}日"  # 2026年12月1日, 12月1日
    r"|(?<![\d.,])\d{1,2}:\d{2}(?::\d{2})?(?![\d.])"  # 07:30, 20:30:00
    r"|(?<![\d.,-])(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?![\d.%])"  # 11-28
    r"|(?<![\d.,])\d{10,}(?![\d.,])"  # room ids, order ids, timestamps
    r"|(?<![\d.,])\d{1,3}\s?[日天](?![\d])"  # windows in labels: 7 日退款, 近 30 天
    r"|(?<![\d.])[A-Za-z][+-]\d+"  # T+1 (not the exponent of 1.2e-05)
)
NUMBER = re.compile(
    r"(?<![0-9A-Za-z_.])"
    r"(?P<sign>[-−+])?(?P<yuan>[¥￥])?\s?"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?P<exp>[eE][-+]?\d+)?"
    r"\s?(?P<unit>%|万|亿|元)?"
)
SCALE = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}


@dataclass(frozen=True)
class Number:
    """A number as shown: its value, half the step of its last digit, and its kind."""

    value: Decimal
    half_step: Decimal
    kind: str  # "money", "percent" or "plain"
    text: str


def parse_numbers(text: str) -> list[tuple[int, int, Number]]:
    """Every figure in ``text`` as (start, end, Number); dates, times and ids are skipped."""
    blanked = NOT_FIGURES.sub(lambda m: " " * len(m.group()), text)
    found: list[tuple[int, int, Number]] = []
    for m in NUMBER.finditer(blanked):
        digits = m["int"].replace(",", "") + (m["frac"] or "")
        try:
            value = Decimal(digits + (m["exp"] or ""))
        except InvalidOperation:
            continue
        places = len(m["frac"]) - 1 if m["frac"] else 0
        step = Decimal(1).scaleb(-places)
        if m["exp"]:
            step = step.scaleb(int(m["exp"][1:]))
        unit = m["unit"] or ""
        kind = "money" if m["yuan"] or unit == "元" else "plain"
        if unit == "%":
            value, step, kind = value / 100, step / 100, "percent"
        elif unit in SCALE:
            value, step = value * SCALE[unit], step * SCALE[unit]
        if m["sign"] in ("-", "−"):
            value = -value
        found.append((m.start(), m.end(), Number(value, step / 2, kind, m.group().strip())))
    return found


# A column whose header gives its values' unit: "商品点击率（%）", "rate (%)", "成交金额（元）".
PERCENT_COLUMN = re.compile(r"[（(]\s*%\s*[)）]|%$")
MONEY_COLUMN = re.compile(r"[（(]\s*(?:元|¥|￥)\s*[)）]")


def in_column_unit(number: Number, column: str) -> Number:
    """A bare number of a percent column as the rate it states (5.03 → 0.0503); of a money
    column as money."""
    if number.kind != "plain":
        return number
    if PERCENT_COLUMN.search(column):
        return Number(number.value / 100, number.half_step / 100, "percent", number.text)
    if MONEY_COLUMN.search(column):
        return Number(number.value, number.half_step, "money", number.text)
    return number


# ---------------------------------------------------------------------------------------------
# Figures in a report page
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    number: Number
    context: str  # the nearest label: "row · column" in a table, the words before it in prose


BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "div", "blockquote", "caption"}
SKIPPED = {"script", "style", "svg", "head", "title", "code", "textarea", "template"}
# nbconvert's wrappers of what is not the report's text: code sources and In/Out prompts.
SKIPPED_DIVS = ("highlight", "jp-CodeMirrorEditor", "jp-InputPrompt", "jp-OutputPrompt")


class _PageText(HTMLParser):
    """Visible text of a rendered report: prose blocks and table rows, without code or charts.

    Hand-written on the standard library's HTMLParser: the comparison needs only text nodes with
    their table row and column, and the environment has no HTML tree library.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.divs: list[bool] = []  # per open div: did it start a skipped region
        self.text: list[str] = []
        self.figures: list[Figure] = []
        self.tables = 0
        self.thead = False
        self.header: list[str] = []
        self.row: list[str] | None = None
        self.row_is_header = False
        self.cell: list[str] | None = None

    def _flush(self) -> None:
        text = " ".join("".join(self.text).split())
        self.text = []
        for start, end, number in parse_numbers(text):
            before = text[max(0, start - 24) : start].strip()
            after = text[end : end + 8].strip()
            self.figures.append(Figure(number, f"{before} [{number.text}] {after}".strip()))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div":
            classes = (dict(attrs).get("class") or "").split()
            skipped = any(c in SKIPPED_DIVS for c in classes)
            self.divs.append(skipped)
            self.skip += skipped
        elif tag in SKIPPED:
            self.skip += 1
        if self.skip:
            return
        if tag == "table":
            self._flush()
            self.tables += 1
            self.header, self.thead = [], False
        elif tag == "thead":
            self.thead = True
        elif tag == "tr" and self.tables:
            self.row, self.row_is_header = [], self.thead
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
            if not self.row and tag == "th" and not self.header:
                self.row_is_header = True
        elif tag == "br":
            self.text.append(" ")
        elif tag in BLOCKS and not self.tables:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self.divs and self.divs.pop():
                self.skip -= 1
                return
        elif tag in SKIPPED:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self._row_done(self.row)
            self.row = None
        elif tag == "thead":
            self.thead = False
        elif tag == "table" and self.tables:
            self.tables -= 1
        elif tag in BLOCKS and not self.tables:
            self._flush()

    def _row_done(self, row: list[str]) -> None:
        if self.row_is_header:
            # the first header row names the columns; more (polars' dtypes) state no figures
            self.header = self.header or row
            return
        label = row[0] if row else ""
        for i, cell in enumerate(row):
            column = self.header[i] if i < len(self.header) else ""
            where = " · ".join(p for p in (label if i else "", column) if p)
            for _, _, number in parse_numbers(cell):
                number = in_column_unit(number, column)
                self.figures.append(Figure(number, f"{where} [{number.text}]".strip()))

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.cell is not None:
            self.cell.append(data)
        elif not self.tables:
            self.text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def page_figures(html: str) -> list[Figure]:
    """Every figure a report page states, with its nearest label, in page order."""
    parser = _PageText()
    parser.feed(html)
    parser.close()
    return parser.figures


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    equal: int = 0
    equal_at_precision: list[tuple[Figure, Figure]] = field(default_factory=list)
    only_before: list[Figure] = field(default_factory=list)
    only_after: list[Figure] = field(default_factory=list)


def _key(n: Number) -> Decimal:
    return n.value.normalize() if n.value else Decimal(0)


def label(context: str) -> str:
    """A figure's label without the figures: what stays when only formats change."""
    return re.sub(r"[\d.,%¥￥万亿元+\-−\s]", "", re.sub(r"\[[^\]]*\]", "", context))


def is_count(n: Number) -> bool:
    """A plain whole number: a count, shown exactly, so it pairs only with an equal value."""
    return n.kind == "plain" and n.half_step == Decimal("0.5")


def compare(before: Sequence[Figure], after: Sequence[Figure]) -> Comparison:
    """Pair equal values (same label first), then values equal at the coarser precision shown."""
    result = Comparison()
    pool: dict[Decimal, list[Figure]] = defaultdict(list)
    for f in after:
        pool[_key(f.number)].append(f)
    rest_before: list[Figure] = []
    for f in before:  # equal value and label: the listing then names the right occurrence
        same = pool.get(_key(f.number), [])
        twin = next((g for g in same if g.context == f.context), None)
        if twin is None:
            rest_before.append(f)
        else:
            same.remove(twin)
            result.equal += 1
    unpaired: list[Figure] = []
    for f in rest_before:
        others = pool.get(_key(f.number))
        if others:
            others.pop(0)
            result.equal += 1
        else:
            unpaired.append(f)
    rest_before = unpaired
    rest_after = [f for figures in pool.values() for f in figures]
    # Pairs at the precision shown, best first: the same label before another, then the closest.
    candidates = sorted(
        (
            (label(f.context) != label(g.context), abs(f.number.value - g.number.value), i, j)
            for i, f in enumerate(rest_before)
            for j, g in enumerate(rest_after)
            if f.number.kind == g.number.kind
            and not is_count(f.number)
            and not is_count(g.number)
            and abs(f.number.value - g.number.value) <= max(f.number.half_step, g.number.half_step)
        ),
    )
    taken_before: set[int] = set()
    taken_after: set[int] = set()
    for _, _, i, j in candidates:
        if i not in taken_before and j not in taken_after:
            taken_before.add(i)
            taken_after.add(j)
            result.equal_at_precision.append((rest_before[i], rest_after[j]))
    order_before = {id(f): i for i, f in enumerate(before)}
    result.equal_at_precision.sort(key=lambda pair: order_before[id(pair[0])])
    result.only_before = [f for i, f in enumerate(rest_before) if i not in taken_before]
    rest_after = [g for j, g in enumerate(rest_after) if j not in taken_after]
    order = {id(f): i for i, f in enumerate(after)}
    result.only_after = sorted(rest_after, key=lambda f: order[id(f)])
    return result


@dataclass(frozen=True)
class Allow:
    report: str
    text: str

    @classmethod
    def parse(cls, spec: str) -> Allow:
        report, sep, text = spec.partition(":")
        if not sep or not report or not text:
            raise argparse.ArgumentTypeError(f"--allow wants REPORT:TEXT, got {spec!r}")
        return cls(report, text)

    def covers(self, report: str, figure: Figure) -> bool:
        if self.report not in ("*", report):
            return False
        if self.text == "*":
            return True
        if self.text in (figure.number.text, str(_key(figure.number))):
            return True
        try:
            if _key(figure.number) == Decimal(self.text.replace(",", "")).normalize():
                return True
        except InvalidOperation:
            pass
        return self.text in figure.context


# ---------------------------------------------------------------------------------------------
# Rendering the reports with one version of the code
# ---------------------------------------------------------------------------------------------


def faketime_lib() -> str | None:
    return next((lib for lib in FAKETIME_LIBS if Path(lib).is_file()), None)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def checkout(rev: str, where: Path) -> Path:
    """``rev`` as a detached git worktree at ``where``."""
    git("worktree", "add", "--detach", "--quiet", str(where), rev)
    return where


def snapshot(tree: Path, where: Path) -> Path:
    """The parts of the working tree a report run reads, copied (edits during the run stay out)."""
    where.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for part in PROJECT_PARTS:
        src = tree / part
        if src.is_dir():
            shutil.copytree(src, where / part, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, where / part)
    return where


def version_env(root: Path, home: Path, day: date, lib: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(PYTHONPATH=str(root), LIVEKIT_HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    if lib:
        target = datetime(day.year, day.month, day.day, *MORNING, tzinfo=CHINA).timestamp()
        env.update(LD_PRELOAD=lib, FAKETIME=f"{round(target - time.time()):+d}")
        # FAKETIME is an offset from the real clock: every process started with it agrees.
    return env


KERNEL_CHECK = """
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.v4.new_notebook()
nb.cells.append(nbformat.v4.new_code_cell(
    "import datetime, livekit; print(livekit.__file__); print(datetime.date.today())"))
NotebookClient(nb, kernel_name="livekit", timeout=120).execute()
print(nb.cells[0].outputs[0]["text"], end="")
"""


def check_imports(root: Path, env: dict[str, str], day: date, faked: bool) -> None:
    """The interpreter and the report kernel import ``livekit`` from ``root`` (and see D)."""
    for what, code in (
        (
            "python",
            "import datetime, livekit; print(livekit.__file__); print(datetime.date.today())",
        ),
        ("kernel livekit", KERNEL_CHECK),
    ):
        out = subprocess.run(
            [str(PYTHON), "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        where, today = Path(out[-2]), date.fromisoformat(out[-1])
        if not where.is_relative_to(root):
            sys.exit(f"{what} imports livekit from {where}, not from {root}")
        # UTC 23:30 the day before is China's 07:30 on D: the machine's clock may be a day behind
        if faked and today not in (day, day - timedelta(days=1)):
            sys.exit(f"{what} sees {today}, not {day}: libfaketime did not take")


def render(
    label: str, root: Path, home: Path, day: date, lib: str | None, sync_days: int
) -> dict[str, Path]:
    """Render every report of ``root`` as of ``day``; {report name: HTML page}."""
    check_imports(root, version_env(root, home, day, lib), day, lib is not None)
    # The clock starts at 07:30 now, and the sandbox's data is synced at once: refunds and
    # repurchases are what is visible at the moment of the sync, so a sync made by the first
    # report that needs a day would see a moment that depends on how long the reports before it
    # took. What a report fetches for itself after this is what the sync left out.
    env = version_env(root, home, day, lib)
    log = home.parent / f"{label}.log"
    first = day - timedelta(days=sync_days)
    commands = [
        ("synced", ["sync", "--sandbox", "--from", first.isoformat(), "--to", day.isoformat()]),
        ("rendered", ["report", "run", "--all", "--date", day.isoformat()]),
    ]
    with log.open("w") as out:
        for what, command in commands:
            started = time.monotonic()
            out.write(f"$ livekit {' '.join(command)}\n")
            out.flush()
            done = subprocess.run(
                [str(PYTHON), "-m", "livekit", *command],
                cwd=root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
            took = time.monotonic() - started
            print(
                f"{label}: {what} in {took:.0f} s (exit {done.returncode}; log {log})", flush=True
            )
    # the pages are copied out of the version's folder (a worktree is removed at the end)
    kept = home.parent / f"pages-{label}"
    pages: dict[str, Path] = {}
    for page in sorted((root / "reports").glob(f"*/{day.isoformat()}/*.html")):
        if page.stem == page.parent.parent.name:
            kept.mkdir(exist_ok=True)
            pages[page.stem] = Path(shutil.copy2(page, kept / page.name))
    return pages


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def _show(figure: Figure) -> str:
    return f"{figure.number.text:>14}  {figure.context}"


def report_differences(
    before: dict[str, Path], after: dict[str, Path], allows: Iterable[Allow]
) -> int:
    """Print the comparison of every report; the number of differences not allowed."""
    allows = list(allows)
    if not before or not after:
        print(f"no report pages {'before' if not before else 'after'}: nothing to compare")
        return 1
    bad = 0
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            print(f"\n{name}: rendered only {'after' if name in after else 'before'}")
            bad += 1
            continue
        b = page_figures(before[name].read_text(encoding="utf-8"))
        a = page_figures(after[name].read_text(encoding="utf-8"))
        c = compare(b, a)
        print(
            f"\n{name}: {len(b)} figures before, {len(a)} after; {c.equal} equal, "
            f"{len(c.equal_at_precision)} equal at the precision shown, "
            f"{len(c.only_before)} only before, {len(c.only_after)} only after"
        )
        for f, g in c.equal_at_precision:
            # under another label: a pairing by value alone, worth a look
            mark = "≈" if label(f.context) == label(g.context) else "≈?"
            print(f"  {mark} {f.number.text} → {g.number.text}  ({f.context} → {g.context})")
        for side, figures in (("only before", c.only_before), ("only after", c.only_after)):
            for f in figures:
                allowed = any(rule.covers(name, f) for rule in allows)
                bad += not allowed
                print(f"  {side}{' (allowed)' if allowed else ''}: {_show(f)}")
    return bad


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="39c9201", help="git revision (default 39c9201)")
    parser.add_argument("--after", default=".", help="'.' (the working tree) or a git revision")
    parser.add_argument("--date", type=date.fromisoformat, default=None, help="report date D")
    parser.add_argument("--allow", type=Allow.parse, action="append", default=[])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument(
        "--sync-days", type=int, default=60, help="days before D synced first (default 60)"
    )
    parser.add_argument("--pages", type=Path, help="compare the pages a --keep run left there")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.pages:
        saved = {
            label: {p.stem: p for p in sorted((args.pages / f"pages-{label}").glob("*.html"))}
            for label in ("before", "after")
        }
        bad = report_differences(saved["before"], saved["after"], args.allow)
    else:
        bad = render_and_compare(args)
    print(
        f"\n{'same numbers' if not bad else f'{bad} differences not allowed'} "
        f"({time.monotonic() - started:.0f} s)"
    )
    return 0 if not bad else 1


def render_and_compare(args: argparse.Namespace) -> int:
    """Render every report with both versions; the number of differences not allowed."""
    lib = faketime_lib()
    day: date = args.date or (date(2026, 12, 1) if lib else datetime.now(CHINA).date())
    if lib is None:
        print("libfaketime not found (apt-get install faketime): the real clock is used")
        if day != datetime.now(CHINA).date():
            sys.exit("without libfaketime the report date must be today (China time)")
    work = (args.keep or Path(tempfile.mkdtemp(prefix="same-numbers-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    worktrees: list[Path] = []
    try:
        roots: dict[str, Path] = {}
        for label, spec in (("before", args.before), ("after", args.after)):
            for old in (work / label, work / f"home-{label}", work / f"pages-{label}"):
                shutil.rmtree(old, ignore_errors=True)  # a kept folder of an earlier run
            where = work / label
            if spec == ".":
                roots[label] = snapshot(ROOT, where)
            else:
                git("worktree", "prune")
                roots[label] = checkout(spec, where)
                worktrees.append(where)
            print(f"{label}: {spec} → {where}", flush=True)
        pages = {
            label: render(label, root, work / f"home-{label}", day, lib, args.sync_days)
            for label, root in roots.items()
        }
        clock = "faked: 07:30 China time on that day" if lib else "real"
        print(f"\nreport date {day}, clock {clock}")
        return report_differences(pages["before"], pages["after"], args.allow)
    finally:
        for where in worktrees:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False
            )
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
