"""Time-driven facts: a pure function of (membership, now).

`settle` records every fact that is due as of `now` and not yet recorded: stages whose
extra period is over unfinished (stage_failed, then a new entry or the end of the
membership), extra period notices, the first-stage reward, streak rewards. Facts are
stored in the membership row, so settling twice records nothing the second time, and
their ids are deterministic, so a repeat that slipped through is deduplicated anyway.

The scheduler stores `next_due_at` with the row, picks rows with `due_at <= now`
(`FOR UPDATE SKIP LOCKED`), calls `advance` and writes the row and the outbox messages
back in one transaction. Receipt batches call `settle` too (inside `apply_receipts`),
so a lagging scheduler never lets a member see a stale state.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.engine.attendance import facts
from loyalty_progress.engine.attendance.calendar import calendar_of
from loyalty_progress.engine.attendance.membership import (
    AttendanceMembership,
    member_stages,
    progress,
)
from loyalty_progress.engine.attendance.outcome import AttendanceOutcome

Settled = tuple[AttendanceMembership, list[Notification], list[RewardIssuance]]


def settle(edition: AttendanceEdition, membership: AttendanceMembership, now: datetime) -> Settled:
    calendar = calendar_of(edition)
    state = progress(edition, membership, now)
    member_id = membership.member_id
    notes: list[Notification] = []
    rewards: list[RewardIssuance] = []
    failed, notices = list(membership.failed), list(membership.notices)
    for failure in state.failures:
        if failure.stage not in failed:
            failed.append(failure.stage)
            notes.append(
                facts.stage_failed(
                    edition,
                    member_id,
                    failure.stage,
                    failure.entries,
                    failure.membership_ended,
                    now,
                )
            )
    for name in state.notices_due:
        stage = calendar.stage(name)
        if stage is None or name in notices:
            continue
        notices.append(name)
        days = (stage.close_date - calendar.business_date(now)).days
        ends_at = calendar.iso(stage.extra_period_ends_at)
        notes.append(facts.extra_period_ending(edition, member_id, name, days, ends_at, now))
    first = membership.first_stage_reward
    if first is None and membership.completed:
        first = membership.completed[0].stage
        reward, note = facts.first_stage_reward(edition, membership, first, now)
        rewards.append(reward)
        notes.append(note)
    streak_rewards = list(membership.streak_rewards)
    for streak in state.streaks:
        if streak.last_stage in streak_rewards:
            continue
        streak_rewards.append(streak.last_stage)
        notes.append(facts.streak_completed(edition, member_id, streak, now))
        reward, note = facts.streak_reward(edition, membership, streak, now)
        rewards.append(reward)
        notes.append(note)
    if notes or rewards:
        membership = msgspec.structs.replace(
            membership,
            failed=tuple(failed),
            notices=tuple(notices),
            first_stage_reward=first,
            streak_rewards=tuple(streak_rewards),
        )
    return membership, notes, rewards


def next_due_at(edition: AttendanceEdition, membership: AttendanceMembership) -> datetime | None:
    """The next instant at which `advance` may record something; None when never."""
    failed = set(membership.failed)
    if len(failed) >= edition.entries_limit:
        return None
    completed = membership.completed_stages
    due: list[datetime] = []
    for stage in member_stages(edition, membership):
        if stage.name in completed or stage.name in failed:
            continue
        if stage.notice_at is not None and stage.name not in membership.notices:
            due.append(stage.notice_at)
        due.append(stage.closes_at)
    return min(due, default=None)


def advance(
    edition: AttendanceEdition, membership: AttendanceMembership, now: datetime
) -> AttendanceOutcome:
    """The scheduler's call: record the time-driven facts due by `now`."""
    settled, notes, rewards = settle(edition, membership, now)
    return AttendanceOutcome(
        membership=settled,
        days=(),
        notifications=tuple(notes),
        rewards=tuple(rewards),
        contributions=(),
        due_at=next_due_at(edition, settled),
    )
