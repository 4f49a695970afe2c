"""Counter challenges on the read side (SPEC §4; docs/counter-challenges.md "Read side").

| route | shape |
|---|---|
| `GET /v1/members/{member_id}/challenges` | seed 001 (`data`, `pagesNum`, `count`) |
| `GET /v1/members/{member_id}/challenges/active` | Paytronix list (`result`, `challenges`) |
| `GET /v1/members/{member_id}/challenges/eligible` | Paytronix list |
| `GET /v1/members/{member_id}/challenges/historical?sinceDate=` | Paytronix list |
| `GET /v1/groups/{group_code}/challenges/active\\|eligible\\|historical` | Paytronix list |
| `GET /v1/challenges/{code}/occurrences/{occurrence}?memberId=\\|groupCode=` | Paytronix detail |
| `GET /v1/members/{member_id}/challenges/{code}/contributions?occurrence=` | the ledger |

The club comes from the `X-Loyalty-Club-Slug` header and "now" from the worker's clock
(`LOYALTY_NOW`). An unknown member or group gets empty lists. Bad query parameters (and a
missing club header) answer 422 with the reason (`params.py`). Every route takes the
verified `caller` and asks `access.py` whether it may read the member or group it names.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.api.access import check_group, member_for, require_club
from loyalty_progress.api.auth import Caller, CallerParam
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.params import MAX_ID_LENGTH, MAX_INT4, Club, SubjectId
from loyalty_progress.definitions.challenge import (
    TRIGGER_NUMBERS,
    ChallengeDefinition,
    ChallengePrize,
    TriggerType,
)
from loyalty_progress.engine.challenges import (
    Catalog,
    ChallengeView,
    MemberRecord,
    Occurrence,
    Progress,
    ProgressKey,
    Status,
    group_status,
    is_locked,
    member_status,
    occurrence,
    occurrence_at,
    occurrences,
    progress_view,
)
from loyalty_progress.engine.challenges.catalog_cache import CatalogCache
from loyalty_progress.engine.challenges.timeline import groups_at
from loyalty_progress.store import challenges as store
from loyalty_progress.store.challenges import OccurrenceCounts

Number = int | float

# Seed 001 numbers trigger types 1-6; the receipt types continue the numbering (our
# extension, documented) so `TriggerType` is always a number. `TriggerTypeName` names it.
TRIGGER_TYPE_NUMBERS: Final[dict[TriggerType, int]] = {
    **{name: number for number, name in TRIGGER_NUMBERS.items()},
    "receipt_count": 7,
    "receipt_amount": 8,
    "distinct_stores": 9,
    "distinct_items": 10,
}
ORDER_FIELDS: Final = ("Id", "Name", "Startdate", "Enddate", "PeopleFinished", "EndsAfter")
ListKind = Literal["active", "eligible", "historical"]
SinceDate = Annotated[str | None, QueryParameter(name="sinceDate", max_length=64)]
# Ids in the query string, as bounded as the path ids.
MemberIdQuery = Annotated[
    str | None, QueryParameter(name="memberId", min_length=1, max_length=MAX_ID_LENGTH)
]
GroupCodeQuery = Annotated[
    str | None, QueryParameter(name="groupCode", min_length=1, max_length=MAX_ID_LENGTH)
]


# --------------------------------------------------------------------------- shapes


class CategoryOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    id: int
    name: str


class PrizeOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    value: int | str | None
    expiration_date: datetime | None
    description: str | None
    reward_type: str


class MilestoneOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    """Seed 001 `Prizes` item. Its `Prizes` hold the prizes still to win: once the
    milestone is reached (the prize claimed, or lost in a limited challenge) it is empty."""

    user_id: str = msgspec.field(name="UserID")
    milestone_id: str
    prizes: list[PrizeOut]


class TriggerProgressOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    trigger_id: int
    trigger_type: int
    trigger_type_name: str
    trigger_name: str
    trigger_order: int
    operator: str
    trigger_frequency: Number
    action_left: Number
    progress: int


class GroupProgressOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    group_id: int
    group_order: int
    operator: str
    triggers_progress: list[TriggerProgressOut]


class ChallengeOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    """Seed 001 challenge, plus `Status`, `Occurrence` and `Completed` (our additions)."""

    id: str
    name: str
    description: str
    startdate: datetime
    enddate: datetime
    people_finished: int
    ends_after: int
    is_locked: int
    visible: bool
    category: CategoryOut | None
    image: str | None
    prizes: list[MilestoneOut]
    group_progress: list[GroupProgressOut]
    status: str | None
    occurrence: int
    completed: bool


class ChallengePage(msgspec.Struct, frozen=True, kw_only=True):
    data: list[ChallengeOut]
    pages_num: int = msgspec.field(name="pagesNum")
    count: int


class CounterDetailOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    memberCode: str | None = None  # seed 002 field names
    numericValue: Number | None = None
    stringValue: str | None = None


class CounterOut(msgspec.Struct, frozen=True, kw_only=True):
    code: int
    name: str
    value: Number
    threshold: Number
    details: list[CounterDetailOut]


class PaytronixChallenge(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Seed 002 Challenge, plus the occurrence, the group (group challenges) and when it
    was completed."""

    code: str
    name: str
    description: str
    start_date: datetime
    end_date: datetime
    status: str | None
    occurrence: int
    occurrence_code: str
    group_code: str | None
    completed_at: datetime | None
    counters: list[CounterOut]


class ChallengeList(msgspec.Struct, frozen=True, kw_only=True):
    result: str
    challenges: list[PaytronixChallenge]


class ChallengeDetail(msgspec.Struct, frozen=True, kw_only=True):
    result: str
    challenge: PaytronixChallenge


class DeltaOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    trigger: int
    amount: Number | None = None
    keys: list[str] = []
    gauge: int | None = None


class ContributionOut(msgspec.Struct, frozen=True, kw_only=True):
    """One ledger line: whether the event counts now (`counts`) and why (`reason`)."""

    event_id: str
    occurrence: int | None
    occurred_at: datetime
    source: str
    reason: str
    counts: bool
    counted_for: list[str]
    deltas: list[DeltaOut]
    receipt_id: str | None
    reverses: str | None
    reversed_by: str | None
    recorded_at: datetime


class Contributions(msgspec.Struct, frozen=True, kw_only=True):
    challenge_code: str
    member_id: str
    data: list[ContributionOut]
    count: int


# --------------------------------------------------------------------------- errors


def _invalid(parameter: str, problem: str) -> ValidationException:
    detail = f"Validation failed: query parameter `{parameter}` {problem}"
    return ValidationException(detail=detail, extra=[{"key": parameter, "message": problem}])


def _order_field(raw: str) -> str:
    for name in ORDER_FIELDS:
        if raw.lower() == name.lower():
            return name
    raise _invalid("OrderBy", f"must be one of {', '.join(ORDER_FIELDS)}, got {raw!r}")


def parse_since(raw: str | None) -> datetime | None:
    """Paytronix `sinceDate`: `yyyy-MM-dd HH:mm:ss [+-ZZZZ]` (UTC without an offset), an
    RFC 3339 timestamp, or a date (midnight UTC)."""
    if raw is None:
        return None
    candidate = raw.strip().replace(" +", "+").replace(" -", "-").replace("Z", "+00:00")
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise _invalid(
            "sinceDate", f"must look like `2026-11-01 00:00:00 +0100` or RFC 3339, got {raw!r}"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- views


def _number(value: Decimal) -> Number:
    return int(value) if value == value.to_integral_value() else float(value)


def _days_left(ends_at: datetime, now: datetime) -> int:
    return max(0, math.ceil((ends_at - now) / timedelta(days=1)))


def shown_occurrence(definition: ChallengeDefinition, now: datetime) -> Occurrence | None:
    """The occurrence a member sees now: the current one, or the first before the start;
    None once the challenge is over."""
    current = occurrence_at(definition, now)
    if current is not None:
        return current
    return occurrence(definition, 0) if now < definition.starts_at else None


def _prize_out(prize: ChallengePrize) -> PrizeOut:
    return PrizeOut(
        value=prize.reward_id if prize.type == "reward" else prize.value,
        expiration_date=prize.expires_at,
        description=prize.description,
        reward_type=prize.type,
    )


def _milestones(
    definition: ChallengeDefinition, progress: Progress | None, member_id: str
) -> list[MilestoneOut]:
    reached = progress.milestones if progress else {}
    return [
        MilestoneOut(
            user_id=member_id,
            milestone_id=m.code,
            prizes=[] if m.code in reached else [_prize_out(p) for p in m.prizes],
        )
        for m in definition.milestones
    ]


def _group_progress(view: ChallengeView) -> list[GroupProgressOut]:
    return [
        GroupProgressOut(
            group_id=g.id,
            group_order=g.order,
            operator=g.operator,
            triggers_progress=[
                TriggerProgressOut(
                    trigger_id=t.id,
                    trigger_type=TRIGGER_TYPE_NUMBERS[t.type],
                    trigger_type_name=t.type,
                    trigger_name=t.name,
                    trigger_order=t.order,
                    operator=t.operator,
                    trigger_frequency=_number(t.target),
                    action_left=_number(t.action_left),
                    progress=t.progress,
                )
                for t in g.triggers
            ],
        )
        for g in view.groups
    ]


def _counters(view: ChallengeView, group: bool) -> list[CounterOut]:
    return [
        CounterOut(
            code=t.id,
            name=t.name,
            value=_number(t.value),
            threshold=_number(t.target),
            details=[
                CounterDetailOut(
                    memberCode=d.member_id if group else None,
                    numericValue=None if d.numeric_value is None else _number(d.numeric_value),
                    stringValue=d.string_value,
                )
                for d in t.details
            ],
        )
        for g in view.groups
        for t in g.triggers
    ]


@dataclass(frozen=True, slots=True)
class Shown:
    """One challenge occurrence as one subject sees it."""

    definition: ChallengeDefinition
    occurrence: Occurrence
    progress: Progress | None
    status: Status | None
    group_code: str | None = None

    @property
    def completed(self) -> bool:
        return self.progress is not None and self.progress.completed is not None

    def all_claimed(self, counts: OccurrenceCounts | None) -> bool:
        """A limited challenge whose prizes are all won, by others than this subject."""
        limit = self.definition.max_winners
        won = counts.winners if counts else 0
        winner = self.progress is not None and self.progress.winner is True
        return limit is not None and won >= limit and not winner


def challenge_out(
    shown: Shown,
    member_id: str,
    record: MemberRecord | None,
    counts: OccurrenceCounts | None,
    now: datetime,
) -> ChallengeOut:
    d, occ = shown.definition, shown.occurrence
    view = progress_view(d, shown.progress)
    return ChallengeOut(
        id=d.code,
        name=d.name,
        description=d.description,
        startdate=occ.starts_at,
        enddate=occ.ends_at,
        people_finished=counts.people_finished if counts else 0,
        ends_after=_days_left(occ.ends_at, now),
        is_locked=int(d.scope == "member" and is_locked(d, record, now)),
        visible=d.visible,
        category=CategoryOut(id=d.category.id, name=d.category.name) if d.category else None,
        image=d.image,
        prizes=_milestones(d, shown.progress, member_id),
        group_progress=_group_progress(view),
        status=shown.status,
        occurrence=occ.index,
        completed=shown.completed,
    )


def paytronix_out(shown: Shown) -> PaytronixChallenge:
    d, occ, progress = shown.definition, shown.occurrence, shown.progress
    group = d.scope == "group"
    return PaytronixChallenge(
        code=d.code,
        name=d.name,
        description=d.description,
        start_date=occ.starts_at,
        end_date=occ.ends_at,
        status=shown.status,
        occurrence=occ.index,
        occurrence_code=f"{d.code}#{occ.index}",
        group_code=shown.group_code,
        completed_at=progress.completed.occurred_at if progress and progress.completed else None,
        counters=_counters(progress_view(d, progress), group),
    )


def _sort_key(item: ChallengeOut, field: str) -> Any:
    return {
        "Id": item.id,
        "Name": item.name.lower(),
        "Startdate": item.startdate,
        "Enddate": item.enddate,
        "PeopleFinished": item.people_finished,
        "EndsAfter": item.ends_after,
    }[field]


def page_of(
    items: Sequence[ChallengeOut], order_by: str, ascending: bool, page: int, per_page: int
) -> ChallengePage:
    ordered = sorted(items, key=lambda i: i.id)
    ordered.sort(key=lambda i: _sort_key(i, order_by), reverse=not ascending)
    start = (page - 1) * per_page
    return ChallengePage(data=ordered[start : start + per_page], pages_num=page, count=len(items))


# --------------------------------------------------------------------------- selection


def _candidates(
    definition: ChallengeDefinition, rows: dict[ProgressKey, Progress], now: datetime
) -> list[Occurrence]:
    """Occurrences a Paytronix list considers: the one shown now, the last one of an
    ended challenge, and every occurrence the subject has a progress row for."""
    found: dict[int, Occurrence] = {}
    current = shown_occurrence(definition, now)
    if current is not None:
        found[current.index] = current
    elif now >= definition.ends_at:
        *_, last = occurrences(definition)
        found[last.index] = last
    for key in rows:
        if key[1] == definition.code and key[2] not in found:
            with contextlib.suppress(ValueError):  # renumbered by a definition change
                found[key[2]] = occurrence(definition, key[2])
    return [found[i] for i in sorted(found)]


def in_list(kind: ListKind, status: Status | None, occ: Occurrence, now: datetime) -> bool:
    """Paytronix lists: active = in progress or opted in ahead of the start; eligible = can
    opt in (again); historical = completed, expired, or opted out of an ended occurrence."""
    ended = now >= occ.ends_at
    if kind == "active":
        return status in ("ACTIVE", "OPTED_IN")
    if kind == "eligible":
        return status == "ELIGIBLE" or (status == "OPTED_OUT" and not ended)
    return status in ("COMPLETED", "EXPIRED") or (status == "OPTED_OUT" and ended)


# --------------------------------------------------------------------------- routes


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
    ) -> tuple[store.SubjectRecord, dict[ProgressKey, Progress]]:
        record = await store.read_member(conn, club, member_id)
        if not record.known:
            return record, {}
        return record, await store.read_progress(conn, club, "member", member_id)

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
        order_field = _order_field(order_by)
        now = ctx.clock.now()
        async with ctx.engine.connect() as conn:
            record, rows = await member_rows(conn, club, member_id)
            if not record.known:
                return ChallengePage(data=[], pages_num=page, count=0)
            shown = await _seed001_selection(
                conn, catalog(), club, member_id, record.member, rows, now
            )
            counts = await store.read_occurrence_counts(
                conn, ((club, s.definition.code, s.occurrence.index) for s in shown)
            )
        needle = (search_query or "").strip().lower()
        items = [
            challenge_out(s, member_id, record.member, counts.get(_okey(club, s)), now)
            for s in shown
            if not s.all_claimed(counts.get(_okey(club, s)))
            and _in_category(s.definition, category_id)
            and needle in s.definition.name.lower()
        ]
        return page_of(items, order_field, is_ascending, page, items_per_page)

    async def member_list(
        club: str, member_id: str, kind: ListKind, since: datetime | None
    ) -> ChallengeList:
        now = ctx.clock.now()
        async with ctx.engine.connect() as conn:
            record, rows = await member_rows(conn, club, member_id)
            if not record.known:
                return ChallengeList(result="success", challenges=[])
            shown = []
            for d in catalog().of_club(club):
                if not (d.visible and d.scope == "member"):
                    continue
                for occ in _candidates(d, rows, now):
                    progress = rows.get((club, d.code, occ.index, "member", member_id))
                    status = member_status(d, occ, record.member, progress, now)
                    shown.append(Shown(d, occ, progress, status))
            return await _listed(conn, club, shown, kind, since, now)

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
            shown = []
            for d in catalog().of_club(club):
                if not (d.visible and d.scope == "group"):
                    continue
                for occ in _candidates(d, rows, now):
                    progress = rows.get((club, d.code, occ.index, "group", group_code))
                    status = group_status(d, occ, progress, now)
                    shown.append(Shown(d, occ, progress, status, group_code))
            return await _listed(conn, club, shown, kind, since, now)

    @get(
        "/v1/members/{member_id:str}/challenges/active",
        summary="Paytronix: challenges the member is in (ACTIVE) or opted in to ahead",
    )
    async def member_active(member_id: SubjectId, club: Club, caller: CallerParam) -> ChallengeList:
        return await member_list(club, member_for(caller, club, member_id), "active", None)

    @get(
        "/v1/members/{member_id:str}/challenges/eligible",
        summary="Paytronix: challenges the member can opt in to",
    )
    async def member_eligible(
        member_id: SubjectId, club: Club, caller: CallerParam
    ) -> ChallengeList:
        return await member_list(club, member_for(caller, club, member_id), "eligible", None)

    @get(
        "/v1/members/{member_id:str}/challenges/historical",
        summary="Paytronix: completed, expired and opted-out occurrences (sinceDate: ended after)",
    )
    async def member_historical(
        member_id: SubjectId,
        club: Club,
        caller: CallerParam,
        since_date: SinceDate = None,
    ) -> ChallengeList:
        member_id = member_for(caller, club, member_id)
        return await member_list(club, member_id, "historical", parse_since(since_date))

    @get(
        "/v1/groups/{group_code:str}/challenges/active",
        summary="Paytronix: the group's challenges in progress",
    )
    async def group_active(group_code: SubjectId, club: Club, caller: CallerParam) -> ChallengeList:
        return await group_list(caller, club, group_code, "active", None)

    @get(
        "/v1/groups/{group_code:str}/challenges/eligible",
        summary="Paytronix: group challenges the group can take",
    )
    async def group_eligible(
        group_code: SubjectId, club: Club, caller: CallerParam
    ) -> ChallengeList:
        return await group_list(caller, club, group_code, "eligible", None)

    @get(
        "/v1/groups/{group_code:str}/challenges/historical",
        summary="Paytronix: the group's completed and expired occurrences",
    )
    async def group_historical(
        group_code: SubjectId,
        club: Club,
        caller: CallerParam,
        since_date: SinceDate = None,
    ) -> ChallengeList:
        return await group_list(caller, club, group_code, "historical", parse_since(since_date))

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
            raise _invalid(wanted, f"is required (alone) for {definition.scope} challenge")
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
                status = group_status(definition, occ, rows.get(key), now)
                shown = Shown(definition, occ, rows.get(key), status, subject)
            else:
                record, rows = await member_rows(conn, club, subject)
                progress = rows.get(key)
                status = member_status(definition, occ, record.member, progress, now)
                shown = Shown(definition, occ, progress, status if record.known else None)
        return ChallengeDetail(result="success", challenge=paytronix_out(shown))

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
        data = [_contribution(line) for line in lines]
        return Contributions(challenge_code=code, member_id=member_id, data=data, count=len(data))

    return [
        member_challenges,
        member_active,
        member_eligible,
        member_historical,
        group_active,
        group_eligible,
        group_historical,
        occurrence_detail,
        contributions,
    ]


def _in_category(definition: ChallengeDefinition, category_id: int | None) -> bool:
    if category_id is None:
        return True
    return definition.category is not None and definition.category.id == category_id


def _okey(club: str, shown: Shown) -> tuple[str, str, int]:
    return (club, shown.definition.code, shown.occurrence.index)


async def _seed001_selection(
    conn: AsyncConnection,
    catalog: Catalog,
    club: str,
    member_id: str,
    record: MemberRecord | None,
    rows: dict[ProgressKey, Progress],
    now: datetime,
) -> list[Shown]:
    """Visible challenges not over yet that concern the member: member challenges with a
    status, and group challenges of the member's group(s) now."""
    shown: list[Shown] = []
    groups = groups_at(record, now)
    group_rows: dict[ProgressKey, Progress] = {}
    if groups and catalog.group_scoped(club):
        for group in groups:
            group_rows.update(await store.read_progress(conn, club, "group", group))
    for d in catalog.of_club(club):
        occ = shown_occurrence(d, now) if d.visible else None
        if occ is None:
            continue
        if d.scope == "member":
            progress = rows.get((club, d.code, occ.index, "member", member_id))
            status = member_status(d, occ, record, progress, now)
            if status is not None:
                shown.append(Shown(d, occ, progress, status))
            continue
        for group in groups:
            progress = group_rows.get((club, d.code, occ.index, "group", group))
            status = group_status(d, occ, progress, now)
            if status is not None:
                shown.append(Shown(d, occ, progress, status, group))
    return shown


async def _listed(
    conn: AsyncConnection,
    club: str,
    shown: Iterable[Shown],
    kind: ListKind,
    since: datetime | None,
    now: datetime,
) -> ChallengeList:
    picked = [
        s
        for s in shown
        if in_list(kind, s.status, s.occurrence, now)
        and (since is None or s.occurrence.ends_at > since)
    ]
    if kind != "historical":
        counts = await store.read_occurrence_counts(conn, (_okey(club, s) for s in picked))
        picked = [s for s in picked if not s.all_claimed(counts.get(_okey(club, s)))]
    return ChallengeList(result="success", challenges=[paytronix_out(s) for s in picked])


def _contribution(line: store.LedgerLine) -> ContributionOut:
    e = line.entry
    return ContributionOut(
        event_id=e.event_id,
        occurrence=line.occurrence,
        occurred_at=e.occurred_at,
        source=e.source,
        reason=e.reason,
        counts=e.counts_now,
        counted_for=list(e.counted_for),
        deltas=[
            DeltaOut(
                trigger=d.trigger,
                amount=None if d.amount is None else _number(d.amount),
                keys=list(d.keys),
                gauge=d.gauge,
            )
            for d in e.deltas
        ],
        receipt_id=e.receipt_id,
        reverses=e.reverses,
        reversed_by=e.reversed_by,
        recorded_at=line.recorded_at,
    )
