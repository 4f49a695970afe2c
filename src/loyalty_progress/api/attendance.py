"""`GET /v1/members/{member_id}/attendance_challenge`: seed 000's response.

The club comes from the `X-Loyalty-Club-Slug` header; the edition is the club's current
one at `now` (the worker's clock, so `LOYALTY_NOW` applies). 404 with a reason when the
club has none. `membership` is null for a member who never sent a receipt dated in the
edition. Everything else is the engine's pure view of the stored rows as of `now`.
"""

from __future__ import annotations

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler

from loyalty_progress.api.access import member_for
from loyalty_progress.api.auth import CallerParam
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.params import Club, SubjectId
from loyalty_progress.engine.attendance import attendance_view, current_edition
from loyalty_progress.engine.attendance.view import AttendanceChallengeView
from loyalty_progress.store.attendance import load_member


def attendance_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    @get("/v1/members/{member_id:str}/attendance_challenge")
    async def attendance_challenge(
        member_id: SubjectId, club: Club, caller: CallerParam
    ) -> AttendanceChallengeView:
        """The club's current attendance edition and the member's progress in it."""
        member_id = member_for(caller, club, member_id)
        now = ctx.clock.now()
        edition = current_edition(ctx.definitions.current.editions, club, now)
        if edition is None:
            raise NotFoundException(
                detail=f"club {club!r} has no current attendance challenge edition at "
                f"{now.isoformat()}",
                extra={"reason": "no_current_edition", "club": club},
            )
        async with ctx.engine.connect() as conn:
            membership, days = await load_member(conn, club, edition.code, member_id)
        return attendance_view(edition, membership, days, now)

    return [attendance_challenge]
