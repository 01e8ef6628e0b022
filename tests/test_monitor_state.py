"""The alert engine's parts on their own: the typed state machine without files, rendering and
keys, the state file (round trip, and a version-1 file of a monitor upgraded mid-show)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from livekit.monitor.engine import AlertState, Engine, EngineState, EvalResult, machine, persist
from livekit.monitor.engine.machine import Outcome, fingerprint, step
from livekit.monitor.engine.render import Renderer
from livekit.monitor.engine.state import new_alert
from livekit.monitor.rules import Rule, parse_rules
from livekit.monitor.types import SeriesKey
from tests.helpers.monitor import LOW_VIEWERS, ROOM, T0, FakeSource, rules

DATA = Path(__file__).resolve().parent / "data"
KEY = SeriesKey("room", ROOM, None, {"room_id": str(ROOM), "room_title": "今晚上新"})


def rule_of(body: str) -> Rule:
    (rule,) = rules(body).rules
    return rule


def fresh(rule: Rule) -> AlertState:
    return new_alert(f"{rule.name}|{KEY.ident}", rule.name, rule.metric, KEY)


# ---- the state machine, no files ------------------------------------------------------------


def test_step_walks_normal_pending_firing_resolved_on_typed_state() -> None:
    rule = rule_of(LOW_VIEWERS)  # for: 3, repeat: 30
    alert = fresh(rule)
    seen: list[tuple[str, ...]] = []
    for minute, holds in enumerate([True, True, True, True, True, False]):
        now = T0 + timedelta(minutes=minute)
        alert, changes = step(rule, alert, Outcome(holds, value=4.0, threshold=10.0), now)
        seen.append(tuple(t.kind for t in changes))
        if minute == 0:
            assert alert.state == "pending"
            assert alert.since == T0
        if minute == 3:
            assert alert.state == "firing"
            assert alert.started_at == now
            assert changes[0].alert.state == "firing"
    assert seen == [("pending",), (), (), ("firing",), (), ("resolved",)]
    assert alert.state == "normal"
    assert (alert.since, alert.started_at, alert.last_notified_at) == (None, None, None)
    assert alert.value == 4.0
    assert alert.threshold == 10.0


def test_a_resolution_carries_the_alert_as_it_was() -> None:
    rule = rule_of(LOW_VIEWERS.replace("for: 3", "for: 0"))
    alert, _ = step(rule, fresh(rule), Outcome(True, value=4.0), T0)
    later = T0 + timedelta(minutes=7)
    after, (t,) = step(rule, alert, Outcome(False, value=25.0), later)
    assert t.kind == "resolved"
    assert t.alert.since == T0  # the episode's start is still known to the message
    assert t.alert.value == 25.0
    assert after.since is None


def test_alert_state_is_frozen() -> None:
    alert = fresh(rule_of(LOW_VIEWERS))
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.state = "firing"  # type: ignore[misc]


def test_evaluate_is_pure_and_needs_no_file() -> None:
    ruleset = rules(LOW_VIEWERS.replace("for: 3", "for: 0"))
    src = FakeSource()
    src.add_room()
    src.set("new_viewers_per_min", 4.0)
    before = EngineState(epoch="e1")
    changes = machine.evaluate(ruleset.enabled, before, src)
    assert before.alerts == {}  # the input is untouched
    ((aid, alert),) = changes.alerts.items()
    assert aid == f"新进观众过少|room={ROOM}"
    assert alert.state == "firing"
    assert [t.kind for t in changes.transitions] == ["firing"]
    state = EngineState(epoch="e1", tick=1, alerts=changes.alerts)
    src.set("new_viewers_per_min", 30.0)
    src.advance(1)
    again = machine.evaluate(ruleset.enabled, state, src)
    assert [t.kind for t in again.transitions] == ["resolved"]
    assert again.alerts == {}
    assert state.alerts[aid].state == "firing"  # the committed state never changes under it


def test_the_room_going_off_air_closes_with_a_note() -> None:
    ruleset = rules(LOW_VIEWERS.replace("for: 3", "for: 0"))
    src = FakeSource()
    src.add_room()
    src.set("new_viewers_per_min", 4.0)
    first = machine.evaluate(ruleset.enabled, EngineState(epoch="e"), src)
    del src.rooms[ROOM]
    gone = machine.evaluate(ruleset.enabled, EngineState(epoch="e", alerts=first.alerts), src)
    (t,) = gone.transitions
    assert (t.kind, t.note) == ("resolved", "直播已结束")
    assert gone.alerts == {}


def test_rates_reach_the_machine_as_fractions_and_render_as_percent() -> None:
    body = """
    - name: 转化率低
      metric: conversion_rate
      scope: room
      condition: {type: threshold, op: below, value: "5%"}
      message: "点击-成交率 {{ value_text }}，低于 {{ threshold_text }}"
    """
    ruleset = rules(body)
    src = FakeSource()
    src.add_room()
    src.set("conversion_rate", 0.032, den=80)
    changes = machine.evaluate(ruleset.enabled, EngineState(epoch="e"), src)
    (alert,) = changes.alerts.values()
    assert alert.value == pytest.approx(0.032)
    assert alert.threshold == pytest.approx(0.05)
    out = Renderer(ruleset).tick(changes.transitions, src.now(), 1, "e")
    assert "点击-成交率 3.2%，低于 5.0%" in out.outgoing[0].notices[0].text
    assert out.records[0].value == pytest.approx(0.032)  # the alerts dataset holds fractions


def test_keys_depend_on_epoch_tick_and_change_only() -> None:
    ruleset = rules(LOW_VIEWERS.replace("for: 3", "for: 0"))
    src = FakeSource()
    src.add_room()
    src.set("new_viewers_per_min", 4.0)
    changes = machine.evaluate(ruleset.enabled, EngineState(epoch="e"), src)
    renderer = Renderer(ruleset)
    a = renderer.tick(changes.transitions, src.now(), 1, "e")
    b = renderer.tick(changes.transitions, src.now() + timedelta(seconds=7), 1, "e")
    assert a.outgoing[0].message.key == b.outgoing[0].message.key  # never the clock
    assert renderer.tick(changes.transitions, src.now(), 2, "e").outgoing[0].message.key != (
        a.outgoing[0].message.key
    )
    assert renderer.tick(changes.transitions, src.now(), 1, "f").outgoing[0].message.key != (
        a.outgoing[0].message.key
    )


# ---- the state file ----------------------------------------------------------------------------


def test_state_file_round_trip() -> None:
    rule = rule_of(
        """
        - name: 骤降
          metric: new_viewers_per_min
          scope: room
          condition: {type: anomaly, method: cusum, direction: down, warmup: 3}
          window: 5
        """
    )
    alert = dataclasses.replace(
        fresh(rule),
        state="firing",
        labels={"room_title": "今晚上新"},
        channels=("console", "feishu"),
        since=T0,
        started_at=T0 + timedelta(minutes=2),
        last_notified_at=T0 + timedelta(minutes=2),
        repeats=2,
        value=4.5,
        baseline=50.0,
        minute=42,
        fingerprint=fingerprint(rule),
        detector={"kind": "cusum", "k": 0.5, "h": 5.0, "direction": "down", "warmup": 3},
        point_at=T0,
        verdict=True,
    )
    state = EngineState(epoch="abc", tick=9, updated_at=T0, alerts={alert.alert_id: alert})
    data = json.loads(persist.encode(state))
    assert data["version"] == persist.STATE_VERSION
    # the keys of the documented format, one per field but the id (the map's key)
    fields = {f.name for f in dataclasses.fields(AlertState)} - {"alert_id"}
    assert set(data["alerts"][alert.alert_id]) == fields
    again, damaged, in_percent = persist.decode(persist.encode(state))
    assert (damaged, in_percent) == (None, False)
    assert again == state


def test_damaged_alerts_are_skipped_and_the_rest_kept() -> None:
    good = dataclasses.replace(fresh(rule_of(LOW_VIEWERS)), state="pending", since=T0)
    data = json.loads(persist.encode(EngineState("e", 3, None, {good.alert_id: good})))
    data["alerts"]["bad|room=1"] = {**data["alerts"][good.alert_id], "metric": "no_such"}
    data["alerts"]["naive|room=1"] = {**data["alerts"][good.alert_id], "since": "2026-11-26T19:30"}
    state, damaged, _ = persist.decode(json.dumps(data).encode())
    assert list(state.alerts) == [good.alert_id]
    assert damaged == 2
    assert (state.epoch, state.tick) == ("e", 3)


# ---- a version-1 state file: a monitor upgraded mid-show resumes ----------------------------

RULES_NOW = """
version: 1
rules:
  - name: 新进观众过少
    metric: new_viewers_per_min
    scope: room
    condition: {type: threshold, op: below, value: 10}
  - name: 互动率低于同行
    metric: interaction_rate
    scope: room
    condition: {type: benchmark, op: below, benchmark: peer_median, value: "0.8%"}
    min_denominator: 400
    message: "互动率 {{ value_text }}，低于同行 {{ benchmark_text }}"
  - name: 转化率异常下降
    metric: conversion_rate
    scope: room
    condition: {type: anomaly, method: cusum, direction: down, warmup: 3, min_sigma: "5%", k: 1, h: 6}
    window: 10
    min_denominator: 30
    message: "点击-成交率降到 {{ value_text }}（本场正常约 {{ baseline_text }}）"
"""


@pytest.fixture
def v1() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "monitor_state_v1.json").read_text("utf-8"))
    assert data["state"]["version"] == 1
    return data


def upgraded(tmp_path: Path, v1: dict[str, Any]) -> tuple[Engine, FakeSource, Path]:
    path = tmp_path / "alerts_state.json"
    path.write_text(json.dumps(v1["state"], ensure_ascii=False), encoding="utf-8")
    engine = Engine(parse_rules(RULES_NOW, source="alerts.yaml"), path)
    src = FakeSource()
    src.add_room()
    src.started[ROOM] = datetime.fromisoformat(v1["started"])
    src.t = datetime.fromisoformat(v1["uncommitted_at"])
    return engine, src, path


def test_a_version_1_file_resumes_with_rates_as_fractions(
    tmp_path: Path, v1: dict[str, Any]
) -> None:
    engine, _, path = upgraded(tmp_path, v1)
    old = v1["state"]
    assert (engine.epoch, engine.tick) == (old["epoch"], old["tick"])  # keys go on
    assert not list(tmp_path.glob("*.damaged-*"))  # read, not taken for damage
    by_rule = {a.rule: a for a in engine.state.alerts.values()}
    assert [a.rule for a in engine.active()] == ["互动率低于同行", "新进观众过少"]
    inter = by_rule["互动率低于同行"]
    assert inter.state == "firing"
    assert inter.value == pytest.approx(0.005)  # was 0.5 (percent points)
    assert inter.benchmark == pytest.approx(0.008)
    assert by_rule["新进观众过少"].value == 4.0  # a flow: unchanged
    conv = by_rule["转化率异常下降"]
    assert conv.baseline == pytest.approx(0.15)
    assert conv.detector is not None
    old_detector = old["alerts"][conv.alert_id]["detector"]
    assert conv.detector["mu0"] == pytest.approx(old_detector["mu0"] / 100)
    assert conv.detector["sigma"] == pytest.approx(old_detector["sigma"] / 100)
    assert conv.detector["c_minus"] == old_detector["c_minus"]  # σ units
    rule = engine.rule("转化率异常下降")
    assert rule is not None
    assert conv.fingerprint == fingerprint(rule)  # kept: it belongs to the same rule
    assert json.loads(path.read_text("utf-8")) == old  # reading writes nothing: commit does


def test_an_upgrade_during_a_crash_regenerates_the_same_keys(
    tmp_path: Path, v1: dict[str, Any]
) -> None:
    engine, src, _ = upgraded(tmp_path, v1)
    src.set("new_viewers_per_min", 30.0)
    src.set("interaction_rate", 0.005, den=500)
    src.set("conversion_rate", 0.15, den=60)
    redo = engine.evaluate(src)  # the tick the version-1 engine evaluated but never committed
    assert [
        {
            "channels": list(o.channels),
            "message_key": o.message.key,
            "notice_keys": [n.key for n in o.notices],
        }
        for o in redo.outgoing
    ] == [{k: u[k] for k in ("channels", "message_key", "notice_keys")} for u in v1["uncommitted"]]
    engine.commit(redo)
    assert json.loads((tmp_path / "alerts_state.json").read_text("utf-8"))["version"] == 2


def test_an_upgraded_monitor_behaves_as_the_old_one_would_have(
    tmp_path: Path, v1: dict[str, Any]
) -> None:
    engine, src, _ = upgraded(tmp_path, v1)
    for step_ in v1["continued"]:
        src.set("new_viewers_per_min", step_["new_viewers_per_min"])
        src.set("interaction_rate", step_["interaction_rate"] / 100, den=500)
        src.set("conversion_rate", step_["conversion_rate"] / 100, den=60)
        result: EvalResult = engine.evaluate(src)
        engine.commit(result)
        sent = [f"{n.kind}:{n.rule}" for o in result.outgoing for n in o.notices]
        assert sent == step_["sent"], step_["minute"]
        if step_["minute"] == 90:  # the collapse, found by the detector kept across the upgrade
            assert "点击-成交率降到 2.0%（本场正常约 15.0%）" in result.outgoing[0].notices[0].text
        if step_["minute"] == 45:
            assert "5.0%" in result.outgoing[0].notices[0].text
        src.advance(1)
    assert any(s["sent"] for s in v1["continued"] if s["minute"] == 90)


def test_a_version_1_detector_of_an_edited_rule_starts_afresh(
    tmp_path: Path, v1: dict[str, Any]
) -> None:
    path = tmp_path / "alerts_state.json"
    path.write_text(json.dumps(v1["state"], ensure_ascii=False), encoding="utf-8")
    edited = RULES_NOW.replace("k: 1, h: 6", "k: 1, h: 4")
    engine = Engine(parse_rules(edited, source="alerts.yaml"), path)
    conv = next(a for a in engine.state.alerts.values() if a.rule == "转化率异常下降")
    rule = engine.rule("转化率异常下降")
    assert rule is not None
    assert conv.fingerprint != fingerprint(rule)  # the next point resets it, as any edit does
