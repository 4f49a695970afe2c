"""Through the real stream, worker, outbox and relay: the receipts of 04-13, 04-15 and
04-23 arriving in one batch publish what they publish one batch each, in the order of
their facts (each `attendance_completed` with the count right after it, the
`stage_completed` after the receipt that completed the stage)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.attendance_service import (
    apply_editions,
    at_instant,
    complete_days,
    edition,
    process,
)
from tests.support.rows import outbox_idle, query
from tests.support.streams import drained, publish, read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

NOW = "2026-04-28 12:00"


async def publish_then_process(redis: Redis, settings: Settings, *bodies: dict[str, Any]) -> None:
    """Publish first, then start the worker: its first read takes every entry at once."""
    await publish(redis, settings, "receipts", *bodies)
    async with running_worker(at_instant(settings, NOW)):
        await wait_until(lambda: drained(redis, settings), what="receipts applied")
        await wait_until(lambda: outbox_idle(settings), what="outbox published")


def published_by(notes: list[dict[str, Any]], member: str) -> list[tuple[str, dict[str, Any]]]:
    """A member's notifications in published order, receipt ids without the member and
    reward ids (derived from the member) left out."""
    found = []
    for note in notes:
        if note["member_id"] == member:
            properties = dict(note["properties"])
            properties.pop("reward_id", None)
            if "receipt_id" in properties:
                properties["receipt_id"] = properties["receipt_id"].removeprefix(f"{member}-")
            found.append((note["type"], properties))
    return found


async def test_one_batch_publishes_what_one_batch_per_receipt_does_in_fact_order(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    await process(
        redis,
        settings,
        NOW,
        *complete_days("2026-04", (11,), member="together"),
        *complete_days("2026-04", (11,), member="alone"),
    )
    later = (13, 15, 23)
    await publish_then_process(redis, settings, *complete_days("2026-04", later, "together"))
    for day in later:
        await process(redis, settings, NOW, *complete_days("2026-04", (day,), "alone"))

    batches = await query(
        settings,
        "SELECT count(DISTINCT processed_at) AS n FROM processed_events "
        "WHERE member_id = 'together' AND event_id NOT LIKE '%-11:%'",
    )
    assert batches[0].n == 1  # the three receipts really were one batch

    notes = await read_stream(redis, settings, "notifications")
    together = published_by(notes, "together")
    assert together == published_by(notes, "alone")
    assert [kind for kind, _ in together] == [
        *["receipt_approved", "attendance_completed"] * 4,
        "stage_completed",
        "reward_issued",
    ]
    completed = [p for kind, p in together if kind == "attendance_completed"]
    assert [(p["date"], p["attendances_completed"], p["attendances_left"]) for p in completed] == [
        ("2026-04-11", 1, 3),
        ("2026-04-13", 2, 2),
        ("2026-04-15", 3, 1),
        ("2026-04-23", 4, 0),
    ]
    approved = [p["receipt_id"] for kind, p in together if kind == "receipt_approved"]
    assert approved == [f"2026-04-{day}" for day in (11, 13, 15, 23)]
