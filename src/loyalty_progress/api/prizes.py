"""`GET /v1/members/{member_id}/prize_history`: the prizes the member claimed (the rewards
system reports each claim as a `prize_claimed` member event), the latest claim first.
Prizes won and not claimed yet are in the challenge list's `Prizes` instead (seed 001:
"once claimed it will be empty and prize moves to history"). An unknown member has an
empty history. The club comes from the `X-Loyalty-Club-Slug` header.
"""

from __future__ import annotations

from litestar import get
from litestar.handlers import HTTPRouteHandler

from loyalty_progress.api.access import member_for
from loyalty_progress.api.auth import CallerParam
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.params import Club, SubjectId
from loyalty_progress.engine.prizes.history import PrizeHistory, prize_history
from loyalty_progress.store.prizes import claimed_prizes


def prize_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    @get(
        "/v1/members/{member_id:str}/prize_history",
        summary="Prize history: the prizes a member claimed, the latest claim first",
    )
    async def member_prize_history(
        member_id: SubjectId, club: Club, caller: CallerParam
    ) -> PrizeHistory:
        member_id = member_for(caller, club, member_id)
        async with ctx.engine.connect() as conn:
            claimed = await claimed_prizes(conn, club, member_id)
        return prize_history(member_id, claimed)

    return [member_prize_history]
