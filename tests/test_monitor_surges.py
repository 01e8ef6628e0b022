"""The shipped 商品点击激增 rule over every show of the sandbox's 90 days.

The sandbox plants click surges that no explanation drives (``World.click_surges``) while every
product's explanation lifts its clicks 1.1-6x. Every show is polled once a minute, 30 s after
it went on air (as test_monitor_e2e replays), through the real live state and alert engine
(tests/helpers/alert_replay.py): the rule must fire on each planted surge within two polls of
its start and nowhere else: not while a product is explained, not on the ordinary ups and
downs of a product that is not.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from livekit.monitor.rules import Rule, load_rules
from livekit.sandbox.world import Session, World
from tests.helpers.alert_replay import (
    STEP_S,
    Firing,
    check_rows,
    poll_times,
    replay_show,
    replay_world,
)
from tests.helpers.sandbox import TODAY

RULES = Path(__file__).resolve().parents[1] / "params" / "alerts.yaml"
SURGE = "商品点击激增"


@pytest.fixture(scope="module")
def world() -> World:
    return World(7, TODAY, 90, 1.0)


def shipped(*names: str) -> list[Rule]:
    return [r for r in load_rules(RULES).enabled if r.name in names]


@pytest.fixture(scope="module")
def firings(world: World) -> dict[int, list[Firing]]:
    return replay_world(world, shipped(SURGE))


def test_the_replayed_product_lists_are_the_sandboxs(world: World) -> None:
    """The vectorised product lists of the replay equal the sandbox's product_list answers."""
    surge = world.click_surges()[0]
    show = world.session_by_room(surge.room_id)
    assert show is not None
    times = poll_times(show)
    around = (times - show.start_ts) // 60
    check_rows(world, show, times[(around >= surge.start_minute - 3) & (around < surge.end_minute)])
    check_rows(world, show, times[::17])
    quiet = world.sessions_on(TODAY - timedelta(days=4))[0]
    check_rows(world, quiet, poll_times(quiet)[::23])


@pytest.mark.slow
def test_fires_on_every_planted_surge_within_two_polls(
    world: World, firings: dict[int, list[Firing]]
) -> None:
    surges = world.click_surges()
    assert len(surges) == 6
    for surge in surges:
        show = world.session_by_room(surge.room_id)
        assert show is not None
        fired = [f for f in firings[surge.room_id] if f.rule == SURGE]
        assert [f.product_id for f in fired] == [surge.product_id], (surge, fired)
        delay = fired[0].at.timestamp() - (show.start_ts + 60 * surge.start_minute)
        assert 0 <= delay <= 2 * STEP_S, (surge, fired[0])


@pytest.mark.slow
def test_quiet_on_explanations_and_everywhere_else(
    world: World, firings: dict[int, list[Firing]]
) -> None:
    surge_rooms = {s.room_id for s in world.click_surges()}
    shows = world.all_sessions()
    assert len(firings) == len(shows) > 200  # every show of the 90 days was replayed
    elsewhere = [
        (world.session_by_room(room), f)
        for room, fs in firings.items()
        for f in fs
        if f.rule == SURGE and room not in surge_rooms
    ]
    assert elsewhere == []


def test_without_skipping_explanations_the_same_rule_fires_on_them() -> None:
    """What ``explaining: skip`` buys: the rule as shipped but counting the explained minutes
    fires on ordinary explanations of the busiest show (双11's evening of a shop 1.6 times the
    default one, 48k visits), where the explained product draws more clicks than a surge's
    threshold; skipping them, it does not."""
    world = World(7, TODAY, 90, 1.6)
    (rule,) = shipped(SURGE)
    counting = rule.model_copy(update={"explaining": "include"})
    busiest = max(world.all_sessions(), key=lambda s: len(s.visits))
    fired = replay_show(world, busiest, [counting])
    on_explanations = [f for f in fired if explained_at(world, busiest, f)]
    assert len(on_explanations) >= 3, [(f.product_id, f.minute) for f in fired]
    assert replay_show(world, busiest, [rule]) == []


def explained_at(world: World, s: Session, f: Firing) -> bool:
    """Whether the product was being explained at the poll that fired or one minute before."""
    ids = [world.products[int(p)].product_id for p in s.lineup]
    pos = ids.index(f.product_id if f.product_id is not None else -1)
    sec = f.at.timestamp() - s.start_ts
    for t in (sec, sec - STEP_S):
        started = s.segment_start_s <= t
        if started.any() and int(s.segment_product[started][-1]) == pos:
            return True
    return False
