"""An entry that fails in the database for a reason other than an outage is isolated: the
rest of its batch is applied, and after `max_deliveries` it is dead-lettered with the
database's error as the reason (docs/wire-contract.md: one bad entry never blocks the stream)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from loyalty_progress.config import Settings
from tests.faults.delivery_state import group_pending, processed_count
from tests.faults.oracle import Oracle, mismatches
from tests.faults.workloads import CLUB
from tests.support.streams import drained, read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(60)

_REFUSE_POISON = """
CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_id = 'poison-db' THEN
        RAISE EXCEPTION 'trigger refuses event %', NEW.event_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_poison BEFORE INSERT ON processed_events
    FOR EACH ROW EXECUTE FUNCTION refuse_poison();
"""


async def _install_trigger(database_url: str) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(_REFUSE_POISON)
    finally:
        await conn.close()


def _points(event_id: str, member: str, amount: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "club": CLUB,
        "member_id": member,
        "occurred_at": "2026-11-10T12:00:00+01:00",
        "kind": "earned",
        "amount": amount,
    }


async def test_an_entry_failing_in_the_database_is_isolated_then_dead_lettered_with_the_error(
    redis: Redis, settings: Settings
) -> None:
    await _install_trigger(settings.database_url or "")
    settings = replace(settings, batch_size=50, claim_idle_ms=300, max_deliveries=3)
    oracle = Oracle()
    bodies = [_points(f"good-{i}", f"m{i % 7}", i + 1) for i in range(120)]
    oracle.add_all("points", bodies)
    poison = _points("poison-db", "m1", 1000)
    bodies.insert(37, poison)

    async with running_worker(settings) as worker:
        ids = await _publish(redis, settings, bodies)
        poison_id = ids[37].decode()

        async def dead_lettered() -> bool:
            return len(await read_stream(redis, settings, "deadletter")) >= 1

        await wait_until(dead_lettered, timeout=25, what="the poison entry dead-lettered")
        await wait_until(lambda: drained(redis, settings), timeout=10, what="drained")
        engine = worker.engine
        wrong = await mismatches(engine, oracle)
        applied = await processed_count(engine)
        stats = worker.pipeline.stats

    assert wrong == {}
    assert applied == 120
    assert stats.isolated_failures == settings.max_deliveries
    assert await group_pending(redis, settings) == 0
    [letter] = await read_stream(redis, settings, "deadletter")
    assert letter["stream"] == settings.stream("points")
    assert letter["entry_id"] == poison_id
    assert json.loads(letter["body"]) == poison
    assert letter["delivery_count"] == settings.max_deliveries + 1
    assert "trigger refuses event poison-db" in letter["reason"]
    assert f"failed {settings.max_deliveries} deliveries" in letter["reason"]
    # The failure log keeps nothing for an entry once it is dead-lettered.
    assert await redis.hlen(settings.stream("failures")) == 0


async def _publish(redis: Redis, settings: Settings, bodies: list[dict[str, Any]]) -> list[bytes]:
    async with redis.pipeline(transaction=False) as pipe:
        for body in bodies:
            pipe.xadd(settings.stream("points"), {"data": json.dumps(body)})
        return list(await pipe.execute())
