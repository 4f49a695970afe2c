"""At-least-once delivery: duplicates, and a crash between commit and acknowledgement."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.store.database import create_engine
from loyalty_progress.worker.batch import commit_batch
from loyalty_progress.worker.groups import ensure_groups
from tests.faults.batch_inputs import good_entry, utc_now
from tests.faults.bounded import within
from tests.faults.delivery_state import consumer_pending, group_pending, unpublished_outbox
from tests.support.event_bodies import points, receipt
from tests.support.rows import totals
from tests.support.streams import drained, publish, read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(60)


async def test_an_event_published_five_times_changes_totals_once(
    redis: Redis, settings: Settings
) -> None:
    earned = points(amount=250, balance=1250)
    approved = receipt(receipt_id="r-dup", amount="80.00", status="approved")
    # Small batches: some copies share a batch, others arrive in later batches.
    async with running_worker(replace(settings, batch_size=2)) as worker:
        await publish(redis, settings, "points", *[earned] * 3)
        await publish(redis, settings, "receipts", *[approved] * 3)
        await wait_until(lambda: drained(redis, settings), timeout=15, what="first copies")
        await publish(redis, settings, "points", *[earned] * 2)
        await publish(redis, settings, "receipts", *[approved] * 2)
        await wait_until(lambda: drained(redis, settings), timeout=15, what="later copies")
        result = await totals(worker.engine)
        stats = worker.pipeline.stats
        await wait_until(
            lambda: _stream_length(redis, settings, "notifications", 1), what="notification"
        )

    assert result.points_earned == 250
    assert result.balance == 1250
    assert result.receipts_approved == 1
    assert result.receipt_value == Decimal("80.00")
    assert stats.applied == 2
    assert stats.duplicates == 8
    notes = await read_stream(redis, settings, "notifications")
    assert [n["type"] for n in notes] == ["receipt_approved"]


async def test_entry_committed_but_not_acked_before_a_crash_is_claimed_and_acked_without_second_effect(  # noqa: E501
    redis: Redis, settings: Settings
) -> None:
    stream = InputStream.RECEIPTS
    body = receipt(receipt_id="r-crash", amount="42.50", status="approved")
    await ensure_groups(redis, settings)
    [entry_id] = await publish(redis, settings, "receipts", body)

    # The crashed replica read the entry (now pending for it) and committed its effects...
    read = await redis.xreadgroup(
        settings.consumer_group, "crashed", {settings.stream("receipts"): ">"}, count=10
    )
    assert isinstance(read, list)  # RESP2: [[stream, [(id, fields), ...]], ...]
    assert [e[0] for e in read[0][1]] == [entry_id]
    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        raw = json.dumps(body).encode()
        committed = await commit_batch(
            engine, stream, [good_entry(stream, entry_id, raw)], [], utc_now()
        )
        assert committed.applied == 1
        # ...and died before XACK and before publishing its outbox row.
        before = await totals(engine)
        assert await consumer_pending(redis, settings, "crashed") == 1

        live = replace(settings, claim_idle_ms=200, consumer_name="survivor")
        async with running_worker(live) as worker:
            await wait_until(lambda: drained(redis, settings), timeout=15, what="claimed and acked")
            await wait_until(
                lambda: _stream_length(redis, settings, "notifications", 1),
                timeout=10,
                what="the outbox row published by the sweep",
            )
            stats = worker.pipeline.stats
            after = await totals(engine)
            unpublished = await within(5, unpublished_outbox(engine))

        assert after == before
        assert after.receipts_approved == 1
        assert after.receipt_value == Decimal("42.50")
        assert stats.duplicates == 1
        assert stats.applied == 0
        assert await consumer_pending(redis, settings, "crashed") == 0
        assert await group_pending(redis, settings) == 0
        assert unpublished == 0
        notes = await read_stream(redis, settings, "notifications")
        assert [n["type"] for n in notes] == ["receipt_approved"]
    finally:
        await engine.dispose()


async def _stream_length(redis: Redis, settings: Settings, name: str, expected: int) -> bool:
    return int(await redis.xlen(settings.stream(name))) >= expected
