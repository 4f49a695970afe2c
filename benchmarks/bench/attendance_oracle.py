"""Attendance editions as the benchmark expects them, from the receipts and the editions.

Written from docs/attendance-challenges.md, without the engine (only the edition type is
shared). A receipt belongs to the business date of its `occurred_at` in the edition's time
zone, where a business date D runs from D at `day_starts_at` to D+1 at the same local
time; a date falls in the stage of its calendar month. A receipt counts while the stage is
open at the worker's `now` (before the end of its extra period: `extra_period_days` whole
business dates after the month). Per member and date:

* `approved` = the amounts of the receipts whose final state is approved, `pending` = of
  those still pending (rejected and refunded ones count nothing);
* a day is an attendance when its approved value reaches `daily_value_goal`;
* a member has a membership once any receipt of theirs is dated in an open stage (any
  status), joined at the earliest such stage.

A stage is completed (latched) when `monthly_attendances_goal` attendances are complete;
refunds can lower the count afterwards, so completion depends on the order of application
where receipts were refunded: a member whose final attendances reach the goal must have
completed the stage, one who completed it must reach the goal counting every receipt that
ever received an approved event (`upper`). The same bound applies to each
`attendance_completed` notification (one per date that became complete).

The benchmark fixes `now` at the end of the workload's month, so no stage a member joined
closes during the run and no time-driven fact (failure, notice) is due; the model does not
cover stage failures or entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from bench.oracle import Expected
from loyalty_progress.definitions.attendance import AttendanceEdition

ZERO: Final = Decimal(0)

DayKey = tuple[str, str, str, date]  # (club, edition, member, business date)
MembershipKey = tuple[str, str, str]  # (club, edition, member)


@dataclass(frozen=True, slots=True)
class EditionCalendar:
    """Business dates and stage deadlines of one edition, computed here."""

    edition: AttendanceEdition
    zone: ZoneInfo
    day_start: time

    @classmethod
    def of(cls, edition: AttendanceEdition) -> EditionCalendar:
        hours, minutes = (int(p) for p in edition.day_starts_at.split(":"))
        return cls(edition, ZoneInfo(edition.timezone), time(hours, minutes))

    def business_date(self, at: datetime) -> date:
        local = at.astimezone(self.zone)
        day = local.date()
        return day - timedelta(days=1) if local.time() < self.day_start else day

    def stage(self, day: date) -> str | None:
        name = f"{day.year:04d}-{day.month:02d}"
        return name if self.edition.start_date <= name <= self.edition.end_date else None

    def closes_at(self, stage: str) -> datetime:
        """The end of the stage's extra period: the start of the business date
        `extra_period_days` after the first date of the next month."""
        year, month = (int(p) for p in stage.split("-"))
        following = date(year + month // 12, month % 12 + 1, 1)
        close_date = following + timedelta(days=self.edition.extra_period_days)
        return datetime.combine(close_date, self.day_start, tzinfo=self.zone)


@dataclass(slots=True)
class DayValues:
    approved: Decimal = ZERO
    pending: Decimal = ZERO
    upper: Decimal = ZERO  # approved value counting every receipt ever approved


@dataclass(slots=True)
class MemberOutlook:
    joined_stage: str
    # stage -> attendances (final) and the upper bound
    attendances: dict[str, int] = field(default_factory=dict)
    upper: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class AttendanceExpectation:
    editions: dict[tuple[str, str], AttendanceEdition]
    days: dict[DayKey, DayValues]
    members: dict[MembershipKey, MemberOutlook]


def expected_attendance(
    expected: Expected, editions: Sequence[AttendanceEdition], now: datetime
) -> AttendanceExpectation:
    days: dict[DayKey, DayValues] = defaultdict(DayValues)
    joined: dict[MembershipKey, str] = {}
    by_club: dict[str, list[tuple[AttendanceEdition, EditionCalendar]]] = defaultdict(list)
    for edition in editions:
        by_club[edition.club].append((edition, EditionCalendar.of(edition)))
    for receipt in expected.receipts.values():
        for edition, cal in by_club.get(receipt.club, ()):
            member_key = (receipt.club, edition.code, receipt.member_id)
            for event in receipt.events:  # joining: any status dated in an open stage
                stage = cal.stage(cal.business_date(event.occurred_at))
                if stage is not None and now < cal.closes_at(stage):
                    joined[member_key] = min(joined.get(member_key, stage), stage)
            final = receipt.final
            day = cal.business_date(final.occurred_at)
            stage = cal.stage(day)
            if stage is None or not now < cal.closes_at(stage):
                continue
            values = days[(*member_key, day)]
            if final.status == "approved":
                values.approved += final.amount
            elif final.status == "pending":
                values.pending += final.amount
            approval = receipt.first_with("approved")
            if approval is not None:
                values.upper += approval.amount
    members = {key: MemberOutlook(joined_stage=stage) for key, stage in joined.items()}
    goals = {(e.club, e.code): e.daily_value_goal for e in editions}
    calendars = {(e.club, e.code): EditionCalendar.of(e) for e in editions}
    for (club, code, member, day), values in days.items():
        outlook = members[(club, code, member)]
        stage = calendars[(club, code)].stage(day)
        assert stage is not None
        goal = goals[(club, code)]
        if values.approved >= goal:
            outlook.attendances[stage] = outlook.attendances.get(stage, 0) + 1
        if values.upper >= goal:
            outlook.upper[stage] = outlook.upper.get(stage, 0) + 1
    return AttendanceExpectation(
        editions={(e.club, e.code): e for e in editions}, days=dict(days), members=members
    )
