"""The attendance challenge on the read side.

| route | answers |
|---|---|
| `GET /v1/members/{member_id}/attendance_challenge` | seed 000's response |
| `GET /v1/members/{member_id}/attendance_challenge/contributions?edition=` | the ledger |

The club comes from the `X-Loyalty-Club-Slug` header; the edition is the club's current
one at `now` (the worker's clock, so `LOYALTY_NOW` applies), or for the ledger the one
`edition` names. 404 with a reason when the club has none. `membership` is null for a
member who never sent a receipt dated in the edition. Everything else is the engine's
pure view of the stored rows as of `now` (`engine.attendance.view`, `.ledger`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter

from loyalty_progress.api.access import member_for
from loyalty_progress.api.auth import CallerParam
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.params import MAX_ID_LENGTH, Club, SubjectId
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.engine.attendance import attendance_view, current_edition
from loyalty_progress.engine.attendance.ledger import AttendanceContributions, contributions_view
from loyalty_progress.engine.attendance.view import AttendanceChallengeView
from loyalty_progress.store.attendance import load_contributions, load_member

EditionQuery = Annotated[
    str | None, QueryParameter(name="edition", min_length=1, max_length=MAX_ID_LENGTH)
]


def attendance_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    @get("/v1/members/{member_id:str}/attendance_challenge")
    async def attendance_challenge(
        member_id: SubjectId, club: Club, caller: CallerParam
    ) -> AttendanceChallengeView:
        """The club's current attendance edition and the member's progress in it."""
        member_id = member_for(caller, club, member_id)
        now = ctx.clock.now()
        edition = current_or_404(club, now)
        async with ctx.engine.connect() as conn:
            membership, days = await load_member(conn, club, edition.code, member_id)
        return attendance_view(edition, membership, days, now)

    @get(
        "/v1/members/{member_id:str}/attendance_challenge/contributions",
        summary="The attendance ledger: which of the member's receipts counted for which "
        "date, which did not, and why (the current edition, or `edition`)",
    )
    async def attendance_contributions(
        member_id: SubjectId, club: Club, caller: CallerParam, edition: EditionQuery = None
    ) -> AttendanceContributions:
        # A member reads their own ledger (why did my receipt not count?); staff any.
        member_id = member_for(caller, club, member_id)
        chosen = current_or_404(club, ctx.clock.now()) if edition is None else named(club, edition)
        async with ctx.engine.connect() as conn:
            lines = await load_contributions(conn, club, chosen.code, member_id)
        return contributions_view(chosen.code, member_id, lines)

    def current_or_404(club: str, now: datetime) -> AttendanceEdition:
        edition = current_edition(ctx.definitions.current.editions, club, now)
        if edition is None:
            raise NotFoundException(
                detail=f"club {club!r} has no current attendance challenge edition at "
                f"{now.isoformat()}",
                extra={"reason": "no_current_edition", "club": club},
            )
        return edition

    def named(club: str, code: str) -> AttendanceEdition:
        for edition in ctx.definitions.current.editions:
            if edition.club == club and edition.code == code:
                return edition
        raise NotFoundException(
            detail=f"club {club!r} has no attendance challenge edition {code!r}",
            extra={"reason": "unknown_edition", "club": club},
        )

    return [attendance_challenge, attendance_contributions]
