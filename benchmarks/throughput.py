"""Throughput, end-to-end latency and exactness of one `loyalty-progress` worker process.

What it measures, for every run and every batch size (`LOYALTY_BATCH_SIZE`):

* **Sustained throughput**: distinct events applied / seconds, where the seconds run from
  the first XADD (the id of the first input entry) until the moment every entry of the
  four input streams is delivered and acknowledged (group `last-delivered-id` is the
  last published entry and `pending` is 0), read with Redis `TIME`. Both ends use the
  Redis clock. All events are published as fast as pipelined XADDs allow, so the worker
  is saturated from the first second: this is capacity, not a comfortable operating point.
* **End-to-end latency** p50 / p99: for every notification the worker publishes,
  (notification entry id ms) - (entry id ms of the input event in its `caused_by`).
  Both are Redis timestamps, so there is no clock skew. Under a flood the number is
  dominated by queueing (how long an event waited behind the backlog); use `--rate` to
  publish at a fixed pace below capacity to see the latency of a non-saturated worker.
* **Exactness**: per-member totals in PostgreSQL (sums over `member_daily_totals`, distinct
  stores from `member_store_days`, gauges from `member_gauges`) against totals computed
  here in Python from the published events with the SPEC §1 semantics; receipt states;
  the number of processed events; the notifications (one per receipt that reached
  `approved`, plus one per receipt rejected from pending or first seen as rejected; no
  id twice; `caused_by` the event that caused the transition); nothing dead-lettered.
  Any difference makes the run fail and the script exit 1.

Each run gets a fresh database (`lp_bench_<random>`, dropped at the end) and a fresh stream
prefix (its Redis keys deleted at the end), migrated with `python -m loyalty_progress
migrate`, and ONE worker process (`python -m loyalty_progress run`) stopped with SIGTERM.

The workload is deterministic (`--seed`): receipts (pending then approved, some rejected,
refunded, left pending, approved directly, re-sent, or with statuses out of order; stores
and items), points (earned, redeemed, expired, adjusted, mostly with a balance; some
balances with the same instant as the member's previous one, so the event-id tie-break
matters), voucher subscriptions and redemptions, member events (tier changes, opt-in/out,
groups), in several clubs and UTC offsets, skewed towards active members, plus ~2 %
exact duplicates (the same entry published again, sometimes in the same batch).

Run `python benchmarks/throughput.py --help`; see benchmarks/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import asyncpg
import hiredis
import msgspec
from redis.asyncio import Redis
from redis.asyncio.connection import SSLConnection, parse_url
from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
INPUT_STREAMS: Final = ("receipts", "points", "vouchers", "members")
GROUP: Final = "progress-worker"
RANK: Final = {"pending": 0, "approved": 1, "rejected": 2, "refunded": 3}
TOTAL_COLUMNS: Final = (
    "points_earned",
    "points_redeemed",
    "points_expired",
    "points_adjusted",
    "receipts_approved",
    "receipt_value",
    "receipts_pending",
    "pending_value",
    "vouchers_subscribed",
    "vouchers_redeemed",
)
COMPARED: Final = (*TOTAL_COLUMNS, "distinct_stores", "balance", "tier")
# A run is flagged as disturbed when the machine was busier than this without us (before
# the run), or when processes other than ours used this share of the CPU during it.
QUIET: Final = 0.15

MemberKey = tuple[str, str]


# --------------------------------------------------------------------------- workload


@dataclass(slots=True)
class Planned:
    """One entry to publish. Duplicates share `event_id` and `body` with their original."""

    slot: float
    seq: int
    stream: str
    event_id: str
    body: dict[str, Any]
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Workload:
    entries: list[Planned]  # in publish order
    members: int
    duplicates: int

    @property
    def distinct(self) -> int:
        return len(self.entries) - self.duplicates


CLUBS: Final = ("infinity-mall", "harbor-plaza", "north-gate")
OFFSETS: Final = (
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
)
BASE_TIME: Final = datetime(2026, 10, 1, tzinfo=UTC)
SPAN: Final = timedelta(days=30)
RECEIPT_FATES: Final = (
    (("pending", "approved"), 0.70),
    (("approved",), 0.09),
    (("pending", "approved", "refunded"), 0.05),
    (("pending", "rejected"), 0.09),
    (("pending",), 0.07),
)


class Generator:
    """Builds the workload with one seeded `random.Random`: same arguments, same events."""

    def __init__(self, seed: int, members: int) -> None:
        self.rng = random.Random(seed)
        self.member_count = members
        self.planned: list[Planned] = []
        self.stores = {c: [f"{c[:5]}-store-{i:03d}" for i in range(150)] for c in CLUBS}
        self.offers = [f"offer-{i:02d}" for i in range(50)]
        self.skus = [f"sku-{i:04d}" for i in range(2000)]
        self.favourites: dict[int, list[str]] = {}
        self.balances: dict[int, int] = {}
        self.last_points_at: dict[int, datetime] = {}
        self.last_tier_at: dict[int, datetime] = {}

    # helpers
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _member(self) -> int:
        # Skewed: a few members are much more active than most (hot rows, like real life).
        return int(self.member_count * self.rng.random() ** 1.6)

    def _member_fields(self, member: int, at: datetime) -> dict[str, Any]:
        return {
            "club": CLUBS[member % len(CLUBS)],
            "member_id": f"m{member:07d}",
            "occurred_at": at.astimezone(self.rng.choice(OFFSETS)).isoformat(),
        }

    def _occurred(self, slot: float) -> datetime:
        # Events arrive up to 3 h after they happen; whole seconds.
        at = BASE_TIME + SPAN * min(slot, 1.0) - timedelta(seconds=self.rng.randint(0, 3 * 3600))
        return at.replace(microsecond=0)

    def _later(self, slot: float, mean: float = 0.002) -> float:
        return slot + self.rng.expovariate(1 / mean)

    def _add(self, slot: float, stream: str, member: int, at: datetime, **fields: Any) -> None:
        event_id = self._uuid()
        body = {"event_id": event_id, **self._member_fields(member, at), **fields}
        self.planned.append(Planned(slot, len(self.planned), stream, event_id, body))

    # episodes
    def receipt(self, slot: float) -> None:
        rng = self.rng
        member = self._member()
        club = CLUBS[member % len(CLUBS)]
        if member not in self.favourites:
            self.favourites[member] = rng.sample(self.stores[club], rng.randint(1, 4))
        fate = rng.choices([f[0] for f in RECEIPT_FATES], [f[1] for f in RECEIPT_FATES])[0]
        cents = rng.randint(100, 25_000)
        amount: str | int = f"{Decimal(cents) / 100:.2f}"
        if rng.random() < 0.15:
            amount = cents // 100  # a JSON number, whole currency units
        store = rng.choice(self.favourites[member]) if rng.random() < 0.9 else None
        items = rng.sample(self.skus, rng.randint(0, 4))
        receipt_id = f"rcpt-{self._uuid()}"
        at = self._occurred(slot)
        slots = [slot]
        for _ in fate[1:]:
            slots.append(self._later(slots[-1]))
        if len(slots) > 1 and rng.random() < 0.05:  # a later status published first
            i = rng.randrange(len(slots) - 1)
            slots[i], slots[i + 1] = slots[i + 1], slots[i]
        statuses = list(fate)
        if rng.random() < 0.02:  # the same status sent again (new event id: a no-op)
            statuses.append(rng.choice(fate))
            slots.append(self._later(max(slots)))
        for status, when in zip(statuses, slots, strict=True):
            value: str | int = amount
            if status == "approved" and isinstance(amount, str) and rng.random() < 0.03:
                value = f"{Decimal(rng.randint(100, 25_000)) / 100:.2f}"  # validated amount
            fields: dict[str, Any] = {"receipt_id": receipt_id, "status": status, "amount": value}
            if store is not None:
                fields["store_id"] = store
            if items:
                fields["items"] = items
            self._add(when, "receipts", member, at, **fields)

    def points(self, slot: float) -> None:
        rng = self.rng
        member = self._member()
        balance = self.balances.get(member, 0)
        kind = rng.choices(("earned", "redeemed", "expired", "adjusted"), (70, 18, 7, 5))[0]
        if kind == "earned":
            amount = rng.randint(1, 500)
        elif kind == "redeemed":
            amount = rng.randint(50, 1000)
        elif kind == "expired":
            amount = rng.randint(1, 200)
        else:
            amount = rng.randint(1, 100)
        if kind in ("redeemed", "expired") and amount > balance:
            kind = "earned"
        balance += -amount if kind in ("redeemed", "expired") else amount
        self.balances[member] = balance
        at = self._occurred(slot)
        previous = self.last_points_at.get(member)
        if previous is not None and rng.random() < 0.03:
            at = previous  # same instant as the member's previous points event: a tie
        self.last_points_at[member] = at
        fields: dict[str, Any] = {"kind": kind, "amount": amount}
        if rng.random() < 0.9:
            fields["balance"] = balance
        self._add(slot, "points", member, at, **fields)

    def voucher(self, slot: float) -> None:
        member = self._member()
        voucher_id = f"v-{self._uuid()}"
        offer = self.rng.choice(self.offers) if self.rng.random() < 0.8 else None
        extra = {"offer_id": offer} if offer else {}
        self._add(
            slot,
            "vouchers",
            member,
            self._occurred(slot),
            kind="subscribed",
            voucher_id=voucher_id,
            **extra,
        )
        if self.rng.random() < 0.5:
            later = self._later(slot, 0.01)
            self._add(
                later,
                "vouchers",
                member,
                self._occurred(later),
                kind="redeemed",
                voucher_id=voucher_id,
                **extra,
            )

    def member_event(self, slot: float) -> None:
        rng = self.rng
        member = self._member()
        kind = rng.choices(
            ("tier_changed", "opted_in", "opted_out", "joined_group", "left_group"),
            (45, 25, 8, 14, 8),
        )[0]
        at = self._occurred(slot)
        fields: dict[str, Any] = {"kind": kind}
        if kind == "tier_changed":
            previous = self.last_tier_at.get(member)
            if previous is not None and rng.random() < 0.03:
                at = previous
            self.last_tier_at[member] = at
            fields["tier"] = rng.randint(0, 5)
        elif kind in ("opted_in", "opted_out"):
            fields["challenge_code"] = f"challenge-{rng.randint(1, 12)}"
            if kind == "opted_in" and rng.random() < 0.2:
                fields["charity_code"] = f"charity-{rng.randint(1, 5)}"
        else:
            fields["group_code"] = f"group-{rng.randint(1, 400)}"
        self._add(slot, "members", member, at, **fields)

    def build(self, events: int, duplicate_share: float) -> Workload:
        duplicates = round(events * duplicate_share)
        distinct = events - duplicates
        episodes = (self.receipt, self.points, self.voucher, self.member_event)
        weights = (25, 30, 8, 8)
        while len(self.planned) < distinct:
            self.rng.choices(episodes, weights)[0](self.rng.random())
        del self.planned[distinct:]
        for original in self.rng.sample(self.planned, duplicates):
            # Half land right after the original (often in its batch), half much later.
            near = self.rng.random() < 0.5
            delay = self.rng.uniform(0, 0.0001) if near else self.rng.uniform(0, 0.2)
            self.planned.append(
                Planned(
                    original.slot + delay,
                    len(self.planned),
                    original.stream,
                    original.event_id,
                    original.body,
                )
            )
        encoder = msgspec.json.Encoder()
        encoded: dict[str, bytes] = {}
        for entry in self.planned:
            data = encoded.get(entry.event_id)
            if data is None:
                data = encoded[entry.event_id] = encoder.encode(entry.body)
            entry.data = data
        entries = sorted(self.planned, key=lambda p: (p.slot, p.seq))
        return Workload(entries=entries, members=self.member_count, duplicates=duplicates)


# --------------------------------------------------------------------------- oracle


@dataclass(slots=True)
class MemberTotals:
    points_earned: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    points_adjusted: int = 0
    receipts_approved: int = 0
    receipt_value: Decimal = Decimal(0)
    receipts_pending: int = 0
    pending_value: Decimal = Decimal(0)
    vouchers_subscribed: int = 0
    vouchers_redeemed: int = 0
    distinct_stores: int = 0
    balance: int | None = None
    tier: int | None = None


@dataclass(frozen=True, slots=True)
class ReceiptState:
    status: str
    member: MemberKey
    amount: Decimal
    store_id: str | None
    event_id: str


@dataclass(slots=True)
class Expected:
    members: dict[MemberKey, MemberTotals]
    receipts: dict[tuple[str, str], str]  # (club, receipt_id) -> final status
    # (type, club, receipt_id) -> event id that caused it
    notifications: dict[tuple[str, str, str], str]
    distinct_events: int


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def expected_outcome(workload: Workload) -> Expected:
    """SPEC §1 semantics, applied in publish order (each stream is consumed in order)."""
    totals: dict[MemberKey, MemberTotals] = {}
    receipts: dict[tuple[str, str], ReceiptState] = {}
    notifications: dict[tuple[str, str, str], str] = {}
    gauges: dict[tuple[str, MemberKey], tuple[datetime, str, int]] = {}
    seen: set[str] = set()
    for entry in workload.entries:
        if entry.event_id in seen:
            continue
        seen.add(entry.event_id)
        body = entry.body
        member: MemberKey = (body["club"], body["member_id"])
        mine = totals.setdefault(member, MemberTotals())
        if entry.stream == "receipts":
            key = (body["club"], body["receipt_id"])
            before = receipts.get(key)
            if before is not None and RANK[body["status"]] <= RANK[before.status]:
                continue  # stale or repeated status: no transition
            after = ReceiptState(
                status=body["status"],
                member=before.member if before is not None else member,
                amount=Decimal(str(body["amount"])),
                store_id=body.get("store_id"),
                event_id=entry.event_id,
            )
            receipts[key] = after
            if after.status == "approved":
                notifications[("receipt_approved", *key)] = entry.event_id
            elif after.status == "rejected" and (before is None or before.status == "pending"):
                notifications[("receipt_rejected", *key)] = entry.event_id
        elif entry.stream == "points":
            column = f"points_{body['kind']}"
            setattr(mine, column, getattr(mine, column) + body["amount"])
            if "balance" in body:
                _gauge(gauges, "balance", member, body, entry.event_id, body["balance"])
        elif entry.stream == "vouchers":
            if body["kind"] == "subscribed":
                mine.vouchers_subscribed += 1
            else:
                mine.vouchers_redeemed += 1
        elif body["kind"] == "tier_changed":
            _gauge(gauges, "tier", member, body, entry.event_id, body["tier"])
    stores: dict[MemberKey, set[str]] = {}
    for state in receipts.values():
        owner = totals.setdefault(state.member, MemberTotals())
        if state.status == "approved":
            owner.receipts_approved += 1
            owner.receipt_value += state.amount
            if state.store_id is not None:
                stores.setdefault(state.member, set()).add(state.store_id)
        elif state.status == "pending":
            owner.receipts_pending += 1
            owner.pending_value += state.amount
    for member, names in stores.items():
        totals[member].distinct_stores = len(names)
    for (name, member), (_, _, value) in gauges.items():
        setattr(totals[member], name, value)
    return Expected(
        members=totals,
        receipts={k: v.status for k, v in receipts.items()},
        notifications=notifications,
        distinct_events=len(seen),
    )


def _gauge(
    gauges: dict[tuple[str, MemberKey], tuple[datetime, str, int]],
    name: str,
    member: MemberKey,
    body: Mapping[str, Any],
    event_id: str,
    value: int,
) -> None:
    """Latest by occurred_at (the instant), then by event id."""
    candidate = (_instant(body["occurred_at"]), event_id, value)
    current = gauges.get((name, member))
    if current is None or candidate[:2] > current[:2]:
        gauges[(name, member)] = candidate


# --------------------------------------------------------------------------- services


def database_url_for(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def entry_ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def resp_command(*parts: bytes) -> bytes:
    """One command in the Redis protocol (RESP), ready to write to the socket."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out += (b"$%d\r\n" % len(part), part, b"\r\n")
    return b"".join(out)


class RawRedis:
    """A bare connection that writes pre-encoded commands and parses replies with hiredis.

    The publisher runs on the same 2 cores as the worker: building XADDs with redis-py costs
    ~20 µs each in this process, pre-encoded ones cost almost nothing while measuring."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = hiredis.Reader()

    @classmethod
    async def connect(cls, url: str) -> RawRedis:
        params = parse_url(url)
        if "path" in params:
            reader, writer = await asyncio.open_unix_connection(params["path"])
        else:
            tls = params.get("connection_class") is SSLConnection
            reader, writer = await asyncio.open_connection(
                params.get("host", "127.0.0.1"),
                int(params.get("port", 6379)),
                ssl=ssl.create_default_context() if tls else None,
            )
        raw = cls(reader, writer)
        setup: list[bytes] = []
        if params.get("password"):
            credentials = [str(params["password"]).encode()]
            if params.get("username"):
                credentials.insert(0, str(params["username"]).encode())
            setup.append(resp_command(b"AUTH", *credentials))
        if params.get("db"):
            setup.append(resp_command(b"SELECT", str(params["db"]).encode()))
        if setup:
            writer.write(b"".join(setup))
            await raw.replies(len(setup))
        return raw

    async def replies(self, count: int) -> list[Any]:
        """The next `count` replies, in order; a Redis error reply raises."""
        result: list[Any] = []
        while len(result) < count:
            reply = self.parser.gets()
            if reply is False:
                data = await self.reader.read(1 << 16)
                if not data:
                    raise ConnectionError("Redis closed the connection")
                self.parser.feed(data)
                continue
            if isinstance(reply, hiredis.ReplyError):
                raise RuntimeError(f"Redis error: {reply}")
            result.append(reply)
        return result

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class WorkerProcess:
    """`python -m loyalty_progress run` with its output in a temporary file."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loyalty_progress", "run"],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def stop(self, timeout: float = 30.0) -> tuple[int | None, float]:
        """SIGTERM, then wait; SIGKILL after `timeout`. Returns (exit code, seconds)."""
        started = time.monotonic()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._log.close()
                return None, time.monotonic() - started
        self._log.close()
        return self.process.returncode, time.monotonic() - started


# --------------------------------------------------------------------------- CPU accounting


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):
        return 100


def _process_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (category source, user+system ticks) for every process we may read."""
    result: dict[int, tuple[str, int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return result
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            rest = stat[stat.rindex(")") + 2 :].split()
            ticks = int(rest[11]) + int(rest[12])
            if comm.startswith("postgres"):
                comm = "postgres " + (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace"
                )
        except (OSError, ValueError, IndexError):
            continue
        result[int(entry.name)] = (comm, ticks)
    return result


def _machine_ticks() -> tuple[int, int, int]:
    """(busy, total, stolen) jiffies over all CPUs, from /proc/stat. Busy excludes the time
    a hypervisor gave our virtual CPUs to someone else (steal)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0, 0
    fields += [0] * (8 - len(fields))
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return total - idle - fields[7], total, fields[7]


@dataclass(slots=True)
class CpuSnapshot:
    processes: dict[int, tuple[str, int]]
    busy: int
    total: int
    stolen: int

    @classmethod
    def take(cls) -> CpuSnapshot:
        busy, total, stolen = _machine_ticks()
        return cls(_process_ticks(), busy, total, stolen)


def cpu_breakdown(
    before: CpuSnapshot, after: CpuSnapshot, worker_pid: int, database: str
) -> dict[str, float]:
    """CPU seconds spent between two snapshots, by who spent them."""
    hz = _clock_ticks()
    spent: dict[str, float] = {
        "worker": 0.0,
        "postgres (bench db)": 0.0,
        "postgres (other)": 0.0,
        "redis": 0.0,
        "benchmark": 0.0,
    }
    for pid, (comm, ticks) in after.processes.items():
        start = before.processes.get(pid, (comm, 0))[1]
        seconds = (ticks - start) / hz
        if pid == worker_pid:
            spent["worker"] += seconds
        elif pid == os.getpid():
            spent["benchmark"] += seconds
        elif comm.startswith("postgres"):
            key = "postgres (bench db)" if f" {database} " in comm else "postgres (other)"
            spent[key] += seconds
        elif comm.startswith("redis"):
            spent["redis"] += seconds
    machine = (after.busy - before.busy) / hz
    spent["everything else"] = max(0.0, machine - sum(spent.values()))
    spent["stolen by the hypervisor"] = (after.stolen - before.stolen) / hz
    spent["machine busy"] = machine
    spent["machine capacity"] = (after.total - before.total) / hz
    return {k: round(v, 2) for k, v in spent.items()}


# --------------------------------------------------------------------------- one run


@dataclass(slots=True)
class RunResult:
    run: int
    batch_size: int
    events: int
    distinct: int
    duplicates: int
    members: int
    seconds: float
    events_per_s: float
    publish_seconds: float
    p50_ms: float | None
    p99_ms: float | None
    notifications: int
    expected_notifications: int
    exact: bool
    problems: list[str] = field(default_factory=list)
    mismatched_members: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    background_busy: float = 0.0
    worker_exit: int | None = None
    stop_seconds: float = 0.0
    disturbed: bool = False
    # per input stream: seconds from the first XADD until that stream was drained
    stream_seconds: dict[str, float] = field(default_factory=dict)
    # every ~250 ms: seconds since the first XADD and entries acknowledged per stream
    progress: list[dict[str, float]] = field(default_factory=list)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Options:
    database_url: str
    redis_url: str
    seed: int
    timeout: float
    rate: float | None
    keep: bool
    wait_quiet: float
    profile_dir: Path | None
    profile_format: str
    chunk: int
    verbose: bool
    definitions: Path | None = None


class BenchmarkRun:
    def __init__(
        self, options: Options, workload: Workload, expected: Expected, batch_size: int, run: int
    ) -> None:
        self.options = options
        self.workload = workload
        self.expected = expected
        self.batch_size = batch_size
        self.run_no = run
        token = secrets.token_hex(4)
        self.database = f"lp_bench_{token}"
        self.prefix = f"lpbench-{token}"
        self.consumer = f"bench-{token}"
        self.db_url = database_url_for(options.database_url, self.database)
        self.redis = Redis.from_url(options.redis_url)
        self.entry_ids: dict[str, bytes] = {}  # event id -> first entry id
        self.last_ids: dict[str, bytes] = {}
        self.first_ms = 0
        self.last_publish_ms = 0

    def stream(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def log(self, message: str) -> None:
        if self.options.verbose:
            print(f"  [{self.batch_size:>5} #{self.run_no}] {message}", file=sys.stderr, flush=True)

    def worker_env(self, http_port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            LOYALTY_DATABASE_URL=self.db_url,
            LOYALTY_REDIS_URL=self.options.redis_url,
            LOYALTY_STREAM_PREFIX=self.prefix,
            LOYALTY_CONSUMER_GROUP=GROUP,
            LOYALTY_CONSUMER_NAME=self.consumer,
            LOYALTY_BATCH_SIZE=str(self.batch_size),
            LOYALTY_HTTP_HOST="127.0.0.1",
            LOYALTY_HTTP_PORT=str(http_port),
            LOYALTY_LOG_LEVEL="WARNING",
        )
        env.pop("LOYALTY_NOW", None)
        if self.options.definitions is not None:
            # The workload's month is over on the real clock: judged at its end, receipts
            # still count for attendance instead of arriving after the extra period.
            env["LOYALTY_NOW"] = (BASE_TIME + SPAN).isoformat()
        return env

    async def execute(self) -> RunResult:
        admin = await asyncpg.connect(asyncpg_dsn(self.options.database_url))
        worker: WorkerProcess | None = None
        result: RunResult | None = None
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
            port = free_port()
            env = self.worker_env(port)
            migrate = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "loyalty_progress", "migrate"],
                env=env,
                capture_output=True,
                text=True,
            )
            if migrate.returncode != 0:
                raise RuntimeError(f"migrate failed:\n{migrate.stdout}{migrate.stderr}")
            if self.options.definitions is not None:
                applied = await asyncio.to_thread(
                    subprocess.run,
                    [
                        sys.executable,
                        "-m",
                        "loyalty_progress",
                        "definitions",
                        "apply",
                        str(self.options.definitions),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if applied.returncode != 0:
                    raise RuntimeError(f"definitions failed:\n{applied.stdout}{applied.stderr}")
            log_path = Path(tempfile.gettempdir()) / f"{self.prefix}-worker.log"
            worker = WorkerProcess(env, log_path)
            await self.wait_ready(worker, port)
            background = await self.background_busy()
            waited = 0.0
            while background > QUIET and waited < self.options.wait_quiet:
                self.log(f"background CPU {background:.0%} of the machine; waiting for quiet")
                await asyncio.sleep(4)
                background = await self.background_busy()
                waited += 5
            self.log(f"worker {worker.pid} ready; background CPU {background:.0%} of the machine")
            result = await self.measure(worker, background)
            return result
        finally:
            if worker is not None:
                if worker.alive():
                    await worker.stop(timeout=10)
                if result is not None and result.exact and not self.options.keep:
                    worker.log_path.unlink(missing_ok=True)
                else:
                    print(f"worker log kept: {worker.log_path}", file=sys.stderr)
            if not self.options.keep:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                await self.delete_keys()
            else:
                print(f"kept database {self.database} and streams {self.prefix}.*", file=sys.stderr)
            await admin.close()
            await self.redis.aclose()

    async def delete_keys(self) -> None:
        keys = [key async for key in self.redis.scan_iter(match=f"{self.prefix}.*", count=1000)]
        for start in range(0, len(keys), 500):
            await self.redis.delete(*keys[start : start + 500])

    async def wait_ready(self, worker: WorkerProcess, port: int, timeout: float = 90.0) -> None:
        """Wait for `/readyz` 200: migrations current, groups created, subscribers started.

        (The consumer itself cannot be waited for: Redis < 7.2 registers a consumer blocked
        on an empty stream only when the first entry arrives.)"""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{port}/readyz"
        while time.monotonic() < deadline:
            if not worker.alive():
                raise RuntimeError(f"worker exited during start:\n{worker.log_tail()}")
            if await asyncio.to_thread(_http_ok, url):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout:.0f}s:\n{worker.log_tail()}")

    @staticmethod
    async def background_busy(seconds: float = 1.0) -> float:
        """Share of the machine busy while the worker idles: others' load, our noise floor."""
        busy0, total0, stolen0 = _machine_ticks()
        await asyncio.sleep(seconds)
        busy1, total1, stolen1 = _machine_ticks()
        taken = busy1 - busy0 + stolen1 - stolen0
        return taken / (total1 - total0) if total1 > total0 else 0.0

    def encode_commands(self) -> list[bytes]:
        """The XADDs, pre-encoded in chunks of `--chunk` (done before the clock starts)."""
        entries = self.workload.entries
        names = {name: self.stream(name).encode() for name in INPUT_STREAMS}
        return [
            b"".join(
                resp_command(b"XADD", names[e.stream], b"*", b"data", e.data)
                for e in entries[start : start + self.options.chunk]
            )
            for start in range(0, len(entries), self.options.chunk)
        ]

    async def publish(self, chunks: Sequence[bytes]) -> None:
        """Pipelined XADDs in publish order, as fast as possible (or at `--rate` events/s):
        one task writes the chunks, this one reads the entry ids as they come back."""
        entries = self.workload.entries
        rate = self.options.rate
        chunk = self.options.chunk
        connection = await RawRedis.connect(self.options.redis_url)

        async def write() -> None:
            started = time.monotonic()
            for number, blob in enumerate(chunks):
                if rate:
                    ahead = started + number * chunk / rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                connection.writer.write(blob)
                await connection.writer.drain()

        writer = asyncio.create_task(write())
        try:
            ids: list[bytes] = []
            for start in range(0, len(entries), chunk):
                ids += await connection.replies(min(chunk, len(entries) - start))
            await writer
        finally:
            if not writer.done():
                writer.cancel()
            await connection.close()
        for entry, entry_id in zip(entries, ids, strict=True):
            self.entry_ids.setdefault(entry.event_id, entry_id)
            self.last_ids[entry.stream] = entry_id
        self.first_ms = entry_ms(ids[0])
        self.last_publish_ms = max(entry_ms(i) for i in self.last_ids.values())

    async def drained(self) -> tuple[int, set[str], dict[str, int]]:
        """Redis time (ms), the input streams whose published entries are all delivered
        and acknowledged (group `last-delivered-id` = last entry, `pending` = 0), and how
        many entries of each stream are acknowledged so far (`entries-read` - `pending`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.time()
            for name in INPUT_STREAMS:
                pipe.xinfo_groups(self.stream(name))
            replies = await pipe.execute()
        seconds, micros = replies[0]
        done: set[str] = set()
        acked: dict[str, int] = {}
        for name, groups in zip(INPUT_STREAMS, replies[1:], strict=True):
            group = next((g for g in groups if _text(g.get("name")) == GROUP), None)
            if group is None:
                continue
            if group.get("entries-read") is not None:
                acked[name] = int(group["entries-read"]) - int(group.get("pending", 0))
            if int(group.get("pending", 1)) != 0:
                continue
            last = self.last_ids.get(name)
            if last is None or _text(group.get("last-delivered-id")) == _text(last):
                done.add(name)
        return int(seconds) * 1000 + int(micros) // 1000, done, acked

    async def measure(self, worker: WorkerProcess, background: float) -> RunResult:
        chunks = self.encode_commands()
        profiler = self.start_profiler(worker.pid)
        before = CpuSnapshot.take()
        publisher = asyncio.create_task(self.publish(chunks))
        deadline = time.monotonic() + self.options.timeout
        end_ms: int | None = None
        stream_ms: dict[str, int] = {}
        progress: list[tuple[int, dict[str, int]]] = []
        last_sample = 0
        try:
            while True:
                await asyncio.sleep(0.02)
                if not worker.alive():
                    raise RuntimeError(f"worker died during the run:\n{worker.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not drained after {self.options.timeout:.0f}s")
                now_ms, done, acked = await self.drained()
                if now_ms - last_sample >= 250:
                    progress.append((now_ms, acked))
                    last_sample = now_ms
                if publisher.done():
                    publisher.result()
                    for name in done:
                        stream_ms.setdefault(name, now_ms)
                    if len(done) == len(INPUT_STREAMS):
                        end_ms = now_ms
                        progress.append((now_ms, acked))
                        break
        finally:
            if not publisher.done():
                publisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publisher
        after = CpuSnapshot.take()
        self.stop_profiler(profiler)
        assert end_ms is not None
        seconds = max(0.001, (end_ms - self.first_ms) / 1000)
        self.log(f"drained in {seconds:.2f}s; collecting notifications")
        notifications = await self.collect_notifications(worker)
        problems, mismatched = await self.verify(notifications)
        latencies = self.latencies(notifications)
        exit_code, stop_seconds = await worker.stop()
        if exit_code != 0:
            problems.append(f"worker exit code {exit_code} after SIGTERM ({stop_seconds:.1f}s)")
        distinct = self.workload.distinct
        cpu = cpu_breakdown(before, after, worker.pid, self.database)
        others = cpu["everything else"] + cpu["postgres (other)"] + cpu["stolen by the hypervisor"]
        disturbed = background > QUIET or others > QUIET * cpu["machine capacity"]
        return RunResult(
            run=self.run_no,
            batch_size=self.batch_size,
            events=len(self.workload.entries),
            distinct=distinct,
            duplicates=self.workload.duplicates,
            members=self.workload.members,
            seconds=round(seconds, 3),
            events_per_s=round(distinct / seconds, 1),
            publish_seconds=round(max(0.001, (self.last_publish_ms - self.first_ms) / 1000), 3),
            p50_ms=percentile(latencies, 50),
            p99_ms=percentile(latencies, 99),
            notifications=len(notifications),
            expected_notifications=len(self.expected.notifications),
            exact=not problems,
            problems=problems,
            mismatched_members=mismatched,
            cpu_seconds=cpu,
            background_busy=round(background, 3),
            worker_exit=exit_code,
            stop_seconds=round(stop_seconds, 2),
            disturbed=disturbed,
            stream_seconds={
                name: round((stream_ms[name] - self.first_ms) / 1000, 2)
                for name in INPUT_STREAMS
                if name in stream_ms
            },
            progress=[
                {"t": round((at - self.first_ms) / 1000, 2), **acked}
                for at, acked in progress
                if at >= self.first_ms
            ],
        )

    def start_profiler(self, pid: int) -> subprocess.Popen[bytes] | None:
        """py-spy on the worker from the first XADD until drained (needs ptrace rights)."""
        directory = self.options.profile_dir
        if directory is None:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        fmt = self.options.profile_format
        suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[fmt]
        out = directory / f"worker-batch{self.batch_size}-run{self.run_no}.{suffix}"
        local = Path(sys.executable).with_name("py-spy")
        command = str(local) if local.exists() else (shutil.which("py-spy") or "py-spy")
        return subprocess.Popen(
            [command, "record", "--pid", str(pid), "--output", str(out), "--format", fmt,
             "--rate", "200", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    @staticmethod
    def stop_profiler(profiler: subprocess.Popen[bytes] | None) -> None:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            try:
                profiler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                profiler.kill()

    async def collect_notifications(
        self, worker: WorkerProcess, timeout: float = 20.0
    ) -> list[tuple[bytes, dict[str, Any]]]:
        """Wait (the relay publishes after the ack; the sweep catches up) then read all."""
        name = self.stream("notifications")
        wanted = len(self.expected.notifications)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and worker.alive():
            if await self.redis.xlen(name) >= wanted:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # anything beyond the expected number shows up too
        result: list[tuple[bytes, dict[str, Any]]] = []
        start: bytes | str = "-"
        while True:
            batch: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(
                name, min=start, max="+", count=5000
            )  # type: ignore[assignment]
            for entry_id, fields in batch:
                if entry_id == start:
                    continue
                result.append((entry_id, json.loads(fields[b"data"])))
            if len(batch) < 5000:
                return result
            start = batch[-1][0]

    def latencies(self, notifications: Iterable[tuple[bytes, dict[str, Any]]]) -> list[float]:
        values: list[float] = []
        for entry_id, body in notifications:
            for cause in body.get("caused_by") or ():
                source = self.entry_ids.get(cause)
                if source is not None:
                    values.append(float(entry_ms(entry_id) - entry_ms(source)))
                    break
        return values

    async def verify(
        self, notifications: Sequence[tuple[bytes, dict[str, Any]]]
    ) -> tuple[list[str], int]:
        problems: list[str] = []
        conn = await asyncpg.connect(asyncpg_dsn(self.db_url))
        try:
            actual = await load_totals(conn)
            processed = await conn.fetchval("SELECT count(*) FROM processed_events")
            receipts = {
                (r["club"], r["receipt_id"]): r["status"]
                for r in await conn.fetch("SELECT club, receipt_id, status FROM receipts")
            }
        finally:
            await conn.close()
        mismatched, examples = compare_totals(self.expected.members, actual)
        if mismatched:
            problems.append(
                f"{mismatched} of {len(self.expected.members)} members' totals differ, e.g. "
                + "; ".join(examples)
            )
        if processed != self.expected.distinct_events:
            problems.append(
                f"processed_events has {processed} rows, expected {self.expected.distinct_events}"
            )
        bad_receipts = [k for k, v in self.expected.receipts.items() if receipts.get(k) != v]
        if bad_receipts or len(receipts) != len(self.expected.receipts):
            problems.append(
                f"{len(bad_receipts)} receipt states differ ({len(receipts)} rows, expected "
                f"{len(self.expected.receipts)}), e.g. {bad_receipts[:3]}"
            )
        problems.extend(self.check_notifications(notifications))
        dead = await self.redis.xlen(self.stream("deadletter"))
        if dead:
            problems.append(f"{dead} entries dead-lettered")
        return problems, mismatched

    def check_notifications(
        self, notifications: Sequence[tuple[bytes, dict[str, Any]]]
    ) -> list[str]:
        problems: list[str] = []
        ids = [body.get("notification_id") for _, body in notifications]
        repeated = len(ids) - len(set(ids))
        if repeated:
            problems.append(f"{repeated} notification ids published more than once")
        # The oracle knows receipt notifications; with --definitions the challenge and
        # attendance ones come on top (checked above for duplicates only).
        notifications = [n for n in notifications if str(n[1].get("type")).startswith("receipt_")]
        actual: dict[tuple[str, str, str], list[str]] = {}
        for _, body in notifications:
            properties = body.get("properties") or {}
            key = (str(body.get("type")), str(body.get("club")), str(properties.get("receipt_id")))
            actual[key] = list(body.get("caused_by") or [])
        expected = self.expected.notifications
        missing = expected.keys() - actual.keys()
        extra = actual.keys() - expected.keys()
        wrong_cause = [k for k in expected.keys() & actual.keys() if actual[k] != [expected[k]]]
        if len(notifications) != len(expected):
            problems.append(f"{len(notifications)} notifications, expected {len(expected)}")
        if missing:
            problems.append(f"{len(missing)} notifications missing, e.g. {sorted(missing)[:2]}")
        if extra:
            problems.append(f"{len(extra)} unexpected notifications, e.g. {sorted(extra)[:2]}")
        if wrong_cause:
            problems.append(f"{len(wrong_cause)} notifications with a wrong caused_by")
        return problems


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


async def load_totals(conn: asyncpg.Connection) -> dict[MemberKey, MemberTotals]:
    sums = ", ".join(f"sum({c}) AS {c}" for c in TOTAL_COLUMNS)
    totals: dict[MemberKey, MemberTotals] = {}
    for row in await conn.fetch(
        f"SELECT club, member_id, {sums} FROM member_daily_totals GROUP BY club, member_id"
    ):
        mine = totals[(row["club"], row["member_id"])] = MemberTotals()
        for column in TOTAL_COLUMNS:
            value = row[column]
            setattr(mine, column, Decimal(value) if column.endswith("value") else int(value))
    for row in await conn.fetch(
        """
        SELECT club, member_id, count(*) AS stores FROM (
            SELECT club, member_id, store_id FROM member_store_days
            GROUP BY club, member_id, store_id HAVING sum(receipts_approved) > 0) s
        GROUP BY club, member_id
        """
    ):
        totals.setdefault((row["club"], row["member_id"]), MemberTotals()).distinct_stores = int(
            row["stores"]
        )
    for row in await conn.fetch("SELECT club, member_id, balance, tier FROM member_gauges"):
        mine = totals.setdefault((row["club"], row["member_id"]), MemberTotals())
        mine.balance, mine.tier = row["balance"], row["tier"]
    return totals


def compare_totals(
    expected: Mapping[MemberKey, MemberTotals], actual: Mapping[MemberKey, MemberTotals]
) -> tuple[int, list[str]]:
    """Members whose totals differ in any column, and a few examples."""
    empty = MemberTotals()
    mismatched = 0
    examples: list[str] = []
    for member in expected.keys() | actual.keys():
        want, got = expected.get(member, empty), actual.get(member, empty)
        diffs = [
            f"{c} {getattr(got, c)} != {getattr(want, c)}"
            for c in COMPARED
            if getattr(got, c) != getattr(want, c)
        ]
        if diffs:
            mismatched += 1
            if len(examples) < 3:
                examples.append(f"{member[0]}/{member[1]}: " + ", ".join(diffs[:3]))
    return mismatched, examples


# --------------------------------------------------------------------------- reporting


@dataclass(frozen=True, slots=True)
class Summary:
    batch_size: int
    events: int
    members: int
    seconds: float
    events_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    notifications: int
    exact: bool
    runs: int


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(results: Sequence[RunResult], batch_sizes: Sequence[int]) -> list[Summary]:
    rows: list[Summary] = []
    for size in batch_sizes:
        mine = [r for r in results if r.batch_size == size]
        if not mine:
            continue
        rows.append(
            Summary(
                batch_size=size,
                events=mine[0].events,
                members=mine[0].members,
                seconds=round(statistics.median(r.seconds for r in mine), 3),
                events_per_s=round(statistics.median(r.events_per_s for r in mine), 1),
                p50_ms=_median([r.p50_ms for r in mine]),
                p99_ms=_median([r.p99_ms for r in mine]),
                notifications=mine[0].notifications,
                exact=all(r.exact for r in mine),
                runs=len(mine),
            )
        )
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render_table(rows: Sequence[Summary]) -> str:
    header = (
        "batch",
        "events",
        "members",
        "seconds",
        "events/s",
        "p50 ms",
        "p99 ms",
        "notifications",
        "exact",
    )
    body = [
        (
            str(r.batch_size),
            f"{r.events:,}",
            f"{r.members:,}",
            f"{r.seconds:,.2f}",
            f"{r.events_per_s:,.0f}",
            _ms(r.p50_ms),
            _ms(r.p99_ms),
            f"{r.notifications:,}",
            "yes" if r.exact else "NO",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in body]
    return "\n".join(lines)


def throughput_ratio(rows: Sequence[Summary]) -> tuple[int, int, float] | None:
    if len(rows) < 2:
        return None
    big = max(rows, key=lambda r: r.batch_size)
    small = min(rows, key=lambda r: r.batch_size)
    if small.events_per_s <= 0:
        return None
    return big.batch_size, small.batch_size, big.events_per_s / small.events_per_s


def describe_run(result: RunResult) -> str:
    cpu = result.cpu_seconds
    spent = ", ".join(
        f"{k} {v:.1f}s"
        for k, v in cpu.items()
        if k not in ("machine busy", "machine capacity") and v >= 0.05
    )
    capacity = cpu.get("machine capacity", 0.0)
    busy = cpu.get("machine busy", 0.0)
    share = f"{busy / capacity:.0%}" if capacity else "?"
    lines = [
        f"batch {result.batch_size} run {result.run}: {result.distinct:,} distinct events "
        f"(+{result.duplicates:,} duplicates) in {result.seconds:.2f}s; published in "
        f"{result.publish_seconds:.2f}s; background load before {result.background_busy:.0%}",
        "  drained per stream: "
        + ", ".join(
            f"{name} {sec:.2f}s"
            for name, sec in sorted(result.stream_seconds.items(), key=lambda item: item[1])
        ),
        f"  CPU during the run (machine {share} busy): {spent}",
    ]
    if result.disturbed:
        lines.append("  DISTURBED: other processes used the CPU; rerun when the machine is quiet")
    lines += [f"  PROBLEM: {p}" for p in result.problems]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput, latency and exactness of one loyalty-progress worker.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=200_000, help="entries to publish")
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument(
        "--batch-sizes", default="1000,1", help="comma-separated LOYALTY_BATCH_SIZE values"
    )
    parser.add_argument(
        "--small-events", type=int, default=5_000, help="entries to publish for batch size 1"
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat; the table shows medians")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LOYALTY_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="server to create the benchmark databases on (default: $LOYALTY_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("LOYALTY_REDIS_URL") or DEFAULT_REDIS_URL,
        help="default: $LOYALTY_REDIS_URL",
    )
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--duplicates", type=float, default=0.02, help="share of duplicates")
    parser.add_argument(
        "--rate", type=float, default=None, help="publish at this many events/s (default: flood)"
    )
    parser.add_argument("--chunk", type=int, default=1000, help="XADDs per pipeline")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run to drain")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--profile-dir", type=Path, default=None, help="py-spy flame graph of the worker per run"
    )
    parser.add_argument(
        "--profile-format",
        choices=("flamegraph", "raw", "speedscope"),
        default="flamegraph",
        help="py-spy output format (raw = collapsed stacks, greppable)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="before each run, wait up to this many seconds for the machine to be quiet "
        f"(under {QUIET:.0%} busy without us)",
    )
    parser.add_argument("--keep", action="store_true", help="keep databases and streams")
    parser.add_argument(
        "--definitions",
        type=Path,
        default=None,
        help="apply this definitions file first (e.g. benchmarks/definitions.yaml): the run "
        "then also pays for counter challenges and attendance",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = [int(v) for v in args.batch_sizes.split(",") if v.strip()]
    except ValueError:
        parser.error("--batch-sizes must be comma-separated integers")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        parser.error("--batch-sizes must be >= 1")
    if args.events < 1 or args.small_events < 1 or args.members < 1 or args.runs < 1:
        parser.error("--events, --small-events, --members and --runs must be >= 1")
    return args


def workload_size(args: argparse.Namespace, batch_size: int) -> tuple[int, int]:
    """(events, members): batch size 1 gets `--small-events` and members scaled with it, so
    each member sees about as many events as in the big run."""
    if batch_size > 1:
        return args.events, args.members
    events = args.small_events
    members = max(1, min(args.members, round(args.members * events / args.events)))
    return events, members


async def run_all(args: argparse.Namespace) -> tuple[list[RunResult], list[str]]:
    options = Options(
        database_url=args.database_url,
        redis_url=args.redis_url,
        seed=args.seed,
        timeout=args.timeout,
        rate=args.rate,
        keep=args.keep,
        wait_quiet=args.wait_quiet,
        profile_dir=args.profile_dir,
        profile_format=args.profile_format,
        chunk=args.chunk,
        verbose=not args.quiet,
        definitions=args.definitions,
    )
    cache: dict[tuple[int, int], tuple[Workload, Expected]] = {}
    results: list[RunResult] = []
    failures: list[str] = []
    for run in range(1, args.runs + 1):
        for size in args.batch_sizes:
            events, members = workload_size(args, size)
            if (events, members) not in cache:
                started = time.monotonic()
                workload = Generator(args.seed, members).build(events, args.duplicates)
                cache[(events, members)] = (workload, expected_outcome(workload))
                if not args.quiet:
                    print(
                        f"generated {events:,} events for {members:,} members in "
                        f"{time.monotonic() - started:.1f}s",
                        file=sys.stderr,
                        flush=True,
                    )
            workload, expected = cache[(events, members)]
            try:
                result = await BenchmarkRun(options, workload, expected, size, run).execute()
            except Exception as exc:
                failures.append(f"batch {size} run {run}: {type(exc).__name__}: {exc}")
                print(f"FAILED batch {size} run {run}: {exc}", file=sys.stderr, flush=True)
                continue
            results.append(result)
            if not args.quiet:
                print(describe_run(result), file=sys.stderr, flush=True)
    return results, failures


async def main_async(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    results, failures = await run_all(args)
    rows = summarize(results, args.batch_sizes)
    print()
    if rows:
        print(render_table(rows))
        duplicates = {r.batch_size: r.duplicates for r in results}
        print(
            "events = entries published, exact duplicates included ("
            + ", ".join(f"batch {b}: {d:,}" for b, d in duplicates.items())
            + "); events/s = distinct events / seconds"
            + (f"; medians of {args.runs} runs" if args.runs > 1 else "")
        )
    disturbed = [f"batch {r.batch_size} run {r.run}" for r in results if r.disturbed]
    if disturbed:
        print("DISTURBED (other load on the machine, numbers too low): " + ", ".join(disturbed))
    ratio = throughput_ratio(rows)
    if ratio is not None:
        print(f"events/s(batch {ratio[0]}) / events/s(batch {ratio[1]}) = {ratio[2]:.1f}")
    for result in results:
        for problem in result.problems:
            print(f"PROBLEM batch {result.batch_size} run {result.run}: {problem}")
    for failure in failures:
        print(f"FAILED {failure}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "config": {
                        k: str(v) if isinstance(v, Path) else v
                        for k, v in vars(args).items()
                        if k not in ("database_url", "redis_url")
                    },
                    "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                    "summary": [asdict(r) for r in rows],
                    "ratio": None
                    if ratio is None
                    else {"large": ratio[0], "small": ratio[1], "value": round(ratio[2], 2)},
                    "runs": [asdict(r) for r in results],
                    "failures": failures,
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
    ok = not failures and all(r.exact for r in results) and bool(results)
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
