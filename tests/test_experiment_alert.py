"""The experiment alert (livekit.cli.experiment_alert): one message per (experiment, decision)
through the monitor's configured channels — real 飞书 and webhook receivers on loopback, the real
persistent outbox and state file — never twice (two evenings, a crash between any two steps),
none while running, none without a channel; the user's experiment name inert in IM markup; no
secret in messages, files or output; `livekit experiment status` and the report runs' hook."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import livekit
from livekit.cli.experiment_alert import (
    Experiment,
    after_report,
    alert_message,
    configured_channels,
    notify,
    read_sent,
    record_sent,
)
from livekit.monitor.notify import Outbox
from livekit.pages import ab_status
from livekit.reports import Project, RunResult
from livekit.reports import schedule as sched
from livekit.source import Kit
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.notify_receivers import Receivers, running_receivers
from tests.helpers.reports import ROOT, TEST_HOME, cli, make_project

HOOK_TOKEN = "hook-tok-9f2c71"
HOOK_SECRET = "hook-secret-51be0d"
FEISHU_TOKEN = "feishu-tok-3a77e2"
HOSTILE = '<at user_id="all">所有人</at> [点我](http://evil.example/x) **粗体** @everyone'
NOW = datetime(2026, 12, 5, 23, 30, tzinfo=CHINA_TZ)


@pytest.fixture(scope="module")
def rx() -> Iterator[Receivers]:
    with running_receivers() as receivers:
        yield receivers


@pytest.fixture(autouse=True)
def _clean(rx: Receivers) -> None:
    rx.reset()


def environ(rx: Receivers) -> dict[str, str]:
    return {
        "LIVEKIT_WEBHOOK_URL": rx.url_for("webhook", HOOK_TOKEN, secret=HOOK_SECRET),
        "LIVEKIT_WEBHOOK_SECRET": HOOK_SECRET,
        "LIVEKIT_FEISHU_WEBHOOK": rx.url_for("feishu", FEISHU_TOKEN),
    }


@pytest.fixture(scope="module")
def kit() -> Kit:
    return livekit.open("sandbox", home=TEST_HOME)


@pytest.fixture(scope="module")
def decided(kit: Kit) -> ab_status.AbStatusPage:
    return ab_status.build(kit, name=HOSTILE)  # the planted experiment: decided


@pytest.fixture(scope="module")
def running(kit: Kit) -> ab_status.AbStatusPage:
    return ab_status.build(kit, name="三天", experiment_end="38_days_ago")


def experiment(name: str = HOSTILE) -> Experiment:
    return Experiment.of(
        {"source": "sandbox", "unit": "viewer", "name": name, "experiment_start": "40_days_ago"}
    )


def accepted(rx: Receivers) -> dict[str, int]:
    return {k: len(rx.received[k]) for k in ("webhook", "feishu")}


def test_the_same_experiment_in_two_shops_is_two_alerts(decided: ab_status.AbStatusPage) -> None:
    base = {"source": "live", "unit": "viewer", "name": "主图", "experiment_start": "2026-11-01"}
    one_shop = Experiment.of(base)
    a, b = (Experiment.of({**base, "shop": s}) for s in ("shop-a", "shop-b"))
    assert len({one_shop.key("decided-up"), a.key("decided-up"), b.key("decided-up")}) == 3
    # one-shop mode keeps the key it always had (an upgrade must not announce twice)
    assert Experiment.of({**base, "shop": None}).key("decided-up") == one_shop.key("decided-up")
    message = alert_message(decided, a, NOW)
    assert "店铺 shop-a" in message.text
    assert "shop-b" not in message.text
    assert "店铺" not in alert_message(decided, one_shop, NOW).text


# ---- the alert step --------------------------------------------------------------------------
def test_one_delivery_over_two_evenings(
    rx: Receivers, decided: ab_status.AbStatusPage, tmp_path: Path
) -> None:
    channels = configured_channels(environ=environ(rx))
    assert sorted(channels) == ["feishu", "webhook"]  # configured ones, never the console
    first = notify(decided, experiment(), channels, tmp_path, now=NOW)
    assert (first.decision, first.new, first.delivered) == (
        "decided-up",
        True,
        ["feishu", "webhook"],
    )
    second = notify(decided, experiment(), channels, tmp_path, now=NOW)
    assert (second.new, second.delivered) == (False, [])
    assert "已经提醒过" in second.line
    assert accepted(rx) == {"webhook": 1, "feishu": 1}
    body = rx.received["webhook"][0].body
    assert body["key"] == experiment().key("decided-up")
    assert "已有结论，可以停止" in body["text"]
    assert "观众成交率" in body["text"]
    assert "已运行 14 天" in body["text"]
    # the state file remembers the decision (atomic JSON, one entry)
    sent = read_sent(tmp_path / "alerts.json")
    assert list(sent) == [experiment().key("decided-up")]
    # another experiment (another name) with the same decision is announced on its own
    notify(decided, experiment("另一个实验"), channels, tmp_path, now=NOW)
    assert accepted(rx) == {"webhook": 2, "feishu": 2}


def test_no_channel_no_alert_no_error(decided: ab_status.AbStatusPage, tmp_path: Path) -> None:
    channels = configured_channels(environ={})
    assert channels == {}
    outcome = notify(decided, experiment(), channels, tmp_path, now=NOW)
    assert outcome.pump is None
    assert "没有配置通知渠道" in outcome.line
    assert list(tmp_path.iterdir()) == []  # nothing queued, nothing recorded


def test_none_while_running(rx: Receivers, running: ab_status.AbStatusPage, tmp_path: Path) -> None:
    assert running.status.status == "running"
    outcome = notify(
        running, experiment("三天"), configured_channels(environ=environ(rx)), tmp_path
    )
    assert outcome.decision is None
    assert "还没有结论" in outcome.line
    assert rx.requests["webhook"] == []
    assert rx.requests["feishu"] == []
    assert read_sent(tmp_path / "alerts.json") == {}


def test_a_crash_between_any_two_steps_never_duplicates(
    rx: Receivers, decided: ab_status.AbStatusPage, tmp_path: Path
) -> None:
    channels = configured_channels(environ=environ(rx))
    exp = experiment()
    message = alert_message(decided, exp, NOW)
    # killed after enqueuing, before recording: the next run enqueues again, the outbox drops it
    crashed = tmp_path / "a"
    Outbox(crashed / "outbox.json").enqueue([message], sorted(channels))
    assert notify(decided, exp, channels, crashed, now=NOW).new
    assert notify(decided, exp, channels, crashed, now=NOW).new is False
    assert accepted(rx) == {"webhook": 1, "feishu": 1}
    # killed after recording, before pumping: the next run sends what waits in the outbox
    rx.reset()
    environ(rx)  # the receivers forgot the robots: register them again
    crashed = tmp_path / "b"
    Outbox(crashed / "outbox.json").enqueue([message], sorted(channels))
    record_sent(crashed / "alerts.json", exp.key("decided-up"), {"decision": "decided-up"})
    outcome = notify(decided, exp, channels, crashed, now=NOW)
    assert (outcome.new, outcome.delivered) == (False, ["feishu", "webhook"])
    notify(decided, exp, channels, crashed, now=NOW)
    assert accepted(rx) == {"webhook": 1, "feishu": 1}


def test_a_damaged_state_file_is_kept_aside_and_the_outbox_still_stops_a_repeat(
    rx: Receivers, decided: ab_status.AbStatusPage, tmp_path: Path
) -> None:
    channels = configured_channels(environ=environ(rx))
    notify(decided, experiment(), channels, tmp_path, now=NOW)
    (tmp_path / "alerts.json").write_text("{not json", encoding="utf-8")
    notify(decided, experiment(), channels, tmp_path, now=NOW)
    assert accepted(rx) == {"webhook": 1, "feishu": 1}
    assert list(tmp_path.glob("alerts.json.damaged-*"))
    assert list(read_sent(tmp_path / "alerts.json")) == [experiment().key("decided-up")]


def test_the_name_is_inert_and_no_secret_leaks(
    rx: Receivers, decided: ab_status.AbStatusPage, tmp_path: Path
) -> None:
    notify(decided, experiment(), configured_channels(environ=environ(rx)), tmp_path, now=NOW)
    shown = rx.texts("feishu")[0]
    assert "所有人" in shown  # the words are all there ...
    assert "<at" not in shown  # ... but no mention of everyone
    assert "http://evil" not in shown  # and no link
    body = rx.received["webhook"][0].body
    assert "](http" not in body["markdown"]
    assert "**粗体**" not in body["markdown"]
    assert "<at" not in body["title"]
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for secret in (HOOK_SECRET, HOOK_TOKEN, FEISHU_TOKEN):
        assert secret.encode() not in stored


# ---- the report runs' hook and the scheduler -------------------------------------------------
@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A LIVEKIT_HOME of its own (its state starts empty) reading the shared sandbox data."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    TEST_HOME.mkdir(parents=True, exist_ok=True)
    (TEST_HOME / "sandbox").mkdir(mode=0o700, exist_ok=True)
    (home / "sandbox").symlink_to(TEST_HOME / "sandbox", target_is_directory=True)
    return home


def test_the_hook_runs_only_after_a_successful_ab_status_with_a_channel(
    rx: Receivers, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(ROOT, tmp_path / "reports")
    today = datetime.now(CHINA_TZ).date()
    for key in [k for k in os.environ if re.match(r"LIVEKIT_.*(WEBHOOK|SMTP|EMAIL)", k)]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LIVEKIT_HOME", str(home))
    # no channel configured: nothing to say, and the status is not even computed
    assert after_report(project, "ab_status", today, True) is None
    for key, value in environ(rx).items():
        monkeypatch.setenv(key, value)
    assert after_report(project, "funnel", today, True) is None  # only after ab_status
    assert after_report(project, "ab_status", today, False) is None  # and only when it ran
    assert not (home / "state").exists()
    assert rx.requests["webhook"] == []


def test_command_mistakes_are_one_line(rx: Receivers, home: Path) -> None:
    env = {"LIVEKIT_HOME": str(home), **environ(rx)}
    for args, expected in (
        (("-p", "mde", "5"), "mde"),
        (("--channel", "nope"), "未配置的通知渠道：nope"),
        (("--date", "someday"), "--date"),
    ):
        done = cli("experiment", "status", *args, cwd=ROOT, env=env)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("错误：")
        assert expected in lines[0]
    assert rx.requests["webhook"] == []


def test_the_scheduler_calls_the_hook_after_each_report_and_survives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_project(tmp_path, ["hello", "broken"])
    (root / "params" / "schedules.yaml").write_text(
        'hello: "0 8 * * *"\nbroken: "0 8 * * *"\n', encoding="utf-8"
    )
    project = Project(root)

    def runner(
        project: Project, names: list[str], day: date, *, options: object
    ) -> list[RunResult]:
        [name] = names
        if name == "broken":
            return [RunResult(name, name, day, "failed", datetime.now(UTC), 0.1, None, None)]
        return [RunResult(name, name, day, "ok", datetime.now(UTC), 0.1, None, None)]

    monkeypatch.setattr(sched, "run_reports", runner)
    seen: list[tuple[str, bool]] = []

    def hook(result: RunResult) -> None:
        seen.append((result.name, result.ok))
        raise RuntimeError("通知坏了")

    start = datetime(2026, 11, 28, 7, 30, tzinfo=CHINA_TZ)
    sched.run_due(project, start, hook)  # first sight: clocks start, nothing runs
    assert seen == []
    results = sched.run_due(project, start.replace(hour=8, minute=15), hook)
    assert [r.name for r in results] == ["hello", "broken"]  # the hook's error stopped nothing
    assert seen == [("hello", True), ("broken", False)]
    assert "通知坏了" in caplog.text


@pytest.mark.slow  # renders the notebook through the real runner (papermill, the livekit kernel)
def test_report_run_renders_ab_status_then_alerts_once(
    rx: Receivers, home: Path, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    for part in ("notebooks/ab_status.ipynb", "params/ab_status.yaml"):
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        (root / part).write_bytes((ROOT / part).read_bytes())
    env = {"LIVEKIT_HOME": str(home), **environ(rx)}
    done = cli("report", "run", "ab_status", cwd=root, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "✓ 成功 ab_status（实验进度）" in done.stdout
    assert "提醒已加入发送队列" in done.stdout
    assert accepted(rx) == {"webhook": 1, "feishu": 1}
    [html] = (root / "reports" / "ab_status").glob("*/ab_status.html")
    page = html.read_text(encoding="utf-8")
    assert "已有结论，可以停止" in page
    assert "每天晚上看到的区间" in page  # the chart, drawn offline
    assert "<script" not in page.lower()
    # the evening command on the same home: the status table, and no second alert
    again = cli("experiment", "status", cwd=root, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "已有结论：B 组更高" in again.stdout
    assert "这个结论已经提醒过，不再重复" in again.stdout
    assert accepted(rx) == {"webhook": 1, "feishu": 1}
    for secret in (HOOK_SECRET, HOOK_TOKEN, FEISHU_TOKEN):
        assert secret not in done.stdout + done.stderr + again.stdout + again.stderr
    state = home / "state" / "experiments" / "alerts.json"
    assert len(json.loads(state.read_text("utf-8"))["sent"]) == 1
    assert oct(state.stat().st_mode & 0o777) == "0o600"
