"""Assembling the worker: FastStream batch subscribers, pipeline, claimer, relay, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import uvicorn
from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.message import FAKE_CONSUMER, RedisBatchStreamMessage
from redis.asyncio import Redis

from loyalty_progress.api.http import create_http_app
from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.observability import tracing
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.store import migrate
from loyalty_progress.store.database import create_engine
from loyalty_progress.store.outbox import backlog_size
from loyalty_progress.worker.claimer import Claimer
from loyalty_progress.worker.definitions import DefinitionsCache
from loyalty_progress.worker.groups import ensure_groups
from loyalty_progress.worker.health import Health
from loyalty_progress.worker.lanes import MemberLanes
from loyalty_progress.worker.listen import bind_listening_socket
from loyalty_progress.worker.pipeline import Entry, Pipeline
from loyalty_progress.worker.probe import run_probe
from loyalty_progress.worker.relay import OutboxRelay
from loyalty_progress.worker.retry import ShuttingDown, retry_transient
from loyalty_progress.worker.rules import batch_rules, time_rules
from loyalty_progress.worker.scheduler import run_scheduler

log = logging.getLogger(__name__)


async def _raw_parser(msg: Any, _original: Any) -> RedisBatchStreamMessage:
    # FastStream's own batch parsing decodes, re-encodes and decodes again (~30 µs per
    # entry) and misreads a plain `data` field as its envelope: hand the entries through.
    return RedisBatchStreamMessage(raw_message=msg, body=b"", consumer=FAKE_CONSUMER, group=None)


async def _raw_decoder(msg: Any, _original: Any) -> list[Entry]:
    raw = msg.raw_message
    return list(zip(raw["message_ids"], raw["data"], strict=True))


@dataclass(frozen=True, slots=True)
class InputSubscription:
    """How the worker reads one input stream; the AsyncAPI document declares the same."""

    stream: StreamSub
    title: str
    description: str


def input_subscription(settings: Settings, stream: InputStream) -> InputSubscription:
    return InputSubscription(
        stream=StreamSub(
            settings.stream(stream.value),
            group=settings.consumer_group,
            consumer=settings.consumer_name,
            batch=True,
            max_records=settings.batch_size,
            polling_interval=settings.poll_ms,
        ),
        title=f"{stream.value}-batch",
        description=f"{stream.value} events, applied in batches of up to "
        f"{settings.batch_size} entries",
    )


LAG_COUNT_CAP = 100_000


def settle_heap() -> None:
    """Move everything built at start (modules, app, pools) out of the garbage collector's
    reach and collect young objects less often. A batch allocates tens of thousands of
    short-lived objects; with the default thresholds the collector kept re-scanning the
    long-lived startup heap, a noticeable share of the worker's CPU."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


GC_YOUNG_THRESHOLD = 50_000


async def _group_lag(redis: Redis, stream: str, group: dict[str, Any]) -> int:
    """Entries not yet delivered to the group. Redis 7 reports it; older servers (the
    embedded one is 6.2) do not, so count the entries after the group's position, capped."""
    lag = group.get("lag")
    if lag is not None:
        return int(lag)
    position = group.get("last-delivered-id") or b"0-0"
    if isinstance(position, str):
        position = position.encode()
    entries = await redis.xrange(stream, min=b"(" + position, count=LAG_COUNT_CAP)
    return len(entries or ())


class Worker:
    """One worker process. `start()`/`stop()` for tests; `run()` for the CLI."""

    def __init__(self, settings: Settings, serve_http: bool = True) -> None:
        if not settings.database_url or not settings.redis_url:
            raise ValueError("the worker needs LOYALTY_DATABASE_URL and LOYALTY_REDIS_URL")
        self.settings = settings
        self.clock = Clock(settings.now)
        self.health = Health()
        self.stopping = asyncio.Event()
        self.engine = create_engine(settings.database_url, settings.db_pool_size)
        self.redis: Redis = Redis.from_url(settings.redis_url)
        self.metrics = Metrics()
        self.relay = OutboxRelay(self.engine, self.redis, settings, self.metrics)
        self.definitions = DefinitionsCache(self.engine)
        self.time_rules = time_rules()
        self.pipeline = Pipeline(
            self.engine,
            self.redis,
            settings,
            self.clock,
            self.relay,
            self.health,
            self.stopping,
            self.definitions,
            batch_rules(),
            self.metrics,
        )
        self.claimer = Claimer(self.redis, settings, self.pipeline, self.health)
        # FastStream logs every message at INFO; our pipeline logs per batch instead.
        quiet = logging.getLogger("loyalty_progress.faststream")
        quiet.setLevel(logging.WARNING)
        self.broker = RedisBroker(
            settings.redis_url,
            apply_types=False,
            logger=quiet,
            middlewares=tracing.broker_middlewares(settings),
        )
        self.app = FastStream(self.broker, logger=quiet)
        # One set of member lanes for every stream: the transactions of a worker that run
        # at the same time never share a member's rows (see `worker.lanes`).
        self._lanes = MemberLanes("input", settings.member_partitions, settings.batches_in_flight)
        for stream in InputStream:
            self._subscribe(stream)
        self._serve_http = serve_http
        self._http: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _subscribe(self, stream: InputStream) -> None:
        subscription = input_subscription(self.settings, stream)
        subscriber = self.broker.subscriber(
            stream=subscription.stream,
            parser=_raw_parser,
            decoder=_raw_decoder,
            ack_policy=AckPolicy.MANUAL,
            title=subscription.title,
            description=subscription.description,
        )
        subscriber(self._handler(stream))

    def _handler(self, stream: InputStream) -> Callable[..., Awaitable[None]]:
        lanes = self._lanes

        async def apply(entries: tuple[Entry, ...], on_locked: Callable[[], None]) -> None:
            try:
                await self.pipeline.handle(stream, entries, on_locked=on_locked)
            except ShuttingDown:
                log.info("stopping: %d entries of %s left pending", len(entries), stream.value)

        async def handle(*entries: Entry) -> None:
            # Returns once the batch has started, so FastStream reads the next one meanwhile.
            await lanes.submit(entries, apply)

        handle.__name__ = f"apply_{stream.value}"
        return handle

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def _prepare(self) -> None:
        async def db_ready() -> None:
            if self.settings.migrate_on_start:
                await migrate.upgrade(self.engine)
            self.health.migrations_current = await migrate.is_current(self.engine)
            await self.definitions.refresh()
            self.health.database = True

        async def redis_ready() -> None:
            await ensure_groups(self.redis, self.settings)
            self.health.redis = True

        await retry_transient(
            db_ready, self.stopping, self.pipeline._db_down, lambda: None, "start"
        )
        await retry_transient(
            redis_ready, self.stopping, self.pipeline._redis_down, lambda: None, "start"
        )

    async def start(self) -> None:
        # Bound first: a busy port fails the start before anything connects.
        listening = self._bind_http() if self._serve_http else None
        await self._prepare()
        if listening is not None:
            await self._start_http(listening)
        await self.broker.start()
        self.health.groups_joined = True
        self._spawn(self.claimer.run(self.stopping), "claimer")
        self._spawn(self.relay.run_sweeper(self.stopping), "outbox-sweeper")
        self._spawn(
            run_probe(
                self.engine, self.redis, self.health, self.stopping, 1.0, self._stream_gauges
            ),
            "probe",
        )
        self._spawn(self.definitions.run(self.stopping), "definitions")
        self._spawn(
            run_scheduler(
                self.engine,
                self.definitions,
                self.time_rules,
                self.clock,
                self.relay,
                self.stopping,
                interval=self.settings.scheduler_ms / 1000,
                metrics=self.metrics,
            ),
            "scheduler",
        )
        log.info(
            "worker %s consuming %s.* in group %s",
            self.settings.consumer_name,
            self.settings.stream_prefix,
            self.settings.consumer_group,
        )

    async def _stream_gauges(self) -> None:
        """Consumer lag, pending entries and outbox backlog, for `/metrics` and autoscaling."""
        for stream in InputStream:
            name = self.settings.stream(stream.value)
            for group in await self.redis.xinfo_groups(name):
                group_name = group["name"]
                if isinstance(group_name, bytes):
                    group_name = group_name.decode()
                if group_name == self.settings.consumer_group:
                    lag = await _group_lag(self.redis, name, group)
                    self.metrics.consumer_lag.labels(name).set(lag)
                    self.metrics.pending.labels(name).set(group.get("pending") or 0)
        async with self.engine.connect() as conn:
            self.metrics.outbox_backlog.set(await backlog_size(conn))

    @property
    def http_port(self) -> int | None:
        """The port the read side listens on (useful with `LOYALTY_HTTP_PORT=0`)."""
        if self._http is None or not self._http.servers:
            return None
        return int(self._http.servers[0].sockets[0].getsockname()[1])

    def _bind_http(self) -> socket.socket:
        return bind_listening_socket(self.settings.http_host, self.settings.http_port)

    async def _start_http(self, listening: socket.socket) -> None:
        config = uvicorn.Config(
            create_http_app(self),
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level="warning",
            log_config=None,  # keep the process's logging setup
            access_log=False,
            lifespan="off",
        )
        self._http = uvicorn.Server(config)
        self._spawn(self._http.serve(sockets=[listening]), "http")
        for _ in range(200):
            if self._http.started:
                break
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Finish the batch in hand (commit, ack), then stop everything."""
        self.stopping.set()
        self.health.groups_joined = False
        await self.broker.stop()
        await self._lanes.drain()
        await self.pipeline.drain_publishing()
        if self._http is not None:
            self._http.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
        await self.redis.aclose()
        await self.engine.dispose()

    async def run(
        self, stop_signal: asyncio.Event, on_started: Callable[[Worker], None] | None = None
    ) -> None:
        await self.start()
        if on_started is not None:
            on_started(self)
        settle_heap()
        try:
            await stop_signal.wait()
        finally:
            await self.stop()
