"""Seed 000 rebuilt end to end: receipts through the real stream and worker, the response
read over real HTTP with `LOYALTY_NOW` set, compared with the seed's example."""

from __future__ import annotations

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.attendance_seed import corrected_seed
from tests.support.attendance_service import (
    CLUB,
    apply_editions,
    complete_days,
    edition,
    notes,
    process,
    receipt,
    view,
)
from tests.support.rows import outbox, query
from tests.support.streams import read_stream

MAY_RECEIPTS = [
    receipt("may-11", "approved", 100, "2026-05-11 12:00"),
    receipt("may-12a", "approved", 15, "2026-05-12 10:00"),
    receipt("may-12b", "approved", 85, "2026-05-12 17:00"),
    receipt("may-15a", "approved", "95.21", "2026-05-15 12:00"),
    receipt("may-15b", "pending", "4.79", "2026-05-15 18:00"),
    receipt("may-21", "approved", "83.11", "2026-05-21 12:00"),
]


def attendances(stage: dict[str, object]) -> list[tuple[object, ...]]:
    rows = stage["attendances"]
    assert isinstance(rows, list)
    return [
        (a["date"], a["complete"], a["value"], a["value_missing"], a["value_pending"]) for a in rows
    ]


async def test_seed_000_example_rebuilt_through_the_stream_is_served_over_http(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    # April's receipts arrive in April, May's in May (the worker's clock is LOYALTY_NOW).
    await process(redis, settings, "2026-04-28 12:00", *complete_days("2026-04", (11, 13, 15, 23)))
    await process(redis, settings, "2026-05-22 12:00", *MAY_RECEIPTS)

    inside_may = await view(redis, settings, "2026-05-25 12:00")
    membership = inside_may["edition"]["membership"]
    current = membership["stages"]["current"]
    assert current["name"] == "2026-05"
    assert attendances(current) == [
        ("2026-05-11", True, 100.0, 0.0, 0.0),
        ("2026-05-12", True, 100.0, 0.0, 0.0),
        ("2026-05-15", False, 95.21, 4.79, 4.79),
        ("2026-05-21", False, 83.11, 16.89, 0.0),
    ]
    counts = ("attendances_completed", "attendances_pending", "attendances_left")
    assert tuple(current[k] for k in counts) == (2, 1, 2)
    (april,) = membership["stages"]["past"]
    assert (april["name"], april["completed"], april["attendances_completed"]) == (
        "2026-04",
        True,
        4,
    )
    assert [a[1] for a in attendances(april)] == [True] * 4
    assert (membership["status"], membership["entries"]) == ("active", 1)
    assert membership["first_stage_reward_granted"] is True

    # The seed's own moment: May in its extra period, 3 days left (June 8, Oslo). The
    # response equals the seed's example with the documented corrections applied.
    assert await view(redis, settings, "2026-06-08 12:00") == corrected_seed()

    # What went out on the way: April completed (once) with its first-stage reward; the
    # scheduler of the June 8 worker sent May's extra-period notice once.
    assert [n["properties"]["stage"] for n in await notes(settings, "stage_completed")] == [
        "2026-04"
    ]
    (notice,) = await notes(settings, "extra_period_ending")
    assert (notice["properties"]["days"], notice["properties"]["stage"]) == (3, "2026-05")
    assert [r["prize"] for r in await outbox(settings, "rewards")] == [
        {"type": "reward", "reward_id": 1442920}
    ]
    published = [n["type"] for n in await read_stream(redis, settings, "notifications")]
    assert published.count("extra_period_ending") == 1


async def test_every_receipt_event_leaves_a_ledger_line_saying_what_it_did(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    await process(
        redis,
        settings,
        "2026-05-22 12:00",
        receipt("r", "pending", 40, "2026-05-11 12:00"),
        receipt("r", "approved", 40, "2026-05-11 12:00"),
        receipt("old", "approved", 100, "2026-04-11 12:00"),
    )
    rows = await query(
        settings,
        "SELECT receipt_id, status, day, stage, approved_delta, pending_delta, counted, reason "
        "FROM attendance_contributions ORDER BY processed_at, receipt_id, status DESC",
    )
    lines = {(r.receipt_id, r.status): r for r in rows}
    assert set(lines) == {("r", "pending"), ("r", "approved"), ("old", "approved")}
    approved = lines[("r", "approved")]
    assert (approved.counted, approved.approved_delta, approved.pending_delta) == (True, 40, -40)
    assert approved.reason == "approved 40 counts for 2026-05-11; removes the pending 40 it counted"
    late = lines[("old", "approved")]
    assert (late.counted, late.stage, str(late.day)) == (False, "2026-04", "2026-04-11")
    assert "after the extra period of stage 2026-04" in late.reason


async def test_member_who_never_attended_gets_the_edition_with_membership_null(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    body = await view(redis, settings, "2026-05-25 12:00", member="newcomer")
    assert body["edition"]["membership"] is None
    assert body["edition"]["stages"] == corrected_seed()["edition"]["stages"]
    assert body["edition"]["title"] == "Win in 2026"


async def test_club_without_a_current_edition_gets_404_with_a_reason(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(settings, edition())
    # Another club, and the same club after the edition's last extra period (Sep 11).
    answers = await process(
        redis,
        settings,
        "2026-09-11 09:00",
        get=[("m-1", "other-mall"), ("m-1", CLUB)],
    )
    for status, body in answers:
        assert status == 404
        assert "no current attendance challenge edition" in body["detail"]
        assert body["extra"]["reason"] == "no_current_edition"
    # ... while during the edition the club is served.
    answers = await process(redis, settings, "2026-09-11 08:59", get=[("m-1", CLUB)])
    assert answers[0][0] == 200
