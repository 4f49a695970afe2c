"""The extra period against real PostgreSQL and Redis: late approvals count only before
it ends (processing time decides), and the scheduler's `extra_period_ending` notice goes
out once, to the members who can still complete the stage, however many ticks run."""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.attendance_service import (
    apply_editions,
    complete_days,
    edition,
    membership_row,
    notes,
    process,
    receipt,
    tick,
    view,
)
from tests.support.rows import outbox, query


async def test_april_receipt_approved_on_may_8_completes_april_one_approved_on_may_12_does_not(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())  # extra period: 10 days, April's ends May 11
    members = ("early", "late")
    await process(
        redis,
        settings,
        "2026-04-25 12:00",
        *[b for m in members for b in complete_days("2026-04", (6, 7, 8), member=m)],
        *[receipt(f"{m}-24", "pending", 100, "2026-04-24 12:00", member=m) for m in members],
    )
    approve_early = receipt("early-24", "approved", 100, "2026-04-24 12:00", member="early")
    await process(redis, settings, "2026-05-08 12:00", approve_early)
    approve_late = receipt("late-24", "approved", 100, "2026-04-24 12:00", member="late")
    await process(redis, settings, "2026-05-12 12:00", approve_late)

    (completed,) = await notes(settings, "stage_completed")
    assert (completed["member_id"], completed["properties"]["stage"]) == ("early", "2026-04")
    assert approve_early["event_id"] in completed["caused_by"]
    assert [r["member_id"] for r in await outbox(settings, "rewards")] == ["early"]
    (failed,) = await notes(settings, "stage_failed")
    assert (failed["member_id"], failed["properties"]["stage"]) == ("late", "2026-04")

    (line,) = await query(
        settings,
        "SELECT counted, reason FROM attendance_contributions WHERE event_id = :e",
        e=approve_late["event_id"],
    )
    assert line.counted is False
    assert line.reason == (
        "processed at 2026-05-12T12:00:00.000000+02:00, after the extra period of stage "
        "2026-04 ended at 2026-05-11T08:59:59.999999+02:00"
    )
    late = (await view(redis, settings, "2026-05-12 12:05", member="late"))["edition"]
    (april,) = late["membership"]["stages"]["past"]
    assert (april["completed"], april["attendances_completed"], april["attendances_left"]) == (
        False,
        3,
        1,
    )
    assert late["membership"]["entries"] == 2


async def _cli_tick(settings: Settings, at: str) -> str:
    assert settings.database_url
    assert settings.redis_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loyalty_progress",
        "tick",
        "--at",
        at,
        env={
            "LOYALTY_DATABASE_URL": settings.database_url,
            "LOYALTY_REDIS_URL": settings.redis_url,
            "LOYALTY_STREAM_PREFIX": settings.stream_prefix,
            "LOYALTY_LOG_LEVEL": "WARNING",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_tick_on_the_notice_day_warns_once_and_only_members_who_can_still_complete(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())  # April: notice May 8 09:00, ends May 11 09:00
    await process(
        redis,
        settings,
        "2026-05-05 12:00",
        *complete_days("2026-04", (6, 7), member="can-still"),  # April unfinished
        *complete_days("2026-04", (6, 7, 8, 9), member="done"),  # April completed
        *complete_days("2026-05", (4,), member="may-only"),  # joined in May
    )
    assert await tick(settings, "2026-05-08T08:59:00+02:00") == []

    # Two schedulers (separate engines, like two replicas) at the notice instant.
    first, second = await asyncio.gather(
        tick(settings, "2026-05-08T09:00:00+02:00"), tick(settings, "2026-05-08T09:00:00+02:00")
    )
    assert len(first) + len(second) == 1
    # Again later that day and the next day, and from two `loyalty-progress tick` processes.
    assert await tick(settings, "2026-05-08T10:00:00+02:00") == []
    assert await tick(settings, "2026-05-09T10:00:00+02:00") == []
    outputs = await asyncio.gather(
        _cli_tick(settings, "2026-05-08T11:00:00+02:00"),
        _cli_tick(settings, "2026-05-08T11:00:00+02:00"),
    )
    assert all(": 0 messages written" in out for out in outputs), outputs

    (notice,) = await notes(settings, "extra_period_ending")
    assert notice["member_id"] == "can-still"
    assert notice["severity"] == "info"
    assert (notice["properties"]["days"], notice["properties"]["stage"]) == (3, "2026-04")
    assert notice["caused_by"] == []
    stored = (await membership_row(settings, "can-still")).membership
    assert stored["notices"] == ["2026-04"]
