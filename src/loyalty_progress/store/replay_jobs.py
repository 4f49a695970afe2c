"""Replay jobs in PostgreSQL: one `replay_jobs` row per job, one `replay_bulks` row per bulk,
shaped like an import status report. Every change is its own short transaction, so the
report can be read (`loyalty-progress replay status JOB_ID`) while the job runs.

Migration `0005_replay_jobs` creates exactly these tables; `tests/integration/test_store.py`
compares the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.store.schema import metadata

# A job is `working` until every bulk was handled (`finished`, whatever its counts say) or
# it stopped early (`failed`: interrupted, or an error it could not get past). A bulk is
# `failed` when some of its events failed to apply (they are listed in `errors`).
JobStatus = Literal["working", "finished", "failed"]
BulkStatus = Literal["waiting", "working", "finished", "failed"]

# The report lists the first errors only (the counts stay exact): a file of a million bad
# lines must not make a million-element JSON document.
MAX_STORED_ERRORS: Final = 1000

replay_jobs = Table(
    "replay_jobs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("bulk_size", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("events_in_payload_number", BigInteger, nullable=False, server_default=text("0")),
    Column("events_applied_number", BigInteger, nullable=False, server_default=text("0")),
    Column("events_duplicate_number", BigInteger, nullable=False, server_default=text("0")),
    Column(
        "events_with_validation_errors_number",
        BigInteger,
        nullable=False,
        server_default=text("0"),
    ),
    Column("events_failed_number", BigInteger, nullable=False, server_default=text("0")),
    Column("errors", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
)

replay_bulks = Table(
    "replay_bulks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, ForeignKey("replay_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("request_number", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("size", Integer, nullable=False, server_default=text("0")),
    Column("applied", Integer, nullable=False, server_default=text("0")),
    Column("duplicates", Integer, nullable=False, server_default=text("0")),
    Column("invalid", Integer, nullable=False, server_default=text("0")),
    Column("failed", Integer, nullable=False, server_default=text("0")),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    UniqueConstraint("job_id", "request_number", name="replay_bulks_job_request"),
)


@dataclass(frozen=True, slots=True)
class BulkCounts:
    applied: int = 0
    duplicates: int = 0
    invalid: int = 0
    failed: int = 0


_CREATE_JOB = text(
    """
    INSERT INTO replay_jobs (source, bulk_size, status, events_in_payload_number)
    VALUES (:source, :bulk_size, 'working', :total)
    RETURNING id
    """
)

_ADD_WAITING = text(
    """
    INSERT INTO replay_bulks (job_id, request_number, status)
    SELECT :job, n, 'waiting' FROM generate_series(1, CAST(:bulks AS integer)) AS n
    """
)


async def create_job(
    conn: AsyncConnection, source: str, bulk_size: int, total: int, bulks: int
) -> int:
    """A new job (status `working`) with `bulks` bulks waiting; returns its id. `total` is
    the number of events known up front (0 when the source is read as it goes)."""
    job_id = int(
        (
            await conn.execute(
                _CREATE_JOB, {"source": source, "bulk_size": bulk_size, "total": total}
            )
        ).scalar_one()
    )
    if bulks:
        await conn.execute(_ADD_WAITING, {"job": job_id, "bulks": bulks})
    return job_id


_START_BULK = text(
    """
    INSERT INTO replay_bulks (job_id, request_number, status, size, started_at)
    VALUES (:job, :number, 'working', :size, now())
    ON CONFLICT (job_id, request_number) DO UPDATE
        SET status = 'working', size = EXCLUDED.size, started_at = now()
    RETURNING id
    """
)

_GROW_PAYLOAD = text(
    "UPDATE replay_jobs SET events_in_payload_number = events_in_payload_number + :n "
    "WHERE id = :job"
)


async def start_bulk(
    conn: AsyncConnection, job_id: int, number: int, size: int, new_events: int = 0
) -> int:
    """Mark bulk `number` working (creating it when the source was not counted up front,
    and adding `new_events` to the job's payload count); returns the bulk id."""
    bulk_id = int(
        (
            await conn.execute(_START_BULK, {"job": job_id, "number": number, "size": size})
        ).scalar_one()
    )
    if new_events:
        await conn.execute(_GROW_PAYLOAD, {"job": job_id, "n": new_events})
    return bulk_id


_FINISH_BULK = text(
    """
    UPDATE replay_bulks SET status = :status, applied = :applied, duplicates = :duplicates,
        invalid = :invalid, failed = :failed, finished_at = now()
    WHERE id = :bulk
    """
)

_ADD_COUNTS = text(
    """
    UPDATE replay_jobs SET
        events_applied_number = events_applied_number + :applied,
        events_duplicate_number = events_duplicate_number + :duplicates,
        events_with_validation_errors_number = events_with_validation_errors_number + :invalid,
        events_failed_number = events_failed_number + :failed,
        errors = errors || CAST(:errors AS jsonb)
    WHERE id = :job
    """
)


async def finish_bulk(
    conn: AsyncConnection,
    job_id: int,
    bulk_id: int,
    status: BulkStatus,
    counts: BulkCounts,
    errors: Sequence[Mapping[str, Any]] = (),
) -> None:
    """The bulk's outcome, added to the job's totals (call inside one transaction)."""
    values = {
        "applied": counts.applied,
        "duplicates": counts.duplicates,
        "invalid": counts.invalid,
        "failed": counts.failed,
    }
    await conn.execute(_FINISH_BULK, {"bulk": bulk_id, "status": status, **values})
    encoded = msgspec.json.encode(list(errors)).decode()
    await conn.execute(_ADD_COUNTS, {"job": job_id, "errors": encoded, **values})


_FINISH_JOB = text("UPDATE replay_jobs SET status = :status, finished_at = now() WHERE id = :job")
# A job that stopped early leaves no bulk looking busy; bulks never started stay `waiting`.
_ABANDON_BULKS = text(
    "UPDATE replay_bulks SET status = 'failed', finished_at = now() "
    "WHERE job_id = :job AND status = 'working'"
)


async def finish_job(conn: AsyncConnection, job_id: int, status: JobStatus) -> None:
    await conn.execute(_FINISH_JOB, {"job": job_id, "status": status})
    if status == "failed":
        await conn.execute(_ABANDON_BULKS, {"job": job_id})


# One statement, so the totals and the bulks come from the same snapshot.
_READ_JOB = text(
    """
    SELECT j.id, j.source, j.bulk_size, j.status, j.events_in_payload_number,
           j.events_applied_number, j.events_duplicate_number,
           j.events_with_validation_errors_number, j.events_failed_number,
           CAST(j.errors AS text) AS errors, j.created_at, j.finished_at,
           CAST(coalesce((
               SELECT jsonb_agg(jsonb_build_object(
                          'id', b.id, 'request_number', b.request_number,
                          'status', b.status, 'size', b.size, 'applied', b.applied,
                          'duplicates', b.duplicates, 'invalid', b.invalid,
                          'failed', b.failed) ORDER BY b.request_number)
               FROM replay_bulks AS b WHERE b.job_id = j.id), '[]'::jsonb) AS text) AS bulks
    FROM replay_jobs AS j WHERE j.id = :job
    """
)

_BULK_KEYS: Final = (
    "id",
    "request_number",
    "status",
    "size",
    "applied",
    "duplicates",
    "invalid",
    "failed",
)


def iso(at: datetime | None) -> str | None:
    """The import report's timestamps: UTC with milliseconds and `Z`."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def read_report(conn: AsyncConnection, job_id: int) -> dict[str, Any] | None:
    """The job's report (an import status report's shape, for events); None if unknown."""
    job = (await conn.execute(_READ_JOB, {"job": job_id})).one_or_none()
    if job is None:
        return None
    bulks: list[dict[str, Any]] = msgspec.json.decode(job.bulks)
    errors: list[dict[str, Any]] = msgspec.json.decode(job.errors)
    problems = job.events_with_validation_errors_number + job.events_failed_number
    return {
        "id": job.id,
        "events_in_payload_number": job.events_in_payload_number,
        "events_applied_number": job.events_applied_number,
        "events_duplicate_number": job.events_duplicate_number,
        "events_with_validation_errors_number": job.events_with_validation_errors_number,
        "events_failed_number": job.events_failed_number,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
        "status": job.status,
        "source": job.source,
        "bulk_size": job.bulk_size,
        "bulks": [{key: bulk[key] for key in _BULK_KEYS} for bulk in bulks],
        "errors": errors,
        "errors_not_listed_number": max(0, problems - len(errors)),
    }


__all__ = [
    "MAX_STORED_ERRORS",
    "BulkCounts",
    "BulkStatus",
    "JobStatus",
    "create_job",
    "finish_bulk",
    "finish_job",
    "iso",
    "read_report",
    "replay_bulks",
    "replay_jobs",
    "start_bulk",
]
