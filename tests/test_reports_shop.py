"""Reports per shop (issue 15, point 1): the ``shop`` parameter, ``--shop``/``--all-shops``,
``reports/shop=<id>/``, the index's shop column, the scheduler over every shop.

The notebook is the cheapest fixture that declares ``shop`` (tests/notebooks/shop_hello.ipynb:
it prints its shop); kernels are real (papermill), the shops file is a real file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from livekit.dates import today
from livekit.reports import Overrides, Project, ReportError, RunOptions, run
from livekit.reports import schedule as sched
from livekit.reports.html import offline_violations
from livekit.reports.index import HISTORY, read_history, render
from livekit.reports.params import ParameterError, cli_value, declared_parameters
from livekit.reports.result import RunResult
from livekit.shops import Shop
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.reports import cli, load_nb, make_project, stream_text

SHOPS = """\
shops:
  - id: s1
    name: 悦好生活旗舰店
    qianchuan: {advertiser_id: 1700000000000001}
  - id: s2
    name: "<b>小店</b> & 朋友"
    doudian: {shop_id: 12345678}
"""
ONE_SHOP = "shops:\n  - id: solo\n    name: 独家店\n    doudian: {shop_id: 7}\n"


def shop_project(tmp: Path, shops: str | None = SHOPS, notebooks: Sequence[str] = ()) -> Path:
    root = make_project(tmp, ["shop_hello", *notebooks])
    if shops is not None:
        (root / "params" / "shops.yaml").write_text(shops, encoding="utf-8")
    return root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    for name in ("LIVEKIT_SHOPS_FILE", "LIVEKIT_SHOP", "LIVEKIT_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def test_a_run_for_a_shop_goes_to_its_folder_and_the_index_names_the_shop(
    tmp_path: Path, home: Path
) -> None:
    project = Project(shop_project(tmp_path))
    [result] = run("shop_hello", shop="s2", project=project)
    day = today().isoformat()
    folder = project.reports_dir / "shop=s2" / "shop_hello" / day
    assert result.ok, result.error
    assert (result.shop, result.shop_name) == ("s2", "<b>小店</b> & 朋友")
    assert result.html == folder / "shop_hello.html"
    assert result.notebook == folder / "shop_hello.ipynb"
    assert "店铺 s2，" in stream_text(load_nb(folder / "shop_hello.ipynb"))
    assert not (project.reports_dir / "shop_hello").exists()
    # the page links back to the index three folders up, and loads nothing
    page = result.html.read_text(encoding="utf-8")
    assert 'href="../../../index.html"' in page
    assert offline_violations(page) == []
    # the history keeps the shop; the index shows it (escaped) and links the shop's page
    [recorded] = read_history(project.reports_dir)
    assert (recorded.shop, recorded.shop_name, recorded.html) == (
        "s2",
        result.shop_name,
        result.html,
    )
    raw = json.loads((project.reports_dir / HISTORY).read_text(encoding="utf-8"))["runs"][0]
    assert raw["shop"] == "s2"
    index = project.index_file.read_text(encoding="utf-8")
    assert "<th>店铺</th>" in index
    assert "&lt;b&gt;小店&lt;/b&gt; &amp; 朋友" in index
    assert "<b>小店</b>" not in index
    assert f'href="shop=s2/shop_hello/{day}/shop_hello.html"' in index
    assert offline_violations(index) == []


def test_all_shops_from_the_command_line_runs_once_per_shop(tmp_path: Path, home: Path) -> None:
    root = shop_project(tmp_path)
    done = cli("report", "run", "shop_hello", "--all-shops", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    day = today().isoformat()
    for shop in ("s1", "s2"):
        nb = root / "reports" / f"shop={shop}" / "shop_hello" / day / "shop_hello.ipynb"
        assert f"店铺 {shop}，" in stream_text(load_nb(nb))
    runs = read_history(root / "reports")
    assert sorted((r.shop, r.ok) for r in runs) == [("s1", True), ("s2", True)]
    index = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert "悦好生活旗舰店" in index
    assert index.count(f'href="shop=s1/shop_hello/{day}/shop_hello.html"') == 2  # latest + all


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--shop", "nope"], "店铺清单中没有 “nope”；可用的店铺：s1、s2"),
        ([], "店铺清单中有 2 个店铺，请指定其中一个：s1、s2"),
        (["-p", "source", "sandbox", "--shop", "s1"], "沙盒只有一个店铺"),
        (["--shop", "s1", "--all-shops"], "不能同时指定 --shop 与 --all-shops"),
    ],
)
def test_a_wrong_shop_is_one_line_before_any_kernel_starts(
    tmp_path: Path, home: Path, args: list[str], said: str
) -> None:
    root = shop_project(tmp_path)
    done = cli("report", "run", "shop_hello", *args, cwd=root)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("错误：")
    assert said in lines[0]
    assert "Traceback" not in done.stderr
    assert not (root / "reports" / HISTORY).exists()  # nothing ran, nothing recorded
    assert not list((root / "reports").rglob("*.ipynb"))


def test_one_shop_without_a_shops_file_is_as_it_always_was(tmp_path: Path, home: Path) -> None:
    project = Project(shop_project(tmp_path, shops=None))
    [result] = run("shop_hello", project=project)
    day = today().isoformat()
    assert result.ok, result.error
    assert result.shop is None
    assert result.html == project.reports_dir / "shop_hello" / day / "shop_hello.html"
    assert "店铺 None，" in stream_text(load_nb(result.html.with_suffix(".ipynb")))
    raw = json.loads((project.reports_dir / HISTORY).read_text(encoding="utf-8"))["runs"][0]
    assert "shop" not in raw
    assert "shop_name" not in raw
    index = project.index_file.read_text(encoding="utf-8")
    assert "<th>店铺</th>" not in index
    assert f'href="shop_hello/{day}/shop_hello.html"' in index
    # and a shop named without a shops file is one line, before anything runs
    with pytest.raises(ParameterError, match="没有店铺清单"):
        run("shop_hello", shop="s1", project=project)
    with pytest.raises(ReportError, match="--all-shops"):
        run("shop_hello", all_shops=True, project=project)


def test_the_only_shop_is_the_default_and_lives_in_its_folder(tmp_path: Path, home: Path) -> None:
    project = Project(shop_project(tmp_path, shops=ONE_SHOP))
    [result] = run("shop_hello", project=project)
    assert result.ok, result.error
    assert (result.shop, result.shop_name) == ("solo", "独家店")
    assert result.html is not None
    assert result.html.parent.parent.parent.name == "shop=solo"


def test_a_report_without_a_shop_parameter_runs_once_and_refuses_shop(
    tmp_path: Path, home: Path
) -> None:
    root = shop_project(tmp_path, notebooks=["hello"])
    done = cli("report", "run", "hello", "--shop", "s1", cwd=root)
    assert done.returncode != 0
    assert "未知参数 'shop'" in done.stdout + done.stderr


def test_a_numeric_shop_id_stays_text() -> None:
    root = Path(__file__).parent / "notebooks" / "shop_hello.ipynb"
    param = declared_parameters(root)["shop"]
    assert cli_value("shop", "1001", param) == "1001"
    assert cli_value("shop", "null", param) is None


def test_the_index_without_shops_has_no_shop_column_and_with_them_one_per_shop(
    tmp_path: Path,
) -> None:
    started = datetime(2026, 11, 28, 8, 0, tzinfo=CHINA_TZ)

    def result(shop: str | None, name: str = "funnel") -> RunResult:
        return RunResult(
            name,
            "漏斗",
            date(2026, 11, 28),
            "ok",
            started,
            1.0,
            None,
            None,
            shop=shop,
            shop_name=None if shop is None else f"店 {shop}",
        )

    plain = render([result(None)], tmp_path)
    assert "<th>店铺</th>" not in plain
    assert plain.count("<th>") == 12  # two tables of six columns
    both = render([result("a"), result("b")], tmp_path)
    assert both.count("<th>") == 14
    latest = both.split("<h2>")[1]  # the latest run of each report: per shop
    assert "店 a" in latest
    assert "店 b" in latest


# ---- the scheduler over every shop --------------------------------------------------------

T0 = datetime(2026, 11, 28, 7, 0, tzinfo=CHINA_TZ)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def reports(
        self,
        project: Project,
        names: Sequence[str],
        day: date,
        *,
        options: RunOptions,
        shops: Sequence[str] | None = None,
    ) -> list[RunResult]:
        [name] = names
        shop = None if shops is None else shops[0]
        self.calls.append((name, shop))
        at = datetime.now(CHINA_TZ)
        return [RunResult(name, name, day, "ok", at, 0.1, None, None, shop=shop)]

    def sync(self, schedule: Any, fire: datetime, shop: Shop | None = None) -> RunResult:
        self.calls.append(("sync", shop.id if shop else None))
        return RunResult("sync", "数据同步", fire.date(), "ok", fire, 0.1, None, None)


def test_the_scheduler_syncs_and_runs_each_report_for_every_shop(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = shop_project(tmp_path, notebooks=["hello"])
    (root / "params" / "schedules.yaml").write_text(
        'shop_hello: "0 8 * * *"\nhello: "0 8 * * *"\nsync: "30 7 * * *"\n', encoding="utf-8"
    )
    recorder = Recorder()
    monkeypatch.setattr(sched, "run_reports", recorder.reports)
    monkeypatch.setattr(sched, "run_sync_job", recorder.sync)
    project = Project(root)
    sched.run_due(project, T0)  # every clock starts
    results = sched.run_due(project, T0 + timedelta(hours=2))
    assert recorder.calls == [
        ("sync", "s1"),
        ("sync", "s2"),
        ("shop_hello", "s1"),
        ("shop_hello", "s2"),
        ("hello", None),  # no shop parameter: once
    ]
    assert len(results) == 5
    # a report on the built-in sandbox runs once, without a shop
    (root / "params" / "shop_hello.yaml").write_text("source: sandbox\n", encoding="utf-8")
    recorder.calls.clear()
    sched.run_due(project, T0 + timedelta(days=1, hours=2))
    assert ("shop_hello", None) in recorder.calls
    assert ("shop_hello", "s1") not in recorder.calls
    lines = sched.crontab_lines(project, sched.load_schedules(project))
    assert any("sync --from" in line and "--all-shops" in line for line in lines)
    assert not any("report run hello" in line and "--all-shops" in line for line in lines)


def test_the_scheduler_records_a_shop_it_cannot_run(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shop's failed check is that shop's failed run (recorded with the shop); others run."""
    root = shop_project(tmp_path)
    (root / "params" / "schedules.yaml").write_text('shop_hello: "0 8 * * *"\n', encoding="utf-8")

    def reports(project: Project, names: Sequence[str], day: date, **kw: Any) -> list[RunResult]:
        if kw.get("shops") == ["s1"]:
            raise ParameterError("店铺 s1 的参数有误")
        at = datetime.now(CHINA_TZ)
        return [RunResult(names[0], "x", day, "ok", at, 0.1, None, None, shop="s2")]

    monkeypatch.setattr(sched, "run_reports", reports)
    project = Project(root)
    sched.run_due(project, T0)
    first, second = sched.run_due(project, T0 + timedelta(hours=2))
    assert (first.shop, first.ok, first.error) == ("s1", False, "店铺 s1 的参数有误")
    assert (second.shop, second.ok) == ("s2", True)
    assert [(r.shop, r.ok) for r in read_history(project.reports_dir)] == [("s1", False)]


def test_overrides_carry_the_shop_last() -> None:
    from livekit.reports.runner import with_parameter

    given = Overrides(values=(("shop", "s1"), ("top_n", "3")))
    assert with_parameter(given, "shop", "s2").values[-1] == ("shop", "s2")


def test_settings_that_cannot_be_read_stop_a_shop_run_but_not_a_one_shop_run(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One shop: a broken setting is the kernel's to report, as before shops existed (this
    notebook reads no settings, so it renders). With a shops file: one line, nothing runs."""
    monkeypatch.setenv("LIVEKIT_QPS", "很多")
    one = Project(shop_project(tmp_path / "one", shops=None))
    [result] = run("shop_hello", project=one)
    assert result.ok, result.error
    many = Project(shop_project(tmp_path / "many"))
    with pytest.raises(ParameterError, match="LIVEKIT_QPS") as caught:
        run("shop_hello", shop="s1", project=many)
    assert "\n" not in str(caught.value)
    assert not (many.reports_dir / HISTORY).exists()
