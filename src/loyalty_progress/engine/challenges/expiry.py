"""`challenge_expired`: a pure function of the progress rows and the clock.

An occurrence that has ended (`ends_at <= now`) without being completed expires for every
subject with some progress (a counter above zero); each such subject's recipients get one
`challenge_expired` (severity `info`, `caused_by` empty) and the row gets `expired_at`, so
the scheduler can run this as often as it likes, on any replica: a row with `expired_at`
is never notified again, and the notification id is deterministic anyway.

Events dated inside the occurrence that arrive after it expired still count (the window is
judged by `occurred_at`), and may still complete it: late receipt approvals are honoured.
The scheduler may pass a `grace` to wait for stragglers before telling members.

The caller selects candidate rows, e.g. `completed IS NULL AND expired_at IS NULL AND
ends_at <= now - grace`, locks them, and passes the groups' records for recipients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from msgspec.structs import replace

from loyalty_progress.contract.outputs import Notification
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges import effects
from loyalty_progress.engine.challenges.catalog import Catalog
from loyalty_progress.engine.challenges.state import GroupKey, GroupRecord, Progress, ProgressKey
from loyalty_progress.engine.challenges.tally import counter_values, has_progress
from loyalty_progress.engine.challenges.timeline import members_at


def progress_flags(rows: Iterable[Progress], catalog: Catalog) -> dict[ProgressKey, bool]:
    """Per row, whether some counter is above zero: stored beside the row so that the
    expiry scan only picks rows whose subjects have something to be told."""
    flags: dict[ProgressKey, bool] = {}
    for row in rows:
        definition = catalog.get(row.club, row.code)
        if definition is None:
            flags[row.key] = any(not t.empty for t in row.tallies.values())
        else:
            flags[row.key] = has_progress(counter_values(definition, row.tallies.values()))
    return flags


@dataclass(slots=True)
class ExpiryOutcome:
    progress: dict[ProgressKey, Progress] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)


def expire_occurrences(
    rows: Iterable[Progress],
    definitions: Sequence[ChallengeDefinition] | Catalog,
    now: datetime,
    groups: Mapping[GroupKey, GroupRecord] | None = None,
    grace: timedelta = timedelta(0),
) -> ExpiryOutcome:
    catalog = Catalog.of(definitions)
    outcome = ExpiryOutcome()
    for row in rows:
        definition = catalog.get(row.club, row.code)
        if definition is None or not due(row, now - grace):
            continue
        if not has_progress(counter_values(definition, row.tallies.values())):
            continue
        row = replace(row, expired_at=now)
        outcome.progress[row.key] = row
        if "challenge_expired" not in definition.notices:
            continue
        for member_id in _recipients(row, groups or {}):
            outcome.notifications.append(effects.expired(definition, row, member_id, now))
    return outcome


def due(row: Progress, now: datetime) -> bool:
    return row.completed is None and row.expired_at is None and row.ends_at <= now


def _recipients(row: Progress, groups: Mapping[GroupKey, GroupRecord]) -> tuple[str, ...]:
    if row.subject_kind == "member":
        return (row.subject_id,)
    group = groups.get((row.club, row.subject_id))
    # Members of the group at the last instant of the occurrence.
    last = row.ends_at - timedelta(microseconds=1)
    members = members_at(group.roster, last) if group else ()
    return members or tuple(sorted(row.tallies))
