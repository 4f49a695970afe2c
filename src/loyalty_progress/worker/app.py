"""Assembling the worker: FastStream batch subscribers, pipeline, claimer, relay, HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import uvicorn
from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker
from faststream.redis.message import FAKE_CONSUMER, RedisBatchStreamMessage
from redis.asyncio import Redis

from loyalty_progress.api.auth import read_side_auth
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.http import create_http_app, create_ops_app
from loyalty_progress.apidocs import read_side_document, render
from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream, StreamEntry
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.observability import tracing
from loyalty_progress.observability.health import Health
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.store import migrate
from loyalty_progress.store.database import SessionTimeouts, create_engine
from loyalty_progress.worker.claimer import Claimer
from loyalty_progress.worker.definitions import keep_current
from loyalty_progress.worker.gauges import collect_stream_gauges
from loyalty_progress.worker.groups import ensure_groups
from loyalty_progress.worker.lanes import MemberLanes
from loyalty_progress.worker.listen import bind_listening_socket
from loyalty_progress.worker.pipeline import Pipeline
from loyalty_progress.worker.probe import run_probe
from loyalty_progress.worker.registry import batch_rules, time_rules
from loyalty_progress.worker.relay import OutboxRelay
from loyalty_progress.worker.retry import ShuttingDown
from loyalty_progress.worker.scheduler import run_scheduler
from loyalty_progress.worker.stalled import SESSION_PREFIX, run_stalled_session_check
from loyalty_progress.worker.startup import start_step
from loyalty_progress.worker.subscriptions import input_subscription
from loyalty_progress.worker.supervisor import ConsumerSupervisor, Subscriber

log = logging.getLogger(__name__)


async def _raw_parser(msg: Any, _original: Any) -> RedisBatchStreamMessage:
    # FastStream's own batch parsing decodes, re-encodes and decodes again (~30 µs per
    # entry) and misreads a plain `data` field as its envelope: hand the entries through.
    return RedisBatchStreamMessage(raw_message=msg, body=b"", consumer=FAKE_CONSUMER, group=None)


async def _raw_decoder(msg: Any, _original: Any) -> list[StreamEntry]:
    raw = msg.raw_message
    return list(zip(raw["message_ids"], raw["data"], strict=True))


def session_timeouts(settings: Settings) -> SessionTimeouts:
    return SessionTimeouts(
        lock_ms=settings.db_lock_timeout_ms,
        idle_in_transaction_ms=settings.db_idle_in_transaction_timeout_ms,
        statement_ms=settings.db_statement_timeout_ms,
    )


def database_session_name(settings: Settings) -> str:
    """The worker's `application_name` in PostgreSQL: which replica a session belongs to."""
    return f"{SESSION_PREFIX}{settings.consumer_name}"


def settle_heap() -> None:
    """Move everything built at start (modules, app, pools) out of the garbage collector's
    reach and collect young objects less often. A batch allocates tens of thousands of
    short-lived objects; with the default thresholds the collector kept re-scanning the
    long-lived startup heap, a noticeable share of the worker's CPU."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


GC_YOUNG_THRESHOLD = 50_000
# How long `stop()` gives the background loops to end by themselves.
TASKS_GRACE_S = 10.0


def _bound_port(server: uvicorn.Server | None) -> int | None:
    if server is None or not server.servers:
        return None
    return int(server.servers[0].sockets[0].getsockname()[1])


class Worker:
    """One worker process. `start()`/`stop()` for tests; `run()` for the CLI."""

    def __init__(self, settings: Settings, serve_http: bool = True) -> None:
        if not settings.database_url or not settings.redis_url:
            raise ValueError("the worker needs LOYALTY_DATABASE_URL and LOYALTY_REDIS_URL")
        self.settings = settings
        self.clock = Clock(settings.now)
        self.health = Health()
        self.stopping = asyncio.Event()
        self.engine = create_engine(
            settings.database_url,
            settings.db_pool_size,
            session_timeouts(settings),
            application_name=database_session_name(settings),
            random_page_cost=settings.db_random_page_cost or None,
            plan_cache_mode=settings.db_plan_cache_mode,
        )
        self.redis: Redis = Redis.from_url(settings.redis_url)
        self.metrics = Metrics()
        self.relay = OutboxRelay(self.engine, self.redis, settings, self.metrics)
        self.definitions = DefinitionsCache(self.engine)
        # What the read side reads: the database, the definitions in force, the clock.
        self.read_context = ReadContext(self.engine, self.definitions, self.clock)
        self.time_rules = time_rules(settings)
        self.pipeline = Pipeline(
            self.engine,
            self.redis,
            settings,
            self.clock,
            self.relay,
            self.health,
            self.stopping,
            self.definitions,
            batch_rules(self.metrics),
            self.metrics,
        )
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
        self.supervisor = ConsumerSupervisor(
            self.redis,
            self.broker,
            settings,
            self.health,
            self.metrics,
            {stream: self._subscribe(stream) for stream in InputStream},
        )
        self.claimer = Claimer(
            self.redis, settings, self.pipeline, self.health, self.supervisor.recovering
        )
        self._serve_http = serve_http
        # Checked before anything connects: a read side that may not run open stops here.
        self._read_auth = read_side_auth(settings) if serve_http else None
        self._http: uvicorn.Server | None = None
        self._ops_http: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._supervising: asyncio.Task[None] | None = None

    def _subscribe(self, stream: InputStream) -> Subscriber:
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
        return subscriber

    def _handler(self, stream: InputStream) -> Callable[..., Awaitable[None]]:
        lanes = self._lanes

        async def apply(entries: tuple[StreamEntry, ...], on_locked: Callable[[], None]) -> None:
            try:
                await self.pipeline.handle(stream, entries, on_locked=on_locked)
            except ShuttingDown:
                log.info("stopping: %d entries of %s left pending", len(entries), stream.value)

        async def handle(*entries: StreamEntry) -> None:
            # Returns once the batch has started, so FastStream reads the next one meanwhile.
            await lanes.submit(entries, apply)

        handle.__name__ = f"apply_{stream.value}"
        return handle

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def _prepare(self) -> None:
        """Every start-up step waits out outages of what it talks to (`worker.startup`)."""

        async def database() -> None:
            if self.settings.migrate_on_start:
                await self._migrate()
            self.health.migrations_current = await migrate.is_current(self.engine)
            await self.definitions.refresh()
            self.health.database = True

        async def groups() -> None:
            await ensure_groups(self.redis, self.settings)
            self.health.redis = True

        stopping, health = self.stopping, self.health
        db_down, redis_down = self.pipeline._db_down, self.pipeline._redis_down
        await start_step(database, stopping, health, "database", "PostgreSQL", db_down)
        await start_step(groups, stopping, health, "consumer groups", "Redis", redis_down)
        await start_step(
            self.supervisor.start_consumers, stopping, health, "consumers", "Redis", redis_down
        )
        health.starting = None

    async def _migrate(self) -> None:
        # Not on the worker's engine: its session timeouts would cut a long migration short.
        assert self.settings.database_url
        engine = create_engine(self.settings.database_url, pool_size=1)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    async def start(self) -> None:
        """Bind the HTTP ports (a busy one fails the start before anything connects), serve
        HTTP at once (`/healthz`; `/readyz` says what start-up waits for), then prepare and
        start consuming; raises `ShuttingDown` if stopped meanwhile."""
        if self._serve_http:
            await self._start_http(self._bind_http())
        await self._prepare()
        self.health.groups_joined = True
        self._supervising = asyncio.create_task(
            self.supervisor.run(self.stopping), name="consumer-supervisor"
        )
        self._spawn(self.claimer.run(self.stopping), "claimer")
        self._spawn(
            run_stalled_session_check(
                self.engine, self.settings.db_idle_in_transaction_timeout_ms, self.stopping
            ),
            "stalled-sessions",
        )
        self._spawn(self.relay.run_sweeper(self.stopping), "outbox-sweeper")
        self._spawn(
            run_probe(
                self.engine, self.redis, self.health, self.stopping, 1.0, self._stream_gauges
            ),
            "probe",
        )
        self._spawn(keep_current(self.definitions, self.stopping), "definitions")
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
        await collect_stream_gauges(self.redis, self.engine, self.settings, self.metrics)

    @property
    def http_port(self) -> int | None:
        """The port the read side listens on (useful with `LOYALTY_HTTP_PORT=0`)."""
        return _bound_port(self._http)

    @property
    def metrics_port(self) -> int | None:
        """The ops port: `/metrics`, `/schema`, full `/readyz` (`LOYALTY_METRICS_PORT`)."""
        return _bound_port(self._ops_http)

    def _bind_http(self) -> tuple[socket.socket, socket.socket]:
        settings = self.settings
        read_side = bind_listening_socket(settings.http_host, settings.http_port)
        try:
            ops = bind_listening_socket(
                settings.metrics_host, settings.metrics_port, "LOYALTY_METRICS_PORT"
            )
        except BaseException:
            read_side.close()
            raise
        return read_side, ops

    async def _start_http(self, listening: tuple[socket.socket, socket.socket]) -> None:
        assert self._read_auth is not None
        read_side, ops = listening
        plugins = tracing.http_plugins(self.settings)
        read_app = create_http_app(self.read_context, self.health, self._read_auth, None, plugins)
        ops_app = create_ops_app(self.health, self.metrics.registry, self._openapi_text)
        self._http = await self._serve(read_app, read_side)
        self._ops_http = await self._serve(ops_app, ops)

    def _openapi_text(self) -> str:
        return render(read_side_document(self.read_context))

    async def _serve(self, app: Any, listening: socket.socket) -> uvicorn.Server:
        host, port = listening.getsockname()[:2]
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            log_config=None,  # keep the process's logging setup
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        self._spawn(server.serve(sockets=[listening]), f"http-{port}")
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        return server

    async def stop(self) -> None:
        """Finish the batch in hand (commit, ack), then stop everything."""
        self.stopping.set()
        self.health.stopping = True
        self.health.groups_joined = False
        if self._supervising is not None:
            # Before the broker stops: a reader restarted meanwhile would outlive it.
            await asyncio.wait([self._supervising], timeout=TASKS_GRACE_S)
            self._supervising.cancel()
            await asyncio.gather(self._supervising, return_exceptions=True)
        await self.broker.stop()
        await self._lanes.drain()
        await self.pipeline.drain_publishing()
        for server in (self._http, self._ops_http):
            if server is not None:
                server.should_exit = True
        await self._finish_tasks(TASKS_GRACE_S)
        await self.redis.aclose()
        await self.engine.dispose()

    async def _finish_tasks(self, grace: float) -> None:
        """The background loops end on `stopping`; one caught in a call to a server that no
        longer answers is cancelled once `grace` has passed (for all of them together)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(self._tasks, timeout=grace)
        for task in late:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for task, result in zip(self._tasks, results, strict=True):
            if isinstance(result, Exception):
                log.error("%s ended with an error", task.get_name(), exc_info=result)

    async def run(
        self, stop_signal: asyncio.Event, on_started: Callable[[Worker], None] | None = None
    ) -> None:
        """Start, consume until `stop_signal`, stop. A signal during start-up (however long
        the dependencies keep it waiting) ends the start at once."""
        watcher = asyncio.create_task(stop_signal.wait(), name="stop-signal")
        watcher.add_done_callback(lambda _: self.stopping.set())
        try:
            await self.start()
            if on_started is not None:
                on_started(self)
            settle_heap()
            await stop_signal.wait()
        except ShuttingDown:
            log.info("stopped during start-up")
        finally:
            watcher.cancel()
            await self.stop()
