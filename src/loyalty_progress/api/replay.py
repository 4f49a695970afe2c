"""`GET /v1/replay-jobs/{job_id}`: a replay job's report, the seed-004-style document
`loyalty-progress replay status JOB_ID` prints, also while the job runs.

Staff tokens only (docs/security.md): a job belongs to no club, since it replays whatever
its file or stream range holds, and its errors quote the input lines they refuse.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from loyalty_progress.api.access import require_staff
from loyalty_progress.api.auth import CallerParam
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.params import MAX_INT8, Club
from loyalty_progress.store.replay_jobs import read_report


def replay_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    @get(
        "/v1/replay-jobs/{job_id:int}",
        summary="A replay job's report: totals, applied, duplicates, invalid, per-bulk status "
        "(staff tokens only)",
    )
    async def replay_job(
        job_id: Annotated[int, PathParameter(ge=1, le=MAX_INT8)],
        club: Club,
        caller: CallerParam,
    ) -> dict[str, Any]:
        require_staff(caller, club)
        async with ctx.engine.connect() as conn:
            report = await read_report(conn, job_id)
        if report is None:
            raise NotFoundException(detail=f"no replay job {job_id}")
        return report

    return [replay_job]
