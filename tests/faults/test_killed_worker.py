"""A worker killed mid-stream (SIGKILL) or stopped (SIGTERM) loses nothing and doubles
nothing: another worker claims what it left pending, and every member's totals are exact."""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.store.database import create_engine
from tests.faults.delivery_state import (
    committed_but_unacked,
    consumer_pending,
    group_pending,
    processed_count,
)
from tests.faults.oracle import Oracle, mismatches
from tests.faults.replicas import kill_while_holding_entries, wait_for_progress, worker_process
from tests.faults.workloads import mixed_workload, publish_workload
from tests.support.streams import drained
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(120)


async def test_worker_killed_mid_stream_leaves_nothing_lost_or_doubled(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    workload = mixed_workload(points=12_000, receipts=4_000, members=100, seed=5)
    oracle = Oracle()
    for stream, body in workload:
        oracle.add(stream, body)
    assert len(oracle.event_ids) == len(workload) == 20_000
    await publish_workload(redis, settings, workload)

    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        with worker_process(settings, "victim", tmp_path, LOYALTY_BATCH_SIZE="200") as victim:
            done = await wait_for_progress(engine, victim, at_least=3_000, timeout=40)
            await kill_while_holding_entries(victim, redis, settings, "victim")
            assert await victim.wait(timeout=10) == -signal.SIGKILL
        assert done < len(workload), "the victim finished before it could be killed"
        left_by_victim = await consumer_pending(redis, settings, "victim")
        assert left_by_victim > 0, "the victim died with no entry in hand"
        assert await processed_count(engine) < len(workload)

        survivor = replace(settings, consumer_name="survivor", batch_size=200, claim_idle_ms=1000)
        async with running_worker(survivor):
            await wait_until(lambda: drained(redis, settings), timeout=60, what="drained")

        assert await consumer_pending(redis, settings, "victim") == 0
        assert await group_pending(redis, settings) == 0
        assert await processed_count(engine) == len(workload)
        wrong = await mismatches(engine, oracle)
        assert wrong == {}, f"{len(wrong)} members wrong, e.g. {next(iter(wrong.items()))}"
    finally:
        await engine.dispose()


async def test_worker_stopped_with_sigterm_exits_0_promptly_and_nothing_is_lost(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    workload = mixed_workload(points=6_000, receipts=2_000, members=50, seed=8)
    oracle = Oracle()
    for stream, body in workload:
        oracle.add(stream, body)
    await publish_workload(redis, settings, workload)

    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        with worker_process(settings, "stopped", tmp_path, LOYALTY_BATCH_SIZE="200") as stopped:
            done = await wait_for_progress(engine, stopped, at_least=1_500, timeout=40)
            stopped.signal(signal.SIGTERM)
            signalled = time.monotonic()
            code = await stopped.wait(timeout=20)
            took = time.monotonic() - signalled
            assert code == 0, f"exit code {code}:\n{stopped.log_tail()}"
            assert took < 15, f"took {took:.1f}s to stop"
        assert done < len(workload), "the worker finished before SIGTERM"
        # The batch in hand was finished: whatever it committed, it also acknowledged.
        assert await committed_but_unacked(redis, settings, engine, "stopped") == []
        assert await processed_count(engine) < len(workload)

        survivor = replace(settings, consumer_name="survivor", batch_size=200, claim_idle_ms=1000)
        async with running_worker(survivor):
            await wait_until(lambda: drained(redis, settings), timeout=60, what="drained")

        assert await consumer_pending(redis, settings, "stopped") == 0
        assert await group_pending(redis, settings) == 0
        assert await processed_count(engine) == len(workload)
        wrong = await mismatches(engine, oracle)
        assert wrong == {}, f"{len(wrong)} members wrong, e.g. {next(iter(wrong.items()))}"
    finally:
        await engine.dispose()


async def test_replica_killed_while_another_races_it_leaves_exact_totals(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    """Two replicas share the group and the same members' rows; one dies mid-stream and
    the other, still running, claims its pending entries."""
    workload = mixed_workload(points=9_000, receipts=3_000, members=20, seed=13)
    oracle = Oracle()
    for stream, body in workload:
        oracle.add(stream, body)
    await publish_workload(redis, settings, workload)

    engine = create_engine(settings.database_url or "", pool_size=2)
    racer = replace(settings, consumer_name="racer", batch_size=100, claim_idle_ms=1000)
    try:
        with worker_process(settings, "victim", tmp_path, LOYALTY_BATCH_SIZE="100") as victim:
            await wait_for_progress(engine, victim, at_least=1_000, timeout=40)
            async with running_worker(racer):
                # Both replicas work the same streams and members for a while...
                await wait_for_progress(engine, victim, at_least=4_000, timeout=40)
                held = await kill_while_holding_entries(victim, redis, settings, "victim")
                assert await victim.wait(timeout=10) == -signal.SIGKILL
                # ...then the racer alone finishes, claiming what the victim held.
                await wait_until(lambda: drained(redis, settings), timeout=60, what="drained")
        assert held > 0, "the victim died with no entry in hand"

        assert await consumer_pending(redis, settings, "victim") == 0
        assert await group_pending(redis, settings) == 0
        assert await processed_count(engine) == len(workload)
        wrong = await mismatches(engine, oracle)
        assert wrong == {}, f"{len(wrong)} members wrong, e.g. {next(iter(wrong.items()))}"
    finally:
        await engine.dispose()
