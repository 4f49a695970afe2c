"""The one source of "now": the real clock, or the fixed instant of `LOYALTY_NOW`."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    def __init__(self, fixed: datetime | None = None) -> None:
        self._fixed = fixed

    @property
    def fixed(self) -> bool:
        return self._fixed is not None

    def now(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)
