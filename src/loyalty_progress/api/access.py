"""What each caller may read (docs/security.md "Who may read what").

- Every token reads its own club only (`club` claim = `X-Loyalty-Club-Slug`).
- A member token reads its own member: totals, attendance, challenges and its own
  contribution ledger; `me` in a member path (or `memberId=me`) is the token's `sub`.
- A group's lists and occurrence detail (which name every member's contribution) are for
  the group's current members.
- A staff token (`loyalty:staff`) reads any member and group of its club, and the replay
  job reports (which belong to no club).
- With authentication off every request is `UNCHECKED` and reads anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from litestar.exceptions import ClientException, PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.api.auth import Caller
from loyalty_progress.engine.challenges.timeline import groups_at
from loyalty_progress.store import challenges as store

ME: Final = "me"


def require_club(caller: Caller, club: str) -> None:
    if caller.checked and caller.club != club:
        raise PermissionDeniedException(
            detail="the token is for another club than X-Loyalty-Club-Slug"
        )


def require_staff(caller: Caller, club: str) -> None:
    require_club(caller, club)
    if caller.checked and not caller.staff:
        raise PermissionDeniedException(detail="this route is for staff tokens (loyalty:staff)")


def member_for(caller: Caller, club: str, member_id: str) -> str:
    """The member a member route reads: `me` is the token's member. 403 unless the caller
    is that member or staff of the club."""
    require_club(caller, club)
    if member_id == ME:
        if caller.subject is None:
            raise ClientException(
                detail="`me` names the bearer token's member, and this read side runs "
                "without authentication: use the member id"
            )
        return caller.subject
    if caller.checked and not caller.staff and member_id != caller.subject:
        raise PermissionDeniedException(detail="a member token reads its own member only")
    return member_id


async def check_group(
    caller: Caller, conn: AsyncConnection, club: str, group_code: str, now: datetime
) -> None:
    """403 unless the caller is staff of the club or a member of the group now."""
    require_club(caller, club)
    if not caller.checked or caller.staff:
        return
    assert caller.subject is not None
    record = await store.read_member(conn, club, caller.subject)
    if group_code not in groups_at(record, now):
        raise PermissionDeniedException(
            detail="a member token reads the groups its member belongs to only"
        )
