"""Trigger groups joined by AND/OR, left to right; completion on exactly the deciding event."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges import action_left, progress_percent
from loyalty_progress.engine.challenges.expression import challenge_satisfied, combine
from tests.support.challenge_engine import Driver, at, challenge, points, receipt, triggers


def two_groups() -> ChallengeDefinition:
    """(earned_points >= 500 AND receipt_count >= 3) OR distinct_stores >= 5."""
    return challenge(
        groups=[
            triggers(
                {"type": "earned_points", "target": 500},
                {"type": "receipt_count", "target": 3, "operator": "AND"},
            ),
            {"operator": "OR", "triggers": [{"id": 3, "type": "distinct_stores", "target": 5}]},
        ]
    )


def _completed_by(driver: Driver) -> str | None:
    row = driver.row()
    return row.completed.event_id if row and row.completed else None


def test_points_then_the_third_receipt_completes_the_first_group() -> None:
    driver = Driver([two_groups()])
    driver.feed(points(500, at(2)), receipt("r1", when=at(3)), receipt("r2", when=at(4)))
    assert _completed_by(driver) is None
    driver.feed(receipt("r3", when=at(5), event_id="deciding"))
    assert _completed_by(driver) == "deciding"
    assert driver.types() == ["challenge_completed", "reward_issued"]


def test_receipts_then_the_points_crossing_500_complete_the_first_group() -> None:
    driver = Driver([two_groups()])
    driver.feed(*(receipt(f"r{i}", when=at(2 + i)) for i in range(3)), points(499, at(6)))
    assert _completed_by(driver) is None
    driver.feed(points(1, at(7), event_id="deciding"))
    assert _completed_by(driver) == "deciding"


def test_the_fifth_distinct_store_completes_through_the_second_group() -> None:
    driver = Driver([two_groups()])
    # Two receipts and no points: the first group stays false.
    driver.feed(*(receipt(f"r{i}", when=at(2 + i), store=f"s{i}") for i in range(4)))
    driver.feed(receipt("again", when=at(8), store="s0"))  # a store already counted
    assert _completed_by(driver) is None
    driver.feed(receipt("r5", when=at(9), store="s5", event_id="deciding"))
    assert _completed_by(driver) == "deciding"
    assert len(driver.rewards) == 1


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([("AND", True), ("AND", True), ("OR", False)], True),
        ([("AND", False), ("AND", True), ("OR", True)], True),  # (F and T) or T
        ([("AND", True), ("OR", True), ("AND", False)], False),  # (T or T) and F
        ([("OR", False)], False),  # the first operator is ignored
        ([("AND", False), ("OR", True)], True),
    ],
)
def test_operators_combine_strictly_left_to_right(
    items: list[tuple[str, bool]], expected: bool
) -> None:
    assert combine(items) is expected  # type: ignore[arg-type]


def test_a_or_b_and_c_means_a_or_b_then_and_c() -> None:
    definition = challenge(
        groups=[
            triggers(
                {"type": "earned_points", "target": 1},
                {"type": "redeemed_points", "target": 1, "operator": "OR"},
                {"type": "receipt_count", "target": 1, "operator": "AND"},
            )
        ]
    )
    only_a = {1: Decimal(1), 2: Decimal(0), 3: Decimal(0)}
    a_and_c = {1: Decimal(1), 2: Decimal(0), 3: Decimal(1)}
    assert not challenge_satisfied(definition, only_a)
    assert challenge_satisfied(definition, a_and_c)


@pytest.mark.parametrize(
    ("target", "value", "left", "percent"),
    [
        (1000, 0, 0 + 1000, 0),
        (1000, 200, 800, 20),
        (1000, 999, 1, 99),
        (1000, 1500, 0, 100),
        (3, 1, 2, 33),
        (3, 2, 1, 66),
    ],
)
def test_action_left_and_progress_follow_seed_001(
    target: int, value: int, left: int, percent: int
) -> None:
    assert action_left(Decimal(target), Decimal(value)) == left
    assert progress_percent(Decimal(target), Decimal(value)) == percent
