"""The backbone's step of one batch, pure: the receipt lifecycle and the totals of the
batch's fresh (already de-duplicated) events. The rules (attendance, counter challenges,
prize claims) run after it, from the receipt transitions it returns (`worker.batch`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_progress.contract.events import (
    InputEvent,
    MemberEvent,
    PointsEvent,
    ReceiptEvent,
    VoucherEvent,
)
from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.engine.ids import fact_id
from loyalty_progress.engine.receipts import (
    ReceiptState,
    ReceiptTransition,
    apply_receipt_event,
    receipt_key,
)
from loyalty_progress.engine.totals import TotalsDelta

ReceiptKey = tuple[str, str]


@dataclass(slots=True)
class BatchOutcome:
    receipts: dict[ReceiptKey, ReceiptState] = field(default_factory=dict)
    transitions: list[ReceiptTransition] = field(default_factory=list)
    totals: TotalsDelta = field(default_factory=TotalsDelta)
    notifications: list[Notification] = field(default_factory=list)
    rewards: list[RewardIssuance] = field(default_factory=list)


def receipt_keys(events: Sequence[InputEvent]) -> list[ReceiptKey]:
    """The receipt rows a batch touches, sorted: rows are locked in this order."""
    return sorted(
        {receipt_key(e.club, e.receipt_id) for e in events if isinstance(e, ReceiptEvent)}
    )


def apply_receipts_and_totals(
    events: Sequence[InputEvent],
    receipts: Mapping[ReceiptKey, ReceiptState | None],
    now: datetime,
) -> BatchOutcome:
    """Receipt states and transitions, totals deltas and receipt notifications; the
    rules' own state is not touched here."""
    outcome = BatchOutcome()
    current: dict[ReceiptKey, ReceiptState | None] = dict(receipts)
    for event in events:
        if isinstance(event, ReceiptEvent):
            key = receipt_key(event.club, event.receipt_id)
            transition = apply_receipt_event(current.get(key), event)
            if transition is None:
                continue
            current[key] = outcome.receipts[key] = transition.after
            outcome.transitions.append(transition)
            outcome.totals.add_receipt(transition)
            notification = receipt_notification(transition, now)
            if notification is not None:
                outcome.notifications.append(notification)
        elif isinstance(event, PointsEvent):
            outcome.totals.add_points(event)
        elif isinstance(event, VoucherEvent):
            outcome.totals.add_voucher(event)
        elif isinstance(event, MemberEvent):
            outcome.totals.add_member(event)
    return outcome


def receipt_notification(transition: ReceiptTransition, now: datetime) -> Notification | None:
    """Members who submit a receipt expect to hear when it is approved or rejected."""
    after = transition.after
    if after.status == "approved":
        kind, severity = "receipt_approved", "success"
    elif after.status == "rejected" and (
        transition.before is None or transition.before.status == "pending"
    ):
        kind, severity = "receipt_rejected", "warning"
    else:
        return None
    properties: dict[str, object] = {"receipt_id": after.receipt_id, "amount": after.amount}
    if after.store_id is not None:
        properties["store_id"] = after.store_id
    return Notification(
        notification_id=fact_id(kind, after.club, after.receipt_id),
        type=kind,
        club=after.club,
        member_id=after.member_id,
        severity=severity,  # type: ignore[arg-type]
        properties=properties,
        created_at=now,
        caused_by=(after.event_id,),
    )
