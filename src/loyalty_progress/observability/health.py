"""What `/readyz` reports: every dependency reachable and every consumer group consumed,
and, when not ready, why (`reasons`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Health:
    database: bool = False
    redis: bool = False
    migrations_current: bool = False
    # The consumers run: set once start-up is through, cleared when shutdown begins.
    groups_joined: bool = False
    last_error: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    # What start-up is waiting for (None once it is through).
    starting: str | None = "not started"
    stopping: bool = False
    # Input streams whose consumer group was lost, with what the worker is doing about it;
    # an entry stays until this worker consumes that stream again.
    lost_groups: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return (
            self.database
            and self.redis
            and self.migrations_current
            and self.groups_joined
            and not self.lost_groups
            and self.starting is None
            and not self.stopping
        )

    def reasons(self) -> list[str]:
        """Why the worker is not ready, in words an operator can act on (empty when ready)."""
        if self.stopping:
            return ["shutting down"]
        if self.starting is not None:
            return [f"starting: {self.starting}"]
        reasons: list[str] = []
        if not self.database:
            reasons.append("PostgreSQL unreachable (see last_error)")
        if not self.redis:
            reasons.append("Redis unreachable (see last_error)")
        if self.database and not self.migrations_current:
            reasons.append("the database schema does not match this release's migrations")
        if not self.groups_joined:
            reasons.append("consumers not running")
        reasons += [f"{stream}: {what}" for stream, what in sorted(self.lost_groups.items())]
        return reasons

    def as_dict(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "database": self.database,
            "redis": self.redis,
            "migrations_current": self.migrations_current,
            "groups_joined": self.groups_joined and not self.lost_groups,
            "last_error": self.last_error,
            "reasons": self.reasons(),
        }
