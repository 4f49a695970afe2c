"""One measured run: a fresh database and stream prefix, the program applied, N workers,
the events published, the drain timed, the workers stopped, everything verified."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from redis.asyncio import Redis

from bench import stored
from bench.attendance_oracle import AttendanceExpectation
from bench.challenge_oracle import ChallengeExpectation
from bench.checks import (
    Verdict,
    check_attendance,
    check_challenges,
    check_outputs,
    check_receipt_notifications,
    check_totals,
)
from bench.cpu import CpuSnapshot, cpu_breakdown, machine_ticks
from bench.oracle import Expected
from bench.program import Program
from bench.services import (
    RawRedis,
    asyncpg_dsn,
    database_url_for,
    entry_ms,
    free_port,
    resp_command,
    text_of,
)
from bench.waits import WaitSampler
from bench.workload import INPUT_STREAMS, NOW, Workload
from loyalty_progress.engine.challenges.state import Tally
from loyalty_progress.store.challenge_bodies import ProgressBody
from loyalty_progress.testing.worker_process import WorkerProcess

GROUP = "progress-worker"
# A run is flagged as disturbed when the machine was busier than this without us (before
# the run), or when processes other than ours used this share of the CPU during it.
QUIET = 0.15
# Entries acknowledged per stream are sampled this often (ms) during the drain: fine enough
# to draw a few-second run, bounded for a long one (9,000 samples in a 900 s timeout).
PROGRESS_MS = 100


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
    self_check: bool = False


@dataclass(frozen=True, slots=True)
class Variant:
    """What a run applies and how many workers it starts."""

    program: Program
    replicas: int = 1

    @property
    def label(self) -> str:
        workers = f", {self.replicas} replicas" if self.replicas > 1 else ""
        return self.program.label + workers

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")


@dataclass(frozen=True, slots=True)
class Expectations:
    """What the oracles expect of one workload under one program."""

    expected: Expected
    challenges: ChallengeExpectation | None = None
    attendance: AttendanceExpectation | None = None


@dataclass(slots=True)
class RunResult:
    run: int
    variant: str
    replicas: int
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
    rewards: int
    exact: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mismatched_members: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    background_busy: float = 0.0
    worker_exits: list[int | None] = field(default_factory=list)
    stop_seconds: float = 0.0
    disturbed: bool = False
    # per input stream: seconds from the first XADD until that stream was drained
    stream_seconds: dict[str, float] = field(default_factory=dict)
    # every ~PROGRESS_MS: seconds since the first XADD and entries acknowledged per stream
    progress: list[dict[str, float]] = field(default_factory=list)
    wait_samples: int = 0
    waits: dict[str, int] = field(default_factory=dict)
    rate: float | None = None  # --rate: publishing was paced at this many events/s
    # end-to-end latency (ms) at every 0.1 %, 0 % to 100 % (`latency_quantiles`)
    latency_quantiles_ms: list[float] = field(default_factory=list)

    def per_event_us(self, category: str) -> float:
        return 1e6 * self.cpu_seconds.get(category, 0.0) / max(1, self.distinct)

    @property
    def busy_share(self) -> float | None:
        capacity = self.cpu_seconds.get("machine capacity", 0.0)
        return self.cpu_seconds.get("machine busy", 0.0) / capacity if capacity else None


def _nearest_rank(ordered: Sequence[float], q: float) -> float:
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    return _nearest_rank(sorted(values), q)


LATENCY_STEPS = 1000


def latency_quantiles(values: Sequence[float], steps: int = LATENCY_STEPS) -> list[float]:
    """The distribution in `steps` + 1 numbers: the nearest-rank percentile at every
    100 / `steps` percent from 0 to 100, so index 500 of 1000 is p50 as `percentile`
    gives it. Bounded whatever the number of notifications; enough to draw the CDF."""
    if not values:
        return []
    ordered = sorted(values)
    return [_nearest_rank(ordered, 100 * i / steps) for i in range(steps + 1)]


class BenchmarkRun:
    def __init__(
        self,
        options: Options,
        workload: Workload,
        expectations: Expectations,
        variant: Variant,
        batch_size: int,
        run: int,
    ) -> None:
        self.options = options
        self.workload = workload
        self.expectations = expectations
        self.expected = expectations.expected
        self.variant = variant
        self.batch_size = batch_size
        self.run_no = run
        token = secrets.token_hex(4)
        self.database = f"lp_bench_{token}"
        self.prefix = f"lpbench-{token}"
        self.token = token
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
            tag = f"{self.variant.label}, batch {self.batch_size} #{self.run_no}"
            print(f"  [{tag}] {message}", file=sys.stderr, flush=True)

    def worker_env(self, replica: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            LOYALTY_DATABASE_URL=self.db_url,
            LOYALTY_REDIS_URL=self.options.redis_url,
            LOYALTY_STREAM_PREFIX=self.prefix,
            LOYALTY_CONSUMER_GROUP=GROUP,
            LOYALTY_CONSUMER_NAME=f"bench-{self.token}-{replica}",
            LOYALTY_BATCH_SIZE=str(self.batch_size),
            LOYALTY_METRICS_PORT="0",
            LOYALTY_LOG_LEVEL="WARNING",
            # The workload's month is over on the real clock: judged at its end, receipts
            # still count for attendance and every event is inside its challenge window.
            LOYALTY_NOW=NOW.isoformat(),
            # The weekly occurrences before that instant are over, so their unfinished
            # progress expires. Ticking every second expires it while the run drains, the
            # same share in every run: at the default 10 s, one run got a tick (and 5,000
            # more notifications) and the next did not, which swamped paired comparisons.
            LOYALTY_SCHEDULER_MS="1000",
        )
        return env

    async def _cli(self, env: dict[str, str], *args: str) -> None:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "loyalty_progress", *args],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    async def execute(self) -> RunResult:
        admin = await asyncpg.connect(asyncpg_dsn(self.options.database_url))
        workers: list[WorkerProcess] = []
        result: RunResult | None = None
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
            env = self.worker_env(0)
            await self._cli(env, "migrate")
            program = self.variant.program
            if not program.empty:
                with tempfile.TemporaryDirectory() as scratch:
                    generated = program.write_generated(Path(scratch))
                    files = [*map(str, program.files), *([str(generated)] if generated else [])]
                    await self._cli(env, "definitions", "apply", *files)
            for replica in range(self.variant.replicas):
                log_path = Path(tempfile.gettempdir()) / f"{self.prefix}-worker-{replica}.log"
                env = self.worker_env(replica)
                workers.append(WorkerProcess.start(env, log_path, http_port=free_port()))
            for worker in workers:
                # /readyz: migrations current, groups created, subscribers started
                await worker.wait_ready(timeout=90)
            background = await self.background_busy()
            waited = 0.0
            while background > QUIET and waited < self.options.wait_quiet:
                self.log(f"background CPU {background:.0%} of the machine; waiting for quiet")
                await asyncio.sleep(4)
                background = await self.background_busy()
                waited += 5
            pids = ", ".join(str(w.pid) for w in workers)
            self.log(f"worker {pids} ready; background CPU {background:.0%} of the machine")
            result = await self.measure(workers, background)
            return result
        finally:
            for worker in workers:
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

    @staticmethod
    async def background_busy(seconds: float = 1.0) -> float:
        """Share of the machine busy while the workers idle: others' load, our noise floor."""
        busy0, total0, stolen0 = machine_ticks()
        await asyncio.sleep(seconds)
        busy1, total1, stolen1 = machine_ticks()
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
        and acknowledged (group `last-delivered-id` = last entry, `pending` = 0, over all
        consumers of the group), and how many entries of each stream are acknowledged so
        far (`entries-read` - `pending`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.time()
            for name in INPUT_STREAMS:
                pipe.xinfo_groups(self.stream(name))
            replies = await pipe.execute()
        seconds, micros = replies[0]
        done: set[str] = set()
        acked: dict[str, int] = {}
        for name, groups in zip(INPUT_STREAMS, replies[1:], strict=True):
            group = next((g for g in groups if text_of(g.get("name")) == GROUP), None)
            if group is None:
                continue
            if group.get("entries-read") is not None:
                acked[name] = int(group["entries-read"]) - int(group.get("pending", 0))
            if int(group.get("pending", 1)) != 0:
                continue
            last = self.last_ids.get(name)
            if last is None or text_of(group.get("last-delivered-id")) == text_of(last):
                done.add(name)
        return int(seconds) * 1000 + int(micros) // 1000, done, acked

    async def measure(self, workers: Sequence[WorkerProcess], background: float) -> RunResult:
        chunks = self.encode_commands()
        profilers = [self.start_profiler(w.pid, i) for i, w in enumerate(workers)]
        sampler = WaitSampler(asyncpg_dsn(self.options.database_url), self.database)
        await sampler.start()
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
                for worker in workers:
                    if not worker.alive():
                        raise RuntimeError(f"worker died during the run:\n{worker.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not drained after {self.options.timeout:.0f}s")
                now_ms, done, acked = await self.drained()
                if now_ms - last_sample >= PROGRESS_MS:
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
            waits = await sampler.stop()
        after = CpuSnapshot.take()
        for profiler in profilers:
            self.stop_profiler(profiler)
        assert end_ms is not None
        seconds = max(0.001, (end_ms - self.first_ms) / 1000)
        self.log(f"drained in {seconds:.2f}s; waiting for the outbox, then stopping")
        await self.wait_published(workers)
        exits: list[int | None] = []
        stop_seconds = 0.0
        for worker in workers:
            stopped = await worker.stop()
            # None: SIGTERM was not enough, the worker had to be killed
            exits.append(None if stopped.killed else stopped.returncode)
            stop_seconds = max(stop_seconds, stopped.seconds)
        notifications = await stored.read_stream(self.redis, self.stream("notifications"))
        rewards = await stored.read_stream(self.redis, self.stream("rewards"))
        verdict = await self.verify(notifications, rewards)
        for code in exits:
            if code != 0:
                verdict.problems.append(f"worker exit code {code} after SIGTERM")
        if self.options.self_check:
            await self.self_check(verdict, notifications, rewards)
        latencies = self.latencies(notifications)
        distinct = self.workload.distinct
        cpu = cpu_breakdown(
            before,
            after,
            {w.pid for w in workers},
            self.database,
            {sampler.backend_pid} if sampler.backend_pid else set(),
        )
        others = cpu["everything else"] + cpu["postgres (other)"] + cpu["stolen by the hypervisor"]
        disturbed = background > QUIET or others > QUIET * cpu["machine capacity"]
        return RunResult(
            run=self.run_no,
            variant=self.variant.label,
            replicas=self.variant.replicas,
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
            rewards=len(rewards),
            exact=not verdict.problems,
            problems=verdict.problems,
            notes=verdict.notes,
            mismatched_members=verdict.mismatched_members,
            cpu_seconds=cpu,
            background_busy=round(background, 3),
            worker_exits=exits,
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
            wait_samples=sampler.samples,
            waits=waits,
            rate=self.options.rate,
            latency_quantiles_ms=latency_quantiles(latencies),
        )

    def start_profiler(self, pid: int, replica: int) -> subprocess.Popen[bytes] | None:
        """py-spy on a worker from the first XADD until drained (needs ptrace rights)."""
        directory = self.options.profile_dir
        if directory is None:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        fmt = self.options.profile_format
        suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[fmt]
        worker = f"-worker{replica + 1}" if self.variant.replicas > 1 else ""
        name = f"{self.variant.slug}-batch{self.batch_size}-run{self.run_no}{worker}.{suffix}"
        local = Path(sys.executable).with_name("py-spy")
        command = str(local) if local.exists() else (shutil.which("py-spy") or "py-spy")
        return subprocess.Popen(
            [command, "record", "--pid", str(pid), "--output", str(directory / name),
             "--format", fmt, "--rate", "200", "--nonblocking"],
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

    async def wait_published(self, workers: Sequence[WorkerProcess], timeout: float = 30.0) -> None:
        """Until every outbox row is published and in its stream (the relay publishes after
        the commit; the sweep catches up), so stopping the workers loses nothing."""
        conn = await asyncpg.connect(asyncpg_dsn(self.db_url))
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and all(w.alive() for w in workers):
                state = await stored.outbox_state(conn)
                lengths = {
                    name: int(await self.redis.xlen(self.stream(name)))
                    for name in ("notifications", "rewards")
                }
                if not state.unpublished and all(
                    lengths[name] >= state.rows.get(name, 0) for name in lengths
                ):
                    return
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    def latencies(self, notifications: Iterable[stored.Message]) -> list[float]:
        values: list[float] = []
        for entry_id, body in notifications:
            for cause in body.get("caused_by") or ():
                source = self.entry_ids.get(cause)
                if source is not None:
                    values.append(float(entry_ms(entry_id) - entry_ms(source)))
                    break
        return values

    async def verify(
        self, notifications: Sequence[stored.Message], rewards: Sequence[stored.Message]
    ) -> Verdict:
        verdict = Verdict()
        conn = await asyncpg.connect(asyncpg_dsn(self.db_url))
        try:
            totals = await stored.load_totals(conn)
            processed = int(await conn.fetchval("SELECT count(*) FROM processed_events"))
            receipts = await stored.load_receipts(conn)
            outbox = await stored.outbox_state(conn)
            check_totals(verdict, self.expected, totals, processed, receipts)
            check_receipt_notifications(
                verdict, self.expected, notifications, relaxed=self.variant.replicas > 1
            )
            dead = int(await self.redis.xlen(self.stream("deadletter")))
            check_outputs(verdict, self.expected, notifications, rewards, outbox, dead)
            await self.verify_rules(conn, verdict, notifications, rewards)
        finally:
            await conn.close()
        return verdict

    async def verify_rules(
        self,
        conn: asyncpg.Connection,
        verdict: Verdict,
        notifications: Sequence[stored.Message],
        rewards: Sequence[stored.Message],
    ) -> None:
        """Challenge progress and attendance against their oracles."""
        challenges, attendance = self.expectations.challenges, self.expectations.attendance
        if challenges is not None and challenges.definitions:
            check_challenges(
                verdict,
                challenges,
                await stored.load_progress(conn, challenges.definitions),
                await stored.occurrence_counts(conn, "challenge_winners", "winners"),
                await stored.occurrence_counts(conn, "challenge_finishers", "people_finished"),
                notifications,
                NOW,
            )
        if attendance is not None and attendance.editions:
            check_attendance(
                verdict,
                attendance,
                await stored.load_days(conn),
                await stored.load_memberships(conn),
                notifications,
                rewards,
            )

    async def self_check(
        self,
        verdict: Verdict,
        notifications: Sequence[stored.Message],
        rewards: Sequence[stored.Message],
    ) -> None:
        """Corrupt one challenge progress row and one attendance day, check again: the
        checks must report both (and the run's own verdict stays the one before)."""
        conn = await asyncpg.connect(asyncpg_dsn(self.db_url))
        try:
            corrupted = await corrupt_state(conn)
            if not corrupted:
                verdict.notes.append("self-check: nothing to corrupt (no challenge or day rows)")
                return
            again = Verdict()
            await self.verify_rules(conn, again, notifications, rewards)
        finally:
            await conn.close()
        wanted = {
            "progress": "challenge subjects with wrong counters",
            "day": "attendance days with wrong values",
        }
        for what, description in corrupted.items():
            if any(wanted[what] in p for p in again.problems):
                verdict.notes.append(
                    f"self-check: corrupted {description}: reported, as it must be"
                )
            else:
                verdict.problems.append(f"self-check: corrupted {description}: NOT reported")


async def corrupt_state(conn: asyncpg.Connection) -> dict[str, str]:
    """Add 1 to one stored counter sum of one progress row, and to one day's approved value."""
    done: dict[str, str] = {}
    rows = await conn.fetch(
        "SELECT club, subject_kind, subject_id, code, occurrence, progress::text AS p"
        " FROM challenge_progress ORDER BY 1, 2, 3, 4, 5"
    )
    for row in rows:
        progress = msgspec.json.decode(row["p"], type=ProgressBody)
        member, tally = next(((m, t) for m, t in progress.tallies.items() if t.sums), (None, None))
        if member is None or tally is None:
            continue
        trigger, value = next(iter(tally.sums.items()))
        bumped = Tally(
            sums={**tally.sums, trigger: value + 1}, keys=tally.keys, gauges=tally.gauges
        )
        changed = msgspec.structs.replace(progress, tallies={**progress.tallies, member: bumped})
        await conn.execute(
            "UPDATE challenge_progress SET progress = $6::jsonb WHERE club = $1 AND"
            " subject_kind = $2 AND subject_id = $3 AND code = $4 AND occurrence = $5",
            row["club"], row["subject_kind"], row["subject_id"], row["code"], row["occurrence"],
            msgspec.json.encode(changed).decode(),
        )  # fmt: skip
        done["progress"] = (
            f"progress row {row['code']}#{row['occurrence']} {row['subject_id']} "
            f"(trigger {trigger}: {value} -> {value + 1})"
        )
        break
    day: Any = await conn.fetchrow(
        "UPDATE attendance_days SET approved = approved + 1 WHERE (club, edition, member_id, day)"
        " = (SELECT club, edition, member_id, day FROM attendance_days WHERE approved > 0"
        " ORDER BY 1, 2, 3, 4 LIMIT 1) RETURNING edition, member_id, day"
    )
    if day is not None:
        done["day"] = f"attendance day {day['edition']} {day['member_id']} {day['day']} (+1)"
    return done
