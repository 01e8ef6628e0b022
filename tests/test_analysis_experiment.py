"""Experiment analysis: units, verdict rules, adjusted p-values, the sample-size plan and the
results frame (the words and formats of the A/B report: tests/test_pages_ab_test.py)."""

from __future__ import annotations

import math
import warnings
from dataclasses import FrozenInstanceError

import polars as pl
import pytest

from livekit.analysis import experiment as ex
from livekit.analysis.abtest import (
    adjust_pvalues,
    compare_means,
    compare_proportions,
    compare_sessions,
    sample_size,
)
from livekit.vocab.errors import LivekitError
from livekit.vocab.metrics import metric, metrics_of
from tests.helpers.experiments import proportion_units, visits


# ---- catalog -------------------------------------------------------------------------------------
def test_metric_names_per_unit() -> None:
    assert ex.experiment_metric_names("viewer") == [
        "conversion",
        "click",
        "watch_seconds",
        "gmv_per_viewer",
        "visits",
    ]
    session = ex.experiment_metric_names("session")
    assert set(metrics_of("room")) <= set(session)
    assert {"conversion", "click", "watch_seconds", "gmv_per_viewer"} <= set(session)
    assert len(session) == len(set(session))


def test_session_aliases_map_to_registered_metrics() -> None:
    for alias, name in ex.SESSION_ALIASES.items():
        m = ex.experiment_metric(alias, "session")
        assert m.room_metric == metric(name)
        assert m.label == metric(name).label


@pytest.mark.parametrize("unit", ["viewer", "session"])
def test_unknown_metric_lists_valid_names(unit: str) -> None:
    with pytest.raises(LivekitError) as err:
        ex.resolve_metrics(["conversion", "nope"], unit)
    message = str(err.value)
    assert "nope" in message
    assert "未知的指标" in message
    for name in ex.experiment_metric_names(unit)[:3]:
        assert name in message


def test_registry_metric_is_unknown_per_viewer() -> None:
    with pytest.raises(LivekitError, match="按观众分析时未知的指标：click_rate"):
        ex.resolve_metrics(["click_rate"], "viewer")


def test_unknown_unit_and_empty_metrics() -> None:
    with pytest.raises(LivekitError, match="unit 只能是"):
        ex.experiment_metric_names("room")
    with pytest.raises(LivekitError, match="metrics 不能为空"):
        ex.resolve_metrics([], "viewer")


# ---- viewer units --------------------------------------------------------------------------------
def test_viewer_units_hand_computed() -> None:
    frame = visits(
        [
            ("v1", "A", False, 11, 30, 0.0),
            ("v1", "A", True, None, 90, 25.5),
            ("v2", "B", False, None, 45, 0.0),
            ("v3", "A", False, None, 10, 0.0),
            ("v3", "B", True, 12, 20, 9.9),  # v3 in both arms: dropped
            ("v4", None, True, 13, 600, 99.0),  # outside the experiment
        ]
    )
    data = ex.viewer_units(frame)
    assert (data.visits, data.viewers, data.crossed) == (5, 3, 1)
    units = data.units
    assert units.columns == [
        "viewer_id",
        "arm",
        "converted",
        "clicked",
        "watch_seconds",
        "gmv",
        "visits",
    ]
    assert units.to_dicts() == [
        {
            "viewer_id": "v1",
            "arm": "A",
            "converted": True,
            "clicked": True,
            "watch_seconds": 120,
            "gmv": 25.5,
            "visits": 2,
        },
        {
            "viewer_id": "v2",
            "arm": "B",
            "converted": False,
            "clicked": False,
            "watch_seconds": 45,
            "gmv": 0.0,
            "visits": 1,
        },
    ]


def test_viewer_units_without_variant() -> None:
    data = ex.viewer_units(visits([("v1", None, False, None, 30, 0.0)]))
    assert data.units.height == 0
    assert (data.visits, data.viewers, data.crossed) == (0, 0, 0)


def test_viewer_units_missing_column() -> None:
    with pytest.raises(LivekitError, match="观众明细缺少列：variant"):
        ex.viewer_units(visits([("v1", "A", False, None, 30, 0.0)]).drop("variant"))


# ---- verdicts ------------------------------------------------------------------------------------
def test_significant_up_matches_compare_proportions() -> None:
    units = proportion_units(10, 200, 40, 200)
    report = ex.analyse_experiment(units, ["conversion"], unit="viewer")
    direct = compare_proportions(10, 200, 40, 200)
    assert report.comparisons["conversion"] == direct
    assert report.observed == (200, 200)
    assert report.adjusted["conversion"] == pytest.approx(direct.p_value)
    assert report.verdicts == {"conversion": "up"}


def test_significant_down() -> None:
    report = ex.analyse_experiment(
        proportion_units(40, 200, 10, 200), ["conversion"], unit="viewer"
    )
    assert report.verdicts == {"conversion": "down"}


def test_no_difference() -> None:
    report = ex.analyse_experiment(
        proportion_units(20, 200, 21, 200), ["conversion"], unit="viewer"
    )
    assert report.verdicts == {"conversion": "none"}


def test_srm_overrides_every_verdict() -> None:
    report = ex.analyse_experiment(
        proportion_units(10, 300, 40, 150), ["conversion"], unit="viewer"
    )
    assert report.srm.warning
    assert report.verdicts == {"conversion": "srm"}


def test_planned_split_is_normalized() -> None:
    report = ex.analyse_experiment(
        proportion_units(10, 300, 40, 150), ["conversion"], unit="viewer", planned_split=[2, 1]
    )
    assert report.planned_split == pytest.approx((2 / 3, 1 / 3))
    assert not report.srm.warning
    assert report.srm.expected == pytest.approx((300.0, 150.0))


def test_uncomputable_metric_cannot_be_judged() -> None:
    units = proportion_units(0, 5, 0, 5).with_columns(watch_seconds=pl.lit(60.0))
    report = ex.analyse_experiment(units, ["watch_seconds"], unit="viewer")
    c = report.comparisons["watch_seconds"]
    assert c.error == "zero_variance"
    assert math.isnan(c.p_value)
    assert report.verdicts == {"watch_seconds": "error"}
    assert report.adjusted == {}


def test_holm_and_bh_adjust_all_metrics() -> None:
    units = proportion_units(10, 200, 25, 200)
    metrics = ["conversion", "watch_seconds"]
    raw = [
        compare_proportions(10, 200, 25, 200).p_value,
        compare_means(
            units.filter(pl.col("arm") == "A")["watch_seconds"],
            units.filter(pl.col("arm") == "B")["watch_seconds"],
        ).p_value,
    ]
    for method in ("holm", "bh"):
        report = ex.analyse_experiment(units, metrics, unit="viewer", correction=method)
        expected = adjust_pvalues(raw, method)
        assert [report.adjusted[m] for m in metrics] == pytest.approx(expected)
    with pytest.raises(LivekitError, match="未知的多重比较校正方法"):
        ex.analyse_experiment(units, metrics, unit="viewer", correction="bonferroni")


def test_verdict_rules_directly() -> None:
    c = compare_proportions(10, 200, 40, 200)
    assert ex.verdict(c, 0.01, alpha=0.05, srm_warning=False) == "up"
    assert ex.verdict(c, 0.2, alpha=0.05, srm_warning=False) == "none"
    assert ex.verdict(c, None, alpha=0.05, srm_warning=False) == "none"
    assert ex.verdict(c, 0.01, alpha=0.05, srm_warning=True) == "srm"


# ---- sample size ---------------------------------------------------------------------------------
def test_sample_size_plan_for_first_proportion() -> None:
    units = proportion_units(20, 200, 30, 200)
    report = ex.analyse_experiment(units, ["watch_seconds", "click", "conversion"], unit="viewer")
    assert report.plan_metric == "click"
    assert report.plan is not None
    assert report.plan.columns == list(ex.PLAN_SCHEMA)
    lift = round(0.5, 3)  # 0.15 vs 0.10
    lifts = [0.05, 0.10, 0.20, lift]
    assert report.plan["lift"].to_list() == lifts
    assert report.plan["target_rate"].to_list() == pytest.approx([0.1 * (1 + x) for x in lifts])
    need = [sample_size(0.1, 0.1 * (1 + x)) for x in lifts]
    assert report.plan["needed_per_arm"].to_list() == need
    assert report.plan["have_per_arm"].to_list() == [200] * 4
    assert report.plan["enough"].to_list() == [n <= 200 for n in need]


def test_plan_without_a_computable_size() -> None:
    # every viewer converts in A: no higher rate to detect, no size to compute
    report = ex.analyse_experiment(proportion_units(20, 20, 19, 20), ["conversion"], unit="viewer")
    assert report.plan is not None
    assert report.plan["needed_per_arm"].null_count() == report.plan.height
    assert report.plan["enough"].null_count() == report.plan.height


def test_no_plan_without_proportion() -> None:
    report = ex.analyse_experiment(proportion_units(1, 20, 2, 20), ["visits"], unit="viewer")
    assert report.plan is None
    assert report.plan_metric is None


# ---- sessions ------------------------------------------------------------------------------------
def session_frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    ids = list(range(1, 13))
    rooms = pl.DataFrame(
        {
            "room_id": ids,
            "live_click_product_count_alias": [50 + 3 * i for i in ids],
            "total_live_watch_cnt": [1000 + 10 * (i % 4) for i in ids],
        }
    )
    analysis = pl.DataFrame(
        {
            "room_id": [*ids, 1],  # a duplicate row is ignored
            "all_avg_live_watch_duration_seconds_td": [60.0 + i for i in ids] + [999.0],
            "all_live_watch_ucnt_td": [800 + i for i in ids] + [1],
        }
    )
    arms = ex.arms_frame({str(i): ("a " if i % 2 else "B") for i in [*ids[:10], 99]})
    return rooms, analysis, arms


def test_session_units_join_arms_and_t1_columns() -> None:
    rooms, analysis, arms = session_frames()
    units = ex.session_units(rooms, analysis, arms, ["click", "watch_seconds"])
    assert units.height == 10  # rooms 11 and 12 have no arm; room 99 did not air
    assert set(units["arm"].unique()) == {"A", "B"}
    assert {"all_avg_live_watch_duration_seconds_td", "all_live_watch_ucnt_td"} <= set(
        units.columns
    )
    assert arms.height == 11


def test_session_units_only_rooms_columns() -> None:
    rooms, analysis, arms = session_frames()
    units = ex.session_units(rooms, analysis, arms, ["watch_click_rate"])
    assert set(units.columns) == {*rooms.columns, "arm"}


def test_session_report_matches_compare_sessions() -> None:
    rooms, analysis, arms = session_frames()
    units = ex.session_units(rooms, analysis, arms, ["click"])
    report = ex.analyse_experiment(units, ["click"], unit="session")
    m = metric("watch_click_rate")
    direct = compare_sessions(
        units,
        numerator=m.numerator_expr(),
        denominator=m.denominator_expr(),
        variant="arm",
    )
    assert report.comparisons["click"] == direct
    assert direct.method.startswith("session-jackknife")  # small-sample variance for sessions
    assert direct.df == 4  # min(5, 5) - 1
    assert report.observed == (5, 5)
    assert report.plan is None
    assert direct.warnings  # fewer than MIN_UNITS_PER_ARM sessions an arm


def test_bad_session_arm() -> None:
    rooms, analysis, _ = session_frames()
    with pytest.raises(LivekitError, match="组别只能是 A 或 B"):
        ex.session_units(rooms, analysis, ex.arms_frame({"1": "A", "2": "C"}), ["click"])


# ---- the results frame --------------------------------------------------------------------------
def test_results_frame_lays_out_the_comparisons() -> None:
    units = proportion_units(10, 200, 40, 200)
    report = ex.analyse_experiment(units, ["conversion", "watch_seconds"], unit="viewer")
    frame = ex.results_frame(report)
    assert frame.columns == [
        "metric",
        "label",
        "mean_a",
        "mean_b",
        "diff",
        "diff_low",
        "diff_high",
        "lift",
        "lift_low",
        "lift_high",
        "ci_level",
        "p_value",
        "adjusted_p",
        "verdict",
        "error",
        "chance_to_win",
        "risk_a",
        "risk_b",
        "theta",
        "variance_reduction",
    ]
    assert frame.columns == list(ex.RESULTS_SCHEMA)
    for column in ("chance_to_win", "risk_a", "risk_b", "theta", "variance_reduction"):
        assert frame[column].is_nan().all()  # frequentist, no CUPED
    assert frame["metric"].to_list() == ["conversion", "watch_seconds"]
    assert frame["label"].to_list() == [m.label for m in report.metrics.values()]
    for row, (name, c) in zip(frame.iter_rows(named=True), report.comparisons.items(), strict=True):
        assert (row["mean_a"], row["mean_b"], row["diff"]) == (c.mean_a, c.mean_b, c.diff)
        assert (row["diff_low"], row["diff_high"]) == c.diff_ci
        assert (row["lift"], row["lift_low"], row["lift_high"]) == (c.lift, *c.lift_ci)
        assert row["p_value"] == c.p_value
        assert row["adjusted_p"] == report.adjusted[name]
        assert row["verdict"] == report.verdicts[name]
        assert row["ci_level"] == pytest.approx(0.95)
    assert frame["lift"][0] == pytest.approx(3.0)  # 20% against 5%
    assert frame["mean_a"][0] == pytest.approx(0.05)  # rates are fractions


def test_results_frame_of_a_metric_that_cannot_be_judged() -> None:
    units = proportion_units(0, 5, 0, 5).with_columns(watch_seconds=pl.lit(60.0))
    frame = ex.results_frame(ex.analyse_experiment(units, ["watch_seconds"], unit="viewer"))
    row = frame.row(0, named=True)
    assert (row["verdict"], row["error"], row["adjusted_p"]) == ("error", "zero_variance", None)


def test_statsmodels_runtime_warnings_are_silenced_for_the_call_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = compare_proportions

    def noisy(*args: object, **kwargs: object) -> object:
        # what statsmodels does on a degenerate arm: a RuntimeWarning from its own module
        warnings.warn_explicit(
            "divide by zero", RuntimeWarning, "proportion.py", 1, module="statsmodels.stats"
        )
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ex, "compare_proportions", noisy)
    units = proportion_units(10, 200, 40, 200)
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        report = ex.analyse_experiment(units, ["conversion"], unit="viewer")
        assert report.verdicts == {"conversion": "up"}
        assert [str(w.message) for w in seen] == []
        noisy(10, 200, 40, 200)  # outside the analysis the warning shows: no global filter
        assert [str(w.message) for w in seen] == ["divide by zero"]
    assert warnings.filters == before


def test_report_is_frozen() -> None:
    report = ex.analyse_experiment(proportion_units(1, 20, 2, 20), ["conversion"], unit="viewer")
    with pytest.raises(FrozenInstanceError):
        report.alpha = 0.1  # type: ignore[misc]


def test_an_empty_arm_is_an_error_not_a_fine_split() -> None:
    units = proportion_units(10, 200, 40, 200).filter(pl.col("arm") == "A")
    with pytest.raises(LivekitError, match="A 组 200 个、B 组 0 个观众：两组都要有数据"):
        ex.analyse_experiment(units, ["conversion"], unit="viewer")


def test_per_viewer_and_pre_period_covariates_hand_computed() -> None:
    pre = visits(
        [
            ("v1", None, True, 11, 40, 12.0),
            ("v1", None, False, None, 20, 0.0),
            ("v9", None, False, 11, 300, 0.0),  # not in the experiment: ignored by the join
        ]
    )
    history = ex.per_viewer(pre)
    assert history.columns == ["viewer_id", *ex.VIEWER_COLUMNS]
    assert history.row(0, named=True) == {
        "viewer_id": "v1",
        "converted": True,
        "clicked": True,
        "watch_seconds": 60.0,
        "gmv": 12.0,
        "visits": 2,
    }
    units = ex.viewer_units(
        visits([("v1", "A", False, None, 30, 0.0), ("v2", "B", True, 12, 50, 9.9)])
    ).units
    adjusted = ex.with_pre_period(units, pre)
    assert adjusted.height == 2
    assert adjusted.select(
        "viewer_id", "pre_converted", "pre_watch_seconds", "pre_visits"
    ).rows() == [
        ("v1", 1.0, 60.0, 2.0),
        ("v2", 0.0, 0.0, 0.0),  # not seen before the experiment: 0
    ]
    assert all(adjusted.schema[f"pre_{c}"] == pl.Float64 for c in ex.VIEWER_COLUMNS)
