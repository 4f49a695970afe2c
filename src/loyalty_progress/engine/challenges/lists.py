"""Which challenge occurrences the read side lists, pure: a subject's rows + definitions +
now -> the occurrences shown, each with its Paytronix status (`Shown`).

- seed 001's member-app list: visible challenges not over yet that concern the member
  (member challenges with a status, group challenges of the member's groups now),
  filtered by category and name, sorted and paged;
- Paytronix lists: active = in progress or opted in ahead of the start; eligible = can
  opt in (again); historical = completed, expired, or opted out of an ended occurrence.

Limited challenges whose prizes are all won drop out of every list but the historical one
for the subjects that did not complete them (`Shown.all_claimed`, from the finisher counts
the store sums); a subject that completed one, winner or not, keeps seeing it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges.occurrences import (
    Occurrence,
    occurrence,
    occurrence_at,
    occurrences,
)
from loyalty_progress.engine.challenges.responses import ChallengeOut, ChallengePage
from loyalty_progress.engine.challenges.state import MemberRecord, Progress, ProgressKey
from loyalty_progress.engine.challenges.status import (
    Status,
    group_status,
    is_locked,
    member_status,
)

ListKind = Literal["active", "eligible", "historical"]
ORDER_FIELDS: Final = ("Id", "Name", "Startdate", "Enddate", "PeopleFinished", "EndsAfter")


class Finishers(Protocol):
    """An occurrence's finisher counts, as the store sums them."""

    @property
    def people_finished(self) -> int: ...

    @property
    def winners(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Shown:
    """One challenge occurrence as one subject sees it."""

    definition: ChallengeDefinition
    occurrence: Occurrence
    progress: Progress | None
    status: Status | None
    group_code: str | None = None
    # Waits for its parent challenge (`requires`) for this member; groups are never locked.
    locked: bool = False

    @property
    def completed(self) -> bool:
        return self.progress is not None and self.progress.completed is not None

    @property
    def occurrence_key(self) -> tuple[str, str, int]:
        return (self.definition.club, self.definition.code, self.occurrence.index)

    def all_claimed(self, counts: Finishers | None) -> bool:
        """A limited challenge whose prizes are all won, and which this subject did not
        complete: a subject that completed it (a winner, or too late to win) keeps it."""
        limit = self.definition.max_winners
        won = counts.winners if counts else 0
        return limit is not None and won >= limit and not self.completed


def shown_occurrence(definition: ChallengeDefinition, now: datetime) -> Occurrence | None:
    """The occurrence a member sees now: the current one, or the first before the start;
    None once the challenge is over."""
    current = occurrence_at(definition, now)
    if current is not None:
        return current
    return occurrence(definition, 0) if now < definition.starts_at else None


# --------------------------------------------------------------------------- seed 001


def seed001_selection(
    definitions: Iterable[ChallengeDefinition],
    member_id: str,
    record: MemberRecord | None,
    rows: dict[ProgressKey, Progress],
    groups: Sequence[str],
    group_rows: dict[ProgressKey, Progress],
    now: datetime,
) -> list[Shown]:
    """Visible challenges not over yet that concern the member: member challenges with a
    status, and group challenges of the member's group(s) now (`groups`, whose rows are
    `group_rows`)."""
    shown: list[Shown] = []
    for d in definitions:
        occ = shown_occurrence(d, now) if d.visible else None
        if occ is None:
            continue
        if d.scope == "member":
            progress = rows.get((d.club, d.code, occ.index, "member", member_id))
            status = member_status(d, occ, record, progress, now)
            if status is not None:
                shown.append(Shown(d, occ, progress, status))
            continue
        for group in groups:
            progress = group_rows.get((d.club, d.code, occ.index, "group", group))
            status = group_status(d, occ, progress, now)
            if status is not None:
                shown.append(Shown(d, occ, progress, status, group))
    return shown


def in_category(definition: ChallengeDefinition, category_id: int | None) -> bool:
    if category_id is None:
        return True
    return definition.category is not None and definition.category.id == category_id


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


# --------------------------------------------------------------------------- Paytronix


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


def member_occurrences(
    definitions: Iterable[ChallengeDefinition],
    member_id: str,
    record: MemberRecord | None,
    rows: dict[ProgressKey, Progress],
    now: datetime,
) -> list[Shown]:
    """Every occurrence of the visible member challenges a Paytronix list considers."""
    shown = []
    for d in definitions:
        if not (d.visible and d.scope == "member"):
            continue
        for occ in _candidates(d, rows, now):
            progress = rows.get((d.club, d.code, occ.index, "member", member_id))
            status = member_status(d, occ, record, progress, now)
            shown.append(Shown(d, occ, progress, status, locked=is_locked(d, record, now)))
    return shown


def group_occurrences(
    definitions: Iterable[ChallengeDefinition],
    group_code: str,
    rows: dict[ProgressKey, Progress],
    now: datetime,
) -> list[Shown]:
    """Every occurrence of the visible group challenges a Paytronix list considers."""
    shown = []
    for d in definitions:
        if not (d.visible and d.scope == "group"):
            continue
        for occ in _candidates(d, rows, now):
            progress = rows.get((d.club, d.code, occ.index, "group", group_code))
            status = group_status(d, occ, progress, now)
            shown.append(Shown(d, occ, progress, status, group_code))
    return shown


def detail_status(status: Status | None) -> Status:
    """The occurrence detail always names one of the six statuses. Without one (an
    occurrence over that the subject never attempted) it reads `EXPIRED`: it ended
    unfinished for them. The lists still leave such occurrences out of `historical`."""
    return status or "EXPIRED"


def in_list(kind: ListKind, status: Status | None, occ: Occurrence, now: datetime) -> bool:
    """Paytronix lists: active = in progress or opted in ahead of the start; eligible = can
    opt in (again); historical = completed, expired, or opted out of an ended occurrence."""
    ended = now >= occ.ends_at
    if kind == "active":
        return status in ("ACTIVE", "OPTED_IN")
    if kind == "eligible":
        return status == "ELIGIBLE" or (status == "OPTED_OUT" and not ended)
    return status in ("COMPLETED", "EXPIRED") or (status == "OPTED_OUT" and ended)


def listed(
    kind: ListKind, shown: Iterable[Shown], since: datetime | None, now: datetime
) -> list[Shown]:
    """The occurrences of one Paytronix list (`since`: ended after), before the limited
    ones all claimed drop out (`unclaimed`; never from the historical list)."""
    return [
        s
        for s in shown
        if in_list(kind, s.status, s.occurrence, now)
        and (since is None or s.occurrence.ends_at > since)
    ]


def unclaimed(
    shown: Iterable[Shown], counts: Mapping[tuple[str, str, int], Finishers]
) -> list[Shown]:
    return [s for s in shown if not s.all_claimed(counts.get(s.occurrence_key))]
