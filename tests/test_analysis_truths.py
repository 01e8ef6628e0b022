"""The analysis layer recovers the sandbox's planted truths through the real store.

An in-process sandbox (seed 7) is synced into a private store for the days the planted
experiments ran (viewer export only), and the stored ``viewers`` dataset is analysed with
``livekit.analysis``: the viewer-randomized experiment (unit: viewer), the switchback
(randomized by session: unit = room) and the dwell > 3 min risk ratio (unit: visit). Every
95% interval must cover the published truth, and the planted effects must be detected.

The helpers below are also what ``bench/coverage.py`` runs over many seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from livekit.analysis.abtest import (
    Comparison,
    RatioMethod,
    SrmResult,
    compare_means,
    compare_proportions,
    compare_sessions,
    srm,
)
from livekit.analysis.dwell import DwellResult, dwell_conversion
from livekit.api.runner import run
from livekit.ingest.run import sync_async
from livekit.jobs import sandbox_session
from livekit.store import Store
from livekit.viewers import VIEWERS_SCHEMA
from tests.helpers.sandbox import NOW, TODAY, make_config
from tests.helpers.sync import make_settings

SCALE = 1.0  # enough traffic that the planted effects are detected; the file stays fast
ALPHA = 0.05


# ---- analyses (shared with bench/coverage.py) ---------------------------------------------------
def viewer_units(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per viewer of the viewer-randomized experiment (rows with a variant).

    ``converted``: at least one paid visit; ``seconds``: total watch seconds in the window.
    """
    return (
        frame.filter(pl.col("variant").is_not_null())
        .with_columns(
            dwell=(pl.col("leave_time") - pl.col("enter_time")).dt.total_seconds(fractional=True)
        )
        .group_by("viewer_id")
        .agg(
            arms=pl.col("variant").n_unique(),
            variant=pl.col("variant").first(),
            converted=pl.col("paid").any(),
            seconds=pl.col("dwell").sum(),
        )
    )


def viewer_experiment(frame: pl.DataFrame) -> dict[str, Any]:
    """SRM, conversion (proportions) and watch seconds (means) of the viewer experiment."""
    units = viewer_units(frame)
    arm = {v: units.filter(pl.col("variant") == v) for v in "AB"}
    conv = {v: int(arm[v].get_column("converted").sum()) for v in "AB"}
    n = {v: arm[v].height for v in "AB"}
    return {
        "max_arms_per_viewer": int(units.select(pl.col("arms").max()).item() or 0),
        "srm": srm([n["A"], n["B"]], [0.5, 0.5]),
        "conversion": compare_proportions(conv["A"], n["A"], conv["B"], n["B"], alpha=ALPHA),
        "watch_seconds": compare_means(
            arm["A"].get_column("seconds"), arm["B"].get_column("seconds"), alpha=ALPHA
        ),
    }


def switchback(
    frame: pl.DataFrame, sessions: list[dict[str, Any]], method: RatioMethod = "jackknife"
) -> dict[str, Comparison]:
    """Click rate and conversion rate per visit, analysed with the session as the unit.

    ``sessions`` is the published assignment (``room_id``, ``variant``): the merchant's own
    schedule of which show ran which version. ``method`` is the variance of the ratio
    (``compare_sessions``' default, the session jackknife, or ``"delta"`` for contrast).
    """
    plan = pl.DataFrame(
        {"room_id": [s["room_id"] for s in sessions], "arm": [s["variant"] for s in sessions]},
        schema={"room_id": pl.Int64, "arm": pl.String},
    )
    rows = frame.join(plan, on="room_id", how="inner")
    common: dict[str, Any] = {"unit": "room_id", "variant": "arm", "alpha": ALPHA, "method": method}
    return {
        "click_rate": compare_sessions(
            rows, numerator=pl.col("clicked_product_id").is_not_null(), **common
        ),
        "conversion_rate": compare_sessions(rows, numerator="paid", **common),
    }


def covers(interval: tuple[float, float], value: float) -> bool:
    return interval[0] <= value <= interval[1]


# ---- fixtures --------------------------------------------------------------------------------
def _window(truth: dict[str, Any], key: str) -> tuple[date, date]:
    part = truth[key]
    return date.fromisoformat(part["start_date"]), date.fromisoformat(part["end_date"])


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    """(truth, store dir) after syncing the viewer export of both experiments' windows."""
    home = tmp_path_factory.mktemp("analysis-truths")
    with sandbox_session(make_settings(home), make_config(scale=SCALE)) as s:
        truth: dict[str, Any] = httpx.get(s.url + "/sandbox/truth", timeout=120).json()
        assert truth["today"] == TODAY.isoformat()
        start = _window(truth, "viewer_experiment")[0]
        end = _window(truth, "switchback_experiment")[1]
        result = run(
            sync_async(
                s.settings,
                start,
                end,
                datasets=(),  # the viewer export only
                now=NOW,
                viewer_export_url=s.viewer_export_url,
            )
        )
        assert result.datasets["viewers"].rows > 100_000
        yield truth, home / "sandbox" / "store"


@pytest.fixture(scope="module")
def truth(synced: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return synced[0]


def read_viewers(synced: tuple[dict[str, Any], Path], key: str) -> pl.DataFrame:
    truth, store_dir = synced
    start, end = _window(truth, key)
    return Store(store_dir).read("viewers", VIEWERS_SCHEMA, start, end)


@pytest.fixture(scope="module")
def experiment_rows(synced: tuple[dict[str, Any], Path]) -> pl.DataFrame:
    return read_viewers(synced, "viewer_experiment")


@pytest.fixture(scope="module")
def switchback_rows(synced: tuple[dict[str, Any], Path]) -> pl.DataFrame:
    return read_viewers(synced, "switchback_experiment")


@pytest.fixture(scope="module")
def viewer_results(experiment_rows: pl.DataFrame) -> dict[str, Any]:
    return viewer_experiment(experiment_rows)


@pytest.fixture(scope="module")
def switchback_results(
    switchback_rows: pl.DataFrame, truth: dict[str, Any]
) -> dict[str, Comparison]:
    return switchback(switchback_rows, truth["switchback_experiment"]["sessions"])


# ---- viewer-randomized experiment ----------------------------------------------------------
def test_viewer_split_is_as_planned(viewer_results: dict[str, Any]) -> None:
    assert viewer_results["max_arms_per_viewer"] == 1  # the viewer is the randomized unit
    check: SrmResult = viewer_results["srm"]
    assert not check.warning, check


def test_viewer_conversion_lift_is_recovered(
    viewer_results: dict[str, Any], truth: dict[str, Any]
) -> None:
    expected = truth["viewer_experiment"]["metrics"]["conversion"]["expected_lift"]
    c: Comparison = viewer_results["conversion"]
    assert c.error is None, c
    assert c.n_a > 20_000
    assert covers(c.lift_ci, expected), (expected, c.lift, c.lift_ci)
    # detected, not only allowed
    assert c.lift_ci[0] > 0.0, c
    assert c.diff_ci[0] > 0.0, c
    assert c.p_value < ALPHA, c


def test_viewer_watch_seconds_do_not_move(
    viewer_results: dict[str, Any], truth: dict[str, Any]
) -> None:
    assert truth["viewer_experiment"]["metrics"]["watch_seconds"]["expected_lift"] == 0.0
    c: Comparison = viewer_results["watch_seconds"]
    assert c.error is None, c
    assert covers(c.lift_ci, 0.0), (c.lift, c.lift_ci)
    assert covers(c.diff_ci, 0.0), (c.diff, c.diff_ci)
    assert c.lift_ci[1] - c.lift_ci[0] < 0.1  # informative: a 5% change would be seen


# ---- switchback (randomized by session) ----------------------------------------------------------
def test_switchback_click_rate_lift_is_recovered(
    switchback_results: dict[str, Comparison], truth: dict[str, Any]
) -> None:
    expected = truth["switchback_experiment"]["metrics"]["click_rate"]["expected_lift"]
    c = switchback_results["click_rate"]
    assert c.error is None, c
    assert c.method.startswith("session-jackknife")  # few sessions: small-sample variance
    assert c.n_a + c.n_b == len(truth["switchback_experiment"]["sessions"])  # unit = session
    assert covers(c.lift_ci, expected), (expected, c.lift, c.lift_ci)
    assert c.lift_ci[0] > 0.0, c


def test_switchback_conversion_does_not_move(
    switchback_results: dict[str, Comparison], truth: dict[str, Any]
) -> None:
    assert truth["switchback_experiment"]["metrics"]["conversion_rate"]["expected_lift"] == 0.0
    c = switchback_results["conversion_rate"]
    assert c.error is None, c
    assert covers(c.lift_ci, 0.0), (c.lift, c.lift_ci)


def test_switchback_warns_about_few_sessions(
    switchback_results: dict[str, Comparison],
) -> None:
    c = switchback_results["click_rate"]
    assert (min(c.n_a, c.n_b) < 10) == bool(c.warnings), (c.n_a, c.n_b, c.warnings)


def test_pooling_visits_understates_the_switchback_variance(
    switchback_rows: pl.DataFrame,
    switchback_results: dict[str, Comparison],
    truth: dict[str, Any],
) -> None:
    """Why the unit matters: visits treated as independent give a far narrower interval."""
    sessions = truth["switchback_experiment"]["sessions"]
    arm = {s["room_id"]: s["variant"] for s in sessions}
    rows = switchback_rows.filter(pl.col("room_id").is_in(list(arm)))
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
    by_session = switchback_results["click_rate"]
    assert pooled.lift == pytest.approx(by_session.lift)  # the same point estimate...
    width = by_session.lift_ci[1] - by_session.lift_ci[0]
    assert pooled.lift_ci[1] - pooled.lift_ci[0] < 0.8 * width  # ...with a too-narrow interval


# ---- dwell > 3 minutes ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dwell(synced: tuple[dict[str, Any], Path]) -> DwellResult:
    truth, store_dir = synced
    start = _window(truth, "viewer_experiment")[0]
    end = _window(truth, "switchback_experiment")[1]
    rows = Store(store_dir).read("viewers", VIEWERS_SCHEMA, start, end)  # all rooms, 30 days
    return dwell_conversion(rows, threshold_s=truth["dwell_conversion"]["threshold_seconds"])


def test_dwell_risk_ratio_is_recovered(dwell: DwellResult, truth: dict[str, Any]) -> None:
    dc = truth["dwell_conversion"]
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
