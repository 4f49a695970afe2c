"""What one recompute pass hands back to `replay.recompute`: the figures and changes of
its report, or `RecomputeError` when it cannot run as asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class RecomputeError(Exception):
    """The recompute cannot run as asked (unknown code, ambiguous club); nothing changed."""


@dataclass(slots=True)
class PassResult:
    """What one recompute computed and wrote, for the report."""

    events: int = 0
    undecodable: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    outbox_ids: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
