"""State survives damage: report history, schedule state, monitor outbox, alert state.

For each state file: one entry damaged (and, separately, the whole file not JSON), then the
real code path runs again (a report run, a schedule pass, an outbox pump, an engine load and
commit). The other entries survive, the original is kept beside the file byte for byte, and
one warning names the file.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from livekit.monitor.engine import Engine, EvalResult, Notice
from livekit.monitor.notify import Outbox
from livekit.monitor.notify.channels import ConsoleChannel
from livekit.monitor.types import Message
from livekit.reports import Project, run
from livekit.reports.index import read_history
from livekit.reports.schedule import STATE, read_state, run_due
from tests.helpers.monitor import LOW_VIEWERS, ROOM, ROOM2, FakeSource, rules
from tests.helpers.reports import make_project

DAMAGES = ["entry", "whole"]
NOT_JSON = b'{"version": 1, "runs": [ {"name": "half a fi'


def kept_aside(path: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(path.parent.glob(path.name + ".damaged-*"))]


def warnings_naming(caplog: pytest.LogCaptureFixture, path: Path) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and str(path) in r.getMessage()
    ]


# ---- reports/history.json ----------------------------------------------------------------------
def _run_json(name: str, day: str, hour: int) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "date": day,
        "status": "ok",
        "started_at": f"{day}T{hour:02d}:00:00+08:00",
        "seconds": 1.5,
        "notebook": None,
        "html": None,
        "error": None,
    }


@pytest.mark.parametrize("damage", DAMAGES)
def test_history(damage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_project(tmp_path, ["hello"])
    history = root / "reports" / "history.json"
    history.parent.mkdir()
    good = [_run_json("a", "2026-11-20", 8), _run_json("b", "2026-11-21", 9)]
    bad = {**_run_json("c", "2026-11-22", 10), "started_at": "昨天"}
    if damage == "entry":
        original = json.dumps({"version": 1, "runs": [good[0], bad, good[1]]}).encode()
    else:
        original = NOT_JSON
    history.write_bytes(original)
    caplog.set_level(logging.WARNING)

    [result] = run("hello", project=root)

    assert result.ok
    names = [r.name for r in read_history(root / "reports")]
    assert names == (["a", "b", "hello"] if damage == "entry" else ["hello"])
    assert kept_aside(history) == [original]
    [warning] = warnings_naming(caplog, history)
    assert ("1 条记录已损坏" if damage == "entry" else "无法读取") in warning
    # Read again and rewritten again: no second copy, no second warning.
    assert len(list(history.parent.glob("history.json.damaged-*"))) == 1


# ---- reports/schedule-state.json ---------------------------------------------------------------
def test_schedule_state(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for damage in DAMAGES:
        root = make_project(tmp_path / damage, ["hello", "ok"])
        (root / "params" / "schedules.yaml").write_text(
            'hello: "0 8 * * *"\nok: "0 9 * * *"\n', encoding="utf-8"
        )
        project = Project(root)
        path = project.reports_dir / STATE
        path.parent.mkdir(parents=True)
        handled = {
            "hello": "2026-11-28T08:00:00+08:00",  # nothing due at 08:30: not run again
            "retired": "2026-11-01T07:00:00+08:00",  # a report no longer scheduled: kept
            "broken": "not a time",
        }
        original = (
            json.dumps({"version": 1, "handled": handled}).encode()
            if damage == "entry"
            else b"\x00\xffgarbage"
        )
        path.write_bytes(original)
        caplog.clear()
        caplog.set_level(logging.WARNING)

        now = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)  # 08:30 China time
        assert run_due(project, now) == []  # "ok" is new: its clock starts, the file is written

        state = read_state(project)
        if damage == "entry":
            assert set(state) == {"hello", "retired", "ok"}
            assert state["hello"] == datetime.fromisoformat(handled["hello"])
            assert state["retired"] == datetime.fromisoformat(handled["retired"])
        else:
            assert set(state) == {"hello", "ok"}  # both first seen now
        assert kept_aside(path) == [original]
        assert len(warnings_naming(caplog, path)) == 1


# ---- state/monitor/outbox.json -----------------------------------------------------------------
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _message(i: int) -> Message:
    return Message(
        key=f"alert-{i}",
        kind="firing",
        severity="warning",
        title=f"直播间 1001 告警 #{i}",
        text=f"第 {i} 条",
        markdown=f"第 **{i}** 条",
        created_at=T0 + timedelta(seconds=i),
        alerts=(f"rule@room={i}",),
    )


def _pump(box: Outbox, stream: io.StringIO) -> list[str]:
    async def go() -> list[str]:
        async with httpx.AsyncClient() as client:
            result = await box.pump({"console": ConsoleChannel("console", stream)}, client, now=T0)
        return sorted(k for d in result.delivered for k in d.keys)

    return asyncio.run(go())


@pytest.mark.parametrize("damage", DAMAGES)
def test_outbox(damage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state" / "monitor" / "outbox.json"
    box = Outbox(path)
    assert box.enqueue([_message(1), _message(2), _message(3)], ["console"], now=T0) == 3
    data = json.loads(path.read_text(encoding="utf-8"))
    data["failed"] = [
        {
            "channel": "console",
            "key": "alert-0",
            "keys": ["alert-0"],
            "title": "更早的失败",
            "reason": "x",
            "at": T0.isoformat(),
        },
        {"channel": "console", "key": "alert-9", "at": "不是时间"},
    ]
    if damage == "entry":
        del data["pending"][1]["message"]["key"]  # alert-2 can no longer be read
        original = json.dumps(data).encode()
    else:
        original = b"\x00" + json.dumps(data).encode()[:50]
    path.write_bytes(original)
    caplog.set_level(logging.WARNING)

    stream = io.StringIO()
    delivered = _pump(Outbox(path), stream)

    after = Outbox(path)
    if damage == "entry":
        assert delivered == ["alert-1", "alert-3"]  # the others were still delivered
        assert "告警 #1" in stream.getvalue()
        assert "告警 #3" in stream.getvalue()
        assert [f.key for f in after.failures()] == ["alert-0"]  # the readable failure is kept
        assert after.delivered("console") == ["alert-1", "alert-3"]
        [warning] = warnings_naming(caplog, path)
        assert "2 条记录已损坏" in warning  # one pending entry, one failure record
    else:
        assert delivered == []
        assert after.pending() == []
        assert after.enqueue([_message(4)], ["console"], now=T0) == 1  # usable again
        [warning] = warnings_naming(caplog, path)
        assert "无法读取" in warning
    assert kept_aside(path) == [original]


# ---- state/monitor/alerts.json (the engine) ---------------------------------------------------
def _notices(result: EvalResult) -> list[Notice]:
    return [n for o in result.outgoing for n in o.notices]


def _firing_source() -> FakeSource:
    src = FakeSource()
    src.add_room(ROOM)
    src.add_room(ROOM2, title="第二场", aweme="小号")
    for room in (ROOM, ROOM2):
        src.set("new_viewers_per_min", 4.0, ident=f"room={room}")
    return src


@pytest.mark.parametrize("damage", DAMAGES)
def test_alert_state(damage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ruleset = rules(LOW_VIEWERS.replace("for: 3", "for: 0"))
    path = tmp_path / "alerts.json"
    src = _firing_source()
    engine = Engine(ruleset, path)
    first = engine.evaluate(src)
    engine.commit(first)
    assert [n.kind for n in _notices(first)] == ["firing", "firing"]  # both rooms fire
    stored = json.loads(path.read_text(encoding="utf-8"))
    ids = sorted(stored["alerts"])
    if damage == "entry":
        stored["alerts"][ids[1]]["metric"] = {"not": "a metric"}
        original = json.dumps(stored).encode()
    else:
        original = path.read_bytes()[: len(path.read_bytes()) // 2]
    path.write_bytes(original)
    caplog.set_level(logging.WARNING)

    src.advance(1)
    again = Engine(ruleset, path)  # load …
    result = again.evaluate(src)
    again.commit(result)  # … and commit

    kept = json.loads(path.read_text(encoding="utf-8"))["alerts"]
    assert set(kept) == set(ids)  # both firing again or still firing
    if damage == "entry":
        # The sound alert was still firing: no second "firing" for it; the damaged one, read
        # as new, fires again (better twice than never).
        fired_again = {n.alert_id for n in _notices(result) if n.kind == "firing"}
        assert fired_again == {ids[1]}
        assert again.tick == 2
        [warning] = warnings_naming(caplog, path)
        assert "1 条记录已损坏" in warning
    else:
        assert again.tick == 1  # a fresh state: a new epoch, and both alerts fire anew
        assert {n.kind for n in _notices(result)} == {"firing"}
        [warning] = warnings_naming(caplog, path)
        assert "无法读取" in warning
    assert kept_aside(path) == [original]
