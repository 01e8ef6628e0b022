"""The alert engine with a scripted MetricSource and a clock the test moves by hand."""

from __future__ import annotations

import json
import math
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from livekit.monitor.engine import Engine, EvalResult
from livekit.monitor.rules import load_rules
from tests.helpers.monitor import LOW_VIEWERS, PRODUCT, ROOM, ROOM2, T0, FakeSource, rules


@pytest.fixture
def src() -> FakeSource:
    s = FakeSource()
    s.add_room()
    return s


def tick(engine: Engine, src: FakeSource, minutes: float = 1.0) -> EvalResult:
    """Evaluate, commit, then move the clock."""
    result = engine.evaluate(src)
    engine.commit(result)
    src.advance(minutes)
    return result


def kinds(result: EvalResult) -> list[str]:
    return [n.kind for o in result.outgoing for n in o.notices]


# ---- states --------------------------------------------------------------------------------------


def test_pending_then_firing_after_for(tmp_path: Path, src: FakeSource) -> None:
    engine = Engine(rules(LOW_VIEWERS), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0)
    results = [tick(engine, src) for _ in range(5)]
    # minutes 0, 1, 2: pending (held 0, 1, 2 minutes); minute 3: held 3 = for → firing
    assert [kinds(r) for r in results] == [[], [], [], ["firing"], []]
    assert [rec.state for rec in results[0].records] == ["pending"]
    assert [rec.state for rec in results[3].records] == ["firing"]
    message = results[3].messages[0]
    assert message.kind == "firing"
    assert message.title == "【直播告警】触发：新进观众过少"
    assert "今晚上新 新进观众 4.0 人/分钟（第 3 分钟）" in message.text
    assert message.alerts == (f"新进观众过少|room={ROOM}",)
    record = results[3].records[0]
    assert record.started_at == T0  # when the condition began, not when it fired
    assert record.changed_at == T0 + timedelta(minutes=3)
    assert record.threshold == 10.0
    assert record.minute_of_show == 3


def test_condition_that_stops_early_never_fires(tmp_path: Path, src: FakeSource) -> None:
    engine = Engine(rules(LOW_VIEWERS), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0)
    assert kinds(tick(engine, src)) == []
    assert kinds(tick(engine, src)) == []
    src.set("new_viewers_per_min", 12.0)
    r = tick(engine, src)
    assert kinds(r) == []
    assert [rec.state for rec in r.records] == ["normal"]  # pending cancelled, recorded
    src.set("new_viewers_per_min", 4.0)
    for _ in range(3):
        assert kinds(tick(engine, src)) == []  # the pending period starts over
    assert kinds(tick(engine, src)) == ["firing"]


def test_resolves_when_the_condition_clears(tmp_path: Path, src: FakeSource) -> None:
    engine = Engine(rules(LOW_VIEWERS.replace("for: 3", "for: 0")), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0)
    assert kinds(tick(engine, src)) == ["firing"]
    src.set("new_viewers_per_min", 25.0)
    r = tick(engine, src)
    assert kinds(r) == ["resolved"]
    assert r.messages[0].kind == "resolved"
    assert r.messages[0].title == "【直播告警】恢复：新进观众过少"
    assert "已恢复" in r.messages[0].text
    assert [rec.state for rec in r.records] == ["resolved"]
    assert engine.active() == []
    src.set("new_viewers_per_min", 4.0)
    assert kinds(tick(engine, src)) == ["firing"]  # a new episode fires again


def test_repeat_interval(tmp_path: Path, src: FakeSource) -> None:
    engine = Engine(rules(LOW_VIEWERS.replace("for: 3", "for: 0")), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0)
    sent = {}
    for minute in range(0, 65, 5):
        sent[minute] = kinds(tick(engine, src, 5))
    assert sent[0] == ["firing"]
    assert sent[30] == ["repeat"]
    assert sent[60] == ["repeat"]
    assert all(sent[m] == [] for m in sent if m not in (0, 30, 60))


def test_repeat_zero_never_repeats(tmp_path: Path, src: FakeSource) -> None:
    text = LOW_VIEWERS.replace("for: 3", "for: 0").replace("repeat: 30", "repeat: 0")
    engine = Engine(rules(text), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0)
    sent = [k for _ in range(30) for k in kinds(tick(engine, src, 10))]
    assert sent == ["firing"]


def test_min_denominator_counts_as_no_data(tmp_path: Path, src: FakeSource) -> None:
    text = """
    - name: 转化率低
      metric: conversion_rate
      scope: room
      condition: {type: threshold, op: below, value: "5%"}
      min_denominator: 30
      no_data: ok
    """
    engine = Engine(rules(text), tmp_path / "state.json")
    src.set("conversion_rate", 0.0, den=12)  # 0 of 12 clicks: not a rate worth alerting on
    assert kinds(tick(engine, src)) == []
    src.set("conversion_rate", 0.02, den=50)
    assert kinds(tick(engine, src)) == ["firing"]
    src.set("conversion_rate", 0.0, den=12)  # back below the minimum: no data, no_data: ok
    assert kinds(tick(engine, src)) == ["resolved"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("keep", []), ("ok", ["resolved"]), ("alert", [])],
)
def test_no_data_while_firing(
    tmp_path: Path, src: FakeSource, mode: str, expected: list[str]
) -> None:
    text = LOW_VIEWERS.replace("for: 3", f"for: 0\n  no_data: {mode}")
    engine = Engine(rules(text), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0)
    assert kinds(tick(engine, src)) == ["firing"]
    src.set("new_viewers_per_min", None)
    assert kinds(tick(engine, src)) == expected


def test_no_data_alert_fires_on_missing_data(tmp_path: Path, src: FakeSource) -> None:
    text = LOW_VIEWERS.replace("for: 3", "for: 2\n  no_data: alert")
    engine = Engine(rules(text), tmp_path / "state.json")
    src.set("new_viewers_per_min", None)
    assert [kinds(tick(engine, src)) for _ in range(3)] == [[], [], ["firing"]]
    assert engine.active()[0].value is None


def test_no_data_keep_does_not_advance_or_cancel(tmp_path: Path, src: FakeSource) -> None:
    engine = Engine(rules(LOW_VIEWERS), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0)
    tick(engine, src)
    src.set("new_viewers_per_min", None)
    tick(engine, src)
    assert engine.active()[0].state == "pending"  # kept, not cancelled
    src.set("new_viewers_per_min", 4.0)
    tick(engine, src)
    assert kinds(tick(engine, src)) == ["firing"]  # held since minute 0


# ---- grouping and deduplication --------------------------------------------------------------------

TWO_RULES = """
- name: 新进观众过少
  metric: new_viewers_per_min
  scope: room
  condition: {type: threshold, op: below, value: 10}
  severity: warning
- name: 评论过少
  metric: comments_per_min
  scope: room
  condition: {type: threshold, op: below, value: 1}
  severity: critical
- name: 没有成交
  metric: minutes_since_order
  scope: room
  condition: {type: threshold, op: above, value: 30}
  channels: [console, feishu]
"""


def test_simultaneous_alerts_are_grouped_per_channel_set(tmp_path: Path, src: FakeSource) -> None:
    src.add_room(ROOM2, title="好物直播间", aweme="小号")
    engine = Engine(rules(TWO_RULES), tmp_path / "state.json")
    for room in (ROOM, ROOM2):
        src.set("new_viewers_per_min", 4.0, ident=f"room={room}")
        src.set("comments_per_min", 0.2, ident=f"room={room}")
        src.set("minutes_since_order", 45.0, ident=f"room={room}")
    r = tick(engine, src)
    assert len(r.outgoing) == 2
    by_channels = {o.channels: o for o in r.outgoing}
    console = by_channels[("console",)].message
    assert console.title == "【直播告警】4 条触发"
    assert console.severity == "critical"
    assert len(console.alerts) == 4
    lines = console.text.splitlines()
    assert lines[0].startswith("【触发·严重】")  # the most severe first
    assert lines[1].startswith("【触发·严重】")
    assert lines[2].startswith("【触发·警告】")
    assert "- **【触发·严重】**" in console.markdown
    feishu = by_channels[("console", "feishu")].message
    assert feishu.title == "【直播告警】2 条触发"
    assert len({o.message.key for o in r.outgoing}) == 2

    # one resolves while another fires: both in one message
    src.set("new_viewers_per_min", 30.0, ident=f"room={ROOM}")
    src.set("comments_per_min", 5.0, ident=f"room={ROOM2}")
    src.advance(0)
    r = tick(engine, src)
    assert [o.message.title for o in r.outgoing] == ["【直播告警】2 条恢复"]
    src.set("new_viewers_per_min", 4.0, ident=f"room={ROOM}")
    src.set("comments_per_min", 9.0, ident=f"room={ROOM}")
    r = tick(engine, src)
    assert [o.message.title for o in r.outgoing] == ["【直播告警】1 条触发，1 条恢复"]


def test_one_alert_per_rule_and_series(tmp_path: Path, src: FakeSource) -> None:
    src.add_room(ROOM2)
    engine = Engine(rules(LOW_VIEWERS.replace("for: 3", "for: 0")), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0, ident=f"room={ROOM}")
    src.set("new_viewers_per_min", 4.0, ident=f"room={ROOM2}")
    first = tick(engine, src)
    assert sorted(first.messages[0].alerts) == sorted(
        [f"新进观众过少|room={ROOM}", f"新进观众过少|room={ROOM2}"]
    )
    assert all(kinds(tick(engine, src)) == [] for _ in range(10))  # no duplicate firing


def test_match_limits_the_series(tmp_path: Path, src: FakeSource) -> None:
    src.add_room(ROOM2, aweme="小号")
    text = LOW_VIEWERS.replace("for: 3", "for: 0\n  match: {aweme_name: 主号}")
    engine = Engine(rules(text), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0, ident=f"room={ROOM}")
    src.set("new_viewers_per_min", 4.0, ident=f"room={ROOM2}")
    r = tick(engine, src)
    assert r.messages[0].alerts == (f"新进观众过少|room={ROOM}",)


# ---- persistence and the two-phase tick ----------------------------------------------------------


def test_restart_neither_resends_nor_forgets(tmp_path: Path, src: FakeSource) -> None:
    path = tmp_path / "state.json"
    ruleset = rules(LOW_VIEWERS.replace("for: 3", "for: 0"))
    first = Engine(ruleset, path)
    src.set("new_viewers_per_min", 4.0)
    assert kinds(tick(first, src)) == ["firing"]
    del first  # SIGKILL: nothing but the state file survives

    second = Engine(ruleset, path)
    assert [a.state for a in second.active()] == ["firing"]
    assert kinds(tick(second, src)) == []  # still firing: nothing to send again
    src.set("new_viewers_per_min", 30.0)
    assert kinds(tick(second, src)) == ["resolved"]  # and the resolution still goes out

    state = json.loads(path.read_text(encoding="utf-8"))
    assert state["version"] == 2
    assert state["tick"] == 3
    assert state["alerts"] == {}


def test_uncommitted_tick_regenerates_the_same_keys(tmp_path: Path, src: FakeSource) -> None:
    path = tmp_path / "state.json"
    ruleset = rules(TWO_RULES)
    engine = Engine(ruleset, path)
    src.set("new_viewers_per_min", 30.0)
    src.set("comments_per_min", 5.0)
    src.set("minutes_since_order", 1.0)
    tick(engine, src)

    src.set("new_viewers_per_min", 4.0)
    src.set("minutes_since_order", 50.0)
    crashed = engine.evaluate(src)  # handed to the outbox, then the process dies: no commit
    assert len(crashed.outgoing) == 2
    again = engine.evaluate(src)  # evaluate is pure: same committed state, same keys
    assert [o.message.key for o in again.outgoing] == [o.message.key for o in crashed.outgoing]

    src.advance(1)  # the restarted monitor polls a minute later
    restarted = Engine(ruleset, path)
    redo = restarted.evaluate(src)
    assert [o.message.key for o in redo.outgoing] == [o.message.key for o in crashed.outgoing]
    assert [n.key for o in redo.outgoing for n in o.notices] == [
        n.key for o in crashed.outgoing for n in o.notices
    ]
    restarted.commit(redo)
    with pytest.raises(ValueError, match="stale"):
        restarted.commit(redo)  # a result can be committed once
    # the next notification gets a new key
    src.set("new_viewers_per_min", 30.0)
    nxt = restarted.evaluate(src)
    assert nxt.outgoing[0].message.key not in {o.message.key for o in crashed.outgoing}


def test_state_is_written_only_by_commit(tmp_path: Path, src: FakeSource) -> None:
    path = tmp_path / "state.json"
    engine = Engine(rules(LOW_VIEWERS.replace("for: 3", "for: 0")), path)
    before = path.read_bytes()  # created at start, with its epoch
    src.set("new_viewers_per_min", 4.0)
    result = engine.evaluate(src)
    assert path.read_bytes() == before
    engine.commit(result)
    assert path.read_bytes() != before
    assert json.loads(path.read_bytes())["epoch"] == json.loads(before)["epoch"]


def test_keys_differ_between_state_files(tmp_path: Path, src: FakeSource) -> None:
    ruleset = rules(LOW_VIEWERS.replace("for: 3", "for: 0"))
    src.set("new_viewers_per_min", 4.0)
    a = Engine(ruleset, tmp_path / "a.json").evaluate(src)
    b = Engine(ruleset, tmp_path / "b.json").evaluate(src)
    assert a.messages[0].key != b.messages[0].key  # a reset state can't collide with old keys


def test_corrupt_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json", encoding="utf-8")
    engine = Engine(rules(LOW_VIEWERS), path)  # a fresh state; the original is kept aside
    assert engine.tick == 0
    assert [p.read_text() for p in tmp_path.glob("state.json.damaged-*")] == ["{not json"]


# ---- going off air ---------------------------------------------------------------------------------


def test_room_going_off_air_resolves(tmp_path: Path, src: FakeSource) -> None:
    text = LOW_VIEWERS.replace("for: 3", "for: 0") + textwrap.dedent(
        """
        - name: 商品售罄
          metric: inventory
          scope: product
          condition: {type: threshold, op: below, value: 1}
          resolved_message: "{{ product_title }}：{{ note }}"
        """
    )
    src.add_product()
    engine = Engine(rules(text), tmp_path / "state.json")
    src.set("new_viewers_per_min", 4.0)
    src.set("inventory", 0.0, ident=f"room={ROOM},product={PRODUCT}")
    assert sorted(kinds(tick(engine, src))) == ["firing", "firing"]
    del src.rooms[ROOM]  # the show ends
    r = tick(engine, src)
    assert kinds(r) == ["resolved", "resolved"]
    assert "爆款面膜：直播已结束" in r.messages[0].text
    assert all(rec.note == "直播已结束" for rec in r.records)
    assert engine.active() == []
    assert json.loads((tmp_path / "state.json").read_text())["alerts"] == {}


def test_removed_rule_resolves_its_alerts(tmp_path: Path, src: FakeSource) -> None:
    path = tmp_path / "state.json"
    engine = Engine(rules(TWO_RULES), path)
    src.set("comments_per_min", 0.1)
    tick(engine, src)
    only_viewers = rules(TWO_RULES.split("- name: 评论过少")[0])
    r = tick(Engine(only_viewers, path), src)
    assert kinds(r) == ["resolved"]
    assert r.records[0].note == "规则已删除或停用"


# ---- benchmarks and anomalies ------------------------------------------------------------------------


def test_own_median_benchmark(tmp_path: Path, src: FakeSource) -> None:
    text = """
    - name: 低于往期
      metric: new_viewers_per_min
      scope: room
      condition: {type: benchmark, op: below, benchmark: own_median, factor: 0.5}
      message: "{{ value_text }} 低于往期 {{ benchmark_text }} 的一半（{{ threshold_text }}）"
    """
    engine = Engine(rules(text), tmp_path / "state.json")
    src.set("new_viewers_per_min", 20.0)
    assert kinds(tick(engine, src)) == []  # no earlier show: no data
    src.history[("new_viewers_per_min", f"room={ROOM}")] = 50.0
    r = tick(engine, src)
    assert kinds(r) == ["firing"]
    assert "20.0 人/分钟 低于往期 50.0 人/分钟 的一半（25.0 人/分钟）" in r.messages[0].text
    assert r.records[0].benchmark == 50.0
    assert r.records[0].threshold == 25.0


def test_anomaly_rule_charts_one_point_per_window(tmp_path: Path, src: FakeSource) -> None:
    text = """
    - name: 骤降
      metric: new_viewers_per_min
      scope: room
      condition: {type: anomaly, method: cusum, direction: down, transform: log, k: 3, h: 4, warmup: 4, min_sigma: 0.2}
      window: 5
      message: "降到 {{ value_text }}，正常约 {{ baseline_text }}"
    """
    engine = Engine(rules(text), tmp_path / "state.json")
    levels = [50, 55, 48, 52, 51, 53, 49, 10, 10, 50, 52]  # one value per 5-minute window
    fired_at, resolved_at = [], []
    for i, level in enumerate(levels):
        for minute in range(5):
            src.set("new_viewers_per_min", float(level))
            r = tick(engine, src)
            if "firing" in kinds(r):
                fired_at.append((i, minute))
                assert "降到 10.0 人/分钟，正常约 51.5 人/分钟" in r.messages[0].text
            if "resolved" in kinds(r):
                resolved_at.append((i, minute))
    # the first point comes once a full window has passed (minute 5), then every 5 minutes
    assert src.calls[("new_viewers_per_min", f"room={ROOM}")] == len(levels) - 1
    assert fired_at == [(7, 0)]  # the first point of the drop
    assert resolved_at
    assert resolved_at[0][0] >= 9
    state = json.loads((tmp_path / "state.json").read_text())
    detector = state["alerts"][f"骤降|room={ROOM}"]["detector"]
    assert detector["kind"] == "cusum"
    # the warm-up points are the windows 1-4 (55, 48, 52, 51): the median on the log scale
    assert detector["mu0"] == pytest.approx((math.log1p(51) + math.log1p(52)) / 2)


def test_anomaly_detector_survives_restart(tmp_path: Path, src: FakeSource) -> None:
    text = """
    - name: 转化率异常
      metric: conversion_rate
      scope: room
      condition: {type: anomaly, method: ewma, direction: down, lambda: 0.5, L: 3, warmup: 3, min_sigma: "1%"}
      window: 10
      min_denominator: 20
    """
    ruleset = rules(text)
    path = tmp_path / "state.json"
    engine = Engine(ruleset, path)
    sent = []
    for i, value in enumerate([0.15, 0.16, 0.14, 0.15, 0.15, 0.04, 0.03]):
        if i == 4:
            engine = Engine(ruleset, path)  # restart in the middle: the baseline is kept
        src.set("conversion_rate", value, den=40)
        sent += kinds(tick(engine, src, 10))
    assert sent == ["firing"]


def test_history_baseline_charts_the_residual(tmp_path: Path, src: FakeSource) -> None:
    text = """
    - name: 比往期低
      metric: gmv_per_min
      scope: room
      condition: {type: anomaly, method: cusum, direction: down, baseline: history, k: 1, h: 4, warmup: 3, min_sigma: 10}
      window: 5
    """
    engine = Engine(rules(text), tmp_path / "state.json")
    key = ("gmv_per_min", f"room={ROOM}")
    src.set("gmv_per_min", 500.0)
    src.advance(5)
    assert kinds(tick(engine, src, 5)) == []  # no earlier show: no data, nothing charted
    sent = []
    # the earlier shows' median rises through the show; this show follows it, then falls behind
    for i, hist in enumerate([300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0]):
        src.history[key] = hist
        src.set("gmv_per_min", hist + 5.0 if i < 4 else hist - 150.0)
        sent += kinds(tick(engine, src, 5))
    # residuals +5, +5, +5 (warm-up), +5, then -150 = -15.5σ: fires at once, not before
    assert sent == ["firing"]


def test_shipped_rules_on_a_product_surge_and_a_stockout(tmp_path: Path, src: FakeSource) -> None:
    shipped = load_rules(Path(__file__).resolve().parents[1] / "params" / "alerts.yaml")
    src.add_product()
    ident = f"room={ROOM},product={PRODUCT}"
    engine = Engine(shipped, tmp_path / "state.json")
    fired: list[str] = []
    texts: list[str] = []
    for minute in range(120):
        clicks = 13.0 if 60 <= minute < 75 else (0.3 if minute % 2 else 0.5)
        # explained from minute 20 to 30 at the same 13 clicks a minute: expected, not news
        explained = 20 <= minute < 30
        src.set("clicks_per_min", 13.0 if explained else clicks, ident=ident, explained=explained)
        src.set("inventory", 0.0 if minute >= 90 else 200.0, ident=ident)
        r = tick(engine, src)
        for o in r.outgoing:
            for n in o.notices:
                if n.kind == "firing":
                    fired.append(n.rule)
                    texts.append(n.text)
    assert fired == ["商品点击激增", "商品售罄"]
    assert "没在讲解，点击却激增到 13.0 次/分钟" in texts[0]
    assert "延长讲解" in texts[0]
    assert "爆款面膜 已售罄" in texts[1]


def test_explaining_skip_leaves_explained_windows_out(tmp_path: Path) -> None:
    """With ``explaining: skip`` a window in which the product was explained is no data: the
    detector neither learns its baseline from it nor charts it; the same clicks without an
    explanation fire."""
    text = """
    - name: 点击激增
      metric: clicks_per_min
      scope: product
      condition: {type: anomaly, method: cusum, direction: up, k: 1, h: 4, warmup: 3, min_sigma: 1}
      window: 1
      explaining: {mode}
    """
    ident = f"room={ROOM},product={PRODUCT}"
    # 3 quiet minutes, an explanation at 12 clicks/min for 5 minutes, quiet again, a surge of
    # 12 clicks/min without an explanation
    script = [(1.0, False)] * 4 + [(12.0, True)] * 5 + [(1.0, False)] * 3 + [(12.0, False)] * 2
    fired: dict[str, list[int]] = {}
    for mode in ("skip", "include"):
        s = FakeSource()
        s.add_room()
        s.add_product()
        engine = Engine(rules(text.replace("{mode}", mode)), tmp_path / f"{mode}.json")
        fired[mode] = []
        for minute, (clicks, explained) in enumerate(script):
            s.set("clicks_per_min", clicks, ident=ident, explained=explained)
            if "firing" in kinds(tick(engine, s)):
                fired[mode].append(minute)
        detector = json.loads((tmp_path / f"{mode}.json").read_text())["alerts"][
            f"点击激增|{ident}"
        ]["detector"]
        if mode == "skip":  # charted: every minute but the first, the explanation, the warm-up
            assert detector["t"] == len(script) - 1 - 5 - 3
    assert fired["skip"] == [12]  # the surge, at its first minute
    assert fired["include"] == [4]  # the explanation itself


def test_skipping_explained_windows_is_part_of_the_detectors_fingerprint() -> None:
    from livekit.monitor.engine.machine import fingerprint

    text = """
    - name: 点击激增
      metric: clicks_per_min
      scope: product
      condition: {type: anomaly, method: cusum, direction: up}
    """
    plain = rules(text).rules[0]
    include = rules(text + "  explaining: include\n").rules[0]
    skip = rules(text + "  explaining: skip\n").rules[0]
    assert fingerprint(plain) == fingerprint(include)  # detectors kept over an upgrade
    assert fingerprint(skip) != fingerprint(plain)  # a new baseline when the choice changes
