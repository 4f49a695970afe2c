"""Seed 001's worked example end to end: the example definition applied with the CLI,
earned points published to loyalty.points, progress read over real HTTP."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.challenge_service import (
    apply_file,
    at,
    earned,
    listed_challenge,
    member_challenge,
    messages,
    published,
    settle,
    trigger_progress,
)
from tests.support.rows import outbox_count
from tests.support.streams import publish, read_stream
from tests.support.worker import worker_at

# The `challenge` entry of SPEC's examples/definitions.yaml, as written there.
EXAMPLE = """
- kind: challenge
  code: earn-1000
  club: infinity-mall
  name: Earn 1000 Points
  description: Earn 1000 points this month and win 40% off a Buffalo Burger.
  category: {id: 3, name: Food}
  image: https://cdn.example.com/challenges/earn-1000.png
  starts_at: 2026-11-01T00:00:00+01:00
  ends_at: 2026-12-01T00:00:00+01:00
  enrollment: auto            # auto | opt_in
  visible: true
  scope: member               # member | group
  groups:                     # ordered; `operator` joins a group to the previous one
    - operator: AND
      triggers:               # ordered; `operator` joins a trigger to the previous one
        - {id: 1, name: Earn 1000 Points, type: earned_points, target: 1000, operator: AND}
  milestones:
    - code: completed
      reached_when: challenge # challenge | {group: 1}
      prizes:
        - {type: voucher, value: BURGER40, description: 40% off Buffalo Burger, expires_in_days: 30}
"""


async def test_seed001_earn_1000_points_shows_800_500_0_left_then_completes_and_rewards_once(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "definitions.yaml"
    path.write_text(EXAMPLE)
    assert (await apply_file(settings, path))[0] == 0
    now = at(20)
    async with worker_at(settings, now) as worker:
        before = await member_challenge(worker, "m1", "earn-1000")
        assert before is not None  # a member no event reached yet: the whole goal ahead
        assert (trigger_progress(before), before["Status"]) == ([(1, 1000, 0)], "ACTIVE")
        seen = []
        last = None
        for amount in (200, 300, 500):
            last = earned("m1", amount, at(10))
            await publish(redis, settings, "points", last)
            await settle(redis, settings)
            item = await listed_challenge(worker, "m1", "earn-1000")
            seen.append(trigger_progress(item))
        assert seen == [[(1, 800, 20)], [(1, 500, 50)], [(1, 0, 100)]]
        assert item["Status"] == "COMPLETED"
        assert item["PeopleFinished"] == 1
        # Won and not claimed yet: listed with its reward id until the rewards system
        # reports the claim (docs/prizes.md).
        ((won,),) = [m["Prizes"] for m in item["Prizes"] if m["MilestoneId"] == "completed"]
        assert (won["Value"], won["RewardType"]) == ("BURGER40", "voucher")
        assert (item["Name"], item["Category"], item["EndsAfter"]) == (
            "Earn 1000 Points",
            {"Id": 3, "Name": "Food"},
            11,
        )
        await published(redis, settings, "rewards", 1)
        await published(redis, settings, "notifications", 2)
        rows_before = await outbox_count(settings)

        assert last is not None
        await publish(redis, settings, "points", last)  # the last event again
        await settle(redis, settings)
        again = await member_challenge(worker, "m1", "earn-1000")
        rows_after = await outbox_count(settings)
    completed = await messages(redis, settings, "challenge_completed")
    issued = await messages(redis, settings, "reward_issued")
    rewards = await read_stream(redis, settings, "rewards")
    assert len(completed) == 1
    assert completed[0]["caused_by"] == [last["event_id"]]
    assert len(issued) == 1
    assert [r["prize"] for r in rewards] == [
        {"type": "voucher", "value": "BURGER40", "description": "40% off Buffalo Burger"}
    ]
    assert rewards[0]["member_id"] == "m1"
    assert rewards[0]["reason"] == "earn-1000/completed"
    assert rewards[0]["reward_id"] == won["RewardId"]
    assert again == item
    assert rows_after == rows_before
