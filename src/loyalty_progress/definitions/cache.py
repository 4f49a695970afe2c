"""The definitions in force, as every replica sees them: reloaded within seconds of a
`definitions apply`, without restart (a cheap revision poll, a full load on change). The
worker's polling loop is `worker.definitions.keep_current`."""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.definitions.errors import DefinitionError
from loyalty_progress.definitions.loader import parse_definition
from loyalty_progress.store.definitions import latest_definitions, revision

log = logging.getLogger(__name__)

RELOAD_SECONDS: Final = 2.0  # how often each replica polls the definitions revision
# After a commit of new definitions, the time by which every running replica applies
# them: events published sooner may be applied under the previous set.
PICKUP_SECONDS: Final = RELOAD_SECONDS + 1.0


class DefinitionsCache:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.current = DefinitionSet(revision=-1)

    async def refresh(self) -> bool:
        """Reload if anything changed; True when a new set is in force."""
        async with self._engine.connect() as conn:
            latest_revision = await revision(conn)
            if latest_revision == self.current.revision:
                return False
            stored = await latest_definitions(conn)
        challenges: list[ChallengeDefinition] = []
        editions: list[AttendanceEdition] = []
        for item in stored:
            try:
                definition = parse_definition(item.body, f"database ({item.kind} v{item.version})")
            except DefinitionError as exc:
                # Stored definitions were valid when applied; a newer release may disagree.
                log.error("ignoring stored definition: %s", exc)
                continue
            if isinstance(definition, AttendanceEdition):
                editions.append(definition)
            else:
                challenges.append(definition)
        self.current = DefinitionSet(latest_revision, tuple(challenges), tuple(editions))
        log.info(
            "definitions revision %d: %d challenges, %d editions",
            latest_revision,
            len(challenges),
            len(editions),
        )
        return True
