"""Counter challenges on the read side (docs/counter-challenges.md, "Read side (HTTP)").

| route | shape |
|---|---|
| `GET /v1/members/{member_id}/challenges` | seed 001 (`data`, `pagesNum`, `count`) |
| `GET /v1/members/{member_id}/challenges/active` | Paytronix list (`result`, `challenges`) |
| `GET /v1/members/{member_id}/challenges/eligible` | Paytronix list |
| `GET /v1/members/{member_id}/challenges/historical?sinceDate=` | Paytronix list |
| `GET /v1/groups/{group_code}/challenges/active\\|eligible\\|historical` | Paytronix list |
| `GET /v1/challenges/{code}/occurrences/{occurrence}?memberId=\\|groupCode=` | Paytronix detail |
| `GET /v1/challenges/{code}/charities` | the definition's charitable organizations |
| `GET /v1/members/{member_id}/challenges/{code}/contributions?occurrence=` | the ledger |

The club comes from the `X-Loyalty-Club-Slug` header and "now" from the worker's clock
(`LOYALTY_NOW`). Every member of the club is listed: one no event has reached yet sees
what a new member sees (`auto` challenges `ACTIVE`, `opt_in` ones `ELIGIBLE`, zero
progress); an unknown group gets empty lists. Bad query parameters (and a missing club
header) answer 422 with the reason (`params.py`); query names match in any case
(`query_names.py`). Every route takes the verified `caller` and asks `access.py` whether
it may read the member or group it names.

Routes only load and check: which occurrences are listed is `engine.challenges.lists`,
their JSON `engine.challenges.views` (the shapes: `engine.challenges.responses`), the
query parameters' 422 answers `challenge_params.py`. The six Paytronix lists (member or
group × active, eligible, historical) are one handler each from `LIST_ROUTES`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final, Literal

from litestar import get
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.api.access import check_group, member_for, require_club
from loyalty_progress.api.auth import Caller, CallerParam
from loyalty_progress.api.challenge_params import (
    GroupCodeQuery,
    MemberIdQuery,
    SinceRaw,
    invalid,
    no_since,
    order_field,
    parse_since,
    since_query,
)
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.params import MAX_INT4, Club, SubjectId
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges import (
    Catalog,
    MemberRecord,
    Progress,
    ProgressKey,
    group_status,
    is_locked,
    member_status,
    occurrence,
)
from loyalty_progress.engine.challenges.catalog_cache import CatalogCache
from loyalty_progress.engine.challenges.lists import (
    ListKind,
    Shown,
    detail_status,
    group_occurrences,
    in_category,
    listed,
    member_occurrences,
    page_of,
    seed001_selection,
    unclaimed,
)
from loyalty_progress.engine.challenges.responses import (
    ChallengeDetail,
    ChallengeList,
    ChallengePage,
    CharityList,
    Contributions,
)
from loyalty_progress.engine.challenges.timeline import groups_at
from loyalty_progress.engine.challenges.views import (
    challenge_out,
    charities_out,
    contribution_out,
    paytronix_out,
)
from loyalty_progress.store import challenges as store
from loyalty_progress.store.prizes import unclaimed_prizes


@dataclass(frozen=True, slots=True)
class ListRoute:
    """One Paytronix list: whose (`scope`), which (`kind`), and its OpenAPI summary."""

    scope: Literal["member", "group"]
    kind: ListKind
    summary: str


LIST_ROUTES: Final = (
    ListRoute(
        "member", "active", "Paytronix: challenges the member is in (ACTIVE) or opted in to ahead"
    ),
    ListRoute("member", "eligible", "Paytronix: challenges the member can opt in to"),
    ListRoute(
        "member",
        "historical",
        "Paytronix: completed, expired and opted-out occurrences (sinceDate: ended after)",
    ),
    ListRoute("group", "active", "Paytronix: the group's challenges in progress"),
    ListRoute("group", "eligible", "Paytronix: group challenges the group can take"),
    ListRoute("group", "historical", "Paytronix: the group's completed and expired occurrences"),
)


def _since_dependency(kind: ListKind) -> dict[str, Provide]:
    # Only the historical lists take `sinceDate`; the raw text is parsed by the handler,
    # after the access check, as a parameter of its own would be.
    source = since_query if kind == "historical" else no_since
    return {"since_raw": Provide(source, sync_to_thread=False)}


def challenge_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    catalogs = CatalogCache()

    def catalog() -> Catalog:
        return catalogs.get(ctx.definitions.current)

    def definition_of(club: str, code: str) -> ChallengeDefinition:
        found = catalog().get(club, code)
        if found is None:
            raise NotFoundException(detail=f"no challenge `{code}` in club `{club}`")
        return found

    async def member_rows(
        conn: AsyncConnection, club: str, member_id: str
    ) -> tuple[MemberRecord | None, dict[ProgressKey, Progress]]:
        # Any member of the club is listed, one without a record or rows as a new member.
        record = await store.read_member(conn, club, member_id)
        return record, await store.read_progress(conn, club, "member", member_id)

    async def group_rows_of(
        conn: AsyncConnection, club: str, groups: Sequence[str]
    ) -> dict[ProgressKey, Progress]:
        rows: dict[ProgressKey, Progress] = {}
        if groups and catalog().group_scoped(club):
            for group in groups:
                rows.update(await store.read_progress(conn, club, "group", group))
        return rows

    @get(
        "/v1/members/{member_id:str}/challenges",
        summary="Member-app challenge list: a member's challenges with progress, filtered, "
        "sorted, paged",
    )
    async def member_challenges(
        member_id: SubjectId,
        club: Club,
        caller: CallerParam,
        category_id: Annotated[
            int | None, QueryParameter(name="CategoryId", ge=-MAX_INT4, le=MAX_INT4)
        ] = None,
        search_query: Annotated[
            str | None, QueryParameter(name="SearchQuery", max_length=200)
        ] = None,
        page: Annotated[int, QueryParameter(name="Page", ge=1, le=100_000)] = 1,
        items_per_page: Annotated[int, QueryParameter(name="ItemsPerPage", ge=1, le=100)] = 10,
        order_by: Annotated[str, QueryParameter(name="OrderBy", max_length=32)] = "Id",
        is_ascending: Annotated[bool, QueryParameter(name="IsAscending")] = True,
    ) -> ChallengePage:
        member_id = member_for(caller, club, member_id)
        order = order_field(order_by)
        now = ctx.clock.now()
        async with ctx.engine.connect() as conn:
            record, rows = await member_rows(conn, club, member_id)
            groups = groups_at(record, now)
            group_rows = await group_rows_of(conn, club, groups)
            definitions = catalog().of_club(club)
            shown = seed001_selection(definitions, member_id, record, rows, groups, group_rows, now)
            counts = await store.read_occurrence_counts(conn, (s.occurrence_key for s in shown))
            prizes = await unclaimed_prizes(conn, club, member_id)
        needle = (search_query or "").strip().lower()
        items = [
            challenge_out(s, member_id, record, counts.get(s.occurrence_key), now, prizes)
            for s in shown
            if not s.all_claimed(counts.get(s.occurrence_key))
            and in_category(s.definition, category_id)
            and needle in s.definition.name.lower()
        ]
        return page_of(items, order, is_ascending, page, items_per_page)

    async def paytronix_list(
        conn: AsyncConnection,
        shown: list[Shown],
        kind: ListKind,
        since: datetime | None,
        now: datetime,
    ) -> ChallengeList:
        picked = listed(kind, shown, since, now)
        if kind != "historical":
            counts = await store.read_occurrence_counts(conn, (s.occurrence_key for s in picked))
            picked = unclaimed(picked, counts)
        return ChallengeList(result="success", challenges=[paytronix_out(s) for s in picked])

    async def member_list(
        club: str, member_id: str, kind: ListKind, since: datetime | None
    ) -> ChallengeList:
        now = ctx.clock.now()
        async with ctx.engine.connect() as conn:
            record, rows = await member_rows(conn, club, member_id)
            definitions = catalog().of_club(club)
            shown = member_occurrences(definitions, member_id, record, rows, now)
            return await paytronix_list(conn, shown, kind, since, now)

    async def group_list(
        caller: Caller, club: str, group_code: str, kind: ListKind, since: datetime | None
    ) -> ChallengeList:
        now = ctx.clock.now()
        async with ctx.engine.connect() as conn:
            await check_group(caller, conn, club, group_code, now)
            record = await store.read_group(conn, club, group_code)
            if not record.known:
                return ChallengeList(result="success", challenges=[])
            rows = await store.read_progress(conn, club, "group", group_code)
            shown = group_occurrences(catalog().of_club(club), group_code, rows, now)
            return await paytronix_list(conn, shown, kind, since, now)

    def member_list_route(route: ListRoute) -> HTTPRouteHandler:
        async def handler(
            member_id: SubjectId, club: Club, caller: CallerParam, since_raw: SinceRaw
        ) -> ChallengeList:
            member_id = member_for(caller, club, member_id)
            return await member_list(club, member_id, route.kind, parse_since(since_raw))

        return _list_handler(handler, route, "/v1/members/{member_id:str}")

    def group_list_route(route: ListRoute) -> HTTPRouteHandler:
        async def handler(
            group_code: SubjectId, club: Club, caller: CallerParam, since_raw: SinceRaw
        ) -> ChallengeList:
            since = parse_since(since_raw)
            return await group_list(caller, club, group_code, route.kind, since)

        return _list_handler(handler, route, "/v1/groups/{group_code:str}")

    @get(
        "/v1/challenges/{code:str}/occurrences/{index:int}",
        summary="Paytronix: one occurrence for a member (memberId) or a group (groupCode), "
        "with counters and per-member details",
    )
    async def occurrence_detail(
        code: SubjectId,
        index: Annotated[int, PathParameter(ge=0, le=MAX_INT4)],
        club: Club,
        caller: CallerParam,
        member_id: MemberIdQuery = None,
        group_code: GroupCodeQuery = None,
    ) -> ChallengeDetail:
        require_club(caller, club)
        definition = definition_of(club, code)
        subject = group_code if definition.scope == "group" else member_id
        if subject is None or (member_id is not None and group_code is not None):
            wanted = "groupCode" if definition.scope == "group" else "memberId"
            raise invalid(wanted, f"is required (alone) for {definition.scope} challenge")
        if definition.scope == "member":
            subject = member_for(caller, club, subject)
        try:
            occ = occurrence(definition, index)
        except (ValueError, OverflowError):  # past the last one, or past year 9999
            raise NotFoundException(
                detail=f"challenge `{code}` has no occurrence {index}"
            ) from None
        now = ctx.clock.now()
        key: ProgressKey = (club, code, index, definition.scope, subject)
        async with ctx.engine.connect() as conn:
            if definition.scope == "group":
                await check_group(caller, conn, club, subject, now)
                rows = await store.read_progress(conn, club, "group", subject)
                status = detail_status(group_status(definition, occ, rows.get(key), now))
                shown = Shown(definition, occ, rows.get(key), status, subject)
            else:
                record, rows = await member_rows(conn, club, subject)
                progress = rows.get(key)
                status = detail_status(member_status(definition, occ, record, progress, now))
                locked = is_locked(definition, record, now)
                shown = Shown(definition, occ, progress, status, locked=locked)
        return ChallengeDetail(result="success", challenge=paytronix_out(shown))

    @get(
        "/v1/challenges/{code:str}/charities",
        summary="The charitable organizations a member may name when opting in to the challenge",
    )
    async def challenge_charities(code: SubjectId, club: Club, caller: CallerParam) -> CharityList:
        # The definition's own list, the same for every member: any token of the club.
        require_club(caller, club)
        return charities_out(definition_of(club, code))

    @get(
        "/v1/members/{member_id:str}/challenges/{code:str}/contributions",
        summary="The ledger: which of the member's events counted for the challenge, which "
        "did not, and why",
    )
    async def contributions(
        member_id: SubjectId,
        code: SubjectId,
        club: Club,
        caller: CallerParam,
        occurrence_index: Annotated[
            int | None, QueryParameter(name="occurrence", ge=0, le=MAX_INT4)
        ] = None,
    ) -> Contributions:
        # A member reads their own ledger (why did my purchase not count?); staff any.
        member_id = member_for(caller, club, member_id)
        definition_of(club, code)
        async with ctx.engine.connect() as conn:
            lines = await store.read_ledger(conn, club, member_id, code, occurrence_index)
        data = [contribution_out(line.entry, line.occurrence, line.recorded_at) for line in lines]
        return Contributions(challenge_code=code, member_id=member_id, data=data, count=len(data))

    build = {"member": member_list_route, "group": group_list_route}
    return [
        member_challenges,
        *(build[route.scope](route) for route in LIST_ROUTES),
        occurrence_detail,
        challenge_charities,
        contributions,
    ]


def _list_handler(
    handler: Callable[..., Awaitable[ChallengeList]], route: ListRoute, subject_path: str
) -> HTTPRouteHandler:
    # The handler's name makes the OpenAPI operation id (`member_active`, ...).
    handler.__name__ = f"{route.scope}_{route.kind}"
    return get(
        f"{subject_path}/challenges/{route.kind}",
        summary=route.summary,
        dependencies=_since_dependency(route.kind),
    )(handler)
