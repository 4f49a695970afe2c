"""Failures and entries against real PostgreSQL and Redis: a failed stage breaks the
streak, a second entry starts at the next stage, a second failure ends the membership."""

from __future__ import annotations

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.attendance_service import (
    apply_editions,
    complete_days,
    edition,
    notes,
    process,
    receipt,
    tick,
    view,
)
from tests.support.rows import query


async def test_failed_stage_breaks_the_streak_second_entry_starts_next_stage_then_membership_ends(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition(entries_limit=2))
    await process(redis, settings, "2026-03-20 12:00", *complete_days("2026-03", (2, 3, 4, 5)))
    await process(
        redis, settings, "2026-04-10 12:00", receipt("small", "approved", 10, "2026-04-10 12:00")
    )
    before = (await view(redis, settings, "2026-04-10 12:05"))["edition"]["membership"]
    assert (before["stages_completed"], before["entries"]) == (1, 1)

    # April's extra period ends on May 11 at 09:00: the scheduler fails it.
    assert len(await tick(settings, "2026-05-11T09:00:00+02:00")) == 1
    (failed,) = await notes(settings, "stage_failed")
    assert failed["properties"] == {
        "edition": "win-in-2026",
        "stage": "2026-04",
        "entries": 2,
        "entries_limit": 2,
        "membership_ended": False,
    }
    second = (await view(redis, settings, "2026-05-12 12:00"))["edition"]["membership"]
    assert (second["status"], second["entries"]) == ("active", 2)
    assert (second["stages_completed"], second["stages_left"]) == (0, 3)  # streak broken
    assert second["stages"]["current"]["name"] == "2026-05"  # the second entry's first stage
    march, april = second["stages"]["past"]
    assert (march["name"], march["completed"], april["name"], april["completed"]) == (
        "2026-03",
        True,
        "2026-04",
        False,
    )

    # May passes idle: its failure uses up the last entry.
    assert len(await tick(settings, "2026-06-11T09:00:00+02:00")) == 1
    assert await tick(settings, "2026-06-12T09:00:00+02:00") == []
    last = (await notes(settings, "stage_failed"))[-1]
    assert (last["properties"]["stage"], last["properties"]["membership_ended"]) == (
        "2026-05",
        True,
    )
    june = receipt("june", "approved", 100, "2026-06-15 12:00")
    await process(redis, settings, "2026-06-15 12:00", june)
    ended = (await view(redis, settings, "2026-06-15 12:05"))["edition"]["membership"]
    assert (ended["status"], ended["entries"]) == ("ended", 2)
    (line,) = await query(
        settings,
        "SELECT counted, reason FROM attendance_contributions WHERE event_id = :e",
        e=june["event_id"],
    )
    assert (line.counted, line.reason) == (False, "the membership has ended: all entries are used")
    (row,) = await query(settings, "SELECT due_at FROM attendance_memberships")
    assert row.due_at is None  # nothing left for the scheduler
