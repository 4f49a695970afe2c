"""Which rows a batch must lock and load before `apply_challenges` runs.

The database layer drives one batch like this (one transaction, rows locked in this fixed
table order, each table's keys sorted, so concurrent replicas cannot deadlock):

1. `member_keys(inputs)` -> lock + load `MemberRecord`s (missing = new member);
2. `load_plan(inputs, definitions, members)` -> lock + load the `GroupRecord`s, then the
   `Participation`s and the `Progress` rows matching its selectors;
3. `apply_challenges(...)`; when it raises `WinnersNotLoaded`, lock the winner counters
   of `winner_keys(...)`, and when it raises `EntriesNotLoaded`, load those
   participations too, then apply again;
4. when the outcome has unsettled completions, load `unsettled_selectors(outcome)` and
   `settle` them; then upsert the changed rows, the ledger entries and the outbox
   messages, add `winners` / `completions` to the occurrence counters.

A selector asks for every existing row of one (club, code, subject) whose occurrence ends
after `ends_after`: the occurrence of the batch's earliest event of that member and all
later ones (late facts and unlocks can change those). Progress rows are always loaded;
participations only where the batch may re-judge earlier entries (a fact, a challenge
whose completion unlocks others); a reversal needs only the entry it undoes, which a
`LineSelector` names by event id. Everywhere else an event only adds an entry, so a
batch's cost does not grow with the member's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from msgspec.structs import replace

from loyalty_progress.contract.events import MemberEvent
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges.apply import ChallengeInput
from loyalty_progress.engine.challenges.catalog import Catalog
from loyalty_progress.engine.challenges.occurrences import occurrence_at
from loyalty_progress.engine.challenges.routes import Routes, sources, utc
from loyalty_progress.engine.challenges.state import (
    GroupKey,
    MemberKey,
    MemberRecord,
    OccurrenceKey,
    Participation,
    ParticipationKey,
    ProgressKey,
    SubjectKind,
)
from loyalty_progress.engine.challenges.timeline import ever_groups
from loyalty_progress.engine.challenges.workspace import ChallengeOutcome, EntriesKey
from loyalty_progress.engine.receipts import ReceiptTransition


class RowSelector(NamedTuple):
    """Rows of (club, code, subject) with `ends_at > ends_after`. A tuple: many are made,
    hashed and sorted per batch."""

    club: str
    code: str
    subject_kind: SubjectKind
    subject_id: str
    ends_after: datetime


class LineSelector(NamedTuple):
    """One tracked ledger line by its key: the approval's entry that a reversal undoes."""

    club: str
    code: str
    member_id: str
    event_id: str


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """`participations` name only those whose earlier entries the batch may re-judge;
    `lines` the single entries it undoes, loaded without the rest of their participation."""

    groups: tuple[GroupKey, ...]
    participations: tuple[RowSelector, ...]
    progress: tuple[RowSelector, ...]
    lines: tuple[LineSelector, ...] = ()

    @property
    def entries_of(self) -> frozenset[EntriesKey]:
        """For `ChallengeState.entries_of`: whose participations the plan loads."""
        return frozenset((s.club, s.code, s.subject_id) for s in self.participations)


def _member(item: ChallengeInput) -> MemberKey:
    if isinstance(item, ReceiptTransition):
        return (item.after.club, item.after.member_id)
    return (item.club, item.member_id)


def member_keys(inputs: Iterable[ChallengeInput]) -> list[MemberKey]:
    """The member records a batch touches, sorted: the lock order."""
    return sorted({_member(item) for item in inputs})


def _codes(item: ChallengeInput, catalog: Catalog, routes: Routes) -> set[str]:
    club = _member(item)[0]
    if isinstance(item, MemberEvent) and item.kind in ("opted_in", "opted_out"):
        found = catalog.get(club, item.challenge_code or "")
        return {found.code} if found else set()
    if isinstance(item, MemberEvent) and item.kind in ("joined_group", "left_group"):
        return {d.code for d in catalog.group_scoped(club)}
    return {
        feed.definition.code
        for source in sources(item)
        for feed in routes.feeds(source)
        if feed.occurrence is not None
    }


_FACTS = frozenset({"opted_in", "opted_out", "joined_group", "left_group"})


def _rereads(item: ChallengeInput, codes: set[str]) -> set[str]:
    """Of the input's challenges, those whose earlier entries it re-judges: a fact's."""
    if isinstance(item, MemberEvent) and item.kind in _FACTS:
        return codes
    return set()


def _undone(item: ChallengeInput, routes: Routes) -> list[LineSelector]:
    """The entries a reversal undoes: the approval's, in each challenge it fed."""
    if not isinstance(item, ReceiptTransition) or item.before is None:
        return []
    approval = item.before
    if approval.status != "approved":
        return []
    return [
        LineSelector(approval.club, feed.definition.code, approval.member_id, approval.event_id)
        for feed in routes.feeds(approval)
        if feed.occurrence is not None
    ]


def _earliest(item: ChallengeInput) -> datetime:
    """In UTC: the plan compares, sorts and hashes these by the thousand (`routes.utc`)."""
    return min(utc(source.occurred_at) for source in sources(item))


def load_plan(
    inputs: Sequence[ChallengeInput],
    definitions: Sequence[ChallengeDefinition] | Catalog,
    members: Mapping[MemberKey, MemberRecord],
    routes: Routes | None = None,
) -> LoadPlan:
    """`routes`: the batch's (see `routes.Routes`), to share with the engine."""
    catalog = Catalog.of(definitions)
    routes = routes or Routes(catalog)
    since: dict[MemberKey, datetime] = {}
    codes: dict[MemberKey, set[str]] = {}
    rereads: dict[MemberKey, set[str]] = {}
    joined: dict[MemberKey, set[str]] = {}
    lines: set[LineSelector] = set()
    for item in inputs:
        key = _member(item)
        at = _earliest(item)
        since[key] = min(at, since.get(key, at))
        found = _codes(item, catalog, routes)
        codes.setdefault(key, set()).update(found)
        rereads.setdefault(key, set()).update(_rereads(item, found))
        lines.update(_undone(item, routes))
        if (
            isinstance(item, MemberEvent)
            and item.kind in ("joined_group", "left_group")
            and item.group_code is not None
        ):
            joined.setdefault(key, set()).add(item.group_code)
    groups: set[GroupKey] = set()
    participations: set[RowSelector] = set()
    progress: set[RowSelector] = set()
    for key, found in codes.items():
        club, member_id = key
        reread = rereads[key]
        for code in list(found):
            below = {d.code for d in catalog.descendants(club, code)}
            if below:  # a completion unlocks them: it re-judges their entries
                reread |= {code, *below}
            found |= below
        record = members.get(key)
        member_groups = ever_groups(record.facts if record else ()) | joined.get(key, set())
        for code in sorted(found):
            definition = catalog.get(club, code)
            assert definition is not None
            if code in reread:
                participations.add(RowSelector(club, code, "member", member_id, since[key]))
            if definition.scope == "member":
                progress.add(RowSelector(club, code, "member", member_id, since[key]))
                continue
            for group in member_groups:
                groups.add((club, group))
                progress.add(RowSelector(club, code, "group", group, since[key]))
    for key, names in joined.items():
        groups.update((key[0], g) for g in names)
    return LoadPlan(
        groups=tuple(sorted(groups)),
        participations=tuple(sorted(participations)),
        progress=tuple(sorted(progress)),
        lines=tuple(sorted(lines)),
    )


def lines_of(
    stored: Iterable[Participation], lines: Iterable[LineSelector]
) -> dict[ParticipationKey, Participation]:
    """What the store loads for `lines`: each stored participation holding one of them,
    with only those entries. For stores kept in memory (tests, the rule-cost benchmark);
    the database does the same in SQL (`store.challenge_writes.lock_rows`)."""
    wanted: dict[tuple[str, str, str], set[str]] = {}
    for line in lines:
        wanted.setdefault((line.club, line.code, line.member_id), set()).add(line.event_id)
    found: dict[ParticipationKey, Participation] = {}
    for part in stored:
        ids = wanted.get((part.club, part.code, part.member_id), set())
        entries = {i: part.entries[i] for i in ids if i in part.entries}
        if entries:
            found[part.key] = replace(part, entries=entries)
    return found


def winner_keys(
    inputs: Iterable[ChallengeInput],
    definitions: Sequence[ChallengeDefinition] | Catalog,
    participations: Iterable[ParticipationKey],
    progress: Iterable[ProgressKey],
) -> list[OccurrenceKey]:
    """Occurrences of limited challenges the batch could complete: those of the loaded
    rows and those the inputs fall into. Sorted: the lock order."""
    catalog = Catalog.of(definitions)
    keys: set[OccurrenceKey] = set()

    def limited(club: str, code: str) -> bool:
        definition = catalog.get(club, code)
        return definition is not None and definition.max_winners is not None

    loaded: list[OccurrenceKey] = [(k[0], k[1], k[2]) for k in participations]
    loaded += [(k[0], k[1], k[2]) for k in progress]
    keys.update(k for k in loaded if limited(k[0], k[1]))
    for item in inputs:
        club = _member(item)[0]
        limited_here = catalog.limited(club)
        if not limited_here:
            continue
        for source in sources(item):
            for definition in limited_here:
                occ = occurrence_at(definition, source.occurred_at)
                if occ is not None:
                    keys.add((club, definition.code, occ.index))
    return sorted(keys)


def unsettled_selectors(outcome: ChallengeOutcome) -> list[RowSelector]:
    """The participations `settle.settle` needs: the occurrence of each unsettled completion
    (and any later one, which it ignores)."""
    return sorted(
        {
            RowSelector(club, code, "member", member_id, outcome.progress[u.progress].starts_at)
            for u in outcome.unsettled
            for club, code, _, _, member_id in [u.progress]
        }
    )


# Every occurrence: a retry of an unforeseen case loads the member's whole participation.
_ALL = datetime.min.replace(tzinfo=UTC)


def entries_selectors(keys: Iterable[EntriesKey]) -> list[RowSelector]:
    """Selectors for `EntriesNotLoaded.keys`: every occurrence of each."""
    return sorted(RowSelector(club, code, "member", member, _ALL) for club, code, member in keys)
