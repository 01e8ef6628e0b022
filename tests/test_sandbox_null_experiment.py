"""The sandbox's null experiment (issue 13): a viewer-randomized test on the main account, 24..11
days back, whose arms come from a hash of their own and change nothing; and the pre-period the
truth publishes for CUPED."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest, chi2_contingency

from livekit.ingest.plan import needs_fetch, partition_meta, schema_tag
from livekit.sandbox import export
from livekit.sandbox import world as w
from livekit.sandbox.truth import truth as world_truth
from livekit.source import open_source
from livekit.store import Store
from livekit.store.datasets import VIEWERS
from tests.helpers.sandbox import NOW, TODAY

SEED, SCALE = 7, 0.3


def _days(window: tuple[int, int]) -> list[date]:
    hi, lo = window
    return [TODAY - timedelta(days=k) for k in range(hi, lo - 1, -1)]


@pytest.fixture(scope="module")
def world() -> w.World:
    return w.World(SEED, TODAY, scale=SCALE)


@pytest.fixture(scope="module")
def null_visits(world: w.World) -> tuple[np.ndarray, np.ndarray]:
    """(viewer, variant) of every main-account visit in the null window."""
    sessions = [
        s
        for d in _days(w.NULL_EXPERIMENT_DAYS)
        for s in world.account_sessions(world.accounts[0], d)
    ]
    assert len(sessions) >= 14
    viewer = np.concatenate([s.visits.viewer for s in sessions])
    variant = np.concatenate([s.visits.variant for s in sessions])
    return viewer, variant


def test_truth_publishes_the_null_experiment_and_the_pre_periods() -> None:
    t = world_truth(w.World(SEED, TODAY, scale=0.05))
    nx, vx = t["null_experiment"], t["viewer_experiment"]
    assert (nx["start_date"], nx["end_date"]) == ("2026-11-04", "2026-11-17")  # today-24..-11
    assert nx["unit"] == "viewer"
    assert nx["aweme_id"] == vx["aweme_id"] == t["aweme_ids"][0]
    assert (nx["arms"], nx["planned_split"], nx["variant_column"]) == (
        ["A", "B"],
        [0.5, 0.5],
        "variant",
    )
    assert {m: x["expected_lift"] for m, x in nx["metrics"].items()} == dict.fromkeys(
        ("conversion", "click", "watch_seconds", "gmv_per_viewer", "visits"), 0.0
    )
    # every earlier day of the 90-day history is the pre-period
    assert vx["pre_period"] == {"start_date": "2026-08-30", "end_date": "2026-10-18"}
    assert vx["start_date"] == "2026-10-19"
    assert nx["pre_period"] == {"start_date": "2026-08-30", "end_date": "2026-11-03"}
    # a history that starts after the experiment did has no pre-period (and says so)
    short = world_truth(w.World(SEED, TODAY, 30, 0.05))  # from 2026-10-29
    assert short["viewer_experiment"]["pre_period"] is None
    assert short["null_experiment"]["pre_period"] == {
        "start_date": "2026-10-29",
        "end_date": "2026-11-03",
    }
    assert world_truth(w.World(SEED, TODAY, 20, 0.05))["null_experiment"]["pre_period"] is None


def test_null_arms_are_balanced_per_viewer_and_independent_of_the_planted_arms(
    world: w.World, null_visits: tuple[np.ndarray, np.ndarray]
) -> None:
    viewer, variant = null_visits
    assert set(np.unique(variant).tolist()) == {0, 1}
    # one arm per viewer: the hash of the viewer id
    assert np.array_equal(variant, world.null_variant_of(viewer))
    uniq = np.unique(viewer)
    arm = world.null_variant_of(uniq)
    assert uniq.size > 10_000
    assert binomtest(int(arm.sum()), uniq.size, 0.5).pvalue > 0.001
    # the planted experiment's arms of the same viewers: no association (2x2 chi-square) and
    # agreement near one half (the same salt would give 1, the complement 0)
    planted = world.variant_of(uniq)
    table = np.array([[np.sum((planted == i) & (arm == j)) for j in (0, 1)] for i in (0, 1)])
    assert chi2_contingency(table, correction=False).pvalue > 0.001
    assert abs(float(np.mean(planted == arm)) - 0.5) < 0.02


def test_only_the_main_account_in_the_window_has_null_arms(world: w.World) -> None:
    for d in (
        *_days(w.NULL_EXPERIMENT_DAYS)[:2],
        TODAY - timedelta(days=10),
        TODAY - timedelta(days=25),
    ):
        inside = world.in_null_experiment(d)
        for acc in world.accounts:
            for s in world.account_sessions(acc, d):
                has_arms = bool((s.visits.variant >= 0).all())
                assert has_arms == (inside and acc.index == 0), (d, acc.index)
                if not has_arms:
                    assert (s.visits.variant == -1).all()


def test_the_viewer_export_carries_the_null_arms(world: w.World) -> None:
    d = TODAY - timedelta(days=20)
    cols = export.viewer_columns(world, d, d, NOW.timestamp())
    main = world.accounts[0]
    sessions = world.sessions_on(d)
    rooms = {s.room_id: s for s in sessions}
    frame = pl.DataFrame({"room_id": cols["room_id"], "variant": cols["variant"]})
    for room_id, s in rooms.items():
        got = Counter(frame.filter(pl.col("room_id") == room_id)["variant"].to_list())
        want: Counter[str | None] = Counter({None: len(s.visits)})
        if s.account.index == main.index:
            want = Counter("AB"[x] for x in world.null_variant_of(s.visits.viewer).tolist())
        assert got == want, room_id
    assert any(s.account.index == main.index for s in sessions)


def _same_visits(a: w.Visits, b: w.Visits, skip: tuple[str, ...]) -> list[str]:
    """The Visits fields (but ``skip``) whose arrays differ."""
    return [
        f.name
        for f in dataclasses.fields(w.Visits)
        if f.name not in skip
        and not np.array_equal(getattr(a, f.name), getattr(b, f.name), equal_nan=True)
    ]


def _without(monkeypatch: pytest.MonkeyPatch, method: str, d: date) -> tuple[w.Session, w.Session]:
    """The main account's first session of ``d`` as simulated, and as simulated in a world where
    ``World.<method>`` says no experiment runs that day."""
    world = w.World(SEED, TODAY, scale=SCALE)
    with_exp = world.account_sessions(world.accounts[0], d)[0]
    with monkeypatch.context() as m:
        m.setattr(w.World, method, lambda self, day: False)
        bare = w.World(SEED, TODAY, scale=SCALE)
        without = bare.account_sessions(bare.accounts[0], d)[0]
    return with_exp, without


def test_the_null_experiment_changes_nothing_but_the_arms(monkeypatch: pytest.MonkeyPatch) -> None:
    d = TODAY - timedelta(days=18)
    s, bare = _without(monkeypatch, "in_null_experiment", d)
    assert (s.visits.variant >= 0).all()
    assert (bare.visits.variant == -1).all()
    # P(pay), P(click), dwell, clicks, payments, orders: every array but the arms is the same
    assert _same_visits(s.visits, bare.visits, skip=("variant",)) == []
    assert [o.order_id for o in s.orders] == [o.order_id for o in bare.orders]
    assert [o.amount_fen for o in s.orders] == [o.amount_fen for o in bare.orders]


def test_the_planted_experiment_changes_p_pay_in_arm_b(monkeypatch: pytest.MonkeyPatch) -> None:
    # the same comparison finds the planted lift: the check above can fail
    d = TODAY - timedelta(days=30)
    s, bare = _without(monkeypatch, "in_viewer_experiment", d)
    b = s.visits.variant == 1
    assert "p_pay" in _same_visits(s.visits, bare.visits, skip=("variant",))
    ratio = s.visits.p_pay[b] / bare.visits.p_pay[b]
    capped = bare.visits.p_pay[b] * (1 + w.VIEWER_EXPERIMENT_LIFT) > 0.95
    assert np.allclose(ratio[~capped], 1 + w.VIEWER_EXPERIMENT_LIFT)
    assert np.array_equal(s.visits.p_pay[~b], bare.visits.p_pay[~b])


def test_viewer_days_synced_before_the_null_arms_are_fetched_again(tmp_path: Path) -> None:
    # a sandbox sync's viewer partition written before the revision: stale for the sync's plan
    # and for a sandbox kit's coverage (so its prepare fetches it again); a hand import, which
    # carries no schema tag, stays complete
    d = TODAY - timedelta(days=20)
    later = NOW + timedelta(days=30)
    before = dataclasses.replace(VIEWERS, revision=0)
    assert schema_tag(before) != schema_tag(VIEWERS)
    meta = partition_meta(before, d, later)
    assert meta["final"] == "true"
    assert needs_fetch(VIEWERS, d, meta, later, refresh=False)
    assert not needs_fetch(VIEWERS, d, partition_meta(VIEWERS, d, later), later, refresh=False)
    empty = pl.DataFrame(schema=dict(VIEWERS.schema))
    kit = open_source("sandbox", home=tmp_path)
    store = Store(tmp_path / "sandbox" / "store")
    store.write_partition("viewers", d, empty, VIEWERS.schema, meta)
    assert kit.coverage(d, d, datasets=("viewers",), now=later).stale == {"viewers": (d,)}
    store.write_partition("viewers", d, empty, VIEWERS.schema, {})
    assert kit.coverage(d, d, datasets=("viewers",), now=later).complete
