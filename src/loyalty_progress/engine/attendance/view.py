"""The read view: `GET /v1/members/{id}/attendance_challenge` in seed 000's shape.

A pure function of (edition, membership, the member's day rows, now), so what a member
sees is right as of `now` even when the scheduler lags: pending and failed stages,
entries and the streak are derived, not read from counters.

- `membership` is null for a member who never sent a receipt dated in the edition.
- `current` is the stage running at `now`, except while the previous stage is pending
  (ended unfinished, still in its extra period): then that stage is `current`, with
  `extended_period: true`, and the running one is the first of `future` (seed 000).
- `past` lists the stages from the one the member joined up to `current`; `future` all
  the stages after `current` to the end of the edition.
- Every stage object has the same keys (seed 000 shows `completed`, `pending` and
  `extended_period` only on `current`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.engine.attendance import days as rules
from loyalty_progress.engine.attendance.calendar import EditionCalendar, Stage, calendar_of
from loyalty_progress.engine.attendance.days import AttendanceDay
from loyalty_progress.engine.attendance.membership import (
    AttendanceMembership,
    MembershipProgress,
    progress,
)


class AttendanceView(msgspec.Struct, frozen=True, kw_only=True):
    date: str
    complete: bool
    value: float
    value_missing: float
    value_pending: float


class StageView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    starts_at: str
    ends_at: str
    extra_period_ends_at: str
    attendances_completed: int
    attendances_left: int
    attendances_pending: int
    attendances: list[AttendanceView]
    completed: bool
    pending: bool
    extended_period: bool


class NotificationView(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    properties: dict[str, Any]
    severity: str


class StagesView(msgspec.Struct, frozen=True, kw_only=True):
    current: StageView
    past: list[StageView]
    future: list[StageView]


class MembershipView(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    entries: int
    first_stage_reward_granted: bool
    notifications: list[NotificationView]
    stages_completed: int
    stages_left: int
    stages_pending: int
    stages: StagesView


class EditionView(msgspec.Struct, frozen=True, kw_only=True):
    start_date: str
    end_date: str
    stages: list[str]
    starts_at: str
    ends_at: str
    stages_streak_goal: int
    monthly_attendances_goal: int
    daily_value_goal: int | float
    entries_limit: int
    first_stage_reward_id: int
    streak_reward_value: int
    title: str
    rules: str
    goals_description: str
    rewards_description: str
    membership: MembershipView | None


class AttendanceChallengeView(msgspec.Struct, frozen=True, kw_only=True):
    edition: EditionView


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _attendance(row: AttendanceDay, goal: Decimal, live: bool) -> AttendanceView:
    return AttendanceView(
        date=row.day.isoformat(),
        complete=rules.is_complete(row, goal),
        value=float(rules.value_shown(row, goal)),
        value_missing=float(rules.value_missing(row, goal)),
        value_pending=float(rules.value_pending(row, goal)) if live else 0.0,
    )


def _stage_view(
    calendar: EditionCalendar,
    stage: Stage,
    rows: list[AttendanceDay],
    state: MembershipProgress,
    now: datetime,
) -> StageView:
    edition = calendar.edition
    goal = edition.daily_value_goal
    status = state.state(stage.name)
    # Pending value can still count only while the stage takes receipts.
    live = stage.is_open(now) and status not in ("failed", "outside")
    shown = [r for r in rows if r.approved > 0 or (live and r.pending > 0)]
    completed = rules.count_complete(shown, goal)
    return StageView(
        name=stage.name,
        starts_at=calendar.iso(stage.starts_at),
        ends_at=calendar.iso(stage.ends_at),
        extra_period_ends_at=calendar.iso(stage.extra_period_ends_at),
        attendances_completed=completed,
        attendances_left=max(0, edition.monthly_attendances_goal - completed),
        attendances_pending=rules.count_would_complete(shown, goal) if live else 0,
        attendances=[_attendance(r, goal, live) for r in sorted(shown, key=lambda r: r.day)],
        completed=status == "completed",
        pending=status == "pending",
        extended_period=stage.in_extra_period(now),
    )


def _current(calendar: EditionCalendar, state: MembershipProgress, now: datetime) -> Stage:
    stages = calendar.stages
    running = calendar.stage_at(now)
    if running is None:
        running = stages[0] if now < calendar.starts_at else stages[-1]
    waiting = [s for s in stages if s.name in state.pending and s.index < running.index]
    return waiting[0] if waiting else running


def _notifications(
    calendar: EditionCalendar, state: MembershipProgress, now: datetime
) -> list[NotificationView]:
    today = calendar.business_date(now)
    views = []
    for name in state.notices_due:
        stage = calendar.stage(name)
        if stage is not None:
            days = (stage.close_date - today).days
            views.append(
                NotificationView(
                    type="extra_period_ending", properties={"days": days}, severity="info"
                )
            )
    return views


def _membership_view(
    calendar: EditionCalendar,
    membership: AttendanceMembership,
    days: Iterable[AttendanceDay],
    now: datetime,
) -> MembershipView:
    edition = calendar.edition
    state = progress(edition, membership, now)
    by_stage: dict[str, list[AttendanceDay]] = {}
    for row in days:
        stage = calendar.stage_of_date(row.day)
        if stage is not None:
            by_stage.setdefault(stage.name, []).append(row)

    def view(stage: Stage) -> StageView:
        return _stage_view(calendar, stage, by_stage.get(stage.name, []), state, now)

    current = _current(calendar, state, now)
    past = [s for s in calendar.stages if membership.joined_stage <= s.name < current.name]
    future = [s for s in calendar.stages if s.index > current.index]
    return MembershipView(
        status=state.status,
        entries=state.entries,
        first_stage_reward_granted=membership.first_stage_reward_granted,
        notifications=_notifications(calendar, state, now),
        stages_completed=state.streak_run,
        stages_left=max(0, edition.stages_streak_goal - state.streak_run),
        stages_pending=len(state.pending),
        stages=StagesView(
            current=view(current),
            past=[view(s) for s in past],
            future=[view(s) for s in future],
        ),
    )


def attendance_view(
    edition: AttendanceEdition,
    membership: AttendanceMembership | None,
    days: Iterable[AttendanceDay],
    now: datetime,
) -> AttendanceChallengeView:
    """The response body; `days` are the member's day rows of this edition (any order)."""
    calendar = calendar_of(edition)
    member = _membership_view(calendar, membership, days, now) if membership else None
    return AttendanceChallengeView(
        edition=EditionView(
            start_date=edition.start_date,
            end_date=edition.end_date,
            stages=[s.name for s in calendar.stages],
            starts_at=calendar.iso(calendar.starts_at),
            ends_at=calendar.iso(calendar.ends_at),
            stages_streak_goal=edition.stages_streak_goal,
            monthly_attendances_goal=edition.monthly_attendances_goal,
            daily_value_goal=_number(edition.daily_value_goal),
            entries_limit=edition.entries_limit,
            first_stage_reward_id=edition.first_stage_reward_id,
            streak_reward_value=edition.streak_reward_value,
            title=edition.title,
            rules=edition.rules,
            goals_description=edition.goals_description,
            rewards_description=edition.rewards_description,
            membership=member,
        )
    )


def render(view: AttendanceChallengeView) -> dict[str, Any]:
    """The view as plain JSON-ready builtins (what the HTTP layer serializes)."""
    rendered: dict[str, Any] = msgspec.to_builtins(view)
    return rendered
