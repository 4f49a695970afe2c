"""One batch in one transaction: record ids, lock + load, apply the engine, save, outbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.contract.events import InputEvent, InputStream, ReceiptEvent
from loyalty_progress.contract.outputs import DeadLetter, OutputMessage
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.engine.batch import apply_receipts_and_totals, receipt_keys
from loyalty_progress.engine.fact_order import in_fact_order
from loyalty_progress.store import batch as store
from loyalty_progress.store.outbox import OutboxRow
from loyalty_progress.worker.deadletter import dead_letter
from loyalty_progress.worker.rule_protocols import BatchContext, BatchRule


@dataclass(frozen=True, slots=True)
class GoodEntry:
    entry_id: str
    event: InputEvent
    body: bytes


Refuse = Callable[[GoodEntry, str], DeadLetter]


def _first_delivery(stream_name: str, now: datetime) -> Refuse:
    def letter(entry: GoodEntry, reason: str) -> DeadLetter:
        return dead_letter(stream_name, entry.entry_id, entry.body, reason, 1, now)

    return letter


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int
    duplicates: int
    dead_lettered: int
    outbox_rows: list[OutboxRow]
    applied_types: dict[str, int]
    refused: tuple[DeadLetter, ...] = ()  # entries a rule dead-lettered (see BatchContext)

    @property
    def outbox_ids(self) -> list[int]:
        return [row.id for row in self.outbox_rows]


async def commit_batch(
    engine: AsyncEngine,
    stream: InputStream,
    good: Sequence[GoodEntry],
    dead_letters: Sequence[DeadLetter],
    now: datetime,
    definitions: DefinitionSet | None = None,
    rules: Sequence[BatchRule] = (),
    on_locked: Callable[[], None] | None = None,
    refuse: Refuse | None = None,
) -> BatchResult:
    """`on_locked` is called once the batch holds its event-id and receipt row locks (see
    `worker.lanes`). `refuse` makes the dead letter of an entry a rule refuses (by
    default: as at its first delivery, under the stream's short name)."""
    # The same event twice in one batch: the first copy is the one that counts.
    unique: dict[str, GoodEntry] = {}
    for entry in good:
        unique.setdefault(entry.event.event_id, entry)
    events = [e.event for e in unique.values()]
    async with engine.begin() as conn:
        # Receipts touched only by duplicates are locked too: harmless, and it keeps this
        # to one statement before the engine runs.
        new_ids, receipts = await store.record_and_lock(
            conn,
            stream.value,
            [
                store.EventRow(
                    event_id=e.event.event_id,
                    club=e.event.club,
                    member_id=e.event.member_id,
                    occurred_at=e.event.occurred_at,
                    body=e.body,
                )
                for e in unique.values()
            ],
            receipt_keys(events),
        )
        if on_locked is not None:
            on_locked()
        fresh = [e for e in events if e.event_id in new_ids]
        outcome = apply_receipts_and_totals(fresh, receipts, now)
        # One list per step, each in the order of its facts (see `in_fact_order`).
        steps: list[Sequence[OutputMessage]] = [
            [*outcome.notifications, *outcome.rewards, *dead_letters]
        ]
        if rules and fresh:
            letter_of = refuse or _first_delivery(stream.value, now)
            context = BatchContext(
                events=fresh,
                transitions=outcome.transitions,
                definitions=definitions or DefinitionSet(revision=-1),
                now=now,
                refuse=lambda event_id, reason: letter_of(unique[event_id], reason),
            )
            for rule in rules:
                steps.append(await rule.apply(conn, context))
        refused = tuple(m for step in steps[1:] for m in step if isinstance(m, DeadLetter))
        outbox_rows = await store.save_batch(
            conn, outcome.receipts.values(), outcome.totals, in_fact_order(steps, fresh)
        )
    return BatchResult(
        applied=len(fresh),
        duplicates=len(good) - len(fresh),
        dead_lettered=len(dead_letters) + len(refused),
        outbox_rows=outbox_rows,
        applied_types=dict(Counter(event_type(e) for e in fresh)),
        refused=refused,
    )


def event_type(event: InputEvent) -> str:
    """The metric label of an event: its receipt status or its kind."""
    return event.status if isinstance(event, ReceiptEvent) else event.kind
