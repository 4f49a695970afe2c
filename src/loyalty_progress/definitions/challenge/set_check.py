"""Checks that need the whole set of counter challenges, not one definition: unique
(club, code), and `requires` chains that end in a member-scope challenge of the club."""

from __future__ import annotations

from collections.abc import Sequence

from loyalty_progress.definitions.challenge.model import ChallengeDefinition
from loyalty_progress.definitions.errors import DefinitionError


def check_challenges(definitions: Sequence[ChallengeDefinition], source: str) -> None:
    """Checks that need the whole set: unique (club, code), and `requires` naming an existing
    member-scope challenge of the same club without cycles. Run it on the union of stored
    and newly applied definitions (a parent may live in another file)."""
    by_key: dict[tuple[str, str], ChallengeDefinition] = {}
    for d in definitions:
        if (d.club, d.code) in by_key:
            raise DefinitionError(source, d.code, "code", f"defined twice in club `{d.club}`")
        by_key[(d.club, d.code)] = d
    for d in definitions:
        if d.requires is None:
            continue
        parent = by_key.get((d.club, d.requires))
        if parent is None:
            raise DefinitionError(
                source, d.code, "requires", f"no challenge `{d.requires}` in club `{d.club}`"
            )
        if parent.scope != "member":
            raise DefinitionError(
                source, d.code, "requires", f"`{d.requires}` is a group challenge"
            )
        seen = {d.code}
        while parent is not None and parent.requires is not None:
            if parent.requires in seen:
                raise DefinitionError(source, d.code, "requires", "requirements form a cycle")
            seen.add(parent.requires)
            parent = by_key.get((d.club, parent.requires))
