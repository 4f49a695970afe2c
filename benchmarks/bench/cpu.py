"""CPU seconds spent between two moments, by who spent them (Linux `/proc`)."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path


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


def machine_ticks() -> tuple[int, int, int]:
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
        busy, total, stolen = machine_ticks()
        return cls(_process_ticks(), busy, total, stolen)


def cpu_breakdown(
    before: CpuSnapshot,
    after: CpuSnapshot,
    worker_pids: Collection[int],
    database: str,
    own_backends: Collection[int] = (),
) -> dict[str, float]:
    """CPU seconds spent between two snapshots, by who spent them. `worker` sums every
    worker process; `own_backends` (the benchmark's own PostgreSQL sessions, such as the
    wait sampler) count as the benchmark."""
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
        if pid in worker_pids:
            spent["worker"] += seconds
        elif pid == os.getpid() or pid in own_backends:
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
