"""What read-side routes need: the database, the definitions in force, and "now"."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.clock import Clock
from loyalty_progress.definitions.cache import DefinitionsCache

CLUB_HEADER = "X-Loyalty-Club-Slug"


@dataclass(frozen=True, slots=True)
class ReadContext:
    engine: AsyncEngine
    definitions: DefinitionsCache
    clock: Clock
