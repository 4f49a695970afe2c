"""Trigger groups and their operators, and the seed 001 progress arithmetic.

Precedence: none. Triggers of a group, and then the groups of a challenge, are combined
strictly left to right in their listed order, each `operator` joining its item to the
result so far (the first item's operator is ignored). So `A AND B OR C` is `(A AND B) OR C`
and `A OR B AND C` is `(A OR B) AND C`. Write `X OR (Y AND Z)` as two groups:
`[Y AND Z]` first, then `[X]` joined with `OR`.

A trigger is satisfied when its value reaches its target (`value >= target`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal

from loyalty_progress.definitions.challenge import (
    ChallengeDefinition,
    Operator,
    Trigger,
    TriggerGroup,
)
from loyalty_progress.engine.challenges.tally import ZERO


def combine(items: Iterable[tuple[Operator, bool]]) -> bool:
    """Left-to-right AND/OR over (operator, value); the first operator is ignored."""
    result: bool | None = None
    for operator, value in items:
        if result is None:
            result = value
        elif operator == "AND":
            result = result and value
        else:
            result = result or value
    return bool(result)


def trigger_satisfied(trigger: Trigger, values: Mapping[int, Decimal]) -> bool:
    return values.get(trigger.id, ZERO) >= trigger.target


def group_satisfied(group: TriggerGroup, values: Mapping[int, Decimal]) -> bool:
    return combine((t.operator, trigger_satisfied(t, values)) for t in group.triggers)


def groups_satisfied(
    definition: ChallengeDefinition, values: Mapping[int, Decimal]
) -> dict[int, bool]:
    return {g.id: group_satisfied(g, values) for g in definition.groups}


def challenge_satisfied(definition: ChallengeDefinition, values: Mapping[int, Decimal]) -> bool:
    groups = groups_satisfied(definition, values)
    return combine((g.operator, groups[g.id]) for g in definition.groups)


def action_left(target: Decimal, value: Decimal) -> Decimal:
    """Seed 001 `ActionLeft = max(0, target - value)`."""
    return max(ZERO, target - value)


def progress_percent(target: Decimal, value: Decimal) -> int:
    """Seed 001 `Progress = min(100, floor(100 * value / target))`, never below 0."""
    return max(0, min(100, math.floor(100 * value / target)))
