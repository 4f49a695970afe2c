"""What a recompute keeps: fresh counters, and every fact that was reached and published."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from loyalty_progress.contract.events import InputStream
from loyalty_progress.engine.attendance import AttendanceMembership, StageCompletion
from loyalty_progress.engine.challenges import Progress, Reached, Tally
from loyalty_progress.replay.merge import merge_membership, merge_progress, unlock_instant
from loyalty_progress.replay.recompute import _Pass, decode_stored, lifecycle
from loyalty_progress.store.recompute import StoredEvent

T0 = datetime(2026, 11, 5, 12, tzinfo=UTC)
T1 = datetime(2026, 11, 9, 12, tzinfo=UTC)


def _row(value: int, *, completed: Reached | None = None, **fields: object) -> Progress:
    return Progress(
        club="c",
        code="earn",
        occurrence=0,
        starts_at=T0,
        ends_at=T1,
        subject_kind="member",
        subject_id="m1",
        tallies={"m1": Tally(sums={1: Decimal(value)})} if value else {},
        completed=completed,
        **fields,  # type: ignore[arg-type]
    )


REACHED = Reached(event_id="e1", occurred_at=T0, at=T1, satisfied_at=T0)


def test_fresh_counters_replace_old_ones_and_a_completion_stands() -> None:
    old = _row(1200, completed=REACHED, milestones={"completed": REACHED}, winner=True)
    merged = merge_progress(old, _row(700))
    assert merged is not None
    assert merged.tallies == {"m1": Tally(sums={1: Decimal(700)})}
    assert (merged.completed, merged.milestones, merged.winner) == (
        REACHED,
        {"completed": REACHED},
        True,
    )


def test_a_fact_both_sides_reach_takes_the_fresh_record() -> None:
    later = Reached(event_id="e9", occurred_at=T1, at=T1, satisfied_at=T1)
    merged = merge_progress(_row(900, completed=later), _row(900, completed=REACHED))
    assert merged is not None
    assert merged.completed == REACHED


def test_rows_with_only_counters_go_and_rows_with_facts_stay_empty() -> None:
    assert merge_progress(_row(300), None) is None
    kept = merge_progress(_row(300, completed=REACHED), None)
    assert kept is not None
    assert kept.tallies == {}
    assert kept.completed == REACHED
    assert merge_progress(None, _row(5)) == _row(5)


def test_an_expiry_notice_stands_unless_the_fix_completes_the_occurrence() -> None:
    expired = _row(100, expired_at=T1)
    still = merge_progress(expired, _row(200))
    assert still is not None
    assert still.expired_at == T1
    done = merge_progress(expired, _row(900, completed=REACHED))
    assert done is not None
    assert done.expired_at is None


def test_the_unlock_instant_is_the_earliest_completion() -> None:
    other = Reached(event_id="e2", occurred_at=T1, at=T1)
    rows = [_row(1, completed=other), _row(1, completed=REACHED), _row(1)]
    assert unlock_instant(rows) == T0
    assert unlock_instant([_row(1)]) is None


def _membership(completed: tuple[str, ...], failed: tuple[str, ...] = ()) -> AttendanceMembership:
    return AttendanceMembership(
        club="c",
        edition="e",
        member_id="m1",
        joined_stage="2026-11",
        joined_at=T0,
        completed=tuple(StageCompletion(stage=s, completed_at=T1) for s in completed),
        failed=failed,
        first_stage_reward=completed[0] if completed else None,
    )


def test_stages_completed_before_stay_completed_and_a_superset_is_just_the_fresh_row() -> None:
    old = _membership(("2026-11",))
    kept = merge_membership(old, _membership(()))
    assert kept is not None
    assert kept.completed_stages == {"2026-11"}
    assert kept.first_stage_reward == "2026-11"
    fresh = _membership(("2026-11", "2026-12"))
    assert merge_membership(old, fresh) == fresh
    assert merge_membership(None, fresh) == fresh
    assert merge_membership(old, None) == old


def test_a_stage_that_failed_before_but_completes_now_is_no_longer_failed() -> None:
    merged = merge_membership(_membership((), failed=("2026-11",)), _membership(("2026-11",)))
    assert merged is not None
    assert merged.failed == ()


def _stored(event_id: str, status: str, processed: datetime) -> StoredEvent:
    body = {
        "event_id": event_id,
        "club": "c",
        "member_id": "m1",
        "occurred_at": T0.isoformat(),
        "receipt_id": "r1",
        "status": status,
        "amount": "10",
    }
    return StoredEvent(InputStream.RECEIPTS.value, event_id, json.dumps(body).encode(), processed)


def test_stored_events_replay_in_batch_order_then_lifecycle_order() -> None:
    rows = [
        _stored("a-approved", "approved", T0),  # same batch and instant: lifecycle order
        _stored("z-pending", "pending", T0),
        _stored("b-refunded", "refunded", T1),  # a later batch
    ]
    decoded = decode_stored(rows, _Pass())
    assert [s.event.event_id for s in decoded] == ["z-pending", "a-approved", "b-refunded"]
    transitions = lifecycle([s.event for s in decoded])
    assert [(t.before and t.before.status, t.after.status) for t in transitions] == [
        (None, "pending"),
        ("pending", "approved"),
        ("approved", "refunded"),
    ]
