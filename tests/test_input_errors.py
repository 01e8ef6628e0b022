"""Every input mistake named in issue 10 is one ``错误：`` line and a non-zero exit.

A cron expression that never fires, dates far out of range, YAML anchors and alias bombs in
rules, params and schedules files, a LIVEKIT_HOME that is a file, a bad --sandbox-speed; and
two small things: LIVEKIT_HOME is created 0700, and the ``alerts test`` stamp is China time
whatever the machine's zone.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livekit.cli import app
from livekit.config import ConfigError, load_settings
from livekit.dates import DateError, resolve_day, resolve_range
from livekit.monitor.rules import parse_rules
from livekit.reports import Project
from livekit.reports.params import ParameterError, load_yaml, report_parameters
from livekit.reports.schedule import load_schedules
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.reports import cli, make_project

runner = CliRunner()
ON = date(2026, 11, 28)


def one_error_line(stderr: str) -> str:
    """The stderr of a failed command: exactly one line, starting with 错误：, no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("错误："), stderr
    assert "Traceback" not in stderr
    return lines[0]


# ---- a cron expression that never fires ------------------------------------------------------
@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6 *"])
def test_a_schedule_that_never_fires_is_refused_when_loaded(tmp_path: Path, cron: str) -> None:
    root = make_project(tmp_path, ["hello"])
    (root / "params" / "schedules.yaml").write_text(f'hello: "{cron}"\n', encoding="utf-8")
    with pytest.raises(ParameterError, match="永远不会触发") as caught:
        load_schedules(Project(root))
    assert "params/schedules.yaml" in str(caught.value)
    assert "hello" in str(caught.value)


def test_schedule_run_with_a_never_firing_cron_is_one_line(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["hello"])
    (root / "params" / "schedules.yaml").write_text('hello: "0 0 30 2 *"\n', encoding="utf-8")
    home = {"LIVEKIT_HOME": str(tmp_path / "home")}
    for args in (["schedule", "run", "--once"], ["schedule", "show"]):
        done = cli(*args, cwd=root, env=home, timeout=120)
        assert done.returncode == 1, done.stderr
        line = one_error_line(done.stderr)
        assert "params/schedules.yaml" in line
        assert "hello" in line
        assert "0 0 30 2 *" in line
    assert not (root / "reports" / "schedule-state.json").exists()  # nothing was recorded


# ---- dates out of range ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["99999999_days_ago", "9999-12-31", "0001-01-01", "1999-12-31", "9" * 5000 + "_days_ago"],
)
def test_days_out_of_range_are_one_date_error(text: str) -> None:
    with pytest.raises(DateError) as caught:
        resolve_day(text, name="date", on=ON)
    message = str(caught.value)
    assert "\n" not in message
    assert "2000-01-01" in message  # the message says which days are accepted
    assert len(message) < 200


@pytest.mark.parametrize(
    ("start", "end"),
    [("last_99999999_days", None), ("-1_days_ago", None), ("2026-11-01", "99999999_days_ago")],
)
def test_ranges_out_of_range_are_one_date_error(start: str, end: str | None) -> None:
    with pytest.raises(DateError):
        resolve_range(start, end, on=ON)


def test_the_range_edges_are_accepted() -> None:
    first = (ON - date(2000, 1, 1)).days
    assert resolve_day(f"{first}_days_ago", on=ON) == date(2000, 1, 1)
    assert resolve_range(f"last_{first}_days", on=ON)[0] == date(2000, 1, 1)
    with pytest.raises(DateError):
        resolve_day(f"{first + 1}_days_ago", on=ON)
    with pytest.raises(DateError):
        resolve_day(date(1999, 12, 31))


@pytest.mark.parametrize(
    "args",
    [
        ["sync", "--from", "-99999999"],
        ["sync", "--from", "-" + "9" * 5000],
        ["sync", "--to", "9999-12-31"],
        ["sync", "--from", "99999999_days_ago"],
        ["sync", "--from", "-²"],
        ["report", "run", "hello", "--date", "-99999999"],
        ["report", "run", "hello", "--date", "0001-01-01"],
    ],
)
def test_cli_dates_out_of_range_are_one_line(tmp_path: Path, args: list[str]) -> None:
    env = {"LIVEKIT_HOME": str(tmp_path / "home")}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    line = one_error_line(result.stderr)
    assert args[1] in line or args[-2] in line


# ---- YAML anchors and aliases ----------------------------------------------------------------
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}]\n"
    for i in range(9)
)
SELF = "a: &a [*a]\n"
MERGE = "base: &base {greeting: hi}\nother:\n  <<: *base\n"
YAMLS = {"bomb": BOMB, "self": SELF, "merge": MERGE, "anchor only": "greeting: &g hi\n"}


@pytest.mark.parametrize("name", list(YAMLS))
def test_rules_files_refuse_anchors_and_aliases(name: str) -> None:
    with pytest.raises(ConfigError, match="锚点与别名") as caught:
        parse_rules("version: 1\n" + YAMLS[name], source="params/alerts.yaml")
    assert "\n" not in str(caught.value)
    assert "params/alerts.yaml 第 " in str(caught.value)


@pytest.mark.parametrize("name", list(YAMLS))
def test_params_files_refuse_anchors_and_aliases(tmp_path: Path, name: str) -> None:
    root = make_project(tmp_path, ["hello"], {"hello": YAMLS[name]})
    with pytest.raises(ParameterError, match="锚点与别名") as caught:
        report_parameters(Project(root).report("hello"), ON)
    assert "params/hello.yaml 第 " in str(caught.value)
    (root / "params" / "schedules.yaml").write_text(YAMLS[name], encoding="utf-8")
    with pytest.raises(ParameterError, match="锚点与别名"):
        load_schedules(Project(root))


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="嵌套"):
        load_yaml(path)
    with pytest.raises(ConfigError, match="嵌套"):
        parse_rules("version: 1\nrules: " + "{a: " * 3000 + "1" + "}" * 3000)


def test_monitor_with_an_alias_bomb_is_one_line(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("version: 1\n" + BOMB, encoding="utf-8")
    done = cli("monitor", "--once", "--rules", str(rules), cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    assert "锚点与别名" in one_error_line(done.stderr)


# ---- LIVEKIT_HOME ------------------------------------------------------------------------------
HOME_COMMANDS = [
    ["sync", "-q"],
    ["sync", "--sandbox", "-q"],
    ["datasets"],
    ["auth", "status"],
    ["auth", "login", "qianchuan", "--code", "x"],
    ["import", "viewers", "viewers.csv"],
    ["monitor", "--once", "--sandbox", "--no-view"],
]


@pytest.mark.parametrize("args", HOME_COMMANDS, ids=lambda a: " ".join(a))
def test_a_home_that_is_a_file_is_one_line_for_every_command(
    tmp_path: Path, args: list[str]
) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder\n", encoding="utf-8")
    result = runner.invoke(app, args, env={"LIVEKIT_HOME": str(home)})
    assert result.exit_code == 1, result.output
    line = one_error_line(result.stderr)
    assert str(home) in line
    assert "LIVEKIT_HOME" in line
    assert home.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_home_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError, match="不可写"):
            load_settings(home=home)
    finally:
        home.chmod(0o700)


def test_a_home_below_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="无法创建"):
        load_settings(home=tmp_path / "file" / "home")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_normal_command_creates_home_private(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    result = runner.invoke(app, ["auth", "status"], env={"LIVEKIT_HOME": str(home)})
    assert result.exit_code == 1  # nothing is authorized yet
    assert mode(home) == 0o700


def test_a_sandbox_sync_creates_home_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = ["sync", "--sandbox", "-q", "--datasets", "rooms", "--from", "today"]
    done = cli(*args, cwd=tmp_path, env={"LIVEKIT_HOME": str(home)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert mode(home) == 0o700
    assert mode(home / "sandbox") == 0o700
    assert (home / "sandbox" / "tokens.json").is_file()  # the sync really ran in there


# ---- --sandbox-speed, --sandbox-at -------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["--sandbox-speed", "0"],
        ["--sandbox-speed", "-1"],
        ["--sandbox-speed", "nan"],
        ["--sandbox-speed", "inf"],
        ["--sandbox-speed", "1e300"],
        ["--sandbox-at", "9999-01-01 00:00"],
        ["--sandbox-at", "1970-01-01 00:00", "--sandbox-speed", "60"],
    ],
)
def test_monitor_sandbox_clock_options_are_checked(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(
        app,
        ["monitor", "--once", "--sandbox", "--no-view", *args],
        env={"LIVEKIT_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert args[0] in line
    assert not (tmp_path / "home" / "sandbox").exists()  # nothing started


# ---- China time --------------------------------------------------------------------------------
STAMP = re.compile(r"发送时间：(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_alerts_test_stamp_is_china_time_in_any_zone(tmp_path: Path, zone: str) -> None:
    before = datetime.now(CHINA_TZ).replace(microsecond=0, tzinfo=None)
    done = cli(
        "alerts",
        "test",
        "--channel",
        "console",
        cwd=tmp_path,
        env={"TZ": zone, "LIVEKIT_HOME": str(tmp_path / "home")},
        timeout=120,
    )
    after = datetime.now(CHINA_TZ).replace(tzinfo=None)
    assert done.returncode == 0, done.stderr
    m = STAMP.search(done.stdout)
    assert m, done.stdout
    shown = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
    # China time is 8 h ahead of UTC and 13 h ahead of New York: a local stamp is far off
    assert before <= shown <= after + timedelta(seconds=1)


def test_the_scheduler_log_is_china_time(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["hello"])
    (root / "params" / "schedules.yaml").write_text('hello: "0 8 * * *"\n', encoding="utf-8")
    before = datetime.now(CHINA_TZ).replace(microsecond=0, tzinfo=None)
    done = cli(
        "schedule",
        "run",
        "--once",
        cwd=root,
        env={"TZ": "America/New_York", "LIVEKIT_HOME": str(tmp_path / "home")},
    )
    after = datetime.now(CHINA_TZ).replace(tzinfo=None)
    assert done.returncode == 0, done.stderr
    log = (root / "reports" / "schedule.log").read_text(encoding="utf-8")
    logged = datetime.strptime(log[:19], "%Y-%m-%d %H:%M:%S")
    assert before <= logged <= after + timedelta(seconds=1)


def test_livekit_errors_are_one_line_even_with_markup_or_newlines(tmp_path: Path) -> None:
    bad = tmp_path / "[/]\nviewers[bold].csv"
    result = runner.invoke(
        app, ["import", "viewers", str(bad)], env={"LIVEKIT_HOME": str(tmp_path / "h")}
    )
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert "[/]" in line
    assert "viewers[bold].csv" in line


@pytest.mark.parametrize(
    "args",
    [
        ["monitor", "--once", "--no-view", "--interval", "inf"],
        ["monitor", "--once", "--no-view", "--interval", "nan"],
        ["monitor", "--once", "--no-view", "--interval", "0"],
        ["monitor", "--once", "--no-view", "--ticks", "0"],
        ["auth", "login", "qianchuan", "--no-browser", "--timeout", "inf"],
        ["auth", "login", "qianchuan", "--no-browser", "--timeout", "nan"],
        ["auth", "login", "qianchuan", "--no-browser", "--port", "99999"],
        ["auth", "login", "qianchuan", "--no-browser", "--port", "-1"],
    ],
)
def test_numeric_options_out_of_range_are_one_line(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, args, env={"LIVEKIT_HOME": str(tmp_path / "home")})
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert args[-2] in line
    assert not (tmp_path / "home").exists()  # refused before anything else


def test_notification_retry_times_are_china_time(tmp_path: Path) -> None:
    import asyncio

    import httpx

    from livekit.monitor.notify import resolve_channels
    from livekit.monitor.notify.outbox import Backoff, Outbox
    from livekit.monitor.types import Message

    # a webhook on a closed loopback port: the message waits for a retry, whose time is shown
    chans = resolve_channels({}, {"webhook"}, {"LIVEKIT_WEBHOOK_URL": "http://127.0.0.1:1/hook"})
    box = Outbox(tmp_path / "outbox.json", backoff=Backoff(initial_s=1, max_s=60, jitter_s=0))
    now = datetime.now(CHINA_TZ)
    alert = Message(
        key="k",
        kind="firing",
        severity="warning",
        title="标题",
        text="正文",
        markdown="正文",
        created_at=now,
        alerts=("a",),
    )
    box.enqueue([alert], ["webhook"])

    async def pump() -> list[datetime]:
        async with httpx.AsyncClient() as client:
            result = await box.pump(dict(chans), client)  # no `now`: the real clock
        return [r.next_try_at for r in result.retrying]

    [at] = asyncio.run(pump())
    assert at.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    "args",
    [
        ["--speed", "nan"],
        ["--speed", "-1"],
        ["--speed", "1e300"],
        ["--now", "9999-01-01 00:00:00"],
        ["--today", "9999-12-31"],
        ["--scale", "nan"],
        ["--port", "99999"],
        ["--seed", "-1"],
        ["--qianchuan-access-ttl", "nan"],
        ["--auth-code-ttl", "-1"],
        ["--slow-seconds", "inf"],
    ],
)
def test_sandbox_serve_options_are_checked_before_it_starts(args: list[str]) -> None:
    result = runner.invoke(app, ["sandbox", "serve", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert args[0] in one_error_line(result.stderr)


def test_a_report_error_with_markup_is_printed_as_text(tmp_path: Path) -> None:
    text = "[/] [link=https://attacker.example]点我[/link] [bold]"
    root = make_project(tmp_path, ["broken"], {"broken": f"message: '{text}'\n"})
    done = cli("report", "run", "broken", cwd=root, env={"LIVEKIT_HOME": str(tmp_path / "h")})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert "MarkupError" not in done.stderr + done.stdout
    assert text in done.stdout  # shown as written, not interpreted


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
@pytest.mark.parametrize(
    "args", [["import", "viewers", "/dev/zero"], ["monitor", "--once", "--rules", "/dev/zero"]]
)
def test_a_device_is_refused_not_read_forever(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, args, env={"LIVEKIT_HOME": str(tmp_path / "home")})
    assert result.exit_code == 1
    assert "不是普通文件" in one_error_line(result.stderr)
