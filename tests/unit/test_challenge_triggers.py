"""Every trigger type counts what docs/counter-challenges.md says, inside the window, with its
filters."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from loyalty_progress.engine.challenges import counter_values
from tests.support.challenge_engine import (
    END,
    START,
    Driver,
    at,
    challenge,
    member_event,
    points,
    receipt,
    triggers,
    voucher,
)

ALL_TYPES = challenge(
    groups=[
        triggers(
            {"type": "earned_points", "target": 10_000},
            {"type": "subscribed_vouchers", "target": 10},
            {"type": "redeemed_points", "target": 10_000},
            {"type": "redeemed_vouchers", "target": 10},
            {"type": "points_balance", "target": 10_000},
            {"type": "tier", "target": 9},
            {"type": "receipt_count", "target": 10},
            {"type": "receipt_amount", "target": "10000.50"},
            {"type": "distinct_stores", "target": 10},
            {"type": "distinct_items", "target": 10},
        )
    ],
    milestones=[],
)


def values(driver: Driver) -> dict[int, Decimal]:
    row = driver.row()
    return counter_values(driver.definitions[0], row.tallies.values() if row else [])


def test_each_trigger_type_counts_its_own_events() -> None:
    driver = Driver([ALL_TYPES])
    driver.feed(
        points(100, at(2), balance=1100),
        points(50, at(3), kind="redeemed", balance=1050),
        points(7, at(3, 13), kind="expired", balance=1043),
        points(9, at(3, 14), kind="adjusted"),
        voucher("subscribed", at(4)),
        voucher("subscribed", at(4)),
        voucher("redeemed", at(5)),
        member_event("tier_changed", at(5), tier=2),
        receipt("r1", amount="10.25", when=at(6), store="s1", items=["a", "b"]),
        receipt("r2", amount="5", when=at(7), store="s2", items=["b", "c", "c"]),
        receipt("r3", amount="99", when=at(8), status="pending", store="s3", items=["d"]),
    )
    assert values(driver) == {
        1: 100,
        2: 2,
        3: 50,
        4: 1,
        5: 1043,
        6: 2,
        7: 2,
        8: Decimal("15.25"),
        9: 2,
        10: 3,
    }


def test_gauges_take_the_latest_reading_by_occurred_at_not_by_arrival() -> None:
    driver = Driver([ALL_TYPES])
    driver.feed(member_event("tier_changed", at(9), tier=4), points(1, at(9), balance=900))
    driver.feed(member_event("tier_changed", at(3), tier=7), points(1, at(3), balance=5000))
    assert values(driver)[5] == 900
    assert values(driver)[6] == 4


def test_events_outside_the_window_do_not_count_start_inclusive_end_exclusive() -> None:
    driver = Driver([ALL_TYPES])
    driver.feed(
        points(1, START),
        points(10, END),
        points(100, START - timedelta(seconds=1)),
        points(1000, START - timedelta(days=30)),  # far away: unrelated, no ledger line
    )
    assert values(driver)[1] == 1
    outside = [e for e in driver.ledger.values() if e.entry.reason == "outside_window"]
    assert sorted(e.entry.deltas[0].amount for e in outside) == [10, 100]  # type: ignore[type-var]
    assert all(e.occurrence is None for e in outside)


def test_store_filter_counts_only_receipts_from_those_stores() -> None:
    definition = challenge(
        groups=[
            triggers(
                {"type": "receipt_count", "target": 5, "store_ids": ["s1", "s2"]},
                {"type": "receipt_amount", "target": 500, "store_ids": ["s1"]},
                {"type": "distinct_stores", "target": 5, "store_ids": ["s1", "s2"]},
            )
        ],
        milestones=[],
    )
    driver = Driver([definition])
    driver.feed(
        receipt("r1", amount=10, store="s1"),
        receipt("r2", amount=20, store="s2"),
        receipt("r3", amount=40, store="s3"),
        receipt("r4", amount=80, store=None),
    )
    assert values(driver) == {1: 2, 2: 10, 3: 2}


def test_item_filter_matches_receipts_with_an_item_and_counts_only_listed_items() -> None:
    definition = challenge(
        groups=[
            triggers(
                {"type": "receipt_count", "target": 5, "items": ["burger"]},
                {"type": "receipt_amount", "target": 500, "items": ["burger", "fries"]},
                {"type": "distinct_items", "target": 5, "items": ["burger", "fries", "shake"]},
                {"type": "distinct_items", "target": 5},
            )
        ],
        milestones=[],
    )
    driver = Driver([definition])
    driver.feed(
        receipt("r1", amount=10, items=["burger", "cola"]),
        receipt("r2", amount=20, items=["fries"]),
        receipt("r3", amount=40, items=["salad"]),
    )
    assert values(driver) == {1: 1, 2: 30, 3: 2, 4: 4}


def test_distinct_items_details_list_the_items_as_string_values() -> None:
    from loyalty_progress.engine.challenges import progress_view

    definition = challenge(groups=[triggers({"type": "distinct_items", "target": 3})])
    driver = Driver([definition])
    driver.feed(receipt("r1", items=["b", "a"]), receipt("r2", items=["a", "c"]))
    view = progress_view(definition, driver.row())
    trigger = view.groups[0].triggers[0]
    assert trigger.value == 3
    assert [d.string_value for d in trigger.details] == ["a", "b", "c"]
    row = driver.row()
    assert row is not None
    assert row.completed is not None
