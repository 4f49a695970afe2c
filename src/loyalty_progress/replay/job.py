"""A replay job: historical events applied through the worker's own batch transaction.

Each bulk of the source is split by input stream and every part goes through
`worker.batch.commit_batch` with the worker's rules (`batch_rules()`) and the definitions
in force (`DefinitionsCache`, refreshed before every bulk): the same dedupe on
(stream, event_id) in `processed_events`, the same receipts, totals, challenges,
attendance and outbox, in the same lock order. So a replay can run beside live workers,
and replaying a source twice applies nothing the second time.

Outbox rows a bulk writes are published right after its commit with
`OutboxRelay.publish` (as the pipeline does); when Redis is unreachable they stay
unpublished and the workers' sweep publishes them.

Failures: outages are retried with backoff (`retry_transient`); any other error splits
the failing part in halves until the event that fails alone is found, which is counted as
failed (with its reason) while the rest commits, so one bad event never stops a job. A job
that ran to its end is `finished` (its counts say what happened); one that stopped early
(interrupted, or an error outside the events) is `failed`.

Every bulk is applied as of one instant, `now` (the job's clock: `LOYALTY_NOW`, `--at`, or
the real clock), as a live batch would be at that instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.replay import DEFAULT_BULK_SIZE
from loyalty_progress.replay.report import NoProgress, ProgressSink, ProgressUpdate
from loyalty_progress.replay.source import Good, Invalid, Item, Source
from loyalty_progress.store import replay_jobs as store
from loyalty_progress.store.replay_jobs import BulkCounts
from loyalty_progress.worker.batch import GoodEntry, commit_batch
from loyalty_progress.worker.registry import batch_rules
from loyalty_progress.worker.relay import OutboxRelay
from loyalty_progress.worker.retry import ShuttingDown, retry_transient
from loyalty_progress.worker.rule_protocols import BatchRule

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class _Part:
    """What committing one stream's part of a bulk did."""

    applied: int = 0
    duplicates: int = 0
    failed: list[tuple[Good, str]] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Totals:
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    invalid: int = 0
    failed: int = 0
    errors_kept: int = 0


def _by_stream(items: Sequence[Item]) -> dict[InputStream, list[Good]]:
    """The bulk's good events per stream, streams in order of first appearance and events
    in source order (each stream's part is one batch, as a stream's consumer sees it)."""
    parts: dict[InputStream, list[Good]] = {}
    for item in items:
        if isinstance(item, Good):
            parts.setdefault(item.stream, []).append(item)
    return parts


class ReplayJob:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        redis: Redis | None = None,
        clock: Clock | None = None,
        progress: ProgressSink | None = None,
        rules: Sequence[BatchRule] | None = None,
        stopping: asyncio.Event | None = None,
        after_bulk: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        """`after_bulk(request_number)` is awaited after each bulk's report is stored."""
        self._engine = engine
        self._settings = settings
        self._clock = clock or Clock(settings.now)
        self._relay = OutboxRelay(engine, redis, settings) if redis is not None else None
        self._progress = progress or NoProgress()
        self._rules = list(rules) if rules is not None else batch_rules()
        self._stopping = stopping or asyncio.Event()
        self._after_bulk = after_bulk
        self._definitions = DefinitionsCache(engine)

    async def run(self, source: Source, bulk_size: int = DEFAULT_BULK_SIZE) -> dict[str, Any]:
        """Apply the whole source; returns the final report."""
        if bulk_size < 1:
            raise ValueError(f"bulk size must be >= 1, got {bulk_size}")
        total = source.count()
        bulks = math.ceil(total / bulk_size) if total is not None else None
        async with self._engine.begin() as conn:
            job_id = await store.create_job(
                conn, source.description, bulk_size, total or 0, bulks or 0
            )
        log.info(
            "replay job %d started", job_id, extra={"source": source.description, "total": total}
        )
        self._progress.started(job_id, source.description, total, bulks)
        try:
            status = await self._run(job_id, source, bulk_size, total, bulks)
        except BaseException:
            # Interrupted or broken: the job must not look like it is still running.
            with contextlib.suppress(Exception):
                async with self._engine.begin() as conn:
                    await store.finish_job(conn, job_id, "failed")
            raise
        async with self._engine.begin() as conn:
            await store.finish_job(conn, job_id, status)
        async with self._engine.connect() as conn:
            report = await store.read_report(conn, job_id)
        assert report is not None
        self._progress.finished(report)
        log.info("replay job %d %s", job_id, status)
        return report

    async def _run(
        self, job_id: int, source: Source, bulk_size: int, total: int | None, bulks: int | None
    ) -> store.JobStatus:
        totals = _Totals()
        started = time.perf_counter()
        number = 0
        async for items in source.bulks(bulk_size):
            if self._stopping.is_set():
                log.warning("replay job %d stopped before bulk %d", job_id, number + 1)
                return "failed"
            number += 1
            new_events = 0 if total is not None else len(items)
            bulk_id = await self._bookkeeping(
                partial(
                    store.start_bulk,
                    job_id=job_id,
                    number=number,
                    size=len(items),
                    new_events=new_events,
                )
            )
            counts, errors = await self._bulk(items, totals)
            status: store.BulkStatus = "failed" if counts.failed else "finished"
            await self._bookkeeping(
                partial(
                    store.finish_bulk,
                    job_id=job_id,
                    bulk_id=bulk_id,
                    status=status,
                    counts=counts,
                    errors=errors,
                )
            )
            totals.events += len(items)
            self._progress.bulk_finished(
                ProgressUpdate(
                    job_id=job_id,
                    bulk=number,
                    bulk_status=status,
                    bulks=bulks,
                    events=totals.events,
                    total=total,
                    applied=totals.applied,
                    duplicates=totals.duplicates,
                    invalid=totals.invalid,
                    failed=totals.failed,
                    seconds=time.perf_counter() - started,
                )
            )
            if self._after_bulk is not None:
                await self._after_bulk(number)
        return "finished"

    async def _bulk(
        self, items: Sequence[Item], totals: _Totals
    ) -> tuple[BulkCounts, list[dict[str, Any]]]:
        await self._refresh_definitions()
        now = self._clock.now()
        applied = duplicates = 0
        invalid: list[tuple[dict[str, Any], str]] = [
            (item.where, item.reason) for item in items if isinstance(item, Invalid)
        ]
        failed: list[tuple[Good, str]] = []
        outbox_ids: list[int] = []
        for stream, goods in _by_stream(items).items():
            part = await self._commit(stream, goods, now)
            applied += part.applied
            duplicates += part.duplicates
            failed += part.failed
            outbox_ids += part.outbox_ids
        await self._publish(outbox_ids)
        totals.applied += applied
        totals.duplicates += duplicates
        totals.invalid += len(invalid)
        totals.failed += len(failed)
        errors: list[dict[str, Any]] = []
        problems = [*invalid, *((good.where, reason) for good, reason in failed)]
        for where, reason in problems:
            if totals.errors_kept >= store.MAX_STORED_ERRORS:
                break
            errors.append({**where, "reason": reason})
            totals.errors_kept += 1
        counts = BulkCounts(applied, duplicates, len(invalid), len(failed))
        return counts, errors

    async def _bookkeeping(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """One short transaction of the job's report, retried through outages like the
        batches themselves (a report that cannot be written must not stop the job)."""

        async def attempt() -> T:
            async with self._engine.begin() as conn:
                return await write(conn)

        return await retry_transient(
            attempt, self._stopping, self._down, self._up, "writing the replay report"
        )

    async def _refresh_definitions(self) -> None:
        await retry_transient(
            self._definitions.refresh,
            self._stopping,
            self._down,
            self._up,
            "loading definitions",
        )

    async def _commit(self, stream: InputStream, goods: Sequence[Good], now: datetime) -> _Part:
        entries = [GoodEntry(g.entry_id, g.event, g.body) for g in goods]
        try:
            result = await retry_transient(
                lambda: commit_batch(
                    self._engine,
                    stream,
                    entries,
                    (),
                    now,
                    self._definitions.current,
                    self._rules,
                ),
                self._stopping,
                self._down,
                self._up,
                f"replaying {len(entries)} {stream.value} events",
            )
        except (asyncio.CancelledError, ShuttingDown):
            raise
        except Exception as exc:
            if len(goods) == 1:
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                log.error("replayed event %s failed: %s", goods[0].entry_id, reason)
                return _Part(failed=[(goods[0], reason)])
            middle = len(goods) // 2
            first = await self._commit(stream, goods[:middle], now)
            second = await self._commit(stream, goods[middle:], now)
            return _Part(
                first.applied + second.applied,
                first.duplicates + second.duplicates,
                first.failed + second.failed,
                first.outbox_ids + second.outbox_ids,
            )
        return _Part(result.applied, result.duplicates, [], list(result.outbox_ids))

    async def _publish(self, outbox_ids: list[int]) -> None:
        if not outbox_ids or self._relay is None:
            return
        try:
            await self._relay.publish(outbox_ids)
        except Exception as exc:
            # The rows are committed: the workers' sweep publishes them once Redis is back.
            log.warning("replay outbox publish deferred to the sweep: %s", exc)

    def _down(self, exc: BaseException) -> None:
        log.warning("replay waiting for PostgreSQL: %s", exc)

    def _up(self) -> None:
        pass


__all__ = ["DEFAULT_BULK_SIZE", "ReplayJob"]
