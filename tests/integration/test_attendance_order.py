"""Arrival order does not matter through the real stream and worker: the same receipt
events, in order in one club and shuffled with duplicates in another, leave the same
day rows and the same response."""

from __future__ import annotations

import random
from typing import Any

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.attendance_service import apply_editions, edition, process, receipt
from tests.support.rows import query

LIFECYCLES: list[tuple[str, tuple[str, ...], str, str]] = [
    ("r1", ("pending", "approved"), "60", "2026-04-20 12:00"),
    ("r2", ("approved", "refunded"), "70", "2026-04-20 15:00"),
    ("r3", ("pending", "rejected"), "80", "2026-04-21 10:00"),
    ("r4", ("approved",), "45.50", "2026-04-20 18:00"),
    ("r5", ("pending",), "30", "2026-05-02 12:00"),
    ("r6", ("approved", "refunded"), "100", "2026-05-03 08:59"),
    ("r7", ("pending", "approved"), "100", "2026-05-03 09:00"),
]


def events(club: str) -> list[dict[str, Any]]:
    return [
        receipt(rid, status, amount, when, club=club, event_id=f"{club}:{rid}:{status}")
        for rid, statuses, amount, when in LIFECYCLES
        for status in statuses
    ]


async def day_rows(settings: Settings, club: str) -> list[tuple[Any, ...]]:
    rows = await query(
        settings,
        "SELECT member_id, day, receipts, approved, pending FROM attendance_days "
        "WHERE club = :c ORDER BY day",
        c=club,
    )
    # Event ids differ by their club prefix only.
    for row in rows:
        for contribution in row.receipts:
            contribution["event_id"] = contribution["event_id"].removeprefix(f"{club}:")
    return [tuple(r) for r in rows]


async def test_receipts_in_any_order_with_duplicates_give_the_same_days_and_response(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition(club="in-order"), edition(club="shuffled"))
    shuffled = events("shuffled") * 2
    random.Random(4).shuffle(shuffled)
    answers = await process(
        redis,
        settings,
        "2026-05-08 12:00",
        *events("in-order"),
        *shuffled,
        get=[("m-1", "in-order"), ("m-1", "shuffled")],
    )
    (status_a, ordered), (status_b, scrambled) = answers
    assert status_a == status_b == 200
    assert ordered == scrambled
    assert await day_rows(settings, "in-order") == await day_rows(settings, "shuffled")
    april_20 = (await day_rows(settings, "in-order"))[0]
    assert (str(april_20[1]), april_20[3], april_20[4]) == ("2026-04-20", 105.5, 0)
