"""What one evaluation returns: rows to write back and messages for the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import msgspec

from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.engine.attendance.days import AttendanceDay
from loyalty_progress.engine.attendance.membership import AttendanceMembership


class Contribution(msgspec.Struct, frozen=True, kw_only=True):
    """One ledger line: what a receipt event changed in an attendance, or why nothing.

    `counted` is False when the event was refused (outside the edition, after the extra
    period, stage already failed, membership ended); `reason` says why in words fit for
    a log, a dead-letter entry or a support agent. Deltas are signed.
    """

    event_id: str
    club: str
    edition: str
    member_id: str
    receipt_id: str
    status: str
    day: date | None
    stage: str | None
    approved_delta: Decimal
    pending_delta: Decimal
    counted: bool
    reason: str


@dataclass(frozen=True, slots=True)
class AttendanceOutcome:
    """`membership` is the row as it should now be stored (None: still not a member);
    `days` are the day rows that changed (an empty one may be deleted); `due_at` is when
    the scheduler should next call `advance` for this member (None: never)."""

    membership: AttendanceMembership | None
    days: tuple[AttendanceDay, ...]
    notifications: tuple[Notification, ...]
    rewards: tuple[RewardIssuance, ...]
    contributions: tuple[Contribution, ...]
    due_at: datetime | None
