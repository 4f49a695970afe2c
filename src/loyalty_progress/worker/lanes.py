"""Batches of one stream in flight: split by member partition, and up to
`LOYALTY_BATCHES_IN_FLIGHT` per partition, in entry order.

One batch at a time per stream leaves the worker idle while PostgreSQL runs the batch's
statements and commit, and while the ack and the outbox publish travel to Redis. A lane
lets the next batch of the same stream start meanwhile, but only once the previous batch
holds its row locks (event ids and receipts): the next batch's locking statements then
wait for whatever they share with it, so a receipt's status events are still applied in
publish order, as with one batch at a time. Batches that share nothing overlap freely;
locks are always taken in one global order, so lanes cannot deadlock each other.

**Member partitions.** Every stream's batch is split by a hash of each entry's (club,
member_id) into `LOYALTY_MEMBER_PARTITIONS` sub-batches, one per partition lane, and the
lanes are shared by all the streams: a member's entries, whatever their stream, always go
to the same lane, so the transactions a worker runs side by side (one per lane, plus the
next one of each lane starting as above) rarely share a member's rows (receipts, totals,
challenge and attendance state) and commit side by side instead of queueing on each
other's row locks, while each member's entries of a stream are applied in entry order.
Only aggregates (finisher shards, winner counters of limited
challenges) and the rows of a receipt whose statuses name different members can be
shared, and those wait for each other as before.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final

import msgspec

from loyalty_progress.contract.events import DATA_FIELD, StreamEntry

log = logging.getLogger(__name__)

BatchWork = Callable[[Callable[[], None]], Awaitable[None]]
EntriesWork = Callable[[tuple[StreamEntry, ...], Callable[[], None]], Awaitable[None]]


class _MemberOf(msgspec.Struct):
    """Just the partition key of a body; every other field is skipped unread."""

    club: str = ""
    member_id: str = ""


_MEMBER_OF: Final = msgspec.json.Decoder(_MemberOf)


def partition_of(fields: Mapping[bytes, bytes], partitions: int) -> int:
    """The member partition of an entry (0 for one that does not decode: the pipeline
    dead-letters it wherever it goes)."""
    if partitions == 1:
        return 0
    try:
        key = _MEMBER_OF.decode(fields.get(DATA_FIELD, b""))
    except (msgspec.DecodeError, TypeError):
        return 0
    return zlib.crc32(f"{key.club}\x1f{key.member_id}".encode()) % partitions


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


def _bound(work: EntriesWork, entries: tuple[StreamEntry, ...]) -> BatchWork:
    async def run(on_locked: Callable[[], None]) -> None:
        await work(entries, on_locked)

    return run


class MemberLanes:
    """The lanes of the member partitions (see the module docstring)."""

    def __init__(self, name: str, partitions: int, depth: int) -> None:
        self._lanes = [StreamLane(f"{name}/{p}", depth) for p in range(max(1, partitions))]

    async def submit(self, entries: Sequence[StreamEntry], work: EntriesWork) -> None:
        """Returns once every sub-batch of `entries` has started in its lane."""
        parts: dict[int, list[StreamEntry]] = {}
        for entry in entries:
            parts.setdefault(partition_of(entry[1], len(self._lanes)), []).append(entry)
        for index in sorted(parts):
            await self._lanes[index].submit(_bound(work, tuple(parts[index])))

    async def drain(self) -> None:
        for lane in self._lanes:
            await lane.drain()
