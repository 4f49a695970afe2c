"""The pure counter-challenge engine driven in memory (unit tests): typed events and
definitions through the real parser, and `Driver`.

`Driver` plays the database layer: it keeps the rows, runs the receipt lifecycle, loads
exactly what `member_keys` / `load_plan` / `winner_keys` ask for (and the earlier entries
`EntriesNotLoaded` and `unsettled_selectors` ask for), applies a batch, and writes the
outcome back as the store does (participations from the tracked ledger lines), so the
tests exercise the same contract the real pipeline uses.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from loyalty_progress.contract.events import (
    InputEvent,
    MemberEvent,
    PointsEvent,
    ReceiptEvent,
    VoucherEvent,
)
from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.definitions.challenge import ChallengeDefinition, parse_challenge
from loyalty_progress.engine.challenges import (
    Catalog,
    ChallengeInput,
    ChallengeOutcome,
    ChallengeState,
    EntriesNotLoaded,
    GroupRecord,
    LedgerEntry,
    MemberRecord,
    Participation,
    Progress,
    RowSelector,
    apply_challenges,
    kept_participation,
    lines_of,
    load_plan,
    member_keys,
    settle,
    unsettled_selectors,
    winner_keys,
)
from loyalty_progress.engine.receipts import ReceiptState, apply_receipt_event

CLUB = "infinity-mall"
CET = timezone(timedelta(hours=1))
START = datetime(2026, 11, 1, tzinfo=CET)
END = datetime(2026, 12, 1, tzinfo=CET)
_ids = itertools.count(1)


def at(day: int = 2, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CET)


def _eid(prefix: str, event_id: str | None) -> str:
    return event_id or f"{prefix}-{next(_ids)}"


def points(
    amount: int,
    when: datetime | None = None,
    *,
    member: str = "m1",
    kind: str = "earned",
    balance: int | None = None,
    event_id: str | None = None,
) -> PointsEvent:
    return PointsEvent(
        event_id=_eid("p", event_id),
        club=CLUB,
        member_id=member,
        occurred_at=when or at(),
        kind=kind,  # type: ignore[arg-type]
        amount=amount,
        balance=balance,
    )


def voucher(
    kind: str, when: datetime | None = None, *, member: str = "m1", event_id: str | None = None
) -> VoucherEvent:
    return VoucherEvent(
        event_id=_eid("v", event_id),
        club=CLUB,
        member_id=member,
        occurred_at=when or at(),
        kind=kind,  # type: ignore[arg-type]
        voucher_id=f"voucher-{next(_ids)}",
    )


def receipt(
    receipt_id: str,
    status: str = "approved",
    amount: str | int = "100",
    when: datetime | None = None,
    *,
    member: str = "m1",
    store: str | None = "s1",
    items: Sequence[str] = (),
    event_id: str | None = None,
) -> ReceiptEvent:
    return ReceiptEvent(
        event_id=_eid("r", event_id),
        club=CLUB,
        member_id=member,
        occurred_at=when or at(),
        receipt_id=receipt_id,
        status=status,  # type: ignore[arg-type]
        amount=Decimal(str(amount)),
        store_id=store,
        items=tuple(items),
    )


def member_event(
    kind: str,
    when: datetime | None = None,
    *,
    member: str = "m1",
    challenge: str | None = None,
    group: str | None = None,
    tier: int | None = None,
    charity: str | None = None,
    event_id: str | None = None,
) -> MemberEvent:
    return MemberEvent(
        event_id=_eid("m", event_id),
        club=CLUB,
        member_id=member,
        occurred_at=when or at(),
        kind=kind,  # type: ignore[arg-type]
        challenge_code=challenge,
        group_code=group,
        tier=tier,
        charity_code=charity,
    )


def challenge(**overrides: Any) -> ChallengeDefinition:
    """A definition through the real parser; by default seed 001's Earn 1000 Points."""
    raw: dict[str, Any] = {
        "kind": "challenge",
        "code": "earn-1000",
        "club": CLUB,
        "name": "Earn 1000 Points",
        "starts_at": START,
        "ends_at": END,
        "groups": [
            {
                "triggers": [
                    {"id": 1, "name": "Earn 1000 Points", "type": 1, "target": 1000},
                ]
            }
        ],
        "milestones": [
            {
                "code": "completed",
                "reached_when": "challenge",
                "prizes": [
                    {
                        "type": "voucher",
                        "value": "BURGER40",
                        "description": "40% off Buffalo Burger",
                        "expires_in_days": 30,
                    }
                ],
            }
        ],
    }
    raw.update(overrides)
    return parse_challenge(raw, "test.yaml")


def triggers(*specs: dict[str, Any], operator: str = "AND") -> dict[str, Any]:
    """One trigger group from trigger dicts (ids numbered from 1 unless given)."""
    return {
        "operator": operator,
        "triggers": [{"id": i, **spec} for i, spec in enumerate(specs, start=1)],
    }


def _matches(selector: RowSelector, club: str, code: str, subject: str, ends_at: datetime) -> bool:
    return (selector.club, selector.code, selector.subject_id) == (club, code, subject) and (
        ends_at > selector.ends_after
    )


@dataclass
class Driver:
    """The rows of an in-memory 'database' and everything the engine sent out."""

    definitions: Sequence[ChallengeDefinition]
    now: datetime = field(default_factory=lambda: END + timedelta(days=400))
    load_everything: bool = False
    members: dict[Any, MemberRecord] = field(default_factory=dict)
    groups: dict[Any, GroupRecord] = field(default_factory=dict)
    participations: dict[Any, Participation] = field(default_factory=dict)
    progress: dict[Any, Progress] = field(default_factory=dict)
    receipts: dict[tuple[str, str], ReceiptState] = field(default_factory=dict)
    winners: dict[Any, int] = field(default_factory=dict)
    completions: dict[Any, int] = field(default_factory=dict)
    ledger: dict[Any, LedgerEntry] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    rewards: list[RewardIssuance] = field(default_factory=list)
    last: ChallengeOutcome | None = None
    entry_retries: int = 0  # batches that loaded earlier entries the plan did not foresee

    def inputs(self, events: Iterable[InputEvent]) -> list[ChallengeInput]:
        """Receipt events through the lifecycle, as the batch pipeline does."""
        found: list[ChallengeInput] = []
        for event in events:
            if isinstance(event, ReceiptEvent):
                key = (event.club, event.receipt_id)
                transition = apply_receipt_event(self.receipts.get(key), event)
                if transition is not None:
                    self.receipts[key] = transition.after
                    found.append(transition)
            else:
                found.append(event)
        return found

    def state(self, inputs: Sequence[ChallengeInput]) -> ChallengeState:
        if self.load_everything:
            return ChallengeState(
                members=dict(self.members),
                groups=dict(self.groups),
                participations=dict(self.participations),
                progress=dict(self.progress),
                winners={**self._all_winner_keys(), **self.winners},
            )
        members = {k: self.members[k] for k in member_keys(inputs) if k in self.members}
        plan = load_plan(inputs, self.definitions, members)
        participations = {
            **lines_of(self.participations.values(), plan.lines),
            **self._selected(plan.participations),
        }
        progress = {
            k: row
            for k, row in self.progress.items()
            if any(
                _matches(s, row.club, row.code, row.subject_id, row.ends_at)
                and s.subject_kind == row.subject_kind
                for s in plan.progress
            )
        }
        keys = winner_keys(inputs, self.definitions, participations, progress)
        return ChallengeState(
            members=members,
            groups={k: self.groups[k] for k in plan.groups if k in self.groups},
            participations=participations,
            progress=progress,
            winners={k: self.winners.get(k, 0) for k in keys},
            entries_of=plan.entries_of,
        )

    def _all_winner_keys(self) -> dict[Any, int]:
        from loyalty_progress.engine.challenges import occurrences

        return {
            (d.club, d.code, o.index): 0
            for d in self.definitions
            if d.max_winners is not None
            for o in occurrences(d)
        }

    def feed(self, *events: InputEvent, now: datetime | None = None) -> ChallengeOutcome:
        """One batch: lifecycle, plan, load, apply, write back."""
        inputs = self.inputs(events)
        state = self.state(inputs)
        while True:
            try:
                outcome = apply_challenges(state, inputs, self.definitions, now or self.now)
                break
            except EntriesNotLoaded as missing:
                self.entry_retries += 1
                more = {
                    k: p
                    for k, p in self.participations.items()
                    if (p.club, p.code, p.member_id) in missing.keys
                }
                state = replace(
                    state,
                    participations={**state.participations, **more},
                    entries_of=frozenset(state.entries_of or ()) | missing.keys,
                )
        if outcome.unsettled:
            stored = self._selected(unsettled_selectors(outcome))
            settle(outcome, stored, state.members, Catalog.of(self.definitions))
        self.members.update(outcome.members)
        self.groups.update(outcome.groups)
        for line in outcome.ledger:
            if line.tracked:
                self._keep(line)
        self.progress.update(outcome.progress)
        self.winners.update(outcome.winners)
        for key, n in outcome.completions.items():
            self.completions[key] = self.completions.get(key, 0) + n
        for entry in outcome.ledger:
            self.ledger[entry.key] = entry
        self.notifications.extend(outcome.notifications)
        self.rewards.extend(outcome.rewards)
        self.last = outcome
        return outcome

    def _keep(self, line: LedgerEntry) -> None:
        """A tracked ledger line into its participation, as the store keeps them."""
        key = (line.club, line.code, line.occurrence, line.member_id)
        self.participations[key] = kept_participation(self.participations.get(key), line)

    def _selected(self, selectors: Sequence[RowSelector]) -> dict[Any, Participation]:
        return {
            k: row
            for k, row in self.participations.items()
            if any(_matches(s, row.club, row.code, row.member_id, row.ends_at) for s in selectors)
        }

    def feed_each(self, *events: InputEvent) -> None:
        for event in events:
            self.feed(event)

    # -- reading back
    def row(
        self, member: str = "m1", code: str = "earn-1000", occurrence: int = 0
    ) -> Progress | None:
        definition = next(d for d in self.definitions if d.code == code)
        return self.progress.get((CLUB, code, occurrence, definition.scope, member))

    def types(self) -> list[str]:
        return [n.type for n in self.notifications]

    def counters(self) -> dict[Any, Any]:
        """Every non-empty tally: what exactness compares."""
        return {
            key: {m: t for m, t in row.tallies.items() if not t.empty}
            for key, row in self.progress.items()
            if any(not t.empty for t in row.tallies.values())
        }
