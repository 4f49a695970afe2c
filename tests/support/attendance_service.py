"""The attendance challenge on a running service (integration tests): the seed 000 edition
applied through the definitions store, receipts published to the real stream and
processed by a real worker whose clock (`LOYALTY_NOW`) is set to a chosen instant, the
scheduler run as `tick`, and the rows and outbox messages read back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.definitions.loader import parse_definition
from loyalty_progress.store.database import create_engine
from loyalty_progress.store.definitions import apply_definitions
from loyalty_progress.worker.registry import time_rules
from loyalty_progress.worker.scheduler import tick_once
from tests.support.attendance_seed import RAW_EDITION, at
from tests.support.http import http_get
from tests.support.rows import outbox, outbox_idle, query
from tests.support.streams import drained, publish
from tests.support.waiting import wait_until
from tests.support.worker import at_now, running_worker

CLUB = "infinity-mall"
ENDPOINT = "/v1/members/{member}/attendance_challenge"
_ids = itertools.count()


def oslo(when: str) -> datetime:
    """`2026-05-11 12:00` (Oslo local time) or an ISO instant with an offset."""
    return at(when)


def edition(**changes: Any) -> dict[str, Any]:
    """Seed 000's edition (Europe/Oslo, day boundary 09:00, Feb-Aug 2026) with changes."""
    raw = {**RAW_EDITION, **changes}
    parse_definition(raw, "test")  # fail early on a bad test edition
    return raw


async def apply_editions(settings: Settings, *raws: dict[str, Any]) -> None:
    """Store editions exactly as `loyalty-progress definitions apply` does."""
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await apply_definitions(
                conn, [("attendance_edition", r["club"], r["code"], r, "test.yaml") for r in raws]
            )
    finally:
        await engine.dispose()


def receipt(
    receipt_id: str,
    status: str,
    amount: str | int,
    occurred_at: str,
    member: str = "m-1",
    club: str = CLUB,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id or f"{receipt_id}:{status}:{next(_ids)}",
        "club": club,
        "member_id": member,
        "occurred_at": oslo(occurred_at).isoformat(),
        "receipt_id": receipt_id,
        "status": status,
        "amount": str(amount),
    }


def complete_days(
    stage: str, days: Sequence[int], member: str = "m-1", club: str = CLUB
) -> list[dict[str, Any]]:
    """One approved receipt of 100 at noon on each of these days of the month."""
    return [
        receipt(f"{member}-{stage}-{d}", "approved", 100, f"{stage}-{d:02d} 12:00", member, club)
        for d in days
    ]


def at_instant(settings: Settings, now: str) -> Settings:
    """The same settings with `LOYALTY_NOW` set (Oslo local time unless an offset)."""
    return at_now(settings, oslo(now))


async def process(
    redis: Redis,
    settings: Settings,
    now: str,
    *bodies: dict[str, Any],
    get: Sequence[tuple[str, str]] = (),
) -> list[tuple[int, Any]]:
    """Run a worker whose clock reads `now`; publish the receipts, wait until they are
    applied and the outbox is published; then GET each (member, club) over HTTP."""
    answers: list[tuple[int, Any]] = []
    async with running_worker(at_instant(settings, now), serve_http=bool(get)) as worker:
        if bodies:
            await publish(redis, settings, "receipts", *bodies)
        await wait_until(lambda: drained(redis, settings), what="receipts applied")
        await wait_until(lambda: outbox_idle(settings), what="outbox published")
        for member, club in get:
            answers.append(await http_get(worker, ENDPOINT.format(member=member), club))
    return answers


async def view(redis: Redis, settings: Settings, now: str, member: str = "m-1") -> Any:
    """The member's attendance challenge over HTTP, as of `now`."""
    ((status, body),) = await process(redis, settings, now, get=[(member, CLUB)])
    assert status == 200, body
    return body


async def tick(settings: Settings, now: str) -> list[int]:
    """`loyalty-progress tick --at now`, in process: the outbox ids it wrote."""
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        return await tick_once(engine, DefinitionsCache(engine), time_rules(), oslo(now))
    finally:
        await engine.dispose()


async def notes(settings: Settings, kind: str, member: str | None = None) -> list[dict[str, Any]]:
    return [
        n
        for n in await outbox(settings, "notifications")
        if n["type"] == kind and member in (None, n["member_id"])
    ]


async def membership_row(settings: Settings, member: str = "m-1") -> Any:
    (row,) = await query(
        settings,
        "SELECT membership, due_at, edition_hash FROM attendance_memberships WHERE member_id = :m",
        m=member,
    )
    return row
