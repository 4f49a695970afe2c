"""A replica frozen (SIGSTOP) inside a batch, holding its row locks, does not hold up the
group: PostgreSQL ends its session after the idle-in-transaction timeout, the other
replica claims the frozen one's entries and applies them (it cannot before: they are the
very event ids the frozen transaction inserted), and once the frozen replica is resumed
its batch runs again as duplicates. Totals stay exact throughout."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.store.database import create_engine
from loyalty_progress.testing.worker_process import WorkerProcess
from loyalty_progress.worker.app import database_session_name
from tests.faults.delivery_state import group_pending, processed_count
from tests.faults.endpoints import free_port
from tests.faults.oracle import Oracle, mismatches
from tests.faults.replicas import wait_for_progress, worker_process
from tests.faults.workloads import mixed_workload, publish_workload
from tests.support.streams import drained, read_stream
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(180)

# Short enough for a test, far above what a batch of 200 needs between two statements.
REPLICA_ENV = {
    "LOYALTY_BATCH_SIZE": "200",
    "LOYALTY_CLAIM_IDLE_MS": "3000",
    "LOYALTY_DB_LOCK_TIMEOUT_MS": "500",
    "LOYALTY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": "2000",
    "LOYALTY_DB_STATEMENT_TIMEOUT_MS": "5000",
}

# Far below the idle-in-transaction timeout: a frozen batch is still held after it.
SETTLE_S = 0.2

# A session of the replica, inside a transaction that has inserted into processed_events:
# a batch between its first statement and its commit, holding the rows it wrote.
_BATCH_HOLDER = text(
    """
    SELECT a.pid
    FROM pg_stat_activity a
    JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.mode = 'RowExclusiveLock'
    JOIN pg_class c ON c.oid = l.relation AND c.relname = 'processed_events'
    WHERE a.application_name = :name AND a.datname = current_database()
      AND a.xact_start IS NOT NULL
    LIMIT 1
    """
)


async def _batch_holder(engine: AsyncEngine, session_name: str) -> int | None:
    async with engine.connect() as conn:
        pid = (await conn.execute(_BATCH_HOLDER, {"name": session_name})).scalar()
    return int(pid) if pid is not None else None


# The same session, still inside that transaction and waiting on its (stopped) client.
_IDLE_IN_BATCH = text(
    """
    SELECT count(*)
    FROM pg_stat_activity a
    JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.mode = 'RowExclusiveLock'
    JOIN pg_class c ON c.oid = l.relation AND c.relname = 'processed_events'
    WHERE a.pid = :pid AND a.state = 'idle in transaction'
    """
)


async def _idle_in_batch(engine: AsyncEngine, pid: int) -> bool:
    async with engine.connect() as conn:
        return bool((await conn.execute(_IDLE_IN_BATCH, {"pid": pid})).scalar_one())


async def _session_alive(engine: AsyncEngine, pid: int) -> bool:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
        return bool(result.scalar_one())


async def _freeze_inside_a_batch(
    victim: WorkerProcess, engine: AsyncEngine, session_name: str, attempts: int = 500
) -> int:
    """SIGSTOP the victim at a moment one of its sessions is inside a batch transaction
    (look while it is stopped, so it cannot commit meanwhile); else let it run a moment
    and look again. Returns the backend pid of that transaction.

    A holder seen at the instant of the stop may still be finishing a statement, or a
    COMMIT sent just before the stop: only a session that, a moment later, is idle in
    that transaction waits on the frozen client (and so for the server's timeout)."""
    for _ in range(attempts):
        victim.signal(signal.SIGSTOP)
        pid = await _batch_holder(engine, session_name)
        if pid is not None:
            await asyncio.sleep(SETTLE_S)
            if await _idle_in_batch(engine, pid):
                return pid
        victim.signal(signal.SIGCONT)
        await asyncio.sleep(0.005)
    raise AssertionError(f"never caught the victim inside a batch:\n{victim.log_tail()}")


async def test_a_replica_frozen_mid_batch_does_not_hold_up_the_other_and_totals_stay_exact(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    first = mixed_workload(points=9_000, receipts=3_000, members=8, seed=21)
    second = mixed_workload(points=1_500, receipts=500, members=8, seed=22)
    oracle = Oracle()
    for stream, body in first + second:
        oracle.add(stream, body)
    await publish_workload(redis, settings, first)

    victim_name = database_session_name(replace(settings, consumer_name="victim"))
    victim_port = free_port()
    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        with (
            worker_process(
                settings, "victim", tmp_path, LOYALTY_HTTP_PORT=str(victim_port), **REPLICA_ENV
            ) as victim,
            worker_process(settings, "survivor", tmp_path, **REPLICA_ENV) as survivor,
        ):
            await wait_for_progress(engine, victim, at_least=2_000, timeout=60)
            holder = await _freeze_inside_a_batch(victim, engine, victim_name)
            frozen_at = await processed_count(engine)
            assert frozen_at < len(first), "the workload was over before the freeze"

            # The server ends the frozen transaction (idle in transaction) on its own...
            async def terminated() -> bool:
                return not await _session_alive(engine, holder)

            await wait_until(terminated, timeout=20, what="the frozen session terminated")
            # ...and the survivor applies everything, the frozen replica's entries included.
            await wait_until(
                lambda: drained(redis, settings), timeout=90, what="drained by the survivor"
            )
            assert victim.alive()  # still there, still frozen
            assert await processed_count(engine) == len(first)
            assert await mismatches(engine, oracle_of(first)) == {}

            # Resumed, the victim finds its session gone, runs its batch again (duplicates
            # now) and goes on working with the survivor.
            victim.signal(signal.SIGCONT)
            await publish_workload(redis, settings, second)
            await wait_until(lambda: drained(redis, settings), timeout=60, what="drained")

            await victim.wait_ready(timeout=20)  # the resumed replica ready
            for replica in (victim, survivor):
                replica.signal(signal.SIGTERM)
            codes = [await replica.wait(timeout=20) for replica in (victim, survivor)]

        assert codes == [0, 0], victim.log_tail()
        assert await processed_count(engine) == len(oracle.event_ids)
        assert await group_pending(redis, settings) == 0
        # Waiting on the frozen replica's locks was contention, never a failure of an entry.
        assert await redis.hlen(settings.stream("failures")) == 0
        assert await read_stream(redis, settings, "deadletter") == []
        wrong = await mismatches(engine, oracle)
        assert wrong == {}, f"{len(wrong)} members wrong, e.g. {next(iter(wrong.items()))}"
    finally:
        await engine.dispose()


def oracle_of(workload: list[tuple[str, dict[str, Any]]]) -> Oracle:
    oracle = Oracle()
    for stream, body in workload:
        oracle.add(stream, body)
    return oracle
