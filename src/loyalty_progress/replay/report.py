"""Showing a replay job: its progress while it runs (stderr) and its report (JSON).

On a terminal the progress is one line redrawn in place (`\\r`), at most ten times a
second; anywhere else (CI logs, files, pipes) it is one plain line per finished bulk, so
a log shows how far the job got without control characters.

The report itself lives in PostgreSQL (`store.replay_jobs`), shaped like an import status report's
import status; `loyalty-progress replay status JOB_ID` prints it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Final, Protocol, TextIO

BAR_WIDTH: Final = 24
REDRAW_SECONDS: Final = 0.1


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """Where a job stands after a bulk; counts are the job's totals so far."""

    job_id: int
    bulk: int  # request number of the bulk just finished
    bulk_status: str
    bulks: int | None  # known number of bulks (None: read as it goes)
    events: int  # events handled so far
    total: int | None  # events in the payload, when known up front
    applied: int
    duplicates: int
    invalid: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class ProgressSink(Protocol):
    def started(self, job_id: int, source: str, total: int | None, bulks: int | None) -> None: ...

    def bulk_finished(self, update: ProgressUpdate) -> None: ...

    def finished(self, report: dict[str, Any]) -> None: ...


class NoProgress:
    def started(self, job_id: int, source: str, total: int | None, bulks: int | None) -> None:
        pass

    def bulk_finished(self, update: ProgressUpdate) -> None:
        pass

    def finished(self, report: dict[str, Any]) -> None:
        pass


def _counts(u: ProgressUpdate) -> str:
    text = f"applied {u.applied:,}, duplicates {u.duplicates:,}, invalid {u.invalid:,}"
    return text + (f", failed {u.failed:,}" if u.failed else "")


class PlainProgress:
    """One line per finished bulk (for logs)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def started(self, job_id: int, source: str, total: int | None, bulks: int | None) -> None:
        size = f"{total:,} events in {bulks:,} bulks" if total is not None else "events"
        self.out.write(f"replay job {job_id}: {size} from {source}\n")
        self.out.flush()

    def bulk_finished(self, u: ProgressUpdate) -> None:
        of_bulks = f"/{u.bulks:,}" if u.bulks else ""
        of_events = f"/{u.total:,}" if u.total is not None else ""
        self.out.write(
            f"replay job {u.job_id}: bulk {u.bulk:,}{of_bulks} {u.bulk_status}; "
            f"{u.events:,}{of_events} events ({_counts(u)}); {u.rate:,.0f} events/s\n"
        )
        self.out.flush()

    def finished(self, report: dict[str, Any]) -> None:
        self.out.write(f"replay job {report['id']}: {report['status']}\n")
        self.out.flush()


class TerminalProgress:
    """A progress bar redrawn in place on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._drawn_at = 0.0
        self._width = 0

    def started(self, job_id: int, source: str, total: int | None, bulks: int | None) -> None:
        self.out.write(f"replay job {job_id}: {source}\n")
        self.out.flush()

    def _draw(self, line: str) -> None:
        padding = " " * max(0, self._width - len(line))
        self._width = len(line)
        self.out.write("\r" + line + padding)
        self.out.flush()

    def bulk_finished(self, u: ProgressUpdate) -> None:
        now = time.monotonic()
        last = u.bulks is not None and u.bulk >= u.bulks
        if not last and now - self._drawn_at < REDRAW_SECONDS:
            return
        self._drawn_at = now
        if u.total:
            share = min(1.0, u.events / u.total)
            filled = round(share * BAR_WIDTH)
            bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} "
            done = f"{u.events:,}/{u.total:,}"
        else:
            bar, done = "", f"{u.events:,}"
        self._draw(f"{bar}{done} events | {_counts(u)} | {u.rate:,.0f} events/s")

    def finished(self, report: dict[str, Any]) -> None:
        self.out.write(f"\nreplay job {report['id']}: {report['status']}\n")
        self.out.flush()


def progress_for(out: TextIO) -> ProgressSink:
    """A bar on a terminal, plain lines anywhere else."""
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty():
        return TerminalProgress(out)
    return PlainProgress(out)


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)


__all__ = [
    "NoProgress",
    "PlainProgress",
    "ProgressSink",
    "ProgressUpdate",
    "TerminalProgress",
    "dumps",
    "progress_for",
]
