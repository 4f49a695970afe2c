"""Where a test's entries and their effects stand: entries still pending in the consumer
group (per consumer or in all), events committed, outbox rows not yet published, and
entries whose effects are committed but which are still unacknowledged."""

from __future__ import annotations

import json

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream

INPUT_STREAMS = tuple(s.value for s in InputStream)


async def consumer_pending(redis: Redis, settings: Settings, consumer: str) -> int:
    """Entries of every input stream still pending for one consumer of the group."""
    total = 0
    for stream in INPUT_STREAMS:
        name = settings.stream(stream)
        if not await redis.exists(name):
            continue
        for info in await redis.xinfo_consumers(name, settings.consumer_group):
            if info["name"].decode() == consumer:
                total += int(info["pending"])
    return total


async def group_pending(redis: Redis, settings: Settings) -> int:
    total = 0
    for stream in INPUT_STREAMS:
        name = settings.stream(stream)
        if await redis.exists(name):
            total += int((await redis.xpending(name, settings.consumer_group))["pending"])
    return total


async def processed_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM processed_events"))).scalar_one())


async def unpublished_outbox(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT count(*) FROM outbox_pending"))
        return int(result.scalar_one())


async def committed_but_unacked(
    redis: Redis, settings: Settings, engine: AsyncEngine, consumer: str
) -> list[str]:
    """Event ids still pending for `consumer` whose effects are already committed."""
    event_ids: list[str] = []
    for stream in INPUT_STREAMS:
        name = settings.stream(stream)
        if not await redis.exists(name):
            continue
        pending = await redis.xpending_range(
            name, settings.consumer_group, "-", "+", 100_000, consumername=consumer
        )
        for entry in pending:
            entry_id = entry["message_id"]
            for _, fields in await redis.xrange(name, entry_id, entry_id) or []:
                assert fields is not None, f"entry {entry_id!r} trimmed while pending"
                event_ids.append(json.loads(fields[b"data"])["event_id"])
    if not event_ids:
        return []
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT event_id FROM processed_events WHERE event_id = ANY(:ids)"),
            {"ids": event_ids},
        )
        return sorted(row[0] for row in result)
