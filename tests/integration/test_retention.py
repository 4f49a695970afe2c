"""Retention against real PostgreSQL and Redis: as simulated days pass, processed events and
published outbox rows stay bounded by their retention; a duplicate inside the dedupe window
is still dropped, and one from beyond it is applied again (the documented behaviour); the
worker's scheduler runs the prune; `replay recompute` refuses what needs pruned history.

PostgreSQL's `now()` stamps `processed_at` and the outbox's `created_at`; the test moves
each simulated day's rows to that day, as if that day's batches had committed (and been
published) then, and runs the prune as of that day (the worker's clock, `LOYALTY_NOW`)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.replay.recompute import Recompute, RecomputeError
from loyalty_progress.worker.batch import BatchResult, commit_batch
from loyalty_progress.worker.registry import time_rules
from loyalty_progress.worker.relay import OutboxRelay
from loyalty_progress.worker.retention import CHUNK, prune_once
from tests.faults.batch_inputs import good_entry
from tests.support.challenge_service import apply, group, trigger
from tests.support.event_bodies import points, receipt
from tests.support.rows import totals
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(120)

DEDUPE_DAYS = 10
OUTBOX_DAYS = 3
DAYS = 30
POINTS_PER_DAY = 12
_entries = itertools.count(1)


@pytest.fixture
def retention(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, dedupe_retention_days=DEDUPE_DAYS, outbox_retention_days=OUTBOX_DAYS
    )


async def _count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def _commit(engine: AsyncEngine, stream: str, *bodies: dict[str, Any]) -> BatchResult:
    entries = [
        good_entry(InputStream(stream), f"{next(_entries)}-0".encode(), json.dumps(b).encode())
        for b in bodies
    ]
    return await commit_batch(engine, InputStream(stream), entries, [], datetime.now(UTC))


async def _as_of(engine: AsyncEngine, day: datetime, since: datetime) -> None:
    """Stamp the rows committed (and published) since `since` as committed on `day`."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE processed_events SET processed_at = :day WHERE processed_at >= :since"),
            {"day": day, "since": since},
        )
        await conn.execute(
            text("UPDATE outbox SET created_at = :day WHERE created_at >= :since"),
            {"day": day, "since": since},
        )
        await conn.execute(  # and published then
            text(
                "DELETE FROM outbox_pending AS p USING outbox AS o "
                "WHERE o.id = p.id AND o.created_at = :day"
            ),
            {"day": day},
        )


def _day_points(day: int) -> list[dict[str, Any]]:
    return [
        points(event_id=f"p-{day}-{i}", member_id="m-ret", amount=1) for i in range(POINTS_PER_DAY)
    ]


async def test_tables_stay_bounded_as_days_pass_and_the_dedupe_window_holds(
    engine: AsyncEngine, retention: Settings, redis: Redis
) -> None:
    relay = OutboxRelay(engine, redis, retention)
    start = datetime.now(UTC) - timedelta(days=DAYS + 1)
    sizes: list[tuple[int, int]] = []
    for day in range(DAYS):
        instant = start + timedelta(days=day)
        committed_from = datetime.now(UTC)
        await _commit(engine, "points", *_day_points(day))
        approved = await _commit(
            engine,
            "receipts",
            receipt(event_id=f"r-{day}", receipt_id=f"r-{day}", member_id="m-ret"),
        )
        assert len(approved.outbox_ids) == 1  # the receipt_approved notification
        await relay.publish(approved.outbox_ids)
        await _as_of(engine, instant, committed_from)

        await prune_once(engine, retention, instant)
        sizes.append(
            (
                await _count(engine, "SELECT count(*) FROM processed_events"),
                await _count(engine, "SELECT count(*) FROM outbox"),
            )
        )
        # Exactly the rows of the last N days are left: today's and the N days before
        # (a row goes once it is more than N days old).
        kept_event_days = min(day + 1, DEDUPE_DAYS + 1)
        assert sizes[-1] == (
            kept_event_days * (POINTS_PER_DAY + 1),
            min(day + 1, OUTBOX_DAYS + 1),
        ), f"day {day}: {sizes[-1]}"

    # Bounded: after the first retention period the sizes no longer grow.
    assert max(sizes[DEDUPE_DAYS:]) == sizes[-1]
    last = start + timedelta(days=DAYS - 1)

    # Inside the window (an event of five days ago): still a duplicate, no second effect.
    before = (await totals(engine, "m-ret")).points_earned
    inside = await _commit(engine, "points", _day_points(DAYS - 5)[0])
    assert (inside.applied, inside.duplicates) == (0, 1)
    # Beyond it (day 0's events are pruned): applied again, as docs/runbook.md says.
    outside = await _commit(engine, "points", _day_points(0)[0])
    assert (outside.applied, outside.duplicates) == (1, 0)
    assert (await totals(engine, "m-ret")).points_earned == before + 1

    # The marks say how far each was pruned, for `replay recompute`.
    marks = await _count(
        engine,
        "SELECT count(*) FROM retention_marks WHERE table_name = 'processed_events' "
        "AND club = 'infinity-mall' AND stream IN ('points', 'receipts') "
        "AND pruned_through = :through",
        through=last - timedelta(days=DEDUPE_DAYS + 1),
    )
    assert marks == 2
    outbox_mark = await _count(
        engine,
        "SELECT count(*) FROM retention_marks WHERE table_name = 'outbox' "
        "AND pruned_through = :through",
        through=last - timedelta(days=OUTBOX_DAYS + 1),
    )
    assert outbox_mark == 1


async def test_a_backlog_is_pruned_in_bounded_chunks_and_unpublished_rows_stay(
    engine: AsyncEngine, retention: Settings
) -> None:
    old = datetime.now(UTC) - timedelta(days=100)
    since = datetime.now(UTC)
    bodies = [points(event_id=f"bulk-{i}", member_id=f"m-{i % 7}") for i in range(CHUNK + 500)]
    await _commit(engine, "points", *bodies)
    unpublished = await _commit(engine, "receipts", receipt(event_id="r-old", member_id="m-1"))
    await _as_of(engine, old, since)
    async with engine.begin() as conn:  # as if Redis had been away ever since
        await conn.execute(
            text("INSERT INTO outbox_pending (id) SELECT id FROM outbox ON CONFLICT DO NOTHING")
        )

    pruned = await prune_once(engine, retention, datetime.now(UTC))
    assert pruned.processed_events == CHUNK + 501  # two chunks in one run
    assert pruned.outbox == 0
    assert await _count(engine, "SELECT count(*) FROM outbox") == len(unpublished.outbox_ids)
    # A retention of 0 days keeps everything.
    await _commit(engine, "points", points(event_id="kept"))
    await _as_of(engine, old, since + timedelta(seconds=0))
    forever = dataclasses.replace(retention, dedupe_retention_days=0, outbox_retention_days=0)
    assert (await prune_once(engine, forever, datetime.now(UTC))).processed_events == 0
    assert await _count(engine, "SELECT count(*) FROM processed_events") == 1


async def test_the_worker_scheduler_prunes_as_of_its_clock(
    engine: AsyncEngine, retention: Settings
) -> None:
    assert any(rule.name == "retention" for rule in time_rules(retention))
    assert not any(rule.name == "retention" for rule in time_rules())  # `tick`, the demo
    await _commit(engine, "points", *_day_points(0))
    assert await _count(engine, "SELECT count(*) FROM processed_events") == POINTS_PER_DAY
    later = dataclasses.replace(
        retention, now=datetime.now(UTC) + timedelta(days=DEDUPE_DAYS + 1), scheduler_ms=100
    )
    async with running_worker(later):

        async def pruned() -> bool:
            return await _count(engine, "SELECT count(*) FROM processed_events") == 0

        await wait_until(pruned, timeout=20, what="the scheduler's prune")


async def test_recompute_refuses_what_needs_pruned_events_or_message_ids(
    engine: AsyncEngine, retention: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    since = now
    await _commit(engine, "points", points(event_id="old", member_id="m-1"))
    await _as_of(engine, now - timedelta(days=40), since)
    await prune_once(engine, retention, now)
    pruned_through = now - timedelta(days=40)

    def challenge(code: str, starts: datetime, **fields: Any) -> dict[str, Any]:
        return {
            "kind": "challenge",
            "code": code,
            "club": "infinity-mall",
            "name": code,
            "starts_at": starts.isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "groups": [group(trigger(1, "earned_points", 100))],
            "milestones": [{"code": "completed", "reached_when": "challenge"}],
            **fields,
        }

    await apply(
        retention,
        tmp_path,
        challenge("since-long-ago", pruned_through - timedelta(days=1)),
        challenge("since-last-week", now - timedelta(days=7)),
        challenge("opt-in-last-week", now - timedelta(days=7), enrollment="opt_in"),
    )
    recompute = Recompute(engine, retention)
    with pytest.raises(RecomputeError, match="LOYALTY_DEDUPE_RETENTION_DAYS"):
        await recompute.challenge("since-long-ago")
    report = await recompute.challenge("since-last-week")
    assert report["events_read_number"] == 0
    # Opt-ins count from whenever they happened: only pruned points, nothing to refuse.
    assert (await recompute.challenge("opt-in-last-week"))["challenge"] == "opt-in-last-week"

    # Once member events were pruned, an opt-in challenge cannot be rebuilt at all.
    await _commit(
        engine, "members", {**points(event_id="opt"), "kind": "opted_in", "challenge_code": "x"}
    )
    await _as_of(engine, now - timedelta(days=40), now)
    await prune_once(engine, retention, now)
    with pytest.raises(RecomputeError, match="members event"):
        await recompute.challenge("opt-in-last-week")
    assert (await recompute.challenge("since-last-week"))["events_read_number"] == 0


@pytest.mark.parametrize(
    ("select", "index"),
    [
        (
            "SELECT stream, event_id FROM processed_events WHERE processed_at < now() "
            "ORDER BY processed_at LIMIT 10 FOR UPDATE SKIP LOCKED",
            "processed_events_processed_at",
        ),
        (
            "SELECT o.id FROM outbox AS o WHERE o.created_at < now() "
            "AND NOT EXISTS (SELECT FROM outbox_pending AS p WHERE p.id = o.id) "
            "ORDER BY o.created_at LIMIT 10 FOR UPDATE OF o SKIP LOCKED",
            "outbox_created_at",
        ),
    ],
)
async def test_the_prune_walks_an_index_oldest_first(
    engine: AsyncEngine, select: str, index: str
) -> None:
    async with engine.begin() as conn:
        # The tables are tiny here: forbid the sequential and bitmap scans (which read every
        # row, then sort) that a planner would rather take than walk the index.
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        await conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = "\n".join(row[0] for row in await conn.execute(text(f"EXPLAIN {select}")))
    assert f"Index Scan using {index}" in plan, plan
    assert "Sort" not in plan, plan  # the index gives the order: a chunk reads only its rows
