"""Apply a batch of inputs, in processing order, to the counter-challenge rows they touch.

Inputs are the distinct (already de-duplicated) events of a batch, with receipt events
replaced by the receipt lifecycle's transitions (`engine.receipts.apply_receipt_event`):

- points, voucher and `tier_changed` events, and transitions *to* `approved`, contribute;
- a transition *from* `approved` (to `refunded` or `rejected`) reverses exactly what the
  approval contributed;
- transitions to `pending`, and to `rejected`/`refunded` of a receipt never approved, are
  recorded in the ledger as not counted;
- opt-in/out and group join/leave facts re-judge the member's entries of the challenges
  they concern, so a fact arriving after the events it governs still gets them right.

For every challenge of the event's club with a trigger the event feeds, the event becomes a
ledger `Entry` in the member's `Participation` of the occurrence containing `occurred_at`;
it counts toward the member (member scope) or the member's groups at that instant (group
scope) unless it is before opt-in, after opt-out, while locked, or outside any group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from msgspec.structs import replace

from loyalty_progress.contract.events import MemberEvent, PointsEvent, VoucherEvent
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges import timeline
from loyalty_progress.engine.challenges.catalog import Catalog
from loyalty_progress.engine.challenges.effects import Cause
from loyalty_progress.engine.challenges.milestones import evaluate, newly_reached
from loyalty_progress.engine.challenges.occurrences import Occurrence
from loyalty_progress.engine.challenges.routes import Routes
from loyalty_progress.engine.challenges.settle import satisfied_at
from loyalty_progress.engine.challenges.state import (
    Entry,
    GroupRecord,
    MemberFact,
    MemberRecord,
    Participation,
    Progress,
    ProgressKey,
    Reason,
)
from loyalty_progress.engine.challenges.tally import (
    counts_for,
    tally_of,
    tally_plus,
    tally_without,
    with_tally,
)
from loyalty_progress.engine.challenges.triggers import Source, deltas, negated, source_name
from loyalty_progress.engine.challenges.workspace import (
    ChallengeOutcome,
    ChallengeState,
    EntriesNotLoaded,
    Unsettled,
    Workspace,
)
from loyalty_progress.engine.receipts import ReceiptState, ReceiptTransition

ChallengeInput = PointsEvent | VoucherEvent | MemberEvent | ReceiptTransition


def apply_challenges(
    state: ChallengeState,
    inputs: Iterable[ChallengeInput],
    definitions: Sequence[ChallengeDefinition] | Catalog,
    now: datetime,
    routes: Routes | None = None,
) -> ChallengeOutcome:
    """Pure: the loaded rows + the batch's inputs in order -> changed rows and effects.
    `routes`: the batch's, when the plan already worked them out."""
    catalog = Catalog.of(definitions)
    engine = _Engine(Workspace(state, now), catalog, routes or Routes(catalog))
    for item in inputs:
        engine.apply(item)
    return engine.ws.out


class _Engine:
    def __init__(self, ws: Workspace, catalog: Catalog, routes: Routes) -> None:
        self.ws, self.catalog, self.routes = ws, catalog, routes

    def apply(self, item: ChallengeInput) -> None:
        if isinstance(item, ReceiptTransition):
            self._receipt(item)
        elif isinstance(item, MemberEvent) and item.kind in ("opted_in", "opted_out"):
            self._opt(item)
        elif isinstance(item, MemberEvent) and item.kind in ("joined_group", "left_group"):
            self._membership(item)
        else:
            self._contribute(item, item.member_id, item.event_id, item.occurred_at, None)

    # ------------------------------------------------------------------ contributions
    def _contribute(
        self,
        source: Source,
        member_id: str,
        event_id: str,
        at: datetime,
        receipt_id: str | None,
    ) -> None:
        name = source_name(source)
        for definition, found, occ, near in self.routes.feeds(source):
            if occ is None:
                if near:
                    entry = Entry(
                        event_id=event_id,
                        occurred_at=at,
                        source=name,
                        deltas=found,
                        reason="outside_window",
                        receipt_id=receipt_id,
                    )
                    self.ws.note(definition.club, definition.code, None, member_id, entry)
                continue
            part = self.ws.participation(definition, occ, member_id)
            if event_id in part.entries:
                continue  # a repeat: it already counted (or not) the first time
            reason, counted_for = self._judgement(definition, member_id, at)
            entry = Entry(
                event_id=event_id,
                occurred_at=at,
                source=name,
                deltas=found,
                reason=reason,
                counted_for=counted_for,
                receipt_id=receipt_id,
            )
            part = replace(part, entries={**part.entries, event_id: entry})
            self.ws.put_participation(part)
            self.ws.record(part, entry)
            cause = Cause(event_id, at)
            for subject in entry.counted_for:
                row = self.ws.progress_row(definition, occ.index, definition.scope, subject)
                tally = tally_plus(row.tallies.get(member_id), entry)
                tallies = with_tally(row.tallies, member_id, tally)
                self.ws.put_progress(replace(row, tallies=tallies))
                self._evaluate(definition, row.key, cause)

    def _judgement(
        self, definition: ChallengeDefinition, member_id: str, at: datetime
    ) -> tuple[Reason, tuple[str, ...]]:
        """Why an entry of `at` counts or not, and the subjects it counts toward, as of all
        facts."""
        record = self.ws.member(definition.club, member_id)
        blocked = timeline.enrollment_block(record, definition, at)
        if blocked is not None:
            return blocked, ()
        if definition.scope == "group":
            groups = timeline.groups_at(record, at)
            return ("counted", groups) if groups else ("not_in_group", ())
        if timeline.locked(record, definition, at):
            return "locked", ()
        return "counted", (member_id,)

    def _judged(self, definition: ChallengeDefinition, member_id: str, entry: Entry) -> Entry:
        """The entry with its `_judgement`."""
        reason, counted_for = self._judgement(definition, member_id, entry.occurred_at)
        if (reason, counted_for) == (entry.reason, entry.counted_for):
            return entry
        return replace(entry, reason=reason, counted_for=counted_for)

    # ------------------------------------------------------------------ receipts
    def _receipt(self, transition: ReceiptTransition) -> None:
        before, after = transition.before, transition.after
        if before is not None and before.status == "approved":
            self._reverse(transition, before)
        elif after.status == "approved":
            self._contribute(
                after, after.member_id, after.event_id, after.occurred_at, after.receipt_id
            )
        else:
            reason: Reason = after.status
            self._note(after, reason)

    def _note(self, receipt: ReceiptState, reason: Reason) -> None:
        """Ledger only: a pending, rejected or refunded receipt that never counted."""
        for definition, found, occ, near in self.routes.feeds(receipt):
            if occ is None and not near:
                continue
            entry = Entry(
                event_id=receipt.event_id,
                occurred_at=receipt.occurred_at,
                source=source_name(receipt),
                deltas=found,
                reason="outside_window" if occ is None else reason,
                receipt_id=receipt.receipt_id,
            )
            self.ws.note(definition.club, definition.code, occ, receipt.member_id, entry)

    def _reverse(self, transition: ReceiptTransition, before: ReceiptState) -> None:
        """Undo what the approval contributed. The approval's entry is at hand whether or
        not the participation's other entries are (the plan loads it by its event id), so
        a reversal costs the same whatever the member's history: the tally loses exactly
        that entry (`_untally`), and only where that is not certain is it recomputed."""
        after = transition.after
        for definition, _, occ, _ in self.routes.feeds(before):
            if occ is None:
                continue
            part = self.ws.participation(definition, occ, before.member_id)
            original = part.entries.get(before.event_id)
            if original is None:  # none, or not loaded: only the whole participation tells
                self.ws.require_entries(part.club, part.code, part.member_id)
            if original is None or not original.live:
                self._note_one(definition, occ, after)
                continue
            if after.event_id in part.entries:
                continue
            counted = bool(original.counted_for)
            reversal = Entry(
                event_id=after.event_id,
                occurred_at=after.occurred_at,
                source=source_name(after),
                deltas=negated(original.deltas),
                reason="reversal" if counted else after.status,  # type: ignore[arg-type]
                counted_for=original.counted_for,
                receipt_id=after.receipt_id,
                reverses=original.event_id,
            )
            undone = replace(original, reversed_by=after.event_id)
            entries = {**part.entries, undone.event_id: undone, reversal.event_id: reversal}
            part = replace(part, entries=entries)
            self.ws.put_participation(part)
            self.ws.record(part, undone)
            self.ws.record(part, reversal)
            if self.ws.has_entries(part.club, part.code, part.member_id):
                self._retally(definition, part, original.counted_for, cause=None)
            else:
                self._untally(definition, part, original)

    def _untally(
        self, definition: ChallengeDefinition, part: Participation, original: Entry
    ) -> None:
        """Take the reversed `original` out of the member's tally toward each subject it
        counted for, without the participation's other entries; where `tally_without`
        cannot be sure, ask for them (`EntriesNotLoaded`: the caller loads them and the
        batch is applied again, through `_retally`)."""
        for subject in original.counted_for:
            key: ProgressKey = (part.club, part.code, part.occurrence, definition.scope, subject)
            row = self.ws.progress.get(key)
            tally = row.tallies.get(part.member_id) if row is not None else None
            left = tally_without(tally, original) if tally is not None else None
            if row is None or left is None:
                raise EntriesNotLoaded(frozenset({(part.club, part.code, part.member_id)}))
            tallies = with_tally(row.tallies, part.member_id, left)
            self.ws.put_progress(replace(row, tallies=tallies))

    def _note_one(
        self, definition: ChallengeDefinition, occ: Occurrence, receipt: ReceiptState
    ) -> None:
        entry = Entry(
            event_id=receipt.event_id,
            occurred_at=receipt.occurred_at,
            source=source_name(receipt),
            deltas=deltas(definition, receipt) or (),
            reason=receipt.status,  # type: ignore[arg-type]
            receipt_id=receipt.receipt_id,
        )
        self.ws.note(definition.club, definition.code, occ, receipt.member_id, entry)

    # ------------------------------------------------------------------ member facts
    def _fact(self, event: MemberEvent, target: str) -> MemberFact:
        return MemberFact(
            kind=event.kind,  # type: ignore[arg-type]
            target=target,
            occurred_at=event.occurred_at,
            event_id=event.event_id,
            member_id=event.member_id,
            charity_code=event.charity_code if event.kind == "opted_in" else None,
        )

    def _add_fact(self, event: MemberEvent, target: str) -> MemberFact | None:
        record = self.ws.member(event.club, event.member_id) or MemberRecord(
            club=event.club, member_id=event.member_id
        )
        fact = self._fact(event, target)
        facts = timeline.with_fact(record.facts, fact)
        if facts is None:
            return None
        self.ws.put_member(replace(record, facts=facts))
        return fact

    def _opt(self, event: MemberEvent) -> None:
        assert event.challenge_code is not None
        if self._add_fact(event, event.challenge_code) is None:
            return
        definition = self.catalog.get(event.club, event.challenge_code)
        if definition is not None:
            self._rejudge(definition, event.member_id, Cause(event.event_id, event.occurred_at))

    def _membership(self, event: MemberEvent) -> None:
        assert event.group_code is not None
        fact = self._add_fact(event, event.group_code)
        if fact is None:
            return
        group = self.ws.group(event.club, event.group_code) or GroupRecord(
            club=event.club, group_code=event.group_code
        )
        roster = timeline.with_fact(group.roster, fact)
        if roster is not None:
            self.ws.put_group(replace(group, roster=roster))
        cause = Cause(event.event_id, event.occurred_at)
        for definition in self.catalog.group_scoped(event.club):
            self._rejudge(definition, event.member_id, cause)

    def _rejudge(self, definition: ChallengeDefinition, member_id: str, cause: Cause) -> None:
        """Judge the member's live entries again after a fact changed; fix the tallies."""
        for part in self.ws.participations_of(definition, member_id):
            entries = dict(part.entries)
            touched: set[str] = set()
            for event_id, entry in part.entries.items():
                if not entry.live:
                    continue
                judged = self._judged(definition, member_id, entry)
                if judged is not entry:
                    entries[event_id] = judged
                    touched |= {*entry.counted_for, *judged.counted_for}
                    self.ws.record(part, judged)
            if entries == part.entries:
                continue
            part = replace(part, entries=entries)
            self.ws.put_participation(part)
            self._retally(definition, part, sorted(touched), cause)

    def _retally(
        self,
        definition: ChallengeDefinition,
        part: Participation,
        subjects: Iterable[str],
        cause: Cause | None,
    ) -> None:
        """Recompute the member's tally toward each subject from the participation."""
        for subject in subjects:
            key: ProgressKey = (part.club, part.code, part.occurrence, definition.scope, subject)
            if not self.ws.has_progress_row(key) and not any(
                counts_for(e, subject) for e in part.entries.values()
            ):
                continue
            row = self.ws.progress_row(definition, part.occurrence, definition.scope, subject)
            tallies = with_tally(
                row.tallies, part.member_id, tally_of(part.entries.values(), subject)
            )
            if tallies == row.tallies and self.ws.has_progress_row(key):
                continue
            self.ws.put_progress(replace(row, tallies=tallies))
            if cause is not None:
                self._evaluate(definition, key, cause)

    # ------------------------------------------------------------------ milestones
    def _evaluate(self, definition: ChallengeDefinition, key: ProgressKey, cause: Cause) -> None:
        row = self.ws.progress[key]
        milestones, completes = newly_reached(definition, row)
        if not milestones and not completes:
            return  # the common case: nothing new, so skip recipients and the rest
        record = self.ws.member(row.club, row.subject_id) if row.subject_kind == "member" else None
        result = evaluate(
            definition,
            row,
            cause=cause,
            now=self.ws.now,
            recipients=self._recipients(row, cause.occurred_at),
            winners_so_far=lambda: self.ws.winners_so_far(row.occurrence_key),
            satisfied_at=lambda: self._satisfied_at(definition, row, cause),
            charity_code=timeline.charity_at(record, definition, cause.occurred_at),
        )
        if result is None:
            return
        self.ws.put_progress(result.row)
        self.ws.out.notifications.extend(result.notifications)
        self.ws.out.rewards.extend(result.rewards)
        if not result.completed_now:
            return
        self.ws.add_completion(row.occurrence_key)
        if result.row.winner:
            self.ws.add_winner(row.occurrence_key)
        completed = result.row.completed
        if row.subject_kind == "member" and completed is not None:
            if completed.satisfied_at is None:
                return  # unsettled: `settle` sets the instant and the unlock after the pass
            self._unlock(definition, row.subject_id, completed.satisfied_at, cause)

    def _recipients(self, row: Progress, at: datetime) -> tuple[str, ...]:
        if row.subject_kind == "member":
            return (row.subject_id,)
        group = self.ws.group(row.club, row.subject_id)
        members = timeline.members_at(group.roster, at) if group else ()
        return members or tuple(sorted(row.tallies))

    def _satisfied_at(
        self, definition: ChallengeDefinition, row: Progress, cause: Cause
    ) -> datetime | None:
        """For a member: `satisfied_at` (see `settle.satisfied_at`). Without the earlier
        entries at hand, None: the completion is settled after the pass, unless the
        instant unlocks other challenges now (then the entries must be loaded)."""
        if row.subject_kind != "member":
            return cause.occurred_at
        if not self.ws.has_entries(row.club, row.code, row.subject_id) and not (
            self.catalog.children(row.club, row.code)
        ):
            self.ws.out.unsettled.append(Unsettled(row.key, len(self.ws.out.ledger)))
            return None
        part = self.ws.find_participation((row.club, row.code, row.occurrence, row.subject_id))
        entries = part.entries.values() if part else ()
        return satisfied_at(definition, row.subject_id, entries, cause.occurred_at)

    def _unlock(
        self, definition: ChallengeDefinition, member_id: str, at: datetime, cause: Cause
    ) -> None:
        record = self.ws.member(definition.club, member_id) or MemberRecord(
            club=definition.club, member_id=member_id
        )
        current = record.unlocks.get(definition.code)
        if current is not None and current <= at:
            return
        self.ws.put_member(replace(record, unlocks={**record.unlocks, definition.code: at}))
        for child in self.catalog.children(definition.club, definition.code):
            self._rejudge(child, member_id, cause)
