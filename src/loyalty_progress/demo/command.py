"""The `demo` sub-command: options, finding the services, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys

from loyalty_progress.config import Settings
from loyalty_progress.definitions.errors import DefinitionError
from loyalty_progress.local_services import ServiceError, locate
from loyalty_progress.safe_text import redact_urls


def _members(raw: str) -> int:
    from loyalty_progress.demo.scenario import ROLES  # deferred: 24 ms, for `demo --help`

    value = int(raw)
    if not len(ROLES) <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be from {len(ROLES)} to 1000, got {value}")
    return value


def _non_negative(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {raw}")
    return value


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "demo",
        help="publish a realistic story into a running worker and print what comes out",
        description="Publishes a few simulated weeks of shopping (receipts, points, "
        "vouchers, opt-ins) into the input streams of a running worker, runs the "
        "scheduler at the story's instants, and prints the notifications and rewards as "
        "they come out, then each member's progress. Without LOYALTY_DATABASE_URL and "
        "LOYALTY_REDIS_URL it uses the embedded servers of a running `loyalty-progress run`.",
    )
    parser.add_argument(
        "--members", type=_members, default=3, help="members in the story (default 3)"
    )
    parser.add_argument(
        "--speed",
        type=_non_negative,
        default=4.0,
        help="simulated days per second (default 4; 0 publishes without pauses)",
    )
    parser.add_argument(
        "--no-wait",
        dest="speed",
        action="store_const",
        const=0.0,
        help="publish without pauses (same as --speed 0)",
    )
    parser.add_argument(
        "--timeout",
        type=_non_negative,
        default=60.0,
        help="seconds to wait for the worker's results once all is published (default 60)",
    )
    parser.add_argument(
        "--no-inputs",
        dest="show_inputs",
        action="store_false",
        help="print only what comes out, not the events published",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Deferred: the runner, Redis and SQLAlchemy take 0.3 s to import, `demo --help` 0.05 s.
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import DBAPIError

    from loyalty_progress.demo.runner import DemoFailed, DemoOptions, run_demo

    worker_log = logging.getLogger("loyalty_progress.worker")
    if worker_log.getEffectiveLevel() == logging.INFO:
        # The ticks log each run at INFO: noise between the story's lines (DEBUG keeps it).
        worker_log.setLevel(logging.WARNING)
    options = DemoOptions(
        members=args.members, speed=args.speed, timeout=args.timeout, show_inputs=args.show_inputs
    )
    try:
        asyncio.run(run_demo(locate(settings, database=True), options, sys.stdout))
    except (ServiceError, DemoFailed, DefinitionError) as exc:
        print(f"demo failed: {redact_urls(str(exc))}", file=sys.stderr)
        return 1
    except (RedisConnectionError, DBAPIError, ConnectionError, socket.gaierror) as exc:
        reason = redact_urls(str(exc))
        print(f"demo failed: cannot reach PostgreSQL or Redis: {reason}", file=sys.stderr)
        return 1
    return 0
