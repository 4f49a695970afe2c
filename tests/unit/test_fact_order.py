"""A batch's messages go to the outbox in the order of the facts that caused them: by the
batch position of each message's cause, one event's messages in the order of the steps;
a message without a cause in the batch right after the member's message before it in its
step, or, first in its step, before the member's first event."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from loyalty_progress.contract.events import ReceiptEvent
from loyalty_progress.contract.outputs import (
    DeadLetter,
    Notification,
    OutputMessage,
    Prize,
    RewardIssuance,
)
from loyalty_progress.engine.fact_order import in_fact_order

NOW = datetime(2026, 4, 28, 10, tzinfo=UTC)


def event(event_id: str, member: str = "m1") -> ReceiptEvent:
    return ReceiptEvent(
        event_id=event_id,
        club="c",
        member_id=member,
        occurred_at=NOW,
        receipt_id=event_id,
        status="approved",
        amount=Decimal(100),
    )


def note(kind: str, *causes: str, member: str = "m1") -> Notification:
    return Notification(
        notification_id=f"{kind}:{member}:{','.join(causes)}",
        type=kind,
        club="c",
        member_id=member,
        severity="success",
        properties={},
        created_at=NOW,
        caused_by=causes,
    )


def names(messages: list[OutputMessage]) -> list[str]:
    return [
        m.notification_id if isinstance(m, Notification) else type(m).__name__ for m in messages
    ]


def test_each_event_s_messages_follow_it_whichever_step_made_them() -> None:
    events = [event("e1"), event("e2", member="m2"), event("e3")]
    reward = RewardIssuance(
        reward_id="rw",
        club="c",
        member_id="m1",
        prize=Prize(type="points", value=1),
        reason="r",
        created_at=NOW,
    )
    letter = DeadLetter(
        stream="s", entry_id="1-0", body="{", reason="bad", delivery_count=1, dead_lettered_at=NOW
    )
    receipts: list[OutputMessage] = [
        note("approved", "e1"),
        note("approved", "e2", member="m2"),
        note("approved", "e3"),
    ]
    attendance: list[OutputMessage] = [
        note("day", "e1"),
        note("day", "e3"),
        note("stage", "e3"),
        note("reward_issued"),
        reward,
    ]
    ordered = in_fact_order([[*receipts, letter], attendance], events)
    assert names(ordered) == [
        "DeadLetter",
        "approved:m1:e1",
        "day:m1:e1",
        "approved:m2:e2",
        "approved:m1:e3",
        "day:m1:e3",
        "stage:m1:e3",
        "reward_issued:m1:",
        "RewardIssuance",
    ]


def test_a_fact_due_before_the_batch_goes_before_the_member_s_first_event() -> None:
    events = [event("e1", member="m2"), event("e2"), event("e3")]
    receipts: list[OutputMessage] = [
        note("approved", "e1", member="m2"),
        note("approved", "e2"),
        note("approved", "e3"),
    ]
    attendance: list[OutputMessage] = [note("stage_failed"), note("day", "e2")]
    ordered = in_fact_order([receipts, attendance], events)
    assert names(ordered) == [
        "approved:m2:e1",
        "stage_failed:m1:",
        "approved:m1:e2",
        "day:m1:e2",
        "approved:m1:e3",
    ]
