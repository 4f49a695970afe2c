"""Retention as a time rule: on every scheduler run, delete processed events older than
`LOYALTY_DEDUPE_RETENTION_DAYS` and published outbox rows older than
`LOYALTY_OUTBOX_RETENTION_DAYS` (as of the worker's clock), in bounded chunks.

Every replica runs it; the chunks skip rows another replica is deleting, so the work is
shared, not repeated. One run deletes at most `CHUNK * MAX_CHUNKS` rows of each table, so
it never holds up the other time rules for long; a backlog (after enabling retention on
an old database) is worked off over the following runs. See docs/runbook.md, "Retention".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.store.retention import prune_outbox, prune_processed_events

log = logging.getLogger(__name__)

CHUNK: Final = 2000
MAX_CHUNKS: Final = 25

Prune = Callable[[AsyncConnection, datetime, int], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Pruned:
    processed_events: int
    outbox: int


async def _prune_table(engine: AsyncEngine, prune: Prune, before: datetime) -> int:
    total = 0
    for _ in range(MAX_CHUNKS):
        async with engine.begin() as conn:
            deleted = await prune(conn, before, CHUNK)
        total += deleted
        if deleted < CHUNK:
            break
    return total


async def prune_once(engine: AsyncEngine, settings: Settings, now: datetime) -> Pruned:
    """One run of both prunes as of `now`; a retention of 0 days keeps that table whole."""
    events = outbox = 0
    if settings.dedupe_retention_days > 0:
        before = now - timedelta(days=settings.dedupe_retention_days)
        events = await _prune_table(engine, prune_processed_events, before)
    if settings.outbox_retention_days > 0:
        before = now - timedelta(days=settings.outbox_retention_days)
        outbox = await _prune_table(engine, prune_outbox, before)
    if events or outbox:
        log.info("retention pruned %d processed events and %d outbox rows", events, outbox)
    return Pruned(events, outbox)


class RetentionRule:
    """The `TimeRule` the worker's scheduler runs (it writes no outbox rows)."""

    name = "retention"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def tick(
        self, engine: AsyncEngine, definitions: DefinitionSet, now: datetime
    ) -> list[int]:
        await prune_once(engine, self._settings, now)
        return []
