"""Progress as the read side shows it: seed 001 `GroupProgress` / `TriggersProgress`
(`TriggerFrequency`, `ActionLeft`, `Progress`) and seed 002 counters with `details`.

The figures are the live counters, even for a completed subject (whose completion stands
whatever a later refund does): `completed` says which it is.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from loyalty_progress.definitions.challenge import (
    DISTINCT_TRIGGERS,
    ChallengeDefinition,
    Operator,
    Trigger,
    TriggerType,
)
from loyalty_progress.engine.challenges.expression import (
    action_left,
    combine,
    progress_percent,
    trigger_satisfied,
)
from loyalty_progress.engine.challenges.state import Progress, Tally
from loyalty_progress.engine.challenges.tally import ZERO, counter_values


class Detail(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Seed 002 CounterDetail: a member's numeric contribution, or one item/store."""

    member_id: str
    numeric_value: Decimal | None = None
    string_value: str | None = None


class TriggerView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    type: TriggerType
    order: int
    operator: Operator
    target: Decimal
    value: Decimal
    action_left: Decimal
    progress: int
    satisfied: bool
    details: tuple[Detail, ...]


class GroupView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    order: int
    operator: Operator
    satisfied: bool
    triggers: tuple[TriggerView, ...]


class ChallengeView(msgspec.Struct, frozen=True, kw_only=True):
    satisfied: bool
    completed: bool
    groups: tuple[GroupView, ...]


def _details(trigger: Trigger, tallies: dict[str, Tally]) -> tuple[Detail, ...]:
    details: list[Detail] = []
    for member_id, tally in sorted(tallies.items()):
        if trigger.type in DISTINCT_TRIGGERS:
            details.extend(
                Detail(member_id=member_id, string_value=key)
                for key in sorted(tally.keys.get(trigger.id, {}))
            )
        elif trigger.id in tally.gauges:
            value = Decimal(tally.gauges[trigger.id].value)
            details.append(Detail(member_id=member_id, numeric_value=value))
        elif trigger.id in tally.sums:
            details.append(Detail(member_id=member_id, numeric_value=tally.sums[trigger.id]))
    return tuple(details)


def trigger_view(
    trigger: Trigger, order: int, value: Decimal, tallies: dict[str, Tally]
) -> TriggerView:
    return TriggerView(
        id=trigger.id,
        name=trigger.name,
        type=trigger.type,
        order=order,
        operator=trigger.operator,
        target=trigger.target,
        value=value,
        action_left=action_left(trigger.target, value),
        progress=progress_percent(trigger.target, value),
        satisfied=value >= trigger.target,
        details=_details(trigger, tallies),
    )


def progress_view(definition: ChallengeDefinition, progress: Progress | None) -> ChallengeView:
    """The challenge's groups and triggers with values; zeros when there is no row yet."""
    tallies = progress.tallies if progress else {}
    values = counter_values(definition, tallies.values())
    groups = []
    for g_order, group in enumerate(definition.groups, start=1):
        triggers = tuple(
            trigger_view(t, order, values.get(t.id, ZERO), tallies)
            for order, t in enumerate(group.triggers, start=1)
        )
        satisfied = combine((t.operator, trigger_satisfied(t, values)) for t in group.triggers)
        groups.append(
            GroupView(
                id=group.id,
                order=g_order,
                operator=group.operator,
                satisfied=satisfied,
                triggers=triggers,
            )
        )
    return ChallengeView(
        satisfied=combine((g.operator, g.satisfied) for g in groups),
        completed=progress is not None and progress.completed is not None,
        groups=tuple(groups),
    )
