"""Occurrences: the periods of a challenge, each with fresh counters.

A challenge without `recurrence` has one occurrence, index 0, `[starts_at, ends_at)`.
A recurring one is cut into periods measured from `starts_at`, in `starts_at`'s own UTC
offset (no DST shifts: the offset the file gives is the calendar used):

- `weekly`: occurrence k starts at `starts_at + 7k days`;
- `monthly`: occurrence k starts at `starts_at` plus k calendar months, same wall-clock
  time, the day clamped to the month's length (Jan 31 -> Feb 28 -> Mar 31: always
  computed from `starts_at`, so a clamp never drifts).

Every period is half-open, and the last one is cut at `ends_at`. An event belongs to the
occurrence that contains its `occurred_at`; outside `[starts_at, ends_at)` to none.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Final

import msgspec

from loyalty_progress.definitions.challenge import ChallengeDefinition

WEEK: Final = timedelta(days=7)


class Occurrence(msgspec.Struct, frozen=True):
    """Built for every event and challenge it feeds: a Struct, cheap to create."""

    index: int
    starts_at: datetime
    ends_at: datetime

    def contains(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def _add_months(base: datetime, months: int) -> datetime:
    year, month0 = divmod(base.month - 1 + months, 12)
    year += base.year
    day = min(base.day, calendar.monthrange(year, month0 + 1)[1])
    return base.replace(year=year, month=month0 + 1, day=day)


def _period_start(definition: ChallengeDefinition, index: int) -> datetime:
    if definition.recurrence == "weekly":
        return definition.starts_at + index * WEEK
    return _add_months(definition.starts_at, index)


def occurrence(definition: ChallengeDefinition, index: int) -> Occurrence:
    """Occurrence `index` (which must exist)."""
    if definition.recurrence is None:
        if index != 0:
            raise ValueError(f"challenge `{definition.code}` has one occurrence, not {index}")
        return Occurrence(0, definition.starts_at, definition.ends_at)
    starts_at = _period_start(definition, index)
    if index < 0 or starts_at >= definition.ends_at:
        raise ValueError(f"challenge `{definition.code}` has no occurrence {index}")
    ends_at = min(_period_start(definition, index + 1), definition.ends_at)
    return Occurrence(index, starts_at, ends_at)


def occurrence_at(definition: ChallengeDefinition, at: datetime) -> Occurrence | None:
    """The occurrence containing `at`, or None outside the challenge window."""
    if not definition.starts_at <= at < definition.ends_at:
        return None
    if definition.recurrence is None:
        return Occurrence(0, definition.starts_at, definition.ends_at)
    if definition.recurrence == "weekly":
        return occurrence(definition, (at - definition.starts_at) // WEEK)
    local = at.astimezone(definition.starts_at.tzinfo)
    start = definition.starts_at
    index = (local.year - start.year) * 12 + (local.month - start.month)
    if _add_months(start, index) > at:
        index -= 1
    return occurrence(definition, index)


def occurrences(definition: ChallengeDefinition) -> Iterator[Occurrence]:
    """Every occurrence in order."""
    index = 0
    while True:
        if definition.recurrence is None and index > 0:
            return
        if definition.recurrence is not None and (
            _period_start(definition, index) >= definition.ends_at
        ):
            return
        yield occurrence(definition, index)
        index += 1
