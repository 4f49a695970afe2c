"""A crash between commit and publish delays outputs, never loses or doubles them: the
sweep publishes every leftover outbox row exactly once, even with replicas racing."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.store.database import create_engine
from loyalty_progress.worker.batch import commit_batch
from loyalty_progress.worker.deadletter import dead_letter
from tests.faults.batch_inputs import good_entry, utc_now
from tests.faults.delivery_state import unpublished_outbox
from tests.faults.workloads import CLUB
from tests.support.streams import read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(60)

ROWS = 2_500  # more than one sweep round (the sweep claims 1000 rows at a time)


def _approved(index: int) -> dict[str, Any]:
    return {
        "event_id": f"sweep-{index}",
        "club": CLUB,
        "member_id": f"m{index % 40}",
        "occurred_at": "2026-11-10T12:00:00+01:00",
        "receipt_id": f"r-{index}",
        "status": "approved",
        "amount": "10.00",
        "store_id": "s1",
    }


async def test_outbox_rows_left_by_a_crash_before_publish_are_swept_exactly_once(
    redis: Redis, settings: Settings
) -> None:
    stream = InputStream.RECEIPTS
    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        # The "crashed" replica committed its batches (progress + outbox rows) and died
        # before publishing anything.
        for start in range(0, ROWS, 500):
            good = [
                good_entry(stream, f"1-{i}".encode(), json.dumps(_approved(i)).encode())
                for i in range(start, start + 500)
            ]
            letters = [
                dead_letter(settings.stream("receipts"), f"2-{start}", b"{", "bad", 1, utc_now())
            ]
            await commit_batch(engine, stream, good, letters, utc_now())
        assert await unpublished_outbox(engine) == ROWS + ROWS // 500

        # Two replicas start; both sweep.
        first = replace(settings, consumer_name="sweeper-a", outbox_sweep_ms=100)
        second = replace(settings, consumer_name="sweeper-b", outbox_sweep_ms=100)
        async with running_worker(first), running_worker(second):

            async def all_published() -> bool:
                return await unpublished_outbox(engine) == 0

            await wait_until(all_published, timeout=20, what="outbox swept")
            # Let a few more sweep rounds run: they must find nothing left to publish.
            before = await redis.xlen(settings.stream("notifications"))
            await asyncio.sleep(0.5)
            after = await redis.xlen(settings.stream("notifications"))
    finally:
        await engine.dispose()

    assert before == after == ROWS
    notes = await read_stream(redis, settings, "notifications")
    ids = [n["notification_id"] for n in notes]
    assert len(ids) == len(set(ids)) == ROWS
    assert {n["caused_by"][0] for n in notes} == {f"sweep-{i}" for i in range(ROWS)}
    published_letters = await read_stream(redis, settings, "deadletter")
    assert sorted(letter["entry_id"] for letter in published_letters) == sorted(
        f"2-{start}" for start in range(0, ROWS, 500)
    )
