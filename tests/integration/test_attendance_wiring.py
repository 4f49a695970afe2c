"""How attendance is wired into the batch pipeline and the definitions cache, against
real PostgreSQL (and Redis for the running worker): a few set-based statements per
batch whatever its size, nothing for clubs without an edition, no deadlock between
concurrent batches, and editions applied while a worker runs are picked up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream, ReceiptEvent
from loyalty_progress.definitions.attendance import parse_edition
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.worker.attendance import AttendanceRule
from loyalty_progress.worker.batch import GoodEntry, commit_batch
from tests.support.attendance_engine import receipt_event
from tests.support.attendance_service import (
    ENDPOINT,
    apply_editions,
    at_instant,
    edition,
    membership_row,
    notes,
    oslo,
    process,
    receipt,
    tick,
)
from tests.support.http import http_get
from tests.support.rows import query
from tests.support.streams import drained, publish
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

NOW = oslo("2026-05-20 12:00")
DEFINITIONS = DefinitionSet(revision=1, editions=(parse_edition(edition(), "test"),))


def entries(events: Sequence[ReceiptEvent]) -> list[GoodEntry]:
    return [GoodEntry(f"{i}-0", e, msgspec.json.encode(e)) for i, e in enumerate(events)]


def receipts_of(members: Sequence[str], prefix: str, club: str = "infinity-mall") -> list[Any]:
    """Per member: a pending receipt on May 18 and an approved one on May 19."""
    found = []
    for member in members:
        for rid, status, when in (
            (f"{prefix}-{member}-p", "pending", "2026-05-18 12:00"),
            (f"{prefix}-{member}-a", "approved", "2026-05-19 12:00"),
        ):
            e = receipt_event(rid, status, 100, when, member_id=member, event_id=f"{rid}:{status}")
            found.append(msgspec.structs.replace(e, club=club))
    return found


async def statements(engine: AsyncEngine, events: Sequence[ReceiptEvent], rules: bool) -> int:
    """The number of SQL statements one batch of these events costs."""
    executed: list[str] = []

    def count(*args: Any) -> None:
        executed.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await commit_batch(
            engine,
            InputStream.RECEIPTS,
            entries(events),
            [],
            NOW,
            DEFINITIONS,
            [AttendanceRule()] if rules else [],
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    return len(executed)


async def test_a_batch_costs_the_same_few_statements_for_one_member_or_three_hundred(
    engine: AsyncEngine,
) -> None:
    one = await statements(engine, receipts_of(["solo"], "one"), rules=True)
    many = await statements(engine, receipts_of([f"m{i}" for i in range(300)], "many"), True)
    backbone = await statements(engine, receipts_of(["solo"], "plain"), rules=False)
    assert one == many
    # lock + load memberships, load days, save memberships + days + ledger
    assert one - backbone == 3
    async with engine.connect() as conn:
        assert await _count(conn, "attendance_memberships") == 301
        assert await _count(conn, "attendance_contributions") == 2 + 600


async def test_receipts_of_a_club_without_an_edition_cost_no_attendance_statement(
    engine: AsyncEngine,
) -> None:
    events = receipts_of(["a", "b"], "other", club="no-edition-mall")
    with_rule = await statements(engine, events, rules=True)
    events = receipts_of(["a", "b"], "other2", club="no-edition-mall")
    assert with_rule == await statements(engine, events, rules=False)


async def test_concurrent_batches_touching_the_same_members_in_opposite_orders_both_commit(
    engine: AsyncEngine,
) -> None:
    members = [f"m{i:03d}" for i in range(100)]
    rule = [AttendanceRule()]
    for round_ in range(3):
        forward = receipts_of(members, f"fwd{round_}")
        backward = receipts_of(list(reversed(members)), f"bwd{round_}")
        await asyncio.gather(
            *(
                commit_batch(
                    engine, InputStream.RECEIPTS, entries(batch), [], NOW, DEFINITIONS, rule
                )
                for batch in (forward, backward)
            )
        )
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*), sum(approved), sum(pending) FROM attendance_days")
        )
        days, approved, pending = result.one()
    # Each member, six receipts of 100 on each date: May 19 approved, May 18 pending.
    assert (days, approved, pending) == (200, 600 * 100, 600 * 100)


async def _count(conn: AsyncConnection, table: str) -> int:
    result = await conn.execute(text(f"SELECT count(*) FROM {table}"))
    return int(result.scalar_one())


async def test_a_running_worker_picks_up_an_edition_applied_after_it_started(
    redis: Redis, settings: Settings
) -> None:
    async with running_worker(at_instant(settings, "2026-05-20 12:00"), serve_http=True) as worker:
        assert (await http_get(worker, ENDPOINT.format(member="m-1")))[0] == 404
        started = asyncio.get_running_loop().time()
        await apply_editions(settings, edition())

        async def served() -> bool:
            return (await http_get(worker, ENDPOINT.format(member="m-1")))[0] == 200

        await wait_until(served, timeout=10, what="edition picked up")
        assert asyncio.get_running_loop().time() - started < 5
        await publish(
            redis, settings, "receipts", receipt("r", "approved", 100, "2026-05-19 12:00")
        )
        await wait_until(lambda: drained(redis, settings), what="receipt applied")
        status, body = await http_get(worker, ENDPOINT.format(member="m-1"))
    assert status == 200
    current = body["edition"]["membership"]["stages"]["current"]
    assert [(a["date"], a["complete"]) for a in current["attendances"]] == [("2026-05-19", True)]
    assert await query(settings, "SELECT 1 FROM attendance_days")


async def test_shortening_the_extra_period_reschedules_members_already_waiting(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    await process(
        redis, settings, "2026-05-02 12:00", receipt("r", "approved", 100, "2026-04-20 12:00")
    )
    before = await membership_row(settings)
    assert before.due_at == oslo("2026-05-08 09:00")  # April's notice, 10-day extra period
    # Shortened to 5 days: April now closes on May 6 at 09:00, its notice is due May 3.
    await apply_editions(settings, edition(extra_period_days=5))
    assert await tick(settings, "2026-05-04T12:00:00+02:00")
    (notice,) = await notes(settings, "extra_period_ending")
    assert notice["properties"]["days"] == 2
    after = await membership_row(settings)
    assert after.due_at == oslo("2026-05-06 09:00")
    assert after.edition_hash != before.edition_hash
