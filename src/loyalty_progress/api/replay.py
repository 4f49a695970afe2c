"""`GET /v1/replays/{job_id}`: a replay job's report, the bulk import status document
`loyalty-progress replay status JOB_ID` prints (docs/replay.md "The report"), also while
the job runs; 404 for an unknown job.

Staff tokens only (docs/security.md): a job belongs to no club, since it replays whatever
its file or stream range holds, and its errors quote the input lines they refuse.

The route was `/v1/replay-jobs/{job_id}` before any release; it is named after the
resource now (`replays`, as the CLI's `replay`), without an alias (docs/replay.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from loyalty_progress.api.access import require_staff
from loyalty_progress.api.auth import CallerParam
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.params import MAX_INT8, Club
from loyalty_progress.store.replay_jobs import read_report


class ReplayBulk(msgspec.Struct, frozen=True, kw_only=True):
    """One bulk of the job: `id`, `request_number` and `status` as in an import's bulks,
    plus its size and counts."""

    id: int
    request_number: int
    status: Literal["waiting", "working", "finished", "failed"]
    size: int
    applied: int
    duplicates: int
    invalid: int
    failed: int


class ReplayError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An invalid or failed event: its `line` (file) or `entry_id` (stream), and why."""

    line: int | None = None
    entry_id: str | None = None
    reason: str


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    """A replay job's import status report, for events instead of members."""

    id: int
    events_in_payload_number: int
    events_applied_number: int
    events_duplicate_number: int
    events_with_validation_errors_number: int
    events_failed_number: int
    created_at: str
    finished_at: str | None
    status: Literal["working", "finished", "failed"]
    source: str
    bulk_size: int
    bulks: list[ReplayBulk]
    errors: list[ReplayError]
    errors_not_listed_number: int


def replay_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    @get(
        "/v1/replays/{job_id:int}",
        summary="A replay job's report: totals, applied, duplicates, invalid, per-bulk status "
        "(staff tokens only)",
    )
    async def replay_report(
        job_id: Annotated[int, PathParameter(ge=1, le=MAX_INT8)],
        club: Club,
        caller: CallerParam,
    ) -> ReplayReport:
        require_staff(caller, club)
        async with ctx.engine.connect() as conn:
            report = await read_report(conn, job_id)
        if report is None:
            raise NotFoundException(detail=f"no replay job {job_id}")
        return msgspec.convert(report, ReplayReport)

    return [replay_report]
