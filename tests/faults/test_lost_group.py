"""A consumer group lost under a running worker (its stream deleted, FLUSHALL, a failover to
an empty replica) is noticed and created again: `/readyz` says 503 and why until the
worker consumes that stream again, entries published afterwards are applied, and entries
read again from the start of a stream that kept them are dropped as duplicates."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.worker.app import Worker
from loyalty_progress.worker.gauges import collect_stream_gauges
from loyalty_progress.worker.groups import ensure_group
from tests.faults.delivery_state import group_pending, processed_count
from tests.faults.oracle import Oracle, mismatches
from tests.faults.workloads import CLUB
from tests.support.http import http_get
from tests.support.streams import drained, publish
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(90)

_ids = itertools.count()


def _points(count: int, member: str = "m1") -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"lost-p{next(_ids)}",
            "club": CLUB,
            "member_id": member,
            "occurred_at": "2026-11-10T12:00:00+01:00",
            "kind": "earned",
            "amount": 10,
        }
        for _ in range(count)
    ]


def _receipts(count: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        n = next(_ids)
        out.append(
            {
                "event_id": f"lost-r{n}",
                "club": CLUB,
                "member_id": f"m{n % 3}",
                "occurred_at": "2026-11-10T12:00:00+01:00",
                "receipt_id": f"lost-r{n}",
                "status": "approved",
                "amount": "12.50",
                "store_id": f"s{n % 4}",
            }
        )
    return out


async def _publish(
    redis: Redis, settings: Settings, oracle: Oracle, stream: str, bodies: list[dict[str, Any]]
) -> None:
    oracle.add_all(stream, bodies)
    await publish(redis, settings, stream, *bodies)


class ReadinessWatch:
    """Polls the ops port's `/readyz` (it says why) every 20 ms and keeps what it saw
    while not ready."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.not_ready: list[dict[str, Any]] = []
        self.last_status = 0

    async def run(self) -> None:
        while True:
            status, body = await http_get(self.worker, "/readyz", ops=True)
            self.last_status = status
            if status != 200:
                self.not_ready.append(body)
            await asyncio.sleep(0.02)


def _counter(worker: Any, name: str, stream: str) -> float:
    value = worker.metrics.registry.get_sample_value(name, {"stream": stream})
    return float(value or 0)


async def test_a_deleted_stream_and_its_group_come_back_and_new_entries_are_applied(
    redis: Redis, settings: Settings
) -> None:
    oracle = Oracle()
    points_stream = settings.stream("points")
    async with running_worker(settings, serve_http=True) as worker:
        await wait_until(lambda: _ready(worker), timeout=15, what="/readyz 200 at start")
        await _publish(redis, settings, oracle, "points", _points(40))
        await _publish(redis, settings, oracle, "receipts", _receipts(30))
        await wait_until(lambda: drained(redis, settings), timeout=30, what="first events")

        watch = ReadinessWatch(worker)
        watching = asyncio.create_task(watch.run())
        try:
            # The stream goes, and its consumer group with it.
            assert await redis.delete(points_stream) == 1
            # Published while the group is gone or just back: none may be skipped.
            await _publish(redis, settings, oracle, "points", _points(25, member="m2"))

            async def recreated() -> bool:
                return (
                    _counter(worker, "loyalty_consumer_groups_recreated_total", points_stream) > 0
                )

            await wait_until(recreated, timeout=10, what="the group noticed missing")
            await _publish(redis, settings, oracle, "points", _points(25, member="m2"))
            await _publish(redis, settings, oracle, "receipts", _receipts(10))

            async def all_applied() -> bool:
                return await processed_count(worker.engine) == len(oracle.event_ids)

            await wait_until(all_applied, timeout=20, what="entries after the loss applied")
            await wait_until(lambda: _ready(worker), timeout=10, what="/readyz 200 again")
        finally:
            watching.cancel()
        await wait_until(lambda: drained(redis, settings), timeout=20, what="drained")

        wrong = await mismatches(worker.engine, oracle)
        status, totals = await http_get(worker, "/v1/members/m2/totals")

    assert wrong == {}
    assert status == 200
    assert totals["points_earned"] == 500
    assert await group_pending(redis, settings) == 0
    # While the group was being brought back the worker said so, naming stream and group.
    lost = [b for b in watch.not_ready if any(points_stream in r for r in b["reasons"])]
    assert lost, f"/readyz never reported the lost group: {watch.not_ready[:3]}"
    assert all(b["ready"] is False and b["groups_joined"] is False for b in lost)
    assert any(settings.consumer_group in r for r in lost[0]["reasons"])
    # Only the deleted stream was affected.
    assert not any(settings.stream("receipts") in r for b in watch.not_ready for r in b["reasons"])


async def _ready(worker: Any) -> bool:
    status, body = await http_get(worker, "/readyz", ops=True)
    return status == 200 and body["ready"] is True and body["reasons"] == []


async def test_a_destroyed_group_is_read_again_from_the_start_and_nothing_counts_twice(
    redis: Redis, settings: Settings
) -> None:
    """The stream keeps its entries but the group goes (a restore without it): the group
    comes back at `0`, every entry is read again and dropped as a duplicate."""
    oracle = Oracle()
    receipts_stream = settings.stream("receipts")
    async with running_worker(settings) as worker:
        await _publish(redis, settings, oracle, "receipts", _receipts(60))
        await _publish(redis, settings, oracle, "points", _points(20))
        await wait_until(lambda: drained(redis, settings), timeout=30, what="first events")
        duplicates_before = _counter(worker, "loyalty_duplicate_events_total", receipts_stream)

        assert await redis.xgroup_destroy(receipts_stream, settings.consumer_group) == 1

        async def read_again() -> bool:
            seen = _counter(worker, "loyalty_duplicate_events_total", receipts_stream)
            return seen - duplicates_before >= 60

        await wait_until(read_again, timeout=20, what="the kept entries read again")
        await _publish(redis, settings, oracle, "receipts", _receipts(15))
        await wait_until(lambda: drained(redis, settings), timeout=20, what="drained")
        applied = await processed_count(worker.engine)
        wrong = await mismatches(worker.engine, oracle)
        duplicates = _counter(worker, "loyalty_duplicate_events_total", receipts_stream)

    assert applied == len(oracle.event_ids) == 95
    assert wrong == {}
    assert duplicates - duplicates_before == 60


async def test_the_lag_gauge_counts_the_whole_stream_while_its_group_is_missing(
    redis: Redis, settings: Settings
) -> None:
    """No group: nothing is delivered, and a group created again reads the stream from its
    first entry, so the lag is the stream's length (not 0, not the last value seen)."""
    worker = Worker(settings, serve_http=False)
    metrics = Metrics()
    try:
        for stream in InputStream:
            await ensure_group(redis, settings.stream(stream.value), settings.consumer_group)
        await publish(redis, settings, "points", *_points(7))
        await collect_stream_gauges(redis, worker.engine, settings, metrics)
        lag = metrics.registry.get_sample_value
        assert lag("loyalty_consumer_lag_entries", {"stream": settings.stream("points")}) == 7

        await redis.xgroup_destroy(settings.stream("points"), settings.consumer_group)
        await publish(redis, settings, "points", *_points(3))
        await collect_stream_gauges(redis, worker.engine, settings, metrics)
        assert lag("loyalty_consumer_lag_entries", {"stream": settings.stream("points")}) == 10
        assert lag("loyalty_pending_entries", {"stream": settings.stream("points")}) == 0
    finally:
        await worker.redis.aclose()
        await worker.engine.dispose()


async def test_a_claim_error_on_one_stream_does_not_stop_claiming_the_others(
    redis: Redis, settings: Settings
) -> None:
    """`receipts` (claimed first) has no group; `points` entries left pending by a dead
    consumer are still claimed and applied."""
    settings = replace(settings, claim_idle_ms=200)
    worker = Worker(settings, serve_http=False)
    stopping = asyncio.Event()
    try:
        await publish(redis, settings, "receipts", *_receipts(3))  # a stream, no group
        points_stream = settings.stream("points")
        await ensure_group(redis, points_stream, settings.consumer_group)
        await publish(redis, settings, "points", *_points(12))
        read = await redis.xreadgroup(
            settings.consumer_group, "dead-consumer", {points_stream: ">"}, count=100
        )
        assert isinstance(read, list)  # RESP2: [[stream, [(id, fields), ...]], ...]
        assert len(read[0][1]) == 12
        await asyncio.sleep(0.3)  # idle longer than claim_idle_ms

        worker.health.database = True  # what the probe reports with PostgreSQL up
        claiming = asyncio.create_task(worker.claimer.run(stopping))

        async def applied() -> bool:
            return await processed_count(worker.engine) == 12

        await wait_until(applied, timeout=15, what="points claimed past the receipts error")
        stopping.set()
        await asyncio.wait_for(claiming, timeout=10)
        info = await redis.xpending(points_stream, settings.consumer_group)
        claimed = worker.metrics.registry.get_sample_value(
            "loyalty_claimed_entries_total", {"stream": points_stream}
        )
    finally:
        stopping.set()
        await worker.redis.aclose()
        await worker.engine.dispose()

    assert info["pending"] == 0
    assert claimed == 12
