"""Refunds: before completion they lower progress; after completion they lower the counter
but the completion and the reward stand."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.challenge_service import (
    apply,
    at,
    challenge,
    group,
    member_challenge,
    messages,
    published,
    receipt,
    settle,
    trigger,
    trigger_progress,
)
from tests.support.http import http_get
from tests.support.streams import publish, read_stream
from tests.support.worker import worker_at

SPEND = challenge("spend-100", group(trigger(1, "receipt_amount", 100)))


async def test_refund_before_completion_lowers_progress_after_completion_keeps_the_reward(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, SPEND)
    refund_1 = receipt("m1", "r1", at(4), status="refunded", amount="60.00")
    refund_2 = receipt("m1", "r2", at(7), status="refunded", amount="120.00")
    async with worker_at(settings, at(20)) as worker:
        views = []
        for event in (
            receipt("m1", "r1", at(3), amount="60.00"),
            refund_1,
            receipt("m1", "r2", at(6), amount="120.00"),
            refund_2,
        ):
            await publish(redis, settings, "receipts", event)
            await settle(redis, settings)
            item = await member_challenge(worker, "m1", "spend-100")
            assert item is not None
            views.append((item["Status"], trigger_progress(item)))
        await published(redis, settings, "rewards", 1)
        _, ledger = await http_get(worker, "/v1/members/m1/challenges/spend-100/contributions")
        _, first = await http_get(
            worker, "/v1/members/m1/challenges/spend-100/contributions?occurrence=0"
        )
    assert views == [
        ("ACTIVE", [(1, 40, 60)]),
        ("ACTIVE", [(1, 100, 0)]),  # refunded before completion: progress goes down
        ("COMPLETED", [(1, 0, 100)]),
        ("COMPLETED", [(1, 100, 0)]),  # refunded after: the counter drops, completion stands
    ]
    assert len(await messages(redis, settings, "challenge_completed")) == 1
    assert len(await messages(redis, settings, "reward_issued")) == 1
    assert len(await read_stream(redis, settings, "rewards")) == 1
    assert first == ledger  # one occurrence: the filter keeps every line
    assert ledger["count"] == 4
    lines = [(c["event_id"], c["reason"], c["counts"], c["reverses"]) for c in ledger["data"]]
    assert lines[-2:] == [
        (lines[-2][0], "counted", False, None),
        (refund_2["event_id"], "reversal", False, lines[-2][0]),
    ]
