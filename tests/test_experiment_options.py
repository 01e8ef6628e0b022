"""analyse_experiment's options: sequential (always-valid), covariate (CUPED on the pre_
columns of with_pre_period) and the Bayesian engine. Each must give exactly what the statistics
functions give when called directly; mistakes are one Chinese line."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest

from livekit.analysis import experiment as ex
from livekit.analysis.abtest import adjust_pvalues, compare_means, compare_proportions
from livekit.analysis.bayes import Prior, bayesian_means, bayesian_proportions
from livekit.vocab.errors import LivekitError
from tests.helpers.experiments import proportion_units


def correlated_units(seed: int = 3, n: int = 1500, lift: float = 0.05) -> pl.DataFrame:
    """Viewer units with pre-period columns that predict the experiment's values: watch time
    correlated with its own past (rho ~0.6), conversion with past conversion."""
    rng = np.random.default_rng(seed)
    arm = np.array(["A"] * n + ["B"] * n)
    pre_watch = rng.gamma(2.0, 60.0, 2 * n)
    watch = 0.6 * pre_watch + rng.gamma(2.0, 40.0, 2 * n)
    watch[n:] *= 1 + lift
    pre_conv = rng.random(2 * n) < 0.2
    conv = rng.random(2 * n) < np.where(pre_conv, 0.3, 0.1) * np.where(arm == "B", 1.2, 1.0)
    return pl.DataFrame(
        {
            "viewer_id": [f"v{i}" for i in range(2 * n)],
            "arm": arm,
            "converted": conv,
            "clicked": conv | (rng.random(2 * n) < 0.3),
            "watch_seconds": watch,
            "gmv": np.where(conv, rng.gamma(2.0, 30.0, 2 * n), 0.0),
            "visits": rng.integers(1, 4, 2 * n),
            "pre_converted": pre_conv.astype(float),
            "pre_clicked": (rng.random(2 * n) < 0.4).astype(float),
            "pre_watch_seconds": pre_watch,
            "pre_gmv": np.where(pre_conv, 50.0, 0.0),
            "pre_visits": rng.integers(0, 5, 2 * n).astype(float),
        }
    )


def arms(units: pl.DataFrame, column: str) -> tuple[pl.Series, pl.Series]:
    a = units.filter(pl.col("arm") == "A").get_column(column).cast(pl.Float64)
    b = units.filter(pl.col("arm") == "B").get_column(column).cast(pl.Float64)
    return a, b


# ---- sequential --------------------------------------------------------------------------------
def test_sequential_comparisons_are_compare_sequential_called_directly() -> None:
    units = correlated_units()
    names = ["conversion", "watch_seconds"]
    report = ex.analyse_experiment(
        units, names, unit="viewer", sequential=True, sequential_tuning=3000
    )
    ca, cb = arms(units, "converted")
    conv = compare_proportions(
        int(ca.sum()), ca.len(), int(cb.sum()), cb.len(), sequential=True, sequential_tuning=3000
    )
    watch = compare_means(*arms(units, "watch_seconds"), sequential=True, sequential_tuning=3000)
    assert report.comparisons == {"conversion": conv, "watch_seconds": watch}
    assert "sequential" in conv.method
    assert (report.sequential, report.sequential_tuning, report.engine) == (
        True,
        3000.0,
        "frequentist",
    )
    expected = adjust_pvalues([conv.p_value, watch.p_value], "holm")
    assert [report.adjusted[n] for n in names] == pytest.approx(expected)
    assert report.bayes == {}


def test_sequential_verdict_is_more_careful_than_the_fixed_horizon_one() -> None:
    # 10.0% -> 13.0% on 1000 viewers an arm: p ~0.04 at the fixed horizon, not always-valid
    units = proportion_units(100, 1000, 130, 1000)
    fixed = ex.analyse_experiment(units, ["conversion"], unit="viewer")
    always = ex.analyse_experiment(units, ["conversion"], unit="viewer", sequential=True)
    direct = compare_proportions(100, 1000, 130, 1000, sequential=True)
    assert fixed.verdicts == {"conversion": "up"}
    assert always.comparisons["conversion"] == direct
    assert direct.p_value > 0.05
    assert always.verdicts == {"conversion": "none"}
    f, s = fixed.comparisons["conversion"], direct
    assert s.lift_ci[1] - s.lift_ci[0] > f.lift_ci[1] - f.lift_ci[0]  # the price: wider


# ---- CUPED -------------------------------------------------------------------------------------
def test_covariate_is_cuped_on_the_pre_columns() -> None:
    units = correlated_units()
    report = ex.analyse_experiment(
        units, ["watch_seconds", "conversion"], unit="viewer", covariate=True
    )
    assert report.covariate
    for name, column in (("watch_seconds", "watch_seconds"), ("conversion", "converted")):
        a, b = arms(units, column)
        pa, pb = arms(units, f"pre_{column}")
        direct = compare_means(a, b, covariate_a=pa, covariate_b=pb)
        assert report.comparisons[name] == direct
        assert math.isfinite(direct.theta)
        assert direct.variance_reduction > 0
    frame = ex.results_frame(report)
    watch = frame.row(0, named=True)
    plain = ex.analyse_experiment(units, ["watch_seconds"], unit="viewer").comparisons
    assert watch["theta"] == report.comparisons["watch_seconds"].theta
    assert watch["variance_reduction"] == report.comparisons["watch_seconds"].variance_reduction
    assert watch["variance_reduction"] > 0.2  # rho ~0.6 in this data
    width = watch["lift_high"] - watch["lift_low"]
    plain_ci = plain["watch_seconds"].lift_ci
    assert width < plain_ci[1] - plain_ci[0]
    assert frame["chance_to_win"].is_nan().all()


def test_covariate_with_sequential() -> None:
    units = correlated_units(seed=5)
    report = ex.analyse_experiment(
        units, ["watch_seconds"], unit="viewer", covariate=True, sequential=True
    )
    a, b = arms(units, "watch_seconds")
    pa, pb = arms(units, "pre_watch_seconds")
    direct = compare_means(a, b, covariate_a=pa, covariate_b=pb, sequential=True)
    assert report.comparisons["watch_seconds"] == direct
    assert "sequential" in direct.method
    assert "CUPED" in direct.method


def test_covariate_needs_the_pre_columns() -> None:
    units = correlated_units().drop("pre_watch_seconds")
    with pytest.raises(LivekitError, match="缺少 pre_watch_seconds") as info:
        ex.analyse_experiment(units, ["watch_seconds"], unit="viewer", covariate=True)
    assert "with_pre_period" in str(info.value)
    assert "\n" not in str(info.value)


# ---- Bayesian ----------------------------------------------------------------------------------
def test_bayesian_engine_is_bayes_called_directly() -> None:
    units = correlated_units()
    report = ex.analyse_experiment(
        units, ["conversion", "watch_seconds", "visits"], unit="viewer", engine="bayesian"
    )
    ca, cb = arms(units, "converted")
    conv = bayesian_proportions(int(ca.sum()), ca.len(), int(cb.sum()), cb.len())
    watch = bayesian_means(*arms(units, "watch_seconds"))
    visits = bayesian_means(*arms(units, "visits"))
    assert report.bayes == {"conversion": conv, "watch_seconds": watch, "visits": visits}
    assert report.engine == "bayesian"
    assert report.adjusted == {}  # no multiplicity correction, as GrowthBook
    for name, c in report.bayes.items():
        expected = (
            "up" if c.chance_to_win >= 0.95 else "down" if c.chance_to_win <= 0.05 else "none"
        )
        assert report.verdicts[name] == expected
    assert report.verdicts["conversion"] == "up"  # planted 20% lift
    frame = ex.results_frame(report)
    for row in frame.iter_rows(named=True):
        c = report.bayes[row["metric"]]
        assert (row["chance_to_win"], row["risk_a"], row["risk_b"]) == (
            c.chance_to_win,
            c.risk_a,
            c.risk_b,
        )
        assert (row["lift"], row["lift_low"], row["lift_high"]) == (c.lift, *c.lift_ci)
        assert row["p_value"] is None
        assert row["adjusted_p"] is None
        assert math.isnan(row["theta"])


def test_bayesian_verdicts_from_chance_to_win() -> None:
    up = ex.analyse_experiment(
        proportion_units(10, 200, 40, 200), ["conversion"], unit="viewer", engine="bayesian"
    )
    assert up.verdicts == {"conversion": "up"}
    down = ex.analyse_experiment(
        proportion_units(40, 200, 10, 200), ["conversion"], unit="viewer", engine="bayesian"
    )
    assert down.verdicts == {"conversion": "down"}
    # 10.0% -> 12.5%: chance to win about 0.9, not decided
    none = ex.analyse_experiment(
        proportion_units(20, 200, 25, 200), ["conversion"], unit="viewer", engine="bayesian"
    )
    assert 0.05 < none.bayes["conversion"].chance_to_win < 0.95
    assert none.verdicts == {"conversion": "none"}
    srm = ex.analyse_experiment(
        proportion_units(10, 300, 40, 150), ["conversion"], unit="viewer", engine="bayesian"
    )
    assert srm.verdicts == {"conversion": "srm"}
    units = proportion_units(0, 5, 0, 5)
    error = ex.analyse_experiment(units, ["conversion"], unit="viewer", engine="bayesian")
    assert error.bayes["conversion"].error == "zero_baseline"
    assert error.verdicts == {"conversion": "error"}
    assert ex.results_frame(error)["error"].to_list() == ["zero_baseline"]


def test_bayesian_engine_with_covariate_and_prior() -> None:
    units = correlated_units(seed=8)
    prior = Prior(0.0, 0.1**2)
    report = ex.analyse_experiment(
        units,
        ["watch_seconds", "conversion"],
        unit="viewer",
        engine="bayesian",
        covariate=True,
        prior=prior,
    )
    for name, column in (("watch_seconds", "watch_seconds"), ("conversion", "converted")):
        a, b = arms(units, column)
        pa, pb = arms(units, f"pre_{column}")
        direct = bayesian_means(a, b, covariate_a=pa, covariate_b=pb, prior=prior)
        assert report.bayes[name] == direct
        assert direct.prior == prior
        assert direct.variance_reduction > 0
    row = ex.results_frame(report).row(0, named=True)
    assert row["theta"] == report.bayes["watch_seconds"].theta
    assert row["variance_reduction"] == report.bayes["watch_seconds"].variance_reduction


# ---- mistakes ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("unit", "options", "fragment"),
    [
        ("viewer", {"engine": "bayes"}, "未知的分析引擎"),
        ("viewer", {"sequential": "yes"}, "sequential 须为 true 或 false"),
        ("viewer", {"sequential_tuning": 0}, "sequential_tuning"),
        ("viewer", {"sequential_tuning": True}, "sequential_tuning"),
        ("viewer", {"sequential_tuning": float("nan")}, "sequential_tuning"),
        ("viewer", {"covariate": "pre_period"}, "covariate 须为 True 或 False"),
        ("viewer", {"engine": "bayesian", "sequential": True}, "贝叶斯引擎请用 sequential: false"),
        ("viewer", {"prior": Prior(0.0, 0.01)}, "先验（prior）只用于贝叶斯引擎"),
        ("viewer", {"engine": "bayesian", "prior": (0, 1)}, "先验须为 Prior"),
        ("session", {"sequential": True}, "请改用 sequential: false，或按观众随机"),
        ("session", {"covariate": True}, "只支持按观众随机"),
        ("session", {"engine": "bayesian"}, "engine: frequentist"),
    ],
)
def test_bad_options_are_one_chinese_line(
    unit: str, options: dict[str, Any], fragment: str
) -> None:
    units = proportion_units(10, 200, 40, 200)
    metric = "conversion" if unit == "viewer" else "click"
    with pytest.raises(LivekitError, match=fragment) as info:
        ex.analyse_experiment(units, [metric], unit=unit, **options)
    assert "\n" not in str(info.value)
    assert str(info.value)  # the check runs before the data is looked at
