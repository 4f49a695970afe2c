"""One `Catalog` per definitions revision, shared by the rules and the read side: rebuilt
only when the set of challenges changes."""

from __future__ import annotations

from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.engine.challenges.catalog import Catalog


class CatalogCache:
    """One `Catalog` per definitions revision (rebuilt only when the set changes)."""

    def __init__(self) -> None:
        self._challenges: object = None
        self._catalog = Catalog(())

    def get(self, definitions: DefinitionSet) -> Catalog:
        if definitions.challenges is not self._challenges:
            self._catalog = Catalog(definitions.challenges)
            self._challenges = definitions.challenges
        return self._catalog
