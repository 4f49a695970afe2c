"""Paytronix statuses of a subject in one occurrence, as of `now`.

Member (first match wins):

| status      | when                                                                      |
|-------------|---------------------------------------------------------------------------|
| `COMPLETED` | the occurrence was completed                                              |
| `OPTED_OUT` | the member's latest opt fact for the challenge (as of now) is `opted_out` |
| `EXPIRED`   | the occurrence ended unfinished: opted in, or `auto` with some progress   |
| `OPTED_IN`  | enrolled (opted in, or `auto`), before the occurrence starts              |
| `ACTIVE`    | enrolled, inside the occurrence                                           |
| `ELIGIBLE`  | `opt_in` challenge, not opted in, the occurrence not over                 |
| None        | over, and never opted in (or `auto` without progress): not attempted      |

Group: `COMPLETED`; after the end `EXPIRED` when it has progress (else None); before the
start `OPTED_IN` for `auto` challenges and `ELIGIBLE` otherwise; inside the occurrence
`ACTIVE` for `auto` challenges or when a member's contribution counts, else `ELIGIBLE`.

`IsLocked` (seed 001) is separate: `is_locked` — the parent is not completed yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges.occurrences import Occurrence
from loyalty_progress.engine.challenges.state import MemberRecord, Progress
from loyalty_progress.engine.challenges.tally import counter_values, has_progress
from loyalty_progress.engine.challenges.timeline import enrollment_block, locked_now

Status = Literal["ELIGIBLE", "OPTED_IN", "ACTIVE", "COMPLETED", "EXPIRED", "OPTED_OUT"]


def member_status(
    definition: ChallengeDefinition,
    occurrence: Occurrence,
    record: MemberRecord | None,
    progress: Progress | None,
    now: datetime,
) -> Status | None:
    if progress is not None and progress.completed is not None:
        return "COMPLETED"
    block = enrollment_block(record, definition, now)
    if block == "after_opt_out":
        return "OPTED_OUT"
    if now >= occurrence.ends_at:
        if block is not None:
            return None
        if definition.enrollment == "opt_in" or _has_progress(definition, progress):
            return "EXPIRED"
        return None
    if block is None:
        return "OPTED_IN" if now < occurrence.starts_at else "ACTIVE"
    return "ELIGIBLE"


def _has_progress(definition: ChallengeDefinition, progress: Progress | None) -> bool:
    return progress is not None and has_progress(
        counter_values(definition, progress.tallies.values())
    )


def group_status(
    definition: ChallengeDefinition,
    occurrence: Occurrence,
    progress: Progress | None,
    now: datetime,
) -> Status | None:
    if progress is not None and progress.completed is not None:
        return "COMPLETED"
    started = progress is not None and bool(progress.tallies)
    if now >= occurrence.ends_at:
        return "EXPIRED" if _has_progress(definition, progress) else None
    auto = definition.enrollment == "auto"
    if now < occurrence.starts_at:
        return "OPTED_IN" if auto else "ELIGIBLE"
    return "ACTIVE" if auto or started else "ELIGIBLE"


def is_locked(definition: ChallengeDefinition, record: MemberRecord | None, now: datetime) -> bool:
    return locked_now(record, definition, now)
