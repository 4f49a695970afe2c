"""Two trigger groups, `(earned_points >= 500 AND receipt_count >= 3) OR distinct_stores >= 5`:
the challenge completes on exactly the event that makes the expression true, whichever of
the three ways makes it true."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.challenge_service import (
    apply,
    at,
    challenge,
    earned,
    group,
    member_challenge,
    messages,
    published,
    receipt,
    settle,
    trigger,
)
from tests.support.streams import publish
from tests.support.worker import worker_at

EXPRESSION = challenge(
    "two-groups",
    group(trigger(1, "earned_points", 500), trigger(2, "receipt_count", 3, "AND")),
    group(trigger(3, "distinct_stores", 5), operator="OR"),
)


async def test_two_group_challenge_completes_on_exactly_the_deciding_event_each_way(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, EXPRESSION)
    # Points decide: three receipts and 400 points first, the last 100 points decide.
    # A receipt decides: 500 points and two receipts first, the third receipt decides.
    # Stores decide: receipts from four stores first, a fifth store decides (no points).
    setup_points = [earned("points-last", 400, at(3)), earned("receipt-last", 500, at(3))]
    setup_receipts = [
        *(receipt("points-last", f"pl-{i}", at(4, 10 + i)) for i in range(3)),
        *(receipt("receipt-last", f"rl-{i}", at(4, 10 + i)) for i in range(2)),
        *(receipt("stores", f"st-{i}", at(4, 10 + i), store_id=f"s{i}") for i in range(4)),
    ]
    deciding = {
        "points-last": earned("points-last", 100, at(5)),
        "receipt-last": receipt("receipt-last", "rl-2", at(5)),
        "stores": receipt("stores", "st-4", at(5), store_id="s4"),
    }
    async with worker_at(settings, at(20)) as worker:
        await publish(redis, settings, "points", *setup_points)
        await publish(redis, settings, "receipts", *setup_receipts)
        await settle(redis, settings)
        for member in deciding:
            item = await member_challenge(worker, member, "two-groups")
            assert item is not None
            assert item["Status"] == "ACTIVE", member
        assert await messages(redis, settings, "challenge_completed") == []

        await publish(redis, settings, "points", deciding["points-last"])
        await publish(redis, settings, "receipts", deciding["receipt-last"], deciding["stores"])
        await settle(redis, settings)
        await published(redis, settings, "rewards", 3)
        statuses = {m: (await member_challenge(worker, m, "two-groups")) for m in deciding}
    completed = await messages(redis, settings, "challenge_completed")
    assert sorted((n["member_id"], n["caused_by"]) for n in completed) == sorted(
        (member, [event["event_id"]]) for member, event in deciding.items()
    )
    assert {m: item["Status"] for m, item in statuses.items() if item} == dict.fromkeys(
        deciding, "COMPLETED"
    )
