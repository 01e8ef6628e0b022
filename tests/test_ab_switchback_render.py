"""The A/B report of the sandbox's switchback rendered through the real runner with a washout,
as ``livekit report run ab_test -p unit session -p washout_minutes 10`` runs it (papermill in
the project's kernel, against the sandbox on loopback): the HTML states the washout and the
carryover check of the same analysis built in-process, and both designs (washout or not) still
hold the click lift the sandbox planted (``livekit sandbox truth`` → switchback_experiment).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

import livekit
from livekit.pages import ab_test
from livekit.reports import Overrides, Project, run
from livekit.reports.html import offline_violations
from livekit.vocab.units import format_count, format_percent
from tests.helpers.reports import ROOT, TEST_HOME, cli, environment

# A kernel start and a sync of the switchback's two weeks of rooms and viewer visits.
pytestmark = pytest.mark.slow

OVERRIDES = {
    "unit": "session",
    "experiment_start": "24_days_ago",
    "experiment_end": "11_days_ago",
    "metrics": "[click, conversion]",
    "washout_minutes": "10",
}


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    """The shared sandbox data of the report tests (synced once per worker, gitignored)."""
    with environment(LIVEKIT_HOME=str(TEST_HOME)):
        yield TEST_HOME


@pytest.fixture(scope="module")
def rendered(home: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    project = Project(ROOT, tmp_path_factory.mktemp("ab-washout") / "reports")
    overrides = Overrides(values=tuple(OVERRIDES.items()))
    [result] = run("ab_test", project=project, overrides=overrides)
    assert result.ok, result.error
    assert result.html is not None
    page = result.html.read_text(encoding="utf-8")
    assert offline_violations(page) == []
    assert "<script" not in page.lower()
    return unescape(page)


@pytest.fixture(scope="module")
def pages(home: Path, rendered: str) -> dict[int, ab_test.AbTestPage]:
    """The same test built in-process on the store the render synced, washout or not."""
    kit = livekit.open("sandbox")
    return {
        k: ab_test.build(
            kit,
            experiment_start=OVERRIDES["experiment_start"],
            experiment_end=OVERRIDES["experiment_end"],
            unit="session",
            metrics=["click", "conversion"],
            washout_minutes=k,
        )
        for k in (0, 10)
    }


@pytest.fixture(scope="module")
def truth(home: Path) -> dict[str, Any]:
    done = cli("sandbox", "truth", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_render_states_the_washout_and_the_carryover_check(
    rendered: str, pages: dict[int, ab_test.AbTestPage]
) -> None:
    page = pages[10]
    washout = page.washout
    assert washout is not None
    assert 0 < washout.kept < washout.visits
    assert pages[0].washout is None
    assert f"洗脱期 {washout.minutes} 分钟" in rendered
    assert f"共去掉 {format_count(washout.dropped)} 次访问" in rendered
    assert "残留效应检查（carryover）" in rendered
    for name in ("click", "conversion"):
        check = page.carryover[name]
        assert not isinstance(check, str)
        assert f"p = {ab_test.format_p(check.p_value)}，{check.n} 场" in rendered
        lift = format_percent(page.report.comparisons[name].lift, 1, signed=True)
        assert f"B 组相对 A 组 {lift}" in rendered
    # the carryover check reads the shows' room totals: the same with or without a washout
    assert pages[0].carryover == page.carryover


def test_the_planted_click_lift_is_held_with_and_without_a_washout(
    pages: dict[int, ab_test.AbTestPage], truth: dict[str, Any]
) -> None:
    switchback = truth["switchback_experiment"]
    assert switchback["start_date"] == pages[10].period.first.isoformat()
    assert switchback["end_date"] == pages[10].period.last.isoformat()
    planted = switchback["metrics"]["click_rate"]["expected_lift"]
    for k, page in pages.items():
        c = page.report.comparisons["click"]
        print(f"washout {k} min: click lift {c.lift:+.4f} {c.lift_ci}, planted {planted:+.4f}")
        assert c.lift_ci[0] <= planted <= c.lift_ci[1]
        assert page.report.verdicts["click"] == "up"
