"""The sandbox's planted experiments, analysed through the shipped experiment path.

What the A/B report runs (``livekit.analysis.experiment``: ``viewer_units`` or
``session_units``, then ``analyse_experiment``), with the metrics the sandbox plants effects
on. Shared by ``tests/test_analysis_truths.py`` (one world, through the real store) and
``bench/coverage.py`` (many worlds, for interval coverage).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from livekit.analysis import experiment as ex
from livekit.analysis.abtest import Comparison, RatioMethod, compare_sessions

ALPHA = 0.05
# The viewer-randomized experiment: a planted conversion lift, watch time untouched.
VIEWER_METRICS = ("conversion", "watch_seconds")
# The switchback: a planted click-rate lift, conversion per view untouched. The report's names
# for unit = "session"; each resolves to the room metric of the truth's definition.
SESSION_METRICS = ("click", "conversion")


def covers(interval: tuple[float, float], value: float) -> bool:
    return interval[0] <= value <= interval[1]


def viewer_experiment(
    frame: pl.DataFrame, planned_split: Sequence[float] = (0.5, 0.5)
) -> dict[str, Any]:
    """The viewer experiment of the viewer export ``frame`` (one row per visit), as the report
    analyses it: ``report`` (the ExperimentReport), ``units`` (its ViewerUnits), and for
    convenience ``srm``, ``conversion`` and ``watch_seconds`` (the comparisons)."""
    units = ex.viewer_units(frame)
    report = ex.analyse_experiment(
        units.units, list(VIEWER_METRICS), unit="viewer", alpha=ALPHA, planned_split=planned_split
    )
    return {"report": report, "units": units, "srm": report.srm, **report.comparisons}


def session_experiment(
    rooms: pl.DataFrame, room_analysis: pl.DataFrame, sessions: Sequence[dict[str, Any]]
) -> ex.ExperimentReport:
    """The switchback as the report analyses it: the stored ``rooms`` / ``room_analysis`` of its
    days and the published assignment ``sessions`` (``room_id``, ``variant``)."""
    arms = ex.arms_frame({str(s["room_id"]): str(s["variant"]) for s in sessions})
    units = ex.session_units(rooms, room_analysis, arms, list(SESSION_METRICS))
    return ex.analyse_experiment(units, list(SESSION_METRICS), unit="session", alpha=ALPHA)


def switchback(
    frame: pl.DataFrame, sessions: Sequence[dict[str, Any]], method: RatioMethod = "jackknife"
) -> dict[str, Comparison]:
    """Click and conversion rate per visit of the viewer export, with the session as the unit.

    For ``bench/coverage.py``, which builds worlds without a server (so without room data) and
    contrasts the report's session jackknife with the delta method (``method="delta"``); the
    report itself reads room data (:func:`session_experiment`). Per session, the export's visits
    and clicked or paid visits are the room's watch count, product clicks and paid orders.
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
