"""Reading a member's totals for a window of whole UTC days."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.engine.totals import TOTAL_COLUMNS


class MemberTotals(msgspec.Struct, frozen=True, kw_only=True):
    points_earned: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    points_adjusted: int = 0
    receipts_approved: int = 0
    receipt_value: Decimal = Decimal(0)
    receipts_pending: int = 0
    pending_value: Decimal = Decimal(0)
    vouchers_subscribed: int = 0
    vouchers_redeemed: int = 0
    distinct_stores: int = 0
    balance: int | None = None
    tier: int | None = None


_WINDOW = "club = :club AND member_id = :member AND day >= :since AND day < :until"
_SUMS = ", ".join(f"coalesce(sum({c}), 0) AS {c}" for c in TOTAL_COLUMNS)
_QUERY = text(
    f"""
    SELECT s.*,
      (SELECT count(*) FROM (SELECT store_id FROM member_store_days WHERE {_WINDOW}
                             GROUP BY store_id HAVING sum(receipts_approved) > 0) d)
        AS distinct_stores,
      g.balance, g.tier
    FROM (SELECT {_SUMS} FROM member_daily_totals WHERE {_WINDOW}) AS s
    LEFT JOIN member_gauges g ON g.club = :club AND g.member_id = :member
    """
)


async def member_totals(
    conn: AsyncConnection,
    club: str,
    member_id: str,
    since: date = date.min,
    until: date = date.max,
) -> MemberTotals:
    """Totals over days in [since, until), distinct stores, and the current gauges."""
    row = (
        await conn.execute(
            _QUERY, {"club": club, "member": member_id, "since": since, "until": until}
        )
    ).one()
    values = row._asdict()
    for column, value in values.items():
        if column not in ("receipt_value", "pending_value", "balance", "tier"):
            values[column] = int(value)
    return MemberTotals(**values)
