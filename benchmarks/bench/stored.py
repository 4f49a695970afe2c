"""What the worker left behind, read back: PostgreSQL rows and the Redis output streams.

The one module that knows the storage shapes (docs/counter-challenges.md "Storage",
docs/attendance-challenges.md "Wiring"): counter values are added up here from the stored
per-member tallies of each `challenge_progress` row (decoded with the engine's row types,
not its functions); attendance from `attendance_days` and `attendance_memberships`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
from redis.asyncio import Redis

from bench.challenge_oracle import DISTINCT, ZERO, SubjectKey
from bench.oracle import TOTAL_COLUMNS, MemberKey, MemberTotals, ReceiptKey
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.attendance.membership import AttendanceMembership
from loyalty_progress.engine.challenges.state import Tally
from loyalty_progress.store.challenge_bodies import ProgressBody


async def load_totals(conn: asyncpg.Connection) -> dict[MemberKey, MemberTotals]:
    sums = ", ".join(f"sum({c}) AS {c}" for c in TOTAL_COLUMNS)
    totals: dict[MemberKey, MemberTotals] = {}
    for row in await conn.fetch(
        f"SELECT club, member_id, {sums} FROM member_daily_totals GROUP BY club, member_id"
    ):
        mine = totals[(row["club"], row["member_id"])] = MemberTotals()
        for column in TOTAL_COLUMNS:
            value = row[column]
            setattr(mine, column, Decimal(value) if column.endswith("value") else int(value))
    for row in await conn.fetch(
        """
        SELECT club, member_id, count(*) AS stores FROM (
            SELECT club, member_id, store_id FROM member_store_days
            GROUP BY club, member_id, store_id HAVING sum(receipts_approved) > 0) s
        GROUP BY club, member_id
        """
    ):
        totals.setdefault((row["club"], row["member_id"]), MemberTotals()).distinct_stores = int(
            row["stores"]
        )
    for row in await conn.fetch("SELECT club, member_id, balance, tier FROM member_gauges"):
        mine = totals.setdefault((row["club"], row["member_id"]), MemberTotals())
        mine.balance, mine.tier = row["balance"], row["tier"]
    return totals


async def load_receipts(conn: asyncpg.Connection) -> dict[ReceiptKey, str]:
    rows = await conn.fetch("SELECT club, receipt_id, status FROM receipts")
    return {(r["club"], r["receipt_id"]): r["status"] for r in rows}


# --------------------------------------------------------------------------- challenges


@dataclass(frozen=True, slots=True)
class StoredProgress:
    counters: dict[int, Decimal]  # zeros left out
    members: frozenset[str]  # members with a tally
    milestones: frozenset[str]
    completed: bool
    winner: bool | None
    expired: bool
    ends_at: datetime


def counter_values(
    definition: ChallengeDefinition, tallies: Mapping[str, Tally]
) -> dict[int, Decimal]:
    """Trigger id -> value, added up from the stored tallies as the docs define it."""
    values: dict[int, Decimal] = {}
    for trigger in definition.triggers:
        tid = trigger.id
        if trigger.type in DISTINCT:
            keys = {k for t in tallies.values() for k, n in t.keys.get(tid, {}).items() if n > 0}
            value = Decimal(len(keys))
        elif trigger.type in ("points_balance", "tier"):
            readings = [t.gauges[tid].value for t in tallies.values() if tid in t.gauges]
            if trigger.type == "tier":
                value = Decimal(max(readings)) if readings else ZERO
            else:
                value = Decimal(sum(readings))
        else:
            value = sum((t.sums.get(tid, ZERO) for t in tallies.values()), ZERO)
        if value != 0:
            values[tid] = value
    return values


async def load_progress(
    conn: asyncpg.Connection, definitions: Mapping[tuple[str, str], ChallengeDefinition]
) -> dict[SubjectKey, StoredProgress]:
    decoder = msgspec.json.Decoder(ProgressBody)  # the JSON beside the key columns
    result: dict[SubjectKey, StoredProgress] = {}
    rows = await conn.fetch(
        "SELECT club, code, occurrence, subject_kind, subject_id, completed_at IS NOT NULL AS"
        " completed, winner, expired_at IS NOT NULL AS expired, ends_at, progress::text AS"
        " progress FROM challenge_progress"
    )
    for row in rows:
        definition = definitions.get((row["club"], row["code"]))
        if definition is None:
            continue
        progress = decoder.decode(row["progress"])
        key = (row["club"], row["code"], row["occurrence"], row["subject_kind"], row["subject_id"])
        result[key] = StoredProgress(
            counters=counter_values(definition, progress.tallies),
            members=frozenset(progress.tallies),
            milestones=frozenset(progress.milestones),
            completed=row["completed"],
            winner=row["winner"],
            expired=row["expired"],
            ends_at=row["ends_at"],
        )
    return result


async def occurrence_counts(
    conn: asyncpg.Connection, table: str, column: str
) -> dict[tuple[str, str, int], int] | None:
    """Per (club, code, occurrence): the sum of `column` (winners, people finished), so
    that an aggregate kept as several shard rows reads the same; None when the table does
    not exist (a storage that derives the count instead)."""
    try:
        rows = await conn.fetch(
            f"SELECT club, code, occurrence, sum({column}) AS n FROM {table} GROUP BY 1, 2, 3"
        )
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError):
        return None
    return {(r["club"], r["code"], r["occurrence"]): int(r["n"]) for r in rows}


# --------------------------------------------------------------------------- attendance


@dataclass(frozen=True, slots=True)
class StoredDay:
    approved: Decimal
    pending: Decimal


async def load_days(conn: asyncpg.Connection) -> dict[tuple[str, str, str, date], StoredDay]:
    rows = await conn.fetch(
        "SELECT club, edition, member_id, day, approved, pending FROM attendance_days"
        " WHERE approved <> 0 OR pending <> 0"
    )
    return {
        (r["club"], r["edition"], r["member_id"], r["day"]): StoredDay(
            Decimal(r["approved"]), Decimal(r["pending"])
        )
        for r in rows
    }


async def load_memberships(
    conn: asyncpg.Connection,
) -> dict[tuple[str, str, str], AttendanceMembership]:
    decoder = msgspec.json.Decoder(AttendanceMembership)
    rows = await conn.fetch(
        "SELECT club, edition, member_id, membership::text AS m FROM attendance_memberships"
        " WHERE membership IS NOT NULL"
    )
    return {(r["club"], r["edition"], r["member_id"]): decoder.decode(r["m"]) for r in rows}


# --------------------------------------------------------------------------- outbox, Redis


@dataclass(slots=True)
class OutboxState:
    rows: dict[str, int] = field(default_factory=dict)  # stream -> rows
    unpublished: int = 0


async def outbox_state(conn: asyncpg.Connection) -> OutboxState:
    state = OutboxState()
    for row in await conn.fetch(
        "SELECT o.stream, count(*) AS n, count(p.id) AS u"
        " FROM outbox AS o LEFT JOIN outbox_pending AS p ON p.id = o.id GROUP BY o.stream"
    ):
        state.rows[row["stream"]] = int(row["n"])
        state.unpublished += int(row["u"])
    return state


Message = tuple[bytes, dict[str, Any]]  # (entry id, decoded body)


async def read_stream(redis: Redis, name: str) -> list[Message]:
    result: list[Message] = []
    start: bytes | str = "-"
    while True:
        batch: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(
            name, min=start, max="+", count=5000
        )  # type: ignore[assignment]
        for entry_id, fields in batch:
            if entry_id == start:
                continue
            result.append((entry_id, json.loads(fields[b"data"])))
        if len(batch) < 5000:
            return result
        start = batch[-1][0]
