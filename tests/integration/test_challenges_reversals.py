"""Refunds: before completion they lower progress; after completion they lower the counter
but the completion and the reward stand."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.engine.challenges import LineSelector, RowSelector
from loyalty_progress.store.challenge_writes import lock_rows
from loyalty_progress.store.database import create_engine
from tests.support.challenge_service import (
    CLUB,
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


async def test_a_refund_of_one_of_several_receipts_subtracts_exactly_that_receipt(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    """A later batch's refund reads the approval it undoes by its event id (the member's
    other receipts stay unread) and takes exactly that amount off the counter."""
    await apply(settings, tmp_path, SPEND)
    approvals = [
        receipt("m1", "r1", at(3), amount="40.00"),
        receipt("m1", "r2", at(4), amount="25.50"),
        receipt("m1", "r3", at(5), amount="20.00"),
    ]
    async with worker_at(settings, at(20)) as worker:
        for event in approvals:
            await publish(redis, settings, "receipts", event)
        await settle(redis, settings)
        await publish(
            redis,
            settings,
            "receipts",
            receipt("m1", "r2", at(6), status="refunded", amount="25.50"),
        )
        await settle(redis, settings)
        item = await member_challenge(worker, "m1", "spend-100")
        _, ledger = await http_get(worker, "/v1/members/m1/challenges/spend-100/contributions")
    assert item is not None
    assert (item["Status"], trigger_progress(item)) == ("ACTIVE", [(1, 40, 60)])
    reasons = {(c["event_id"], c["reason"], c["counts"]) for c in ledger["data"]}
    assert (approvals[1]["event_id"], "counted", False) in reasons
    assert (approvals[0]["event_id"], "counted", True) in reasons


async def test_the_store_loads_a_single_ledger_line_by_its_event_id(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    """`lock_rows` with a `LineSelector` gives the participation with just that entry; asked
    for the whole participation as well, the whole one."""
    await apply(settings, tmp_path, SPEND)
    approvals = [receipt("m1", f"r{i}", at(3 + i), amount="10.00") for i in range(3)]
    async with worker_at(settings, at(20)):
        for event in approvals:
            await publish(redis, settings, "receipts", event)
        await settle(redis, settings)
    wanted = approvals[1]["event_id"]
    line = LineSelector(CLUB, "spend-100", "m1", wanted)
    whole = RowSelector(CLUB, "spend-100", "member", "m1", at(1))
    engine = create_engine(settings.database_url or "", pool_size=1)
    try:
        async with engine.begin() as conn:
            some, _ = await lock_rows(conn, (), (), [line])
            both, _ = await lock_rows(conn, [whole], (), [line])
    finally:
        await engine.dispose()
    assert [list(p.entries) for p in some.values()] == [[wanted]]
    assert [len(p.entries) for p in both.values()] == [3]
