"""Extension points of the pipeline. A `BatchRule` applies the fresh events of a batch
inside the batch transaction (after receipts and totals); a `TimeRule` produces the
time-driven facts (`tick`). Both return outbox messages / ids; neither talks to Redis.

Which rules run, in which order, is `worker.registry`; each locks its own tables in sorted key
order, and since every batch runs the rules in the same order, lock order stays global.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_progress.contract.events import InputEvent
from loyalty_progress.contract.outputs import DeadLetter, OutputMessage
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.engine.receipts import ReceiptTransition


@dataclass(frozen=True, slots=True)
class BatchContext:
    events: Sequence[InputEvent]  # fresh (de-duplicated) events, in entry order
    transitions: Sequence[ReceiptTransition]  # receipt status changes the batch applied
    definitions: DefinitionSet
    now: datetime
    # The dead letter of a fresh event's entry, with a reason: for a rule that finds an
    # event it cannot take (a claim of an unknown prize) only once it sees the state.
    refuse: Callable[[str, str], DeadLetter]


class BatchRule(Protocol):
    name: str

    async def apply(self, conn: AsyncConnection, batch: BatchContext) -> Sequence[OutputMessage]:
        """Load, lock, apply and save this rule's state; return the messages it caused."""
        ...


class TimeRule(Protocol):
    name: str

    async def tick(
        self, engine: AsyncEngine, definitions: DefinitionSet, now: datetime
    ) -> list[int]:
        """Produce the facts due by `now` in its own transactions (safe with any number of
        replicas running it at once); return the outbox ids written."""
        ...
