"""PostgreSQL side of prizes (table: `prize_tables.py`; rows are written with their outbox
rows, `outbox.issued_prizes_sql`): lock + load and save for the claim rule, one
statement each, and the read side's queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.contract.outputs import Prize
from loyalty_progress.engine.prizes.claims import IssuedPrize, PrizeKey
from loyalty_progress.store.jsonrows import rows_param, rows_source

_PRIZE: Final = msgspec.json.Decoder(Prize)
_COLUMNS: Final = """p.club, p.reward_id, p.member_id, CAST(p.prize AS text) AS prize, p.reason,
    p.issued_at, p.expires_at, p.claimed_at, p.claim_event_id"""

_LOCK = text(
    f"""
    SELECT {_COLUMNS}
    FROM prizes AS p
    JOIN {rows_source("keys", [("club", "text"), ("reward_id", "text")])} AS k
      ON p.club = k.club AND p.reward_id = k.reward_id
    ORDER BY p.club, p.reward_id
    FOR UPDATE OF p
    """
)

_SAVE_CLAIMS = text(
    f"""
    UPDATE prizes AS p SET claimed_at = c.claimed_at, claim_event_id = c.claim_event_id
    FROM {
        rows_source(
            "claims",
            [
                ("club", "text"),
                ("reward_id", "text"),
                ("claimed_at", "timestamptz"),
                ("claim_event_id", "text"),
            ],
        )
    } AS c
    WHERE p.club = c.club AND p.reward_id = c.reward_id
    """
)

_UNCLAIMED = text(
    f"""
    SELECT {_COLUMNS} FROM prizes AS p
    WHERE p.club = :club AND p.member_id = :member AND p.claimed_at IS NULL
    """
)

_CLAIMED = text(
    f"""
    SELECT {_COLUMNS} FROM prizes AS p
    WHERE p.club = :club AND p.member_id = :member AND p.claimed_at IS NOT NULL
    ORDER BY p.claimed_at DESC, p.reward_id
    """
)


def _issued(row: Row[Any]) -> IssuedPrize:
    return IssuedPrize(
        club=row.club,
        reward_id=row.reward_id,
        member_id=row.member_id,
        prize=_PRIZE.decode(row.prize),
        reason=row.reason,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        claimed_at=row.claimed_at,
        claim_event_id=row.claim_event_id,
    )


async def lock_prizes(
    conn: AsyncConnection, keys: Iterable[PrizeKey]
) -> dict[PrizeKey, IssuedPrize]:
    """Row-lock and load the prizes with these keys, in key order; unknown keys are
    simply absent."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    result = await conn.execute(_LOCK, {"keys": rows_param(wanted)})
    return {prize.key: prize for prize in map(_issued, result)}


async def save_claims(conn: AsyncConnection, claimed: Sequence[IssuedPrize]) -> None:
    if not claimed:
        return
    rows = sorted((p.club, p.reward_id, p.claimed_at, p.claim_event_id) for p in claimed)
    await conn.execute(_SAVE_CLAIMS, {"claims": rows_param(rows)})


async def unclaimed_prizes(
    conn: AsyncConnection, club: str, member_id: str
) -> dict[str, IssuedPrize]:
    """The member's issued prizes not claimed yet, by reward id (the challenge list)."""
    result = await conn.execute(_UNCLAIMED, {"club": club, "member": member_id})
    return {prize.reward_id: prize for prize in map(_issued, result)}


async def claimed_prizes(conn: AsyncConnection, club: str, member_id: str) -> list[IssuedPrize]:
    """The member's claimed prizes, the latest claim first (the prize history)."""
    result = await conn.execute(_CLAIMED, {"club": club, "member": member_id})
    return [_issued(row) for row in result]


__all__ = ["claimed_prizes", "lock_prizes", "save_claims", "unclaimed_prizes"]
