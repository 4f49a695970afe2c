"""The attendance contribution ledger as the read side shows it, pure: which of a member's
receipt events counted for which business date of an edition, which did not, and why.

The lines are the engine's own `Contribution`s as the batch that applied each receipt
event stored them (append-only): an approval that later turned into a refund shows as two
lines, the refund's with negative deltas. `counts` is false for a refused event (outside
the edition, after the extra period, stage already failed, membership ended); `reason`
says why, in words fit for a support agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import msgspec

from loyalty_progress.engine.attendance.outcome import Contribution
from loyalty_progress.engine.receipts import RANK


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One stored line: the contribution, when its receipt event occurred (None once the
    event's copy was pruned, see the runbook's retention), and when it was stored."""

    contribution: Contribution
    occurred_at: datetime | None
    recorded_at: datetime


class AttendanceContributionOut(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    receipt_id: str
    status: str
    occurred_at: datetime | None
    date: str | None  # the business date the receipt counts for (edition's time zone)
    stage: str | None
    counts: bool
    reason: str
    approved_delta: int | float
    pending_delta: int | float
    recorded_at: datetime


class AttendanceContributions(msgspec.Struct, frozen=True, kw_only=True):
    edition_code: str
    member_id: str
    data: list[AttendanceContributionOut]
    count: int


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def contribution_out(line: LedgerLine) -> AttendanceContributionOut:
    c = line.contribution
    return AttendanceContributionOut(
        event_id=c.event_id,
        receipt_id=c.receipt_id,
        status=c.status,
        occurred_at=line.occurred_at,
        date=c.day.isoformat() if c.day is not None else None,
        stage=c.stage,
        counts=c.counted,
        reason=c.reason,
        approved_delta=_number(c.approved_delta),
        pending_delta=_number(c.pending_delta),
        recorded_at=line.recorded_at,
    )


def _in_order(line: LedgerLine) -> tuple[bool, datetime, datetime, int, str]:
    # When the events occurred (lines whose event copy was pruned are the oldest); one
    # batch stores its lines at one instant, and a receipt's statuses of one instant take
    # effect in lifecycle order.
    c = line.contribution
    occurred = line.occurred_at or line.recorded_at
    rank = RANK.get(c.status, len(RANK))
    return (line.occurred_at is not None, occurred, line.recorded_at, rank, c.event_id)


def contributions_view(
    edition_code: str, member_id: str, lines: Iterable[LedgerLine]
) -> AttendanceContributions:
    """The member's lines of the edition in the order their events occurred."""
    data = [contribution_out(line) for line in sorted(lines, key=_in_order)]
    return AttendanceContributions(
        edition_code=edition_code, member_id=member_id, data=data, count=len(data)
    )
