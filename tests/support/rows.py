"""Reading a test database's rows back: any SQL, the outbox, a member's totals."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.store.database import create_engine
from loyalty_progress.store.totals import MemberTotals, member_totals

# A row of any width, as a text statement returns it (columns by position or by name).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]


async def query(settings: Settings, statement: str, **params: Any) -> list[AnyRow]:
    """The rows of one SQL statement (bound `:params`), on a connection of its own."""
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(statement), params))
    finally:
        await engine.dispose()


async def outbox_count(settings: Settings) -> int:
    ((count,),) = await query(settings, "SELECT count(*) FROM outbox")
    return int(count)


async def outbox_idle(settings: Settings) -> bool:
    """Every outbox row published."""
    return not await query(settings, "SELECT 1 FROM outbox_pending")


async def outbox(settings: Settings, stream: str) -> list[dict[str, Any]]:
    """Every message written to the outbox for `stream`, in order."""
    rows = await query(
        settings, "SELECT payload FROM outbox WHERE stream = :s ORDER BY id", s=stream
    )
    return [json.loads(r.payload) for r in rows]


async def totals(
    engine: AsyncEngine, member_id: str = "m1", club: str = "infinity-mall"
) -> MemberTotals:
    async with engine.connect() as conn:
        return await member_totals(conn, club, member_id)
