"""The experiment status page (livekit.pages.ab_status) on the sandbox: its planted viewer
experiment (P(pay) x 1.15 in arm B, 40..27 days ago) reads decided, its first days running,
its null experiment (24..11 days ago, no effect) never decided; every sentence states the
analysis's numbers; parameter mistakes are one Chinese line before any data is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import livekit
from livekit.analysis.experiment_status import status_frame
from livekit.pages import ab_status
from livekit.source import Kit
from livekit.vocab.errors import LivekitError
from livekit.vocab.units import format_percent
from tests.helpers.reports import TEST_HOME


@pytest.fixture(scope="module")
def kit() -> Kit:
    """The sandbox kit the report tests share (synced once; build fills what is missing)."""
    return livekit.open("sandbox", home=TEST_HOME)


@pytest.fixture(scope="module")
def decided(kit: Kit) -> ab_status.AbStatusPage:
    return ab_status.build(kit, name="讲解话术 **B** <方案>")  # the defaults: the planted test


@pytest.fixture(scope="module")
def null(kit: Kit) -> ab_status.AbStatusPage:
    return ab_status.build(
        kit,
        experiment_start="24_days_ago",
        experiment_end="11_days_ago",
        metrics=["conversion", "click", "watch_seconds", "gmv_per_viewer", "visits"],
    )


def test_the_planted_experiment_is_decided(decided: ab_status.AbStatusPage) -> None:
    st = decided.status
    assert (st.status, st.direction, st.primary) == ("decided", "up", "conversion")
    assert decided.report.sequential  # the analysis ran the always-valid comparisons
    conv = st.metrics["conversion"]
    assert conv.lift_ci[0] > 0  # its sequential interval excludes 0 ...
    assert conv.lift_ci[0] < 0.15 < conv.lift_ci[1]  # ... and covers the planted +15 %
    assert st.days == 14
    assert decided.days == 14
    # watch time is not touched by the planted effect: never decided; futile exactly when its
    # sequential interval lies inside ±mde (5 %), else still running
    watch = st.metrics["watch_seconds"]
    inside = watch.lift_ci[0] > -0.05 and watch.lift_ci[1] < 0.05
    assert watch.status == ("futile" if inside else "running")
    assert st.decision == "decided-up"


def test_every_sentence_states_the_numbers(decided: ab_status.AbStatusPage) -> None:
    overview = decided.overview().markdown
    assert "已有结论，可以停止" in overview
    assert "已运行 **14 天**" in overview
    # the user's experiment name is text, never markup
    assert "讲解话术 \\*\\*B\\*\\* &lt;方案&gt;" in overview
    metrics = decided.metrics().markdown
    conv = decided.status.metrics["conversion"]
    low, high = (format_percent(v, 1, signed=True) for v in conv.lift_ci)
    assert f"序贯区间 {low} ~ {high}" in metrics
    # watch time: the sentence and the table cell follow its status
    futile = decided.status.metrics["watch_seconds"].status == "futile"
    watch = "效果太小，建议停止（无效）" if futile else "每位观众观看时长（秒）：继续运行。"
    assert watch in metrics
    table = str(decided.metrics().parts[-1])
    assert "已有结论：B 组更高" in table
    assert ("效果太小（无效）" in table) is futile
    method = decided.method().markdown
    assert "任意多次" in method
    assert "N* = 5000" in method
    assert "±5%" in method


def test_each_evening_is_a_valid_look(decided: ab_status.AbStatusPage) -> None:
    path = decided.path
    assert path.height == 14
    assert path["n_a"].is_sorted()
    assert path["n_b"].is_sorted()
    # the last evening is the page's own analysis of its primary metric
    last = path.row(-1, named=True)
    c = decided.report.comparisons["conversion"]
    assert (last["n_a"], last["n_b"]) == (c.n_a, c.n_b)
    assert (last["lift_low"], last["lift_high"]) == pytest.approx(c.lift_ci)
    assert last["status"] == decided.status.metrics["conversion"].status
    # the first evenings were still running; the text names the first decided evening
    assert path["status"][0] == "running"
    first = path.filter(path["status"] == "decided")["day"][0]
    assert str(first) in decided.evenings().markdown
    chart = decided.evenings_chart().to_dict()
    assert "每天晚上看到的区间" in str(chart["title"])


def test_its_first_three_days_are_still_running(kit: Kit) -> None:
    early = ab_status.build(kit, experiment_end="38_days_ago")
    assert early.status.status == "running"
    assert early.status.decision is None
    assert "继续运行" in early.overview().markdown


def test_the_null_experiment_is_never_decided(null: ab_status.AbStatusPage) -> None:
    # no effect on anything: no metric decided, on the last evening nor on any before it
    frame = status_frame(null.status)
    assert "decided" not in frame["status"].to_list()
    assert null.status.status in ("running", "futile")
    assert null.status.decision != "decided-up"
    assert null.status.decision != "decided-down"
    assert "decided" not in null.path["status"].to_list()
    for m in null.status.metrics.values():
        assert m.lift_ci[0] < 0 < m.lift_ci[1]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"unit": "session"}, "只支持按观众随机"),
        ({"unit": "room"}, "unit 只能是"),
        ({"metrics": ["gmv_per_viewer", "nope"]}, "未知的指标：nope"),
        ({"mde": 5}, "mde"),
        ({"mde": 0}, "mde"),
        ({"correction": "bonferroni"}, "多重比较校正"),
    ],
)
def test_mistakes_are_one_chinese_line_before_reading(
    tmp_path: Path, kwargs: dict[str, Any], expected: str
) -> None:
    # a live kit without any data: a mistake must be said before anything is read
    kit = livekit.open(home=tmp_path / "home")
    with pytest.raises(LivekitError, match=expected) as err:
        ab_status.build(kit, **kwargs)
    assert "\n" not in str(err.value)


def test_a_window_without_the_experiment_says_what_to_do(kit: Kit) -> None:
    with pytest.raises(LivekitError, match="variant"):
        ab_status.build(kit, experiment_start="5_days_ago", experiment_end="3_days_ago")
