"""Arguments, the order of runs (interleaved: each run goes through every batch size,
variant and replica count before the next), the tables and ratios, `--json`."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.attendance_oracle import expected_attendance
from bench.challenge_oracle import expected_challenges
from bench.oracle import Expected, expected_outcome
from bench.program import DEFAULT_PROGRAM, Program, load_program
from bench.report import Ratio, describe_run, ratios, render_table, summarize
from bench.run import QUIET, BenchmarkRun, Expectations, Options, RunResult, Variant
from bench.services import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL
from bench.workload import NOW, Generator, Workload


def _counts(parser: argparse.ArgumentParser, name: str, text: str | None) -> list[int]:
    if text is None:
        return []
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        parser.error(f"{name} must be comma-separated integers")
    if not values or min(values) < 1:
        parser.error(f"{name} must be >= 1")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="throughput.py",
        description="Throughput, latency, CPU cost and exactness of loyalty-progress workers, "
        "with a realistic program of challenges and attendance (see benchmarks/README.md).",
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
    parser.add_argument("--runs", type=int, default=1, help="repeat; the tables show medians")
    parser.add_argument(
        "--definitions",
        type=Path,
        default=DEFAULT_PROGRAM,
        help="the program to apply before each run",
    )
    parser.add_argument(
        "--no-definitions",
        action="store_true",
        help="apply nothing: the backbone alone (receipts, totals, outbox)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run without definitions, interleaved, and print the ratios",
    )
    parser.add_argument(
        "--challenges",
        default=None,
        metavar="K[,K...]",
        help="add K generated counter challenges in the busiest club; several values run "
        "one variant each (e.g. 5,50) and print their ratio",
    )
    parser.add_argument(
        "--replicas",
        default="1",
        metavar="N[,N...]",
        help="worker processes in one consumer group; several values run one variant each",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LOYALTY_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="server to create the benchmark databases on ($LOYALTY_DATABASE_URL if set)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("LOYALTY_REDIS_URL") or DEFAULT_REDIS_URL,
        help="$LOYALTY_REDIS_URL if set",
    )
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--duplicates", type=float, default=0.02, help="share of duplicates")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="publish at this many events/s, paced, for the latency of a worker below "
        "capacity (unset: as fast as possible)",
    )
    parser.add_argument("--chunk", type=int, default=1000, help="XADDs per pipeline")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run to drain")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="DIR",
        help="write PNG charts here: entries acknowledged over time per stream and the "
        "latency distribution, per batch size (needs matplotlib, in the dev extra)",
    )
    parser.add_argument(
        "--profile-dir", type=Path, default=None, help="py-spy flame graph of each worker per run"
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
        f"(under {QUIET * 100:.0f} percent busy without us)",
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="after each run's checks, corrupt one challenge progress row and one attendance "
        "day in its database and check again: both must be reported",
    )
    parser.add_argument("--keep", action="store_true", help="keep databases and streams")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    args.batch_sizes = _counts(parser, "--batch-sizes", args.batch_sizes)
    args.challenges = _counts(parser, "--challenges", args.challenges)
    args.replicas = _counts(parser, "--replicas", args.replicas)
    if args.events < 1 or args.small_events < 1 or args.members < 1 or args.runs < 1:
        parser.error("--events, --small-events, --members and --runs must be >= 1")
    if args.plot is not None and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib: pip install -e '.[dev]' (or pip install matplotlib)")
    if args.no_definitions and args.compare:
        parser.error("--compare already runs without definitions; drop --no-definitions")
    if args.no_definitions and args.definitions != DEFAULT_PROGRAM:
        parser.error("--definitions and --no-definitions exclude each other")
    return args


def build_variants(args: argparse.Namespace) -> tuple[list[Variant], list[tuple[str, str]]]:
    """The variants to run, and the pairs of them whose events/s ratio is printed."""
    files: list[Path] = [] if args.no_definitions else [args.definitions]
    if args.no_definitions:
        base = "backbone"
    elif args.definitions == DEFAULT_PROGRAM:
        base = "definitions"
    else:
        base = f"definitions {args.definitions.name}"
    programs: list[Program] = []
    for count in args.challenges or [0]:
        if not count:
            label = base
        elif files:
            label = f"{base} + {count} generated"
        else:
            label = f"{count} generated challenges"
        programs.append(load_program(label, files, count, args.seed))
    backbone = Program(label="backbone") if args.compare else None
    variants = [
        Variant(p, r) for p in [*programs, *([backbone] if backbone else [])] for r in args.replicas
    ]
    pairs: list[tuple[str, str]] = []
    for replicas in args.replicas:
        if backbone is not None:
            pairs += [
                (Variant(p, replicas).label, Variant(backbone, replicas).label) for p in programs
            ]
        if len(programs) > 1:
            big = max(programs, key=lambda p: p.generated)
            small = min(programs, key=lambda p: p.generated)
            pairs.append((Variant(big, replicas).label, Variant(small, replicas).label))
    if len(args.replicas) > 1:
        for program in [*programs, *([backbone] if backbone else [])]:
            pairs.append(
                (
                    Variant(program, max(args.replicas)).label,
                    Variant(program, min(args.replicas)).label,
                )
            )
    return variants, pairs


def workload_size(args: argparse.Namespace, batch_size: int) -> tuple[int, int]:
    """(events, members): batch size 1 gets `--small-events` and members scaled with it, so
    each member sees about as many events as in the big run."""
    if batch_size > 1:
        return args.events, args.members
    events = args.small_events
    members = max(1, min(args.members, round(args.members * events / args.events)))
    return events, members


class Oracles:
    """Workloads and what the oracles expect of them, computed once per size and program
    (before any run, outside the measured windows)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workloads: dict[tuple[int, int], tuple[Workload, Expected]] = {}
        self.expectations: dict[tuple[int, int, str], Expectations] = {}

    def log(self, message: str) -> None:
        if not self.args.quiet:
            print(message, file=sys.stderr, flush=True)

    def get(self, size: tuple[int, int], program: Program) -> tuple[Workload, Expectations]:
        if size not in self.workloads:
            started = time.monotonic()
            workload = Generator(self.args.seed, size[1]).build(size[0], self.args.duplicates)
            self.workloads[size] = (workload, expected_outcome(workload))
            self.log(
                f"generated {size[0]:,} events for {size[1]:,} members in "
                f"{time.monotonic() - started:.1f}s"
            )
        workload, expected = self.workloads[size]
        key = (*size, program.label)
        if key not in self.expectations:
            started = time.monotonic()
            self.expectations[key] = Expectations(
                expected=expected,
                challenges=expected_challenges(workload, expected, program.challenges)
                if program.challenges
                else None,
                attendance=expected_attendance(expected, program.editions, NOW)
                if program.editions
                else None,
            )
            if not program.empty:
                self.log(
                    f"[{program.label}] {program.describe()}; oracle computed in "
                    f"{time.monotonic() - started:.1f}s"
                )
        return workload, self.expectations[key]


async def run_all(
    args: argparse.Namespace, variants: Sequence[Variant]
) -> tuple[list[RunResult], list[str]]:
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
        self_check=args.self_check,
    )
    oracles = Oracles(args)
    for size in args.batch_sizes:  # everything computed before the first run
        for variant in variants:
            oracles.get(workload_size(args, size), variant.program)
    results: list[RunResult] = []
    failures: list[str] = []
    for run in range(1, args.runs + 1):
        for size in args.batch_sizes:
            for variant in variants:
                workload, expectations = oracles.get(workload_size(args, size), variant.program)
                name = f"[{variant.label}] batch {size} run {run}"
                try:
                    result = await BenchmarkRun(
                        options, workload, expectations, variant, size, run
                    ).execute()
                except Exception as exc:
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    print(f"FAILED {name}: {exc}", file=sys.stderr, flush=True)
                    continue
                results.append(result)
                if not args.quiet:
                    print(describe_run(result), file=sys.stderr, flush=True)
    return results, failures


def _ratio_json(ratio: Ratio) -> dict[str, Any]:
    return {
        "what": ratio.what,
        "batch_size": ratio.batch_size,
        "value": round(ratio.value, 3),
        "events_per_s": [ratio.top.events_per_s, ratio.bottom.events_per_s],
        "worker_us": [ratio.top.worker_us, ratio.bottom.worker_us],
        "postgres_us": [ratio.top.postgres_us, ratio.bottom.postgres_us],
    }


async def main_async(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    variants, pairs = build_variants(args)
    results, failures = await run_all(args, variants)
    labels = [v.label for v in variants]
    rows = summarize(results, labels, args.batch_sizes)
    descriptions = {v.label: v.program.describe() for v in variants}
    for label in labels:
        mine = [r for r in rows if r.variant == label]
        if not mine:
            continue
        print()
        print(f"{label}: {descriptions[label]}")
        print(render_table(mine))
    if rows:
        duplicates = {r.batch_size: r.duplicates for r in results}
        print(
            "events = entries published, exact duplicates included ("
            + ", ".join(f"batch {b}: {d:,}" for b, d in duplicates.items())
            + "); events/s = distinct events / seconds; µs = CPU per distinct event"
            + (f"; medians of {args.runs} runs" if args.runs > 1 else "")
        )
    found = ratios(rows, pairs)
    for ratio in found:
        print(ratio.describe())
    disturbed = [f"[{r.variant}] batch {r.batch_size} run {r.run}" for r in results if r.disturbed]
    if disturbed:
        print("DISTURBED (other load on the machine, numbers too low): " + ", ".join(disturbed))
    for result in results:
        for problem in result.problems:
            print(
                f"PROBLEM [{result.variant}] batch {result.batch_size} run {result.run}: {problem}"
            )
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
                    "variants": descriptions,
                    "summary": [asdict(r) for r in rows],
                    "ratios": [_ratio_json(r) for r in found],
                    "runs": [asdict(r) for r in results],
                    "failures": failures,
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
    if args.plot is not None:
        from bench.plot import write_plots  # matplotlib loads only when charts are asked for

        for path in write_plots(results, args.plot):
            print(f"chart: {path}")
    ok = not failures and all(r.exact for r in results) and bool(results)
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130
