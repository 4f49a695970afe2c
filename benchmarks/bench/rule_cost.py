"""The counter-challenge rule alone, in-process: the CPU of its pure steps per event.

`throughput.py` measures what users run, and on a shared 2-core machine its runs swing by
±10 %, more than most single changes to the engine are worth. This runs the rule's steps
on the same workload and program with no services, so that a change to them can be
measured on its own, and repeatably under `valgrind --tool=callgrind`, which counts
instructions instead of seconds:

1. the receipt lifecycle (not measured: the backbone's), then per batch
2. inputs and routes, the load plan, `apply_challenges` (loading what it asks for),
   `settle`, `progress_flags` and the save statement's parameters (`save_params`).

The rows live in dictionaries indexed by the keys the store's statements select by, and
are written back after each batch as the store writes them (participations from the
tracked ledger lines), so every batch sees what the database would give it.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bench.program import Program
from bench.workload import NOW, Workload
from loyalty_progress.contract.events import (
    BadInput,
    InputEvent,
    InputStream,
    ReceiptEvent,
    decode_body,
)
from loyalty_progress.engine.challenges import (
    Catalog,
    ChallengeOutcome,
    ChallengeState,
    EntriesNotLoaded,
    GroupKey,
    GroupRecord,
    LineSelector,
    MemberKey,
    MemberRecord,
    OccurrenceKey,
    Participation,
    ParticipationKey,
    Progress,
    ProgressKey,
    RowSelector,
    WinnersNotLoaded,
    apply_challenges,
    entries_selectors,
    kept_participation,
    lines_of,
    load_plan,
    member_keys,
    progress_flags,
    settle,
    unsettled_selectors,
    winner_keys,
)
from loyalty_progress.engine.challenges.inputs import challenge_inputs
from loyalty_progress.engine.challenges.routes import Routes
from loyalty_progress.engine.receipts import ReceiptState, ReceiptTransition, apply_receipt_event
from loyalty_progress.store.challenge_writes import save_params
from loyalty_progress.worker.app import settle_heap


@dataclass
class MemoryRows:
    """The challenge rows, indexed as the store's statements select them."""

    members: dict[MemberKey, MemberRecord] = field(default_factory=dict)
    groups: dict[GroupKey, GroupRecord] = field(default_factory=dict)
    # (club, member) -> participation key -> the participation (its tracked lines)
    participations: dict[MemberKey, dict[ParticipationKey, Participation]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # (club, code, subject kind, subject) -> progress key -> row
    progress: dict[tuple[str, str, str, str], dict[ProgressKey, Progress]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    winners: dict[OccurrenceKey, int] = field(default_factory=dict)

    def select_participations(
        self, selectors: Sequence[RowSelector]
    ) -> dict[ParticipationKey, Participation]:
        found: dict[ParticipationKey, Participation] = {}
        for s in selectors:
            for key, part in self.participations.get((s.club, s.subject_id), {}).items():
                if part.code == s.code and part.ends_at > s.ends_after:
                    found[key] = part
        return found

    def select_lines(self, lines: Sequence[LineSelector]) -> dict[ParticipationKey, Participation]:
        members = {(line.club, line.member_id) for line in lines}
        stored = (p for m in members for p in self.participations.get(m, {}).values())
        return lines_of(stored, lines)

    def select_progress(self, selectors: Sequence[RowSelector]) -> dict[ProgressKey, Progress]:
        found: dict[ProgressKey, Progress] = {}
        for s in selectors:
            rows = self.progress.get((s.club, s.code, s.subject_kind, s.subject_id), {})
            found.update((key, row) for key, row in rows.items() if row.ends_at > s.ends_after)
        return found

    def write(self, outcome: ChallengeOutcome) -> None:
        self.members.update(outcome.members)
        self.groups.update(outcome.groups)
        for key, row in outcome.progress.items():
            self.progress[(row.club, row.code, row.subject_kind, row.subject_id)][key] = row
        self.winners.update(outcome.winners)
        for line in outcome.ledger:
            if line.tracked and line.occurrence is not None:
                rows_of = self.participations[(line.club, line.member_id)]
                part_key = (line.club, line.code, line.occurrence, line.member_id)
                rows_of[part_key] = kept_participation(rows_of.get(part_key), line)


@dataclass
class RuleCost:
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    ledger_lines: int = 0
    progress_rows: int = 0

    @property
    def micros_per_event(self) -> float:
        return 1e6 * self.seconds / max(1, self.events)


def _batches(workload: Workload, size: int) -> list[list[InputEvent]]:
    """The distinct events by stream in batches of `size`, the streams taken in turn."""
    by_stream: dict[str, list[InputEvent]] = defaultdict(list)
    for planned in workload.distinct_entries():
        event = decode_body(InputStream(planned.stream), planned.data)
        if not isinstance(event, BadInput):
            by_stream[planned.stream].append(event)
    chunks = {
        stream: [events[i : i + size] for i in range(0, len(events), size)]
        for stream, events in by_stream.items()
    }
    ordered: list[list[InputEvent]] = []
    for turn in range(max((len(c) for c in chunks.values()), default=0)):
        ordered += [c[turn] for c in chunks.values() if turn < len(c)]
    return ordered


def _transitions(
    events: Sequence[InputEvent], receipts: dict[tuple[str, str], ReceiptState]
) -> list[ReceiptTransition]:
    found: list[ReceiptTransition] = []
    for event in events:
        if isinstance(event, ReceiptEvent):
            key = (event.club, event.receipt_id)
            transition = apply_receipt_event(receipts.get(key), event)
            if transition is not None:
                receipts[key] = transition.after
                found.append(transition)
    return found


def _apply(
    rows: MemoryRows,
    events: Sequence[InputEvent],
    transitions: Sequence[ReceiptTransition],
    catalog: Catalog,
) -> tuple[ChallengeOutcome, dict[str, object] | None] | None:
    """The rule's steps for one batch, as `worker.challenges.ChallengeRule.apply` takes
    them, with the rows from memory instead of the database."""
    routes = Routes(catalog)
    inputs = challenge_inputs(events, transitions, routes)
    if not inputs:
        return None
    members = {k: rows.members[k] for k in member_keys(inputs) if k in rows.members}
    plan = load_plan(inputs, catalog, members, routes)
    state = ChallengeState(
        members,
        {k: rows.groups[k] for k in plan.groups if k in rows.groups},
        {
            **rows.select_lines(plan.lines),
            **rows.select_participations(plan.participations),
        },
        rows.select_progress(plan.progress),
        entries_of=plan.entries_of,
    )
    while True:
        try:
            outcome = apply_challenges(state, inputs, catalog, NOW, routes)
            break
        except WinnersNotLoaded:
            keys = winner_keys(inputs, catalog, state.participations, state.progress)
            state = replace(state, winners={k: rows.winners.get(k, 0) for k in keys})
        except EntriesNotLoaded as missing:
            more = rows.select_participations(entries_selectors(missing.keys))
            state = replace(
                state,
                participations={**state.participations, **more},
                entries_of=frozenset(state.entries_of or ()) | missing.keys,
            )
    if outcome.unsettled:
        stored = rows.select_participations(unsettled_selectors(outcome))
        settle(outcome, stored, members, catalog)
    params = save_params(outcome, progress_flags(outcome.progress.values(), catalog))
    return outcome, params


def measure(
    workload: Workload,
    program: Program,
    batch_size: int,
    skip: bool = False,
    rows: MemoryRows | None = None,
) -> RuleCost:
    """Run the workload through the rule, leaving its rows in `rows`; `skip`: everything
    but the rule's steps (the baseline to subtract from an instruction count)."""
    catalog = Catalog(program.challenges)
    rows = MemoryRows() if rows is None else rows
    receipts: dict[tuple[str, str], ReceiptState] = {}
    cost = RuleCost()
    batches = _batches(workload, batch_size)
    settle_heap()  # the worker's collector settings
    for events in batches:
        transitions = _transitions(events, receipts)
        cost.events += len(events)
        cost.batches += 1
        if skip:
            continue
        started = time.process_time()
        done = _apply(rows, events, transitions, catalog)
        cost.seconds += time.process_time() - started
        if done is not None:
            outcome, _ = done
            rows.write(outcome)
            # What the database holds is no garbage the worker's collector scans: keep the
            # rows out of its generations, or every collection walks the whole store.
            gc.freeze()
            cost.ledger_lines += len(outcome.ledger)
            cost.progress_rows += len(outcome.progress)
    return cost
