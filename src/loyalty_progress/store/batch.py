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

_ITEM_SEPARATOR: Final = "\x1f"


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    club: str
    member_id: str
    occurred_at: datetime
    body: bytes


_RECORD_EVENTS = text(
    """
    INSERT INTO processed_events (stream, event_id, club, member_id, occurred_at, body)
    SELECT :stream, e.event_id, e.club, e.member_id, e.occurred_at, e.body
    FROM unnest(CAST(:event_ids AS text[]), CAST(:clubs AS text[]), CAST(:members AS text[]),
                CAST(:occurred AS timestamptz[]), CAST(:bodies AS bytea[]))
         AS e(event_id, club, member_id, occurred_at, body)
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
            "event_ids": [r.event_id for r in rows],
            "clubs": [r.club for r in rows],
            "members": [r.member_id for r in rows],
            "occurred": [r.occurred_at for r in rows],
            "bodies": [r.body for r in rows],
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
    """
    UPDATE receipts AS r
    SET member_id = u.member_id, status = u.status, amount = u.amount, store_id = u.store_id,
        items = string_to_array(u.items, chr(31)), occurred_at = u.occurred_at,
        event_id = u.event_id, updated_at = now()
    FROM unnest(CAST(:clubs AS text[]), CAST(:ids AS text[]), CAST(:members AS text[]),
                CAST(:statuses AS text[]), CAST(:amounts AS numeric[]), CAST(:stores AS text[]),
                CAST(:items AS text[]), CAST(:occurred AS timestamptz[]),
                CAST(:events AS text[]))
         AS u(club, receipt_id, member_id, status, amount, store_id, items, occurred_at, event_id)
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
            "clubs": [s.club for s in rows],
            "ids": [s.receipt_id for s in rows],
            "members": [s.member_id for s in rows],
            "statuses": [s.status for s in rows],
            "amounts": [s.amount for s in rows],
            "stores": [s.store_id for s in rows],
            "items": [_ITEM_SEPARATOR.join(s.items) for s in rows],
            "occurred": [s.occurred_at for s in rows],
            "events": [s.event_id for s in rows],
        },
    )


def _totals_statement() -> Any:
    casts = {c: "numeric" if c.endswith("value") else "bigint" for c in TOTAL_COLUMNS}
    arrays = ", ".join(f"CAST(:{c} AS {casts[c]}[])" for c in TOTAL_COLUMNS)
    names = ", ".join(TOTAL_COLUMNS)
    updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in TOTAL_COLUMNS)
    return text(
        f"""
        INSERT INTO member_daily_totals AS t (club, member_id, day, {names})
        SELECT * FROM unnest(CAST(:clubs AS text[]), CAST(:members AS text[]),
                             CAST(:days AS date[]), {arrays}) AS d(club, member_id, day, {names})
        ORDER BY 1, 2, 3
        ON CONFLICT (club, member_id, day) DO UPDATE SET {updates}
        """
    )


_ADD_TOTALS = _totals_statement()

_ADD_STORE_DAYS = text(
    """
    INSERT INTO member_store_days AS t (club, member_id, day, store_id, receipts_approved)
    SELECT * FROM unnest(CAST(:clubs AS text[]), CAST(:members AS text[]), CAST(:days AS date[]),
                         CAST(:stores AS text[]), CAST(:counts AS integer[]))
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (club, member_id, day, store_id)
    DO UPDATE SET receipts_approved = t.receipts_approved + EXCLUDED.receipts_approved
    """
)

# Both gauges in one statement (one lock per member row); each keeps its latest value.
_SET_GAUGES = text(
    """
    INSERT INTO member_gauges AS g
        (club, member_id, balance, balance_at, balance_event, tier, tier_at, tier_event)
    SELECT * FROM unnest(CAST(:clubs AS text[]), CAST(:members AS text[]),
                         CAST(:balances AS bigint[]), CAST(:balance_at AS timestamptz[]),
                         CAST(:balance_events AS text[]), CAST(:tiers AS integer[]),
                         CAST(:tier_at AS timestamptz[]), CAST(:tier_events AS text[]))
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
        keys = sorted(delta.days)
        params: dict[str, list[Any]] = {
            "clubs": [k[0] for k in keys],
            "members": [k[1] for k in keys],
            "days": [k[2] for k in keys],
        }
        for column in TOTAL_COLUMNS:
            params[column] = [getattr(delta.days[k], column) for k in keys]
        await conn.execute(_ADD_TOTALS, params)
    store_keys = sorted(k for k, v in delta.store_receipts.items() if v != 0)
    if store_keys:
        await conn.execute(
            _ADD_STORE_DAYS,
            {
                "clubs": [k[0] for k in store_keys],
                "members": [k[1] for k in store_keys],
                "days": [k[2] for k in store_keys],
                "stores": [k[3] for k in store_keys],
                "counts": [delta.store_receipts[k] for k in store_keys],
            },
        )
    members = sorted(delta.balances.keys() | delta.tiers.keys())
    if members:
        balances = [delta.balances.get(m) for m in members]
        tiers = [delta.tiers.get(m) for m in members]
        await conn.execute(
            _SET_GAUGES,
            {
                "clubs": [m[0] for m in members],
                "members": [m[1] for m in members],
                "balances": [g.value if g else None for g in balances],
                "balance_at": [g.at if g else None for g in balances],
                "balance_events": [g.event_id if g else None for g in balances],
                "tiers": [g.value if g else None for g in tiers],
                "tier_at": [g.at if g else None for g in tiers],
                "tier_events": [g.event_id if g else None for g in tiers],
            },
        )


__all__ = [
    "EventRow",
    "lock_receipts",
    "record_events",
    "save_receipts",
    "save_totals",
]
