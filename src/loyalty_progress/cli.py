"""Command line: `loyalty-progress run | migrate | definitions apply/list | tick | env`, and
the commands that live beside their feature (`demo`, `replay`, `deadletter`, `docs`).

Start-up cost is kept to argparse: each command imports what it needs when it runs, and
only the chosen feature command's module is loaded to build its parser (`--help` of
any command answers in about 0.05 s; measured after `import loyalty_progress.cli`, the
worker's modules take 0.8 s to import, the store's 0.2-0.3 s, asyncio 21 ms). Imports of
a few milliseconds stay at the top. Every failure to reach, find or use PostgreSQL and
Redis is one line on stderr and exit code 2 (`local_services`)."""

from __future__ import annotations

import argparse
import importlib
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings, SettingsError
from loyalty_progress.definitions.errors import DefinitionError
from loyalty_progress.local_services import ServiceError, locate, ready_engine, unreachable_reason
from loyalty_progress.observability import tracing
from loyalty_progress.observability.logs import configure_logging
from loyalty_progress.quickstart import ready_banner
from loyalty_progress.worker.listen import PortInUse

if TYPE_CHECKING:
    from loyalty_progress.worker.app import Worker

EXIT_SERVICES: Final = 2  # PostgreSQL/Redis not found, unreachable or without the schema


def _run_worker(settings: Settings, on_started: Callable[[Worker], None]) -> None:
    # Deferred (module doc): the worker's modules take 0.8 s to import, asyncio 21 ms.
    import asyncio

    from loyalty_progress.worker.app import Worker

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Worker(settings).run(stop, on_started)

    asyncio.run(run())


def cmd_run(settings: Settings) -> int:
    from loyalty_progress.api.auth import token_verifier  # deferred: 0.24 s (JWT, Litestar)

    try:
        # The read side may refuse to run open; tracing may lack its libraries: say so
        # before any server starts.
        token_verifier(settings)
        tracing.require(settings)
        return _run(settings)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except tracing.TracingUnavailable as exc:
        print(f"loyalty-progress run: {exc}", file=sys.stderr)
        return 2
    except PortInUse as exc:
        print(f"loyalty-progress run: {exc.strerror}", file=sys.stderr)
        return EXIT_SERVICES


def _run(settings: Settings) -> int:
    def started(worker: Worker) -> None:
        print(ready_banner(worker.settings, worker.http_port), flush=True)

    if settings.database_url and settings.redis_url:
        _run_worker(settings, started)
        return 0
    if settings.database_url or settings.redis_url:
        print("set both LOYALTY_DATABASE_URL and LOYALTY_REDIS_URL, or neither", file=sys.stderr)
        return 2
    from loyalty_progress.embedded import EmbeddedServices  # deferred: 66 ms, only without URLs

    services = EmbeddedServices(settings.data_dir)
    try:
        database_url, redis_url = services.start()
    except RuntimeError as exc:
        print(f"cannot start the embedded servers: {exc}", file=sys.stderr)
        return 1
    try:
        print(
            f"embedded servers running (data in {settings.data_dir}):\n"
            f"  LOYALTY_DATABASE_URL={database_url}\n  LOYALTY_REDIS_URL={redis_url}\n"
            '  (other terminals: `eval "$(.venv/bin/loyalty-progress env)"` exports them)',
            flush=True,
        )
        _run_worker(settings.with_urls(database_url, redis_url), started)
    finally:
        services.stop()
    return 0


def cmd_migrate(settings: Settings) -> int:
    # Deferred (module doc): the migrations take 0.3 s to import (Alembic), asyncio 21 ms.
    import asyncio

    from loyalty_progress.store import migrate

    async def run() -> None:
        engine = await ready_engine(locate(settings, redis=False), schema=False)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print("migrations applied", flush=True)
    return 0


async def _apply_definitions(settings: Settings, paths: list[Path], wait: bool = False) -> int:
    # Deferred (module doc): the store's modules take 0.28 s to import, YAML 23 ms.
    import asyncio

    from loyalty_progress.definitions.cache import PICKUP_SECONDS
    from loyalty_progress.definitions.loader import load_definitions
    from loyalty_progress.store.challenges import check_challenge_set
    from loyalty_progress.store.definitions import apply_definitions

    try:
        loaded = load_definitions(paths)
    except DefinitionError as exc:
        print(f"nothing applied: {exc}", file=sys.stderr)
        return 1
    engine = await ready_engine(locate(settings, redis=False))
    try:
        async with engine.begin() as conn:
            # `requires` may name a stored challenge: check the whole set (rolls back on error).
            new = [(d.definition, d.source) for d in loaded if d.kind == "challenge"]
            await check_challenge_set(conn, new)
            results = await apply_definitions(
                conn, [(d.kind, d.club, d.code, d.body, d.source) for d in loaded]
            )
    except DefinitionError as exc:
        print(f"nothing applied: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    for r in results:
        state = f"v{r.version}" + ("" if r.changed else " (unchanged)")
        print(f"{r.kind:<20} {r.club:<20} {r.code:<30} {state}", flush=True)
    if wait and any(r.changed for r in results):
        # Returning once running workers apply them: an event published next counts.
        await asyncio.sleep(PICKUP_SECONDS)
    return 0


async def _list_definitions(settings: Settings) -> int:
    from loyalty_progress.store.definitions import latest_definitions  # deferred: 0.3 s

    engine = await ready_engine(locate(settings, redis=False))
    try:
        async with engine.connect() as conn:
            stored = await latest_definitions(conn)
    finally:
        await engine.dispose()
    print(f"{'kind':<20} {'club':<20} {'code':<30} version  applied_at")
    for d in stored:
        applied = d.applied_at.isoformat() if d.applied_at else ""
        print(f"{d.kind:<20} {d.club:<20} {d.code:<30} v{d.version:<7} {applied}")
    return 0


async def _tick(settings: Settings, at: datetime | None) -> int:
    # Deferred (module doc): the rules, relay, scheduler and Redis take 0.35 s to import.
    from redis.asyncio import Redis

    from loyalty_progress.definitions.cache import DefinitionsCache
    from loyalty_progress.worker.registry import time_rules
    from loyalty_progress.worker.relay import OutboxRelay
    from loyalty_progress.worker.scheduler import tick_once

    # Redis is optional: without it the workers' outbox sweep publishes what a tick writes.
    settings = locate(settings, redis=False)
    now = at or Clock(settings.now).now()
    engine = await ready_engine(settings, pool_size=2)
    try:
        ids = await tick_once(engine, DefinitionsCache(engine), time_rules(), now)
        published = 0
        if ids and settings.redis_url:
            redis: Redis = Redis.from_url(settings.redis_url)
            try:
                published = await OutboxRelay(engine, redis, settings).publish(ids)
            finally:
                await redis.aclose()
    finally:
        await engine.dispose()
    print(f"tick at {now.isoformat()}: {len(ids)} messages written, {published} published")
    return 0


def cmd_env(settings: Settings) -> int:
    located = locate(settings)
    for name, value in (
        ("LOYALTY_DATABASE_URL", located.database_url),
        ("LOYALTY_REDIS_URL", located.redis_url),
    ):
        print(f"export {name}={shlex.quote(value or '')}")
    return 0


def _timestamp(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{raw!r} needs a UTC offset")
    return value


# Commands that live beside their feature: (module, one-line help). Each module has
# `register(commands)`, which adds its sub-parser (with the same help) and
# `set_defaults(handler=...)`; the handler takes (args, settings) and returns the exit
# code. Only the module of the command being run is imported.
FEATURE_COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "docs": ("loyalty_progress.docs_command", "write the AsyncAPI or OpenAPI document (JSON)"),
    "demo": (
        "loyalty_progress.demo",
        "publish a realistic story into a running worker and print what comes out",
    ),
    "replay": (
        "loyalty_progress.replay.cli",
        "replay historical events (file or stream range), show a job, recompute",
    ),
    "deadletter": (
        "loyalty_progress.deadletter_tools",
        "inspect, requeue or purge entries of <prefix>.deadletter",
    ),
}


def _command_word(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (the top level has no other options)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, feature commands other than that one get just their
    name and help line (enough for the top-level `--help`), so their modules stay unloaded."""
    parser = argparse.ArgumentParser(
        prog="loyalty-progress", description="Loyalty challenge progress from Redis Streams."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run", help="run the worker (embedded PostgreSQL and Redis when no URLs are set)"
    )
    commands.add_parser("migrate", help="apply database migrations")
    definitions = commands.add_parser("definitions", help="apply or list definitions")
    definition_commands = definitions.add_subparsers(dest="definitions_command", required=True)
    apply = definition_commands.add_parser(
        "apply",
        help="validate and store definition files (all or nothing)",
        description="Validates every definition of every file, stores them (all or "
        "nothing), and returns once running workers have reloaded them (about 3 s), so "
        "that events published afterwards count for them.",
    )
    apply.add_argument("files", nargs="+", type=Path)
    apply.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="return right after storing (running workers reload within about 3 s)",
    )
    definition_commands.add_parser("list", help="the definitions in force")
    tick = commands.add_parser("tick", help="run the time-driven transitions once")
    tick.add_argument("--at", type=_timestamp, help="as of this RFC 3339 instant (default: now)")
    commands.add_parser(
        "env",
        help="print the database and Redis URLs as shell exports "
        '(`eval "$(loyalty-progress env)"`)',
        description="Prints `export LOYALTY_DATABASE_URL=...` and `export "
        "LOYALTY_REDIS_URL=...` for the servers the other commands use: the variables when "
        "set, else the embedded servers of a running `loyalty-progress run`.",
    )
    for name, (module, summary) in FEATURE_COMMANDS.items():
        if only is None or only == name:
            importlib.import_module(module).register(commands)
        else:
            commands.add_parser(name, help=summary)
    return parser


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # deferred: 21 ms, half of what `--help` takes (45 ms)

    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args, settings))
    if args.command == "run":
        return cmd_run(settings)
    if args.command == "migrate":
        return cmd_migrate(settings)
    if args.command == "env":
        return cmd_env(settings)
    if args.command == "definitions" and args.definitions_command == "apply":
        return asyncio.run(_apply_definitions(settings, args.files, args.wait))
    if args.command == "definitions":
        return asyncio.run(_list_definitions(settings))
    if args.command == "tick":
        return asyncio.run(_tick(settings, args.at))
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(only=_command_word(argv) or "").parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return _dispatch(args, settings)
    except ServiceError as exc:
        print(f"loyalty-progress {args.command}: {exc}", file=sys.stderr)
        return EXIT_SERVICES
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A connection lost after the start checks; anything else is a bug: traceback.
        reason = unreachable_reason(exc)
        if reason is None:
            raise
        print(
            f"loyalty-progress {args.command}: lost PostgreSQL or Redis: {reason}",
            file=sys.stderr,
        )
        return EXIT_SERVICES
