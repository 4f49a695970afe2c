"""PostgreSQL side of `replay recompute`: read a club's processed events, lock and load one
challenge's or one edition's rows, and replace them with the recomputed ones.

Callers run all of it in one REPEATABLE READ transaction (see `replay.recompute`): the
events and the rows come from one snapshot, and a row a live batch changed after that
snapshot makes the locking or the writing statement fail with a serialization error
(SQLSTATE 40001), upon which the whole recompute is retried. Rows are locked in the
worker's lock order (members, groups, then the challenge's own rows; memberships before
their days), each table's keys sorted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.engine.attendance import AttendanceDay, Contribution, ReceiptContribution
from loyalty_progress.engine.challenges import (
    GroupKey,
    MemberKey,
    MemberRecord,
    OccurrenceKey,
    Progress,
)
from loyalty_progress.store.challenge_bodies import PROGRESS_COLUMNS, progress_row

_MEMBER: Final = msgspec.json.Decoder(MemberRecord)
_RECEIPTS: Final = msgspec.json.Decoder(tuple[ReceiptContribution, ...])


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of `processed_events`: the raw body as it was consumed, and when."""

    stream: str
    event_id: str
    body: bytes
    processed_at: datetime


# Processing order: the batch each event was committed in (its transaction's `now()`),
# then time order inside the batch. The caller refines the order inside a batch.
_CLUB_EVENTS = text(
    """
    SELECT stream, event_id, body, processed_at
    FROM processed_events
    WHERE club = :club AND stream = ANY(CAST(:streams AS text[]))
    ORDER BY processed_at, occurred_at, event_id
    """
)


async def club_events(
    conn: AsyncConnection, club: str, streams: Sequence[str]
) -> list[StoredEvent]:
    result = await conn.execute(_CLUB_EVENTS, {"club": club, "streams": list(streams)})
    return [StoredEvent(r.stream, r.event_id, bytes(r.body), r.processed_at) for r in result]


# --------------------------------------------------------------------------- challenges

_CHALLENGE_MEMBERS = text(
    """
    SELECT member_id FROM challenge_ledger WHERE club = :club AND code = :code AND tracked
    UNION
    SELECT subject_id FROM challenge_progress
    WHERE club = :club AND code = :code AND subject_kind = 'member'
    """
)


async def challenge_member_ids(conn: AsyncConnection, club: str, code: str) -> set[str]:
    """Members that have rows of this challenge now."""
    result = await conn.execute(_CHALLENGE_MEMBERS, {"club": club, "code": code})
    return {row[0] for row in result}


# Members are locked with the same upsert as a batch uses (placeholders for new ones), so
# a live batch of any of these members waits for the recompute, and vice versa.
_LOCK_MEMBERS = text(
    """
    INSERT INTO challenge_members (club, member_id)
    SELECT :club, m FROM unnest(CAST(:members AS text[])) AS k(m)
    ORDER BY 2
    ON CONFLICT (club, member_id) DO UPDATE SET club = EXCLUDED.club
    RETURNING member_id, CAST(state AS text) AS state
    """
)


async def lock_members(
    conn: AsyncConnection, club: str, member_ids: Iterable[str]
) -> dict[MemberKey, MemberRecord]:
    members = sorted(set(member_ids))
    if not members:
        return {}
    result = await conn.execute(_LOCK_MEMBERS, {"club": club, "members": members})
    records = (_MEMBER.decode(row.state) for row in result if row.state is not None)
    return {r.key: r for r in records}


_LOCK_GROUPS = text(
    """
    SELECT group_code FROM challenge_groups
    WHERE club = :club AND group_code = ANY(CAST(:groups AS text[]))
    ORDER BY group_code
    FOR UPDATE
    """
)


async def lock_groups(conn: AsyncConnection, keys: Iterable[GroupKey]) -> None:
    """Row-lock the existing group rows (the batch's second lock), sorted."""
    by_club: dict[str, list[str]] = {}
    for club, group in sorted(set(keys)):
        by_club.setdefault(club, []).append(group)
    for club, groups in by_club.items():
        await conn.execute(_LOCK_GROUPS, {"club": club, "groups": groups})


_LOCK_PROGRESS = text(
    f"""
    SELECT {PROGRESS_COLUMNS.format(t="")}
    FROM challenge_progress
    WHERE club = :club AND code = :code
    ORDER BY club, subject_kind, subject_id, code, occurrence
    FOR UPDATE
    """
)

_LOCK_COUNTERS = text(
    """
    SELECT 1 FROM challenge_winners WHERE club = :club AND code = :code
    ORDER BY occurrence FOR UPDATE
    """
)


@dataclass(frozen=True, slots=True)
class ChallengeRows:
    progress: list[Progress]


_GROUP_SUBJECTS = text(
    """
    SELECT DISTINCT subject_id FROM challenge_progress
    WHERE club = :club AND code = :code AND subject_kind = 'group'
    """
)


async def lock_challenge_rows(
    conn: AsyncConnection, club: str, code: str, groups: Iterable[GroupKey] = ()
) -> ChallengeRows:
    """Lock the groups (`groups` and those with a row of the challenge), then lock and load
    the challenge's progress, then its winner counters: the batch's lock order (call after
    `lock_members`, whose locks also cover the members' ledger lines, their
    participations)."""
    params = {"club": club, "code": code}
    subjects = await conn.execute(_GROUP_SUBJECTS, params)
    await lock_groups(conn, {*groups, *((club, row[0]) for row in subjects)})
    rows = await conn.execute(_LOCK_PROGRESS, params)
    progress = [progress_row(r) for r in rows]
    await conn.execute(_LOCK_COUNTERS, params)
    return ChallengeRows(progress)


_CLEAR_CHALLENGE: Final = tuple(
    text(f"DELETE FROM {table} WHERE club = :club AND code = :code")
    for table in (
        "challenge_progress",
        "challenge_ledger",
        "challenge_winners",
        "challenge_finishers",
    )
)


async def clear_challenge(conn: AsyncConnection, club: str, code: str) -> None:
    """Remove the challenge's rows (those this transaction's snapshot sees)."""
    for statement in _CLEAR_CHALLENGE:
        await conn.execute(statement, {"club": club, "code": code})


_SET_WINNERS = text(
    """
    INSERT INTO challenge_winners (club, code, occurrence, winners)
    SELECT * FROM unnest(CAST(:clubs AS text[]), CAST(:codes AS text[]),
                         CAST(:occurrences AS integer[]), CAST(:winners AS integer[]))
    ORDER BY 1, 2, 3
    """
)


async def set_winners(conn: AsyncConnection, winners: dict[OccurrenceKey, int]) -> None:
    keys = sorted(winners)
    if keys:
        await conn.execute(
            _SET_WINNERS,
            {
                "clubs": [k[0] for k in keys],
                "codes": [k[1] for k in keys],
                "occurrences": [k[2] for k in keys],
                "winners": [winners[k] for k in keys],
            },
        )


# --------------------------------------------------------------------------- attendance

_EDITION_MEMBERS = text(
    "SELECT member_id FROM attendance_memberships WHERE club = :club AND edition = :edition"
)


async def edition_member_ids(conn: AsyncConnection, club: str, edition: str) -> set[str]:
    result = await conn.execute(_EDITION_MEMBERS, {"club": club, "edition": edition})
    return {row[0] for row in result}


_EDITION_DAYS = text(
    """
    SELECT club, edition, member_id, day, CAST(receipts AS text) AS receipts
    FROM attendance_days WHERE club = :club AND edition = :edition
    ORDER BY member_id, day
    """
)


async def edition_days(conn: AsyncConnection, club: str, edition: str) -> list[AttendanceDay]:
    """The edition's day rows (read under the memberships' locks)."""
    result = await conn.execute(_EDITION_DAYS, {"club": club, "edition": edition})
    return [
        AttendanceDay(
            club=r.club,
            edition=r.edition,
            member_id=r.member_id,
            day=r.day,
            receipts=_RECEIPTS.decode(r.receipts),
        )
        for r in result
    ]


_PROCESSED_AT = text(
    """
    SELECT event_id, processed_at FROM attendance_contributions
    WHERE club = :club AND edition = :edition
    """
)


async def contribution_instants(
    conn: AsyncConnection, club: str, edition: str
) -> dict[str, datetime]:
    """event id -> the instant its batch processed it for this edition (the batch's `now`)."""
    result = await conn.execute(_PROCESSED_AT, {"club": club, "edition": edition})
    return {row.event_id: row.processed_at for row in result}


_CLEAR_EDITION: Final = tuple(
    text(f"DELETE FROM {table} WHERE club = :club AND edition = :edition")
    for table in ("attendance_days", "attendance_contributions")
)


async def clear_edition(conn: AsyncConnection, club: str, edition: str) -> None:
    """Remove the edition's days and ledger (memberships are updated in place)."""
    for statement in _CLEAR_EDITION:
        await conn.execute(statement, {"club": club, "edition": edition})


_ADD_CONTRIBUTIONS = text(
    """
    INSERT INTO attendance_contributions
        (club, edition, event_id, member_id, receipt_id, status, day, stage, approved_delta,
         pending_delta, counted, reason, processed_at)
    SELECT * FROM unnest(
        CAST(:clubs AS text[]), CAST(:editions AS text[]), CAST(:events AS text[]),
        CAST(:members AS text[]), CAST(:receipts AS text[]), CAST(:statuses AS text[]),
        CAST(:days AS date[]), CAST(:stages AS text[]), CAST(:approved AS numeric[]),
        CAST(:pending AS numeric[]), CAST(:counted AS boolean[]), CAST(:reasons AS text[]),
        CAST(:processed AS timestamptz[]))
    ON CONFLICT (club, edition, event_id) DO NOTHING
    """
)


async def add_contributions(
    conn: AsyncConnection, lines: Sequence[tuple[Contribution, datetime]]
) -> None:
    """Ledger lines, each with the instant it was (re)computed as of."""
    if not lines:
        return
    await conn.execute(
        _ADD_CONTRIBUTIONS,
        {
            "clubs": [c.club for c, _ in lines],
            "editions": [c.edition for c, _ in lines],
            "events": [c.event_id for c, _ in lines],
            "members": [c.member_id for c, _ in lines],
            "receipts": [c.receipt_id for c, _ in lines],
            "statuses": [c.status for c, _ in lines],
            "days": [c.day for c, _ in lines],
            "stages": [c.stage for c, _ in lines],
            "approved": [c.approved_delta for c, _ in lines],
            "pending": [c.pending_delta for c, _ in lines],
            "counted": [c.counted for c, _ in lines],
            "reasons": [c.reason for c, _ in lines],
            "processed": [at for _, at in lines],
        },
    )


__all__ = [
    "ChallengeRows",
    "StoredEvent",
    "add_contributions",
    "challenge_member_ids",
    "clear_challenge",
    "clear_edition",
    "club_events",
    "contribution_instants",
    "edition_days",
    "edition_member_ids",
    "lock_challenge_rows",
    "lock_groups",
    "lock_members",
    "set_winners",
]
