"""The definitions a batch runs against, indexed by club, code, requirement and the trigger
types they take.

`feeding(club, source)` is the router: the challenges of the club with a trigger of a type
the source can feed, in catalog order. Everything per event (picking inputs, planning
rows, applying) goes through it, so an event costs in proportion to the challenges it
feeds, not to the number of challenges its club has. The index is built once per
definitions revision (`Catalog` is cached by revision) and memoised per routing key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges.triggers import Source, trigger_types
from loyalty_progress.engine.receipts import ReceiptState

# Relevant events this close to a challenge window get an `outside_window` ledger entry,
# so the member or an agent can see why a purchase just before the start did not count.
# Farther away they are simply unrelated to the challenge.
OUTSIDE_WINDOW_MARGIN: Final = timedelta(days=7)

# Memoised routes per catalog: (club, trigger types, store id of a receipt).
RouteKey = tuple[str, tuple[str, ...], str | None]
ROUTES_KEPT: Final = 65_536


class Catalog:
    def __init__(self, definitions: Iterable[ChallengeDefinition]) -> None:
        self._by_key: dict[tuple[str, str], ChallengeDefinition] = {}
        self._by_club: dict[str, list[ChallengeDefinition]] = {}
        self._children: dict[tuple[str, str], list[str]] = {}
        self._routes: dict[RouteKey, tuple[ChallengeDefinition, ...]] = {}
        self._limited: dict[str, list[ChallengeDefinition]] = {}
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

    def feeding(self, club: str, source: Source) -> tuple[ChallengeDefinition, ...]:
        """The club's challenges with a trigger `source` can feed (see the module doc): of
        a type it feeds and, for receipts, whose store filter admits its store. (Item
        filters are left to `triggers.deltas`: a receipt carries many items.)"""
        store = source.store_id if isinstance(source, ReceiptState) else None
        key = (club, trigger_types(source), store)
        found = self._routes.get(key)
        if found is None:
            types = set(key[1])
            found = tuple(
                d
                for d in self.of_club(club)
                if any(
                    t.type in types and (not t.store_ids or store in t.store_ids)
                    for t in d.triggers
                )
            )
            if len(self._routes) >= ROUTES_KEPT:
                self._routes.clear()  # bounded: stores are open-ended producer data
            self._routes[key] = found
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
        seen: dict[str, ChallengeDefinition] = {}
        todo = [code]
        while todo:
            for child in self.children(club, todo.pop()):
                if child.code not in seen and child.code != code:
                    seen[child.code] = child
                    todo.append(child.code)
        return list(seen.values())


def near_window(definition: ChallengeDefinition, at: datetime) -> bool:
    return (
        definition.starts_at - OUTSIDE_WINDOW_MARGIN
        <= at
        < definition.ends_at + OUTSIDE_WINDOW_MARGIN
    )
