"""The shipped analysis recovers the sandbox's planted truths through the real store.

An in-process sandbox (seed 7, full size) is synced into a private store for the days the
planted experiments ran: the viewer export over both windows, and the room data of the
switchback's days. The stored data then goes through what the reports run: the A/B report's
path (``livekit.analysis.experiment``: ``viewer_units`` / ``session_units``, then
``analyse_experiment``; see ``tests/helpers/truths.py``) for the viewer-randomized experiment
(unit: viewer) and the switchback (randomized by session: unit = room), and
``livekit.analysis.dwell.dwell_conversion`` for the dwell > 3 min risk ratio (unit: visit).
Every 95% interval must cover the published truth, the planted effects must be detected and
the null metrics judged "no difference". ``bench/coverage.py`` runs the same path over many
seeds to measure how often the intervals cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from livekit.analysis import experiment as ex
from livekit.analysis.abtest import compare_proportions
from livekit.analysis.dwell import DwellResult, dwell_conversion
from livekit.api.runner import run
from livekit.ingest.run import sync_async
from livekit.jobs import sandbox_session
from livekit.store import Store
from livekit.store.datasets import get
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import make_settings
from tests.helpers.truths import ALPHA, covers, session_experiment, viewer_experiment

SCALE = 1.0  # enough traffic that the planted effects are detected
ROOM_DATASETS = ("rooms", "room_analysis")  # what the session path of the A/B report reads
# Every test reads the full-size sync below (10-25 s on two shared cores): the module is slow.
pytestmark = pytest.mark.slow


def _window(truth: dict[str, Any], key: str) -> tuple[date, date]:
    part = truth[key]
    return date.fromisoformat(part["start_date"]), date.fromisoformat(part["end_date"])


# ---- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    """(truth, store dir) after syncing the viewer export of both experiments' windows and the
    room data of the switchback's."""
    home = tmp_path_factory.mktemp("analysis-truths")
    with sandbox_session(make_settings(home), make_config(scale=SCALE)) as s:
        truth: dict[str, Any] = httpx.get(s.url + "/sandbox/truth", timeout=120).json()
        assert truth["today"] == TODAY.isoformat()
        start = _window(truth, "viewer_experiment")[0]
        end = _window(truth, "switchback_experiment")[1]
        common: dict[str, Any] = {"now": NOW, "viewer_export_url": s.viewer_export_url}
        viewers = run(sync_async(s.settings, start, end, datasets=(), **common))
        assert viewers.datasets["viewers"].rows > 100_000
        sb_start, sb_end = _window(truth, "switchback_experiment")
        rooms = run(sync_async(s.settings, sb_start, sb_end, datasets=ROOM_DATASETS, **common))
        assert rooms.datasets["rooms"].rows >= len(truth["switchback_experiment"]["sessions"])
        yield truth, home / "sandbox" / "store"


@pytest.fixture(scope="module")
def truth(synced: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return synced[0]


def read(synced: tuple[dict[str, Any], Path], dataset: str, key: str) -> pl.DataFrame:
    """The stored ``dataset`` over the window of the planted experiment ``key``."""
    truth, store_dir = synced
    start, end = _window(truth, key)
    return Store(store_dir).read(dataset, get(dataset).schema, start, end)


@pytest.fixture(scope="module")
def viewer_results(synced: tuple[dict[str, Any], Path], truth: dict[str, Any]) -> dict[str, Any]:
    rows = read(synced, "viewers", "viewer_experiment")
    return viewer_experiment(rows, truth["viewer_experiment"]["planned_split"])


@pytest.fixture(scope="module")
def switchback_report(
    synced: tuple[dict[str, Any], Path], truth: dict[str, Any]
) -> ex.ExperimentReport:
    return session_experiment(
        read(synced, "rooms", "switchback_experiment"),
        read(synced, "room_analysis", "switchback_experiment"),
        truth["switchback_experiment"]["sessions"],
    )


# ---- viewer-randomized experiment ----------------------------------------------------------
def test_viewer_split_is_as_planned(viewer_results: dict[str, Any]) -> None:
    units: ex.ViewerUnits = viewer_results["units"]
    report: ex.ExperimentReport = viewer_results["report"]
    assert units.crossed == 0  # the viewer is the randomized unit: one arm each
    assert sum(report.observed) == units.viewers > 20_000
    assert not report.srm.warning, report.srm
    assert report.verdicts["watch_seconds"] != "srm"


def test_viewer_conversion_lift_is_recovered(
    viewer_results: dict[str, Any], truth: dict[str, Any]
) -> None:
    expected = truth["viewer_experiment"]["metrics"]["conversion"]["expected_lift"]
    report: ex.ExperimentReport = viewer_results["report"]
    c = report.comparisons["conversion"]
    assert c.error is None, c
    assert covers(c.lift_ci, expected), (expected, c.lift, c.lift_ci)
    # detected, not only allowed: the report says B converts better
    assert c.lift_ci[0] > 0.0, c
    assert c.diff_ci[0] > 0.0, c
    assert report.verdicts["conversion"] == "up", report.comparisons
    assert report.adjusted["conversion"] < ALPHA


def test_viewer_watch_seconds_do_not_move(
    viewer_results: dict[str, Any], truth: dict[str, Any]
) -> None:
    assert truth["viewer_experiment"]["metrics"]["watch_seconds"]["expected_lift"] == 0.0
    report: ex.ExperimentReport = viewer_results["report"]
    c = report.comparisons["watch_seconds"]
    assert c.error is None, c
    assert covers(c.lift_ci, 0.0), (c.lift, c.lift_ci)
    assert covers(c.diff_ci, 0.0), (c.diff, c.diff_ci)
    assert c.lift_ci[1] - c.lift_ci[0] < 0.1  # informative: a 5% change would be seen
    assert report.verdicts["watch_seconds"] == "none", report.comparisons


# ---- switchback (randomized by session) ----------------------------------------------------------
def test_switchback_metrics_are_the_truths_definitions(
    switchback_report: ex.ExperimentReport, truth: dict[str, Any]
) -> None:
    """The report's session metrics are the ratios the truth's expected lifts are defined on."""
    planted = truth["switchback_experiment"]["metrics"]
    for name, truth_name in (("click", "click_rate"), ("conversion", "conversion_rate")):
        m = switchback_report.metrics[name].room_metric
        assert m is not None
        assert f"{m.numerator} / {m.denominator}" == planted[truth_name]["definition"]


def test_switchback_click_rate_lift_is_recovered(
    switchback_report: ex.ExperimentReport, truth: dict[str, Any]
) -> None:
    expected = truth["switchback_experiment"]["metrics"]["click_rate"]["expected_lift"]
    c = switchback_report.comparisons["click"]
    assert c.error is None, c
    assert c.method.startswith("session-jackknife")  # few sessions: small-sample variance
    sessions = truth["switchback_experiment"]["sessions"]
    assert switchback_report.observed == (
        sum(s["variant"] == "A" for s in sessions),
        sum(s["variant"] == "B" for s in sessions),
    )  # unit = session: every planned session, none twice
    assert covers(c.lift_ci, expected), (expected, c.lift, c.lift_ci)
    assert c.lift_ci[0] > 0.0, c
    assert switchback_report.verdicts["click"] == "up", switchback_report.comparisons


def test_switchback_conversion_does_not_move(
    switchback_report: ex.ExperimentReport, truth: dict[str, Any]
) -> None:
    assert truth["switchback_experiment"]["metrics"]["conversion_rate"]["expected_lift"] == 0.0
    c = switchback_report.comparisons["conversion"]
    assert c.error is None, c
    assert covers(c.lift_ci, 0.0), (c.lift, c.lift_ci)
    assert switchback_report.verdicts["conversion"] == "none", switchback_report.comparisons


def test_switchback_warns_about_few_sessions(switchback_report: ex.ExperimentReport) -> None:
    c = switchback_report.comparisons["click"]
    assert (min(c.n_a, c.n_b) < 10) == bool(c.warnings), (c.n_a, c.n_b, c.warnings)


def test_pooling_visits_understates_the_switchback_variance(
    synced: tuple[dict[str, Any], Path],
    switchback_report: ex.ExperimentReport,
    truth: dict[str, Any],
) -> None:
    """Why the unit matters: visits treated as independent give a far narrower interval."""
    arm = {s["room_id"]: s["variant"] for s in truth["switchback_experiment"]["sessions"]}
    rows = read(synced, "viewers", "switchback_experiment").filter(
        pl.col("room_id").is_in(list(arm))
    )
    clicked = rows.with_columns(
        arm=pl.col("room_id").replace_strict(arm, return_dtype=pl.String),
        clicked=pl.col("clicked_product_id").is_not_null(),
    )
    counts = {
        v: (int(g.get_column("clicked").sum()), g.height)
        for v in "AB"
        for g in [clicked.filter(pl.col("arm") == v)]
    }
    pooled = compare_proportions(*counts["A"], *counts["B"], alpha=ALPHA)
    by_session = switchback_report.comparisons["click"]
    # the same point estimate (the export's visits are the rooms' views and clicks) ...
    assert pooled.lift == pytest.approx(by_session.lift)
    width = by_session.lift_ci[1] - by_session.lift_ci[0]
    assert pooled.lift_ci[1] - pooled.lift_ci[0] < 0.8 * width  # ... with a too-narrow interval


# ---- dwell > 3 minutes ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dwell(synced: tuple[dict[str, Any], Path]) -> DwellResult:
    truth, store_dir = synced
    start = _window(truth, "viewer_experiment")[0]
    end = _window(truth, "switchback_experiment")[1]
    rows = Store(store_dir).read("viewers", get("viewers").schema, start, end)  # all rooms
    return dwell_conversion(rows, threshold_s=truth["dwell_conversion"]["threshold_seconds"])


def test_dwell_risk_ratio_is_recovered(dwell: DwellResult, truth: dict[str, Any]) -> None:
    dc = truth["dwell_conversion"]
    assert abs(dc["expected_risk_ratio"] - dc["planted_risk_ratio"]) < 0.01
    assert dwell.unit == "visit"  # as planted: paid visits / visits
    assert dwell.error is None, dwell
    assert covers(dwell.risk_ratio_ci, dc["expected_risk_ratio"]), (
        dc["expected_risk_ratio"],
        dwell.risk_ratio,
        dwell.risk_ratio_ci,
    )
    assert dwell.risk_ratio_ci[0] > 1.0, dwell  # long stays convert more: detected


def test_dwell_buckets_add_up(dwell: DwellResult) -> None:
    b = dwell.by_bucket
    assert int(b.get_column("visits").sum()) == dwell.visits_long + dwell.visits_short
    assert int(b.get_column("paid").sum()) == dwell.paid_long + dwell.paid_short
    above = b.filter(pl.col("lower_s") >= dwell.threshold_s)
    assert int(above.get_column("visits").sum()) == dwell.visits_long
    assert (b.get_column("ci_low") <= b.get_column("rate")).all()
    assert (b.get_column("rate") <= b.get_column("ci_high")).all()
