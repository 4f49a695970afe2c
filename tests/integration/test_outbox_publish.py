"""Publishing claims a row by deleting its id from `outbox_pending` and never rewrites the
outbox row itself (docs/scaling.md, "Publishing without rewriting the outbox row"); a
claim whose XADD fails rolls back, and the sweep publishes the row later, once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.worker.batch import BatchResult, commit_batch
from loyalty_progress.worker.relay import OutboxRelay
from tests.faults.batch_inputs import good_entry, utc_now
from tests.support.event_bodies import receipt
from tests.support.streams import read_stream

pytestmark = pytest.mark.timeout(60)


async def _receipts(engine: AsyncEngine, prefix: str, count: int) -> BatchResult:
    entries = [
        good_entry(
            InputStream.RECEIPTS,
            f"{index + 1}-0".encode(),
            json.dumps(
                receipt(event_id=f"{prefix}-{index}", receipt_id=f"{prefix}-{index}")
            ).encode(),
        )
        for index in range(count)
    ]
    result = await commit_batch(engine, InputStream.RECEIPTS, entries, [], utc_now())
    assert result.outbox_rows, "the receipts make notifications"
    return result


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql), params)]


async def _versions(engine: AsyncEngine, ids: list[int]) -> dict[int, str]:
    rows = await _rows(
        engine, "SELECT id, ctid::text FROM outbox WHERE id = ANY(CAST(:ids AS bigint[]))", ids=ids
    )
    return {int(row[0]): str(row[1]) for row in rows}


async def _pending(engine: AsyncEngine) -> set[int]:
    return {int(row[0]) for row in await _rows(engine, "SELECT id FROM outbox_pending")}


async def test_publishing_claims_the_pending_ids_and_leaves_the_rows_as_written(
    engine: AsyncEngine, redis: Redis, settings: Settings
) -> None:
    batch = await _receipts(engine, "pub", 5)
    ids = batch.outbox_ids
    assert await _pending(engine) == set(ids)  # written pending, in the batch's statement
    written = await _versions(engine, ids)

    relay = OutboxRelay(engine, redis, settings)
    assert await relay.publish_rows(batch.outbox_rows) == len(ids)
    assert await _pending(engine) == set()
    assert await _versions(engine, ids) == written  # no new version of any row
    published = await read_stream(redis, settings, "notifications")
    assert len(published) == len(ids)

    # Claimed once: the writer's second try, the sweep and a claim by id publish nothing.
    assert await relay.publish_rows(batch.outbox_rows) == 0
    assert await relay.sweep_once() == 0
    assert await relay.publish(ids) == 0
    assert len(await read_stream(redis, settings, "notifications")) == len(ids)


async def test_a_claim_whose_xadd_fails_stays_pending_for_the_sweep(
    engine: AsyncEngine, redis: Redis, settings: Settings
) -> None:
    batch = await _receipts(engine, "down", 3)
    ids = batch.outbox_ids
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        with pytest.raises(RedisConnectionError):
            await OutboxRelay(engine, unreachable, settings).publish_rows(batch.outbox_rows)
    finally:
        await unreachable.aclose()
    assert await _pending(engine) == set(ids)  # the claim rolled back with the XADD

    assert await OutboxRelay(engine, redis, settings).sweep_once() == len(ids)
    assert await _pending(engine) == set()
    published = await read_stream(redis, settings, "notifications")
    assert len(published) == len(ids)
