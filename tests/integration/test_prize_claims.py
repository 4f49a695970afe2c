"""Prize claims end to end: a prize won at a milestone is listed in the member-app list's
`Prizes` until the rewards system reports its claim on `loyalty.members`; then it is
gone from there and in the member's prize history. A claim takes effect once; a claim
of an unknown prize, of another member's prize, or without a `reward_id` is
dead-lettered with the reason."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from redis.asyncio import Redis
from sqlalchemy import event

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import BadInput, InputStream, decode_body
from loyalty_progress.contract.outputs import Prize, RewardIssuance
from loyalty_progress.store.database import create_engine
from loyalty_progress.store.outbox import add_messages
from loyalty_progress.worker.app import Worker
from loyalty_progress.worker.batch import GoodEntry, commit_batch
from loyalty_progress.worker.prizes import PrizeClaimRule
from tests.support.challenge_service import (
    CLUB,
    apply,
    at,
    challenge,
    earned,
    group,
    member_challenge,
    member_fact,
    published,
    settle,
    trigger,
)
from tests.support.http import http_get
from tests.support.rows import query
from tests.support.streams import publish, read_stream
from tests.support.worker import worker_at

BURGER = {
    "type": "voucher",
    "value": "BURGER40",
    "description": "40% off Buffalo Burger",
    "expires_in_days": 30,
}


def earn_1000() -> dict[str, Any]:
    definition = challenge("earn-1000", group(trigger(1, "earned_points", 1000)))
    definition["milestones"] = [
        {"code": "completed", "reached_when": "challenge", "prizes": [BURGER]}
    ]
    return definition


def prizes_of(item: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert item is not None
    (milestone,) = item["Prizes"]
    assert milestone["MilestoneId"] == "completed"
    return list(milestone["Prizes"])


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def history(worker: Worker, member: str) -> dict[str, Any]:
    status, body = await http_get(worker, f"/v1/members/{member}/prize_history")
    assert status == 200, body
    return dict(body)


async def test_a_won_prize_is_listed_until_claimed_then_moves_to_the_prize_history(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, earn_1000())
    async with worker_at(settings, at(20)) as worker:
        await publish(redis, settings, "points", earned("m1", 400, at(10)))
        await settle(redis, settings)
        (to_win,) = prizes_of(await member_challenge(worker, "m1", "earn-1000"))
        assert (to_win["Value"], to_win["RewardId"], to_win["ExpirationDate"]) == (
            "BURGER40",
            None,
            None,
        )

        await publish(redis, settings, "points", earned("m1", 600, at(11)))
        await settle(redis, settings)
        await published(redis, settings, "rewards", 1)
        (reward,) = await read_stream(redis, settings, "rewards")
        (won,) = prizes_of(await member_challenge(worker, "m1", "earn-1000"))
        assert (won["Value"], won["RewardType"], won["RewardId"]) == (
            "BURGER40",
            "voucher",
            reward["reward_id"],
        )
        assert instant(won["ExpirationDate"]) == instant(reward["expires_at"])
        assert await history(worker, "m1") == {"member_id": "m1", "data": [], "count": 0}

        first = member_fact("m1", "prize_claimed", at(21), reward_id=reward["reward_id"])
        retried = member_fact("m1", "prize_claimed", at(22), reward_id=reward["reward_id"])
        await publish(redis, settings, "members", first, retried, first)
        await settle(redis, settings)

        assert prizes_of(await member_challenge(worker, "m1", "earn-1000")) == []
        answer = await history(worker, "m1")
        (claimed,) = answer["data"]
        assert answer["count"] == 1
        assert (claimed["RewardId"], claimed["Value"], claimed["Reason"]) == (
            reward["reward_id"],
            "BURGER40",
            "earn-1000/completed",
        )
        assert instant(claimed["ClaimedAt"]) == at(21)
        assert instant(claimed["IssuedAt"]) == instant(reward["created_at"])
    rows = await query(settings, "SELECT claim_event_id FROM prizes")
    assert [r.claim_event_id for r in rows] == [first["event_id"]]
    assert await read_stream(redis, settings, "deadletter") == []


async def test_claims_of_unknown_or_foreign_prizes_and_claims_without_reward_id_are_dead_lettered(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, earn_1000())
    async with worker_at(settings, at(20)):
        await publish(redis, settings, "points", earned("m1", 1000, at(10)))
        await settle(redis, settings)
        await published(redis, settings, "rewards", 1)
        (reward,) = await read_stream(redis, settings, "rewards")
        unknown = member_fact("m1", "prize_claimed", at(21), reward_id="no-such-reward")
        foreign = member_fact("m2", "prize_claimed", at(21), reward_id=reward["reward_id"])
        malformed = member_fact("m1", "prize_claimed", at(21))
        await publish(redis, settings, "members", unknown, foreign, malformed)
        await settle(redis, settings)
        await published(redis, settings, "deadletter", 3)
    letters = await read_stream(redis, settings, "deadletter")
    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons == sorted(
        [
            "unknown reward_id 'no-such-reward': no prize with this id was issued in club "
            "'infinity-mall' - at `$.reward_id`",
            f"reward_id '{reward['reward_id']}' was issued to another member than 'm2' "
            "- at `$.member_id`",
            "invalid members event: kind `prize_claimed` requires `reward_id` - at `$.reward_id`",
        ]
    )
    assert all(letter["stream"].endswith(".members") for letter in letters)
    rows = await query(settings, "SELECT claimed_at FROM prizes")
    assert [r.claimed_at for r in rows] == [None]


async def statements(settings: Settings, bodies: list[dict[str, Any]], rules: bool) -> int:
    """The number of SQL statements one batch of these member events costs."""
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1)
    executed: list[str] = []

    def count(*args: Any) -> None:
        executed.append(args[2])

    decoded = [decode_body(InputStream.MEMBERS, json.dumps(b).encode()) for b in bodies]
    good = [
        GoodEntry(f"{i}-0", e, msgspec.json.encode(e))
        for i, e in enumerate(decoded)
        if not isinstance(e, BadInput)
    ]
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await commit_batch(
            engine, InputStream.MEMBERS, good, [], at(20), None, [PrizeClaimRule()] if rules else []
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        await engine.dispose()
    return len(executed)


async def test_a_batch_without_claims_costs_nothing_and_one_with_claims_two_statements(
    settings: Settings,
) -> None:
    tiers = [member_fact(f"m{i}", "tier_changed", at(10), tier=2) for i in range(50)]
    assert await statements(settings, tiers, rules=True) == await statements(
        settings, [member_fact(f"m{i}", "tier_changed", at(10), tier=3) for i in range(50)], False
    )
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1)
    async with engine.begin() as conn:
        await add_messages(
            conn,
            [
                RewardIssuance(
                    reward_id=f"r{i}",
                    club=CLUB,
                    member_id=f"m{i}",
                    prize=Prize(type="points", value=150),
                    reason="earn-1000/completed",
                    created_at=at(20),
                )
                for i in range(50)
            ],
        )
    await engine.dispose()
    claims = [member_fact(f"m{i}", "prize_claimed", at(21), reward_id=f"r{i}") for i in range(50)]
    backbone = await statements(
        settings, [member_fact(f"m{i}", "tier_changed", at(11), tier=4) for i in range(50)], False
    )
    # lock + load the prizes named, save the claimed ones
    assert await statements(settings, claims, rules=True) - backbone == 2
    rows = await query(settings, "SELECT count(*) AS n FROM prizes WHERE claimed_at IS NOT NULL")
    assert rows[0].n == 50
