"""Time-driven facts: every replica runs the time rules periodically; the rules make each
fact happen once (row locks with SKIP LOCKED, facts recorded in state, deterministic ids)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.clock import Clock
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.worker.relay import OutboxRelay
from loyalty_progress.worker.retry import is_transient
from loyalty_progress.worker.rule_protocols import TimeRule

log = logging.getLogger(__name__)


async def tick_once(
    engine: AsyncEngine,
    definitions: DefinitionsCache,
    rules: Sequence[TimeRule],
    now: datetime,
) -> list[int]:
    """Run every time rule once as of `now`; returns the outbox ids written."""
    await definitions.refresh()
    written: list[int] = []
    for rule in rules:
        written += await rule.tick(engine, definitions.current, now)
    return written


async def run_scheduler(
    engine: AsyncEngine,
    definitions: DefinitionsCache,
    rules: Sequence[TimeRule],
    clock: Clock,
    relay: OutboxRelay,
    stopping: asyncio.Event,
    interval: float,
    metrics: Metrics | None = None,
) -> None:
    runs = (metrics or Metrics()).scheduler_runs
    while not stopping.is_set():
        try:
            ids = await tick_once(engine, definitions, rules, clock.now())
            if ids:
                log.info("scheduler produced %d messages", len(ids))
                await relay.publish(ids)
            runs.labels("ok").inc()
        except Exception as exc:
            runs.labels("failed").inc()
            if not is_transient(exc):
                log.exception("scheduler run failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
