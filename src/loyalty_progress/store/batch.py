"""Set-based load and save of the state one batch touches: two statements per batch, none
per event.

1. `record_and_lock`: records the event ids (duplicates drop out) and locks + loads the
   receipts the batch touches.
2. `save_batch`: writes receipts, daily totals, store days, gauges and the outbox rows.

Each is one statement made of data-modifying CTEs: every round trip a batch waits for is
also a turn of the event loop that the other streams' batches may be holding, so fewer
round trips shorten the chain of batches that share rows. Within a table, rows are
written in key order (`ORDER BY` on every insert), and every batch runs the same
statements, so concurrent batches and replicas lock in one global order and cannot
deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.contract.outputs import OutputMessage
from loyalty_progress.engine.receipts import ReceiptState
from loyalty_progress.engine.totals import TOTAL_COLUMNS, TotalsDelta
from loyalty_progress.store.jsonrows import rows_param, rows_source
from loyalty_progress.store.outbox import (
    OutboxRow,
    insert_sql,
    inserted_rows,
    issued_prizes_sql,
    message_rows,
)

_ITEM_SEPARATOR: Final = "\x1f"
_NO_GAUGE: Final = (None, None, None)

ReceiptKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    club: str
    member_id: str
    occurred_at: datetime
    body: bytes


_RECORD_EVENTS = f"""
    INSERT INTO processed_events (stream, event_id, club, member_id, occurred_at, body)
    SELECT :stream, e.event_id, e.club, e.member_id, e.occurred_at, e.body
    FROM {
    rows_source(
        "events",
        [
            ("event_id", "text"),
            ("club", "text"),
            ("member_id", "text"),
            ("occurred_at", "timestamptz"),
            ("body", "bytea"),
        ],
    )
} AS e
    ORDER BY e.event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id
"""

# ON CONFLICT DO UPDATE both creates a placeholder for an unseen receipt and row-locks an
# existing one, returning its current state: lock + load without a second statement.
_LOCK_RECEIPTS = f"""
    INSERT INTO receipts (club, receipt_id)
    SELECT k.club, k.receipt_id
    FROM {rows_source("receipt_keys", [("club", "text"), ("receipt_id", "text")])} AS k
    ORDER BY k.club, k.receipt_id
    ON CONFLICT (club, receipt_id) DO UPDATE SET club = EXCLUDED.club
    RETURNING club, receipt_id, member_id, status, amount, store_id, items, occurred_at,
              event_id
"""

# One result for both: event rows carry only `new_event_id`, receipt rows the rest.
_RECORD_AND_LOCK = text(
    f"""
    WITH fresh AS ({_RECORD_EVENTS}), locked AS ({_LOCK_RECEIPTS})
    SELECT event_id AS new_event_id, NULL::text AS club, NULL::text AS receipt_id,
           NULL::text AS member_id, NULL::text AS status, NULL::numeric AS amount,
           NULL::text AS store_id, NULL::text[] AS items, NULL::timestamptz AS occurred_at,
           NULL::text AS event_id
    FROM fresh
    UNION ALL
    SELECT NULL, club, receipt_id, member_id, status, amount, store_id, items, occurred_at,
           event_id
    FROM locked
    """
)


async def record_and_lock(
    conn: AsyncConnection,
    stream: str,
    events: Sequence[EventRow],
    receipt_keys: Sequence[ReceiptKey],
) -> tuple[set[str], dict[ReceiptKey, ReceiptState | None]]:
    """Insert the event ids and lock the receipts. Returns the ids that are new and each
    receipt's stored state (None for a receipt not seen before)."""
    if not events:
        return set(), {}
    result = await conn.execute(
        _RECORD_AND_LOCK,
        {
            "stream": stream,
            "events": rows_param(
                (e.event_id, e.club, e.member_id, e.occurred_at, e.body) for e in events
            ),
            "receipt_keys": rows_param(receipt_keys),
        },
    )
    new_ids: set[str] = set()
    states: dict[ReceiptKey, ReceiptState | None] = {}
    for row in result:
        if row.new_event_id is not None:
            new_ids.add(row.new_event_id)
            continue
        states[(row.club, row.receipt_id)] = (
            None
            if row.status is None
            else ReceiptState(
                club=row.club,
                receipt_id=row.receipt_id,
                member_id=row.member_id,
                status=row.status,
                amount=row.amount,
                store_id=row.store_id,
                items=tuple(row.items or ()),
                occurred_at=row.occurred_at,
                event_id=row.event_id,
            )
        )
    return new_ids, states


_SAVE_RECEIPTS = f"""
    UPDATE receipts AS r
    SET member_id = u.member_id, status = u.status, amount = u.amount, store_id = u.store_id,
        items = string_to_array(u.items, chr(31)), occurred_at = u.occurred_at,
        event_id = u.event_id, updated_at = now()
    FROM {
    rows_source(
        "receipts",
        [
            ("club", "text"),
            ("receipt_id", "text"),
            ("member_id", "text"),
            ("status", "text"),
            ("amount", "numeric"),
            ("store_id", "text"),
            ("items", "text"),
            ("occurred_at", "timestamptz"),
            ("event_id", "text"),
        ],
    )
} AS u
    WHERE r.club = u.club AND r.receipt_id = u.receipt_id
"""


def _add_totals_sql() -> str:
    columns = [("club", "text"), ("member_id", "text"), ("day", "date")] + [
        (c, "numeric" if c.endswith("value") else "bigint") for c in TOTAL_COLUMNS
    ]
    names = ", ".join(TOTAL_COLUMNS)
    updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in TOTAL_COLUMNS)
    return f"""
    INSERT INTO member_daily_totals AS t (club, member_id, day, {names})
    SELECT * FROM {rows_source("totals", columns)} AS d
    ORDER BY 1, 2, 3
    ON CONFLICT (club, member_id, day) DO UPDATE SET {updates}
    """


_ADD_STORE_DAYS = f"""
    INSERT INTO member_store_days AS t (club, member_id, day, store_id, receipts_approved)
    SELECT * FROM {
    rows_source(
        "store_days",
        [
            ("club", "text"),
            ("member_id", "text"),
            ("day", "date"),
            ("store_id", "text"),
            ("receipts_approved", "integer"),
        ],
    )
} AS d
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (club, member_id, day, store_id)
    DO UPDATE SET receipts_approved = t.receipts_approved + EXCLUDED.receipts_approved
"""

# Both gauges in one statement (one lock per member row); each keeps its latest value.
_SET_GAUGES = f"""
    INSERT INTO member_gauges AS g
        (club, member_id, balance, balance_at, balance_event, tier, tier_at, tier_event)
    SELECT * FROM {
    rows_source(
        "gauges",
        [
            ("club", "text"),
            ("member_id", "text"),
            ("balance", "bigint"),
            ("balance_at", "timestamptz"),
            ("balance_event", "text"),
            ("tier", "integer"),
            ("tier_at", "timestamptz"),
            ("tier_event", "text"),
        ],
    )
} AS d
    ORDER BY 1, 2
    ON CONFLICT (club, member_id) DO UPDATE SET
        (balance, balance_at, balance_event) = (
            SELECT CASE WHEN newer THEN EXCLUDED.balance ELSE g.balance END,
                   CASE WHEN newer THEN EXCLUDED.balance_at ELSE g.balance_at END,
                   CASE WHEN newer THEN EXCLUDED.balance_event ELSE g.balance_event END
            FROM (SELECT EXCLUDED.balance_at IS NOT NULL AND (g.balance_at IS NULL
                  OR (EXCLUDED.balance_at, EXCLUDED.balance_event)
                     > (g.balance_at, g.balance_event)) AS newer) AS b),
        (tier, tier_at, tier_event) = (
            SELECT CASE WHEN newer THEN EXCLUDED.tier ELSE g.tier END,
                   CASE WHEN newer THEN EXCLUDED.tier_at ELSE g.tier_at END,
                   CASE WHEN newer THEN EXCLUDED.tier_event ELSE g.tier_event END
            FROM (SELECT EXCLUDED.tier_at IS NOT NULL AND (g.tier_at IS NULL
                  OR (EXCLUDED.tier_at, EXCLUDED.tier_event)
                     > (g.tier_at, g.tier_event)) AS newer) AS t)
"""

_ADD_OUTBOX = insert_sql("messages")

# Unreferenced data-modifying CTEs run to completion after the main statement, in the
# same order for every batch; an empty JSON array makes a part write nothing.
_SAVE_BATCH = text(
    f"""
    WITH saved_receipts AS ({_SAVE_RECEIPTS}),
         added_totals AS ({_add_totals_sql()}),
         added_store_days AS ({_ADD_STORE_DAYS}),
         set_gauges AS ({_SET_GAUGES}),
         issued_prizes AS ({issued_prizes_sql("prizes")}),
    {_ADD_OUTBOX}
    """
)


def _receipt_rows(states: Iterable[ReceiptState]) -> list[tuple[Any, ...]]:
    return [
        (
            s.club,
            s.receipt_id,
            s.member_id,
            s.status,
            s.amount,
            s.store_id,
            _ITEM_SEPARATOR.join(s.items),
            s.occurred_at,
            s.event_id,
        )
        for s in sorted(states, key=lambda s: (s.club, s.receipt_id))
    ]


def _gauge_rows(delta: TotalsDelta) -> list[tuple[Any, ...]]:
    rows = []
    for member in sorted(delta.balances.keys() | delta.tiers.keys()):
        balance = delta.balances.get(member)
        tier = delta.tiers.get(member)
        rows.append(
            (
                *member,
                *((balance.value, balance.at, balance.event_id) if balance else _NO_GAUGE),
                *((tier.value, tier.at, tier.event_id) if tier else _NO_GAUGE),
            )
        )
    return rows


async def save_batch(
    conn: AsyncConnection,
    receipts: Iterable[ReceiptState],
    delta: TotalsDelta,
    messages: Sequence[OutputMessage],
) -> list[OutboxRow]:
    """Write the batch's state and its outbox rows; returns the outbox rows that are new
    (a repeated fact adds none), payloads included, for the relay."""
    days = delta.days
    rows = message_rows(messages)
    result = await conn.execute(
        _SAVE_BATCH,
        {
            "receipts": rows_param(_receipt_rows(receipts)),
            "totals": rows_param(
                (*key, *(getattr(days[key], c) for c in TOTAL_COLUMNS)) for key in sorted(days)
            ),
            "store_days": rows_param(
                (*key, count) for key, count in sorted(delta.store_receipts.items()) if count != 0
            ),
            "gauges": rows_param(_gauge_rows(delta)),
            "messages": rows.messages,
            "prizes": rows.prizes,
        },
    )
    return inserted_rows(result, rows.encoded)


__all__ = ["EventRow", "record_and_lock", "save_batch"]
