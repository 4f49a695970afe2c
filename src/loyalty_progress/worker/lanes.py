"""Up to `LOYALTY_BATCHES_IN_FLIGHT` batches of one stream in flight, in entry order.

One batch at a time per stream leaves the worker idle while PostgreSQL runs the batch's
statements and commit, and while the ack and the outbox publish travel to Redis. A lane
lets the next batch of the same stream start meanwhile, but only once the previous batch
holds its row locks (event ids and receipts): the next batch's locking statements then
wait for whatever they share with it, so a receipt's status events are still applied in
publish order, as with one batch at a time. Batches that share nothing overlap freely;
locks are always taken in one global order, so lanes cannot deadlock each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

BatchWork = Callable[[Callable[[], None]], Awaitable[None]]


class StreamLane:
    def __init__(self, name: str, depth: int) -> None:
        self._name = name
        self._slots = asyncio.Semaphore(max(1, depth))
        self._previous_locked: asyncio.Event | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def submit(self, work: BatchWork) -> None:
        """Returns once the batch has started: a slot is free and the previous batch of
        this stream holds its locks (or is over)."""
        await self._slots.acquire()
        try:
            if self._previous_locked is not None:
                await self._previous_locked.wait()
        except BaseException:
            self._slots.release()
            raise
        locked = asyncio.Event()
        self._previous_locked = locked
        task = asyncio.create_task(self._run(work, locked), name=f"batch-{self._name}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _run(self, work: BatchWork, locked: asyncio.Event) -> None:
        try:
            await work(locked.set)
        except Exception:
            # The pipeline handles batch failures itself; its entries stay pending for the
            # claimer if something still escapes.
            log.exception("batch of %s failed; its entries stay pending", self._name)
        finally:
            locked.set()
            self._slots.release()

    async def drain(self) -> None:
        """Wait for the batches in flight (on shutdown: they commit, ack and publish)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
