"""The persisted state of counter challenges: frozen msgspec Structs, one per database row.

| Struct          | row key                                            | holds                     |
|-----------------|----------------------------------------------------|---------------------------|
| `MemberRecord`  | (club, member_id)                                  | opt and group facts,      |
|                 |                                                    | first-completion instants |
| `GroupRecord`   | (club, group_code)                                 | roster join/leave facts   |
| `Participation` | (club, code, occurrence, member_id)                | the member's ledger       |
| `Progress`      | (club, code, occurrence, subject_kind, subject_id) | tallies, milestones, ...  |

Every Struct encodes to JSON with `msgspec.json.encode` and decodes back with
`msgspec.json.decode(data, type=...)`. Rows are values: the engine never mutates one, it
returns replacements.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final, Literal

import msgspec

SubjectKind = Literal["member", "group"]
FactKind = Literal["opted_in", "opted_out", "joined_group", "left_group"]

# Why an entry counted or not. `counted` and `reversal` change counters; the rest do not.
Reason = Literal[
    "counted",
    "reversal",
    "outside_window",
    "before_opt_in",
    "after_opt_out",
    "not_in_group",
    "locked",
    "pending",
    "rejected",
    "refunded",
]
NOT_COUNTED_BY_MEMBER: Final = frozenset({"before_opt_in", "after_opt_out", "not_in_group"})

MemberKey = tuple[str, str]  # (club, member_id)
GroupKey = tuple[str, str]  # (club, group_code)
ParticipationKey = tuple[str, str, int, str]  # (club, code, occurrence, member_id)
ProgressKey = tuple[str, str, int, str, str]  # (club, code, occurrence, kind, subject_id)
OccurrenceKey = tuple[str, str, int]  # (club, code, occurrence)


class Delta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What one event adds to one trigger: an `amount` for sums, `keys` (stores or items)
    for distinct counters, a `gauge` reading for points_balance and tier."""

    trigger: int
    amount: Decimal | None = None
    keys: tuple[str, ...] = ()
    gauge: int | None = None


class Entry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event's contribution to one challenge occurrence for one member: the ledger line.

    `deltas` are what the event adds when it counts. `counted_for` names the subjects it
    counts toward now (the member, or the member's groups); `reason` says why or why not.
    A reversal entry (`reverses` set) records a refund or rejection; the entry it reverses
    gets `reversed_by` and from then on counts for nothing."""

    event_id: str
    occurred_at: datetime
    source: str
    deltas: tuple[Delta, ...]
    reason: Reason
    counted_for: tuple[str, ...] = ()
    receipt_id: str | None = None
    reverses: str | None = None
    reversed_by: str | None = None

    @property
    def live(self) -> bool:
        """Takes part in counters when eligible: not a reversal and not reversed."""
        return self.reverses is None and self.reversed_by is None

    @property
    def counts_now(self) -> bool:
        """The ledger's `counted`: the entry adds to some subject's counters right now."""
        return self.live and bool(self.counted_for)


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """A gauge value; the latest by (at, event_id) wins, whatever the arrival order."""

    value: int
    at: datetime
    event_id: str

    def newer_than(self, other: Reading | None) -> bool:
        return other is None or (self.at, self.event_id) > (other.at, other.event_id)


class Tally(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One member's counted contributions to one subject, per trigger id. `keys` keeps how
    many counted receipts carry each store or item, so a reversal removes exactly one."""

    sums: dict[int, Decimal] = {}
    keys: dict[int, dict[str, int]] = {}
    gauges: dict[int, Reading] = {}

    @property
    def empty(self) -> bool:
        return not (self.sums or self.keys or self.gauges)


class Reached(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """When a milestone or the challenge was reached: the event that made it true (in
    processing order), that event's `occurred_at`, and the processing instant `at`.
    `satisfied_at` (completions of member challenges) is the `occurred_at` of the earliest
    counted entry from which the condition holds: what a clean ordered pass would say."""

    event_id: str
    occurred_at: datetime
    at: datetime
    satisfied_at: datetime | None = None


class MemberFact(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An opt-in/out (`target` = challenge code) or a group join/leave (`target` = group)."""

    kind: FactKind
    target: str
    occurred_at: datetime
    event_id: str
    member_id: str
    charity_code: str | None = None


class MemberRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Facts sorted by (occurred_at, event_id); `unlocks`: challenge code -> the instant the
    member first completed it, which unlocks the challenges that require it."""

    club: str
    member_id: str
    facts: tuple[MemberFact, ...] = ()
    unlocks: dict[str, datetime] = {}

    @property
    def key(self) -> MemberKey:
        return (self.club, self.member_id)


class GroupRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The roster: every member's join/leave facts for this group, sorted."""

    club: str
    group_code: str
    roster: tuple[MemberFact, ...] = ()

    @property
    def key(self) -> GroupKey:
        return (self.club, self.group_code)


class Participation(msgspec.Struct, frozen=True, kw_only=True):
    """All of one member's entries for one challenge occurrence, keyed by event id."""

    club: str
    code: str
    occurrence: int
    starts_at: datetime
    ends_at: datetime
    member_id: str
    entries: dict[str, Entry] = {}

    @property
    def key(self) -> ParticipationKey:
        return (self.club, self.code, self.occurrence, self.member_id)


class Progress(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A subject's progress in one occurrence: per-member tallies (one member for member
    scope; the contributing members for a group), reached milestones, completion, whether
    the completion won a limited challenge, and when `challenge_expired` was sent."""

    club: str
    code: str
    occurrence: int
    starts_at: datetime
    ends_at: datetime
    subject_kind: SubjectKind
    subject_id: str
    tallies: dict[str, Tally] = {}
    milestones: dict[str, Reached] = {}
    completed: Reached | None = None
    winner: bool | None = None
    expired_at: datetime | None = None

    @property
    def key(self) -> ProgressKey:
        return (self.club, self.code, self.occurrence, self.subject_kind, self.subject_id)

    @property
    def occurrence_key(self) -> OccurrenceKey:
        return (self.club, self.code, self.occurrence)


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An upsert for the contributions ledger, keyed by (club, code, occurrence, member_id,
    entry.event_id). `occurrence` (with its bounds) is None for events outside the challenge
    window. `tracked`: the entry belongs to the member's `Participation` of the occurrence,
    the entries its counters are computed from; False for a note (a pending, rejected or
    refunded receipt that never counted, an event outside the window). The ledger is where
    participations are stored: loading one reads its tracked lines."""

    club: str
    code: str
    occurrence: int | None
    member_id: str
    entry: Entry
    recorded_at: datetime
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    tracked: bool = False

    @property
    def key(self) -> tuple[str, str, int | None, str, str]:
        return (self.club, self.code, self.occurrence, self.member_id, self.entry.event_id)


def kept_participation(found: Participation | None, line: LedgerEntry) -> Participation:
    """`found` (None: not stored yet) once the tracked ledger line `line` is written, as
    the store keeps participations: the line's entry replaces the one of its event id."""
    if line.occurrence is None or line.starts_at is None or line.ends_at is None:
        raise ValueError("a tracked ledger line belongs to an occurrence")
    part = found or Participation(
        club=line.club,
        code=line.code,
        occurrence=line.occurrence,
        starts_at=line.starts_at,
        ends_at=line.ends_at,
        member_id=line.member_id,
    )
    return msgspec.structs.replace(part, entries={**part.entries, line.entry.event_id: line.entry})
