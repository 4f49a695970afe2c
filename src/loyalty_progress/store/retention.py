"""Retention queries: delete processed events and published outbox rows older than their
retention, one bounded chunk per statement, and record how far each was pruned.

Each chunk is one statement in its own short transaction: it picks the oldest rows
through the `processed_at` / `created_at` index (`FOR UPDATE SKIP LOCKED`, so replicas
pruning at once take different rows and never wait for each other), deletes them and
raises the marks in `retention_marks`, which `replay recompute` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

PROCESSED_EVENTS: Final = "processed_events"
OUTBOX: Final = "outbox"

# Marks rows are upserted in key order, so concurrent chunks lock them in one order.
_MARK = """
    INSERT INTO retention_marks (table_name, club, stream, pruned_through)
    SELECT :table_name, club, stream, max(at) FROM gone GROUP BY club, stream
    ORDER BY club, stream
    ON CONFLICT (table_name, club, stream) DO UPDATE
    SET pruned_through = greatest(retention_marks.pruned_through, EXCLUDED.pruned_through)
"""

_PRUNE_EVENTS = text(
    f"""
    WITH doomed AS (
        SELECT stream, event_id FROM processed_events
        WHERE processed_at < :before
        ORDER BY processed_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM processed_events AS p USING doomed AS d
        WHERE p.stream = d.stream AND p.event_id = d.event_id
        RETURNING p.club, p.stream, p.processed_at AS at
    ), marked AS ({_MARK})
    SELECT count(*) FROM gone
    """
)

# The outbox has no club: one mark, under club and stream ''.
_PRUNE_OUTBOX = text(
    f"""
    WITH doomed AS (
        SELECT o.id FROM outbox AS o
        WHERE o.created_at < :before
          AND NOT EXISTS (SELECT FROM outbox_pending AS p WHERE p.id = o.id)
        ORDER BY o.created_at
        LIMIT :limit
        FOR UPDATE OF o SKIP LOCKED
    ), gone AS (
        DELETE FROM outbox AS o USING doomed AS d
        WHERE o.id = d.id
        RETURNING ''::text AS club, ''::text AS stream, o.created_at AS at
    ), marked AS ({_MARK})
    SELECT count(*) FROM gone
    """
)


async def prune_processed_events(conn: AsyncConnection, before: datetime, limit: int) -> int:
    """Delete up to `limit` processed events processed before `before`; returns how many."""
    result = await conn.execute(
        _PRUNE_EVENTS, {"before": before, "limit": limit, "table_name": PROCESSED_EVENTS}
    )
    return int(result.scalar_one())


async def prune_outbox(conn: AsyncConnection, before: datetime, limit: int) -> int:
    """Delete up to `limit` published outbox rows written before `before`; returns how
    many. Unpublished rows are never touched, however old. (Publishing follows the write
    within milliseconds unless Redis is away, so the age of a row is its write's.)"""
    result = await conn.execute(
        _PRUNE_OUTBOX, {"before": before, "limit": limit, "table_name": OUTBOX}
    )
    return int(result.scalar_one())


@dataclass(frozen=True, slots=True)
class Marks:
    """How far a club's processed events (per input stream) and the outbox were pruned:
    rows up to and including these instants may be gone."""

    events: dict[str, datetime]
    outbox: datetime | None


_MARKS = text(
    """
    SELECT table_name, stream, pruned_through FROM retention_marks
    WHERE (table_name = :events AND club = :club AND stream = ANY(CAST(:streams AS text[])))
       OR (table_name = :outbox AND club = '' AND stream = '')
    """
)


async def marks(conn: AsyncConnection, club: str, streams: Sequence[str]) -> Marks:
    result = await conn.execute(
        _MARKS,
        {"events": PROCESSED_EVENTS, "outbox": OUTBOX, "club": club, "streams": list(streams)},
    )
    events: dict[str, datetime] = {}
    outbox: datetime | None = None
    for row in result:
        if row.table_name == OUTBOX:
            outbox = row.pruned_through
        else:
            events[row.stream] = row.pruned_through
    return Marks(events, outbox)
