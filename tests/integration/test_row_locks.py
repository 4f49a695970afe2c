"""The per-key lock every rule takes first (`store.row_locks`), against real PostgreSQL:
an existing row is locked without a new row version, a new key gets a placeholder, and a
row another transaction commits while we wait is locked and returned, never treated as
new."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.engine.challenges import MemberRecord
from loyalty_progress.store import challenge_writes as writes
from loyalty_progress.store.database import create_engine

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLUB = "club-a"


@pytest_asyncio.fixture(loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=3)
    yield engine
    await engine.dispose()


async def _version(engine: AsyncEngine, member_id: str) -> str:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT CAST(ctid AS text) FROM challenge_members WHERE member_id = :m"),
            {"m": member_id},
        )
        return str(result.scalar_one())


async def test_existing_rows_are_locked_without_a_new_version_and_new_keys_placed(
    engine: AsyncEngine,
) -> None:
    record = MemberRecord(club=CLUB, member_id="m-old", unlocks={})
    async with engine.begin() as conn:
        await writes.lock_members(conn, [(CLUB, "m-old")])
        await conn.execute(
            text(
                "UPDATE challenge_members SET state = CAST(:s AS jsonb) WHERE member_id = 'm-old'"
            ),
            {"s": '{"club": "club-a", "member_id": "m-old"}'},
        )
    before = await _version(engine, "m-old")
    async with engine.begin() as conn:
        found = await writes.lock_members(conn, [(CLUB, "m-old"), (CLUB, "m-new")])
    assert found == {(CLUB, "m-old"): record}
    assert await _version(engine, "m-old") == before  # locked, not rewritten
    async with engine.connect() as conn:
        placed = await conn.execute(
            text("SELECT state FROM challenge_members WHERE member_id = 'm-new'")
        )
        assert placed.scalar_one() is None  # the placeholder of a new member


async def test_a_row_committed_while_waiting_is_locked_and_loaded_not_treated_as_new(
    engine: AsyncEngine,
) -> None:
    first = await engine.connect()
    await first.begin()
    # The first batch places the new member and keeps its transaction open.
    assert await writes.lock_members(first, [(CLUB, "m-race")]) == {}
    await first.execute(
        text("UPDATE challenge_members SET state = CAST(:s AS jsonb) WHERE member_id = 'm-race'"),
        {"s": '{"club": "club-a", "member_id": "m-race"}'},
    )

    async def second_batch() -> dict[tuple[str, str], MemberRecord]:
        async with engine.begin() as conn:
            return await writes.lock_members(conn, [(CLUB, "m-other"), (CLUB, "m-race")])

    waiting = asyncio.create_task(second_batch())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # it waits for the first batch's member lock
    await first.commit()
    await first.close()
    found = await asyncio.wait_for(waiting, timeout=10)
    assert found == {(CLUB, "m-race"): MemberRecord(club=CLUB, member_id="m-race")}


async def test_a_row_changed_while_waiting_is_returned_as_committed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await writes.lock_members(conn, [(CLUB, "m-busy")])
    first = await engine.connect()
    await first.begin()
    assert await writes.lock_members(first, [(CLUB, "m-busy")]) == {}
    await first.execute(
        text("UPDATE challenge_members SET state = CAST(:s AS jsonb) WHERE member_id = 'm-busy'"),
        {
            "s": '{"club": "club-a", "member_id": "m-busy", '
            '"unlocks": {"x": "2026-10-01T00:00:00Z"}}'
        },
    )

    async def second_batch() -> dict[tuple[str, str], MemberRecord]:
        async with engine.begin() as conn:
            return await writes.lock_members(conn, [(CLUB, "m-busy")])

    waiting = asyncio.create_task(second_batch())
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await first.commit()
    await first.close()
    found = await asyncio.wait_for(waiting, timeout=10)
    assert set(found[(CLUB, "m-busy")].unlocks) == {"x"}  # the committed state, not the old
