"""Monthly recurrence: each month is a fresh occurrence; last month's stays readable as
historical, and its detail keeps its own counters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.challenge_service import (
    CET,
    apply,
    at,
    challenge,
    earned,
    group,
    member_challenge,
    paytronix,
    published,
    settle,
    trigger,
    trigger_progress,
)
from tests.support.http import http_get
from tests.support.streams import publish, read_stream
from tests.support.worker import worker_at

MONTHLY = challenge(
    "monthly-500",
    group(trigger(1, "earned_points", 500)),
    recurrence="monthly",
    ends_at=datetime(2027, 2, 1, tzinfo=CET).isoformat(),
)


async def test_next_months_occurrence_starts_fresh_and_last_month_stays_historical(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, MONTHLY)
    async with worker_at(settings, at(10, month=12)) as worker:
        await publish(
            redis,
            settings,
            "points",
            earned("m1", 300, at(20, month=11)),
            earned("m1", 200, at(5, month=12)),
        )
        await settle(redis, settings)
        current = await member_challenge(worker, "m1", "monthly-500")
        history = await paytronix(worker, "/v1/members/m1/challenges/historical")
        recent = await paytronix(
            worker, "/v1/members/m1/challenges/historical?sinceDate=2026-12-15 00:00:00 %2B0100"
        )
        _, november = await http_get(worker, "/v1/challenges/monthly-500/occurrences/0?memberId=m1")
        await publish(redis, settings, "points", earned("m1", 300, at(6, month=12)))
        await settle(redis, settings)
        await published(redis, settings, "rewards", 1)
        completed = await member_challenge(worker, "m1", "monthly-500")
    assert current is not None
    assert (current["Occurrence"], current["Startdate"], current["Enddate"]) == (
        1,
        "2026-12-01T00:00:00+01:00",
        "2027-01-01T00:00:00+01:00",
    )
    assert trigger_progress(current) == [(1, 300, 40)]  # December alone: 200 of 500
    assert [(c["occurrenceCode"], c["status"], c["counters"][0]["value"]) for c in history] == [
        ("monthly-500#0", "EXPIRED", 300)
    ]
    assert recent == []  # November ended before sinceDate
    assert november["challenge"]["status"] == "EXPIRED"
    assert november["challenge"]["counters"][0]["value"] == 300
    assert completed is not None
    assert (completed["Status"], trigger_progress(completed)) == ("COMPLETED", [(1, 0, 100)])
    [reward] = await read_stream(redis, settings, "rewards")
    assert reward["reason"] == "monthly-500#1/completed"
