"""Member facts on a timeline: opt-in/out and group membership, judged by `occurred_at`.

A fact applies from its own `occurred_at` on (inclusive): an event at the very instant of
an opt-in counts, one at the instant of an opt-out does not. Facts at the same instant
apply in event id order. Because facts are kept sorted and judged by time, the outcome
does not depend on the order they arrive in.

Enrollment: `auto` challenges start opted in, `opt_in` ones opted out; each `opted_in` /
`opted_out` fact for the challenge flips that (so a member may opt out of an automatic
challenge, and opt in again). Group membership: `joined_group` / `left_group`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges.state import MemberFact, MemberRecord, Reason


def _sort_key(fact: MemberFact) -> tuple[datetime, str]:
    return (fact.occurred_at, fact.event_id)


def with_fact(facts: tuple[MemberFact, ...], fact: MemberFact) -> tuple[MemberFact, ...] | None:
    """`facts` plus `fact`, sorted; None when the event is already there (a repeat)."""
    if any(f.event_id == fact.event_id for f in facts):
        return None
    return tuple(sorted((*facts, fact), key=_sort_key))


def _applying(facts: Iterable[MemberFact], target: str, at: datetime) -> list[MemberFact]:
    return [f for f in facts if f.target == target and f.occurred_at <= at]


def enrollment_block(
    record: MemberRecord | None, definition: ChallengeDefinition, at: datetime
) -> Reason | None:
    """Why the member's event at `at` cannot count for the challenge, or None."""
    opt = [
        f
        for f in _applying(record.facts if record else (), definition.code, at)
        if f.kind in ("opted_in", "opted_out")
    ]
    if not opt:
        return None if definition.enrollment == "auto" else "before_opt_in"
    return None if opt[-1].kind == "opted_in" else "after_opt_out"


def opted_in_at(record: MemberRecord | None, definition: ChallengeDefinition, at: datetime) -> bool:
    return enrollment_block(record, definition, at) is None


def charity_at(
    record: MemberRecord | None, definition: ChallengeDefinition, at: datetime
) -> str | None:
    """The charity named on the member's latest opt-in to the challenge at `at`, when it is
    one of the challenge's `charities`. A code that is not (a typo, a charity taken off
    the list) is ignored: the opt-in stands, and no unknown charity is passed on."""
    facts = _applying(record.facts if record else (), definition.code, at)
    opt_ins = [f for f in facts if f.kind == "opted_in"]
    named = opt_ins[-1].charity_code if opt_ins else None
    if named is None or all(c.code != named for c in definition.charities):
        return None
    return named


def has_opt_fact(record: MemberRecord | None, code: str) -> bool:
    return record is not None and any(
        f.target == code and f.kind in ("opted_in", "opted_out") for f in record.facts
    )


def ever_groups(facts: Iterable[MemberFact]) -> set[str]:
    return {f.target for f in facts if f.kind in ("joined_group", "left_group")}


def in_group(facts: Iterable[MemberFact], group: str, at: datetime) -> bool:
    membership = [
        f for f in _applying(facts, group, at) if f.kind in ("joined_group", "left_group")
    ]
    return bool(membership) and membership[-1].kind == "joined_group"


def groups_at(record: MemberRecord | None, at: datetime) -> tuple[str, ...]:
    facts = record.facts if record else ()
    return tuple(sorted(g for g in ever_groups(facts) if in_group(facts, g, at)))


def members_at(roster: Iterable[MemberFact], at: datetime) -> tuple[str, ...]:
    """The members of a group at `at`, from the group's roster facts."""
    latest: dict[str, MemberFact] = {}
    for fact in sorted(roster, key=_sort_key):
        if fact.occurred_at <= at:
            latest[fact.member_id] = fact
    return tuple(sorted(m for m, f in latest.items() if f.kind == "joined_group"))


def locked(record: MemberRecord | None, definition: ChallengeDefinition, at: datetime) -> bool:
    """Whether an event at `at` is kept from a challenge with `requires`: every event up to
    and including the instant the member completed the parent. The event that unlocks
    the challenge (and any other at that instant) went into the parent, not the child."""
    if definition.requires is None:
        return False
    unlocked_at = record.unlocks.get(definition.requires) if record else None
    return unlocked_at is None or at <= unlocked_at


def locked_now(record: MemberRecord | None, definition: ChallengeDefinition, now: datetime) -> bool:
    """`IsLocked` at `now`: the member has not completed the parent by `now`."""
    if definition.requires is None:
        return False
    unlocked_at = record.unlocks.get(definition.requires) if record else None
    return unlocked_at is None or now < unlocked_at
