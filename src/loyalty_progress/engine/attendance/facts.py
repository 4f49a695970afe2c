"""Notifications and reward issuances of attendance challenges, with deterministic ids.

Every id is derived from the business fact (club, edition, member, stage or date), never
from the moment it was computed: evaluating the same fact twice, on any replica, yields
the same id, and the outbox and the consumers drop the repeat.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from loyalty_progress.contract.outputs import Notification, Prize, RewardIssuance, Severity
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.engine.attendance.membership import AttendanceMembership, Streak
from loyalty_progress.engine.ids import fact_id


def _notify(
    edition: AttendanceEdition,
    member_id: str,
    kind: str,
    key: str,
    severity: Severity,
    properties: dict[str, Any],
    now: datetime,
    caused_by: tuple[str, ...] = (),
) -> Notification:
    return Notification(
        notification_id=fact_id(kind, edition.club, edition.code, member_id, key),
        type=kind,
        club=edition.club,
        member_id=member_id,
        severity=severity,
        properties={"edition": edition.code, **properties},
        created_at=now,
        caused_by=caused_by,
    )


def attendance_completed(
    edition: AttendanceEdition,
    member_id: str,
    stage: str,
    day: date,
    completed: int,
    now: datetime,
    caused_by: tuple[str, ...],
) -> Notification:
    properties = {
        "stage": stage,
        "date": day.isoformat(),
        "attendances_completed": completed,
        "attendances_left": max(0, edition.monthly_attendances_goal - completed),
    }
    key = day.isoformat()
    return _notify(
        edition, member_id, "attendance_completed", key, "success", properties, now, caused_by
    )


def stage_completed(
    edition: AttendanceEdition,
    member_id: str,
    stage: str,
    now: datetime,
    caused_by: tuple[str, ...],
) -> Notification:
    properties = {"stage": stage, "attendances_completed": edition.monthly_attendances_goal}
    return _notify(
        edition, member_id, "stage_completed", stage, "success", properties, now, caused_by
    )


def stage_failed(
    edition: AttendanceEdition,
    member_id: str,
    stage: str,
    entries: int,
    membership_ended: bool,
    now: datetime,
) -> Notification:
    properties = {
        "stage": stage,
        "entries": entries,
        "entries_limit": edition.entries_limit,
        "membership_ended": membership_ended,
    }
    return _notify(edition, member_id, "stage_failed", stage, "warning", properties, now)


def extra_period_ending(
    edition: AttendanceEdition,
    member_id: str,
    stage: str,
    days: int,
    extra_period_ends_at: str,
    now: datetime,
) -> Notification:
    properties = {"days": days, "stage": stage, "extra_period_ends_at": extra_period_ends_at}
    return _notify(edition, member_id, "extra_period_ending", stage, "info", properties, now)


def streak_completed(
    edition: AttendanceEdition, member_id: str, streak: Streak, now: datetime
) -> Notification:
    properties = {
        "stage": streak.last_stage,
        "first_stage": streak.first_stage,
        "stages": edition.stages_streak_goal,
        "points": edition.streak_reward_value,
    }
    return _notify(
        edition, member_id, "streak_completed", streak.last_stage, "success", properties, now
    )


def _issue(
    edition: AttendanceEdition,
    membership: AttendanceMembership,
    key: tuple[str, ...],
    prize: Prize,
    reason: str,
    now: datetime,
) -> tuple[RewardIssuance, Notification]:
    member_id = membership.member_id
    reward_id = fact_id("attendance_reward", edition.club, edition.code, member_id, *key)
    reward = RewardIssuance(
        reward_id=reward_id,
        club=edition.club,
        member_id=member_id,
        prize=prize,
        reason=reason,
        created_at=now,
    )
    notification = Notification(
        notification_id=fact_id("reward_issued", reward_id),
        type="reward_issued",
        club=edition.club,
        member_id=member_id,
        severity="success",
        properties={
            "edition": edition.code,
            "reward_id": reward_id,
            "prize": msgspec.to_builtins(prize),
            "reason": reason,
        },
        created_at=now,
    )
    return reward, notification


def first_stage_reward(
    edition: AttendanceEdition, membership: AttendanceMembership, stage: str, now: datetime
) -> tuple[RewardIssuance, Notification]:
    """Once per member and edition: the id does not depend on which stage earned it."""
    prize = Prize(type="reward", reward_id=edition.first_stage_reward_id)
    reason = f"{edition.code}/first-stage/{stage}"
    return _issue(edition, membership, ("first_stage",), prize, reason, now)


def streak_reward(
    edition: AttendanceEdition, membership: AttendanceMembership, streak: Streak, now: datetime
) -> tuple[RewardIssuance, Notification]:
    prize = Prize(type="points", value=edition.streak_reward_value)
    reason = f"{edition.code}/streak/{streak.first_stage}..{streak.last_stage}"
    return _issue(edition, membership, ("streak", streak.last_stage), prize, reason, now)
