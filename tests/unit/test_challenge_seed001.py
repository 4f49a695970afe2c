"""Seed 001's worked example, "Earn 1000 Points", as the acceptance test of
docs/counter-challenges.md."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import msgspec

from loyalty_progress.engine.challenges import Progress, progress_view
from tests.support.challenge_engine import CLUB, Driver, at, challenge, points


def _trigger(driver: Driver) -> tuple[Decimal, int]:
    view = progress_view(driver.definitions[0], driver.row())
    trigger = view.groups[0].triggers[0]
    return trigger.action_left, trigger.progress


def test_earn_1000_points_walks_800_500_0_left_then_completes_and_rewards_once() -> None:
    driver = Driver([challenge()])
    assert _trigger(driver) == (Decimal(1000), 0)

    driver.feed(points(200, at(2)))
    assert _trigger(driver) == (Decimal(800), 20)
    driver.feed(points(300, at(3)))
    assert _trigger(driver) == (Decimal(500), 50)
    assert driver.notifications == []

    last = points(500, at(4), event_id="p-last")
    driver.feed(last)
    assert _trigger(driver) == (Decimal(0), 100)
    assert driver.types() == ["challenge_completed", "reward_issued"]
    assert all(n.caused_by == ("p-last",) for n in driver.notifications)
    [reward] = driver.rewards
    assert reward.prize.type == "voucher"
    assert reward.prize.value == "BURGER40"
    assert reward.prize.description == "40% off Buffalo Burger"
    assert reward.reason == "earn-1000/completed"
    assert reward.expires_at == driver.now + timedelta(days=30)
    row = driver.row()
    assert row is not None
    assert row.completed is not None
    assert row.completed.event_id == "p-last"
    assert driver.completions == {(CLUB, "earn-1000", 0): 1}


def test_reapplying_the_completing_event_or_another_one_issues_nothing_more() -> None:
    driver = Driver([challenge()])
    last = points(500, at(4), event_id="p-last")
    driver.feed(points(200, at(2)), points(300, at(3)), last, last)  # a repeat counts once
    assert len(driver.rewards) == 1
    row = driver.row()
    assert row is not None
    assert row.tallies["m1"].sums == {1: Decimal(1000)}

    # Across batches the dedupe layer keeps repeats out (a batch reads a participation's
    # earlier entries only to change them); a completion is issued once whatever comes.
    repeat = driver.feed(last)
    assert (repeat.notifications, repeat.rewards) == ([], [])

    later = driver.feed(points(250, at(5)))  # a distinct event after completion
    assert (later.notifications, later.rewards) == ([], [])
    assert driver.types() == ["challenge_completed", "reward_issued"]
    assert driver.completions == {(CLUB, "earn-1000", 0): 1}


def test_reward_and_notification_ids_are_the_same_in_every_replay() -> None:
    events = [points(200, at(2)), points(300, at(3)), points(500, at(4))]
    first, second = Driver([challenge()]), Driver([challenge()])
    first.feed(*events)
    for event in events:
        second.feed(event)
    assert [r.reward_id for r in first.rewards] == [r.reward_id for r in second.rewards]
    assert [n.notification_id for n in first.notifications] == [
        n.notification_id for n in second.notifications
    ]
    assert first.rewards[0].reward_id != first.notifications[-1].notification_id


def test_progress_rows_round_trip_through_json() -> None:
    driver = Driver([challenge()])
    driver.feed(points(200, at(2)), points(900, at(3)))
    row = driver.row()
    assert row is not None
    assert msgspec.json.decode(msgspec.json.encode(row), type=Progress) == row
