"""The backbone against real PostgreSQL and Redis: dedupe, lifecycle, outbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.event_bodies import points, receipt
from tests.support.rows import totals
from tests.support.streams import drained, publish, read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker


async def test_same_event_published_five_times_counts_once(
    redis: Redis, settings: Settings
) -> None:
    body = points(amount=250, balance=1250)
    async with running_worker(settings) as worker:
        await publish(redis, settings, "points", *[body] * 5)
        await wait_until(lambda: drained(redis, settings), what="stream drained")
        result = await totals(worker.engine)
    assert result.points_earned == 250
    assert result.balance == 1250


async def test_receipt_approval_notifies_once_through_the_outbox(
    redis: Redis, settings: Settings
) -> None:
    async with running_worker(settings) as worker:
        await publish(
            redis,
            settings,
            "receipts",
            receipt(status="pending"),
            receipt(status="approved"),
            receipt(status="approved"),
        )
        await wait_until(lambda: drained(redis, settings), what="stream drained")

        async def one_notification() -> bool:
            return len(await read_stream(redis, settings, "notifications")) >= 1

        await wait_until(one_notification, what="notification published")
        result = await totals(worker.engine)
    notes: list[dict[str, Any]] = await read_stream(redis, settings, "notifications")
    assert [n["type"] for n in notes] == ["receipt_approved"]
    assert result.receipts_approved == 1
    assert result.receipt_value == Decimal("100.00")
    assert result.pending_value == 0
