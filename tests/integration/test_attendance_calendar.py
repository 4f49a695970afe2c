"""The business calendar through the whole stack: the 09:00 day boundary decides a
receipt's date, and stage timestamps carry Europe/Oslo's offset of their own instant."""

from __future__ import annotations

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.attendance_service import apply_editions, edition, process, receipt, view
from tests.support.rows import query


async def test_a_receipt_at_0859_local_belongs_to_the_previous_business_date(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    await process(
        redis,
        settings,
        "2026-05-20 12:00",
        receipt("early", "approved", 100, "2026-05-12T08:59:59+02:00"),
        # The same instant sent in UTC: the offset of the event does not matter.
        receipt("early-utc", "approved", 30, "2026-05-12T06:59:00Z"),
        receipt("on-time", "approved", 40, "2026-05-12T09:00:00+02:00"),
    )
    current = (await view(redis, settings, "2026-05-20 12:00"))["edition"]["membership"]["stages"][
        "current"
    ]
    assert [(a["date"], a["complete"], a["value"]) for a in current["attendances"]] == [
        ("2026-05-11", True, 100.0),
        ("2026-05-12", False, 40.0),
    ]
    days = await query(settings, "SELECT day, approved FROM attendance_days ORDER BY day")
    assert [(str(d.day), d.approved) for d in days] == [("2026-05-11", 130), ("2026-05-12", 40)]


async def test_a_receipt_after_midnight_but_before_0900_on_the_first_counts_for_the_previous_stage(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    await process(
        redis, settings, "2026-05-05 12:00", receipt("night", "approved", 100, "2026-05-01 08:30")
    )
    stages = (await view(redis, settings, "2026-05-05 12:00"))["edition"]["membership"]["stages"]
    # April is unfinished and in its extra period: it is `current`, May comes next.
    april, may = stages["current"], stages["future"][0]
    assert (april["name"], [a["date"] for a in april["attendances"]]) == ("2026-04", ["2026-04-30"])
    assert (april["pending"], april["extended_period"]) == (True, True)
    assert (may["name"], may["attendances"]) == ("2026-05", [])


async def test_stage_timestamps_carry_the_oslo_offset_across_both_dst_changes(
    redis: Redis, settings: Settings
) -> None:
    # March to November 2026: summer time starts on March 29 and ends on October 25.
    await apply_editions(settings, edition(start_date="2026-03", end_date="2026-11"))
    await process(
        redis, settings, "2026-03-20 12:00", receipt("r", "approved", 100, "2026-03-20 10:00")
    )
    body = (await view(redis, settings, "2026-03-20 12:00"))["edition"]
    assert (body["starts_at"], body["ends_at"]) == (
        "2026-03-01T09:00:00.000000+01:00",
        "2026-12-01T08:59:59.999999+01:00",
    )
    stages = body["membership"]["stages"]
    shown = {s["name"]: s for s in [stages["current"], *stages["future"]]}
    assert [(shown[n]["starts_at"], shown[n]["ends_at"]) for n in ("2026-03", "2026-10")] == [
        ("2026-03-01T09:00:00.000000+01:00", "2026-04-01T08:59:59.999999+02:00"),
        ("2026-10-01T09:00:00.000000+02:00", "2026-11-01T08:59:59.999999+01:00"),
    ]
    assert shown["2026-09"]["extra_period_ends_at"] == "2026-10-11T08:59:59.999999+02:00"
    assert shown["2026-10"]["extra_period_ends_at"] == "2026-11-11T08:59:59.999999+01:00"
    assert shown["2026-03"]["extra_period_ends_at"] == "2026-04-11T08:59:59.999999+02:00"
