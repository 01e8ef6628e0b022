"""The source object (issue 11, point 2 and must-show 3): ``livekit.open()``; ``kit.load`` is a
pure read (no socket, no thread); nothing on the read path, in the notebooks, the analysis,
the charts or the reports imports the sandbox; Coverage says in one line what is not synced."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import livekit
from livekit.ingest.plan import partition_meta
from livekit.store import Store
from livekit.store.datasets import ROOM_ANALYSIS, ROOMS, VIEWERS_SCHEMA, Dataset
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ

ROOT = Path(__file__).resolve().parents[1]
DAYS = [date(2026, 11, 20) + timedelta(days=i) for i in range(3)]
FORBIDDEN = ("livekit.sandbox", "livekit.monitor", "livekit.reports", "livekit.jobs", "livekit.cli")


def _rooms(day: date, n: int) -> pl.DataFrame:
    base = datetime.combine(day, datetime.min.time(), CHINA_TZ) + timedelta(hours=20)
    return (
        pl.DataFrame(
            {"room_id": [7_700_000_000_000_000_000 + day.toordinal() * 10 + i for i in range(n)]}
        )
        .with_columns(
            *(pl.lit(None, dtype=t).alias(c) for c, t in ROOMS.schema.items() if c != "room_id"),
        )
        .with_columns(pl.lit(base).dt.cast_time_unit("us").alias("start_time"))
    )


def _write(store: Store, ds: Dataset, day: date, frame: pl.DataFrame, fetched: datetime) -> None:
    store.write_partition(ds.name, day, frame, ds.schema, partition_meta(ds, day, fetched))


def _fill(home: Path, fetched: datetime, days: list[date] = DAYS) -> Store:
    """A live home with rooms and T+1 analysis for ``days``, as a sync at ``fetched`` leaves it."""
    store = Store(home / "store")
    for i, d in enumerate(days):
        _write(store, ROOMS, d, _rooms(d, i + 1), fetched)
        empty = pl.DataFrame(schema=dict(ROOM_ANALYSIS.schema))
        _write(store, ROOM_ANALYSIS, d, empty, fetched)
    return store


@pytest.fixture
def no_network_no_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tried: list[str] = []

    def refuse(what: str) -> Any:
        def raiser(*args: Any, **kwargs: Any) -> Any:
            tried.append(what)
            raise AssertionError(f"{what} during a pure read")

        return raiser

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(threading.Thread, "start", refuse("Thread.start"))
    return tried


def test_load_is_a_pure_read(tmp_path: Path, no_network_no_threads: list[str]) -> None:
    final = datetime(2026, 12, 31, 8, 0, tzinfo=CHINA_TZ)  # long after: final partitions
    _fill(tmp_path / "home", final)
    _fill(tmp_path / "home" / "sandbox", final)
    for kit in (
        livekit.open(home=tmp_path / "home"),
        livekit.open("sandbox", home=tmp_path / "home"),
    ):
        rooms = kit.load("rooms", DAYS[0], DAYS[-1])
        assert rooms.height == 6
        assert rooms.schema["room_id"] == pl.Int64
        assert sorted(set(rooms["date"])) == DAYS
        assert kit.load("rooms", "2026-11-21").height == 2
        assert kit.load("viewers", DAYS[0], DAYS[-1]).columns == ["date", *VIEWERS_SCHEMA]
        assert kit.load("session_arms").height == 0
        stored = kit.datasets().filter(pl.col("name") == "rooms").row(0, named=True)
        assert stored["days_stored"] == 3
    # a live kit's prepare reads metadata only, too
    live = livekit.open(home=tmp_path / "home")
    assert live.prepare(DAYS[0], DAYS[-1], datasets=("rooms", "room_analysis")).note is None
    assert no_network_no_threads == []


def test_the_shortcuts_are_the_default_live_kit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    _fill(tmp_path / "home", datetime(2026, 12, 31, tzinfo=CHINA_TZ))
    assert livekit.load("rooms", DAYS[0], DAYS[-1]).height == 6
    assert livekit.open().home == (tmp_path / "home")
    assert livekit.open("sandbox").home == tmp_path / "home" / "sandbox"
    assert livekit.datasets().height == livekit.open().datasets().height
    with pytest.raises(TypeError):
        livekit.load("rooms", DAYS[0], sandbox=True)  # type: ignore[call-arg]


def test_an_unknown_source_is_one_chinese_line() -> None:
    with pytest.raises(LivekitError) as info:
        livekit.open("prod")
    assert str(info.value) == "数据来源 source 只能是 live 或 sandbox，收到 'prod'"


def test_coverage_of_a_complete_period_has_no_note(tmp_path: Path) -> None:
    kit = livekit.open(home=tmp_path / "home")
    _fill(kit.home, datetime(2026, 12, 31, tzinfo=CHINA_TZ))
    cov = kit.prepare(DAYS[0], DAYS[-1], datasets=("rooms", "room_analysis"))
    assert cov.complete
    assert cov.note is None


def test_coverage_names_a_missing_day_and_stale_days(tmp_path: Path) -> None:
    kit = livekit.open(home=tmp_path / "home")
    fetched = datetime(2026, 11, 23, 7, 30, tzinfo=CHINA_TZ)  # not final, and not today
    store = _fill(kit.home, fetched)
    store.delete_partition("rooms", DAYS[1])
    cov = kit.prepare(DAYS[0], DAYS[-1], datasets=("rooms", "room_analysis"))
    assert not cov.complete
    assert cov.missing == {"rooms": (DAYS[1],)}
    assert cov.stale["rooms"] == (DAYS[0], DAYS[2])
    note = cov.note
    assert note is not None
    assert "\n" not in note
    assert note.startswith("注意：11-20 至 11-22 的数据尚未同步完整")
    assert "11-21 直播场次没有数据" in note
    assert "最近同步 11-23 07:30" in note


def test_coverage_says_today_is_partial(tmp_path: Path) -> None:
    kit = livekit.open(home=tmp_path / "home")
    today = datetime.now(CHINA_TZ).date()
    _fill(kit.home, datetime.now(CHINA_TZ), [today])
    cov = kit.prepare(today, today, datasets=("rooms",))
    assert cov.partial == (today,)
    assert cov.note is not None
    assert "为今天，数据仍在更新" in cov.note


# ---- the sandbox stays out of the read path ------------------------------------------------


def _fresh(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; the livekit modules it loaded."""
    probe = code + "\nimport json, sys\nprint('MODULES' + json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES"))
    return [
        m for m in json.loads(line.removeprefix("MODULES")) if m.startswith(("livekit", "polars"))
    ]


def test_import_livekit_and_load_import_no_upper_floor(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _fill(home, datetime(2026, 12, 31, tzinfo=CHINA_TZ))
    after_import = _fresh("import livekit")
    assert "polars" not in after_import
    loaded = _fresh(
        "import livekit\n"
        f"kit = livekit.open(home={str(home)!r})\n"
        f"assert kit.load('rooms', '{DAYS[0]}', '{DAYS[-1]}').height == 6\n"
        f"kit.prepare('{DAYS[0]}', '{DAYS[-1]}', datasets=('rooms', 'viewers'))\n"
    )
    assert "livekit.source" in loaded
    assert [m for m in loaded if m.startswith(FORBIDDEN)] == []
    # a live kit's prepare reads what is stored and fresh: no HTTP client (only a sync needs it)
    assert "livekit.ingest.plan" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("httpx", "stamina", "rich")] == []
    assert [m for m in loaded if m.startswith(("livekit.api", "livekit.ingest.run"))] == []


def _modules_under(*folders: str) -> list[str]:
    out = []
    for folder in folders:
        base = ROOT / "livekit" / folder
        if base.is_file() or base.with_suffix(".py").is_file():
            out.append(f"livekit.{folder}")
            continue
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_analysis_charts_pages_and_reports_do_not_import_the_sandbox() -> None:
    folders = [
        f
        for f in ("analysis", "charts", "pages", "reports")
        if (ROOT / "livekit" / f).exists() or (ROOT / "livekit" / f"{f}.py").exists()
    ]
    modules = _modules_under(*folders)
    assert len(modules) > 10
    loaded = _fresh("\n".join(f"import {m}" for m in modules))
    assert [m for m in loaded if m.startswith("livekit.sandbox")] == []


def test_no_notebook_imports_the_sandbox() -> None:
    imports: list[str] = []
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    imports.append(ast.unparse(node))
    assert any("livekit" in line for line in imports)
    assert [line for line in imports if "sandbox" in line] == []
    loaded = _fresh("\n".join(sorted(set(imports))))
    assert [m for m in loaded if m.startswith("livekit.sandbox")] == []


def test_a_sandbox_kit_prepares_what_is_missing_in_a_subprocess(tmp_path: Path) -> None:
    """An empty sandbox home: prepare runs `livekit sync --sandbox` for the missing days, then
    the period is complete and its rows (the switchback schedule included) read back."""
    kit = livekit.open("sandbox", home=tmp_path / "home")
    day = datetime.now(CHINA_TZ).date() - timedelta(days=15)  # inside the sandbox's switchback
    before = kit.coverage(day, day, datasets=("rooms", "session_arms"))
    assert before.missing == {"rooms": (day,), "session_arms": (day,)}
    cov = kit.prepare(day, day, datasets=("rooms", "session_arms"))
    assert cov.complete
    assert cov.note is None
    rooms, arms = kit.load("rooms", day, day), kit.load("session_arms", day, day)
    assert rooms.height > 0
    assert arms.height > 0
    assert set(arms["room_id"]) <= set(rooms["room_id"])
    # the explanation schedule comes with the same sync: every room of the day has its windows
    windows = kit.load("explanations", day, day)
    assert set(windows["room_id"]) == set(rooms["room_id"])
    assert kit.coverage(day, day, datasets=("explanations",)).complete
    assert not (tmp_path / "home" / "store").exists()  # the live store was not touched
