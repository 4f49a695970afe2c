"""Milestones and completion: reached once, when their condition first becomes true.

After every change to a subject's counters its progress row is evaluated:

- a milestone not reached yet whose condition (the whole challenge, or its group) holds is
  reached now, caused by the input that made it true;
- the challenge completes when the whole expression holds for the first time;
- prizes of a reached milestone are issued once per recipient (the member, or the group's
  members at that instant), with deterministic ids, so a repeat can never issue twice;
- for a limited challenge (`max_winners`) the completion wins only while fewer than
  `max_winners` subjects have won this occurrence; a completion that does not win is still
  COMPLETED, but the prizes of whole-challenge milestones are not issued;
- nothing reached is ever taken back: counters going down (refunds, late opt-outs) leave
  milestones, completion and issued rewards as they are.

Whole-challenge milestones send no `milestone_reached` of their own: `challenge_completed`
already tells the member. Group milestones send `milestone_reached`. Only the kinds the
definition's `notify` names are sent (a hidden challenge: `reward_issued` only); rewards
are issued whatever it says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.definitions.challenge import NOTICES, ChallengeDefinition, Milestone
from loyalty_progress.engine.challenges import effects
from loyalty_progress.engine.challenges.effects import Cause
from loyalty_progress.engine.challenges.expression import combine, groups_satisfied
from loyalty_progress.engine.challenges.state import Progress, Reached
from loyalty_progress.engine.challenges.tally import counter_values


@dataclass(slots=True)
class Evaluation:
    row: Progress
    completed_now: bool = False
    notifications: list[Notification] = field(default_factory=list)
    rewards: list[RewardIssuance] = field(default_factory=list)


def newly_reached(definition: ChallengeDefinition, row: Progress) -> tuple[list[Milestone], bool]:
    """(milestones reached now, whether the challenge completes now)."""
    if row.completed is not None and all(m.code in row.milestones for m in definition.milestones):
        return [], False  # what is reached stays reached: nothing left to evaluate
    values = counter_values(definition, row.tallies.values())
    groups = groups_satisfied(definition, values)
    whole = combine((g.operator, groups[g.id]) for g in definition.groups)
    reached = [
        m
        for m in definition.milestones
        if m.code not in row.milestones and (whole if m.group is None else groups[m.group])
    ]
    return reached, whole and row.completed is None


def evaluate(
    definition: ChallengeDefinition,
    row: Progress,
    *,
    cause: Cause,
    now: datetime,
    recipients: Sequence[str],
    winners_so_far: Callable[[], int],
    satisfied_at: Callable[[], datetime | None],
    charity_code: str | None = None,
) -> Evaluation | None:
    """The row with what is reached now, and its messages; None when nothing is."""
    milestones, completes = newly_reached(definition, row)
    if not milestones and not completes:
        return None
    reached = Reached(event_id=cause.event_id, occurred_at=cause.occurred_at, at=now)
    winner, completed = row.winner, row.completed
    if completes:
        if definition.max_winners is not None:
            winner = winners_so_far() < definition.max_winners
        completed = msgspec.structs.replace(reached, satisfied_at=satisfied_at())
    row = msgspec.structs.replace(
        row,
        milestones={**row.milestones, **{m.code: reached for m in milestones}},
        completed=completed,
        winner=winner,
    )
    result = Evaluation(row=row, completed_now=completes)
    for milestone in milestones:
        if milestone.group is not None:
            result.notifications.extend(
                effects.milestone_reached(definition, row, milestone, m, cause, now)
                for m in recipients
            )
    if completes:
        extra: dict[str, object] = {}
        if winner is not None:
            extra["winner"] = winner
        if charity_code is not None:
            extra["charity_code"] = charity_code
        result.notifications.extend(
            effects.completed(definition, row, m, cause, now, extra) for m in recipients
        )
    for milestone in milestones:
        if milestone.group is None and winner is False:
            continue  # a limited challenge's prizes go to its winners only
        for member_id in recipients:
            notes, rewards = effects.prize_messages(
                definition, row, milestone, member_id, cause, now
            )
            result.notifications.extend(notes)
            result.rewards.extend(rewards)
    if len(definition.notices) < len(NOTICES):
        wanted = definition.notices
        result.notifications = [n for n in result.notifications if n.type in wanted]
    return result
