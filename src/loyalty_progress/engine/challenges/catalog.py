"""The definitions a batch runs against, indexed by club, code, requirement and the trigger
types they take.

`feeding(club, source)` is the router: the challenges of the club with a trigger of a type
the source can feed, in catalog order. Everything per event (picking inputs, planning
rows, applying) goes through it, so an event costs in proportion to the challenges it
feeds, not to the number of challenges its club has. The index is built once per
definitions revision (`Catalog` is cached by revision) and memoised per routing key."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from loyalty_progress.definitions.challenge import ChallengeDefinition, Trigger
from loyalty_progress.engine.challenges.occurrences import (
    Occurrence,
    occurrence_at,
    occurrences,
)
from loyalty_progress.engine.challenges.state import Delta
from loyalty_progress.engine.challenges.triggers import Source, deltas_of, trigger_types
from loyalty_progress.engine.receipts import ReceiptState

# Relevant events this close to a challenge window get an `outside_window` ledger entry,
# so the member or an agent can see why a purchase just before the start did not count.
# Farther away they are simply unrelated to the challenge.
OUTSIDE_WINDOW_MARGIN: Final = timedelta(days=7)

# Memoised routes per catalog: (club, trigger types, store id of a receipt).
RouteKey = tuple[str, tuple[str, ...], str | None]
ROUTES_KEPT: Final = 65_536
# A recurring challenge's occurrences are kept in a table for lookups by instant; one with
# more (a weekly one over decades) is looked up by arithmetic instead.
OCCURRENCES_TABULATED: Final = 1_000


@dataclass(frozen=True, slots=True)
class Route:
    """One challenge a routing key feeds, made ready for the events of that key: only the
    challenge's triggers of the key's types whose store filter admits the key's store
    (every other trigger gives such an event no delta), their item filters as sets, and
    the challenge's window bounds. Built once per key and definitions revision."""

    definition: ChallengeDefinition
    triggers: tuple[tuple[Trigger, frozenset[str]], ...]
    # Bounds in UTC, as `Routes` gives the instants asked about: comparing instants of
    # two different offsets costs twenty times as much in CPython (each side's offset is
    # looked up and subtracted), and every source is compared with every route it meets.
    near_from: datetime
    near_until: datetime
    ends_at: datetime
    # Every occurrence, in order, and their start instants (UTC): one bisection per event.
    table: tuple[Occurrence, ...]
    starts: tuple[datetime, ...]

    @classmethod
    def of(
        cls,
        definition: ChallengeDefinition,
        types: set[str],
        store: str | None,
        table: tuple[Occurrence, ...],
    ) -> Route:
        """`table`: the challenge's `occurrence_table` (a route is made per routing key and
        challenge, the table once per challenge by the catalog)."""
        taken = tuple(
            (t, frozenset(t.items))
            for t in definition.triggers
            if t.type in types and (not t.store_ids or store in t.store_ids)
        )
        return cls(
            definition,
            taken,
            (definition.starts_at - OUTSIDE_WINDOW_MARGIN).astimezone(UTC),
            (definition.ends_at + OUTSIDE_WINDOW_MARGIN).astimezone(UTC),
            definition.ends_at.astimezone(UTC),
            table,
            tuple(o.starts_at.astimezone(UTC) for o in table),
        )

    def deltas(self, source: Source) -> tuple[Delta, ...]:
        """`triggers.deltas(self.definition, source)`, for a source of this route's key
        (whose store every trigger of the route admits)."""
        return deltas_of(self.triggers, source, store_admitted=True)

    def occurrence(self, at: datetime) -> Occurrence | None:
        """`occurrence_at(self.definition, at)`, fastest for `at` in UTC."""
        if not self.table:
            return occurrence_at(self.definition, at)
        found = bisect_right(self.starts, at) - 1
        if found < 0 or at >= self.ends_at:
            return None
        return self.table[found]

    def near(self, at: datetime) -> bool:
        """`near_window(self.definition, at)`, fastest for `at` in UTC."""
        return self.near_from <= at < self.near_until


class Catalog:
    def __init__(self, definitions: Iterable[ChallengeDefinition]) -> None:
        self._by_key: dict[tuple[str, str], ChallengeDefinition] = {}
        self._by_club: dict[str, list[ChallengeDefinition]] = {}
        self._children: dict[tuple[str, str], list[str]] = {}
        self._routes: dict[RouteKey, tuple[Route, ...]] = {}
        self._limited: dict[str, list[ChallengeDefinition]] = {}
        # (club, code) -> its descendants: the plan asks for every member and code.
        self._descendants: dict[tuple[str, str], tuple[ChallengeDefinition, ...]] = {}
        self._tables: dict[tuple[str, str], tuple[Occurrence, ...]] = {}
        for d in definitions:
            if (d.club, d.code) in self._by_key:
                raise ValueError(f"challenge `{d.code}` given twice for club `{d.club}`")
            self._by_key[(d.club, d.code)] = d
            self._by_club.setdefault(d.club, []).append(d)
            if d.requires is not None:
                self._children.setdefault((d.club, d.requires), []).append(d.code)
            if d.max_winners is not None:
                self._limited.setdefault(d.club, []).append(d)

    @classmethod
    def of(cls, definitions: Sequence[ChallengeDefinition] | Catalog) -> Catalog:
        return definitions if isinstance(definitions, Catalog) else cls(definitions)

    def get(self, club: str, code: str) -> ChallengeDefinition | None:
        return self._by_key.get((club, code))

    def of_club(self, club: str) -> Sequence[ChallengeDefinition]:
        return self._by_club.get(club, ())

    def feeding(self, club: str, source: Source) -> tuple[Route, ...]:
        """The club's challenges with a trigger `source` can feed (see the module doc): of
        a type it feeds and, for receipts, whose store filter admits its store. (Item
        filters are left to `Route.deltas`: a receipt carries many items.)"""
        store = source.store_id if isinstance(source, ReceiptState) else None
        key = (club, trigger_types(source), store)
        found = self._routes.get(key)
        if found is None:
            types = set(key[1])
            routes = (Route.of(d, types, store, self._table(d)) for d in self.of_club(club))
            found = tuple(route for route in routes if route.triggers)
            if len(self._routes) >= ROUTES_KEPT:
                self._routes.clear()  # bounded: stores are open-ended producer data
            self._routes[key] = found
        return found

    def _table(self, definition: ChallengeDefinition) -> tuple[Occurrence, ...]:
        key = (definition.club, definition.code)
        found = self._tables.get(key)
        if found is None:
            found = self._tables[key] = tuple(occurrence_table(definition))
        return found

    def limited(self, club: str) -> Sequence[ChallengeDefinition]:
        """The club's challenges with a winner limit (their counters need locking)."""
        return self._limited.get(club, ())

    def group_scoped(self, club: str) -> list[ChallengeDefinition]:
        return [d for d in self.of_club(club) if d.scope == "group"]

    def children(self, club: str, code: str) -> list[ChallengeDefinition]:
        found = (self.get(club, c) for c in self._children.get((club, code), ()))
        return [d for d in found if d is not None]

    def descendants(self, club: str, code: str) -> list[ChallengeDefinition]:
        """Challenges that require `code`, directly or through others (cycle-safe)."""
        found = self._descendants.get((club, code))
        if found is None:
            found = self._descendants[(club, code)] = self._walk_descendants(club, code)
        return list(found)

    def _walk_descendants(self, club: str, code: str) -> tuple[ChallengeDefinition, ...]:
        seen: dict[str, ChallengeDefinition] = {}
        todo = [code]
        while todo:
            for child in self.children(club, todo.pop()):
                if child.code not in seen and child.code != code:
                    seen[child.code] = child
                    todo.append(child.code)
        return tuple(seen.values())


def occurrence_table(definition: ChallengeDefinition) -> list[Occurrence]:
    """Every occurrence of the challenge in order, or none when there are more than
    `OCCURRENCES_TABULATED` (then `occurrence_at` computes each)."""
    table: list[Occurrence] = []
    for found in occurrences(definition):
        if len(table) == OCCURRENCES_TABULATED:
            return []
        table.append(found)
    return table


def near_window(definition: ChallengeDefinition, at: datetime) -> bool:
    return (
        definition.starts_at - OUTSIDE_WINDOW_MARGIN
        <= at
        < definition.ends_at + OUTSIDE_WINDOW_MARGIN
    )
