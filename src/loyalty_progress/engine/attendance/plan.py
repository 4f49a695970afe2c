"""The first step of the attendance rule, pure: which members of which editions a batch's
receipt transitions concern, and which day rows must be loaded for them.

One pass over the transitions per edition: each transition's business dates (before and
after) are computed once, and give both the routing (the member's transitions) and the
stages whose day rows `apply_receipts` needs (all the days of those stages: completion
counts the whole month)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

import msgspec

from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.engine.attendance.apply import MemberAttendance, apply_receipts
from loyalty_progress.engine.attendance.calendar import Stage, calendar_of
from loyalty_progress.engine.attendance.outcome import Contribution
from loyalty_progress.engine.receipts import ReceiptTransition

# (club, edition code, member_id)
MembershipKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class DayRange:
    """The day rows [first_day, next_day) of one member in one edition (a stage)."""

    key: MembershipKey
    first_day: date
    next_day: date


@dataclass(slots=True)
class AttendanceWork:
    """What one batch asks of the attendance tables, planned before any SQL: per
    membership the transitions to apply, the day ranges to load, and the ledger lines of
    editions that are over (refused without locking anything)."""

    editions: dict[tuple[str, str], AttendanceEdition] = field(default_factory=dict)
    members: dict[MembershipKey, list[ReceiptTransition]] = field(default_factory=dict)
    ranges: list[DayRange] = field(default_factory=list)
    refused: list[Contribution] = field(default_factory=list)


@lru_cache(maxsize=256)
def edition_hash(edition: AttendanceEdition) -> str:
    """Identifies the version of an edition a stored `due_at` was computed with."""
    return hashlib.sha256(msgspec.json.encode(edition, order="sorted")).hexdigest()[:32]


def _route(
    edition: AttendanceEdition, transitions: Sequence[ReceiptTransition]
) -> tuple[dict[str, list[ReceiptTransition]], dict[str, set[Stage]]]:
    calendar = calendar_of(edition)
    routed: dict[str, list[ReceiptTransition]] = {}
    stages: dict[str, set[Stage]] = {}
    for transition in transitions:
        after = transition.after
        if after.club != edition.club:
            continue
        found = {
            stage
            for state in (transition.before, after)
            if state is not None
            and (stage := calendar.stage_of_date(calendar.business_date(state.occurred_at)))
        }
        if found:
            routed.setdefault(after.member_id, []).append(transition)
            stages.setdefault(after.member_id, set()).update(found)
    return routed, stages


def plan(
    editions: Sequence[AttendanceEdition],
    transitions: Sequence[ReceiptTransition],
    now: datetime,
) -> AttendanceWork:
    """Route the transitions to editions and members; no I/O."""
    work = AttendanceWork()
    for edition in editions:
        routed, stages = _route(edition, transitions)
        if not routed:
            continue
        if now >= calendar_of(edition).closes_at:
            # Every stage is over: nothing can change, the engine only says why.
            for member_id, member_transitions in routed.items():
                outcome = apply_receipts(
                    edition, MemberAttendance(member_id, None), member_transitions, now
                )
                work.refused.extend(outcome.contributions)
            continue
        work.editions[(edition.club, edition.code)] = edition
        for member_id, member_transitions in routed.items():
            key = (edition.club, edition.code, member_id)
            work.members[key] = member_transitions
            for stage in sorted(stages[member_id], key=lambda s: s.index):
                work.ranges.append(DayRange(key, stage.first_date, stage.next_first_date))
    return work
