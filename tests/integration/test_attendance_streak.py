"""Streaks and rewards through the real stream, worker and outbox: three completed
stages in a row grant one streak of 150 points; the first completed stage grants the
first-stage reward once, whatever is published again."""

from __future__ import annotations

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.attendance_service import (
    apply_editions,
    complete_days,
    edition,
    membership_row,
    notes,
    process,
    view,
)
from tests.support.rows import outbox
from tests.support.streams import read_stream


def again(bodies: list[dict[str, object]]) -> list[dict[str, object]]:
    """The same receipts sent again by the producer under new event ids."""
    return [{**b, "event_id": f"{b['event_id']}:resent"} for b in bodies]


async def test_three_completed_stages_grant_one_streak_and_the_first_stage_reward_once(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    april = complete_days("2026-04", (6, 7, 8, 9))
    may = complete_days("2026-05", (4, 5, 6, 7))
    june = complete_days("2026-06", (8, 9, 10, 11))
    await process(redis, settings, "2026-04-28 12:00", *april)
    # Published again: as duplicates (same event ids) and as new events of the same receipts.
    await process(redis, settings, "2026-04-29 12:00", *april, *again(april))
    await process(redis, settings, "2026-05-28 12:00", *may, *april)
    await process(redis, settings, "2026-06-28 12:00", *june, *again(april + may + june))

    assert [n["properties"]["stage"] for n in await notes(settings, "stage_completed")] == [
        "2026-04",
        "2026-05",
        "2026-06",
    ]
    (streak,) = await notes(settings, "streak_completed")
    assert {k: streak["properties"][k] for k in ("first_stage", "stage", "stages", "points")} == {
        "first_stage": "2026-04",
        "stage": "2026-06",
        "stages": 3,
        "points": 150,
    }
    rewards = await outbox(settings, "rewards")
    assert [(r["prize"], r["reason"]) for r in rewards] == [
        ({"type": "reward", "reward_id": 1442920}, "win-in-2026/first-stage/2026-04"),
        ({"type": "points", "value": 150}, "win-in-2026/streak/2026-04..2026-06"),
    ]
    assert len(await notes(settings, "reward_issued")) == 2
    # ... and that is exactly what reached the rewards stream.
    published = await read_stream(redis, settings, "rewards")
    assert sorted(r["reward_id"] for r in published) == sorted(r["reward_id"] for r in rewards)

    stored = (await membership_row(settings)).membership
    assert (stored["first_stage_reward"], stored["streak_rewards"]) == ("2026-04", ["2026-06"])
    membership = (await view(redis, settings, "2026-06-28 12:05"))["edition"]["membership"]
    assert membership["first_stage_reward_granted"] is True
    # The streak was paid out: counting starts again from the next stage.
    assert (membership["stages_completed"], membership["stages_left"]) == (0, 3)


async def test_a_stage_completed_only_in_its_extra_period_still_counts_for_the_streak(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition(stages_streak_goal=2))
    await process(redis, settings, "2026-04-28 12:00", *complete_days("2026-04", (6, 7, 8)))
    # The fourth April day arrives on May 8, inside April's extra period.
    late = complete_days("2026-04", (9,)) + complete_days("2026-05", (4, 5, 6, 7))
    await process(redis, settings, "2026-05-08 12:00", *late)
    (streak,) = await notes(settings, "streak_completed")
    assert (streak["properties"]["first_stage"], streak["properties"]["stage"]) == (
        "2026-04",
        "2026-05",
    )
