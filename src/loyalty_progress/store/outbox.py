"""The transactional outbox: rows written inside the batch transaction, published after.

An outbox row is written once and never updated. Its id goes into `outbox_pending` in the
same statement, and publishing claims it by deleting that id (`DELETE ... RETURNING` right
after commit, or `FOR UPDATE SKIP LOCKED` in the sweep), so two replicas never publish
the same row in normal operation; a crash between XADD and the claiming commit
re-publishes, and consumers dedupe on the message's deterministic id. (Marking the row
itself published wrote a new version of it, payload and index entries included, for every
message: docs/scaling.md.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy import CursorResult, text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.contract.outputs import (
    OutputMessage,
    RewardIssuance,
    encode,
    encode_prize,
    message_id,
    output_stream,
)
from loyalty_progress.store.jsonrows import rows_param, rows_source


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    stream: str
    payload: bytes
    created_at: datetime


_COLUMNS: Final = [("message_id", "text"), ("stream", "text"), ("payload", "bytea")]


def insert_sql(param: str) -> str:
    """The INSERT of the messages in JSON parameter `:param` (see `message_rows`) and of
    their ids into `outbox_pending`: the last CTEs and the main query of a `WITH`
    statement, which returns the new rows (a repeated message is not one).

    Row ids are drawn in the order of the rows, which is the order of their facts, so
    the relay and the sweep, which publish by id, publish a member's messages in that
    order. The rows are still inserted in sorted key order, like every other insert,
    so two transactions writing the same facts cannot wait on each other in a cycle:
    the ids are drawn in a subquery of their own, before that sort (`OFFSET 0` keeps the
    planner from merging it into the sorted query, where `nextval` would run after the
    sort)."""
    return f"""
    added_messages AS (
        INSERT INTO outbox (id, message_id, stream, payload)
        SELECT id, message_id, stream, payload FROM (
            SELECT nextval('outbox_id_seq') AS id, m.*
            FROM {rows_source(param, _COLUMNS)} AS m
            OFFSET 0
        ) AS numbered
        ORDER BY message_id
        ON CONFLICT (message_id) DO NOTHING
        RETURNING id, message_id, created_at
    ), pending_messages AS (
        INSERT INTO outbox_pending (id) SELECT id FROM added_messages ORDER BY id
    )
    SELECT id, message_id, created_at FROM added_messages
    """


_PRIZE_COLUMNS: Final = [
    ("club", "text"),
    ("reward_id", "text"),
    ("member_id", "text"),
    ("prize", "jsonb"),
    ("reason", "text"),
    ("issued_at", "timestamptz"),
    ("expires_at", "timestamptz"),
]


def issued_prizes_sql(param: str) -> str:
    """The INSERT of the reward issuances in JSON parameter `:param` into `prizes`, next
    to their outbox rows (a CTE of the same statement): every prize the product published
    is known when the rewards system reports its claim. An issuance computed again adds
    nothing, and never touches a claim."""
    return f"""
    INSERT INTO prizes (club, reward_id, member_id, prize, reason, issued_at, expires_at)
    SELECT * FROM {rows_source(param, _PRIZE_COLUMNS)} AS p
    ORDER BY 1, 2
    ON CONFLICT (club, reward_id) DO NOTHING
    """


_INSERT = text(f"WITH issued_prizes AS ({issued_prizes_sql('prizes')}), {insert_sql('rows')}")

Encoded = dict[str, tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class MessageRows:
    """The JSON parameters of `insert_sql` and `issued_prizes_sql`, and each message's
    stream and payload by id (to return the inserted rows without reading them back)."""

    messages: str
    prizes: str
    encoded: Encoded


def message_rows(messages: Sequence[OutputMessage]) -> MessageRows:
    """Messages in the order given. A fact computed twice keeps its first copy, as a
    second batch would have kept it."""
    encoded: Encoded = {}
    issued: list[tuple[object, ...]] = []
    for message in messages:
        key = message_id(message)
        if key in encoded:
            continue
        encoded[key] = (output_stream(message).value, encode(message))
        if isinstance(message, RewardIssuance):
            issued.append(_prize_row(message))
    return MessageRows(
        messages=rows_param((key, *value) for key, value in encoded.items()),
        prizes=rows_param(sorted(issued, key=lambda row: (row[0], row[1]))),
        encoded=encoded,
    )


def _prize_row(reward: RewardIssuance) -> tuple[object, ...]:
    prize = msgspec.Raw(encode_prize(reward.prize))
    return (
        reward.club,
        reward.reward_id,
        reward.member_id,
        prize,
        reward.reason,
        reward.created_at,
        reward.expires_at,
    )


def inserted_rows(result: CursorResult[Any], encoded: Encoded) -> list[OutboxRow]:
    """The rows `insert_sql` returned (a repeated fact returns none), in id order."""
    rows = (OutboxRow(row.id, *encoded[row.message_id], row.created_at) for row in result)
    return sorted(rows, key=lambda row: row.id)


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
    rows = message_rows(messages)
    result = await conn.execute(_INSERT, {"rows": rows.messages, "prizes": rows.prizes})
    return inserted_rows(result, rows.encoded)


_MARK_IDS = text("DELETE FROM outbox_pending WHERE id = ANY(CAST(:ids AS bigint[])) RETURNING id")


async def mark_published(conn: AsyncConnection, ids: Sequence[int]) -> set[int]:
    """Mark the given rows published (inside the caller's transaction); returns the ids
    that were still unpublished, i.e. the ones this caller must publish."""
    result = await conn.execute(_MARK_IDS, {"ids": list(ids)})
    return {row[0] for row in result}


_CLAIM_IDS = text(
    """
    WITH claimed AS (
        DELETE FROM outbox_pending WHERE id = ANY(CAST(:ids AS bigint[])) RETURNING id
    )
    SELECT o.id, o.stream, o.payload, o.created_at
    FROM outbox AS o JOIN claimed AS c ON o.id = c.id
    """
)

_CLAIM_BACKLOG = text(
    """
    WITH claimed AS (
        DELETE FROM outbox_pending
        WHERE id IN (
            SELECT id FROM outbox_pending ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
        )
        RETURNING id
    )
    SELECT o.id, o.stream, o.payload, o.created_at
    FROM outbox AS o JOIN claimed AS c ON o.id = c.id
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
    result = await conn.execute(text("SELECT count(*) FROM outbox_pending"))
    return int(result.scalar_one())
