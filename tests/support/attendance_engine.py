"""The pure attendance engine driven in memory (unit tests): seed 000's edition parsed,
receipt events, and a small stand-in for the store that drives the engine the way the
batch pipeline and the scheduler do."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from loyalty_progress.contract.events import ReceiptEvent
from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.definitions.attendance import AttendanceEdition, parse_edition
from loyalty_progress.engine.attendance import (
    AttendanceDay,
    AttendanceMembership,
    AttendanceOutcome,
    Contribution,
    MemberAttendance,
    advance,
    apply_receipts,
    attendance_view,
    render,
)
from loyalty_progress.engine.receipts import ReceiptState, ReceiptTransition, apply_receipt_event
from tests.support.attendance_seed import RAW_EDITION, at

CLUB = "infinity-mall"
MEMBER = "m-1"


def edition(**changes: Any) -> AttendanceEdition:
    return parse_edition({**RAW_EDITION, **changes}, "test.yaml")


EDITION = edition()


_ids = itertools.count(1)


def receipt_event(
    receipt_id: str,
    status: str,
    amount: str | int,
    occurred_at: str | datetime,
    member_id: str = MEMBER,
    event_id: str | None = None,
) -> ReceiptEvent:
    when = at(occurred_at) if isinstance(occurred_at, str) else occurred_at
    return ReceiptEvent(
        event_id=event_id or f"{receipt_id}:{status}",
        club=CLUB,
        member_id=member_id,
        occurred_at=when,
        receipt_id=receipt_id,
        status=status,  # type: ignore[arg-type]
        amount=Decimal(str(amount)),
    )


@dataclass
class Store:
    """One member's rows, kept like the database keeps them between batches."""

    edition: AttendanceEdition = EDITION
    member_id: str = MEMBER
    receipts: dict[str, ReceiptState] = field(default_factory=dict)
    membership: AttendanceMembership | None = None
    days: dict[date, AttendanceDay] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    rewards: list[RewardIssuance] = field(default_factory=list)
    contributions: list[Contribution] = field(default_factory=list)
    due_at: datetime | None = None

    def transitions(self, events: Sequence[ReceiptEvent]) -> list[ReceiptTransition]:
        found = []
        for event in events:
            transition = apply_receipt_event(self.receipts.get(event.receipt_id), event)
            if transition is not None:
                self.receipts[event.receipt_id] = transition.after
                found.append(transition)
        return found

    def batch(self, events: Sequence[ReceiptEvent], now: str | datetime) -> AttendanceOutcome:
        when = at(now) if isinstance(now, str) else now
        state = MemberAttendance(
            member_id=self.member_id, membership=self.membership, days=tuple(self.days.values())
        )
        outcome = apply_receipts(self.edition, state, self.transitions(events), when)
        return self._keep(outcome)

    def receipt(
        self,
        receipt_id: str,
        status: str,
        amount: str | int,
        occurred_at: str,
        now: str | None = None,
    ) -> AttendanceOutcome:
        event = receipt_event(receipt_id, status, amount, occurred_at, self.member_id)
        return self.batch([event], now or occurred_at)

    def tick(self, now: str | datetime) -> AttendanceOutcome:
        assert self.membership is not None
        when = at(now) if isinstance(now, str) else now
        return self._keep(advance(self.edition, self.membership, when))

    def _keep(self, outcome: AttendanceOutcome) -> AttendanceOutcome:
        self.membership = outcome.membership
        for row in outcome.days:
            self.days[row.day] = row
        self.notifications.extend(outcome.notifications)
        self.rewards.extend(outcome.rewards)
        self.contributions.extend(outcome.contributions)
        self.due_at = outcome.due_at
        return outcome

    def view(self, now: str | datetime) -> dict[str, Any]:
        when = at(now) if isinstance(now, str) else now
        return render(attendance_view(self.edition, self.membership, self.days.values(), when))

    def types(self) -> list[str]:
        return [n.type for n in self.notifications]

    def complete_days(self, stage: str, count: int, first_day: int = 1) -> None:
        """`count` complete days in `stage`, approved at noon on each day."""
        for n in range(first_day, first_day + count):
            when = f"{stage}-{n:02d} 12:00"
            self.receipt(f"{stage}-{n}", "approved", 100, when)


def builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)
