"""Counter challenges in PostgreSQL outside the batch's write path: the expiry scheduler's
chunks, the read side's queries and the check of a definition set against stored rows.
(The batch's lock + load and save are in `store.challenge_writes`.)

Engine rows are stored as JSONB (`msgspec.json`) beside their key columns, read back as
text and decoded by one reused typed decoder each; progress rows and ledger lines are
rebuilt from both (`store.challenge_bodies`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.definitions.challenge import (
    ChallengeDefinition,
    check_challenges,
    parse_challenge,
)
from loyalty_progress.definitions.errors import DefinitionError
from loyalty_progress.engine.challenges import (
    Entry,
    GroupKey,
    GroupRecord,
    MemberRecord,
    OccurrenceKey,
    Progress,
    ProgressKey,
)
from loyalty_progress.store.challenge_bodies import PROGRESS_COLUMNS, entry_of, progress_row

_MEMBER: Final = msgspec.json.Decoder(MemberRecord)
_GROUP: Final = msgspec.json.Decoder(GroupRecord)


# --------------------------------------------------------------------------- expiry

# Keyset pagination over the due rows of known challenges; SKIP LOCKED leaves rows that a
# batch or another replica holds to whoever holds them (or to the next tick).
_LOCK_DUE = text(
    f"""
    SELECT {PROGRESS_COLUMNS.format(t="p.")}
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
    return [progress_row(row) for row in result]


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
    "SELECT CAST(state AS text) AS state FROM challenge_members "
    "WHERE club = :club AND member_id = :member"
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
    f"""
    SELECT {PROGRESS_COLUMNS.format(t="")}
    FROM challenge_progress
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
    LEFT JOIN LATERAL (
        SELECT sum(s.people_finished) AS people_finished FROM challenge_finishers AS s
        WHERE s.club = k.club AND s.code = k.code AND s.occurrence = k.occurrence
    ) AS f ON true
    LEFT JOIN challenge_winners AS w
      ON w.club = k.club AND w.code = k.code AND w.occurrence = k.occurrence
    """
)

_LEDGER_READ = text(
    """
    SELECT occurrence, recorded_at, event_id, source, reason, CAST(entry AS text) AS entry
    FROM challenge_ledger
    WHERE club = :club AND member_id = :member AND code = :code
      AND (CAST(:occurrence AS integer) IS NULL OR occurrence = :occurrence)
    ORDER BY occurred_at, event_id
    """
)


@dataclass(frozen=True, slots=True)
class SubjectRecord:
    """What the read side knows of a group: whether it exists at all (an unknown one gets
    empty lists) and its record, if any. (Every member of the club exists: a member
    without a record is one no event has reached yet.)"""

    known: bool
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


async def read_member(conn: AsyncConnection, club: str, member_id: str) -> MemberRecord | None:
    """The member's facts (opt-ins, groups, unlocks); None before any of them."""
    row = (await conn.execute(_MEMBER_READ, {"club": club, "member": member_id})).one_or_none()
    return _MEMBER.decode(row.state) if row is not None and row.state is not None else None


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
    rows = (progress_row(row) for row in result)
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
    return [
        LedgerLine(r.occurrence, r.recorded_at, entry_of(r.event_id, r.source, r.reason, r.entry))
        for r in result
    ]


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
    "cursor_of",
    "load_groups",
    "lock_due_progress",
    "read_group",
    "read_ledger",
    "read_member",
    "read_occurrence_counts",
    "read_progress",
]
