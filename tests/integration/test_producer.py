"""`loyalty_progress.producer` publishes the contract's typed events where the worker reads
them, and refuses what the worker would dead-letter."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract import MemberEvent, PointsEvent, ReceiptEvent
from loyalty_progress.contract.events import InputStream, decode_entry
from loyalty_progress.producer import Producer, RejectedEvent
from tests.support.rows import totals
from tests.support.streams import as_entries, drained
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def test_events_land_on_their_streams_as_the_worker_decodes_them(settings: Settings) -> None:
    assert settings.redis_url is not None
    receipt = ReceiptEvent(
        event_id="r-1",
        club="c",
        member_id="m",
        occurred_at=NOW,
        receipt_id="r-1",
        status="approved",
        amount=Decimal("12.50"),
        items=("SKU-1",),
    )
    opt_in = MemberEvent(
        event_id="m-1", club="c", member_id="m", occurred_at=NOW, kind="opted_in",
        challenge_code="x",
    )  # fmt: skip
    with Producer.from_url(settings.redis_url, settings.stream_prefix) as producer:
        first = producer.publish(receipt)
        (second,) = producer.publish_all([opt_in])
        entries = {
            stream: as_entries(producer.redis.xrange(settings.stream(stream.value)))
            for stream in (InputStream.RECEIPTS, InputStream.MEMBERS)
        }
    [(receipt_id, receipt_fields)] = entries[InputStream.RECEIPTS]
    [(member_id, member_fields)] = entries[InputStream.MEMBERS]
    assert (receipt_id.decode(), member_id.decode()) == (first, second)
    assert decode_entry(InputStream.RECEIPTS, receipt_fields) == receipt
    assert decode_entry(InputStream.MEMBERS, member_fields) == opt_in


def test_an_event_the_worker_would_dead_letter_is_refused_before_publishing(
    settings: Settings,
) -> None:
    assert settings.redis_url is not None
    # Structs built in Python do not check their constraints; the worker's decoder does.
    nothing = PointsEvent(
        event_id="p-2", club="c", member_id="m", occurred_at=NOW, kind="earned", amount=0
    )
    nul = ReceiptEvent(
        event_id="r-2", club="c", member_id="m\x00", occurred_at=NOW, receipt_id="r-2",
        status="approved", amount=Decimal("1"),
    )  # fmt: skip
    with Producer.from_url(settings.redis_url, settings.stream_prefix) as producer:
        with pytest.raises(RejectedEvent, match="amount"):
            producer.publish(nothing)
        with pytest.raises(RejectedEvent, match="NUL"):
            producer.publish_all([nul])
        assert producer.redis.xlen(settings.stream("receipts")) == 0
        assert producer.redis.xlen(settings.stream("points")) == 0


async def test_a_running_worker_applies_what_the_producer_publishes(
    redis: Redis, settings: Settings
) -> None:
    assert settings.redis_url is not None
    earned = PointsEvent(
        event_id="p-3", club="c", member_id="m", occurred_at=NOW, kind="earned", amount=7
    )
    async with running_worker(settings) as worker:
        with Producer.from_url(settings.redis_url, settings.stream_prefix) as producer:
            producer.publish(earned)
        await wait_until(lambda: drained(redis, settings), what="points applied")
        applied = await totals(worker.engine, member_id="m", club="c")
    assert await redis.xlen(settings.stream("deadletter")) == 0
    assert applied.points_earned == 7
