"""Outbox relay: publishes committed outbox rows to the output streams.

Right after a batch commits, its rows are published by the replica that wrote them; a
periodic sweep publishes whatever a crash or an outage left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.store.outbox import OutboxRow, claim_backlog, claim_rows, mark_published
from loyalty_progress.worker.retry import is_transient

log = logging.getLogger(__name__)

SWEEP_LIMIT = 1000
XADD_CHUNK = 500

# KEYS: the output stream of each message; ARGV[1]: MAXLEN; ARGV[i + 1]: payload of KEYS[i].
_XADD_MANY = """
for i, key in ipairs(KEYS) do
    redis.call('XADD', key, 'MAXLEN', '~', ARGV[1], '*', 'data', ARGV[i + 1])
end
return #KEYS
"""


class OutboxRelay:
    def __init__(
        self, engine: AsyncEngine, redis: Redis, settings: Settings, metrics: Metrics | None = None
    ) -> None:
        self.metrics = metrics or Metrics()
        self._engine = engine
        self._redis = redis
        self._settings = settings
        self._xadd_many = redis.register_script(_XADD_MANY)

    async def _xadd(self, rows: Sequence[OutboxRow]) -> None:
        if not rows:
            return
        # One script call per chunk instead of one command per row: the per-command cost
        # of the client dominated publishing.
        for start in range(0, len(rows), XADD_CHUNK):
            chunk = rows[start : start + XADD_CHUNK]
            await self._xadd_many(
                keys=[self._settings.stream(row.stream) for row in chunk],
                args=[self._settings.output_maxlen, *(row.payload for row in chunk)],
            )
        now = datetime.now(UTC)
        for stream, count in Counter(row.stream for row in rows).items():
            self.metrics.outbox_published.labels(stream).inc(count)
        for row in rows:
            self.metrics.publish_latency.observe(max(0.0, (now - row.created_at).total_seconds()))

    async def publish_rows(self, rows: Sequence[OutboxRow]) -> int:
        """`publish` for rows this process has just written (payloads already in hand)."""
        if not rows:
            return 0
        async with self._engine.begin() as conn:
            mine = await mark_published(conn, [row.id for row in rows])
            claimed = [row for row in rows if row.id in mine]
            await self._xadd(claimed)
        return len(claimed)

    async def publish(self, ids: Sequence[int]) -> int:
        """Publish the given rows unless another replica's sweep already holds them."""
        if not ids:
            return 0
        # Marking and XADD in one transaction: if XADD fails the mark rolls back.
        async with self._engine.begin() as conn:
            rows = await claim_rows(conn, ids)
            await self._xadd(rows)
        return len(rows)

    async def sweep_once(self) -> int:
        published = 0
        while True:
            async with self._engine.begin() as conn:
                rows = await claim_backlog(conn, SWEEP_LIMIT)
                await self._xadd(rows)
            published += len(rows)
            if len(rows) < SWEEP_LIMIT:
                return published

    async def run_sweeper(self, stopping: asyncio.Event) -> None:
        interval = self._settings.outbox_sweep_ms / 1000
        while not stopping.is_set():
            try:
                swept = await self.sweep_once()
                if swept:
                    log.info("outbox sweep published %d rows", swept)
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("outbox sweep failed")
                else:
                    log.warning("outbox sweep waiting for dependencies: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval)
