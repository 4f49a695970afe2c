"""Counter challenge definitions as data: the frozen Structs every layer reads, and the
vocabularies (trigger types, notices) their fields take."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal, get_args

import msgspec

TriggerType = Literal[
    "earned_points",
    "subscribed_vouchers",
    "redeemed_points",
    "redeemed_vouchers",
    "points_balance",
    "tier",
    "receipt_count",
    "receipt_amount",
    "distinct_stores",
    "distinct_items",
]
Operator = Literal["AND", "OR"]
Enrollment = Literal["auto", "opt_in"]
Scope = Literal["member", "group"]
Recurrence = Literal["weekly", "monthly"]
PrizeType = Literal["points", "voucher", "reward"]
# The member notifications a challenge sends (`notify`); reward issuances are not among
# them: a prize is always issued, `reward_issued` only tells the member about it.
Notice = Literal["challenge_completed", "milestone_reached", "reward_issued", "challenge_expired"]

TRIGGER_TYPES: Final[tuple[TriggerType, ...]] = get_args(TriggerType)
# The member-app challenge list numbers its trigger types 1-6; files may use either form.
TRIGGER_NUMBERS: Final[dict[int, TriggerType]] = {
    1: "earned_points",
    2: "subscribed_vouchers",
    3: "redeemed_points",
    4: "redeemed_vouchers",
    5: "points_balance",
    6: "tier",
}
RECEIPT_TRIGGERS: Final = frozenset(
    {"receipt_count", "receipt_amount", "distinct_stores", "distinct_items"}
)
GAUGE_TRIGGERS: Final = frozenset({"points_balance", "tier"})
DISTINCT_TRIGGERS: Final = frozenset({"distinct_stores", "distinct_items"})
# Only a money amount may have a fractional target; everything else counts whole things.
FRACTIONAL_TARGETS: Final = frozenset({"receipt_amount"})
MAX_CODE_LENGTH: Final = 128
NOTICES: Final[tuple[Notice, ...]] = get_args(Notice)
# A hidden challenge is a surprise: the member hears of the prize, never of a challenge
# they were not shown (no completion, milestone or expiry messages).
HIDDEN_NOTICES: Final[tuple[Notice, ...]] = ("reward_issued",)


class Category(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str


class Charity(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A charitable organisation a member may name on opt-in (Paytronix)."""

    code: str
    name: str | None = None
    icon: str | None = None


class Trigger(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One counter. `operator` joins it to the previous trigger of its group (ignored on the
    first). `store_ids` / `items` filter receipt triggers; empty means no filter."""

    id: int
    name: str
    type: TriggerType
    target: Decimal
    operator: Operator = "AND"
    store_ids: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


class TriggerGroup(msgspec.Struct, frozen=True, kw_only=True):
    """Ordered triggers. `operator` joins the group to the previous one (ignored on the first).
    `id` defaults to the group's 1-based position; milestones refer to groups by it."""

    id: int
    operator: Operator = "AND"
    triggers: tuple[Trigger, ...]


class ChallengePrize(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`points` (int `value`), `voucher` (code `value`) or `reward` (`reward_id`); optional
    expiry, either relative (`expires_in_days`, counted from issuance) or absolute."""

    type: PrizeType
    value: int | str | None = None
    reward_id: int | None = None
    description: str | None = None
    expires_in_days: int | None = None
    expires_at: datetime | None = None


class Milestone(msgspec.Struct, frozen=True, kw_only=True):
    """Reached when the whole challenge (`group is None`, file form `reached_when: challenge`)
    or the group with id `group` (file form `reached_when: {group: N}`) is satisfied."""

    code: str
    group: int | None = None
    prizes: tuple[ChallengePrize, ...] = ()


class ChallengeDefinition(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    code: str
    club: str
    name: str
    starts_at: datetime
    ends_at: datetime
    groups: tuple[TriggerGroup, ...]
    description: str = ""
    category: Category | None = None
    image: str | None = None
    visible: bool = True
    enrollment: Enrollment = "auto"
    requires: str | None = None
    max_winners: int | None = None
    scope: Scope = "member"
    recurrence: Recurrence | None = None
    charities: tuple[Charity, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    notify: tuple[Notice, ...] | None = None  # None: as `visible` says (see `notices`)

    @functools.cached_property
    def triggers(self) -> tuple[Trigger, ...]:
        """Every trigger, groups in order (computed once per definition)."""
        return tuple(t for g in self.groups for t in g.triggers)

    @functools.cached_property
    def notices(self) -> frozenset[Notice]:
        """The notification types the challenge sends: `notify`, or by default every type
        when it is visible and only `reward_issued` when it is hidden."""
        if self.notify is not None:
            return frozenset(self.notify)
        return frozenset(NOTICES if self.visible else HIDDEN_NOTICES)
