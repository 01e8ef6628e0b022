"""The scheduler over many shops, end to end: ``livekit schedule run --once`` in a project with a
shops file syncs every shop from a real sandbox of two shops (loopback; one 千川 grant of both
advertisers, a 抖店 token per shop), then runs the report once per shop, each reading its own
shop's synced data into ``reports/shop=<id>/``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from livekit.api.auth import create_doudian_token, exchange_code
from livekit.api.runner import run
from livekit.jobs import sandbox_auth_code
from livekit.reports import Project
from livekit.reports.index import read_history
from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.server import RunningSandbox, running_sandbox
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.reports import cli, load_nb, make_project, stream_text
from tests.helpers.sync import make_settings

SCHEDULES = 'sync: {cron: "30 7 * * *", days: 0}\nshop_rooms: "35 7 * * *"\n'


def _morning() -> datetime:
    """07:40 China time of the latest morning that has passed (today's, or yesterday's)."""
    now = datetime.now(CHINA_TZ)
    at = now.replace(hour=7, minute=40, second=0, microsecond=0)
    return at if at <= now else at - timedelta(days=1)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """A small real-time sandbox of two shops (its today is the real today) on 127.0.0.1."""
    with running_sandbox(SandboxConfig(seed=7, scale=0.05, shops=2)) as running:
        yield running


def _shops_yaml(server: RunningSandbox) -> tuple[str, list[dict[str, object]]]:
    listed: list[dict[str, object]] = httpx.get(server.url + "/sandbox/shops", timeout=10).json()[
        "shops"
    ]
    text = "shops:\n" + "".join(
        f"  - id: {s['id']}\n    name: {s['name']}\n"
        f"    qianchuan: {{advertiser_id: {s['advertiser_id']}}}\n"
        f"    doudian: {{shop_id: {s['shop_id']}}}\n"
        for s in listed
    )
    return text, listed


def _setup(
    tmp_path: Path, sandbox: RunningSandbox, at: datetime, doudian_shops: int = 2
) -> tuple[Project, Path, dict[str, str], list[dict[str, object]]]:
    """A project with the sandbox's shops file, both jobs due at ``at``, and a live home
    authorized like an agency (one 千川 grant of both advertisers, 抖店 tokens for the first
    ``doudian_shops`` shops); returns it, the home, the environment and the shops listed."""
    text, listed = _shops_yaml(sandbox)
    root = make_project(tmp_path, ["shop_rooms"])
    (root / "params" / "shops.yaml").write_text(text, encoding="utf-8")
    (root / "params" / "schedules.yaml").write_text(SCHEDULES, encoding="utf-8")
    project = Project(root)
    project.reports_dir.mkdir(parents=True)
    before = (at - timedelta(days=1)).isoformat()
    state = {"version": 1, "handled": {"sync": before, "shop_rooms": before}}
    (project.reports_dir / "schedule-state.json").write_text(json.dumps(state), encoding="utf-8")

    home = tmp_path / "home"
    s = make_settings(home, shops_file=root / "params" / "shops.yaml").for_sandbox(sandbox.url)
    s = s.model_copy(update={"home": home})
    run(exchange_code(s, sandbox_auth_code(s)))  # consent: both shops' advertisers
    for shop in listed[:doudian_shops]:
        run(create_doudian_token(s, shop_id=int(str(shop["shop_id"]))))
    assert s.qianchuan_secret is not None
    assert s.doudian_app_secret is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env |= {  # no LIVEKIT_SHOPS_FILE: the project's params/shops.yaml is found
        "LIVEKIT_HOME": str(home),
        "LIVEKIT_QIANCHUAN_APP_ID": str(s.qianchuan_app_id),
        "LIVEKIT_QIANCHUAN_SECRET": s.qianchuan_secret.get_secret_value(),
        "LIVEKIT_QIANCHUAN_BASE_URL": s.qianchuan_base_url,
        "LIVEKIT_QIANCHUAN_AUTH_URL": s.qianchuan_auth_url,
        "LIVEKIT_DOUDIAN_APP_KEY": str(s.doudian_app_key),
        "LIVEKIT_DOUDIAN_APP_SECRET": s.doudian_app_secret.get_secret_value(),
        "LIVEKIT_DOUDIAN_BASE_URL": s.doudian_base_url,
        "LIVEKIT_RETRY_WAIT_INITIAL": "0.01",
        "LIVEKIT_RETRY_WAIT_MAX": "0.2",
    }
    return project, home, env, listed


def test_the_morning_run_syncs_every_shop_then_runs_the_report_for_each(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    at = _morning()
    yesterday = at.date() - timedelta(days=1)
    project, home, env, listed = _setup(tmp_path, sandbox, at)
    root = project.root

    done = cli("schedule", "run", "--once", "--at", f"{at:%Y-%m-%d %H:%M}", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr

    log = (project.reports_dir / "schedule.log").read_text(encoding="utf-8")
    for shop in listed:
        label = f"{shop['name']}（{shop['id']}）"
        assert f"数据同步（店铺 {label}） 成功" in log
        assert log.index(f"运行 数据同步（店铺 {label}）") < log.index("运行 shop_rooms")
    runs = {r.shop or "": r for r in read_history(project.reports_dir) if r.name == "shop_rooms"}
    assert sorted(runs) == ["s1", "s2"]
    firsts = []
    for shop in listed:
        result = runs[str(shop["id"])]
        assert result.ok, result.error
        assert result.notebook is not None
        assert result.notebook.parent == (
            project.reports_dir / f"shop={shop['id']}" / "shop_rooms" / at.date().isoformat()
        )
        expected = httpx.get(
            sandbox.url + "/sandbox/totals",
            params={
                "start_date": yesterday.isoformat(),
                "end_date": yesterday.isoformat(),
                "shop": str(shop["id"]),
            },
            timeout=30,
        ).json()["rooms"]
        assert expected > 0
        printed = stream_text(load_nb(result.notebook))
        assert f"SHOP {shop['id']} ROOMS {expected} FIRST " in printed
        firsts.append(printed.split(" FIRST ")[1].split()[0])
    assert firsts[0] != firsts[1]  # each read its own shop's rooms (ids differ by world)
    assert (home / "store" / "shop=s1").is_dir()
    assert (home / "store" / "shop=s2").is_dir()
    index = (project.reports_dir / "index.html").read_text(encoding="utf-8")
    assert "<th>店铺</th>" in index


def test_a_shop_whose_sync_fails_is_named_and_every_shop_still_gets_its_report(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    at = _morning()
    project, _home, env, _ = _setup(tmp_path, sandbox, at, doudian_shops=1)  # s2: no 抖店 token
    done = cli(
        "schedule", "run", "--once", "--at", f"{at:%Y-%m-%d %H:%M}", cwd=project.root, env=env
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("错误：")]
    assert line.startswith("错误：数据同步失败（店铺 s2）：")
    runs = [r for r in read_history(project.reports_dir) if r.name == "shop_rooms"]
    assert sorted((r.shop, r.ok) for r in runs) == [("s1", True), ("s2", True)]
