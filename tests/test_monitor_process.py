"""``livekit monitor`` as a process: SIGKILL while an alert is firing, restart, no duplicates.

The sandbox runs in this process on loopback with its clock accelerated; the monitor is a child
process configured only by LIVEKIT_* variables (as a deployment would), sending to a Feishu
robot stand-in that checks signatures. Also: configuration mistakes stop it before any poll.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from livekit.jobs import authorize_sandbox
from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.server import RunningSandbox, running_sandbox
from livekit.sandbox.world import CHINA_TZ, World
from livekit.store import Store
from livekit.store.datasets import ALERTS, LIVE_SNAPSHOTS
from tests.helpers.notify_receivers import Receivers, running_receivers
from tests.helpers.sandbox import TODAY
from tests.helpers.sync import make_settings

SECRET = "feishu-kill-test"
SPEED = 60.0  # one virtual minute per real second
INTERVAL_S = 0.5  # real seconds between polls: 30 virtual seconds

# A plain threshold so the test needs no baseline: the planted drop takes the evening show
# from ~55 to ~11 new viewers a minute for 20 minutes.
RULES = """\
version: 1
defaults:
  channels: [feishu]
rules:
  - name: 进场过少
    metric: new_viewers_per_min
    scope: room
    match: {aweme_name: "悦好生活官方旗舰店"}
    condition: {type: threshold, op: below, value: 25}
    window: 2
    severity: critical
    repeat: 0
    message: "{{ room_title }}：新进观众 {{ value_text }}"
    resolved_message: "{{ room_title }}：新进观众回到 {{ value_text }}"
"""


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with running_receivers() as rx:
        yield rx


@pytest.fixture
def drop_sandbox() -> Iterator[tuple[RunningSandbox, object]]:
    world = World(7, TODAY, 90, 1.0)
    (inc,) = [i for i in world.incidents() if i.kind == "viewer_drop"]
    session = world.session_by_room(inc.room_id)
    assert session is not None
    start = datetime.fromtimestamp(session.start_ts, CHINA_TZ) + timedelta(
        minutes=inc.start_minute - 4
    )
    config = SandboxConfig(seed=7, today=TODAY, scale=1.0, now=start, speed=0.0)
    with running_sandbox(config) as server:
        yield server, session


def child_env(home: Path, server: RunningSandbox, rx: Receivers) -> dict[str, str]:
    """LIVEKIT_* only, as a deployment sets them; the monitor's home is ``home/sandbox``."""
    s = make_settings(home).for_sandbox(server.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(
        {
            "LIVEKIT_HOME": str(s.home),
            "LIVEKIT_QIANCHUAN_APP_ID": str(s.qianchuan_app_id),
            "LIVEKIT_QIANCHUAN_SECRET": s.qianchuan_secret.get_secret_value(),
            "LIVEKIT_QIANCHUAN_BASE_URL": s.qianchuan_base_url,
            "LIVEKIT_QIANCHUAN_AUTH_URL": s.qianchuan_auth_url,
            "LIVEKIT_QPS": "50",
            "LIVEKIT_FEISHU_WEBHOOK": rx.url_for("feishu", "killtest", secret=SECRET),
            "LIVEKIT_FEISHU_SECRET": SECRET,
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    return env


def livekit_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m livekit ARGS`` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "livekit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_monitor(env: dict[str, str], rules: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "livekit", "monitor", "--rules", str(rules)]
    args += ["--interval", str(INTERVAL_S), "--no-view", "--sandbox-clock", url]
    return subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def wait_for(predicate: object, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return
        if proc.poll() is not None:
            pytest.fail(f"monitor exited early ({proc.returncode}):\n{log.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"timed out; monitor log:\n{log.read_text()}")


@pytest.mark.slow
def test_sigkill_while_firing_then_restart_sends_nothing_twice_and_still_resolves(
    tmp_path: Path, receivers: Receivers, drop_sandbox: tuple[RunningSandbox, object]
) -> None:
    server, session = drop_sandbox
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = child_env(tmp_path, server, receivers)
    authorize_sandbox(make_settings(tmp_path).for_sandbox(server.url))
    log = tmp_path / "monitor.log"
    title = session.title  # type: ignore[attr-defined]

    def texts(word: str) -> list[str]:
        return [t for t in receivers.texts("feishu") if word in t and title in t]

    clock = server.sandbox.clock
    clock.set(clock.now(), SPEED)  # start the show's clock now, accelerated
    first = start_monitor(env, rules, server.url, log)
    try:
        wait_for(lambda: texts("触发"), 60, first, log)
        time.sleep(3 * INTERVAL_S)  # a few more polls while the alert is firing
        assert not texts("恢复"), "the drop lasts 20 virtual minutes"
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    second = start_monitor(env, rules, server.url, log)
    try:
        wait_for(lambda: texts("恢复"), 90, second, log)
        time.sleep(4 * INTERVAL_S)  # would a duplicate follow?
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(15)
        except subprocess.TimeoutExpired:
            second.kill()
    assert len(texts("触发")) == 1, receivers.texts("feishu")
    assert len(texts("恢复")) == 1, receivers.texts("feishu")
    # every request the robot accepted was signed correctly and nothing was rejected
    assert len(receivers.requests["feishu"]) == len(receivers.received["feishu"])
    # the alerts dataset holds the firing once and the resolution once
    alerts = Store(tmp_path / "sandbox" / "store").read("alerts", ALERTS.schema)
    states = alerts.filter(pl.col("rule") == "进场过少")["state"].to_list()
    assert states.count("firing") == 1
    assert states.count("resolved") == 1
    # the snapshots of both runs read whole, each poll once
    snaps = Store(tmp_path / "sandbox" / "store").read("live_snapshots", LIVE_SNAPSHOTS.schema)
    assert snaps.height > 20
    assert snaps.select(pl.struct("room_id", "snapshot_time").is_unique().all()).item()


@pytest.mark.parametrize(
    ("rules_text", "env_extra", "expected"),
    [
        ("version: 1\nrules: [\n", {}, "第"),  # YAML syntax error, with its line
        (RULES.replace("new_viewers_per_min", "new_viewer_per_min"), {}, "new_viewer_per_min"),
        (
            RULES.replace("channels: [feishu]", "channels: [ops]")
            + "channels:\n  ops: {type: dingtalk, webhook_env: OPS_HOOK, secret_env: OPS_SECRET}\n",
            {"OPS_HOOK": "https://oapi.dingtalk.com/robot/send?access_token=abc"},
            "OPS_SECRET",
        ),
    ],
    ids=["bad-yaml", "unknown-metric", "channel-without-secret"],
)
def test_configuration_mistakes_stop_before_any_poll(
    tmp_path: Path,
    receivers: Receivers,
    drop_sandbox: tuple[RunningSandbox, object],
    rules_text: str,
    env_extra: dict[str, str],
    expected: str,
) -> None:
    server, _ = drop_sandbox
    rules = tmp_path / "alerts.yaml"
    rules.write_text(rules_text, encoding="utf-8")
    env = {**child_env(tmp_path, server, receivers), **env_extra}
    before = server.sandbox.stats_json()
    proc = livekit_cli(
        env, "monitor", "--rules", str(rules), "--once", "--no-view", "--sandbox-clock", server.url
    )
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert err.startswith("错误："), err
    assert "Traceback" not in proc.stderr + proc.stdout
    assert expected in err
    assert len(err.splitlines()) == 1, err
    assert "abc" not in err  # the webhook's token is not echoed
    assert server.sandbox.stats_json() == before  # nothing was polled
    assert not (tmp_path / "sandbox" / "store").exists()


def test_a_second_monitor_on_the_same_home_is_refused(
    tmp_path: Path, receivers: Receivers, drop_sandbox: tuple[RunningSandbox, object]
) -> None:
    server, _ = drop_sandbox
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = child_env(tmp_path, server, receivers)
    authorize_sandbox(make_settings(tmp_path).for_sandbox(server.url))
    log = tmp_path / "monitor.log"
    first = start_monitor(env, rules, server.url, log)
    try:
        wait_for(
            lambda: (tmp_path / "sandbox" / "state" / "monitor" / "alerts_state.json").exists(),
            60,
            first,
            log,
        )
        proc = livekit_cli(
            env,
            "monitor",
            "--rules",
            str(rules),
            "--once",
            "--no-view",
            "--sandbox-clock",
            server.url,
        )
    finally:
        first.kill()
        first.wait(10)
    assert proc.returncode != 0
    assert "只能运行一个监控进程" in proc.stderr


def test_alerts_test_reports_each_channel_delivered_or_why_not(
    tmp_path: Path, receivers: Receivers
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(
        {
            "LIVEKIT_HOME": str(tmp_path),
            "LIVEKIT_FEISHU_WEBHOOK": receivers.url_for("feishu", "good", secret=SECRET),
            "LIVEKIT_FEISHU_SECRET": SECRET,
            # the robot expects another secret: DingTalk answers 310000 (sign not match)
            "LIVEKIT_DINGTALK_WEBHOOK": receivers.url_for("dingtalk", "bad", secret="right"),
            "LIVEKIT_DINGTALK_SECRET": "wrong-secret",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES, encoding="utf-8")
    proc = livekit_cli(env, "alerts", "test", "--rules", str(rules))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = {ln.split("│")[1].strip(): ln for ln in proc.stdout.splitlines() if ln.count("│") >= 4}
    assert "已送达" in lines["feishu"]
    assert "已送达" in lines["console"]
    assert "失败" in lines["dingtalk"]
    assert "310000" in lines["dingtalk"] or "签名" in lines["dingtalk"]
    assert len(receivers.received["feishu"]) == 1
    assert "livekit 测试消息" in receivers.texts("feishu")[0]
    for secret in ("wrong-secret", SECRET, "access_token=bad"):
        assert secret not in proc.stdout + proc.stderr
    # only one channel asked for
    one = livekit_cli(env, "alerts", "test", "--rules", str(rules), "--channel", "feishu")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "dingtalk" not in one.stdout
