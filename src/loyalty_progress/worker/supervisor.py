"""Keeps every input stream consumed: starts the FastStream subscribers, and brings a lost
consumer group back.

FastStream ends a subscriber for good when Redis answers NOGROUP (the stream deleted,
FLUSHALL, a failover to a replica without the group) and asks for the application to be
restarted. Instead, every second this looks at each stream's group and subscriber: a
missing group is created again at `GROUP_START_ID` (`worker.groups` says why there), a
stopped subscriber is started again, and the stream counts as lost (`/readyz` 503, with
the reason) until its reader is seen consuming again: this worker's consumer shows in
the group (it was delivered entries), or a whole check later the group is still there
and the reader still runs (so its reads, every `LOYALTY_POLL_MS`, found the group; an
empty stream delivers nothing to show).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.observability.health import Health
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.worker.groups import GROUP_START_ID, ensure_group, group_info, has_consumer
from loyalty_progress.worker.retry import is_transient

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


class Subscriber(Protocol):
    """What this needs of a FastStream stream subscriber."""

    running: bool
    last_id: str
    tasks: list[asyncio.Task[Any]]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Connectable(Protocol):
    async def connect(self) -> Any: ...


class ConsumerSupervisor:
    def __init__(
        self,
        redis: Redis,
        broker: Connectable,
        settings: Settings,
        health: Health,
        metrics: Metrics,
        subscribers: Mapping[InputStream, Subscriber],
    ) -> None:
        self._redis = redis
        self._broker = broker
        self._settings = settings
        self._health = health
        self._metrics = metrics
        self._subscribers = dict(subscribers)
        # Lost streams whose group and reader looked right at the previous check.
        self._settling: set[str] = set()

    def recovering(self, stream: InputStream) -> bool:
        """The stream's group was lost and this worker has not read from it since."""
        return self._settings.stream(stream.value) in self._health.lost_groups

    async def start_consumers(self) -> None:
        """Start every subscriber that is not running. Safe to call again after a failure
        (a start-up retry): a subscriber that failed to start is stopped again first."""
        await self._broker.connect()
        for stream in InputStream:
            await self._start(self._subscribers[stream])

    async def _start(self, subscriber: Subscriber) -> None:
        if subscriber.running:
            return
        # A subscriber that finds no group creates it at its `last_id` (the last entry it
        # read, or `$`), which would skip entries: make it create the group where we would.
        # (Only its group creation reads this; it reads new entries with `>` regardless.)
        subscriber.last_id = GROUP_START_ID
        try:
            await subscriber.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await subscriber.stop()
            raise

    async def run(self, stopping: asyncio.Event, interval: float = CHECK_INTERVAL_S) -> None:
        while not stopping.is_set():
            for stream in InputStream:
                # One stream's trouble never keeps the others from being looked after.
                try:
                    await self.check(stream, stopping)
                except Exception as exc:
                    if is_transient(exc):
                        log.debug("consumer check of %s waits for Redis: %s", stream.value, exc)
                    else:
                        log.exception("consumer check of %s failed", stream.value)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval)

    async def check(self, stream: InputStream, stopping: asyncio.Event) -> None:
        name = self._settings.stream(stream.value)
        group = self._settings.consumer_group
        subscriber = self._subscribers[stream]
        if await group_info(self._redis, name, group) is None:
            created = await ensure_group(self._redis, name, group)
            self._metrics.groups_recreated.labels(name).inc()
            by = "created it again" if created else "another replica created it again"
            self._lost(name, f"consumer group {group} was missing; {by} at {GROUP_START_ID}")
            return
        if not subscriber.running:
            if not subscriber.tasks and not stopping.is_set():
                # Stopped by FastStream (NOGROUP), and done stopping (its tasks are gone).
                self._lost(name, f"reader stopped (consumer group {group} lost); restarting it")
                await self._start(subscriber)
                log.warning("restarted the reader of %s", name)
            return
        if name not in self._health.lost_groups:
            return
        consumer = self._settings.consumer_name
        if name in self._settling or await has_consumer(self._redis, name, group, consumer):
            self._settling.discard(name)
            del self._health.lost_groups[name]
            log.warning("consuming %s again in group %s", name, group)
        else:
            self._settling.add(name)

    def _lost(self, name: str, what: str) -> None:
        self._settling.discard(name)
        if self._health.lost_groups.get(name) != what:
            log.error("%s: %s", name, what)
        self._health.lost_groups[name] = what
