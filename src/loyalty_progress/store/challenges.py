"""Counter challenges in PostgreSQL: lock + load the rows one batch touches, save what the
engine changed, the expiry scheduler's chunks, and the read side's queries.

A batch costs a handful of set-based statements whatever its size (arrays through
`unnest`, never one statement per event or member), issued in the engine's lock order:

1. lock + load members: `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` (a placeholder
   row for a new member, so two replicas can never both treat a member as new);
2. lock + load groups, the same way;
3. lock + load participations, then progress rows: `SELECT ... JOIN unnest(selectors)
   ... ORDER BY key FOR UPDATE`;
4. lock + load the winner counters of limited occurrences (upsert RETURNING);
5. save: members, groups, participations, progress, ledger (upserts), winners (update),
   people finished (additive upsert). Empty parts are skipped.

Engine rows are stored whole as JSONB (`msgspec.json`), read back as text and decoded by
one reused typed decoder each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.definitions.challenge import ChallengeDefinition, check_challenges
from loyalty_progress.definitions.errors import DefinitionError
from loyalty_progress.engine.challenges import (
    Catalog,
    ChallengeInput,
    ChallengeOutcome,
    ChallengeState,
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
    RowSelector,
    counter_values,
    load_plan,
    member_keys,
    winner_keys,
)
from loyalty_progress.engine.challenges.tally import has_progress

_ENCODER: Final = msgspec.json.Encoder()
_MEMBER: Final = msgspec.json.Decoder(MemberRecord)
_GROUP: Final = msgspec.json.Decoder(GroupRecord)
_PARTICIPATION: Final = msgspec.json.Decoder(Participation)
_PROGRESS: Final = msgspec.json.Decoder(Progress)
_ENTRY: Final = msgspec.json.Decoder(Entry)


def _json(value: msgspec.Struct) -> str:
    return _ENCODER.encode(value).decode()


# --------------------------------------------------------------------------- lock + load

_LOCK_MEMBERS = text(
    """
    INSERT INTO challenge_members (club, member_id)
    SELECT * FROM unnest(CAST(:clubs AS text[]), CAST(:members AS text[])) AS k(club, member_id)
    ORDER BY 1, 2
    ON CONFLICT (club, member_id) DO UPDATE SET club = EXCLUDED.club
    RETURNING CAST(state AS text) AS state
    """
)

_LOCK_GROUPS = text(
    """
    INSERT INTO challenge_groups (club, group_code)
    SELECT * FROM unnest(CAST(:clubs AS text[]), CAST(:groups AS text[])) AS k(club, group_code)
    ORDER BY 1, 2
    ON CONFLICT (club, group_code) DO UPDATE SET club = EXCLUDED.club
    RETURNING CAST(state AS text) AS state
    """
)

_LOCK_PARTICIPATIONS = text(
    """
    SELECT CAST(p.participation AS text) AS participation
    FROM challenge_participations AS p
    JOIN unnest(CAST(:clubs AS text[]), CAST(:members AS text[]), CAST(:codes AS text[]),
                CAST(:after AS timestamptz[])) AS s(club, member_id, code, ends_after)
      ON p.club = s.club AND p.member_id = s.member_id AND p.code = s.code
         AND p.ends_at > s.ends_after
    ORDER BY p.club, p.member_id, p.code, p.occurrence
    FOR UPDATE OF p
    """
)

_LOCK_PROGRESS = text(
    """
    SELECT CAST(p.progress AS text) AS progress
    FROM challenge_progress AS p
    JOIN unnest(CAST(:clubs AS text[]), CAST(:kinds AS text[]), CAST(:subjects AS text[]),
                CAST(:codes AS text[]), CAST(:after AS timestamptz[]))
         AS s(club, subject_kind, subject_id, code, ends_after)
      ON p.club = s.club AND p.subject_kind = s.subject_kind AND p.subject_id = s.subject_id
         AND p.code = s.code AND p.ends_at > s.ends_after
    ORDER BY p.club, p.subject_kind, p.subject_id, p.code, p.occurrence
    FOR UPDATE OF p
    """
)

_LOCK_WINNERS = text(
    """
    INSERT INTO challenge_winners (club, code, occurrence)
    SELECT * FROM unnest(CAST(:clubs AS text[]), CAST(:codes AS text[]),
                         CAST(:occurrences AS integer[])) AS k(club, code, occurrence)
    ORDER BY 1, 2, 3
    ON CONFLICT (club, code, occurrence) DO UPDATE SET club = EXCLUDED.club
    RETURNING club, code, occurrence, winners
    """
)


async def lock_members(
    conn: AsyncConnection, keys: Sequence[MemberKey]
) -> dict[MemberKey, MemberRecord]:
    """Lock the members (creating placeholders); returns the records that exist."""
    if not keys:
        return {}
    result = await conn.execute(
        _LOCK_MEMBERS, {"clubs": [k[0] for k in keys], "members": [k[1] for k in keys]}
    )
    records = (_MEMBER.decode(row.state) for row in result if row.state is not None)
    return {r.key: r for r in records}


async def lock_groups(
    conn: AsyncConnection, keys: Sequence[GroupKey]
) -> dict[GroupKey, GroupRecord]:
    if not keys:
        return {}
    result = await conn.execute(
        _LOCK_GROUPS, {"clubs": [k[0] for k in keys], "groups": [k[1] for k in keys]}
    )
    records = (_GROUP.decode(row.state) for row in result if row.state is not None)
    return {r.key: r for r in records}


def _merged(selectors: Iterable[RowSelector]) -> list[RowSelector]:
    """One selector per (club, code, subject), with the earliest `ends_after`: the union."""
    earliest: dict[tuple[str, str, str, str], RowSelector] = {}
    for s in selectors:
        key = (s.club, s.code, s.subject_kind, s.subject_id)
        if key not in earliest or s.ends_after < earliest[key].ends_after:
            earliest[key] = s
    return sorted(earliest.values())


async def lock_participations(
    conn: AsyncConnection, selectors: Sequence[RowSelector]
) -> dict[ParticipationKey, Participation]:
    merged = _merged(selectors)
    if not merged:
        return {}
    result = await conn.execute(
        _LOCK_PARTICIPATIONS,
        {
            "clubs": [s.club for s in merged],
            "members": [s.subject_id for s in merged],
            "codes": [s.code for s in merged],
            "after": [s.ends_after for s in merged],
        },
    )
    rows = (_PARTICIPATION.decode(row.participation) for row in result)
    return {p.key: p for p in rows}


async def lock_progress(
    conn: AsyncConnection, selectors: Sequence[RowSelector]
) -> dict[ProgressKey, Progress]:
    merged = _merged(selectors)
    if not merged:
        return {}
    result = await conn.execute(
        _LOCK_PROGRESS,
        {
            "clubs": [s.club for s in merged],
            "kinds": [s.subject_kind for s in merged],
            "subjects": [s.subject_id for s in merged],
            "codes": [s.code for s in merged],
            "after": [s.ends_after for s in merged],
        },
    )
    rows = (_PROGRESS.decode(row.progress) for row in result)
    return {p.key: p for p in rows}


async def lock_winners(
    conn: AsyncConnection, keys: Sequence[OccurrenceKey]
) -> dict[OccurrenceKey, int]:
    if not keys:
        return {}
    result = await conn.execute(
        _LOCK_WINNERS,
        {
            "clubs": [k[0] for k in keys],
            "codes": [k[1] for k in keys],
            "occurrences": [k[2] for k in keys],
        },
    )
    return {(row.club, row.code, row.occurrence): int(row.winners) for row in result}


async def load_state(
    conn: AsyncConnection, inputs: Sequence[ChallengeInput], catalog: Catalog
) -> ChallengeState:
    """Lock and load everything the batch may touch, in the engine's lock order."""
    members = await lock_members(conn, member_keys(inputs))
    plan = load_plan(inputs, catalog, members)
    groups = await lock_groups(conn, plan.groups)
    participations = await lock_participations(conn, plan.participations)
    progress = await lock_progress(conn, plan.progress)
    keys = winner_keys(inputs, catalog, participations, progress)
    winners = await lock_winners(conn, keys)
    return ChallengeState(
        members=members,
        groups=groups,
        participations=participations,
        progress=progress,
        winners=winners,
    )


# --------------------------------------------------------------------------- save

_SAVE_MEMBERS = text(
    """
    INSERT INTO challenge_members AS t (club, member_id, state)
    SELECT u.club, u.member_id, CAST(u.state AS jsonb)
    FROM unnest(CAST(:clubs AS text[]), CAST(:members AS text[]), CAST(:states AS text[]))
         AS u(club, member_id, state)
    ORDER BY 1, 2
    ON CONFLICT (club, member_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
    """
)

_SAVE_GROUPS = text(
    """
    INSERT INTO challenge_groups AS t (club, group_code, state)
    SELECT u.club, u.group_code, CAST(u.state AS jsonb)
    FROM unnest(CAST(:clubs AS text[]), CAST(:groups AS text[]), CAST(:states AS text[]))
         AS u(club, group_code, state)
    ORDER BY 1, 2
    ON CONFLICT (club, group_code) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
    """
)

_SAVE_PARTICIPATIONS = text(
    """
    INSERT INTO challenge_participations
        (club, member_id, code, occurrence, starts_at, ends_at, participation)
    SELECT u.club, u.member_id, u.code, u.occurrence, u.starts_at, u.ends_at,
           CAST(u.participation AS jsonb)
    FROM unnest(CAST(:clubs AS text[]), CAST(:members AS text[]), CAST(:codes AS text[]),
                CAST(:occurrences AS integer[]), CAST(:starts AS timestamptz[]),
                CAST(:ends AS timestamptz[]), CAST(:rows AS text[]))
         AS u(club, member_id, code, occurrence, starts_at, ends_at, participation)
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (club, member_id, code, occurrence)
    DO UPDATE SET participation = EXCLUDED.participation, updated_at = now()
    """
)

_SAVE_PROGRESS = text(
    """
    INSERT INTO challenge_progress
        (club, subject_kind, subject_id, code, occurrence, starts_at, ends_at, completed_at,
         winner, expired_at, has_progress, progress)
    SELECT u.club, u.subject_kind, u.subject_id, u.code, u.occurrence, u.starts_at, u.ends_at,
           u.completed_at, u.winner, u.expired_at, u.has_progress, CAST(u.progress AS jsonb)
    FROM unnest(CAST(:clubs AS text[]), CAST(:kinds AS text[]), CAST(:subjects AS text[]),
                CAST(:codes AS text[]), CAST(:occurrences AS integer[]),
                CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
                CAST(:completed AS timestamptz[]), CAST(:winners AS boolean[]),
                CAST(:expired AS timestamptz[]), CAST(:has_progress AS boolean[]),
                CAST(:rows AS text[]))
         AS u(club, subject_kind, subject_id, code, occurrence, starts_at, ends_at,
              completed_at, winner, expired_at, has_progress, progress)
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (club, subject_kind, subject_id, code, occurrence) DO UPDATE SET
        completed_at = EXCLUDED.completed_at, winner = EXCLUDED.winner,
        expired_at = EXCLUDED.expired_at, has_progress = EXCLUDED.has_progress,
        progress = EXCLUDED.progress, updated_at = now()
    """
)

_SAVE_LEDGER = text(
    """
    INSERT INTO challenge_ledger
        (club, member_id, code, event_id, occurrence, occurred_at, source, reason, counted,
         entry, recorded_at)
    SELECT u.club, u.member_id, u.code, u.event_id, u.occurrence, u.occurred_at, u.source,
           u.reason, u.counted, CAST(u.entry AS jsonb), u.recorded_at
    FROM unnest(CAST(:clubs AS text[]), CAST(:members AS text[]), CAST(:codes AS text[]),
                CAST(:events AS text[]), CAST(:occurrences AS integer[]),
                CAST(:occurred AS timestamptz[]), CAST(:sources AS text[]),
                CAST(:reasons AS text[]), CAST(:counted AS boolean[]),
                CAST(:entries AS text[]), CAST(:recorded AS timestamptz[]))
         AS u(club, member_id, code, event_id, occurrence, occurred_at, source, reason,
              counted, entry, recorded_at)
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (club, member_id, code, event_id) DO UPDATE SET
        occurrence = EXCLUDED.occurrence, occurred_at = EXCLUDED.occurred_at,
        source = EXCLUDED.source, reason = EXCLUDED.reason, counted = EXCLUDED.counted,
        entry = EXCLUDED.entry, recorded_at = EXCLUDED.recorded_at
    """
)

_SAVE_WINNERS = text(
    """
    UPDATE challenge_winners AS w SET winners = u.winners
    FROM unnest(CAST(:clubs AS text[]), CAST(:codes AS text[]), CAST(:occurrences AS integer[]),
                CAST(:winners AS integer[])) AS u(club, code, occurrence, winners)
    WHERE w.club = u.club AND w.code = u.code AND w.occurrence = u.occurrence
    """
)

_ADD_FINISHERS = text(
    """
    INSERT INTO challenge_finishers AS t (club, code, occurrence, people_finished)
    SELECT * FROM unnest(CAST(:clubs AS text[]), CAST(:codes AS text[]),
                         CAST(:occurrences AS integer[]), CAST(:counts AS integer[]))
    ORDER BY 1, 2, 3
    ON CONFLICT (club, code, occurrence)
    DO UPDATE SET people_finished = t.people_finished + EXCLUDED.people_finished
    """
)


async def save_outcome(conn: AsyncConnection, outcome: ChallengeOutcome, catalog: Catalog) -> None:
    """Write back what the engine changed (whole rows), the ledger, and the counters."""
    await _save_members(conn, outcome.members)
    await _save_groups(conn, outcome.groups)
    await _save_participations(conn, outcome.participations)
    await save_progress(conn, outcome.progress.values(), catalog)
    await _save_ledger(conn, outcome.ledger)
    await _save_winners(conn, outcome.winners)
    await _add_finishers(conn, outcome.completions)


async def _save_members(conn: AsyncConnection, rows: Mapping[MemberKey, MemberRecord]) -> None:
    keys = sorted(rows)
    if keys:
        await conn.execute(
            _SAVE_MEMBERS,
            {
                "clubs": [k[0] for k in keys],
                "members": [k[1] for k in keys],
                "states": [_json(rows[k]) for k in keys],
            },
        )


async def _save_groups(conn: AsyncConnection, rows: Mapping[GroupKey, GroupRecord]) -> None:
    keys = sorted(rows)
    if keys:
        await conn.execute(
            _SAVE_GROUPS,
            {
                "clubs": [k[0] for k in keys],
                "groups": [k[1] for k in keys],
                "states": [_json(rows[k]) for k in keys],
            },
        )


async def _save_participations(
    conn: AsyncConnection, rows: Mapping[ParticipationKey, Participation]
) -> None:
    parts = sorted(rows.values(), key=lambda p: (p.club, p.member_id, p.code, p.occurrence))
    if parts:
        await conn.execute(
            _SAVE_PARTICIPATIONS,
            {
                "clubs": [p.club for p in parts],
                "members": [p.member_id for p in parts],
                "codes": [p.code for p in parts],
                "occurrences": [p.occurrence for p in parts],
                "starts": [p.starts_at for p in parts],
                "ends": [p.ends_at for p in parts],
                "rows": [_json(p) for p in parts],
            },
        )


def _has_progress(row: Progress, catalog: Catalog) -> bool:
    definition = catalog.get(row.club, row.code)
    if definition is None:
        return any(not t.empty for t in row.tallies.values())
    return has_progress(counter_values(definition, row.tallies.values()))


async def save_progress(conn: AsyncConnection, rows: Iterable[Progress], catalog: Catalog) -> None:
    progress = sorted(
        rows, key=lambda p: (p.club, p.subject_kind, p.subject_id, p.code, p.occurrence)
    )
    if not progress:
        return
    await conn.execute(
        _SAVE_PROGRESS,
        {
            "clubs": [p.club for p in progress],
            "kinds": [p.subject_kind for p in progress],
            "subjects": [p.subject_id for p in progress],
            "codes": [p.code for p in progress],
            "occurrences": [p.occurrence for p in progress],
            "starts": [p.starts_at for p in progress],
            "ends": [p.ends_at for p in progress],
            "completed": [p.completed.occurred_at if p.completed else None for p in progress],
            "winners": [p.winner for p in progress],
            "expired": [p.expired_at for p in progress],
            "has_progress": [_has_progress(p, catalog) for p in progress],
            "rows": [_json(p) for p in progress],
        },
    )


def counts_now(entry: Entry) -> bool:
    """The ledger's `counted`: the entry adds to some subject's counters right now."""
    return entry.live and bool(entry.counted_for)


async def _save_ledger(conn: AsyncConnection, ledger: Sequence[LedgerEntry]) -> None:
    # A later line for the same key replaces an earlier one (one upsert per row and
    # statement is all PostgreSQL allows).
    latest = {(e.club, e.member_id, e.code, e.entry.event_id): e for e in ledger}
    keys = sorted(latest)
    if not keys:
        return
    lines = [latest[k] for k in keys]
    await conn.execute(
        _SAVE_LEDGER,
        {
            "clubs": [e.club for e in lines],
            "members": [e.member_id for e in lines],
            "codes": [e.code for e in lines],
            "events": [e.entry.event_id for e in lines],
            "occurrences": [e.occurrence for e in lines],
            "occurred": [e.entry.occurred_at for e in lines],
            "sources": [e.entry.source for e in lines],
            "reasons": [e.entry.reason for e in lines],
            "counted": [counts_now(e.entry) for e in lines],
            "entries": [_json(e.entry) for e in lines],
            "recorded": [e.recorded_at for e in lines],
        },
    )


async def _save_winners(conn: AsyncConnection, winners: Mapping[OccurrenceKey, int]) -> None:
    keys = sorted(winners)
    if keys:
        await conn.execute(
            _SAVE_WINNERS,
            {
                "clubs": [k[0] for k in keys],
                "codes": [k[1] for k in keys],
                "occurrences": [k[2] for k in keys],
                "winners": [winners[k] for k in keys],
            },
        )


async def _add_finishers(conn: AsyncConnection, completions: Mapping[OccurrenceKey, int]) -> None:
    keys = sorted(k for k, n in completions.items() if n)
    if keys:
        await conn.execute(
            _ADD_FINISHERS,
            {
                "clubs": [k[0] for k in keys],
                "codes": [k[1] for k in keys],
                "occurrences": [k[2] for k in keys],
                "counts": [completions[k] for k in keys],
            },
        )


# --------------------------------------------------------------------------- expiry

# Keyset pagination over the due rows of known challenges; SKIP LOCKED leaves rows that a
# batch or another replica holds to whoever holds them (or to the next tick).
_LOCK_DUE = text(
    """
    SELECT CAST(p.progress AS text) AS progress
    FROM challenge_progress AS p
    WHERE p.completed_at IS NULL AND p.expired_at IS NULL AND p.has_progress
      AND p.ends_at <= :now
      AND (p.club, p.code) IN (SELECT * FROM unnest(CAST(:clubs AS text[]),
                                                    CAST(:codes AS text[])))
      AND (p.club, p.subject_kind, p.subject_id, p.code, p.occurrence)
          > (CAST(:club AS text), CAST(:kind AS text), CAST(:subject AS text),
             CAST(:code AS text), CAST(:occurrence AS integer))
    ORDER BY p.club, p.subject_kind, p.subject_id, p.code, p.occurrence
    LIMIT :limit
    FOR UPDATE OF p SKIP LOCKED
    """
)

_LOAD_GROUPS = text(
    """
    SELECT CAST(g.state AS text) AS state FROM challenge_groups AS g
    JOIN unnest(CAST(:clubs AS text[]), CAST(:groups AS text[])) AS k(club, group_code)
      ON g.club = k.club AND g.group_code = k.group_code
    WHERE g.state IS NOT NULL
    """
)

ProgressCursor = tuple[str, str, str, str, int]  # (club, kind, subject, code, occurrence)
CURSOR_START: Final[ProgressCursor] = ("", "", "", "", -1)


def cursor_of(row: Progress) -> ProgressCursor:
    return (row.club, row.subject_kind, row.subject_id, row.code, row.occurrence)


async def lock_due_progress(
    conn: AsyncConnection,
    challenges: Sequence[tuple[str, str]],
    now: datetime,
    after: ProgressCursor,
    limit: int,
) -> list[Progress]:
    """Up to `limit` due progress rows after `after` (key order) that nobody holds."""
    if not challenges:
        return []
    result = await conn.execute(
        _LOCK_DUE,
        {
            "now": now,
            "clubs": [c[0] for c in challenges],
            "codes": [c[1] for c in challenges],
            "club": after[0],
            "kind": after[1],
            "subject": after[2],
            "code": after[3],
            "occurrence": after[4],
            "limit": limit,
        },
    )
    return [_PROGRESS.decode(row.progress) for row in result]


async def load_groups(
    conn: AsyncConnection, keys: Iterable[GroupKey]
) -> dict[GroupKey, GroupRecord]:
    """Group records without locking them (for recipients, and the read side)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    result = await conn.execute(
        _LOAD_GROUPS, {"clubs": [k[0] for k in wanted], "groups": [k[1] for k in wanted]}
    )
    records = (_GROUP.decode(row.state) for row in result)
    return {r.key: r for r in records}


# --------------------------------------------------------------------------- read side

_MEMBER_READ = text(
    """
    SELECT CAST(m.state AS text) AS state,
           m.member_id IS NOT NULL OR EXISTS (
               SELECT 1 FROM processed_events AS e
               WHERE e.club = :club AND e.member_id = :member) AS known
    FROM (SELECT 1) AS one
    LEFT JOIN challenge_members AS m ON m.club = :club AND m.member_id = :member
    """
)

_GROUP_READ = text(
    """
    SELECT CAST(g.state AS text) AS state,
           g.group_code IS NOT NULL OR EXISTS (
               SELECT 1 FROM challenge_progress AS p
               WHERE p.club = :club AND p.subject_kind = 'group' AND p.subject_id = :group)
           AS known
    FROM (SELECT 1) AS one
    LEFT JOIN challenge_groups AS g ON g.club = :club AND g.group_code = :group
    """
)

_SUBJECT_PROGRESS = text(
    """
    SELECT CAST(progress AS text) AS progress FROM challenge_progress
    WHERE club = :club AND subject_kind = :kind AND subject_id = :subject
    ORDER BY code, occurrence
    """
)

_OCCURRENCE_COUNTS = text(
    """
    SELECT k.club, k.code, k.occurrence,
           coalesce(f.people_finished, 0) AS people_finished,
           coalesce(w.winners, 0) AS winners
    FROM unnest(CAST(:clubs AS text[]), CAST(:codes AS text[]), CAST(:occurrences AS integer[]))
         AS k(club, code, occurrence)
    LEFT JOIN challenge_finishers AS f
      ON f.club = k.club AND f.code = k.code AND f.occurrence = k.occurrence
    LEFT JOIN challenge_winners AS w
      ON w.club = k.club AND w.code = k.code AND w.occurrence = k.occurrence
    """
)

_LEDGER_READ = text(
    """
    SELECT occurrence, recorded_at, CAST(entry AS text) AS entry FROM challenge_ledger
    WHERE club = :club AND member_id = :member AND code = :code
      AND (CAST(:occurrence AS integer) IS NULL OR occurrence = :occurrence)
    ORDER BY occurred_at, event_id
    """
)


@dataclass(frozen=True, slots=True)
class SubjectRecord:
    """What the read side knows of a member or group: whether it exists at all (an unknown
    one gets empty lists) and its record, if any."""

    known: bool
    member: MemberRecord | None = None
    group: GroupRecord | None = None


@dataclass(frozen=True, slots=True)
class OccurrenceCounts:
    people_finished: int
    winners: int


@dataclass(frozen=True, slots=True)
class LedgerLine:
    occurrence: int | None
    recorded_at: datetime
    entry: Entry


async def read_member(conn: AsyncConnection, club: str, member_id: str) -> SubjectRecord:
    row = (await conn.execute(_MEMBER_READ, {"club": club, "member": member_id})).one()
    record = _MEMBER.decode(row.state) if row.state is not None else None
    return SubjectRecord(known=bool(row.known), member=record)


async def read_group(conn: AsyncConnection, club: str, group_code: str) -> SubjectRecord:
    row = (await conn.execute(_GROUP_READ, {"club": club, "group": group_code})).one()
    record = _GROUP.decode(row.state) if row.state is not None else None
    return SubjectRecord(known=bool(row.known), group=record)


async def read_progress(
    conn: AsyncConnection, club: str, subject_kind: str, subject_id: str
) -> dict[ProgressKey, Progress]:
    result = await conn.execute(
        _SUBJECT_PROGRESS, {"club": club, "kind": subject_kind, "subject": subject_id}
    )
    rows = (_PROGRESS.decode(row.progress) for row in result)
    return {p.key: p for p in rows}


async def read_occurrence_counts(
    conn: AsyncConnection, keys: Iterable[OccurrenceKey]
) -> dict[OccurrenceKey, OccurrenceCounts]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    result = await conn.execute(
        _OCCURRENCE_COUNTS,
        {
            "clubs": [k[0] for k in wanted],
            "codes": [k[1] for k in wanted],
            "occurrences": [k[2] for k in wanted],
        },
    )
    return {
        (r.club, r.code, r.occurrence): OccurrenceCounts(int(r.people_finished), int(r.winners))
        for r in result
    }


async def read_ledger(
    conn: AsyncConnection, club: str, member_id: str, code: str, occurrence: int | None
) -> list[LedgerLine]:
    result = await conn.execute(
        _LEDGER_READ,
        {"club": club, "member": member_id, "code": code, "occurrence": occurrence},
    )
    return [LedgerLine(r.occurrence, r.recorded_at, _ENTRY.decode(r.entry)) for r in result]


# --------------------------------------------------------------------------- definitions

_LOCK_DEFINITIONS = text("LOCK TABLE definitions IN SHARE ROW EXCLUSIVE MODE")
_STORED_CHALLENGES = text(
    """
    SELECT DISTINCT ON (club, code) club, code, version, body, source
    FROM definitions WHERE kind = 'challenge' ORDER BY club, code, version DESC
    """
)


async def check_challenge_set(
    conn: AsyncConnection, new: Sequence[tuple[ChallengeDefinition, str]]
) -> None:
    """`check_challenges` over the stored challenges with `new` (definition, file) applied
    on top, inside the caller's transaction (the definitions table is locked until it
    ends, so two applies cannot both pass). Raises `DefinitionError` naming the file that
    holds the offending definition."""
    from loyalty_progress.definitions.challenge import parse_challenge

    await conn.execute(_LOCK_DEFINITIONS)
    merged: dict[tuple[str, str], ChallengeDefinition] = {}
    sources: dict[tuple[str, str], str] = {}
    for row in await conn.execute(_STORED_CHALLENGES):
        source = f"stored `{row.code}` v{row.version} (from {row.source})"
        try:
            definition = parse_challenge(dict(row.body), source)
        except DefinitionError:
            continue  # the workers ignore it too (and log why)
        merged[(row.club, row.code)] = definition
        sources[(row.club, row.code)] = source
    for definition, source in new:
        merged[(definition.club, definition.code)] = definition
        sources[(definition.club, definition.code)] = source
    try:
        check_challenges(list(merged.values()), "")
    except DefinitionError as exc:
        new_first = [*((d.club, d.code) for d, _ in new), *merged]
        owner = next((k for k in new_first if k[1] == exc.code), None)
        source = sources[owner] if owner else "definitions"
        raise DefinitionError(source, exc.code, exc.field, exc.problem) from None


__all__ = [
    "CURSOR_START",
    "LedgerLine",
    "OccurrenceCounts",
    "ProgressCursor",
    "SubjectRecord",
    "check_challenge_set",
    "counts_now",
    "cursor_of",
    "load_groups",
    "load_state",
    "lock_due_progress",
    "read_group",
    "read_ledger",
    "read_member",
    "read_occurrence_counts",
    "read_progress",
    "save_outcome",
    "save_progress",
]
