"""The transactional outbox: rows written inside the batch transaction, published after.

Publishing claims rows with a row lock (`UPDATE ... RETURNING` right after commit, or
`FOR UPDATE SKIP LOCKED` in the sweep), so two replicas never publish the same row in
normal operation; a crash between XADD and the marking commit re-publishes, and
consumers dedupe on the message's deterministic id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.contract.outputs import OutputMessage, encode, message_id, output_stream
from loyalty_progress.store.jsonrows import rows_param, rows_source


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    stream: str
    payload: bytes
    created_at: datetime


_INSERT = text(
    f"""
    INSERT INTO outbox (message_id, stream, payload)
    SELECT * FROM {
        rows_source(
            "rows",
            [
                ("message_id", "text"),
                ("stream", "text"),
                ("payload", "bytea"),
            ],
        )
    } AS m
    ORDER BY 1
    ON CONFLICT (message_id) DO NOTHING
    RETURNING id, message_id, created_at
    """
)


async def add_messages(conn: AsyncConnection, messages: Sequence[OutputMessage]) -> list[int]:
    """Write messages; returns the ids of rows that are new (a repeated fact adds none)."""
    return [row.id for row in await add_message_rows(conn, messages)]


async def add_message_rows(
    conn: AsyncConnection, messages: Sequence[OutputMessage]
) -> list[OutboxRow]:
    """`add_messages`, returning the new rows themselves, so that the relay can publish
    them without reading their payloads back."""
    if not messages:
        return []
    encoded = {message_id(m): (output_stream(m).value, encode(m)) for m in messages}
    ids = sorted(encoded)
    result = await conn.execute(_INSERT, {"rows": rows_param((i, *encoded[i]) for i in ids)})
    return [OutboxRow(row.id, *encoded[row.message_id], row.created_at) for row in result]


_MARK_IDS = text(
    """
    UPDATE outbox SET published_at = now()
    WHERE id = ANY(CAST(:ids AS bigint[])) AND published_at IS NULL
    RETURNING id
    """
)


async def mark_published(conn: AsyncConnection, ids: Sequence[int]) -> set[int]:
    """Mark the given rows published (inside the caller's transaction); returns the ids
    that were still unpublished, i.e. the ones this caller must publish."""
    result = await conn.execute(_MARK_IDS, {"ids": list(ids)})
    return {row[0] for row in result}


_CLAIM_IDS = text(
    """
    UPDATE outbox SET published_at = now()
    WHERE id = ANY(CAST(:ids AS bigint[])) AND published_at IS NULL
    RETURNING id, stream, payload, created_at
    """
)

_CLAIM_BACKLOG = text(
    """
    UPDATE outbox SET published_at = now()
    WHERE id IN (
        SELECT id FROM outbox WHERE published_at IS NULL
        ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING id, stream, payload, created_at
    """
)


async def claim_rows(conn: AsyncConnection, ids: Sequence[int]) -> list[OutboxRow]:
    """Mark the given rows published (inside the caller's transaction) and return them."""
    result = await conn.execute(_CLAIM_IDS, {"ids": list(ids)})
    return _rows(result)


async def claim_backlog(conn: AsyncConnection, limit: int) -> list[OutboxRow]:
    """Mark up to `limit` unpublished rows nobody else holds; the sweep's share of work."""
    result = await conn.execute(_CLAIM_BACKLOG, {"limit": limit})
    return _rows(result)


def _rows(result: CursorResult[Any]) -> list[OutboxRow]:
    rows = (OutboxRow(r.id, r.stream, r.payload, r.created_at) for r in result)
    return sorted(rows, key=lambda r: r.id)


async def backlog_size(conn: AsyncConnection) -> int:
    result = await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    return int(result.scalar_one())
