"""The read side's challenge responses, as the seeds shape them: seed 001's member-app list
(`ChallengePage` of `ChallengeOut`), seed 002's Paytronix lists and detail
(`ChallengeList`, `ChallengeDetail`) and charitable organizations (`CharityList`), and the
ledger (`Contributions`). Wire shapes only; `views` fills them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Number = int | float
# Seed 001's "Trigger Status: Completed": the trigger's live counter meets its target.
TriggerStatus = Literal["Completed", "InProgress"]


class CategoryOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    id: int
    name: str


class PrizeOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    """Seed 001 prize, plus `RewardId` (our addition): the `reward_id` of the issuance
    once the prize is won, the key of its claim; null while it is still to win."""

    value: int | str | None
    expiration_date: datetime | None
    description: str | None
    reward_type: str
    reward_id: str | None = None


class MilestoneOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    """Seed 001 `Prizes` item. Its `Prizes` hold the prizes still to win and, once the
    milestone is reached, the prizes won and not claimed yet: empty once claimed (or lost
    in a limited challenge). Claimed prizes are in the member's prize history."""

    user_id: str = msgspec.field(name="UserID")
    milestone_id: str
    prizes: list[PrizeOut]


class TriggerProgressOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    trigger_id: int
    trigger_type: int
    trigger_type_name: str
    trigger_name: str
    trigger_order: int
    operator: str
    trigger_frequency: Number
    action_left: Number
    progress: int
    trigger_status: TriggerStatus


class GroupProgressOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    group_id: int
    group_order: int
    operator: str
    triggers_progress: list[TriggerProgressOut]


class ChallengeOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    """Seed 001 challenge, plus `Status`, `Occurrence` and `Completed` (our additions)."""

    id: str
    name: str
    description: str
    startdate: datetime
    enddate: datetime
    people_finished: int
    ends_after: int
    is_locked: int
    visible: bool
    category: CategoryOut | None
    image: str | None
    prizes: list[MilestoneOut]
    group_progress: list[GroupProgressOut]
    status: str | None
    occurrence: int
    completed: bool


class ChallengePage(msgspec.Struct, frozen=True, kw_only=True):
    data: list[ChallengeOut]
    pages_num: int = msgspec.field(name="pagesNum")
    count: int


class CounterDetailOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    memberCode: str | None = None  # seed 002 field names
    numericValue: Number | None = None
    stringValue: str | None = None


class CounterOut(msgspec.Struct, frozen=True, kw_only=True):
    code: int
    name: str
    value: Number
    threshold: Number
    details: list[CounterDetailOut]


class PaytronixChallenge(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Seed 002 Challenge, plus the occurrence, the group (group challenges), when it
    was completed, and whether it waits for its parent challenge (`isLocked`: the status
    stays one of the six, as the member-app list's `IsLocked` sits beside its status)."""

    code: str
    name: str
    description: str
    start_date: datetime
    end_date: datetime
    status: str | None
    occurrence: int
    occurrence_code: str
    group_code: str | None
    completed_at: datetime | None
    counters: list[CounterOut]
    is_locked: bool = False


class ChallengeList(msgspec.Struct, frozen=True, kw_only=True):
    result: str
    challenges: list[PaytronixChallenge]


class ChallengeDetail(msgspec.Struct, frozen=True, kw_only=True):
    result: str
    challenge: PaytronixChallenge


class DeltaOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    trigger: int
    amount: Number | None = None
    keys: list[str] = []
    gauge: int | None = None


class ContributionOut(msgspec.Struct, frozen=True, kw_only=True):
    """One ledger line: whether the event counts now (`counts`) and why (`reason`)."""

    event_id: str
    occurrence: int | None
    occurred_at: datetime
    source: str
    reason: str
    counts: bool
    counted_for: list[str]
    deltas: list[DeltaOut]
    receipt_id: str | None
    reverses: str | None
    reversed_by: str | None
    recorded_at: datetime


class Contributions(msgspec.Struct, frozen=True, kw_only=True):
    challenge_code: str
    member_id: str
    data: list[ContributionOut]
    count: int


class CharitableOrganizationSummary(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A charitable organization a member may name when opting in to a challenge."""

    code: str
    display_name: str
    icon_code: str | None


class CharityList(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    result: str
    challenge_code: str
    charitable_organizations: list[CharitableOrganizationSummary]
