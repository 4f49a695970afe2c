"""The definitions a batch runs against, indexed by club, code and requirement."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from loyalty_progress.definitions.challenge import ChallengeDefinition

# Relevant events this close to a challenge window get an `outside_window` ledger entry,
# so the member or an agent can see why a purchase just before the start did not count.
# Farther away they are simply unrelated to the challenge.
OUTSIDE_WINDOW_MARGIN: Final = timedelta(days=7)


class Catalog:
    def __init__(self, definitions: Iterable[ChallengeDefinition]) -> None:
        self._by_key: dict[tuple[str, str], ChallengeDefinition] = {}
        self._by_club: dict[str, list[ChallengeDefinition]] = {}
        self._children: dict[tuple[str, str], list[str]] = {}
        for d in definitions:
            if (d.club, d.code) in self._by_key:
                raise ValueError(f"challenge `{d.code}` given twice for club `{d.club}`")
            self._by_key[(d.club, d.code)] = d
            self._by_club.setdefault(d.club, []).append(d)
            if d.requires is not None:
                self._children.setdefault((d.club, d.requires), []).append(d.code)

    @classmethod
    def of(cls, definitions: Sequence[ChallengeDefinition] | Catalog) -> Catalog:
        return definitions if isinstance(definitions, Catalog) else cls(definitions)

    def get(self, club: str, code: str) -> ChallengeDefinition | None:
        return self._by_key.get((club, code))

    def of_club(self, club: str) -> Sequence[ChallengeDefinition]:
        return self._by_club.get(club, ())

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
