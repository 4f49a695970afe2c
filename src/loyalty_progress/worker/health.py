"""What `/readyz` reports: every dependency reachable and the consumer group joined."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Health:
    database: bool = False
    redis: bool = False
    migrations_current: bool = False
    groups_joined: bool = False
    last_error: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.database and self.redis and self.migrations_current and self.groups_joined

    def as_dict(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "database": self.database,
            "redis": self.redis,
            "migrations_current": self.migrations_current,
            "groups_joined": self.groups_joined,
            "last_error": self.last_error,
        }
