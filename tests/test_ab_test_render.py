"""The A/B report rendered through the real runner with its analysis options, and what CUPED
gains on the sandbox's planted viewer experiment.

Two renders of ``notebooks/ab_test.ipynb`` (papermill in the project's kernel, against the
sandbox on loopback), as ``livekit report run ab_test -p engine bayesian -p covariate
pre_period`` and ``-p sequential true`` would run them: the overrides are typed text, parsed
like the command line's. Then the same pages built in-process on the same (already synced)
store: CUPED must narrow the watch-time interval (variance removed > 0) and every interval must
still hold the conversion lift the sandbox planted (``livekit sandbox truth``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import livekit
from livekit.pages import ab_test
from livekit.reports import Overrides, Project, RunResult, run
from livekit.reports.html import offline_violations
from livekit.vocab.units import format_percent
from tests.helpers.reports import ROOT, TEST_HOME, cli, environment

# Each render starts a kernel and the first syncs 42 days of the sandbox's viewer export.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    """The shared sandbox data of the report tests (synced once per worker, gitignored)."""
    with environment(LIVEKIT_HOME=str(TEST_HOME)):
        yield TEST_HOME


def _render(tmp: Path, **values: str) -> tuple[RunResult, str]:
    project = Project(ROOT, tmp / "reports")
    [result] = run("ab_test", project=project, overrides=Overrides(values=tuple(values.items())))
    assert result.ok, result.error
    assert result.html is not None
    page = result.html.read_text(encoding="utf-8")
    assert offline_violations(page) == []
    assert "<script" not in page.lower()
    return result, page


@pytest.fixture(scope="module")
def bayes_cuped(home: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _render(tmp_path_factory.mktemp("ab-bayes"), engine="bayesian", covariate="pre_period")[
        1
    ]


@pytest.fixture(scope="module")
def sequential(home: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _render(tmp_path_factory.mktemp("ab-seq"), sequential="true")[1]


@pytest.fixture(scope="module")
def pages(home: Path, bayes_cuped: str) -> dict[str, ab_test.AbTestPage]:
    """The report's defaults built in-process on the store the render synced."""
    kit = livekit.open("sandbox")
    return {
        "plain": ab_test.build(kit),
        "cuped": ab_test.build(kit, covariate="pre_period"),
        "bayes": ab_test.build(kit, engine="bayesian", covariate="pre_period"),
    }


@pytest.fixture(scope="module")
def truth(home: Path) -> dict[str, Any]:
    done = cli("sandbox", "truth", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_bayesian_cuped_render_says_what_its_results_mean(
    bayes_cuped: str, pages: dict[str, ab_test.AbTestPage]
) -> None:
    for words in (
        "贝叶斯",
        "B 胜出的概率",
        "选 B 的风险",
        "选 A 的风险",
        "选错时平均损失的相对提升",
        "可信区间",
        "实验前数据调整（CUPED）",
        "相当于多了",
    ):
        assert words in bayes_cuped, words
    report = pages["bayes"].report
    b = report.bayes["watch_seconds"]
    # the rendered numbers are those of the same analysis in-process
    assert f"方差减少 {format_percent(b.variance_reduction, 1)}" in bayes_cuped
    assert format_percent(report.bayes["conversion"].chance_to_win, 1) in bayes_cuped
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", bayes_cuped)
    assert "B 胜出的概率" in headers
    assert "方差减少（CUPED）" in headers
    assert "校正后 p 值" not in headers  # no p-values in a Bayesian table


def test_sequential_render_says_the_interval_is_always_valid(sequential: str) -> None:
    for words in ("始终有效", "每天看也不会增加误判", "代价是区间更宽", "N* = 5,000"):
        assert words in sequential, words
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", sequential)
    assert "校正后 p 值" in headers
    assert "B 胜出的概率" not in headers


def test_cuped_narrows_watch_time_and_keeps_the_planted_lift(
    pages: dict[str, ab_test.AbTestPage], truth: dict[str, Any]
) -> None:
    plain = pages["plain"].report.comparisons
    cuped = pages["cuped"].report.comparisons
    assert pages["cuped"].pre_period is not None
    assert pages["cuped"].pre_period.note is None  # the sandbox kit synced the pre-period
    w_plain, w_cuped = plain["watch_seconds"], cuped["watch_seconds"]
    assert w_cuped.variance_reduction > 0
    width_plain = w_plain.lift_ci[1] - w_plain.lift_ci[0]
    width_cuped = w_cuped.lift_ci[1] - w_cuped.lift_ci[0]
    print(f"watch_seconds lift interval width: plain {width_plain:.4f}, CUPED {width_cuped:.4f}")
    print(f"variance removed {w_cuped.variance_reduction:.3f}, theta {w_cuped.theta:.3f}")
    assert width_cuped < width_plain
    # about sqrt(1 - variance removed) as wide (the lift variance shrinks by that share)
    assert width_cuped / width_plain == pytest.approx(
        (1 - w_cuped.variance_reduction) ** 0.5, rel=0.02
    )
    planted = truth["viewer_experiment"]["metrics"]["conversion"]["expected_lift"]
    assert truth["viewer_experiment"]["start_date"] == pages["cuped"].period.first.isoformat()
    for c in (plain["conversion"], cuped["conversion"]):
        assert c.lift_ci[0] <= planted <= c.lift_ci[1]
    credible = pages["bayes"].report.bayes["conversion"].lift_ci
    assert credible[0] <= planted <= credible[1]
    assert pages["bayes"].report.verdicts["conversion"] == "up"
