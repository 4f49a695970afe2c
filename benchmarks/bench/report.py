"""Medians per variant and batch size, the tables, the ratios, the lines above them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.run import RunResult
from bench.waits import describe_waits


@dataclass(frozen=True, slots=True)
class Summary:
    variant: str
    replicas: int
    batch_size: int
    events: int
    members: int
    seconds: float
    events_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    notifications: int
    worker_us: float
    postgres_us: float
    busy: float | None
    exact: bool
    runs: int


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(
    results: Sequence[RunResult], variants: Sequence[str], batch_sizes: Sequence[int]
) -> list[Summary]:
    rows: list[Summary] = []
    for variant in variants:
        for size in batch_sizes:
            mine = [r for r in results if r.variant == variant and r.batch_size == size]
            if not mine:
                continue
            rows.append(
                Summary(
                    variant=variant,
                    replicas=mine[0].replicas,
                    batch_size=size,
                    events=mine[0].events,
                    members=mine[0].members,
                    seconds=round(statistics.median(r.seconds for r in mine), 3),
                    events_per_s=round(statistics.median(r.events_per_s for r in mine), 1),
                    p50_ms=_median([r.p50_ms for r in mine]),
                    p99_ms=_median([r.p99_ms for r in mine]),
                    notifications=mine[0].notifications,
                    worker_us=round(statistics.median(r.per_event_us("worker") for r in mine), 1),
                    postgres_us=round(
                        statistics.median(r.per_event_us("postgres (bench db)") for r in mine), 1
                    ),
                    busy=_median([r.busy_share for r in mine]),
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
        "worker µs",
        "pg µs",
        "busy",
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
            f"{r.worker_us:,.0f}",
            f"{r.postgres_us:,.0f}",
            "-" if r.busy is None else f"{r.busy:.0%}",
            "yes" if r.exact else "NO",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in body]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Ratio:
    """events/s of `top` divided by events/s of `bottom`, at one batch size."""

    what: str
    batch_size: int
    top: Summary
    bottom: Summary
    of_batch_sizes: bool = False

    @property
    def value(self) -> float:
        return self.top.events_per_s / self.bottom.events_per_s if self.bottom.events_per_s else 0.0

    def describe(self) -> str:
        top, bottom = self.top, self.bottom
        at = "" if self.of_batch_sizes else f" (batch {self.batch_size})"
        return (
            f"{self.what}{at}: {self.value:.2f} "
            f"({top.events_per_s:,.0f} / {bottom.events_per_s:,.0f} events/s); CPU per event: "
            f"worker {top.worker_us:,.0f} vs {bottom.worker_us:,.0f} µs, PostgreSQL "
            f"{top.postgres_us:,.0f} vs {bottom.postgres_us:,.0f} µs"
        )


def ratios(rows: Sequence[Summary], pairs: Sequence[tuple[str, str]]) -> list[Ratio]:
    """For each (top, bottom) pair of variants and each batch size both ran: events/s of
    top / bottom; then largest / smallest batch size of each variant."""
    found: list[Ratio] = []
    index = {(r.variant, r.batch_size): r for r in rows}
    sizes = sorted({r.batch_size for r in rows}, reverse=True)
    for size in sizes:
        for top, bottom in pairs:
            a, b = index.get((top, size)), index.get((bottom, size))
            if a is not None and b is not None:
                found.append(Ratio(f"[{top}] / [{bottom}]", size, a, b))
    if len(sizes) > 1:
        for variant in dict.fromkeys(r.variant for r in rows):
            big, small = index.get((variant, sizes[0])), index.get((variant, sizes[-1]))
            if big is not None and small is not None:
                what = f"[{variant}] batch {sizes[0]} / batch {sizes[-1]}"
                found.append(Ratio(what, sizes[0], big, small, of_batch_sizes=True))
    return found


def describe_run(result: RunResult) -> str:
    cpu = result.cpu_seconds
    spent = ", ".join(
        f"{k} {v:.1f}s"
        for k, v in cpu.items()
        if k not in ("machine busy", "machine capacity") and v >= 0.05
    )
    busy = result.busy_share
    share = "?" if busy is None else f"{busy:.0%}"
    workers = f"{result.replicas} workers" if result.replicas > 1 else "worker"
    lines = [
        f"[{result.variant}] batch {result.batch_size} run {result.run}: {result.distinct:,} "
        f"distinct events (+{result.duplicates:,} duplicates) in {result.seconds:.2f}s "
        f"({result.events_per_s:,.0f}/s); published in {result.publish_seconds:.2f}s"
        f"{'' if result.rate is None else f' (paced at {result.rate:,.0f}/s)'}; "
        f"background load before {result.background_busy:.0%}",
        "  drained per stream: "
        + ", ".join(
            f"{name} {sec:.2f}s"
            for name, sec in sorted(result.stream_seconds.items(), key=lambda item: item[1])
        ),
        f"  CPU during the run (machine {share} busy): {spent}",
        f"  CPU per event: {workers} {result.per_event_us('worker'):,.0f} µs, PostgreSQL "
        f"{result.per_event_us('postgres (bench db)'):,.0f} µs, Redis "
        f"{result.per_event_us('redis'):,.0f} µs",
        "  " + describe_waits(result.wait_samples, result.waits),
        f"  outputs: {result.notifications:,} notifications, {result.rewards:,} rewards",
    ]
    lines += [f"  {note}" for note in result.notes]
    if result.disturbed:
        lines.append("  DISTURBED: other processes used the CPU; rerun when the machine is quiet")
    lines += [f"  PROBLEM: {p}" for p in result.problems]
    return "\n".join(lines)
