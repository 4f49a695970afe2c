"""Attendance challenges (docs/attendance-challenges.md), pure: business calendar, days,
stages, membership, time-driven facts and the read view. No I/O; the store and the
scheduler drive it.

Public entry points:

- `apply_receipts(edition, state, transitions, now)`: receipt transitions of one member
  -> new day rows and membership, notifications, rewards, contributions.
- `advance(edition, membership, now)`: the time-driven facts due by `now` (stage failed,
  new entry or membership ended, extra period ending notice, streak rewards).
- `next_due_at(edition, membership)`: when `advance` next has something to do.
- `attendance_view(edition, membership, days, now)`: the seed 000 response body.
"""

from loyalty_progress.engine.attendance.apply import (
    MemberAttendance,
    apply_receipts,
    route,
    touched_stages,
)
from loyalty_progress.engine.attendance.calendar import (
    EditionCalendar,
    Stage,
    business_date,
    calendar_of,
    current_edition,
)
from loyalty_progress.engine.attendance.days import AttendanceDay, ReceiptContribution
from loyalty_progress.engine.attendance.membership import (
    AttendanceMembership,
    MembershipProgress,
    StageCompletion,
    progress,
)
from loyalty_progress.engine.attendance.outcome import AttendanceOutcome, Contribution
from loyalty_progress.engine.attendance.time_facts import advance, next_due_at, settle
from loyalty_progress.engine.attendance.view import attendance_view, render

__all__ = [
    "AttendanceDay",
    "AttendanceMembership",
    "AttendanceOutcome",
    "Contribution",
    "EditionCalendar",
    "MemberAttendance",
    "MembershipProgress",
    "ReceiptContribution",
    "Stage",
    "StageCompletion",
    "advance",
    "apply_receipts",
    "attendance_view",
    "business_date",
    "calendar_of",
    "current_edition",
    "next_due_at",
    "progress",
    "render",
    "route",
    "settle",
    "touched_stages",
]
