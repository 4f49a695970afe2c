"""Group challenges: three members' contributions sum; the occurrence detail lists each
member's contribution; prizes go to the group's members."""

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
    member_fact,
    messages,
    paytronix,
    published,
    settle,
    trigger,
    trigger_progress,
)
from tests.support.http import http_get
from tests.support.streams import publish, read_stream
from tests.support.worker import worker_at

TEAM = challenge("team-3000", group(trigger(1, "earned_points", 3000)), scope="group")


async def test_group_counter_sums_three_members_and_detail_lists_each_contribution(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, TEAM)
    joins = [member_fact(m, "joined_group", at(1, 9), group_code="g1") for m in ("a", "b", "c")]
    async with worker_at(settings, at(20)) as worker:
        await publish(redis, settings, "members", *joins)
        await settle(redis, settings)
        await publish(
            redis,
            settings,
            "points",
            earned("a", 500, at(2)),
            earned("b", 700, at(3)),
            earned("c", 900, at(4)),
            earned("outsider", 800, at(4)),  # not in the group: counts for nothing
        )
        await settle(redis, settings)
        _, detail = await http_get(worker, "/v1/challenges/team-3000/occurrences/0?groupCode=g1")
        active = await paytronix(worker, "/v1/groups/g1/challenges/active")
        as_member = await member_challenge(worker, "b", "team-3000")
        await publish(redis, settings, "points", earned("c", 900, at(5)))
        await settle(redis, settings)
        await published(redis, settings, "rewards", 3)
        history = await paytronix(worker, "/v1/groups/g1/challenges/historical")
    [counter] = detail["challenge"]["counters"]
    assert (counter["value"], counter["threshold"]) == (2100, 3000)
    assert counter["details"] == [
        {"memberCode": "a", "numericValue": 500},
        {"memberCode": "b", "numericValue": 700},
        {"memberCode": "c", "numericValue": 900},
    ]
    assert [(c["code"], c["status"], c["groupCode"]) for c in active] == [
        ("team-3000", "ACTIVE", "g1")
    ]
    assert as_member is not None
    assert trigger_progress(as_member) == [(1, 900, 70)]
    assert [(c["status"], c["counters"][0]["value"]) for c in history] == [("COMPLETED", 3000)]
    completed = await messages(redis, settings, "challenge_completed")
    assert sorted(n["member_id"] for n in completed) == ["a", "b", "c"]
    assert {n["properties"]["group_code"] for n in completed} == {"g1"}
    rewards = await read_stream(redis, settings, "rewards")
    assert sorted(r["member_id"] for r in rewards) == ["a", "b", "c"]
