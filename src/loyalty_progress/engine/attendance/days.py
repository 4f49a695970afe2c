"""Attendances: one row per (club, edition, member, business date).

A day keeps what each receipt contributes to it (its latest counted status and amount),
not a bare running sum: a reversal then subtracts exactly what the receipt counted,
repeats change nothing, and the totals are the same in any arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Literal

import msgspec

from loyalty_progress.engine.receipts import ReceiptState

CountedStatus = Literal["approved", "pending"]
ZERO = Decimal(0)


class ReceiptContribution(msgspec.Struct, frozen=True, kw_only=True):
    receipt_id: str
    status: CountedStatus
    amount: Decimal
    event_id: str

    @property
    def approved(self) -> Decimal:
        return self.amount if self.status == "approved" else ZERO

    @property
    def pending(self) -> Decimal:
        return self.amount if self.status == "pending" else ZERO


def contribution_of(receipt: ReceiptState) -> ReceiptContribution | None:
    """What a receipt in this state adds to its day: approved value or pending value."""
    if receipt.status not in ("approved", "pending"):
        return None
    return ReceiptContribution(
        receipt_id=receipt.receipt_id,
        status="approved" if receipt.status == "approved" else "pending",
        amount=receipt.amount,
        event_id=receipt.event_id,
    )


class AttendanceDay(msgspec.Struct, frozen=True, kw_only=True):
    club: str
    edition: str
    member_id: str
    day: date
    receipts: tuple[ReceiptContribution, ...] = ()

    @property
    def approved(self) -> Decimal:
        return sum((r.approved for r in self.receipts), ZERO)

    @property
    def pending(self) -> Decimal:
        return sum((r.pending for r in self.receipts), ZERO)

    @property
    def is_empty(self) -> bool:
        """Nothing counts any more (all rejected or refunded): the row may be deleted."""
        return not self.receipts

    def contribution(self, receipt_id: str) -> ReceiptContribution | None:
        return next((r for r in self.receipts if r.receipt_id == receipt_id), None)

    def with_contribution(
        self, receipt_id: str, contribution: ReceiptContribution | None
    ) -> AttendanceDay:
        """This day with the receipt's contribution replaced (None removes it)."""
        others = [r for r in self.receipts if r.receipt_id != receipt_id]
        if contribution is not None:
            others.append(contribution)
        others.sort(key=lambda r: r.receipt_id)
        return msgspec.structs.replace(self, receipts=tuple(others))


def is_complete(day: AttendanceDay, goal: Decimal) -> bool:
    return day.approved >= goal


def would_complete(day: AttendanceDay, goal: Decimal) -> bool:
    """Incomplete now, complete once its pending receipts are approved."""
    return not is_complete(day, goal) and day.approved + day.pending >= goal


def value_shown(day: AttendanceDay, goal: Decimal) -> Decimal:
    return min(day.approved, goal)


def value_missing(day: AttendanceDay, goal: Decimal) -> Decimal:
    return max(ZERO, goal - day.approved)


def value_pending(day: AttendanceDay, goal: Decimal) -> Decimal:
    return min(day.pending, value_missing(day, goal))


def count_complete(days: Iterable[AttendanceDay], goal: Decimal) -> int:
    return sum(1 for d in days if is_complete(d, goal))


def count_would_complete(days: Iterable[AttendanceDay], goal: Decimal) -> int:
    return sum(1 for d in days if would_complete(d, goal))
