"""The contributions ledger: every relevant event says whether it counted, by how much, and
why (not)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.support.challenge_engine import (
    CLUB,
    START,
    Driver,
    at,
    challenge,
    member_event,
    points,
    receipt,
    triggers,
)

DEFINITION = challenge(
    code="mix",
    enrollment="opt_in",
    groups=[
        triggers(
            {"type": "earned_points", "target": 1000},
            {"type": "receipt_amount", "target": 1000, "operator": "AND"},
        )
    ],
)


def reasons(driver: Driver) -> dict[str, str]:
    return {key[-1]: entry.entry.reason for key, entry in driver.ledger.items()}


def test_every_relevant_event_gets_a_ledger_line_with_its_reason() -> None:
    driver = Driver([DEFINITION])
    driver.feed(
        points(10, START - timedelta(hours=1), event_id="too-early"),
        points(10, at(2), event_id="not-opted-in"),
        member_event("opted_in", at(3), challenge="mix", event_id="opt-in"),
        points(10, at(4), event_id="earned"),
        points(10, at(4), kind="expired", event_id="irrelevant"),
        receipt("r1", status="pending", when=at(5), event_id="pending"),
        receipt("r1", when=at(5), event_id="approved"),
        receipt("r1", status="refunded", when=at(6), event_id="refund"),
        member_event("opted_out", at(7), challenge="mix", event_id="opt-out"),
        points(10, at(8), event_id="after-out"),
    )
    assert reasons(driver) == {
        "too-early": "outside_window",
        "not-opted-in": "before_opt_in",
        "earned": "counted",
        "pending": "pending",
        "approved": "counted",
        "refund": "reversal",
        "after-out": "after_opt_out",
    }


def test_counted_lines_carry_their_deltas_and_the_subjects_they_count_for() -> None:
    driver = Driver([DEFINITION])
    driver.feed(
        member_event("opted_in", at(1), challenge="mix"),
        points(70, at(2), event_id="earned"),
        receipt("r1", amount="12.50", when=at(3), event_id="approved"),
    )
    earned = driver.ledger[(CLUB, "mix", 0, "m1", "earned")].entry
    assert [(d.trigger, d.amount) for d in earned.deltas] == [(1, Decimal(70))]
    assert earned.counted_for == ("m1",)
    assert earned.source == "points.earned"
    approved = driver.ledger[(CLUB, "mix", 0, "m1", "approved")].entry
    assert approved.receipt_id == "r1"
    assert approved.source == "receipts.approved"
    assert [(d.trigger, d.amount) for d in approved.deltas] == [(2, Decimal("12.50"))]


def test_a_late_opt_in_updates_the_ledger_lines_it_changes() -> None:
    driver = Driver([DEFINITION])
    driver.feed(points(10, at(4), event_id="earned"))
    assert reasons(driver)["earned"] == "before_opt_in"
    driver.feed(member_event("opted_in", at(3), challenge="mix"))
    assert reasons(driver)["earned"] == "counted"
    assert driver.last is not None
    assert [e.entry.event_id for e in driver.last.ledger] == ["earned"]


def test_a_refund_of_an_uncounted_receipt_subtracts_nothing() -> None:
    driver = Driver([DEFINITION])
    driver.feed(
        receipt("r1", when=at(2), event_id="approved"),  # before opt-in
        member_event("opted_in", at(3), challenge="mix"),
        receipt("r1", status="refunded", when=at(4), event_id="refund"),
    )
    assert reasons(driver) == {"approved": "before_opt_in", "refund": "refunded"}
    assert driver.ledger[(CLUB, "mix", 0, "m1", "approved")].entry.reversed_by == "refund"
    # and a later opt-in covering the purchase does not bring a refunded receipt back
    driver.feed(member_event("opted_in", at(1), challenge="mix"))
    row = driver.row(code="mix")
    assert row is None or not row.tallies
