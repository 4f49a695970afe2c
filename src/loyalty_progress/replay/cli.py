"""`loyalty-progress replay ...`: replay a file or a stream range, show a job's status,
recompute a challenge or an edition.

    loyalty-progress replay FILE.jsonl [--bulk-size N] [--at TIMESTAMP]
    loyalty-progress replay --from-stream NAME --since ID [--until ID] [--bulk-size N]
    loyalty-progress replay status JOB_ID
    loyalty-progress replay recompute (--challenge CODE | --edition CODE) [--club SLUG]

The report (JSON) goes to stdout; progress goes to stderr (a bar on a terminal, one line
per bulk elsewhere). Exit codes: 0 done, 1 done but some events failed to apply (or the
job stopped early), 2 usage or configuration error, 3 no such job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.local_services import locate, ready_engine
from loyalty_progress.replay import DEFAULT_BULK_SIZE
from loyalty_progress.replay.report import progress_for

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

USAGE = """\
loyalty-progress replay FILE.jsonl [--bulk-size N] [--at TIMESTAMP]
       loyalty-progress replay --from-stream NAME --since ID [--until ID] [--bulk-size N]
       loyalty-progress replay status JOB_ID
       loyalty-progress replay recompute (--challenge CODE | --edition CODE) [--club SLUG]"""

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_NO_JOB = 0, 1, 2, 3


def _timestamp(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an RFC 3339 timestamp") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{raw!r} needs a UTC offset")
    return value


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "replay",
        help="replay historical events (file or stream range), show a job, recompute",
        usage=USAGE,
        description=(
            "Apply historical events through the worker's own batch transaction, in bulks, "
            "and print an import-style job report (stored in PostgreSQL: `replay status "
            "JOB_ID` reads it while the job runs). `recompute` rebuilds one challenge or "
            "edition from the stored events under the definitions now in force. "
            "See docs/replay.md."
        ),
    )
    parser.add_argument(
        "words",
        nargs="*",
        metavar="FILE.jsonl | status JOB_ID | recompute",
        help="a JSONL file of input events (each with a `stream` field), or a sub-command",
    )
    parser.add_argument(
        "--bulk-size",
        type=_positive,
        default=DEFAULT_BULK_SIZE,
        help=f"events per bulk (default {DEFAULT_BULK_SIZE}); each bulk commits on its own",
    )
    parser.add_argument(
        "--from-stream",
        choices=[s.value for s in InputStream],
        help="replay a range of this input stream (<prefix>.<name>), read with XRANGE",
    )
    parser.add_argument("--since", help="first stream entry id of the range (inclusive)")
    parser.add_argument("--until", help="last stream entry id of the range (inclusive)")
    parser.add_argument(
        "--at",
        type=_timestamp,
        help="apply as of this RFC 3339 instant (default: LOYALTY_NOW, else the real clock)",
    )
    parser.add_argument("--challenge", metavar="CODE", help="recompute: this challenge")
    parser.add_argument("--edition", metavar="CODE", help="recompute: this attendance edition")
    parser.add_argument("--club", help="recompute: the club, when the code exists in several")
    parser.set_defaults(handler=handle)


class UsageError(Exception):
    pass


def _check(args: argparse.Namespace) -> str:
    """Which form was asked for ("file", "stream", "status", "recompute")."""
    words: list[str] = args.words
    recompute_opts = args.challenge or args.edition or args.club
    stream_opts = args.from_stream or args.since or args.until
    if words[:1] == ["status"]:
        if len(words) != 2 or not words[1].isdigit():
            raise UsageError("usage: loyalty-progress replay status JOB_ID (a number)")
        return "status"
    if words[:1] == ["recompute"]:
        if len(words) != 1 or stream_opts:
            raise UsageError("recompute takes only --challenge/--edition, --club and --at")
        if bool(args.challenge) == bool(args.edition):
            raise UsageError("recompute needs exactly one of --challenge CODE, --edition CODE")
        return "recompute"
    if recompute_opts:
        raise UsageError("--challenge, --edition and --club go with `replay recompute`")
    if args.from_stream:
        if words:
            raise UsageError("give either FILE.jsonl or --from-stream, not both")
        if not args.since:
            raise UsageError("--from-stream needs --since ID (use 0 or - for the beginning)")
        return "stream"
    if stream_opts:
        raise UsageError("--since and --until go with --from-stream NAME")
    if len(words) != 1:
        raise UsageError(f"usage: {USAGE}")
    return "file"


def handle(args: argparse.Namespace, settings: Settings) -> int:
    try:
        form = _check(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if form == "file" and not Path(args.words[0]).is_file():
        print(f"no such file: {args.words[0]}", file=sys.stderr)
        return EXIT_USAGE
    # Redis: needed to read a stream range; otherwise only to publish the outbox rows a job
    # writes (without it the workers' outbox sweep does).
    settings = locate(settings, redis=form == "stream")
    if form == "status":
        return asyncio.run(_status(settings, int(args.words[1]), sys.stdout))
    if form == "recompute":
        return asyncio.run(_recompute(settings, args, sys.stdout))
    return asyncio.run(_replay(settings, args, form, sys.stdout, sys.stderr))


@asynccontextmanager
async def _services(
    settings: Settings, *, with_redis: bool = True
) -> AsyncIterator[tuple[AsyncEngine, Redis | None]]:
    """The database, and Redis when configured (to publish the outbox rows a job writes;
    without it the workers' outbox sweep publishes them)."""
    from redis.asyncio import Redis  # deferred: 53 ms, keeps `replay --help` at 0.05 s

    engine = await ready_engine(settings, pool_size=2)
    redis: Redis | None = None
    if with_redis and settings.redis_url:
        redis = Redis.from_url(settings.redis_url)
    try:
        yield engine, redis
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def _print(report: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(report, indent=2, default=str) + "\n")
    out.flush()


async def _status(settings: Settings, job_id: int, out: TextIO) -> int:
    from loyalty_progress.store.replay_jobs import read_report  # deferred: 0.2 s

    async with _services(settings, with_redis=False) as (engine, _), engine.connect() as conn:
        report = await read_report(conn, job_id)
    if report is None:
        print(f"replay job {job_id} not found", file=sys.stderr)
        return EXIT_NO_JOB
    _print(report, out)
    return EXIT_OK


async def _replay(
    settings: Settings, args: argparse.Namespace, form: str, out: TextIO, err: TextIO
) -> int:
    # Deferred: the job, its sources and the retry take 0.36 s to import (store, Redis).
    from redis.exceptions import ResponseError

    from loyalty_progress.replay.job import ReplayJob
    from loyalty_progress.replay.source import JsonlFile, Source, StreamRange
    from loyalty_progress.worker.retry import ShuttingDown

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with _services(settings) as (engine, redis):
        source: Source
        if form == "file":
            source = JsonlFile(Path(args.words[0]))
        else:
            assert redis is not None
            stream = InputStream(args.from_stream)
            key = settings.stream(stream.value)
            source = StreamRange(redis, stream, key, args.since, args.until)
        job = ReplayJob(
            engine,
            settings,
            redis=redis,
            clock=Clock(args.at or settings.now),
            progress=progress_for(err),
            stopping=stopping,
        )
        try:
            report = await job.run(source, args.bulk_size)
        except ResponseError as exc:
            print(f"cannot read {source.description}: {exc}", file=err)
            return EXIT_USAGE
        except ShuttingDown:
            print("replay interrupted; the job is marked failed", file=err)
            return EXIT_PROBLEMS
    _print(report, out)
    ok = report["status"] == "finished" and report["events_failed_number"] == 0
    return EXIT_OK if ok else EXIT_PROBLEMS


async def _recompute(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from loyalty_progress.replay.recompute import Recompute, RecomputeError  # deferred: 0.37 s

    async with _services(settings) as (engine, redis):
        recompute = Recompute(engine, settings, redis=redis, clock=Clock(args.at or settings.now))
        try:
            if args.challenge:
                report = await recompute.challenge(args.challenge, args.club)
            else:
                report = await recompute.edition(args.edition, args.club)
        except RecomputeError as exc:
            print(f"nothing recomputed: {exc}", file=sys.stderr)
            return EXIT_USAGE
    _print(report, out)
    return EXIT_OK


__all__ = ["USAGE", "handle", "register"]
