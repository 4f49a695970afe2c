"""Command line: `loyalty-progress run | migrate | definitions apply/list | tick`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings, SettingsError
from loyalty_progress.definitions.errors import DefinitionError
from loyalty_progress.embedded import EmbeddedServices
from loyalty_progress.observability.logs import configure_logging

log = logging.getLogger("loyalty_progress")


async def _run(settings: Settings) -> None:
    from loyalty_progress.worker.app import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Worker(settings).run(stop)


def cmd_run(settings: Settings) -> int:
    from loyalty_progress.api.auth import token_verifier

    try:  # the read side may refuse to run open: say so before any server starts
        token_verifier(settings)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.database_url and settings.redis_url:
        asyncio.run(_run(settings))
        return 0
    if settings.database_url or settings.redis_url:
        print("set both LOYALTY_DATABASE_URL and LOYALTY_REDIS_URL, or neither", file=sys.stderr)
        return 2
    services = EmbeddedServices(settings.data_dir)
    database_url, redis_url = services.start()
    try:
        print(
            f"embedded servers running (data in {settings.data_dir}):\n"
            f"  LOYALTY_DATABASE_URL={database_url}\n  LOYALTY_REDIS_URL={redis_url}\n"
            f"publish with: redis-cli -u {redis_url} "
            f"XADD {settings.stream_prefix}.points '*' data '{{...}}'",
            flush=True,
        )
        asyncio.run(_run(settings.with_urls(database_url, redis_url)))
    finally:
        services.stop()
    return 0


async def _migrate(settings: Settings) -> None:
    from loyalty_progress.store import migrate
    from loyalty_progress.store.database import create_engine

    assert settings.database_url is not None
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def cmd_migrate(settings: Settings) -> int:
    if not settings.database_url:
        print("LOYALTY_DATABASE_URL is not set", file=sys.stderr)
        return 2
    asyncio.run(_migrate(settings))
    print("migrations applied", flush=True)
    return 0


async def _apply_definitions(settings: Settings, paths: list[Path]) -> int:
    from loyalty_progress.definitions.loader import load_definitions
    from loyalty_progress.store.challenges import check_challenge_set
    from loyalty_progress.store.database import create_engine
    from loyalty_progress.store.definitions import apply_definitions

    try:
        loaded = load_definitions(paths)
    except DefinitionError as exc:
        print(f"nothing applied: {exc}", file=sys.stderr)
        return 1
    assert settings.database_url is not None
    engine = create_engine(settings.database_url, pool_size=1)
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
        print(f"{r.kind:<20} {r.club:<20} {r.code:<30} {state}")
    return 0


async def _list_definitions(settings: Settings) -> int:
    from loyalty_progress.store.database import create_engine
    from loyalty_progress.store.definitions import latest_definitions

    assert settings.database_url is not None
    engine = create_engine(settings.database_url, pool_size=1)
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
    from redis.asyncio import Redis

    from loyalty_progress.store.database import create_engine
    from loyalty_progress.worker.definitions import DefinitionsCache
    from loyalty_progress.worker.relay import OutboxRelay
    from loyalty_progress.worker.rules import time_rules
    from loyalty_progress.worker.scheduler import tick_once

    assert settings.database_url is not None
    now = at or Clock(settings.now).now()
    engine = create_engine(settings.database_url, pool_size=2)
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


def _timestamp(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{raw!r} needs a UTC offset")
    return value


def _needs_database(settings: Settings) -> bool:
    if settings.database_url:
        return True
    print("LOYALTY_DATABASE_URL is not set", file=sys.stderr)
    return False


# Commands that live beside their feature. Each module has `register(commands)`, which adds
# its sub-parser with `set_defaults(handler=...)`; the handler takes (args, settings) and
# returns the exit code.
FEATURE_COMMANDS: tuple[str, ...] = (
    "loyalty_progress.apidocs",
    "loyalty_progress.demo",
    "loyalty_progress.replay.cli",
    "loyalty_progress.deadletter_tools",
)


def build_parser() -> argparse.ArgumentParser:
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
        "apply", help="validate and store definition files (all or nothing)"
    )
    apply.add_argument("files", nargs="+", type=Path)
    definition_commands.add_parser("list", help="the definitions in force")
    tick = commands.add_parser("tick", help="run the time-driven transitions once")
    tick.add_argument("--at", type=_timestamp, help="as of this RFC 3339 instant (default: now)")
    for module in FEATURE_COMMANDS:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args, settings))
    if args.command == "run":
        return cmd_run(settings)
    if args.command == "migrate":
        return cmd_migrate(settings)
    if not _needs_database(settings):
        return 2
    if args.command == "definitions" and args.definitions_command == "apply":
        return asyncio.run(_apply_definitions(settings, args.files))
    if args.command == "definitions":
        return asyncio.run(_list_definitions(settings))
    if args.command == "tick":
        return asyncio.run(_tick(settings, args.at))
    return 2
