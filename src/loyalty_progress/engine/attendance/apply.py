"""Receipt transitions -> attendances, stage completions, rewards (one member at a time).

The store calls, per batch and edition:

1. `route(edition, transitions)`: the batch's receipt transitions that concern this
   edition, by member (the club matches and the receipt's business date is in a stage).
2. lock the membership rows of those members in sorted order (creating placeholders for
   new members, as for receipts), and load, per member, the day rows of every stage in
   `touched_stages` (all days of those stages: completion counts the whole month);
3. `apply_receipts(edition, MemberAttendance(...), transitions, now)` per member;
4. write `outcome.membership` (with `outcome.due_at`), upsert `outcome.days`, add
   `outcome.notifications` and `outcome.rewards` to the outbox, and keep
   `outcome.contributions` as the ledger (refused ones say why).

A receipt counts for the stage of its business date while `now` (the instant the batch
is processed) is before the end of that stage's extra period. A replay of history
passes, as `now`, the instant the events originally arrived.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import msgspec

from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.engine.attendance import facts
from loyalty_progress.engine.attendance.calendar import EditionCalendar, Stage, calendar_of
from loyalty_progress.engine.attendance.days import (
    ZERO,
    AttendanceDay,
    ReceiptContribution,
    contribution_of,
    count_complete,
    is_complete,
)
from loyalty_progress.engine.attendance.membership import (
    AttendanceMembership,
    StageCompletion,
    new_membership,
    progress,
)
from loyalty_progress.engine.attendance.outcome import AttendanceOutcome, Contribution
from loyalty_progress.engine.attendance.timeline import next_due_at, settle
from loyalty_progress.engine.receipts import ReceiptState, ReceiptTransition


@dataclass(frozen=True, slots=True)
class MemberAttendance:
    """One member's stored state for an edition, as loaded for a batch: the membership
    row (None until the first receipt) and the day rows of the stages being touched."""

    member_id: str
    membership: AttendanceMembership | None
    days: tuple[AttendanceDay, ...] = ()


def _stages_of(calendar: EditionCalendar, transition: ReceiptTransition) -> set[Stage]:
    states = (transition.before, transition.after)
    stages = (calendar.stage_of_date(calendar.business_date(s.occurred_at)) for s in states if s)
    return {s for s in stages if s is not None}


def route(
    edition: AttendanceEdition, transitions: Iterable[ReceiptTransition]
) -> dict[str, list[ReceiptTransition]]:
    """The transitions that concern this edition, by member, in their original order."""
    calendar = calendar_of(edition)
    routed: dict[str, list[ReceiptTransition]] = defaultdict(list)
    for transition in transitions:
        if transition.after.club == edition.club and _stages_of(calendar, transition):
            routed[transition.after.member_id].append(transition)
    return dict(routed)


def touched_stages(
    edition: AttendanceEdition, transitions: Iterable[ReceiptTransition]
) -> dict[str, set[str]]:
    """Per member, the stages whose day rows `apply_receipts` needs (all their days)."""
    calendar = calendar_of(edition)
    touched: dict[str, set[str]] = defaultdict(set)
    for transition in transitions:
        if transition.after.club == edition.club:
            names = {s.name for s in _stages_of(calendar, transition)}
            touched[transition.after.member_id].update(names)
    return {member: names for member, names in touched.items() if names}


@dataclass(slots=True)
class _Batch:
    """The working state of one member's batch."""

    edition: AttendanceEdition
    calendar: EditionCalendar
    member_id: str
    membership: AttendanceMembership | None
    days: dict[date, AttendanceDay]
    now: datetime
    ended: bool
    changed: set[date]
    causes: dict[date, list[str]]

    def day(self, day: date) -> AttendanceDay:
        found = self.days.get(day)
        if found is None:
            edition = self.edition
            found = AttendanceDay(
                club=edition.club, edition=edition.code, member_id=self.member_id, day=day
            )
        return found

    def holder(self, receipt_id: str) -> date | None:
        return next((d for d, row in self.days.items() if row.contribution(receipt_id)), None)

    def refusal(self, day: date, stage: Stage | None) -> str | None:
        edition, calendar = self.edition, self.calendar
        if stage is None:
            return (
                f"business date {day} is outside edition {edition.code} "
                f"({edition.start_date}..{edition.end_date})"
            )
        if not stage.is_open(self.now):
            return (
                f"processed at {calendar.iso(self.now)}, after the extra period of stage "
                f"{stage.name} ended at {calendar.iso(stage.extra_period_ends_at)}"
            )
        if self.membership is not None and stage.name in self.membership.failed:
            return f"stage {stage.name} has already failed"
        if self.ended:
            return "the membership has ended: all entries are used"
        return None

    def join(self, stage: Stage) -> None:
        if self.membership is None:
            self.membership = new_membership(self.edition, self.member_id, stage.name, self.now)
        elif stage.name < self.membership.joined_stage:
            self.membership = msgspec.structs.replace(self.membership, joined_stage=stage.name)

    def apply(self, transition: ReceiptTransition) -> Contribution:
        after = transition.after
        day = self.calendar.business_date(after.occurred_at)
        stage = self.calendar.stage_of_date(day)
        refusal = self.refusal(day, stage)
        if refusal is not None or stage is None:
            return _ledger(self, transition, day, stage, (ZERO, ZERO), refusal, counted=False)
        old: ReceiptContribution | None = None
        held_at = self.holder(after.receipt_id)
        if held_at is not None and self._is_open(held_at):
            old = self.days[held_at].contribution(after.receipt_id)
            self.days[held_at] = self.days[held_at].with_contribution(after.receipt_id, None)
            self.changed.add(held_at)
        new = contribution_of(after)
        self.days[day] = self.day(day).with_contribution(after.receipt_id, new)
        self.changed.add(day)
        if after.event_id not in self.causes[day]:
            self.causes[day].append(after.event_id)
        self.join(stage)
        approved = (new.approved if new else ZERO) - (old.approved if old else ZERO)
        pending = (new.pending if new else ZERO) - (old.pending if old else ZERO)
        why = _why(after, old, day)
        return _ledger(self, transition, day, stage, (approved, pending), why, counted=True)

    def _is_open(self, day: date) -> bool:
        stage = self.calendar.stage_of_date(day)
        return stage is not None and stage.is_open(self.now)

    def stage_days(self, stage: Stage) -> list[AttendanceDay]:
        return [
            row for d, row in self.days.items() if stage.first_date <= d < stage.next_first_date
        ]


def _why(after: ReceiptState, old: ReceiptContribution | None, day: date) -> str:
    undo = f"; removes the {old.status} {old.amount} it counted" if old else ""
    if after.status == "approved":
        return f"approved {after.amount} counts for {day}" + undo
    if after.status == "pending":
        return f"pending {after.amount} shown as pending on {day}" + undo
    return f"{after.status}: counts nothing" + undo


def _ledger(
    batch: _Batch,
    transition: ReceiptTransition,
    day: date,
    stage: Stage | None,
    deltas: tuple[Decimal, Decimal],
    reason: str | None,
    *,
    counted: bool,
) -> Contribution:
    after = transition.after
    return Contribution(
        event_id=transition.event.event_id,
        club=batch.edition.club,
        edition=batch.edition.code,
        member_id=batch.member_id,
        receipt_id=after.receipt_id,
        status=after.status,
        day=day,
        stage=stage.name if stage else None,
        approved_delta=deltas[0],
        pending_delta=deltas[1],
        counted=counted,
        reason=reason or "",
    )


def _days_completed(
    batch: _Batch, stage: Stage, original: Mapping[date, AttendanceDay]
) -> Iterator[Notification]:
    """attendance_completed for each changed day of the stage that became complete."""
    goal = batch.edition.daily_value_goal
    days = sorted(batch.stage_days(stage), key=lambda row: row.day)
    completed = count_complete(days, goal)
    for row in days:
        before = original.get(row.day)
        if row.day not in batch.changed or not is_complete(row, goal):
            continue
        if before is None or not is_complete(before, goal):
            yield facts.attendance_completed(
                batch.edition,
                batch.member_id,
                stage.name,
                row.day,
                completed,
                batch.now,
                tuple(batch.causes[row.day]),
            )


def _stage_completed(batch: _Batch, stage: Stage) -> Notification | None:
    """Latch the stage as completed the first time its goal is reached."""
    edition, membership = batch.edition, batch.membership
    completed = count_complete(batch.stage_days(stage), edition.daily_value_goal)
    if membership is None or completed < edition.monthly_attendances_goal:
        return None
    if stage.name in membership.completed_stages:
        return None
    completion = StageCompletion(stage=stage.name, completed_at=batch.now)
    batch.membership = msgspec.structs.replace(
        membership, completed=(*membership.completed, completion)
    )
    causes = tuple(
        event_id
        for day in sorted(batch.changed)
        if stage.first_date <= day < stage.next_first_date
        for event_id in batch.causes[day]
    )
    return facts.stage_completed(edition, batch.member_id, stage.name, batch.now, causes)


def _completions(batch: _Batch, original: Mapping[date, AttendanceDay]) -> list[Notification]:
    notes: list[Notification] = []
    touched = {stage for day in batch.changed if (stage := batch.calendar.stage_of_date(day))}
    for stage in sorted(touched, key=lambda s: s.index):
        notes.extend(_days_completed(batch, stage, original))
        note = _stage_completed(batch, stage)
        if note is not None:
            notes.append(note)
    return notes


def apply_receipts(
    edition: AttendanceEdition,
    state: MemberAttendance,
    transitions: Sequence[ReceiptTransition],
    now: datetime,
) -> AttendanceOutcome:
    """Apply one member's receipt transitions of a batch, processed at instant `now`."""
    for transition in transitions:
        after = transition.after
        if after.member_id != state.member_id or after.club != edition.club:
            raise ValueError(
                f"transition of receipt {after.receipt_id} belongs to {after.club}/"
                f"{after.member_id}, not {edition.club}/{state.member_id}"
            )
    membership = state.membership
    batch = _Batch(
        edition=edition,
        calendar=calendar_of(edition),
        member_id=state.member_id,
        membership=membership,
        days={row.day: row for row in state.days},
        now=now,
        ended=membership is not None and progress(edition, membership, now).status == "ended",
        changed=set(),
        causes=defaultdict(list),
    )
    original = dict(batch.days)
    ledger = [batch.apply(t) for t in transitions]
    notes = _completions(batch, original)
    rewards: list[RewardIssuance] = []
    settled = batch.membership
    if settled is not None:
        settled, more_notes, rewards = settle(edition, settled, now)
        notes.extend(more_notes)
    return AttendanceOutcome(
        membership=settled,
        days=tuple(batch.days[d] for d in sorted(batch.changed)),
        notifications=tuple(notes),
        rewards=tuple(rewards),
        contributions=tuple(ledger),
        due_at=next_due_at(edition, settled) if settled is not None else None,
    )
