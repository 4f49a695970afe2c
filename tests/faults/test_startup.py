"""Start-up rides out outages and gives way to a stop request: `run` pointed at a database
that is not there serves `/healthz` at once, says on `/readyz` what it waits for, and
exits 0 within seconds of SIGTERM or SIGINT; a worker starting while Redis is away waits
for it in every step (the consumers' own start included) and then consumes."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.worker.app import Worker
from loyalty_progress.worker.groups import ensure_groups
from loyalty_progress.worker.startup import start_step
from tests.faults.delivery_state import processed_count
from tests.faults.endpoints import PrivateRedis, answers, free_port, get_json, silent_listener
from tests.faults.replicas import worker_process
from tests.faults.workloads import CLUB
from tests.support.streams import publish
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(90)


def _points(count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{n}",
            "club": CLUB,
            "member_id": "m1",
            "occurred_at": "2026-11-10T12:00:00+01:00",
            "kind": "earned",
            "amount": 5,
        }
        for n in range(count)
    ]


async def _readiness(port: int) -> tuple[int, Any]:
    status, body = await get_json(port, "/readyz")
    return status, body


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_waiting_for_an_unreachable_database_serves_health_and_exits_0_on_a_signal(
    settings: Settings, tmp_path: Path, sig: signal.Signals
) -> None:
    closed = free_port()  # nothing listens there
    http_port, ops_port = free_port(), free_port()
    unreachable = replace(settings, database_url=f"postgresql://postgres@127.0.0.1:{closed}/db")
    with worker_process(
        unreachable,
        "starting",
        tmp_path,
        LOYALTY_HTTP_PORT=str(http_port),
        LOYALTY_METRICS_PORT=str(ops_port),
    ) as worker:

        async def health_served() -> bool:
            if not worker.alive():
                raise AssertionError(f"run exited early:\n{worker.log_tail()}")
            return await answers(http_port, "/healthz")

        await wait_until(health_served, timeout=30, what="/healthz served during start-up")
        assert await get_json(http_port, "/healthz") == (200, {"status": "alive"})

        async def waiting_for_postgres() -> bool:
            status, body = await _readiness(ops_port)
            return status == 503 and "waiting for PostgreSQL" in " ".join(body["reasons"])

        await wait_until(waiting_for_postgres, timeout=15, what="/readyz naming PostgreSQL")
        assert await _readiness(http_port) == (
            503,
            {
                "ready": False,
                "database": False,
                "redis": False,
                "migrations_current": False,
                "groups_joined": False,
                "reason": "database unreachable",
            },
        )
        status, body = await _readiness(ops_port)
        assert status == 503
        assert body["ready"] is False
        assert body["reasons"][0].startswith("starting: database: waiting for PostgreSQL")

        worker.signal(sig)
        code = await worker.wait(timeout=10)
    assert code == 0, worker.log_tail()


async def test_a_stop_cancels_a_connect_attempt_to_a_server_that_never_answers(
    settings: Settings, tmp_path: Path
) -> None:
    """The connection is accepted and then nothing answers: the attempt itself would only
    end at the driver's 10 s connect timeout, so exiting sooner means it was cancelled."""
    http_port, ops_port = free_port(), free_port()
    with silent_listener() as frozen:
        silent = replace(settings, database_url=f"postgresql://postgres@127.0.0.1:{frozen}/db")
        with worker_process(
            silent,
            "frozen-db",
            tmp_path,
            LOYALTY_HTTP_PORT=str(http_port),
            LOYALTY_METRICS_PORT=str(ops_port),
        ) as worker:

            async def starting() -> bool:
                if not worker.alive():
                    raise AssertionError(f"run exited early:\n{worker.log_tail()}")
                if not await answers(http_port, "/readyz"):
                    return False
                status, body = await _readiness(ops_port)
                return status == 503 and body["reasons"] == ["starting: database"]

            await wait_until(starting, timeout=30, what="start-up stuck connecting")
            worker.signal(signal.SIGTERM)
            code = await worker.wait(timeout=5)
    assert code == 0, worker.log_tail()


async def test_a_worker_started_while_redis_is_away_waits_for_it_then_consumes(
    settings: Settings,
) -> None:
    redis_server = PrivateRedis()  # not started yet: nothing listens on its port
    settings = replace(settings, redis_url=redis_server.url)
    worker = Worker(settings, serve_http=False)
    starting = asyncio.create_task(worker.start())
    try:

        async def waiting_for_redis() -> bool:
            return "waiting for Redis" in " ".join(worker.health.reasons())

        await wait_until(waiting_for_redis, timeout=20, what="start-up waiting for Redis")
        assert worker.health.reasons()[0].startswith("starting: consumer groups: waiting")
        assert not starting.done()

        await asyncio.to_thread(redis_server.start)
        client: Redis = Redis.from_url(redis_server.url)
        try:
            # Published before any group exists: the group starts at 0, so none is skipped.
            await publish(client, settings, "points", *_points(20, "late-redis"))
            await asyncio.wait_for(starting, timeout=30)
            assert worker.health.starting is None

            async def applied() -> bool:
                return await processed_count(worker.engine) == 20

            await wait_until(applied, timeout=20, what="entries applied once Redis came")
            await wait_until(lambda: _ready(worker), timeout=10, what="ready once everything is up")
        finally:
            await client.aclose()
    finally:
        if not starting.done():
            starting.cancel()
        await asyncio.wait_for(worker.stop(), timeout=30)
        await asyncio.to_thread(redis_server.cleanup)


async def _ready(worker: Worker) -> bool:
    return worker.health.ready


async def test_starting_the_consumers_rides_out_a_redis_outage_without_starting_twice(
    settings: Settings,
) -> None:
    """The step after the groups exist (FastStream's subscribers, each creating its group
    and pinging Redis) is retried like the others, and a failed attempt leaves nothing
    half-started behind, so the retry starts each subscriber exactly once."""
    redis_server = PrivateRedis()
    await asyncio.to_thread(redis_server.start)
    settings = replace(settings, redis_url=redis_server.url)
    worker = Worker(settings, serve_http=False)
    subscribers = list(worker.supervisor._subscribers.values())
    step: asyncio.Task[None] | None = None
    try:
        await ensure_groups(worker.redis, settings)
        await asyncio.to_thread(redis_server.stop)  # Redis drops between the two steps
        step = asyncio.create_task(
            start_step(
                worker.supervisor.start_consumers,
                worker.stopping,
                worker.health,
                "consumers",
                "Redis",
                worker.pipeline._redis_down,
            )
        )

        async def waiting() -> bool:
            return "consumers: waiting for Redis" in (worker.health.starting or "")

        await wait_until(waiting, timeout=20, what="the consumers' start waiting for Redis")
        assert not any(s.running for s in subscribers)

        await asyncio.to_thread(redis_server.start)  # back, empty: no groups any more
        await asyncio.wait_for(step, timeout=30)
        assert all(s.running for s in subscribers)
        assert [len(s.tasks) for s in subscribers] == [1] * len(InputStream)
        client: Redis = Redis.from_url(redis_server.url)
        try:
            for stream in InputStream:
                groups = await client.xinfo_groups(settings.stream(stream.value))
                assert [(g["name"], g["last-delivered-id"]) for g in groups] == [
                    (settings.consumer_group.encode(), b"0-0")
                ]
        finally:
            await client.aclose()
    finally:
        if step is not None and not step.done():
            step.cancel()
        worker.stopping.set()
        await asyncio.wait_for(worker.broker.stop(), timeout=30)
        await worker.redis.aclose()
        await worker.engine.dispose()
        await asyncio.to_thread(redis_server.cleanup)
