"""The receipt lifecycle and the totals rule, without services."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty_progress.contract.events import PointsEvent, ReceiptEvent
from loyalty_progress.engine.batch import apply_receipts_and_totals as apply_batch
from loyalty_progress.engine.receipts import ReceiptState
from loyalty_progress.engine.totals import DayDelta, TotalsDelta

NOW = datetime(2026, 11, 10, tzinfo=UTC)
AT = datetime(2026, 11, 9, 23, 30, tzinfo=UTC)


def receipt(status: str, receipt_id: str = "r1", amount: str = "100", n: int = 0) -> ReceiptEvent:
    return ReceiptEvent(
        event_id=f"{receipt_id}-{status}-{n}",
        club="c",
        member_id="m",
        occurred_at=AT,
        receipt_id=receipt_id,
        status=status,  # type: ignore[arg-type]
        amount=Decimal(amount),
        store_id="s1",
    )


def run(
    events: Sequence[ReceiptEvent | PointsEvent],
) -> tuple[DayDelta, dict[tuple[str, str], ReceiptState]]:
    """Apply events one batch each, carrying receipt state across batches."""
    state: dict[tuple[str, str], ReceiptState | None] = {}
    total = TotalsDelta()
    for event in events:
        outcome = apply_batch([event], state, NOW)
        state.update(outcome.receipts)
        for transition in outcome.transitions:
            total.add_receipt(transition)
    days = list(total.days.values())
    combined = DayDelta()
    for day in days:
        for name in DayDelta.__slots__:
            setattr(combined, name, getattr(combined, name) + getattr(day, name))
    return combined, {k: v for k, v in state.items() if v is not None}


def test_pending_receipt_counts_as_pending_not_value() -> None:
    totals, _ = run([receipt("pending")])
    assert totals.pending_value == 100
    assert totals.receipt_value == 0


def test_approved_before_pending_ends_approved() -> None:
    totals, state = run([receipt("approved"), receipt("pending")])
    assert state[("c", "r1")].status == "approved"
    counted = (totals.receipts_approved, totals.receipt_value, totals.pending_value)
    assert counted == (1, Decimal(100), Decimal(0))


def test_refund_subtracts_exactly_what_was_counted_and_twice_is_once() -> None:
    totals, _ = run(
        [receipt("pending"), receipt("approved"), receipt("refunded"), receipt("refunded", n=1)]
    )
    counted = (totals.receipts_approved, totals.receipt_value, totals.pending_value)
    assert counted == (0, Decimal(0), Decimal(0))


def test_totals_use_the_utc_day_of_the_purchase() -> None:
    delta = TotalsDelta()
    for transition in apply_batch([receipt("approved")], {}, NOW).transitions:
        delta.add_receipt(transition)
    assert list(delta.days) == [("c", "m", AT.date())]


def test_approval_notifies_once_and_rejection_of_pending_warns() -> None:
    approved = apply_batch(
        [receipt("pending"), receipt("approved"), receipt("approved", n=1)], {}, NOW
    )
    assert [n.type for n in approved.notifications] == ["receipt_approved"]
    rejected = apply_batch([receipt("pending", "r2"), receipt("rejected", "r2")], {}, NOW)
    assert [(n.type, n.severity) for n in rejected.notifications] == [
        ("receipt_rejected", "warning")
    ]


def test_notification_ids_are_deterministic() -> None:
    first = apply_batch([receipt("approved")], {}, NOW).notifications[0]
    second = apply_batch([receipt("approved", n=7)], {}, NOW).notifications[0]
    assert first.notification_id == second.notification_id


LIFECYCLES = [
    ["pending", "approved"],
    ["pending", "approved", "refunded", "refunded"],
    ["pending", "rejected"],
    ["approved"],
]


@given(st.sampled_from(LIFECYCLES), st.randoms(use_true_random=False))
def test_any_order_of_status_events_ends_in_the_ordered_totals(
    lifecycle: list[str], rnd: random.Random
) -> None:
    events = [receipt(status, n=i) for i, status in enumerate(lifecycle)]
    expected, _ = run(events)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    actual, _ = run(shuffled)
    assert actual == expected


def test_every_permutation_of_a_full_lifecycle_agrees() -> None:
    events = [receipt(s, n=i) for i, s in enumerate(["pending", "approved", "refunded"])]
    results = {repr(run(list(p))[0]) for p in itertools.permutations(events)}
    assert len(results) == 1


def test_latest_balance_wins_by_occurred_at_not_arrival() -> None:
    def pts(event_id: str, hour: int, balance: int) -> PointsEvent:
        return PointsEvent(
            event_id=event_id,
            club="c",
            member_id="m",
            occurred_at=datetime(2026, 11, 1, hour, tzinfo=UTC),
            kind="earned",
            amount=1,
            balance=balance,
        )

    delta = TotalsDelta()
    delta.add_points(pts("b", 12, 500))
    delta.add_points(pts("a", 9, 100))
    assert delta.balances[("c", "m")].value == 500
