"""The rows of one batch while the engine works on them, and what it has changed."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges.occurrences import Occurrence, occurrence
from loyalty_progress.engine.challenges.state import (
    Entry,
    GroupKey,
    GroupRecord,
    LedgerEntry,
    MemberKey,
    MemberRecord,
    OccurrenceKey,
    Participation,
    ParticipationKey,
    Progress,
    ProgressKey,
    SubjectKind,
)


class WinnersNotLoaded(LookupError):
    """The batch completes a limited challenge whose winner counter the caller did not
    lock and pass: lock the counters (`plan.winner_keys`) and apply again. Counters are
    locked only by the batches that need them, so batches that merely add to a limited
    challenge do not queue on its one counter row."""

    def __init__(self, key: OccurrenceKey) -> None:
        super().__init__(
            f"winners of limited challenge occurrence {key} were not loaded: the caller "
            "must lock and pass them (see plan.winner_keys)"
        )
        self.key = key


EntriesKey = tuple[str, str, str]  # (club, code, member_id): a member's participations


class EntriesNotLoaded(LookupError):
    """The batch needs the earlier entries of participations the caller did not load (a
    reversal, a re-judgement, an unlock the plan did not foresee): load them
    (`ChallengeState.entries_of` + `keys`) and apply again."""

    def __init__(self, keys: frozenset[EntriesKey]) -> None:
        super().__init__(f"earlier entries of {sorted(keys)} were not loaded")
        self.keys = keys


@dataclass(frozen=True, slots=True)
class ChallengeState:
    """Every row a batch may touch, as loaded (and row-locked) by the caller. A key that is
    absent means the row does not exist yet. `winners` holds, for each limited challenge
    occurrence the batch may complete, how many subjects have won it so far.

    `entries_of` names the (club, code, member) whose participations were loaded; None
    means all of them (a recompute, which starts from nothing). A member's contributions
    to any other challenge add entries without reading the earlier ones: most events only
    add to a tally, and reading a participation costs as much as the member's history."""

    members: Mapping[MemberKey, MemberRecord] = field(default_factory=dict)
    groups: Mapping[GroupKey, GroupRecord] = field(default_factory=dict)
    participations: Mapping[ParticipationKey, Participation] = field(default_factory=dict)
    progress: Mapping[ProgressKey, Progress] = field(default_factory=dict)
    winners: Mapping[OccurrenceKey, int] = field(default_factory=dict)
    entries_of: Collection[EntriesKey] | None = None


@dataclass(slots=True)
class ChallengeOutcome:
    """What to write back: the changed rows (whole, upsert them), the ledger upserts in
    order (a later entry for the same key replaces an earlier one), the outbox messages,
    the new winner totals of limited occurrences, and how many subjects completed each
    occurrence in this batch (`PeopleFinished` increments)."""

    members: dict[MemberKey, MemberRecord] = field(default_factory=dict)
    groups: dict[GroupKey, GroupRecord] = field(default_factory=dict)
    participations: dict[ParticipationKey, Participation] = field(default_factory=dict)
    progress: dict[ProgressKey, Progress] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    rewards: list[RewardIssuance] = field(default_factory=list)
    winners: dict[OccurrenceKey, int] = field(default_factory=dict)
    completions: dict[OccurrenceKey, int] = field(default_factory=dict)
    unsettled: list[Unsettled] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Unsettled:
    """A member completion made without the participation's earlier entries: its
    `satisfied_at` (and the unlock instant it gives) is settled after the pass from the
    entries as they were then (`ledger_upto` of the batch's ledger lines, and the stored
    ones), by `engine.challenges.settle`."""

    progress: ProgressKey
    ledger_upto: int


class Workspace:
    def __init__(self, state: ChallengeState, now: datetime) -> None:
        self.now = now
        self.members = dict(state.members)
        self.groups = dict(state.groups)
        self.participations = dict(state.participations)
        self.progress = dict(state.progress)
        self.winners = dict(state.winners)
        self.entries_of = None if state.entries_of is None else frozenset(state.entries_of)
        self.out = ChallengeOutcome()
        # (club, code, member) -> occurrences with a participation row, for recomputes.
        self._occurrences: dict[tuple[str, str, str], set[int]] = {}
        for club, code, index, member in self.participations:
            self._occurrences.setdefault((club, code, member), set()).add(index)

    # -- records
    def member(self, club: str, member_id: str) -> MemberRecord | None:
        return self.members.get((club, member_id))

    def put_member(self, record: MemberRecord) -> None:
        self.members[record.key] = self.out.members[record.key] = record

    def group(self, club: str, group_code: str) -> GroupRecord | None:
        return self.groups.get((club, group_code))

    def put_group(self, record: GroupRecord) -> None:
        self.groups[record.key] = self.out.groups[record.key] = record

    # -- participations
    def participation(
        self, definition: ChallengeDefinition, occ: Occurrence, member_id: str
    ) -> Participation:
        """The participation to add an entry to. When its earlier entries were not loaded
        (`has_entries`), it holds only this batch's and the single entries the plan
        loaded (`plan.LineSelector`: an approval a reversal undoes): adding needs no more."""
        key = (definition.club, definition.code, occ.index, member_id)
        found = self.participations.get(key)
        if found is not None:
            return found
        return Participation(
            club=definition.club,
            code=definition.code,
            occurrence=occ.index,
            starts_at=occ.starts_at,
            ends_at=occ.ends_at,
            member_id=member_id,
        )

    def has_entries(self, club: str, code: str, member_id: str) -> bool:
        """Whether the member's earlier entries of this challenge are at hand."""
        return self.entries_of is None or (club, code, member_id) in self.entries_of

    def require_entries(self, club: str, code: str, member_id: str) -> None:
        if not self.has_entries(club, code, member_id):
            raise EntriesNotLoaded(frozenset({(club, code, member_id)}))

    def find_participation(self, key: ParticipationKey) -> Participation | None:
        """The whole participation (its earlier entries must be loaded)."""
        self.require_entries(key[0], key[1], key[3])
        return self.participations.get(key)

    def put_participation(self, row: Participation) -> None:
        self.participations[row.key] = self.out.participations[row.key] = row
        self._occurrences.setdefault((row.club, row.code, row.member_id), set()).add(row.occurrence)

    def participations_of(
        self, definition: ChallengeDefinition, member_id: str
    ) -> list[Participation]:
        self.require_entries(definition.club, definition.code, member_id)
        indexes = self._occurrences.get((definition.club, definition.code, member_id), ())
        rows = (
            self.participations[(definition.club, definition.code, i, member_id)] for i in indexes
        )
        return sorted(rows, key=lambda p: p.occurrence)

    # -- progress
    def progress_row(
        self, definition: ChallengeDefinition, index: int, kind: SubjectKind, subject: str
    ) -> Progress:
        key = (definition.club, definition.code, index, kind, subject)
        found = self.progress.get(key)
        if found is not None:
            return found
        occ = occurrence(definition, index)
        return Progress(
            club=definition.club,
            code=definition.code,
            occurrence=index,
            starts_at=occ.starts_at,
            ends_at=occ.ends_at,
            subject_kind=kind,
            subject_id=subject,
        )

    def has_progress_row(self, key: ProgressKey) -> bool:
        return key in self.progress

    def put_progress(self, row: Progress) -> None:
        self.progress[row.key] = self.out.progress[row.key] = row

    # -- winners of limited challenges
    def winners_so_far(self, key: OccurrenceKey) -> int:
        if key not in self.winners:
            raise WinnersNotLoaded(key)
        return self.winners[key]

    def add_winner(self, key: OccurrenceKey) -> None:
        self.winners[key] = self.out.winners[key] = self.winners_so_far(key) + 1

    def add_completion(self, key: OccurrenceKey) -> None:
        self.out.completions[key] = self.out.completions.get(key, 0) + 1

    # -- ledger
    def record(self, part: Participation, entry: Entry) -> None:
        """An entry of the member's participation (new or changed): its ledger line."""
        self.out.ledger.append(
            LedgerEntry(
                club=part.club,
                code=part.code,
                occurrence=part.occurrence,
                member_id=part.member_id,
                entry=entry,
                recorded_at=self.now,
                starts_at=part.starts_at,
                ends_at=part.ends_at,
                tracked=True,
            )
        )

    def note(
        self, club: str, code: str, occ: Occurrence | None, member_id: str, entry: Entry
    ) -> None:
        """A ledger line that is no entry of a participation (it never counts)."""
        self.out.ledger.append(
            LedgerEntry(
                club=club,
                code=code,
                occurrence=None if occ is None else occ.index,
                member_id=member_id,
                entry=entry,
                recorded_at=self.now,
                starts_at=None if occ is None else occ.starts_at,
                ends_at=None if occ is None else occ.ends_at,
            )
        )
