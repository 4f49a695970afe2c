"""The batch pipeline: decode, commit in one transaction, ack after commit, publish.

Outages (PostgreSQL or Redis away) are waited out with backoff while the entries stay
pending. Any other failure is isolated by splitting the batch: the good halves commit,
a single failing entry stays pending with its error recorded, and the claimer
dead-letters it once it has failed `LOYALTY_MAX_DELIVERIES` times.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import (
    DATA_FIELD,
    BadInput,
    InputEvent,
    InputStream,
    StreamEntry,
    decode_entry,
)
from loyalty_progress.contract.outputs import DeadLetter
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.observability.health import Health
from loyalty_progress.observability.metrics import Metrics, reason_class
from loyalty_progress.store.outbox import OutboxRow, add_messages
from loyalty_progress.worker.batch import BatchResult, GoodEntry, commit_batch
from loyalty_progress.worker.deadletter import FailureLog, dead_letter
from loyalty_progress.worker.relay import OutboxRelay
from loyalty_progress.worker.retry import retry_transient
from loyalty_progress.worker.rule_protocols import BatchRule

log = logging.getLogger(__name__)

# Outbox publishes under way at once (each holds a PostgreSQL connection for its marking).
PUBLISHES_IN_FLIGHT = 4


@dataclass(slots=True)
class PipelineStats:
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    isolated_failures: int = 0


def _raw_body(fields: Mapping[bytes, bytes]) -> bytes:
    body = fields.get(DATA_FIELD)
    if body is not None:
        return body
    return b"{" + b",".join(b'"%s":"%s"' % (k, v) for k, v in fields.items()) + b"}"


def _decode(stream: InputStream, fields: Mapping[bytes, bytes]) -> InputEvent | BadInput:
    """Whatever the decoder raises is a fault of this one entry's body (e.g. invalid UTF-8
    inside a JSON string raises UnicodeDecodeError), never a reason to fail the batch."""
    try:
        return decode_entry(stream, fields)
    except Exception as exc:
        return BadInput(f"body cannot be decoded: {type(exc).__name__}: {exc}")


class Pipeline:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis,
        settings: Settings,
        clock: Clock,
        relay: OutboxRelay,
        health: Health,
        stopping: asyncio.Event,
        definitions: DefinitionsCache | None = None,
        rules: Sequence[BatchRule] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self._definitions = definitions
        self._rules = list(rules)
        self._engine = engine
        self._redis = redis
        self._settings = settings
        self._clock = clock
        self._relay = relay
        self._health = health
        self._stopping = stopping
        self.failures = FailureLog(redis, settings.stream("failures"))
        self._publishing: set[asyncio.Task[None]] = set()
        self._publish_slots = asyncio.Semaphore(PUBLISHES_IN_FLIGHT)
        self.stats = PipelineStats()

    def _db_down(self, exc: BaseException) -> None:
        self._health.database = False
        self._health.last_error = f"{type(exc).__name__}: {exc}"

    def _db_up(self) -> None:
        self._health.database = True

    def _redis_down(self, exc: BaseException) -> None:
        self._health.redis = False
        self._health.last_error = f"{type(exc).__name__}: {exc}"

    def _redis_up(self) -> None:
        self._health.redis = True

    async def handle(
        self,
        stream: InputStream,
        entries: Sequence[StreamEntry],
        deliveries: Mapping[str, int] | None = None,
        on_locked: Callable[[], None] | None = None,
    ) -> None:
        """Apply a batch of stream entries; acks every entry whose effects are committed.
        `on_locked`: see `commit_batch`."""
        if entries:
            await self._apply(stream, entries, deliveries or {}, on_locked)

    async def _apply(
        self,
        stream: InputStream,
        entries: Sequence[StreamEntry],
        deliveries: Mapping[str, int],
        on_locked: Callable[[], None] | None = None,
    ) -> None:
        stream_name = self._settings.stream(stream.value)
        now = self._clock.now()
        good: list[GoodEntry] = []
        dead: list[DeadLetter] = []
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            decoded = _decode(stream, fields)
            if isinstance(decoded, BadInput):
                body = _raw_body(fields)
                count = deliveries.get(entry_id, 1)
                letter = dead_letter(stream_name, entry_id, body, decoded.reason, count, now)
                dead.append(letter)
                log.warning(
                    "dead-letter",
                    extra={"stream": stream_name, "entry_id": entry_id, "reason": letter.reason},
                )
            else:
                good.append(GoodEntry(entry_id, decoded, fields[DATA_FIELD]))

        started = time.perf_counter()
        try:
            result = await retry_transient(
                lambda: commit_batch(
                    self._engine,
                    stream,
                    good,
                    dead,
                    now,
                    self._definitions.current if self._definitions else None,
                    self._rules,
                    on_locked,
                    lambda entry, reason: dead_letter(
                        stream_name,
                        entry.entry_id,
                        entry.body,
                        reason,
                        deliveries.get(entry.entry_id, 1),
                        now,
                    ),
                ),
                self._stopping,
                self._db_down,
                self._db_up,
                f"batch of {len(entries)} from {stream_name}",
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if len(entries) == 1:
                await self._isolate_failure(stream_name, entries[0][0].decode(), exc)
                return
            # Split to find the entry that fails; the others must not wait for it.
            middle = len(entries) // 2
            await self._apply(stream, entries[:middle], deliveries, on_locked)
            await self._apply(stream, entries[middle:], deliveries, on_locked)
            return
        await self._ack(stream_name, [raw_id for raw_id, _ in entries])
        self._count(result, time.perf_counter() - started, stream_name, len(entries), dead)
        self._publish_later(result.outbox_rows)

    async def _isolate_failure(self, stream_name: str, entry_id: str, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        self.stats.isolated_failures += 1
        self.metrics.isolated_failures.labels(stream_name).inc()
        log.error(
            "entry %s %s failed, left pending for redelivery: %s", stream_name, entry_id, reason
        )
        await retry_transient(
            lambda: self.failures.record(stream_name, entry_id, reason),
            self._stopping,
            self._redis_down,
            self._redis_up,
            "recording a failure",
        )

    async def _ack(self, stream_name: str, ids: list[bytes]) -> None:
        group = self._settings.consumer_group
        await retry_transient(
            lambda: self._redis.xack(stream_name, group, *ids),
            self._stopping,
            self._redis_down,
            self._redis_up,
            f"XACK {stream_name}",
        )

    def _publish_later(self, rows: list[OutboxRow]) -> None:
        """Publish the batch's rows without holding up its stream: the next batch may start
        while they travel (they are committed; the sweep covers a crash meanwhile)."""
        if not rows:
            return
        task = asyncio.create_task(self._publish_rows(rows), name="outbox-publish")
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def drain_publishing(self) -> None:
        """Wait for the publishes under way (on shutdown)."""
        while self._publishing:
            await asyncio.gather(*self._publishing, return_exceptions=True)

    async def _publish_rows(self, rows: list[OutboxRow]) -> None:
        async with self._publish_slots:
            try:
                await self._relay.publish_rows(rows)
            except Exception as exc:
                # The rows are committed: the sweep publishes them once Redis is back.
                log.warning("outbox publish deferred to the sweep: %s", exc)

    async def _publish(self, outbox_ids: list[int]) -> None:
        try:
            await self._relay.publish(outbox_ids)
        except Exception as exc:
            # The rows are committed: the sweep publishes them once Redis is back.
            log.warning("outbox publish deferred to the sweep: %s", exc)

    def _count(
        self,
        result: BatchResult,
        seconds: float,
        stream_name: str,
        size: int,
        dead: Sequence[DeadLetter],
    ) -> None:
        self.stats.batches += 1
        self.stats.applied += result.applied
        self.stats.duplicates += result.duplicates
        self.stats.dead_lettered += result.dead_lettered
        m = self.metrics
        for kind, count in result.applied_types.items():
            m.events_applied.labels(stream_name, kind).inc(count)
        if result.duplicates:
            m.duplicates.labels(stream_name).inc(result.duplicates)
        for letter in (*dead, *result.refused):
            m.dead_lettered.labels(stream_name, reason_class(letter.reason)).inc()
        m.batch_size.labels(stream_name).observe(size)
        m.batch_duration.labels(stream_name).observe(seconds)
        log.info(
            "batch applied",
            extra={
                "stream": stream_name,
                "size": size,
                "applied": result.applied,
                "duplicates": result.duplicates,
                "dead_lettered": result.dead_lettered,
                "outbox": len(result.outbox_rows),
                "seconds": round(seconds, 4),
            },
        )

    async def dead_letter_exhausted(
        self, stream: InputStream, entries: Sequence[StreamEntry], deliveries: Mapping[str, int]
    ) -> None:
        """Entries that failed too often: dead-letter them with their last known error."""
        stream_name = self._settings.stream(stream.value)
        ids = [raw_id.decode() for raw_id, _ in entries]
        reasons = await self.failures.reasons(stream_name, ids)
        now = self._clock.now()
        letters = []
        for (_raw_id, fields), entry_id in zip(entries, ids, strict=True):
            count = deliveries.get(entry_id, self._settings.max_deliveries + 1)
            cause = reasons.get(entry_id, "not acknowledged (the consumer died or timed out)")
            reason = f"failed {count - 1} deliveries; last error: {cause}"
            letter = dead_letter(stream_name, entry_id, _raw_body(fields), reason, count, now)
            letters.append(letter)
            log.warning(
                "dead-letter",
                extra={"stream": stream_name, "entry_id": entry_id, "reason": letter.reason},
            )

        async def commit() -> list[int]:
            async with self._engine.begin() as conn:
                return await add_messages(conn, letters)

        outbox_ids = await retry_transient(
            commit, self._stopping, self._db_down, self._db_up, "dead-lettering"
        )
        await self._ack(stream_name, [raw_id for raw_id, _ in entries])
        self.stats.dead_lettered += len(letters)
        for letter in letters:
            self.metrics.dead_lettered.labels(stream_name, reason_class(letter.reason)).inc()
        await self.failures.forget(stream_name, ids)
        await self._publish(outbox_ids)
