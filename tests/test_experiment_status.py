"""The evening status of an experiment (livekit.analysis.experiment_status): decided, futile,
running, srm, error — on hand-built comparisons (each rule on its own, the multiplicity
correction, the primary metric) and on what compare_proportions / compare_means(sequential=True)
and analyse_experiment return."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from livekit.analysis import experiment as ex
from livekit.analysis.abtest import Comparison, compare_means, compare_proportions
from livekit.analysis.experiment_status import (
    ExperimentStatus,
    check_mde,
    experiment_status,
    metric_status,
    status_frame,
    status_of_comparisons,
)
from livekit.vocab.errors import LivekitError
from tests.helpers.experiments import proportion_units

NAN = float("nan")


def comparison(
    lift: float, low: float, high: float, p: float, *, n: int = 5000, base: float = 0.05
) -> Comparison:
    """A comparison as a sequential analysis would return it (numbers chosen by hand)."""
    return Comparison(
        method="hand-built; sequential",
        n_a=n,
        n_b=n + 7,
        mean_a=base,
        mean_b=base * (1 + lift),
        diff=base * lift,
        diff_ci=(base * low, base * high),
        lift=lift,
        lift_ci=(low, high),
        p_value=p,
        alpha=0.05,
    )


# ---- one metric ---------------------------------------------------------------------------
def test_decided_up_and_down_follow_the_corrected_p_value() -> None:
    up = metric_status("conversion", comparison(0.12, 0.04, 0.20, 0.001), 0.002)
    assert (up.status, up.direction, up.within_mde) == ("decided", "up", False)
    assert (up.n_a, up.n_b, up.lift_ci) == (5000, 5007, (0.04, 0.20))
    down = metric_status("conversion", comparison(-0.12, -0.20, -0.04, 0.001), 0.002)
    assert (down.status, down.direction) == ("decided", "down")
    # the same comparison whose corrected p-value is not below alpha is not decided
    held = metric_status("conversion", comparison(0.12, 0.04, 0.20, 0.001), 0.06)
    assert (held.status, held.direction) == ("running", None)


def test_futile_when_the_whole_interval_is_inside_the_mde_band() -> None:
    c = comparison(0.005, -0.03, 0.04, 0.7)
    assert metric_status("watch_seconds", c, 0.7, mde=0.05).status == "futile"
    assert metric_status("watch_seconds", c, 0.7, mde=0.05).within_mde
    # a smaller minimum effect: the interval's upper end 4% is not below 3%, keep running
    assert metric_status("watch_seconds", c, 0.7, mde=0.03).status == "running"
    # the band is open: an interval touching +mde is not inside it
    edge = comparison(0.0, -0.02, 0.05, 0.9)
    assert metric_status("watch_seconds", edge, 0.9, mde=0.05).status == "running"


def test_running_srm_and_error() -> None:
    wide = comparison(0.03, -0.08, 0.14, 0.5)
    assert metric_status("conversion", wide, 0.5).status == "running"
    srm = metric_status("conversion", comparison(0.12, 0.04, 0.2, 0.001), 0.001, srm_warning=True)
    assert (srm.status, srm.direction) == ("srm", None)
    broken = comparison(NAN, NAN, NAN, NAN)
    assert metric_status("conversion", broken, None).status == "error"


def test_decided_but_smaller_than_the_mde_is_still_decided() -> None:
    small = metric_status("click", comparison(0.02, 0.01, 0.03, 0.0001), 0.0001, mde=0.05)
    assert (small.status, small.direction, small.within_mde) == ("decided", "up", True)


# ---- several metrics ----------------------------------------------------------------------
def test_holm_over_the_metrics_can_withhold_a_decision() -> None:
    # each interval excludes 0 on its own (p 0.03 and 0.04) but Holm over two metrics gives
    # 0.06 and 0.06: neither is decided; one metric alone would be
    cs = {
        "conversion": comparison(0.15, 0.01, 0.29, 0.03),
        "click": comparison(0.10, 0.005, 0.195, 0.04),
    }
    both = status_of_comparisons(cs, correction="holm")
    assert [m.adjusted_p for m in both.metrics.values()] == pytest.approx([0.06, 0.06])
    assert [m.status for m in both.metrics.values()] == ["running", "running"]
    alone = status_of_comparisons({"conversion": cs["conversion"]})
    assert alone.status == "decided"
    # Benjamini-Hochberg is less strict: 0.04 and 0.04, both decided
    bh = status_of_comparisons(cs, correction="bh")
    assert [m.status for m in bh.metrics.values()] == ["decided", "decided"]


def test_the_primary_metric_sets_the_experiment_status() -> None:
    cs = {
        "conversion": comparison(0.15, 0.06, 0.24, 0.0001),
        "watch_seconds": comparison(-0.08, -0.12, -0.04, 0.0001),
        "visits": comparison(0.0, -0.02, 0.02, 1.0),
    }
    s = status_of_comparisons(cs, days=9)
    assert (s.status, s.direction, s.primary, s.decision) == (
        "decided",
        "up",
        "conversion",
        "decided-up",
    )
    assert s.harmed == ("watch_seconds",)  # a guardrail B made worse, named for the page
    assert s.metrics["visits"].status == "futile"
    assert (s.days, s.observed) == (9, (5000, 5007))
    # the same metrics with a futile primary: the experiment is futile, whatever the others do
    futile = status_of_comparisons({"visits": cs["visits"], "conversion": cs["conversion"]})
    assert (futile.status, futile.decision) == ("futile", "futile")
    running = status_of_comparisons({"conversion": comparison(0.03, -0.08, 0.14, 0.5)})
    assert (running.status, running.decision) == ("running", None)
    srm = status_of_comparisons(cs, srm_warning=True)
    assert (srm.status, srm.decision, srm.harmed) == ("srm", None, ())


def test_status_frame_lays_out_every_metric() -> None:
    s = status_of_comparisons(
        {
            "conversion": comparison(0.15, 0.06, 0.24, 0.0001),
            "gmv_per_viewer": comparison(NAN, NAN, NAN, NAN),
        }
    )
    frame = status_frame(s)
    assert frame["metric"].to_list() == ["conversion", "gmv_per_viewer"]
    assert frame["status"].to_list() == ["decided", "error"]
    assert frame["direction"].to_list() == ["up", None]
    assert frame["adjusted_p"].to_list()[1] is None
    assert frame.row(0, named=True)["lift_low"] == 0.06


# ---- the real comparisons ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x_a", "x_b", "n"),
    [(500, 560, 10000), (500, 620, 10000), (500, 400, 10000), (1000, 1010, 20000), (80, 130, 2000)],
)
def test_decided_exactly_when_the_sequential_interval_excludes_zero(
    x_a: int, x_b: int, n: int
) -> None:
    c = compare_proportions(x_a, n, x_b, n, sequential=True, sequential_tuning=5000)
    s = status_of_comparisons({"conversion": c})
    excludes = c.lift_ci[0] > 0 or c.lift_ci[1] < 0
    assert (s.status == "decided") is excludes
    if excludes:
        assert s.direction == ("up" if x_b > x_a else "down")


def test_planted_lift_decided_where_the_fixed_test_would_have_been_too_early() -> None:
    # 4% → 4.6% (+15%) over 6000 viewers per arm: fixed-horizon significant (p < 0.05), the
    # always-valid interval not yet (it pays for every look); over 40000 per arm both agree
    fixed = compare_proportions(240, 6000, 286, 6000)
    early = compare_proportions(240, 6000, 286, 6000, sequential=True)
    assert fixed.p_value < 0.05
    assert status_of_comparisons({"conversion": early}).status == "running"
    late = compare_proportions(1600, 40000, 1880, 40000, sequential=True)
    s = status_of_comparisons({"conversion": late})
    assert (s.status, s.direction) == ("decided", "up")


def test_no_effect_on_many_units_is_futile() -> None:
    rng = np.random.default_rng(20261205)
    a = rng.gamma(2.0, 60.0, 100_000)
    b = rng.gamma(2.0, 60.0, 100_000)
    c = compare_means(a, b, sequential=True)
    s = status_of_comparisons({"watch_seconds": c}, mde=0.05)
    assert s.status == "futile"
    assert -0.05 < c.lift_ci[0] < c.lift_ci[1] < 0.05
    # a tenth of the data: the interval is too wide to call futility
    c_small = compare_means(a[:2000], b[:2000], sequential=True)
    assert status_of_comparisons({"watch_seconds": c_small}, mde=0.05).status == "running"


def _report(**extra: Any) -> Any:
    units = proportion_units(1600, 40000, 1880, 40000)
    kwargs: dict[str, Any] = {"unit": "viewer"}
    try:
        return ex.analyse_experiment(
            units, ["conversion", "watch_seconds"], sequential=True, **kwargs, **extra
        )
    except TypeError:  # analyse_experiment without the sequential keyword (older build)
        pytest.skip("analyse_experiment(sequential=True) is not available yet")


def test_experiment_status_of_a_sequential_report() -> None:
    report = _report()
    s = experiment_status(report, mde=0.05, days=14)
    assert isinstance(s, ExperimentStatus)
    assert (s.status, s.direction, s.primary) == ("decided", "up", "conversion")
    assert s.metrics["conversion"].adjusted_p == report.adjusted["conversion"]
    assert s.observed == report.observed == (40000, 40000)
    c = report.comparisons["conversion"]
    assert "sequential" in c.method  # the report's comparisons are the always-valid ones
    # watch_seconds is the same in both arms by construction (60 + i % 7): nothing to test
    assert s.metrics["watch_seconds"].status in ("error", "futile", "running")


def test_a_fixed_horizon_report_is_refused() -> None:
    fixed = SimpleNamespace(sequential=False)
    with pytest.raises(LivekitError, match="序贯检验"):
        experiment_status(fixed)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [5, 0, -0.1, True, "0.05", math.inf, NAN])
def test_mde_must_be_a_fraction(bad: object) -> None:
    with pytest.raises(LivekitError, match="mde"):
        check_mde(bad)
    assert check_mde(0.05) == 0.05
