"""What a recompute keeps of the rows it replaces (pure: no I/O).

A recompute rebuilds a challenge's or an edition's rows from the stored events under the
definition now in force (the *fresh* rows), then merges them with the rows it replaces
(the *old* rows) by one rule: **what was reached and published stands**: completed
milestones and issued rewards are never revoked (docs/counter-challenges.md, "Milestones,
completion, limited challenges"; docs/replay.md, "Outputs already published"). So:

- counters, participations, days and the ledger are the fresh ones: they may go up or
  down;
- a milestone, a completion, a win, an expiry notice, a completed or failed stage, a
  notice or a reward recorded in an old row is kept when the fresh rows lack it; when both
  have it, the fresh record (the event that reaches it under the fixed definition) is
  used;
- a row that only held counters disappears when the fresh pass does not recreate it.

When the old facts are a subset of the fresh ones (a fix that only makes goals easier, or
no change at all), the merge is exactly the fresh state: the same as a replay of the same
events into an empty database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.attendance import AttendanceDay, AttendanceMembership
from loyalty_progress.engine.challenges import Progress, counter_values


def _has_facts(row: Progress) -> bool:
    return bool(row.milestones) or row.completed is not None or row.expired_at is not None


def merge_progress(old: Progress | None, fresh: Progress | None) -> Progress | None:
    """The row to store for one subject and occurrence (None: no row)."""
    if old is None:
        return fresh
    if fresh is None:
        if not _has_facts(old):
            return None
        # Nothing counts any more, but what was reached stands.
        return msgspec.structs.replace(old, tallies={})
    completed = fresh.completed or old.completed
    winner = True if old.winner else (fresh.winner if fresh.completed else old.winner)
    return msgspec.structs.replace(
        fresh,
        milestones={**old.milestones, **fresh.milestones},
        completed=completed,
        winner=winner,
        expired_at=old.expired_at if completed is None else None,
    )


def merge_progress_rows(
    old: Iterable[Progress], fresh: Iterable[Progress]
) -> dict[tuple[str, str, int, str, str], Progress]:
    olds = {row.key: row for row in old}
    freshes = {row.key: row for row in fresh}
    merged: dict[tuple[str, str, int, str, str], Progress] = {}
    for key in sorted(olds.keys() | freshes.keys()):
        row = merge_progress(olds.get(key), freshes.get(key))
        if row is not None:
            merged[key] = row
    return merged


def unlock_instant(rows: Iterable[Progress]) -> datetime | None:
    """When a member first completed the challenge (unlocking the ones that require it):
    as the engine says it, `satisfied_at` or else the completing event's `occurred_at`."""
    instants = [
        row.completed.satisfied_at or row.completed.occurred_at
        for row in rows
        if row.completed is not None
    ]
    return min(instants, default=None)


def _number(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else str(value)


def progress_summary(definition: ChallengeDefinition, row: Progress | None) -> dict[str, Any]:
    """What a support agent compares before and after: counter values per trigger id (under
    the definition now in force), milestones reached, completion."""
    tallies = row.tallies.values() if row is not None else ()
    values = counter_values(definition, tallies)
    return {
        "values": {str(t): _number(v) for t, v in sorted(values.items())},
        "milestones": sorted(row.milestones) if row is not None else [],
        "completed": row is not None and row.completed is not None,
        "winner": row.winner if row is not None else None,
    }


# --------------------------------------------------------------------------- attendance


def _union(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    items = list(first)
    items += [s for s in second if s not in items]
    return tuple(items)


def merge_membership(
    old: AttendanceMembership | None, fresh: AttendanceMembership | None
) -> AttendanceMembership | None:
    """One member's row: the fresh facts plus every old fact the fresh pass lacks."""
    if old is None:
        return fresh
    if fresh is None:
        return old  # nothing counts any more; what happened stands
    fresh_completed = fresh.completed_stages
    completed = (*fresh.completed, *(c for c in old.completed if c.stage not in fresh_completed))
    completed_stages = {c.stage for c in completed}
    if old.joined_stage < fresh.joined_stage:
        joined_stage, joined_at = old.joined_stage, old.joined_at
    elif old.joined_stage == fresh.joined_stage:
        joined_stage, joined_at = old.joined_stage, min(old.joined_at, fresh.joined_at)
    else:
        joined_stage, joined_at = fresh.joined_stage, fresh.joined_at
    return msgspec.structs.replace(
        fresh,
        joined_stage=joined_stage,
        joined_at=joined_at,
        completed=tuple(sorted(completed, key=lambda c: c.stage)),
        failed=_union(fresh.failed, (s for s in old.failed if s not in completed_stages)),
        notices=_union(fresh.notices, old.notices),
        first_stage_reward=old.first_stage_reward or fresh.first_stage_reward,
        streak_rewards=_union(fresh.streak_rewards, old.streak_rewards),
    )


def membership_summary(
    edition: AttendanceEdition,
    membership: AttendanceMembership | None,
    days: Iterable[AttendanceDay],
) -> dict[str, Any]:
    """Stages reached or failed, rewards, and the days behind them (complete days are
    counted against the edition's goal now in force, before and after alike)."""
    rows = list(days)
    approved = sum((d.approved for d in rows), Decimal(0))
    complete = sum(1 for d in rows if d.approved >= edition.daily_value_goal)
    if membership is None:
        return {"joined": False, "days_complete": complete, "approved_value": _number(approved)}
    return {
        "joined": True,
        "joined_stage": membership.joined_stage,
        "completed_stages": sorted(membership.completed_stages),
        "failed_stages": sorted(membership.failed),
        "first_stage_reward": membership.first_stage_reward,
        "streak_rewards": sorted(membership.streak_rewards),
        "days_complete": complete,
        "approved_value": _number(approved),
    }


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    return dict(before) != dict(after)


__all__ = [
    "changed",
    "membership_summary",
    "merge_membership",
    "merge_progress",
    "merge_progress_rows",
    "progress_summary",
    "unlock_instant",
]
