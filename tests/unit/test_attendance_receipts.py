"""Receipts -> attendances: approved value counts, pending shows as pending, reversals
subtract exactly what counted, and the extra period decides what is too late."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from loyalty_progress.engine.attendance import (
    MemberAttendance,
    apply_receipts,
    route,
    touched_stages,
)
from loyalty_progress.engine.receipts import apply_receipt_event
from tests.support.attendance_engine import EDITION, MEMBER, Store, receipt_event
from tests.support.attendance_seed import at


def day_values(store: Store, day: str) -> tuple[Decimal, Decimal]:
    row = store.days[date.fromisoformat(day)]
    return row.approved, row.pending


def test_pending_receipt_counts_as_pending_not_value() -> None:
    store = Store()
    store.receipt("r1", "pending", "60", "2026-05-11 12:00")
    assert day_values(store, "2026-05-11") == (Decimal(0), Decimal(60))


def test_approval_turns_pending_value_into_value() -> None:
    store = Store()
    store.receipt("r1", "pending", "60", "2026-05-11 12:00")
    store.receipt("r1", "approved", "60", "2026-05-11 12:00", now="2026-05-12 10:00")
    assert day_values(store, "2026-05-11") == (Decimal(60), Decimal(0))


def test_refund_subtracts_exactly_what_the_receipt_counted() -> None:
    store = Store()
    store.receipt("r1", "approved", "60", "2026-05-11 12:00")
    store.receipt("r2", "approved", "25.50", "2026-05-11 13:00")
    store.receipt("r1", "refunded", "60", "2026-05-11 12:00", now="2026-05-13 10:00")
    assert day_values(store, "2026-05-11") == (Decimal("25.50"), Decimal(0))
    refund = store.contributions[-1]
    assert (refund.approved_delta, refund.pending_delta, refund.counted) == (
        Decimal(-60),
        Decimal(0),
        True,
    )
    assert refund.reason == "refunded: counts nothing; removes the approved 60 it counted"


def test_rejection_removes_the_pending_value() -> None:
    store = Store()
    store.receipt("r1", "pending", "60", "2026-05-11 12:00")
    store.receipt("r1", "rejected", "60", "2026-05-11 12:00", now="2026-05-12 10:00")
    assert day_values(store, "2026-05-11") == (Decimal(0), Decimal(0))
    assert store.days[date(2026, 5, 11)].is_empty


def test_a_repeated_status_event_has_no_second_effect() -> None:
    store = Store()
    event = receipt_event("r1", "approved", "60", "2026-05-11 12:00")
    store.batch([event, event], "2026-05-11 12:00")
    store.batch([event], "2026-05-11 13:00")
    assert day_values(store, "2026-05-11") == (Decimal(60), Decimal(0))


def test_the_same_transition_applied_twice_still_counts_once() -> None:
    """Even if the caller hands the engine a transition again, a day holds one
    contribution per receipt."""
    transition = apply_receipt_event(
        None, receipt_event("r1", "approved", "60", "2026-05-11 12:00")
    )
    assert transition is not None
    state = MemberAttendance(member_id=MEMBER, membership=None)
    outcome = apply_receipts(EDITION, state, [transition, transition], at("2026-05-11 12:00"))
    (row,) = outcome.days
    assert row.approved == 60


def test_values_of_several_receipts_add_up_within_a_business_date() -> None:
    store = Store()
    store.receipt("r1", "approved", "40", "2026-05-11 09:00")
    store.receipt("r2", "approved", "60", "2026-05-12 08:59")  # still May 11's business date
    row = store.days[date(2026, 5, 11)]
    assert row.approved == 100
    assert date(2026, 5, 12) not in store.days


def test_attendance_completes_at_the_daily_goal_and_is_notified_once() -> None:
    store = Store()
    store.receipt("r1", "approved", "99.99", "2026-05-11 12:00")
    assert "attendance_completed" not in store.types()
    store.receipt("r2", "approved", "0.01", "2026-05-11 13:00")
    store.receipt("r3", "approved", "50", "2026-05-11 14:00")
    completed = [n for n in store.notifications if n.type == "attendance_completed"]
    assert len(completed) == 1
    assert completed[0].properties == {
        "edition": "win-in-2026",
        "stage": "2026-05",
        "date": "2026-05-11",
        "attendances_completed": 1,
        "attendances_left": 3,
    }
    assert completed[0].caused_by == ("r2:approved",)
    assert completed[0].severity == "success"


def test_an_attendance_completed_again_after_a_refund_gets_the_same_notification_id() -> None:
    store = Store()
    store.receipt("r1", "approved", "100", "2026-05-11 12:00")
    store.receipt("r1", "refunded", "100", "2026-05-11 12:00", now="2026-05-12 12:00")
    store.receipt("r2", "approved", "100", "2026-05-11 15:00", now="2026-05-12 13:00")
    ids = {n.notification_id for n in store.notifications if n.type == "attendance_completed"}
    assert len(ids) == 1


def test_receipt_dated_in_april_approved_within_the_extra_period_completes_april() -> None:
    store = Store()
    store.complete_days("2026-04", 3)
    store.receipt("late", "pending", "100", "2026-04-30 18:00")
    assert "stage_completed" not in store.types()
    store.receipt("late", "approved", "100", "2026-04-30 18:00", now="2026-05-08 10:00")
    assert store.membership is not None
    assert store.membership.completed_stages == {"2026-04"}
    assert "stage_completed" in store.types()


def test_receipt_dated_in_april_approved_after_the_extra_period_does_not_count() -> None:
    store = Store()
    store.complete_days("2026-04", 3)
    store.receipt("late", "pending", "100", "2026-04-30 18:00")
    outcome = store.receipt("late", "approved", "100", "2026-04-30 18:00", now="2026-05-12 10:00")
    assert store.membership is not None
    assert store.membership.completed_stages == frozenset()
    (refused,) = outcome.contributions
    assert not refused.counted
    assert refused.reason == (
        "processed at 2026-05-12T10:00:00.000000+02:00, after the extra period of stage "
        "2026-04 ended at 2026-05-11T08:59:59.999999+02:00"
    )
    assert day_values(store, "2026-04-30") == (Decimal(0), Decimal(100))  # frozen as it was


def test_the_extra_period_ends_at_its_last_microsecond() -> None:
    store = Store()
    store.complete_days("2026-04", 3)
    store.receipt("last", "approved", "100", "2026-04-30 18:00", now="2026-05-11 08:59:59.999999")
    assert store.membership is not None
    assert store.membership.completed_stages == {"2026-04"}
    other = Store()
    other.complete_days("2026-04", 3)
    other.receipt("late", "approved", "100", "2026-04-30 18:00", now="2026-05-11 09:00")
    assert other.membership is not None
    assert other.membership.completed_stages == frozenset()


def test_a_receipt_outside_the_edition_is_refused_with_its_reason() -> None:
    store = Store()
    outcome = store.receipt("early", "approved", "100", "2026-02-01 08:00")
    (refused,) = outcome.contributions
    assert not refused.counted
    assert (
        refused.reason
        == "business date 2026-01-31 is outside edition win-in-2026 (2026-02..2026-08)"
    )
    assert store.membership is None
    assert outcome.days == ()


def test_the_contribution_ledger_records_deltas_and_reasons() -> None:
    store = Store()
    store.receipt("r1", "pending", "40", "2026-05-11 12:00")
    store.receipt("r1", "approved", "40", "2026-05-11 12:00", now="2026-05-12 12:00")
    lines = [(c.status, c.approved_delta, c.pending_delta, c.reason) for c in store.contributions]
    assert lines == [
        ("pending", Decimal(0), Decimal(40), "pending 40 shown as pending on 2026-05-11"),
        (
            "approved",
            Decimal(40),
            Decimal(-40),
            "approved 40 counts for 2026-05-11; removes the pending 40 it counted",
        ),
    ]
    assert all(c.stage == "2026-05" and c.day == date(2026, 5, 11) for c in store.contributions)


def test_a_rejected_first_receipt_still_makes_the_member_join() -> None:
    """Join on any receipt dated in an open stage: `rejected` first and `pending` then
    (a stale event) must end where `pending` then `rejected` ends."""
    store = Store()
    store.receipt("r1", "rejected", "40", "2026-05-11 12:00")
    assert store.membership is not None
    assert store.membership.joined_stage == "2026-05"


def test_a_late_receipt_for_an_open_earlier_stage_moves_the_join_back() -> None:
    store = Store()
    store.receipt("may", "approved", "100", "2026-05-03 12:00")
    store.receipt("april", "approved", "100", "2026-04-29 12:00", now="2026-05-04 12:00")
    assert store.membership is not None
    assert store.membership.joined_stage == "2026-04"


def test_a_receipt_of_another_member_is_refused_loudly() -> None:
    transition = apply_receipt_event(
        None, receipt_event("r1", "approved", "60", "2026-05-11 12:00", member_id="someone")
    )
    assert transition is not None
    with pytest.raises(ValueError, match="belongs to infinity-mall/someone"):
        apply_receipts(
            EDITION,
            MemberAttendance(member_id=MEMBER, membership=None),
            [transition],
            at("2026-05-11 12:00"),
        )


def test_route_and_touched_stages_tell_the_store_what_to_load() -> None:
    events = [
        receipt_event("a", "approved", "10", "2026-05-11 12:00", member_id="m-a"),
        receipt_event("b", "approved", "10", "2026-04-30 12:00", member_id="m-b"),
        receipt_event("c", "approved", "10", "2026-01-15 12:00", member_id="m-c"),  # before
    ]
    transitions = [t for e in events if (t := apply_receipt_event(None, e)) is not None]
    routed = route(EDITION, transitions)
    assert sorted(routed) == ["m-a", "m-b"]
    assert touched_stages(EDITION, transitions) == {"m-a": {"2026-05"}, "m-b": {"2026-04"}}


def test_a_receipt_whose_date_changes_between_events_moves_to_the_new_date() -> None:
    store = Store()
    store.receipt("r1", "pending", "100", "2026-05-11 12:00")
    store.receipt("r1", "approved", "100", "2026-05-12 12:00", now="2026-05-12 13:00")
    assert day_values(store, "2026-05-11") == (Decimal(0), Decimal(0))
    assert day_values(store, "2026-05-12") == (Decimal(100), Decimal(0))
