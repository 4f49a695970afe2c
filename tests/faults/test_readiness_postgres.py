"""`/readyz` follows PostgreSQL: 503 while it is down, 200 once it is back, and the entries
the worker took during the outage stay pending with it and are applied after recovery.

Readiness is read over real HTTP from the worker's own port. The server that goes down is
a private one (`PrivatePostgres`, on a free loopback port): the machine's shared
PostgreSQL is never stopped."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.faults.delivery_state import consumer_pending, group_pending, processed_count
from tests.faults.oracle import Oracle, mismatches
from tests.faults.private_postgres import PrivatePostgres
from tests.faults.workloads import CLUB
from tests.support.http import http_get
from tests.support.streams import drained, publish, read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(150)

_ids = itertools.count()


def _events(count: int) -> list[tuple[str, dict[str, Any]]]:
    """Points events and pending-then-approved receipts over a few members."""
    out: list[tuple[str, dict[str, Any]]] = []
    for _ in range(count):
        n = next(_ids)
        base = {
            "event_id": f"ready-{n}",
            "club": CLUB,
            "member_id": f"m{n % 4}",
            "occurred_at": "2026-11-10T12:00:00+01:00",
        }
        if n % 3:
            out.append(("points", {**base, "kind": "earned", "amount": n % 50 + 1}))
            continue
        for status in ("pending", "approved"):
            out.append(
                (
                    "receipts",
                    {
                        **base,
                        "event_id": f"ready-{n}-{status}",
                        "receipt_id": f"r-{n}",
                        "status": status,
                        "amount": "20.25",
                        "store_id": f"s{n % 3}",
                    },
                )
            )
    return out


async def _publish(
    redis: Redis, settings: Settings, oracle: Oracle, events: list[tuple[str, dict[str, Any]]]
) -> None:
    for stream, body in events:
        oracle.add(stream, body)
        await publish(redis, settings, stream, body)


def _readiness(worker: Any, ready: bool) -> Any:
    async def check() -> bool:
        status, body = await http_get(worker, "/readyz")
        return (status, body["ready"], body["database"]) == (
            (200, True, True) if ready else (503, False, False)
        )

    return check


async def test_readyz_follows_postgres_and_pending_entries_survive_the_outage(
    redis: Redis, settings: Settings, private_postgres: PrivatePostgres
) -> None:
    settings = replace(settings, database_url=private_postgres.url, db_pool_size=4)
    oracle = Oracle()
    async with running_worker(settings, serve_http=True) as worker:
        await wait_until(_readiness(worker, True), timeout=15, what="/readyz 200 at start")
        await _publish(redis, settings, oracle, _events(30))
        await wait_until(lambda: drained(redis, settings), timeout=30, what="first events")

        await asyncio.wait_for(asyncio.to_thread(private_postgres.stop, "fast"), 45)
        await wait_until(_readiness(worker, False), timeout=15, what="/readyz 503 while down")
        await _publish(redis, settings, oracle, _events(30))

        async def held_by_worker() -> bool:
            return await consumer_pending(redis, settings, settings.consumer_name) > 0

        await wait_until(held_by_worker, timeout=15, what="entries pending with the worker")
        assert await _readiness(worker, False)(), "/readyz turned ready with PostgreSQL down"
        _, public = await http_get(worker, "/readyz")  # the error text is for the ops port
        assert (public["reason"], "last_error" in public) == ("database unreachable", False)

        await asyncio.wait_for(asyncio.to_thread(private_postgres.start), 45)
        await wait_until(_readiness(worker, True), timeout=30, what="/readyz 200 after restart")
        await wait_until(lambda: drained(redis, settings), timeout=40, what="drained after")

        engine = worker.engine
        applied = await processed_count(engine)
        wrong = await mismatches(engine, oracle)
        status, totals = await http_get(worker, "/v1/members/m0/totals")

    expected_m0 = oracle.members["m0"].totals()
    assert applied == len(oracle.event_ids)
    assert wrong == {}
    assert status == 200
    assert totals["points_earned"] == expected_m0["points_earned"]
    assert Decimal(str(totals["receipt_value"])) == expected_m0["receipt_value"]
    assert await group_pending(redis, settings) == 0
    assert await read_stream(redis, settings, "deadletter") == []
