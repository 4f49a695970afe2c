"""Notifications and reward issuances of counter challenges, with deterministic ids.

Every id is `fact_id(kind, club, code, occurrence, subject_kind, subject_id, ...)`:

| message                       | kind                  | further parts                    |
|-------------------------------|-----------------------|----------------------------------|
| `challenge_completed`         | `challenge_completed` | member                           |
| `milestone_reached`           | `milestone_reached`   | milestone, member                |
| `reward_issued` notification  | `reward_issued`       | milestone, prize index, member   |
| `RewardIssuance.reward_id`    | `challenge_reward`    | milestone, prize index, member   |
| `challenge_expired`           | `challenge_expired`   | member                           |

so the same fact always has the same id on every replica and in every replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from loyalty_progress.contract.outputs import Notification, Prize, RewardIssuance, Severity
from loyalty_progress.definitions.challenge import (
    ChallengeDefinition,
    ChallengePrize,
    Milestone,
)
from loyalty_progress.engine.challenges.state import Progress
from loyalty_progress.engine.ids import fact_id


@dataclass(frozen=True, slots=True)
class Cause:
    """The input that made something happen: its id goes to `caused_by`."""

    event_id: str
    occurred_at: datetime


def _parts(progress: Progress) -> tuple[str, ...]:
    return (
        progress.club,
        progress.code,
        str(progress.occurrence),
        progress.subject_kind,
        progress.subject_id,
    )


def properties(definition: ChallengeDefinition, progress: Progress) -> dict[str, Any]:
    props: dict[str, Any] = {
        "challenge_code": definition.code,
        "challenge_name": definition.name,
        "occurrence": progress.occurrence,
        "occurrence_starts_at": progress.starts_at,
        "occurrence_ends_at": progress.ends_at,
    }
    if progress.subject_kind == "group":
        props["group_code"] = progress.subject_id
    return props


def _notification(
    kind: str,
    severity: Severity,
    id_parts: tuple[str, ...],
    member_id: str,
    progress: Progress,
    props: dict[str, Any],
    now: datetime,
    cause: Cause | None,
) -> Notification:
    return Notification(
        notification_id=fact_id(kind, *id_parts),
        type=kind,
        club=progress.club,
        member_id=member_id,
        severity=severity,
        properties=props,
        created_at=now,
        caused_by=(cause.event_id,) if cause else (),
    )


def completed(
    definition: ChallengeDefinition,
    progress: Progress,
    member_id: str,
    cause: Cause,
    now: datetime,
    extra: dict[str, Any],
) -> Notification:
    props = {**properties(definition, progress), **extra}
    return _notification(
        "challenge_completed",
        "success",
        (*_parts(progress), member_id),
        member_id,
        progress,
        props,
        now,
        cause,
    )


def milestone_reached(
    definition: ChallengeDefinition,
    progress: Progress,
    milestone: Milestone,
    member_id: str,
    cause: Cause,
    now: datetime,
) -> Notification:
    props = {**properties(definition, progress), "milestone_code": milestone.code}
    if milestone.group is not None:
        props["group_id"] = milestone.group
    return _notification(
        "milestone_reached",
        "success",
        (*_parts(progress), milestone.code, member_id),
        member_id,
        progress,
        props,
        now,
        cause,
    )


def expired(
    definition: ChallengeDefinition, progress: Progress, member_id: str, now: datetime
) -> Notification:
    return _notification(
        "challenge_expired",
        "info",
        (*_parts(progress), member_id),
        member_id,
        progress,
        properties(definition, progress),
        now,
        None,
    )


def wire_prize(prize: ChallengePrize) -> Prize:
    if prize.type == "reward":
        return Prize(type="reward", reward_id=prize.reward_id, description=prize.description)
    return Prize(type=prize.type, value=prize.value, description=prize.description)


def reason(progress: Progress, milestone: Milestone, recurring: bool) -> str:
    """`code/milestone`, with `#occurrence` for recurring challenges."""
    occurrence = f"#{progress.occurrence}" if recurring else ""
    return f"{progress.code}{occurrence}/{milestone.code}"


def reward_id(progress: Progress, milestone_code: str, index: int, member_id: str) -> str:
    """The `reward_id` of prize `index` of a milestone, issued to `member_id`."""
    return fact_id("challenge_reward", *_parts(progress), milestone_code, str(index), member_id)


def prize_messages(
    definition: ChallengeDefinition,
    progress: Progress,
    milestone: Milestone,
    member_id: str,
    cause: Cause,
    now: datetime,
) -> tuple[list[Notification], list[RewardIssuance]]:
    """One `RewardIssuance` and one `reward_issued` notification per prize."""
    notifications: list[Notification] = []
    rewards: list[RewardIssuance] = []
    for index, prize in enumerate(milestone.prizes):
        id_parts = (*_parts(progress), milestone.code, str(index), member_id)
        expires_at = prize.expires_at
        if prize.expires_in_days is not None:
            expires_at = now + timedelta(days=prize.expires_in_days)
        reward = RewardIssuance(
            reward_id=reward_id(progress, milestone.code, index, member_id),
            club=progress.club,
            member_id=member_id,
            prize=wire_prize(prize),
            reason=reason(progress, milestone, definition.recurrence is not None),
            created_at=now,
            expires_at=expires_at,
        )
        rewards.append(reward)
        props = {
            **properties(definition, progress),
            "milestone_code": milestone.code,
            "reward_id": reward.reward_id,
            "prize": msgspec.to_builtins(reward.prize),
        }
        if expires_at is not None:
            props["expires_at"] = expires_at
        notifications.append(
            _notification(
                "reward_issued", "success", id_parts, member_id, progress, props, now, cause
            )
        )
    return notifications, rewards
