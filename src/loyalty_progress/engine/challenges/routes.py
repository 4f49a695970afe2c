"""What each source of a batch feeds, worked out once per batch.

A source (an event, or one receipt state of a transition) feeds a challenge when one of the
challenge's triggers takes it (`triggers.deltas` is not empty). The inputs step (is the
input relevant at all?), the plan (which rows to lock) and the engine (the entries) ask
that of the same sources; `Routes` answers once per source and keeps the answer for the
batch, so the deltas and the occurrence of an event are derived once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges.catalog import Catalog
from loyalty_progress.engine.challenges.occurrences import Occurrence
from loyalty_progress.engine.challenges.state import Delta
from loyalty_progress.engine.challenges.triggers import Source
from loyalty_progress.engine.receipts import ReceiptTransition


class Feed(NamedTuple):
    """One challenge a source feeds: the deltas, the occurrence containing the source's
    `occurred_at` (None outside the window), and whether it is near the window (inside,
    or within the margin that makes an `outside_window` note)."""

    definition: ChallengeDefinition
    deltas: tuple[Delta, ...]
    occurrence: Occurrence | None
    near: bool


class Routes:
    """The feeds of a batch's sources. One per batch: it keeps every source it was asked
    about (by identity) until the batch is done."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._feeds: dict[int, tuple[Source, tuple[Feed, ...]]] = {}

    def feeds(self, source: Source) -> tuple[Feed, ...]:
        known = self._feeds.get(id(source))
        if known is not None and known[0] is source:
            return known[1]
        at = utc(source.occurred_at)
        fed = tuple(
            Feed(route.definition, added, route.occurrence(at), route.near(at))
            for route in self.catalog.feeding(source.club, source)
            if (added := route.deltas(source))
        )
        self._feeds[id(source)] = (source, fed)
        return fed


def utc(at: datetime) -> datetime:
    """`at` in UTC, the offset the catalog's bounds are kept in (see `catalog.Route`)."""
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def sources(item: Source | ReceiptTransition) -> tuple[Source, ...]:
    """What an input contributes or reverses: the event itself, or a transition's new
    receipt state and the one it leaves (whose `occurred_at` places the reversal)."""
    if isinstance(item, ReceiptTransition):
        return (item.after,) if item.before is None else (item.after, item.before)
    return (item,)
