"""The attendance contribution ledger over real HTTP: which of a member's receipts counted
for which business date, which did not and why, from the stored ledger lines."""

from __future__ import annotations

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.attendance_service import apply_editions, at_instant, edition, receipt
from tests.support.http import http_get
from tests.support.streams import drained, publish
from tests.support.tokens import member_token
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

LEDGER = "/v1/members/{member}/attendance_challenge/contributions"


async def test_the_ledger_says_which_receipts_counted_for_which_date_and_why_not(
    redis: Redis, settings: Settings
) -> None:
    await apply_editions(
        settings, edition(), edition(code="win-in-2025", start_date="2025-02", end_date="2025-08")
    )
    async with running_worker(at_instant(settings, "2026-05-22 12:00"), serve_http=True) as w:
        await publish(
            redis,
            settings,
            "receipts",
            receipt("r", "pending", 40, "2026-05-11 12:00", event_id="r-pending"),
            receipt("r", "approved", 40, "2026-05-11 12:00", event_id="r-approved"),
            # Before the day boundary (09:00 Oslo): it counts for the day before.
            receipt("early", "approved", "25.5", "2026-05-13 08:00", event_id="early"),
            receipt("old", "approved", 100, "2026-04-11 12:00", event_id="old"),
            receipt("x", "approved", 100, "2026-05-12 12:00", member="someone-else"),
        )
        await wait_until(lambda: drained(redis, settings), what="receipts applied")
        status, ledger = await http_get(w, LEDGER.format(member="m-1"), token=member_token("m-1"))
        _, mine = await http_get(w, LEDGER.format(member="me"), token=member_token("m-1"))
        other = await http_get(w, LEDGER.format(member="someone-else"), token=member_token("m-1"))
        _, by_name = await http_get(w, LEDGER.format(member="m-1") + "?EDITION=win-in-2026")
        _, past = await http_get(w, LEDGER.format(member="m-1") + "?edition=win-in-2025")
        unknown = await http_get(w, LEDGER.format(member="m-1") + "?edition=nope")
        _, newcomer = await http_get(w, LEDGER.format(member="newcomer"))
    assert status == 200, ledger
    assert (ledger["edition_code"], ledger["member_id"], ledger["count"]) == (
        "win-in-2026",
        "m-1",
        4,
    )
    lines = {line["event_id"]: line for line in ledger["data"]}
    assert [line["event_id"] for line in ledger["data"]] == [
        "old",
        "r-pending",
        "r-approved",
        "early",
    ]
    approved = lines["r-approved"]
    assert {k: approved[k] for k in ("receipt_id", "status", "date", "stage", "counts")} == {
        "receipt_id": "r",
        "status": "approved",
        "date": "2026-05-11",
        "stage": "2026-05",
        "counts": True,
    }
    assert (approved["approved_delta"], approved["pending_delta"]) == (40, -40)
    assert (
        approved["reason"] == "approved 40 counts for 2026-05-11; removes the pending 40 it counted"
    )
    assert approved["occurred_at"].startswith("2026-05-11T10:00:00")  # 12:00 Oslo, in UTC
    assert (lines["early"]["date"], lines["early"]["approved_delta"]) == ("2026-05-12", 25.5)
    late = lines["old"]
    assert (late["counts"], late["date"], late["approved_delta"]) == (False, "2026-04-11", 0)
    assert "after the extra period of stage 2026-04" in late["reason"]
    assert mine == ledger
    assert other[0] == 403  # a member reads their own ledger only
    assert by_name == ledger
    assert (past["edition_code"], past["count"]) == ("win-in-2025", 0)
    assert unknown[0] == 404
    assert unknown[1]["extra"]["reason"] == "unknown_edition"
    assert (newcomer["count"], newcomer["data"]) == (0, [])
