"""Receipt transitions -> attendances, stage completions, rewards (one member at a time).

The store calls, per batch and edition:

1. `route(edition, transitions)`: the batch's receipt transitions that concern this
   edition, by member (the club matches and the receipt's business date is in a stage).
2. lock the membership rows of those members in sorted order (creating placeholders for
   new members, as for receipts), and load, per member, the day rows of every stage in
   `touched_stages` (all days of those stages: completion counts the whole month);
3. `apply_receipts(edition, MemberAttendance(...), transitions, now)` per member;
   the membership is settled first (time-driven facts already due), then transitions
   are applied one at a time, each one's facts (attendance completed, stage completed,
   then what settling the changed membership records) right after it, so the
   notifications and their properties are the same however the member's receipts were
   cut into batches;
4. write `outcome.membership` (with `outcome.due_at`), upsert `outcome.days`, add
   `outcome.notifications` and `outcome.rewards` to the outbox, and keep
   `outcome.contributions` as the ledger (refused ones say why).

A receipt counts for the stage of its business date while `now` (the instant the batch
is processed) is before the end of that stage's extra period. A replay of history
passes, as `now`, the instant the events originally arrived.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
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
from loyalty_progress.engine.attendance.time_facts import next_due_at, settle
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

    def apply(self, transition: ReceiptTransition) -> _Step:
        after = transition.after
        day = self.calendar.business_date(after.occurred_at)
        stage = self.calendar.stage_of_date(day)
        refusal = self.refusal(day, stage)
        if refusal is not None or stage is None:
            line = _ledger(self, transition, day, stage, (ZERO, ZERO), refusal, counted=False)
            return _Step(line, None, day, None)
        before = self.days.get(day)
        old: ReceiptContribution | None = None
        held_at = self.holder(after.receipt_id)
        if held_at is not None and self._is_open(held_at):
            old = self.days[held_at].contribution(after.receipt_id)
            self.days[held_at] = self.days[held_at].with_contribution(after.receipt_id, None)
            self.changed.add(held_at)
        new = contribution_of(after)
        self.days[day] = self.day(day).with_contribution(after.receipt_id, new)
        self.changed.add(day)
        self.join(stage)
        approved = (new.approved if new else ZERO) - (old.approved if old else ZERO)
        pending = (new.pending if new else ZERO) - (old.pending if old else ZERO)
        why = _why(after, old, day)
        line = _ledger(self, transition, day, stage, (approved, pending), why, counted=True)
        return _Step(line, stage, day, before)

    def _is_open(self, day: date) -> bool:
        stage = self.calendar.stage_of_date(day)
        return stage is not None and stage.is_open(self.now)

    def stage_days(self, stage: Stage) -> list[AttendanceDay]:
        return [
            row for d, row in self.days.items() if stage.first_date <= d < stage.next_first_date
        ]


@dataclass(frozen=True, slots=True)
class _Step:
    """What one transition did: its ledger line and, when it counted, the stage and day
    it changed and that day's row just before."""

    line: Contribution
    stage: Stage | None
    day: date
    before: AttendanceDay | None


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


def _completions(batch: _Batch, step: _Step) -> list[Notification]:
    """attendance_completed when this step completed its day, with the stage's count
    right after it, then stage_completed the first time that count reaches the goal.
    Only a completed day can raise the count, so no other step needs to look."""
    stage, goal = step.stage, batch.edition.daily_value_goal
    if stage is None or not is_complete(batch.days[step.day], goal):
        return []
    if step.before is not None and is_complete(step.before, goal):
        return []
    completed = count_complete(batch.stage_days(stage), goal)
    cause = (step.line.event_id,)
    edition, member_id, now = batch.edition, batch.member_id, batch.now
    notes = [
        facts.attendance_completed(edition, member_id, stage.name, step.day, completed, now, cause)
    ]
    membership = batch.membership
    if membership is None or completed < edition.monthly_attendances_goal:
        return notes
    if stage.name in membership.completed_stages:
        return notes
    completion = StageCompletion(stage=stage.name, completed_at=now)
    batch.membership = msgspec.structs.replace(
        membership, completed=(*membership.completed, completion)
    )
    notes.append(facts.stage_completed(edition, member_id, stage.name, now, cause))
    return notes


def _settle(
    batch: _Batch, notes: list[Notification], rewards: list[RewardIssuance]
) -> AttendanceMembership | None:
    """Record what the membership as it now stands makes due, as a batch ending here
    would. Settling an unchanged membership again records nothing, so the caller
    settles at the start and then only after a change: per batch, usually once."""
    if batch.membership is None:
        return None
    settled, more_notes, more_rewards = settle(batch.edition, batch.membership, batch.now)
    notes.extend(more_notes)
    rewards.extend(more_rewards)
    # `ended` stays as computed at the start: at one instant, nothing a receipt changes
    # (joining an open stage, completing one) or settling records ends a membership.
    batch.membership = settled
    return settled


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
    )
    ledger: list[Contribution] = []
    notes: list[Notification] = []
    rewards: list[RewardIssuance] = []
    # What came due before the batch (the scheduler may lag) first: it happened before
    # any of the batch's receipts was processed.
    settled = _settle(batch, notes, rewards)
    for transition in transitions:
        step = batch.apply(transition)
        ledger.append(step.line)
        notes.extend(_completions(batch, step))
        if batch.membership is not settled:
            settled = _settle(batch, notes, rewards)
    return AttendanceOutcome(
        membership=settled,
        days=tuple(batch.days[d] for d in sorted(batch.changed)),
        notifications=tuple(notes),
        rewards=tuple(rewards),
        contributions=tuple(ledger),
        due_at=next_due_at(edition, settled) if settled is not None else None,
    )
