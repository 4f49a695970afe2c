"""Completions settled after the pass: `satisfied_at` from the participation's entries.

A batch reads a member's earlier entries of a challenge only when it must change them (a
reversal, a re-judgement after a fact, an unlock of other challenges). When such a member
completes a challenge, the pass records the completion with `satisfied_at` unset
(`Unsettled`); the caller then loads those participations and `settle` fills it in, with
the unlock instant it gives, from the entries as they were at the completion: the stored
ones plus the batch's ledger lines up to that moment. The result equals what the pass
would have computed with every entry loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from msgspec.structs import replace

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges.catalog import Catalog
from loyalty_progress.engine.challenges.expression import challenge_satisfied
from loyalty_progress.engine.challenges.state import (
    Entry,
    LedgerEntry,
    MemberKey,
    MemberRecord,
    Participation,
    ParticipationKey,
)
from loyalty_progress.engine.challenges.tally import TallyBuilder, counter_values, counts_for
from loyalty_progress.engine.challenges.workspace import ChallengeOutcome, Unsettled


def satisfied_at(
    definition: ChallengeDefinition,
    member_id: str,
    entries: Iterable[Entry],
    fallback: datetime,
) -> datetime:
    """The `occurred_at` of the earliest counted entry from which the challenge holds,
    replaying the member's counted entries in time order (a clean pass); `fallback` (the
    completing event's instant) when no prefix does."""
    counted = sorted(
        (e for e in entries if counts_for(e, member_id)),
        key=lambda e: (e.occurred_at, e.event_id),
    )
    builder = TallyBuilder()
    for entry in counted:
        builder.add(entry)
        if challenge_satisfied(definition, counter_values(definition, [builder.freeze()])):
            return entry.occurred_at
    return fallback


def participation_key(item: Unsettled) -> ParticipationKey:
    club, code, occurrence, _, member_id = item.progress
    return (club, code, occurrence, member_id)


def settle(
    outcome: ChallengeOutcome,
    stored: Mapping[ParticipationKey, Participation],
    members: Mapping[MemberKey, MemberRecord],
    catalog: Catalog,
) -> None:
    """Fill in every unsettled completion of `outcome` (in place): `satisfied_at` on the
    progress row, and the member's unlock instant (the earliest completion wins)."""
    wanted = {participation_key(item) for item in outcome.unsettled}
    # The batch's tracked lines of those participations, with their place in the ledger:
    # one pass over the ledger, whatever the number of completions.
    lines: dict[ParticipationKey, list[tuple[int, LedgerEntry]]] = {}
    for place, line in enumerate(outcome.ledger):
        if line.tracked and line.occurrence is not None:
            key = (line.club, line.code, line.occurrence, line.member_id)
            if key in wanted:
                lines.setdefault(key, []).append((place, line))
    for item in outcome.unsettled:
        club, code, _, _, member_id = item.progress
        definition = catalog.get(club, code)
        row = outcome.progress[item.progress]
        assert definition is not None
        assert row.completed is not None
        key = participation_key(item)
        found = stored.get(key)
        entries = dict(found.entries) if found else {}
        for place, line in lines.get(key, ()):
            if place < item.ledger_upto:
                entries[line.entry.event_id] = line.entry
        at = satisfied_at(definition, member_id, entries.values(), row.completed.occurred_at)
        completed = replace(row.completed, satisfied_at=at)
        outcome.progress[item.progress] = replace(row, completed=completed)
        member = (club, member_id)
        record = outcome.members.get(member) or members.get(member)
        record = record or MemberRecord(club=club, member_id=member_id)
        current = record.unlocks.get(code)
        if current is None or at < current:
            outcome.members[member] = replace(record, unlocks={**record.unlocks, code: at})
    outcome.unsettled = []
