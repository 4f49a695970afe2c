"""Challenge expiry raced by several replicas at once: each `challenge_expired` fact is
written exactly once (SKIP LOCKED chunks, `expired_at` recorded with the outbox rows)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.store.database import create_engine
from loyalty_progress.worker.challenges import ChallengeExpiryRule
from tests.support.challenge_service import (
    END,
    apply,
    at,
    challenge,
    earned,
    group,
    settle,
    trigger,
)
from tests.support.rows import query
from tests.support.streams import publish
from tests.support.worker import worker_at

pytestmark = pytest.mark.timeout(60)

MEMBERS = 300


async def _replica_tick(settings: Settings) -> list[int]:
    """One replica's scheduler run at the end of the challenge, in small chunks."""
    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        definitions = DefinitionsCache(engine)
        await definitions.refresh()
        rule = ChallengeExpiryRule(chunk=20)
        return await rule.tick(engine, definitions.current, END)
    finally:
        await engine.dispose()


async def test_four_replicas_expiring_at_once_write_each_challenge_expired_once(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, challenge("expiring", group(trigger(1, "earned_points", 1000))))
    started = [earned(f"m{i:03}", 10 + i, at(10)) for i in range(MEMBERS)]
    finished = earned("winner", 1000, at(10))
    async with worker_at(settings, at(20)):
        await publish(redis, settings, "points", *started, finished)
        await settle(redis, settings)
    written = await asyncio.gather(*(_replica_tick(settings) for _ in range(4)))
    again = await _replica_tick(settings)

    ids = [i for replica in written for i in replica]
    assert len(ids) == len(set(ids)) == MEMBERS
    assert sum(1 for replica in written if replica) >= 2, "no race: one replica did all"
    assert again == []
    rows = await query(
        settings,
        "SELECT payload FROM outbox WHERE convert_from(payload, 'UTF8')::jsonb->>'type' = "
        "'challenge_expired'",
    )
    assert len(rows) == MEMBERS
    [(expired, unexpired)] = await query(
        settings,
        "SELECT count(*) FILTER (WHERE expired_at IS NOT NULL), "
        "count(*) FILTER (WHERE expired_at IS NULL) FROM challenge_progress",
    )
    assert (expired, unexpired) == (MEMBERS, 1)  # the completed one never expires
