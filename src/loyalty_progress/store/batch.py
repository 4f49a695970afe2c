"""Set-based load and save of the state one batch touches: a handful of statements per
batch, none per event. Rows are locked in one global order (table, then key) so that
concurrent replicas cannot deadlock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.engine.receipts import ReceiptState
from loyalty_progress.engine.totals import TOTAL_COLUMNS, TotalsDelta
from loyalty_progress.store.jsonrows import rows_param, rows_source

_ITEM_SEPARATOR: Final = "\x1f"
_NO_GAUGE: Final = (None, None, None)


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    club: str
    member_id: str
    occurred_at: datetime
    body: bytes


_RECORD_EVENTS = text(
    f"""
    INSERT INTO processed_events (stream, event_id, club, member_id, occurred_at, body)
    SELECT :stream, e.event_id, e.club, e.member_id, e.occurred_at, e.body
    FROM {
        rows_source(
            "rows",
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
)


async def record_events(conn: AsyncConnection, stream: str, rows: Sequence[EventRow]) -> set[str]:
    """Insert event ids; returns the ids that are new (duplicates drop out here)."""
    if not rows:
        return set()
    result = await conn.execute(
        _RECORD_EVENTS,
        {
            "stream": stream,
            "rows": rows_param(
                (r.event_id, r.club, r.member_id, r.occurred_at, r.body) for r in rows
            ),
        },
    )
    return {row[0] for row in result}


# ON CONFLICT DO UPDATE both creates a placeholder for an unseen receipt and row-locks an
# existing one, returning its current state: lock + load in one round trip.
_LOCK_RECEIPTS = text(
    """
    INSERT INTO receipts (club, receipt_id)
    SELECT k.club, k.receipt_id
    FROM unnest(CAST(:clubs AS text[]), CAST(:ids AS text[])) AS k(club, receipt_id)
    ORDER BY k.club, k.receipt_id
    ON CONFLICT (club, receipt_id) DO UPDATE SET club = EXCLUDED.club
    RETURNING club, receipt_id, member_id, status, amount, store_id, items, occurred_at, event_id
    """
)


async def lock_receipts(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], ReceiptState | None]:
    if not keys:
        return {}
    result = await conn.execute(
        _LOCK_RECEIPTS, {"clubs": [k[0] for k in keys], "ids": [k[1] for k in keys]}
    )
    states: dict[tuple[str, str], ReceiptState | None] = {}
    for row in result:
        key = (row.club, row.receipt_id)
        states[key] = (
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
    return states


_SAVE_RECEIPTS = text(
    f"""
    UPDATE receipts AS r
    SET member_id = u.member_id, status = u.status, amount = u.amount, store_id = u.store_id,
        items = string_to_array(u.items, chr(31)), occurred_at = u.occurred_at,
        event_id = u.event_id, updated_at = now()
    FROM {
        rows_source(
            "rows",
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
)


async def save_receipts(conn: AsyncConnection, states: Iterable[ReceiptState]) -> None:
    rows = sorted(states, key=lambda s: (s.club, s.receipt_id))
    if not rows:
        return
    await conn.execute(
        _SAVE_RECEIPTS,
        {
            "rows": rows_param(
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
                for s in rows
            )
        },
    )


def _totals_statement() -> Any:
    columns = [("club", "text"), ("member_id", "text"), ("day", "date")] + [
        (c, "numeric" if c.endswith("value") else "bigint") for c in TOTAL_COLUMNS
    ]
    names = ", ".join(TOTAL_COLUMNS)
    updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in TOTAL_COLUMNS)
    return text(
        f"""
        INSERT INTO member_daily_totals AS t (club, member_id, day, {names})
        SELECT * FROM {rows_source("rows", columns)} AS d
        ORDER BY 1, 2, 3
        ON CONFLICT (club, member_id, day) DO UPDATE SET {updates}
        """
    )


_ADD_TOTALS = _totals_statement()

_ADD_STORE_DAYS = text(
    f"""
    INSERT INTO member_store_days AS t (club, member_id, day, store_id, receipts_approved)
    SELECT * FROM {
        rows_source(
            "rows",
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
)

# Both gauges in one statement (one lock per member row); each keeps its latest value.
_SET_GAUGES = text(
    f"""
    INSERT INTO member_gauges AS g
        (club, member_id, balance, balance_at, balance_event, tier, tier_at, tier_event)
    SELECT * FROM {
        rows_source(
            "rows",
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
)


async def save_totals(conn: AsyncConnection, delta: TotalsDelta) -> None:
    if delta.days:
        days = delta.days
        await conn.execute(
            _ADD_TOTALS,
            {
                "rows": rows_param(
                    (*key, *(getattr(days[key], c) for c in TOTAL_COLUMNS)) for key in sorted(days)
                )
            },
        )
    store_keys = sorted(k for k, v in delta.store_receipts.items() if v != 0)
    if store_keys:
        await conn.execute(
            _ADD_STORE_DAYS,
            {"rows": rows_param((*k, delta.store_receipts[k]) for k in store_keys)},
        )
    members = sorted(delta.balances.keys() | delta.tiers.keys())
    if members:
        rows = []
        for member in members:
            balance = delta.balances.get(member)
            tier = delta.tiers.get(member)
            rows.append(
                (
                    *member,
                    *((balance.value, balance.at, balance.event_id) if balance else _NO_GAUGE),
                    *((tier.value, tier.at, tier.event_id) if tier else _NO_GAUGE),
                )
            )
        await conn.execute(_SET_GAUGES, {"rows": rows_param(rows)})


__all__ = [
    "EventRow",
    "lock_receipts",
    "record_events",
    "save_receipts",
    "save_totals",
]
