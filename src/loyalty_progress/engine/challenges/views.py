"""Progress as the read side shows it: seed 001 `GroupProgress` / `TriggersProgress`
(`TriggerFrequency`, `ActionLeft`, `Progress`) and seed 002 counters with `details`, and
the mapping of a listed occurrence (`lists.Shown`) and of a ledger line to the responses
(`responses`).

The figures are the live counters, even for a completed subject (whose completion stands
whatever a later refund does): `completed` says which it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import msgspec

from loyalty_progress.definitions.challenge import (
    DISTINCT_TRIGGERS,
    TRIGGER_NUMBERS,
    ChallengeDefinition,
    ChallengePrize,
    Charity,
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
from loyalty_progress.engine.challenges.lists import Finishers, Shown
from loyalty_progress.engine.challenges.responses import (
    CategoryOut,
    ChallengeOut,
    CharitableOrganizationSummary,
    CharityList,
    ContributionOut,
    CounterDetailOut,
    CounterOut,
    DeltaOut,
    GroupProgressOut,
    MilestoneOut,
    Number,
    PaytronixChallenge,
    PrizeOut,
    TriggerProgressOut,
)
from loyalty_progress.engine.challenges.state import Entry, MemberRecord, Progress, Tally
from loyalty_progress.engine.challenges.status import is_locked
from loyalty_progress.engine.challenges.tally import ZERO, counter_values
from loyalty_progress.engine.challenges.won_prizes import NO_PRIZES, won_unclaimed
from loyalty_progress.engine.prizes.claims import IssuedPrize

# Seed 001 numbers trigger types 1-6; the receipt types continue the numbering (our
# extension, documented) so `TriggerType` is always a number. `TriggerTypeName` names it.
TRIGGER_TYPE_NUMBERS: Final[dict[TriggerType, int]] = {
    **{name: number for number, name in TRIGGER_NUMBERS.items()},
    "receipt_count": 7,
    "receipt_amount": 8,
    "distinct_stores": 9,
    "distinct_items": 10,
}


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


# --------------------------------------------------------------------------- responses


def _number(value: Decimal) -> Number:
    return int(value) if value == value.to_integral_value() else float(value)


def _days_left(ends_at: datetime, now: datetime) -> int:
    return max(0, math.ceil((ends_at - now) / timedelta(days=1)))


def _prize_out(prize: ChallengePrize) -> PrizeOut:
    return PrizeOut(
        value=prize.reward_id if prize.type == "reward" else prize.value,
        expiration_date=prize.expires_at,
        description=prize.description,
        reward_type=prize.type,
    )


def _milestones(
    definition: ChallengeDefinition,
    progress: Progress | None,
    member_id: str,
    unclaimed: Mapping[str, IssuedPrize],
) -> list[MilestoneOut]:
    """A milestone not reached lists the prizes to win; a reached one the prizes issued
    to the member and not claimed yet (docs/prizes.md)."""
    reached = progress.milestones if progress else {}
    return [
        MilestoneOut(
            user_id=member_id,
            milestone_id=m.code,
            prizes=[_prize_out(p) for p in m.prizes]
            if progress is None or m.code not in reached
            else won_unclaimed(progress, m.code, len(m.prizes), member_id, unclaimed),
        )
        for m in definition.milestones
    ]


def _group_progress(view: ChallengeView) -> list[GroupProgressOut]:
    return [
        GroupProgressOut(
            group_id=g.id,
            group_order=g.order,
            operator=g.operator,
            triggers_progress=[
                TriggerProgressOut(
                    trigger_id=t.id,
                    trigger_type=TRIGGER_TYPE_NUMBERS[t.type],
                    trigger_type_name=t.type,
                    trigger_name=t.name,
                    trigger_order=t.order,
                    operator=t.operator,
                    trigger_frequency=_number(t.target),
                    action_left=_number(t.action_left),
                    progress=t.progress,
                    trigger_status="Completed" if t.satisfied else "InProgress",
                )
                for t in g.triggers
            ],
        )
        for g in view.groups
    ]


def _counters(view: ChallengeView, group: bool) -> list[CounterOut]:
    return [
        CounterOut(
            code=t.id,
            name=t.name,
            value=_number(t.value),
            threshold=_number(t.target),
            details=[
                CounterDetailOut(
                    memberCode=d.member_id if group else None,
                    numericValue=None if d.numeric_value is None else _number(d.numeric_value),
                    stringValue=d.string_value,
                )
                for d in t.details
            ],
        )
        for g in view.groups
        for t in g.triggers
    ]


def people_finished(definition: ChallengeDefinition, counts: Finishers | None) -> int:
    """Completions of the occurrence; of a limited challenge, its winners: a completion
    that came after the last prize finished nothing the member can win."""
    if counts is None:
        return 0
    return counts.winners if definition.max_winners is not None else counts.people_finished


def challenge_out(
    shown: Shown,
    member_id: str,
    record: MemberRecord | None,
    counts: Finishers | None,
    now: datetime,
    unclaimed: Mapping[str, IssuedPrize] = NO_PRIZES,
) -> ChallengeOut:
    d, occ = shown.definition, shown.occurrence
    view = progress_view(d, shown.progress)
    return ChallengeOut(
        id=d.code,
        name=d.name,
        description=d.description,
        startdate=occ.starts_at,
        enddate=occ.ends_at,
        people_finished=people_finished(d, counts),
        ends_after=_days_left(occ.ends_at, now),
        is_locked=int(d.scope == "member" and is_locked(d, record, now)),
        visible=d.visible,
        category=CategoryOut(id=d.category.id, name=d.category.name) if d.category else None,
        image=d.image,
        prizes=_milestones(d, shown.progress, member_id, unclaimed),
        group_progress=_group_progress(view),
        status=shown.status,
        occurrence=occ.index,
        completed=shown.completed,
    )


def completed_at(progress: Progress | None) -> datetime | None:
    """When the condition became true: `satisfied_at`, the instant a clean pass in time
    order first meets the goal (not the instant of the event that happened to be processed
    last, which may be older than the reading that completed the condition)."""
    if progress is None or progress.completed is None:
        return None
    return progress.completed.satisfied_at or progress.completed.occurred_at


def paytronix_out(shown: Shown) -> PaytronixChallenge:
    d, occ, progress = shown.definition, shown.occurrence, shown.progress
    group = d.scope == "group"
    return PaytronixChallenge(
        code=d.code,
        name=d.name,
        description=d.description,
        start_date=occ.starts_at,
        end_date=occ.ends_at,
        status=shown.status,
        occurrence=occ.index,
        occurrence_code=f"{d.code}#{occ.index}",
        group_code=shown.group_code,
        completed_at=completed_at(progress),
        counters=_counters(progress_view(d, progress), group),
        is_locked=shown.locked,
    )


def contribution_out(e: Entry, occurrence: int | None, recorded_at: datetime) -> ContributionOut:
    """One ledger line as the contributions route shows it."""
    return ContributionOut(
        event_id=e.event_id,
        occurrence=occurrence,
        occurred_at=e.occurred_at,
        source=e.source,
        reason=e.reason,
        counts=e.counts_now,
        counted_for=list(e.counted_for),
        deltas=[
            DeltaOut(
                trigger=d.trigger,
                amount=None if d.amount is None else _number(d.amount),
                keys=list(d.keys),
                gauge=d.gauge,
            )
            for d in e.deltas
        ],
        receipt_id=e.receipt_id,
        reverses=e.reverses,
        reversed_by=e.reversed_by,
        recorded_at=recorded_at,
    )


def charity_out(charity: Charity) -> CharitableOrganizationSummary:
    """A definition's charity as the opt-in screen shows it; without a name, its code."""
    return CharitableOrganizationSummary(
        code=charity.code, display_name=charity.name or charity.code, icon_code=charity.icon
    )


def charities_out(definition: ChallengeDefinition) -> CharityList:
    return CharityList(
        result="success",
        challenge_code=definition.code,
        charitable_organizations=[charity_out(c) for c in definition.charities],
    )
