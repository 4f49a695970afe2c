"""The receipt lifecycle (docs/wire-contract.md, "Inputs"): one state per receipt, the
later lifecycle state wins.

`pending -> approved | rejected`, `approved -> refunded`. Status events may arrive out of
order and more than once; ranking the states makes the final state independent of the
order the events arrive in, and each transition is applied once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from loyalty_progress.contract.events import ReceiptEvent, ReceiptStatus

RANK: Final[dict[str, int]] = {"pending": 0, "approved": 1, "rejected": 2, "refunded": 3}


@dataclass(frozen=True, slots=True)
class ReceiptState:
    club: str
    receipt_id: str
    member_id: str
    status: ReceiptStatus
    amount: Decimal
    store_id: str | None
    items: tuple[str, ...]
    occurred_at: datetime
    event_id: str

    @property
    def approved_value(self) -> Decimal:
        return self.amount if self.status == "approved" else Decimal(0)

    @property
    def pending_value(self) -> Decimal:
        return self.amount if self.status == "pending" else Decimal(0)


@dataclass(frozen=True, slots=True)
class ReceiptTransition:
    """One applied status change. `before` is None for the first event of a receipt."""

    before: ReceiptState | None
    after: ReceiptState
    event: ReceiptEvent


def receipt_key(club: str, receipt_id: str) -> tuple[str, str]:
    return (club, receipt_id)


def apply_receipt_event(
    current: ReceiptState | None, event: ReceiptEvent
) -> ReceiptTransition | None:
    """The transition this event causes, or None when it is stale or a repeat."""
    if current is not None and RANK[event.status] <= RANK[current.status]:
        return None
    after = ReceiptState(
        club=event.club,
        receipt_id=event.receipt_id,
        # A receipt belongs to the member it was first seen for.
        member_id=current.member_id if current is not None else event.member_id,
        status=event.status,
        amount=event.amount,
        store_id=event.store_id,
        items=event.items,
        occurred_at=event.occurred_at,
        event_id=event.event_id,
    )
    return ReceiptTransition(before=current, after=after, event=event)
