"""Switchback refinements (issue 13, point 4): the washout after each switch and the carryover
check (does the previous show's arm predict this show's outcome?)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm

from livekit.analysis import experiment as ex
from livekit.analysis.abtest import compare_sessions
from livekit.vocab.errors import LivekitError

TZ = ZoneInfo("Asia/Shanghai")
DAY0 = datetime(2026, 10, 1, 20, 0, tzinfo=TZ)


def _rooms(shows: list[tuple[int, int, int]]) -> pl.DataFrame:
    """Rooms rows: (room_id, aweme_id, day offset of a 20:00 start)."""
    return pl.DataFrame(
        {
            "room_id": [r for r, _, _ in shows],
            "aweme_id": [a for _, a, _ in shows],
            "start_time": [DAY0 + timedelta(days=d) for _, _, d in shows],
        },
        schema={
            "room_id": pl.Int64,
            "aweme_id": pl.Int64,
            "start_time": pl.Datetime("us", "Asia/Shanghai"),
        },
    )


def _arms(arms: Mapping[int, str]) -> pl.DataFrame:
    return ex.arms_frame({k: v for k, v in arms.items()})  # keys widened to str | int


# ---- switches ------------------------------------------------------------------------------------
def test_switches_per_account_in_start_order() -> None:
    # room ids out of start order, two accounts, one room without an arm (left out)
    rooms = _rooms([(30, 1, 0), (10, 1, 1), (20, 1, 2), (40, 2, 0), (50, 2, 1), (60, 1, 3)])
    arms = _arms({30: "A", 10: "B", 20: "B", 40: "B", 50: "A"})
    got = ex.switches(rooms, arms).select("room_id", "arm", "prev_arm", "switched").to_dicts()
    assert got == [
        {"room_id": 30, "arm": "A", "prev_arm": None, "switched": False},
        {"room_id": 10, "arm": "B", "prev_arm": "A", "switched": True},
        {"room_id": 20, "arm": "B", "prev_arm": "B", "switched": False},
        {"room_id": 40, "arm": "B", "prev_arm": None, "switched": False},
        {"room_id": 50, "arm": "A", "prev_arm": "B", "switched": True},
    ]


def test_switches_missing_column() -> None:
    with pytest.raises(LivekitError, match="直播场次数据缺少列：aweme_id"):
        ex.switches(_rooms([(1, 1, 0)]).drop("aweme_id"), _arms({1: "A"}))


# ---- washout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [-1, 1.5, True, "5", None])
def test_washout_must_be_a_non_negative_int(bad: object) -> None:
    with pytest.raises(LivekitError, match="washout_minutes") as err:
        ex.check_washout(bad)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(err.value))
    rooms = _rooms([(1, 1, 0)])
    with pytest.raises(LivekitError, match="washout_minutes"):
        ex.session_visits(_visits([(1, 0)]), rooms, _arms({1: "A"}), washout_minutes=bad)  # type: ignore[arg-type]


def _visits(rows: list[tuple[int, float]]) -> pl.DataFrame:
    """Viewer visits: (room_id, minutes after 20:00 of the room's day) — day = room_id - 1."""
    return pl.DataFrame(
        {
            "room_id": [r for r, _ in rows],
            "viewer_id": [f"v{i}" for i in range(len(rows))],
            "enter_time": [DAY0 + timedelta(days=r - 1, minutes=m) for r, m in rows],
            "paid": [i % 2 == 0 for i in range(len(rows))],
        },
        schema_overrides={"enter_time": pl.Datetime("us", "Asia/Shanghai")},
    )


def test_washout_drops_early_visits_after_a_switch_only() -> None:
    rooms = _rooms([(1, 1, 0), (2, 1, 1), (3, 1, 2)])
    arms = _arms({1: "A", 2: "B", 3: "B"})  # room 2 follows a switch, rooms 1 and 3 do not
    visits = _visits([(1, 0), (1, 3), (2, -1), (2, 0), (2, 4.99), (2, 5), (2, 30), (3, 0), (3, 2)])
    kept = ex.session_visits(visits, rooms, arms, washout_minutes=5)
    by_room = kept.group_by("room_id").agg(pl.len()).sort("room_id").rows()
    assert by_room == [(1, 2), (2, 2), (3, 2)]
    early_left = kept.filter(pl.col("room_id") == 2)["enter_time"].to_list()
    assert early_left == [DAY0 + timedelta(days=1, minutes=5), DAY0 + timedelta(days=1, minutes=30)]
    assert set(kept.columns) == {*visits.columns, "arm", "prev_arm", "switched"}


def test_no_washout_keeps_every_visit_bit_for_bit() -> None:
    rooms = _rooms([(1, 1, 0), (2, 1, 1), (3, 1, 2)])
    arms = _arms({1: "A", 2: "B", 3: "A"})
    visits = _visits([(1, 0), (2, 0), (2, 1), (3, 0.5), (4, 0)])  # room 4 has no arm
    kept = ex.session_visits(visits, rooms, arms)
    plain = visits.join(arms.rename({"variant": "arm"}), on="room_id", how="inner")
    assert kept.select(plain.columns).equals(plain)
    a = compare_sessions(kept, numerator="paid", variant="arm")
    b = compare_sessions(plain, numerator="paid", variant="arm")
    assert repr(a) == repr(b)  # nan-safe: every field, bit for bit


def _contaminated(seed: int, minutes: int = 10) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """24 alternating-ish shows; B converts 20%, A 10%; in the first ``minutes`` after a switch
    the room converts at the previous arm's rate (its audience is still there)."""
    rng = np.random.default_rng(seed)
    arm_list = ["A" if rng.random() < 0.5 else "B" for _ in range(24)]
    rate = {"A": 0.10, "B": 0.20}
    rows: list[tuple[int, float, bool]] = []
    for i, arm in enumerate(arm_list):
        prev = arm_list[i - 1] if i else arm
        for m in rng.uniform(0, 60, 300):
            p = rate[prev] if m < minutes else rate[arm]
            rows.append((i + 1, float(m), bool(rng.random() < p)))
    rooms = _rooms([(i + 1, 7, i) for i in range(24)])
    arms = _arms({i + 1: a for i, a in enumerate(arm_list)})
    visits = pl.DataFrame(
        {
            "room_id": [r for r, _, _ in rows],
            "enter_time": [DAY0 + timedelta(days=r - 1, minutes=m) for r, m, _ in rows],
            "paid": [p for _, _, p in rows],
        },
        schema_overrides={"enter_time": pl.Datetime("us", "Asia/Shanghai")},
    )
    return visits, rooms, arms


def test_washout_removes_the_carryover_bias() -> None:
    plain_gap, washed_gap = [], []
    for seed in range(20):
        visits, rooms, arms = _contaminated(seed)
        plain = compare_sessions(
            ex.session_visits(visits, rooms, arms), numerator="paid", variant="arm"
        )
        washed = compare_sessions(
            ex.session_visits(visits, rooms, arms, washout_minutes=10),
            numerator="paid",
            variant="arm",
        )
        plain_gap.append(plain.diff - 0.10)
        washed_gap.append(washed.diff - 0.10)
    # without a washout the difference is pulled towards zero; with it, centred on the truth
    assert np.mean(plain_gap) < -0.005
    assert abs(np.mean(washed_gap)) < 0.004
    assert abs(np.mean(washed_gap)) < abs(np.mean(plain_gap)) / 3


# ---- carryover -----------------------------------------------------------------------------------
def _shows(y: list[float], arm: list[str]) -> pl.DataFrame:
    n = len(y)
    rooms = _rooms([(i + 1, 1, i) for i in range(n)])
    return rooms.join(
        _arms({i + 1: a for i, a in enumerate(arm)}).rename({"variant": "arm"}), on="room_id"
    ).with_columns(y=pl.Series(y))


def test_carryover_matches_statsmodels() -> None:
    arm = list("ABBABAABBBAABABA")
    y = [3.1, 4.0, 5.2, 2.7, 4.4, 3.9, 2.2, 4.8, 5.5, 4.9, 3.6, 2.4, 4.1, 3.3, 4.6, 3.8]
    got = ex.carryover(_shows(y, arm), "y")
    x = np.column_stack(
        [np.ones(15), [a == "B" for a in arm[1:]], [a == "B" for a in arm[:-1]]]
    ).astype(float)
    ref = sm.OLS(np.array(y[1:]), x).fit(cov_type="HC3", use_t=True)
    assert got.n == 15
    assert got.coef == pytest.approx(ref.params[2], rel=1e-12)
    assert got.p_value == pytest.approx(ref.pvalues[2], rel=1e-12)
    assert got.ci == pytest.approx(tuple(ref.conf_int(alpha=0.05)[2]), rel=1e-12)
    assert got.warning == (ref.pvalues[2] < 0.05)
    # the previous arm is derived from the account's start order unless given
    explicit = ex.switches(_shows(y, arm), _arms(dict(enumerate(arm, 1)))).join(
        _shows(y, arm).select("room_id", "y"), on="room_id"
    )
    assert ex.carryover(explicit, pl.col("y")) == got


def _simulate(rng: np.random.Generator, carry: float, n: int = 24) -> pl.DataFrame:
    arm = ["A" if rng.random() < 0.5 else "B" for _ in range(n)]
    b = np.array([a == "B" for a in arm], dtype=float)
    prev = np.concatenate([[0.0], b[:-1]])
    y = 10 + 1.0 * b + carry * prev + rng.normal(0, 1, n)
    return _shows(list(y), arm)


def test_planted_carryover_fires() -> None:
    rng = np.random.default_rng(13)
    fired = [ex.carryover(_simulate(rng, carry=2.0), "y").warning for _ in range(20)]
    assert sum(fired) >= 18
    one = ex.carryover(_simulate(np.random.default_rng(1), carry=2.0, n=60), "y")
    assert one.warning
    assert one.ci[0] < 2.0 < one.ci[1]


def test_no_carryover_fires_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(2026)
    results = [ex.carryover(_simulate(rng, carry=0.0), "y") for _ in range(300)]
    rate = np.mean([r.warning for r in results])
    assert 0.02 <= rate <= 0.08, rate
    covered = np.mean([r.ci[0] <= 0.0 <= r.ci[1] for r in results])
    assert covered == pytest.approx(1 - rate)


def test_carryover_needs_enough_shows_of_both_arms() -> None:
    with pytest.raises(LivekitError, match="carryover"):
        ex.carryover(_shows([1.0, 2.0, 3.0], ["A", "B", "A"]), "y")
    with pytest.raises(LivekitError, match="carryover"):
        ex.carryover(_shows([1.0] * 8, ["A"] * 8), "y")
    with pytest.raises(LivekitError, match="alpha"):
        ex.carryover(_shows([1.0] * 8, ["A", "B"] * 4), "y", alpha=1.5)
