"""The definitions in force at one revision: what every rule and read route works from."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.definitions.challenge import ChallengeDefinition


@dataclass(frozen=True, slots=True)
class DefinitionSet:
    revision: int
    challenges: tuple[ChallengeDefinition, ...] = ()
    editions: tuple[AttendanceEdition, ...] = ()
