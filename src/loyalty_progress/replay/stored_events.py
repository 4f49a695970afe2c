"""The events a recompute rebuilds from (steps 1 and 2 of `replay.recompute`): the stored
bodies decoded in processing order, and the receipt lifecycle run again from nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty_progress.contract.events import (
    BadInput,
    InputEvent,
    InputStream,
    ReceiptEvent,
    decode_body,
)
from loyalty_progress.engine.receipts import (
    RANK,
    ReceiptState,
    ReceiptTransition,
    apply_receipt_event,
    receipt_key,
)
from loyalty_progress.replay.pass_result import PassResult
from loyalty_progress.store.recompute import StoredEvent


@dataclass(frozen=True, slots=True)
class Stored:
    """A decoded stored event with the instant its batch was committed."""

    event: InputEvent
    processed_at: datetime


def _order(item: Stored) -> tuple[datetime, datetime, int, str]:
    event = item.event
    rank = RANK[event.status] if isinstance(event, ReceiptEvent) else 0
    return (item.processed_at, event.occurred_at, rank, event.event_id)


def decode_stored(rows: Sequence[StoredEvent], out: PassResult) -> list[Stored]:
    """Decode the stored bodies (they were valid when consumed) in processing order."""
    decoded: list[Stored] = []
    for row in rows:
        event = decode_body(InputStream(row.stream), row.body)
        if isinstance(event, BadInput):
            out.undecodable.append(f"{row.stream}/{row.event_id}: {event.reason}")
            continue
        decoded.append(Stored(event, row.processed_at))
    decoded.sort(key=_order)
    out.events = len(decoded)
    return decoded


def lifecycle(events: Sequence[InputEvent]) -> list[ReceiptTransition]:
    """The receipt transitions of these events, from no receipt state at all."""
    current: dict[tuple[str, str], ReceiptState] = {}
    transitions: list[ReceiptTransition] = []
    for event in events:
        if not isinstance(event, ReceiptEvent):
            continue
        key = receipt_key(event.club, event.receipt_id)
        transition = apply_receipt_event(current.get(key), event)
        if transition is not None:
            current[key] = transition.after
            transitions.append(transition)
    return transitions
