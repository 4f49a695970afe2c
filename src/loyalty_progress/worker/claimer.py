"""Re-delivery: nothing in Redis re-delivers a pending entry by itself. Every replica
claims entries idle for longer than `LOYALTY_CLAIM_IDLE_MS` (a dead replica's batch, a
batch that failed) and runs them through the pipeline again, or dead-letters them once
they have been delivered more than `LOYALTY_MAX_DELIVERIES` times."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream, StreamEntry
from loyalty_progress.observability.health import Health
from loyalty_progress.worker.groups import is_no_group
from loyalty_progress.worker.pipeline import Pipeline
from loyalty_progress.worker.retry import ShuttingDown, is_transient

log = logging.getLogger(__name__)


def _never(_stream: InputStream) -> bool:
    return False


class Claimer:
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        pipeline: Pipeline,
        health: Health,
        recovering: Callable[[InputStream], bool] = _never,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._pipeline = pipeline
        self._health = health
        # A stream whose group was lost has nothing to claim until it is read again (see
        # `worker.supervisor`, which brings it back).
        self._recovering = recovering

    @property
    def interval(self) -> float:
        return max(0.2, self._settings.claim_idle_ms / 2000)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            # During an outage every pending entry looks idle; claiming would only
            # raise delivery counts until good entries got dead-lettered.
            for stream in InputStream if self._health.database else ():
                if stopping.is_set():
                    return
                if self._recovering(stream):
                    continue
                try:
                    await self.claim_stream(stream)
                except ShuttingDown:
                    return
                except Exception as exc:
                    # One stream's failure never keeps the streams after it from being claimed.
                    self._report(stream, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)

    def _report(self, stream: InputStream, exc: Exception) -> None:
        name = self._settings.stream(stream.value)
        if is_no_group(exc):
            log.warning("claimer: no consumer group on %s (being recreated): %s", name, exc)
        elif is_transient(exc):
            log.warning("claimer waiting for dependencies on %s: %s", name, exc)
        else:
            log.exception("claiming %s failed", name)

    async def claim_stream(self, stream: InputStream) -> int:
        name = self._settings.stream(stream.value)
        start: Any = "0-0"
        claimed = 0
        while True:
            response = await self._redis.xautoclaim(
                name,
                self._settings.consumer_group,
                self._settings.consumer_name,
                min_idle_time=self._settings.claim_idle_ms,
                start_id=start,
                count=self._settings.batch_size,
            )
            next_id, raw_entries = response[0], response[1]
            # Entries trimmed from the stream while pending come back empty: nothing is
            # left to apply, so they are acknowledged (and said so).
            deleted = [e[0] for e in raw_entries if e is None or e[1] is None]
            deleted += list(response[2]) if len(response) > 2 else []
            if deleted:
                log.error("acknowledging %d pending entries trimmed from %s", len(deleted), name)
                await self._redis.xack(name, self._settings.consumer_group, *deleted)
            entries: list[StreamEntry] = [
                e for e in raw_entries if e is not None and e[1] is not None
            ]
            if entries:
                claimed += len(entries)
                self._pipeline.metrics.claimed.labels(name).inc(len(entries))
                await self._redeliver(stream, name, entries)
            if next_id in (b"0-0", "0-0"):
                return claimed
            start = next_id

    async def _redeliver(
        self, stream: InputStream, name: str, entries: Sequence[StreamEntry]
    ) -> None:
        counts = await self._delivery_counts(name, entries)
        limit = self._settings.max_deliveries
        exhausted = [e for e in entries if counts.get(e[0].decode(), 1) > limit]
        retry = [e for e in entries if counts.get(e[0].decode(), 1) <= limit]
        log.info("claimed %d entries of %s (%d exhausted)", len(entries), name, len(exhausted))
        if exhausted:
            await self._pipeline.dead_letter_exhausted(stream, exhausted, counts)
        if retry:
            await self._pipeline.handle(stream, retry, counts)

    async def _delivery_counts(self, name: str, entries: Sequence[StreamEntry]) -> dict[str, int]:
        ids = sorted((e[0] for e in entries), key=_entry_order)
        pending = await self._redis.xpending_range(
            name,
            self._settings.consumer_group,
            min=ids[0],
            max=ids[-1],
            count=len(ids) * 2 + 10,
            consumername=self._settings.consumer_name,
        )
        counts: dict[str, int] = {}
        for entry in pending:
            raw_id = entry["message_id"]
            key = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            counts[key] = int(entry["times_delivered"])
        return counts


def _entry_order(entry_id: bytes) -> tuple[int, int]:
    millis, _, seq = entry_id.decode().partition("-")
    return int(millis), int(seq or 0)
