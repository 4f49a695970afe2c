"""Recomputing one counter challenge (steps 3 and 4 of `replay.recompute`): the engine on a
blank slate for just this challenge (member facts and group rosters rebuilt from the
member events, other challenges' unlock instants as stored), then merged with the stored
rows under the worker's lock order, saved, and its fresh messages written to the outbox."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.contract.events import InputStream
from loyalty_progress.contract.outputs import OutputMessage, message_id
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges import (
    Catalog,
    ChallengeState,
    MemberKey,
    MemberRecord,
    OccurrenceKey,
    Progress,
    ProgressKey,
    apply_challenges,
    occurrences,
    progress_flags,
)
from loyalty_progress.engine.challenges.inputs import challenge_inputs
from loyalty_progress.replay import merge
from loyalty_progress.replay.horizon import beyond_horizon
from loyalty_progress.replay.pass_result import PassResult, RecomputeError
from loyalty_progress.replay.stored_events import decode_stored, lifecycle
from loyalty_progress.store import recompute as store
from loyalty_progress.store.challenge_writes import save_outcome
from loyalty_progress.store.outbox import add_messages

_CHALLENGE_STREAMS: Final = tuple(s.value for s in InputStream)


def _blank_members(
    records: dict[tuple[str, str], MemberRecord], code: str
) -> dict[tuple[str, str], MemberRecord]:
    """Stored member records without their facts (the pass re-adds them from the member
    events, in order) and without this challenge's unlock; other unlocks stay."""
    return {
        key: MemberRecord(
            club=r.club,
            member_id=r.member_id,
            unlocks={c: at for c, at in r.unlocks.items() if c != code},
        )
        for key, r in records.items()
    }


async def challenge_pass(
    conn: AsyncConnection,
    definition: ChallengeDefinition,
    children: Sequence[str],
    now: datetime,
) -> PassResult:
    out = PassResult()
    club, code = definition.club, definition.code
    member_facts = definition.enrollment != "auto" or definition.scope == "group"
    refused = await beyond_horizon(
        conn, club, f"challenge {code}", definition.starts_at, _CHALLENGE_STREAMS, member_facts
    )
    if refused is not None:
        raise RecomputeError(refused)
    stored = decode_stored(await store.club_events(conn, club, _CHALLENGE_STREAMS), out)
    events = [s.event for s in stored]
    catalog = Catalog([definition])
    inputs = challenge_inputs(events, lifecycle(events), catalog)
    # The batch's lock order: members, groups, then the challenge's own rows.
    member_ids = {e.member_id for e in events} | await store.challenge_member_ids(conn, club, code)
    records = await store.lock_members(conn, club, member_ids)
    winners: dict[OccurrenceKey, int] = {}
    if definition.max_winners is not None:
        winners = {(club, code, o.index): 0 for o in occurrences(definition)}
    state = ChallengeState(members=_blank_members(records, code), winners=winners)
    fresh = apply_challenges(state, inputs, catalog, now)
    old = await store.lock_challenge_rows(conn, club, code, _group_keys(fresh.groups, club))
    merged = merge.merge_progress_rows(old.progress, fresh.progress.values())
    out.changes = _progress_changes(definition, old.progress, merged)
    unlocks = _moved_unlocks(definition, records, merged)
    limited = _winners(merged.values()) if definition.max_winners is not None else {}
    fresh.progress = merged
    fresh.members = unlocks
    fresh.groups = {}  # rosters do not depend on definitions: the stored ones stand
    fresh.winners = {}  # written whole below
    fresh.completions = _completions(merged.values())
    await store.clear_challenge(conn, club, code)
    await save_outcome(conn, fresh, progress_flags(fresh.progress.values(), catalog))
    await store.set_winners(conn, limited)
    over = {k[2]: n for k, n in limited.items() if n > (definition.max_winners or 0)}
    if over:
        out.extra["occurrences_over_max_winners"] = over
    out.extra["recompute_next"] = list(children) if unlocks else []
    messages: list[OutputMessage] = [*fresh.notifications, *fresh.rewards]
    out.messages = len({message_id(m) for m in messages})
    out.outbox_ids = await add_messages(conn, messages)
    return out


def _group_keys(groups: Iterable[tuple[str, str]], club: str) -> list[tuple[str, str]]:
    return sorted(k for k in groups if k[0] == club)


def _progress_changes(
    definition: ChallengeDefinition,
    old: Sequence[Progress],
    merged: Mapping[ProgressKey, Progress],
) -> list[dict[str, Any]]:
    olds = {row.key: row for row in old}
    changes: list[dict[str, Any]] = []
    for key in sorted(olds.keys() | merged.keys()):
        before = merge.progress_summary(definition, olds.get(key))
        after = merge.progress_summary(definition, merged.get(key))
        if before != after:
            changes.append(
                {f"{key[3]}_id": key[4], "occurrence": key[2], "before": before, "after": after}
            )
    return changes


def _moved_unlocks(
    definition: ChallengeDefinition,
    records: Mapping[MemberKey, MemberRecord],
    merged: Mapping[ProgressKey, Progress],
) -> dict[MemberKey, MemberRecord]:
    """The stored member records whose unlock instant of this challenge moves (only the
    unlock changes: facts stay as stored)."""
    if definition.scope != "member":
        return {}
    rows: dict[MemberKey, list[Progress]] = {}
    for row in merged.values():
        rows.setdefault((row.club, row.subject_id), []).append(row)
    keys = rows.keys() | {k for k, r in records.items() if definition.code in r.unlocks}
    moved: dict[MemberKey, MemberRecord] = {}
    for key in sorted(keys):
        record = records.get(key) or MemberRecord(club=key[0], member_id=key[1])
        unlocks = {c: at for c, at in record.unlocks.items() if c != definition.code}
        instant = merge.unlock_instant(rows.get(key, ()))
        if instant is not None:
            unlocks[definition.code] = instant
        if unlocks != record.unlocks:
            moved[key] = msgspec.structs.replace(record, unlocks=unlocks)
    return moved


def _completions(rows: Iterable[Progress]) -> dict[OccurrenceKey, int]:
    """`PeopleFinished` per occurrence: the subjects whose row holds a completion."""
    counts: dict[OccurrenceKey, int] = {}
    for row in rows:
        if row.completed is not None:
            counts[row.occurrence_key] = counts.get(row.occurrence_key, 0) + 1
    return counts


def _winners(rows: Iterable[Progress]) -> dict[OccurrenceKey, int]:
    counts: dict[OccurrenceKey, int] = {}
    for row in rows:
        counts[row.occurrence_key] = counts.get(row.occurrence_key, 0) + (1 if row.winner else 0)
    return counts
