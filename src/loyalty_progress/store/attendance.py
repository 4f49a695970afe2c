"""Attendance state in PostgreSQL: set-based lock, load and save for a batch or a tick.

Every statement takes its rows as one JSON parameter (`jsonrows`) and handles all the
members of a batch at once: a batch costs three statements here (lock + load
memberships, load days, save memberships + days + ledger lines), whatever its size.
Membership rows are locked in sorted key order, first of all the attendance tables; day
rows are written only under their membership's lock and need no lock of their own.

Engine Structs are stored as JSONB encoded with msgspec (exact decimals, aware
timestamps), nested in the row parameter and encoded in the same pass
(`state_rows_param`), and decoded back into the same types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.engine.attendance import (
    AttendanceDay,
    AttendanceMembership,
    Contribution,
    ReceiptContribution,
)
from loyalty_progress.engine.attendance.ledger import LedgerLine
from loyalty_progress.engine.attendance.plan import DayRange, MembershipKey
from loyalty_progress.store.jsonrows import rows_param, rows_source, state_rows_param
from loyalty_progress.store.row_locks import lock_or_place

_MEMBERSHIP: Final = msgspec.json.Decoder(AttendanceMembership)
_CONTRIBUTION: Final = msgspec.json.Decoder(Contribution)
_RECEIPTS: Final = msgspec.json.Decoder(tuple[ReceiptContribution, ...])


@dataclass(frozen=True, slots=True)
class LockedMembership:
    """A locked row as loaded: `membership` None means the member has not joined."""

    membership: AttendanceMembership | None
    due_at: datetime | None
    edition_hash: str | None


@dataclass(frozen=True, slots=True)
class MembershipWrite:
    key: MembershipKey
    membership: AttendanceMembership
    due_at: datetime | None
    edition_hash: str


def decode_membership(raw: str | bytes | None) -> AttendanceMembership | None:
    return None if raw is None else _MEMBERSHIP.decode(raw)


# Lock + load in one round trip, with a placeholder for a member never seen in this
# edition (`store.row_locks`).
_KEY_COLUMNS: Final = [("club", "text"), ("edition", "text"), ("member_id", "text")]

_LOCK_MEMBERSHIPS = lock_or_place(
    "attendance_memberships",
    [name for name, _ in _KEY_COLUMNS],
    ["CAST(membership AS text) AS membership", "due_at", "edition_hash"],
)


async def lock_memberships(
    conn: AsyncConnection, keys: Iterable[MembershipKey]
) -> dict[MembershipKey, LockedMembership]:
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    result = await conn.execute(_LOCK_MEMBERSHIPS, {"keys": rows_param(ordered)})
    return {
        (r.club, r.edition, r.member_id): LockedMembership(
            decode_membership(r.membership), r.due_at, r.edition_hash
        )
        for r in result
    }


_LOAD_DAYS = text(
    f"""
    SELECT d.club, d.edition, d.member_id, d.day, CAST(d.receipts AS text) AS receipts
    FROM {rows_source("ranges", [*_KEY_COLUMNS, ("first_day", "date"), ("next_day", "date")])} AS k
    JOIN attendance_days AS d
      ON d.club = k.club AND d.edition = k.edition AND d.member_id = k.member_id
     AND d.day >= k.first_day AND d.day < k.next_day
    """
)


def _day(row: Any) -> AttendanceDay:
    return AttendanceDay(
        club=row.club,
        edition=row.edition,
        member_id=row.member_id,
        day=row.day,
        receipts=_RECEIPTS.decode(row.receipts),
    )


async def load_days(
    conn: AsyncConnection, ranges: Sequence[DayRange]
) -> dict[MembershipKey, list[AttendanceDay]]:
    """The day rows in the given ranges (call after locking their memberships)."""
    found: dict[MembershipKey, list[AttendanceDay]] = {}
    if not ranges:
        return found
    result = await conn.execute(
        _LOAD_DAYS, {"ranges": rows_param((*r.key, r.first_day, r.next_day) for r in ranges)}
    )
    for row in result:
        found.setdefault((row.club, row.edition, row.member_id), []).append(_day(row))
    return found


_SAVE = text(
    f"""
    WITH memberships AS (
        UPDATE attendance_memberships AS m
        SET membership = u.membership, due_at = u.due_at, edition_hash = u.edition_hash,
            updated_at = now()
        FROM {
        rows_source(
            "memberships",
            [
                *_KEY_COLUMNS,
                ("membership", "jsonb"),
                ("due_at", "timestamptz"),
                ("edition_hash", "text"),
            ],
        )
    } AS u
        WHERE m.club = u.club AND m.edition = u.edition AND m.member_id = u.member_id
    ), days AS (
        INSERT INTO attendance_days AS d
            (club, edition, member_id, day, receipts, approved, pending)
        SELECT u.club, u.edition, u.member_id, u.day, u.receipts, u.approved, u.pending
        FROM {
        rows_source(
            "days",
            [
                *_KEY_COLUMNS,
                ("day", "date"),
                ("receipts", "jsonb"),
                ("approved", "numeric"),
                ("pending", "numeric"),
            ],
        )
    } AS u
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (club, edition, member_id, day) DO UPDATE
        SET receipts = EXCLUDED.receipts, approved = EXCLUDED.approved,
            pending = EXCLUDED.pending, updated_at = now()
    ), contributions AS (
        INSERT INTO attendance_contributions
            (club, edition, event_id, member_id, receipt_id, status, day, stage,
             approved_delta, pending_delta, counted, reason, processed_at)
        SELECT u.*, CAST(:processed_at AS timestamptz)
        FROM {
        rows_source(
            "contributions",
            [
                ("club", "text"),
                ("edition", "text"),
                ("event_id", "text"),
                ("member_id", "text"),
                ("receipt_id", "text"),
                ("status", "text"),
                ("day", "date"),
                ("stage", "text"),
                ("approved_delta", "numeric"),
                ("pending_delta", "numeric"),
                ("counted", "boolean"),
                ("reason", "text"),
            ],
        )
    } AS u
        ON CONFLICT (club, edition, event_id) DO NOTHING
    )
    SELECT 1
    """
)


async def save(
    conn: AsyncConnection,
    writes: Iterable[MembershipWrite],
    days: Iterable[AttendanceDay],
    lines: Sequence[Contribution] = (),
    processed_at: datetime | None = None,
) -> None:
    """Write back memberships this transaction has locked (with their `due_at`), upsert
    the changed day rows, and append the ledger lines (what each receipt event did to an
    edition, or why nothing), in one statement. A day row whose receipts all stopped
    counting is kept empty (approved = pending = 0): the view does not show it, and
    keeping it costs nothing."""
    memberships = sorted(writes, key=lambda w: w.key)
    day_rows = sorted(days, key=lambda d: (d.club, d.edition, d.member_id, d.day))
    if not memberships and not day_rows and not lines:
        return
    if lines and processed_at is None:
        raise ValueError("ledger lines need the instant they were processed at")
    await conn.execute(
        _SAVE,
        {
            "memberships": state_rows_param(
                (*w.key, w.membership, w.due_at, w.edition_hash) for w in memberships
            ),
            "days": state_rows_param(
                (
                    d.club,
                    d.edition,
                    d.member_id,
                    d.day,
                    d.receipts,
                    d.approved,
                    d.pending,
                )
                for d in day_rows
            ),
            "contributions": rows_param(
                (
                    c.club,
                    c.edition,
                    c.event_id,
                    c.member_id,
                    c.receipt_id,
                    c.status,
                    c.day,
                    c.stage,
                    c.approved_delta,
                    c.pending_delta,
                    c.counted,
                    c.reason,
                )
                for c in lines
            ),
            "processed_at": processed_at,
        },
    )


async def save_memberships(conn: AsyncConnection, writes: Iterable[MembershipWrite]) -> None:
    """Write back rows this transaction has locked (the scheduler's ticks)."""
    await save(conn, writes, ())


# The scheduler's share of work: due rows nobody else holds, oldest deadline first. Only
# rows of editions in force are picked (the join), through the partial index on due_at.
_CLAIM_DUE = text(
    """
    SELECT m.club, m.edition, m.member_id, CAST(m.membership AS text) AS membership
    FROM attendance_memberships AS m
    JOIN unnest(CAST(:clubs AS text[]), CAST(:editions AS text[])) AS e(club, edition)
      ON m.club = e.club AND m.edition = e.edition
    WHERE m.due_at <= :now
    ORDER BY m.due_at
    LIMIT :limit
    FOR UPDATE OF m SKIP LOCKED
    """
)

# After a definition change: rows whose due_at was computed with another version of the
# edition (rare: a scan of one edition's rows, once per change and process).
_CLAIM_STALE = text(
    """
    SELECT m.club, m.edition, m.member_id, CAST(m.membership AS text) AS membership
    FROM attendance_memberships AS m
    WHERE m.club = :club AND m.edition = :edition AND m.membership IS NOT NULL
      AND m.edition_hash IS DISTINCT FROM :edition_hash
    LIMIT :limit
    FOR UPDATE OF m SKIP LOCKED
    """
)


def _claimed(result: Any) -> dict[MembershipKey, AttendanceMembership]:
    claimed: dict[MembershipKey, AttendanceMembership] = {}
    for row in result:
        membership = decode_membership(row.membership)
        if membership is not None:
            claimed[(row.club, row.edition, row.member_id)] = membership
    return claimed


async def claim_due(
    conn: AsyncConnection,
    editions: Sequence[tuple[str, str]],
    now: datetime,
    limit: int,
) -> dict[MembershipKey, AttendanceMembership]:
    """Lock up to `limit` memberships of these (club, edition) pairs due by `now`,
    skipping rows another transaction holds (another replica, or a receipt batch)."""
    if not editions:
        return {}
    result = await conn.execute(
        _CLAIM_DUE,
        {
            "clubs": [e[0] for e in editions],
            "editions": [e[1] for e in editions],
            "now": now,
            "limit": limit,
        },
    )
    return _claimed(result)


async def claim_stale(
    conn: AsyncConnection, club: str, edition: str, edition_hash: str, limit: int
) -> dict[MembershipKey, AttendanceMembership]:
    result = await conn.execute(
        _CLAIM_STALE,
        {"club": club, "edition": edition, "edition_hash": edition_hash, "limit": limit},
    )
    return _claimed(result)


_LOAD_MEMBER = text(
    """
    SELECT CAST(m.membership AS text) AS membership FROM attendance_memberships AS m
    WHERE m.club = :club AND m.edition = :edition AND m.member_id = :member
    """
)

_LOAD_MEMBER_DAYS = text(
    """
    SELECT club, edition, member_id, day, CAST(receipts AS text) AS receipts
    FROM attendance_days WHERE club = :club AND edition = :edition AND member_id = :member
    ORDER BY day
    """
)


async def load_member(
    conn: AsyncConnection, club: str, edition: str, member_id: str
) -> tuple[AttendanceMembership | None, list[AttendanceDay]]:
    """One member's membership (None: never joined) and all their day rows (read side)."""
    params: Mapping[str, str] = {"club": club, "edition": edition, "member": member_id}
    membership = decode_membership((await conn.execute(_LOAD_MEMBER, params)).scalar())
    if membership is None:
        return None, []
    days = [_day(row) for row in await conn.execute(_LOAD_MEMBER_DAYS, params)]
    return membership, days


# The receipt event's `occurred_at` comes from its dedupe row (absent once pruned).
_LOAD_CONTRIBUTIONS = text(
    """
    SELECT CAST(jsonb_build_object(
               'event_id', c.event_id, 'club', c.club, 'edition', c.edition,
               'member_id', c.member_id, 'receipt_id', c.receipt_id, 'status', c.status,
               'day', c.day, 'stage', c.stage, 'approved_delta', c.approved_delta,
               'pending_delta', c.pending_delta, 'counted', c.counted, 'reason', c.reason)
           AS text) AS contribution,
           e.occurred_at, c.recorded_at
    FROM attendance_contributions AS c
    LEFT JOIN processed_events AS e ON e.stream = 'receipts' AND e.event_id = c.event_id
    WHERE c.club = :club AND c.edition = :edition AND c.member_id = :member
    ORDER BY c.recorded_at, c.event_id
    """
)


async def load_contributions(
    conn: AsyncConnection, club: str, edition: str, member_id: str
) -> list[LedgerLine]:
    """One member's ledger lines of an edition (the view puts them in event order)."""
    params = {"club": club, "edition": edition, "member": member_id}
    return [
        LedgerLine(_CONTRIBUTION.decode(row.contribution), row.occurred_at, row.recorded_at)
        for row in await conn.execute(_LOAD_CONTRIBUTIONS, params)
    ]


__all__ = [
    "DayRange",
    "LockedMembership",
    "MembershipKey",
    "MembershipWrite",
    "claim_due",
    "claim_stale",
    "decode_membership",
    "load_contributions",
    "load_days",
    "load_member",
    "lock_memberships",
    "save",
    "save_memberships",
]
