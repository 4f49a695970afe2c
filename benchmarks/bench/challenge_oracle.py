"""Counter challenges as the benchmark expects them, from the events and the definitions.

Written from docs/counter-challenges.md, without the engine's apply code (only the
definition types are shared). For every challenge, occurrence and subject (a member, or a
group for group challenges) it gives two sets of counter values:

* `final`: what the counters must be once every event is applied, in any order: the
  events dated in the occurrence's `[starts_at, ends_at)` that count for the subject as
  judged with all opt-in/out and group facts (a fact applies from its own `occurred_at`,
  inclusive; facts of one instant in event-id order); receipts by their final state (an
  approved receipt counts with its approving event, refunds and rejections after approval
  take it out); gauges (`points_balance`, `tier`) are the latest reading by (`occurred_at`,
  event id); a group adds up its members' sums and distinct keys, sums their balances and
  takes the highest tier.
* `upper`: a bound on what any counter can have been at any moment, whatever order the
  events and facts were applied in: every receipt that ever received an approved event,
  every event the member could have been enrolled for (any opt-in before it for an opt-in
  challenge; always for an automatic one) or a group it could have belonged to (any join
  before it), the highest gauge reading.

Completions and milestones are latched when their condition first holds, so they depend on
the order of application where counters go down (refunds, a late opt-out or leave, a later
gauge reading). A subject whose final counters satisfy the condition must have reached it;
one that reached it must satisfy it with its `upper` counters. Where both agree the result
is exact. Challenges with `requires` are not modelled (their unlock instant depends on the
order of processing by design) and are left out of the checks.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from bench.oracle import Expected, Receipt, instant
from bench.workload import Workload
from loyalty_progress.definitions.challenge import ChallengeDefinition, Trigger

ZERO: Final = Decimal(0)
WEEK: Final = timedelta(days=7)
DISTINCT: Final = frozenset({"distinct_stores", "distinct_items"})
RECEIPT_TRIGGERS: Final = frozenset(
    {"receipt_count", "receipt_amount", "distinct_stores", "distinct_items"}
)

SubjectKey = tuple[str, str, int, str, str]  # (club, code, occurrence, kind, subject id)
ChallengeKey = tuple[str, str]  # (club, code)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Input:
    """One event as the challenges see it. `final`: it counts in the final state (for
    receipts: approved in the end); every input counts toward the `upper` bound."""

    club: str
    member_id: str
    event_id: str
    occurred_at: datetime
    stream: str  # points | vouchers | tier | receipt
    kind: str = ""
    amount: Decimal = ZERO
    gauge: int | None = None
    store_id: str | None = None
    items: tuple[str, ...] = ()
    final: bool = True


@dataclass(frozen=True, slots=True)
class Fact:
    occurred_at: datetime
    event_id: str
    kind: str  # opted_in | opted_out | joined_group | left_group
    target: str  # challenge code or group code


def challenge_inputs(
    workload: Workload, expected: Expected
) -> tuple[list[Input], dict[tuple[str, str], list[Fact]]]:
    """Every contributing input, and each member's facts sorted by (instant, event id)."""
    inputs: list[Input] = []
    facts: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for entry in workload.distinct_entries():
        body = entry.body
        club, member = body["club"], body["member_id"]
        at = instant(body["occurred_at"])
        if entry.stream == "points":
            inputs.append(
                Input(
                    club,
                    member,
                    entry.event_id,
                    at,
                    "points",
                    kind=body["kind"],
                    amount=Decimal(body["amount"]),
                    gauge=body.get("balance"),
                )
            )
        elif entry.stream == "vouchers":
            inputs.append(Input(club, member, entry.event_id, at, "vouchers", kind=body["kind"]))
        elif entry.stream == "members":
            kind = body["kind"]
            if kind == "tier_changed":
                inputs.append(Input(club, member, entry.event_id, at, "tier", gauge=body["tier"]))
            else:
                target = body["challenge_code"] if kind.startswith("opted") else body["group_code"]
                facts[(club, member)].append(Fact(at, entry.event_id, kind, target))
    for receipt in expected.receipts.values():
        inputs.extend(_receipt_input(receipt))
    for member_facts in facts.values():
        member_facts.sort(key=lambda f: (f.occurred_at, f.event_id))
    return inputs, dict(facts)


def _receipt_input(receipt: Receipt) -> list[Input]:
    """The approval that counts in the end; else any approval, for the upper bound only."""
    approval = receipt.final if receipt.status == "approved" else receipt.first_with("approved")
    if approval is None:
        return []
    return [
        Input(
            receipt.club,
            receipt.member_id,
            approval.event_id,
            approval.occurred_at,
            "receipt",
            amount=approval.amount,
            store_id=approval.store_id,
            items=approval.items,
            final=receipt.status == "approved",
        )
    ]


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Delta:
    amount: Decimal | None = None
    keys: tuple[str, ...] = ()
    gauge: int | None = None


def delta(trigger: Trigger, item: Input) -> Delta | None:
    """What `item` adds to `trigger` (docs/counter-challenges.md, "Triggers: what counts")."""
    kind = trigger.type
    if item.stream == "points":
        if kind == "points_balance":
            return None if item.gauge is None else Delta(gauge=item.gauge)
        if (kind, item.kind) in (("earned_points", "earned"), ("redeemed_points", "redeemed")):
            return Delta(amount=item.amount)
        return None
    if item.stream == "vouchers":
        wanted = {"subscribed_vouchers": "subscribed", "redeemed_vouchers": "redeemed"}
        return Delta(amount=Decimal(1)) if wanted.get(kind) == item.kind else None
    if item.stream == "tier":
        return Delta(gauge=item.gauge) if kind == "tier" else None
    if kind not in RECEIPT_TRIGGERS:
        return None
    if trigger.store_ids and item.store_id not in trigger.store_ids:
        return None
    if trigger.items and not set(item.items) & set(trigger.items):
        return None
    if kind == "receipt_count":
        return Delta(amount=Decimal(1))
    if kind == "receipt_amount":
        return Delta(amount=item.amount)
    if kind == "distinct_stores":
        return None if item.store_id is None else Delta(keys=(item.store_id,))
    listed = set(item.items) & set(trigger.items) if trigger.items else set(item.items)
    return Delta(keys=tuple(sorted(listed))) if listed else None


def occurrence_index(definition: ChallengeDefinition, at: datetime) -> int | None:
    """Occurrence containing `at` (docs/counter-challenges.md, "Occurrences")."""
    start, end = definition.starts_at, definition.ends_at
    if not start <= at < end:
        return None
    if definition.recurrence is None:
        return 0
    if definition.recurrence == "weekly":
        return (at - start) // WEEK
    local = at.astimezone(start.tzinfo)
    index = (local.year - start.year) * 12 + local.month - start.month
    if _plus_months(start, index) > at:
        index -= 1
    return index


def occurrence_bounds(definition: ChallengeDefinition, index: int) -> tuple[datetime, datetime]:
    start = definition.starts_at
    if definition.recurrence is None:
        return start, definition.ends_at
    if definition.recurrence == "weekly":
        begin, after = start + index * WEEK, start + (index + 1) * WEEK
    else:
        begin, after = _plus_months(start, index), _plus_months(start, index + 1)
    return begin, min(after, definition.ends_at)


def _plus_months(base: datetime, months: int) -> datetime:
    year, month0 = divmod(base.month - 1 + months, 12)
    year += base.year
    day = min(base.day, calendar.monthrange(year, month0 + 1)[1])
    return base.replace(year=year, month=month0 + 1, day=day)


def _latest(
    facts: Iterable[Fact], target: str, kinds: tuple[str, str], at: datetime
) -> Fact | None:
    found = None
    for fact in facts:  # sorted by (occurred_at, event_id)
        if fact.occurred_at > at:
            break
        if fact.target == target and fact.kind in kinds:
            found = fact
    return found


def enrolled(definition: ChallengeDefinition, facts: Sequence[Fact], at: datetime) -> bool:
    """With all facts known: the latest opt fact at or before `at` decides."""
    latest = _latest(facts, definition.code, ("opted_in", "opted_out"), at)
    if latest is None:
        return definition.enrollment == "auto"
    return latest.kind == "opted_in"


def maybe_enrolled(definition: ChallengeDefinition, facts: Sequence[Fact], at: datetime) -> bool:
    """With some of the facts known (any subset): enrolled under at least one of them."""
    if definition.enrollment == "auto":
        return True
    return any(
        f.kind == "opted_in" and f.target == definition.code and f.occurred_at <= at for f in facts
    )


def groups_at(facts: Sequence[Fact], at: datetime) -> set[str]:
    latest: dict[str, str] = {}
    for fact in facts:
        if fact.occurred_at > at:
            break
        if fact.kind in ("joined_group", "left_group"):
            latest[fact.target] = fact.kind
    return {g for g, kind in latest.items() if kind == "joined_group"}


def maybe_groups_at(facts: Sequence[Fact], at: datetime) -> set[str]:
    return {f.target for f in facts if f.kind == "joined_group" and f.occurred_at <= at}


# --------------------------------------------------------------------------- tallies


@dataclass(slots=True)
class Tally:
    """One member's contributions to one subject: sums, distinct keys, gauge readings
    (latest by instant and event id for `final`, the highest value for `upper`)."""

    sums: dict[int, Decimal] = field(default_factory=dict)
    keys: dict[int, set[str]] = field(default_factory=dict)
    latest: dict[int, tuple[datetime, str, int]] = field(default_factory=dict)
    highest: dict[int, int] = field(default_factory=dict)

    def add(self, trigger: int, change: Delta, item: Input) -> None:
        if change.amount is not None:
            self.sums[trigger] = self.sums.get(trigger, ZERO) + change.amount
        if change.keys:
            self.keys.setdefault(trigger, set()).update(change.keys)
        if change.gauge is not None:
            reading = (item.occurred_at, item.event_id, change.gauge)
            current = self.latest.get(trigger)
            if current is None or reading[:2] > current[:2]:
                self.latest[trigger] = reading
            self.highest[trigger] = max(self.highest.get(trigger, change.gauge), change.gauge)


def counters(
    definition: ChallengeDefinition, tallies: Iterable[Tally], *, upper: bool
) -> dict[int, Decimal]:
    """Trigger id -> value of a subject whose members have these tallies; zeros left out."""
    tallies = list(tallies)
    values: dict[int, Decimal] = {}
    for trigger in definition.triggers:
        tid = trigger.id

        def reading(t: Tally, tid: int = tid) -> int | None:
            if upper:
                return t.highest.get(tid)
            latest = t.latest.get(tid)
            return None if latest is None else latest[2]

        readings = [r for r in (reading(t) for t in tallies) if r is not None]
        if trigger.type in DISTINCT:
            value = Decimal(len(set().union(*(t.keys.get(tid, set()) for t in tallies))))
        elif trigger.type == "points_balance":
            value = Decimal(sum(readings))
        elif trigger.type == "tier":
            value = Decimal(max(readings)) if readings else ZERO
        else:
            value = sum((t.sums.get(tid, ZERO) for t in tallies), ZERO)
        if value != 0:
            values[tid] = value
    return values


@dataclass(slots=True)
class SubjectOutlook:
    """A subject's expected counters in one occurrence, and its contributing members."""

    final: dict[int, Decimal]
    upper: dict[int, Decimal]
    contributors: set[str]


@dataclass(slots=True)
class ChallengeExpectation:
    definitions: dict[ChallengeKey, ChallengeDefinition]
    subjects: dict[SubjectKey, SubjectOutlook]
    joiners: dict[tuple[str, str], set[str]]  # (club, group) -> members who ever joined
    skipped: list[str]  # codes left out of the checks, and why


def expected_challenges(
    workload: Workload, expected: Expected, definitions: Sequence[ChallengeDefinition]
) -> ChallengeExpectation:
    inputs, facts = challenge_inputs(workload, expected)
    checked = [d for d in definitions if d.requires is None]
    skipped = [f"{d.club}/{d.code} (requires {d.requires})" for d in definitions if d.requires]
    by_club: dict[str, list[tuple[ChallengeDefinition, list[Trigger]]]] = defaultdict(list)
    for definition in checked:
        by_club[definition.club].append((definition, list(definition.triggers)))
    final: dict[SubjectKey, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    upper: dict[SubjectKey, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    none: list[Fact] = []
    for item in inputs:
        for definition, triggers in by_club.get(item.club, ()):
            changes = [(t.id, c) for t in triggers if (c := delta(t, item)) is not None]
            if not changes:
                continue
            index = occurrence_index(definition, item.occurred_at)
            if index is None:
                continue
            mine = facts.get((item.club, item.member_id), none)
            scope = str(definition.scope)
            at = item.occurred_at
            counted: set[str] = set()
            possible: set[str] = set()
            if definition.scope == "group":
                if item.final and enrolled(definition, mine, at):
                    counted = groups_at(mine, at)
                if maybe_enrolled(definition, mine, at):
                    possible = maybe_groups_at(mine, at)
            else:
                if item.final and enrolled(definition, mine, at):
                    counted = {item.member_id}
                if maybe_enrolled(definition, mine, at):
                    possible = {item.member_id}
            for subject, target in ((counted, final), (possible, upper)):
                for subject_id in subject:
                    key: SubjectKey = (item.club, definition.code, index, scope, subject_id)
                    tally = target[key][item.member_id]
                    for tid, change in changes:
                        tally.add(tid, change, item)
    subjects: dict[SubjectKey, SubjectOutlook] = {}
    by_code = {(d.club, d.code): d for d in checked}
    for key in final.keys() | upper.keys():
        definition = by_code[(key[0], key[1])]
        mine_final = final.get(key, {})
        mine_upper = upper.get(key, {})
        subjects[key] = SubjectOutlook(
            final=counters(definition, mine_final.values(), upper=False),
            upper=counters(definition, mine_upper.values(), upper=True),
            contributors=set(mine_upper),
        )
    joiners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (club, member), member_facts in facts.items():
        for fact in member_facts:
            if fact.kind == "joined_group":
                joiners[(club, fact.target)].add(member)
    return ChallengeExpectation(by_code, subjects, dict(joiners), skipped)


# --------------------------------------------------------------------------- conditions


def combine(items: Iterable[tuple[str, bool]]) -> bool:
    """Left to right, no precedence; the first operator is ignored."""
    result: bool | None = None
    for operator, value in items:
        result = (
            value
            if result is None
            else (result and value if operator == "AND" else result or value)
        )
    return bool(result)


def group_holds(
    definition: ChallengeDefinition, group_id: int, values: Mapping[int, Decimal]
) -> bool:
    group = next(g for g in definition.groups if g.id == group_id)
    return combine((t.operator, values.get(t.id, ZERO) >= t.target) for t in group.triggers)


def challenge_holds(definition: ChallengeDefinition, values: Mapping[int, Decimal]) -> bool:
    return combine((g.operator, group_holds(definition, g.id, values)) for g in definition.groups)
