"""A member's participation in an edition: one row per (club, edition, member).

The row stores only facts that happened once and must never happen again: the stage the
member joined, stages completed (latched: a later refund does not undo a completion),
stages failed, notices sent, rewards granted. Everything else (entries, status, the
current streak, which stage is pending) is *derived* by `progress`, which walks the
stages in order as of an instant. Deriving instead of counting keeps the result
independent of the order in which receipts and ticks happened to arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import msgspec

from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.engine.attendance.calendar import Stage, calendar_of

MembershipStatus = Literal["active", "ended", "finished"]
# completed / failed are final; pending = ended unfinished, still in its extra period;
# running = under way; upcoming = not started; outside = after the membership ended.
StageState = Literal["completed", "failed", "pending", "running", "upcoming", "outside"]


class StageCompletion(msgspec.Struct, frozen=True, kw_only=True):
    stage: str
    completed_at: datetime


class AttendanceMembership(msgspec.Struct, frozen=True, kw_only=True):
    club: str
    edition: str
    member_id: str
    joined_stage: str
    joined_at: datetime
    completed: tuple[StageCompletion, ...] = ()
    failed: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    first_stage_reward: str | None = None
    streak_rewards: tuple[str, ...] = ()

    @property
    def completed_stages(self) -> frozenset[str]:
        return frozenset(c.stage for c in self.completed)

    @property
    def first_stage_reward_granted(self) -> bool:
        return self.first_stage_reward is not None


def new_membership(
    edition: AttendanceEdition, member_id: str, stage: str, now: datetime
) -> AttendanceMembership:
    return AttendanceMembership(
        club=edition.club,
        edition=edition.code,
        member_id=member_id,
        joined_stage=stage,
        joined_at=now,
    )


@dataclass(frozen=True, slots=True)
class StageFailure:
    stage: str
    entries: int  # entries used once this failure is counted
    membership_ended: bool


@dataclass(frozen=True, slots=True)
class Streak:
    first_stage: str
    last_stage: str


@dataclass(frozen=True, slots=True)
class MembershipProgress:
    status: MembershipStatus
    entries: int
    entry_started: str
    states: dict[str, StageState]
    failures: tuple[StageFailure, ...]
    streaks: tuple[Streak, ...]  # only among stages all decided, in order
    streak_run: int  # consecutive completed stages of the streak under way
    pending: tuple[str, ...]
    notices_due: tuple[str, ...]

    def state(self, stage: str) -> StageState | None:
        return self.states.get(stage)


def member_stages(edition: AttendanceEdition, membership: AttendanceMembership) -> list[Stage]:
    """The edition's stages from the one the member joined."""
    return [s for s in calendar_of(edition).stages if s.name >= membership.joined_stage]


@dataclass(slots=True)
class _Walk:
    edition: AttendanceEdition
    entries: int = 1
    run: int = 0
    run_first: str | None = None
    decided: bool = True
    ended: bool = False

    def complete(self, stage: Stage, streaks: list[Streak]) -> None:
        self.run += 1
        self.run_first = self.run_first or stage.name
        if self.decided and self.run >= self.edition.stages_streak_goal:
            streaks.append(Streak(self.run_first, stage.name))
            self.run, self.run_first = 0, None

    def fail(self, stage: Stage, has_next: bool) -> StageFailure:
        self.run, self.run_first = 0, None
        if self.entries >= self.edition.entries_limit or not has_next:
            self.ended = self.entries >= self.edition.entries_limit
            return StageFailure(stage.name, self.entries, self.ended)
        self.entries += 1
        return StageFailure(stage.name, self.entries, False)


def progress(
    edition: AttendanceEdition, membership: AttendanceMembership, now: datetime
) -> MembershipProgress:
    """Everything derived about a membership as of `now`, walking its stages in order."""
    stages = member_stages(edition, membership)
    completed, failed = membership.completed_stages, set(membership.failed)
    walk = _Walk(edition)
    entry_started = stages[0].name if stages else membership.joined_stage
    states: dict[str, StageState] = {}
    failures: list[StageFailure] = []
    streaks: list[Streak] = []
    pending: list[str] = []
    notices: list[str] = []
    for position, stage in enumerate(stages):
        has_next = position + 1 < len(stages)
        if walk.ended:
            states[stage.name] = "outside"
        elif stage.name in completed:
            states[stage.name] = "completed"
            walk.complete(stage, streaks)
        elif stage.name in failed or not stage.is_open(now):
            states[stage.name] = "failed"
            failures.append(walk.fail(stage, has_next))
            if not walk.ended and has_next:
                entry_started = stages[position + 1].name
        elif stage.has_ended(now):
            states[stage.name] = "pending"
            walk.decided = False
            pending.append(stage.name)
            if stage.notice_at is not None and now >= stage.notice_at:
                notices.append(stage.name)
        else:
            states[stage.name] = "running" if stage.has_started(now) else "upcoming"
            walk.decided = False
    status: MembershipStatus = "active"
    if walk.ended:
        status = "ended"
    elif now >= calendar_of(edition).closes_at:
        status = "finished"
    return MembershipProgress(
        status=status,
        entries=walk.entries,
        entry_started=entry_started,
        states=states,
        failures=tuple(failures),
        streaks=tuple(streaks),
        streak_run=walk.run,
        pending=tuple(pending),
        notices_due=tuple(notices),
    )
