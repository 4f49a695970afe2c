"""Counter challenges' rows inside the batch transaction: lock + load the rows the engine's
plan names, and save what the engine changed. I/O only: which rows to lock comes from
`engine.challenges.plan`, what they become from `apply_challenges`.

A batch costs, whatever its size:

1. `lock_members`: `FOR UPDATE` of the members that have a row, a placeholder row for a
   new one (`store.row_locks`: two replicas can never both treat a member as new);
2. `lock_groups`, only when group challenges are concerned, the same way. Groups are
   locked in a statement of their own, before the progress rows they guard: a statement
   sees only rows committed before it started, and a group's progress row may have been
   created by the batch that held the group lock until just now;
3. `lock_rows`: participations (the ledger's tracked lines), the single lines reversals
   undo, and progress, in one statement, progress rows `FOR UPDATE` (member rows are
   guarded by the member lock taken in 1, group rows by 2);
4. `lock_winners`, only when the batch completes a limited challenge (the engine asks);
5. `save_outcome`: every changed row, the ledger (new and changed entries only: a
   participation is never rewritten whole), the winner and finisher counters, in one
   statement of data-modifying CTEs.

Rows travel as one JSON parameter each (`jsonrows`), the engine's rows nested in it (as
`store.challenge_bodies` stores them: without what the columns hold) and encoded in the
same pass (`state_rows_param`), so PostgreSQL parses each of them once, as `jsonb`.
Keys are sorted within each table, tables are locked in one order: no deadlocks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.engine.challenges import (
    ChallengeOutcome,
    Entry,
    GroupKey,
    GroupRecord,
    LineSelector,
    MemberKey,
    MemberRecord,
    OccurrenceKey,
    Participation,
    ParticipationKey,
    Progress,
    ProgressKey,
    RowSelector,
)
from loyalty_progress.store.challenge_bodies import (
    entry_body,
    entry_of,
    progress_body,
    progress_of,
)
from loyalty_progress.store.jsonrows import rows_param, rows_source, state_rows_param
from loyalty_progress.store.row_locks import lock_or_place

# Rows of `challenge_finishers` per occurrence (migration 0007): enough that concurrent
# batches rarely pick the same one.
FINISHER_SHARDS: Final = 16

_MEMBER: Final = msgspec.json.Decoder(MemberRecord)
_GROUP: Final = msgspec.json.Decoder(GroupRecord)


# --------------------------------------------------------------------------- lock + load

_LOCK_MEMBERS = lock_or_place(
    "challenge_members", ["club", "member_id"], ["CAST(state AS text) AS state"]
)

_LOCK_GROUPS = lock_or_place(
    "challenge_groups", ["club", "group_code"], ["CAST(state AS text) AS state"]
)

_SELECTOR_COLUMNS: Final = [
    ("club", "text"),
    ("code", "text"),
    ("subject_kind", "text"),
    ("subject_id", "text"),
    ("ends_after", "timestamptz"),
]

_LINE_COLUMNS: Final = [
    ("club", "text"),
    ("code", "text"),
    ("member_id", "text"),
    ("event_id", "text"),
]

# Participations are the tracked lines of the ledger (one per entry), read under the
# member lock and not row-locked themselves; `lines` are single tracked lines by key (the
# entries reversals undo); progress rows are locked. One result for all three: `kind`
# says what the body decodes to.
_LOCK_ROWS = text(
    f"""
    WITH entries AS (
        SELECT l.club, l.code, l.occurrence, l.member_id, l.starts_at, l.ends_at, l.event_id,
               l.source, l.reason, CAST(l.entry AS text) AS body
        FROM challenge_ledger AS l
        JOIN {rows_source("participations", _SELECTOR_COLUMNS)} AS s
          ON l.club = s.club AND l.member_id = s.subject_id AND l.code = s.code
         AND l.tracked AND l.ends_at > s.ends_after
    ), lines AS (
        SELECT l.club, l.code, l.occurrence, l.member_id, l.starts_at, l.ends_at, l.event_id,
               l.source, l.reason, CAST(l.entry AS text) AS body
        FROM challenge_ledger AS l
        JOIN {rows_source("lines", _LINE_COLUMNS)} AS k
          ON l.club = k.club AND l.member_id = k.member_id AND l.code = k.code
         AND l.event_id = k.event_id AND l.tracked
    ), progress AS (
        SELECT p.club, p.code, p.occurrence, p.subject_kind, p.subject_id,
               CAST(p.progress AS text) AS body
        FROM challenge_progress AS p
        JOIN {rows_source("progress", _SELECTOR_COLUMNS)} AS s
          ON p.club = s.club AND p.subject_kind = s.subject_kind
         AND p.subject_id = s.subject_id AND p.code = s.code AND p.ends_at > s.ends_after
        ORDER BY p.club, p.subject_kind, p.subject_id, p.code, p.occurrence
        FOR UPDATE OF p
    )
    SELECT 'entry' AS kind, club, code, occurrence, 'member' AS subject_kind,
           member_id AS subject_id, starts_at, ends_at, event_id, source, reason, body
    FROM entries
    UNION ALL
    SELECT 'line', club, code, occurrence, 'member', member_id, starts_at, ends_at, event_id,
           source, reason, body
    FROM lines
    UNION ALL
    SELECT 'progress', club, code, occurrence, subject_kind, subject_id, NULL, NULL, NULL,
           NULL, NULL, body
    FROM progress
    """
)

_LOCK_WINNERS = text(
    f"""
    INSERT INTO challenge_winners (club, code, occurrence)
    SELECT k.club, k.code, k.occurrence
    FROM {rows_source("keys", [("club", "text"), ("code", "text"), ("occurrence", "integer")])}
         AS k
    ORDER BY 1, 2, 3
    ON CONFLICT (club, code, occurrence) DO UPDATE SET club = EXCLUDED.club
    RETURNING club, code, occurrence, winners
    """
)


async def lock_members(
    conn: AsyncConnection, keys: Sequence[MemberKey]
) -> dict[MemberKey, MemberRecord]:
    """Lock the members (creating placeholders); returns the records that exist."""
    if not keys:
        return {}
    result = await conn.execute(_LOCK_MEMBERS, {"keys": rows_param(sorted(keys))})
    records = (_MEMBER.decode(row.state) for row in result if row.state is not None)
    return {r.key: r for r in records}


async def lock_groups(
    conn: AsyncConnection, keys: Sequence[GroupKey]
) -> dict[GroupKey, GroupRecord]:
    if not keys:
        return {}
    result = await conn.execute(_LOCK_GROUPS, {"keys": rows_param(sorted(keys))})
    records = (_GROUP.decode(row.state) for row in result if row.state is not None)
    return {r.key: r for r in records}


def _merged(selectors: Iterable[RowSelector]) -> list[tuple[str, str, str, str, datetime]]:
    """One selector per (club, code, subject), with the earliest `ends_after`: the union."""
    earliest: dict[tuple[str, str, str, str], datetime] = {}
    for s in selectors:
        key = (s.club, s.code, s.subject_kind, s.subject_id)
        found = earliest.get(key)
        if found is None or s.ends_after < found:
            earliest[key] = s.ends_after
    return sorted((*key, after) for key, after in earliest.items())


_Lines = dict[ParticipationKey, tuple[datetime, datetime, dict[str, Entry]]]


async def lock_rows(
    conn: AsyncConnection,
    participations: Sequence[RowSelector],
    progress: Sequence[RowSelector],
    lines: Sequence[LineSelector] = (),
) -> tuple[dict[ParticipationKey, Participation], dict[ProgressKey, Progress]]:
    """Load the participations (from their ledger lines) and lock + load the progress rows
    the selectors name. A participation of which only `lines` were asked for holds just
    those entries (the engine knows it by `ChallengeState.entries_of`)."""
    whole: _Lines = {}
    some: _Lines = {}
    rows: dict[ProgressKey, Progress] = {}
    if not participations and not progress and not lines:
        return {}, rows
    result = await conn.execute(
        _LOCK_ROWS,
        {
            "participations": rows_param(_merged(participations)),
            "lines": rows_param(lines),
            "progress": rows_param(_merged(progress)),
        },
    )
    for row in result:
        if row.kind == "progress":
            progress_row = progress_of(
                row.club, row.code, row.occurrence, row.subject_kind, row.subject_id, row.body
            )
            rows[progress_row.key] = progress_row
            continue
        kept = whole if row.kind == "entry" else some
        key = (row.club, row.code, row.occurrence, row.subject_id)
        found = kept.get(key)
        if found is None:
            found = kept[key] = (row.starts_at, row.ends_at, {})
        found[2][row.event_id] = entry_of(row.event_id, row.source, row.reason, row.body)
    # A line of a participation loaded whole is in it already.
    merged = {**some, **whole}
    parts = {
        key: Participation(
            club=key[0],
            code=key[1],
            occurrence=key[2],
            member_id=key[3],
            starts_at=starts_at,
            ends_at=ends_at,
            entries=dict(sorted(found.items(), key=lambda kv: _entry_order(kv[1]))),
        )
        for key, (starts_at, ends_at, found) in merged.items()
    }
    return parts, rows


def _entry_order(entry: Entry) -> tuple[datetime, str]:
    return (entry.occurred_at, entry.event_id)


async def lock_winners(
    conn: AsyncConnection, keys: Sequence[OccurrenceKey]
) -> dict[OccurrenceKey, int]:
    if not keys:
        return {}
    result = await conn.execute(_LOCK_WINNERS, {"keys": rows_param(sorted(keys))})
    return {(row.club, row.code, row.occurrence): int(row.winners) for row in result}


# --------------------------------------------------------------------------- save

_SAVE = text(
    f"""
    WITH members AS (
        INSERT INTO challenge_members AS t (club, member_id, state)
        SELECT u.club, u.member_id, u.state
        FROM {rows_source("members", [("club", "text"), ("member_id", "text"), ("state", "jsonb")])}
             AS u
        ORDER BY 1, 2
        ON CONFLICT (club, member_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
    ), groups AS (
        INSERT INTO challenge_groups AS t (club, group_code, state)
        SELECT u.club, u.group_code, u.state
        FROM {rows_source("groups", [("club", "text"), ("group_code", "text"), ("state", "jsonb")])}
             AS u
        ORDER BY 1, 2
        ON CONFLICT (club, group_code) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
    ), progress AS (
        INSERT INTO challenge_progress
            (club, subject_kind, subject_id, code, occurrence, starts_at, ends_at, completed_at,
             winner, expired_at, has_progress, progress)
        SELECT u.club, u.subject_kind, u.subject_id, u.code, u.occurrence, u.starts_at,
               u.ends_at, u.completed_at, u.winner, u.expired_at, u.has_progress, u.body
        FROM {
        rows_source(
            "progress",
            [
                ("club", "text"),
                ("subject_kind", "text"),
                ("subject_id", "text"),
                ("code", "text"),
                ("occurrence", "integer"),
                ("starts_at", "timestamptz"),
                ("ends_at", "timestamptz"),
                ("completed_at", "timestamptz"),
                ("winner", "boolean"),
                ("expired_at", "timestamptz"),
                ("has_progress", "boolean"),
                ("body", "jsonb"),
            ],
        )
    } AS u
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (club, subject_kind, subject_id, code, occurrence) DO UPDATE SET
            completed_at = EXCLUDED.completed_at, winner = EXCLUDED.winner,
            expired_at = EXCLUDED.expired_at, has_progress = EXCLUDED.has_progress,
            progress = EXCLUDED.progress, updated_at = now()
    ), ledger AS (
        INSERT INTO challenge_ledger
            (club, member_id, code, event_id, occurrence, occurred_at, source, reason, counted,
             entry, recorded_at, starts_at, ends_at, tracked)
        SELECT u.club, u.member_id, u.code, u.event_id, u.occurrence, u.occurred_at,
               u.source, u.reason, u.counted, u.entry, u.recorded_at, u.starts_at, u.ends_at,
               u.tracked
        FROM {
        rows_source(
            "ledger",
            [
                ("club", "text"),
                ("member_id", "text"),
                ("code", "text"),
                ("event_id", "text"),
                ("occurrence", "integer"),
                ("occurred_at", "timestamptz"),
                ("source", "text"),
                ("reason", "text"),
                ("counted", "boolean"),
                ("entry", "jsonb"),
                ("recorded_at", "timestamptz"),
                ("starts_at", "timestamptz"),
                ("ends_at", "timestamptz"),
                ("tracked", "boolean"),
            ],
        )
    } AS u
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (club, member_id, code, event_id) DO UPDATE SET
            occurrence = EXCLUDED.occurrence, occurred_at = EXCLUDED.occurred_at,
            source = EXCLUDED.source, reason = EXCLUDED.reason, counted = EXCLUDED.counted,
            entry = EXCLUDED.entry, recorded_at = EXCLUDED.recorded_at,
            starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, tracked = EXCLUDED.tracked
    ), winners AS (
        UPDATE challenge_winners AS w SET winners = u.winners
        FROM {
        rows_source(
            "winners",
            [("club", "text"), ("code", "text"), ("occurrence", "integer"), ("winners", "integer")],
        )
    } AS u
        WHERE w.club = u.club AND w.code = u.code AND w.occurrence = u.occurrence
    ), finishers AS (
        INSERT INTO challenge_finishers AS t (club, code, occurrence, shard, people_finished)
        SELECT u.club, u.code, u.occurrence, CAST(:shard AS smallint), u.finished
        FROM {
        rows_source(
            "finishers",
            [
                ("club", "text"),
                ("code", "text"),
                ("occurrence", "integer"),
                ("finished", "integer"),
            ],
        )
    } AS u
        ORDER BY 1, 2, 3
        ON CONFLICT (club, code, occurrence, shard)
        DO UPDATE SET people_finished = t.people_finished + EXCLUDED.people_finished
    )
    SELECT 1
    """
)


def _progress_rows(
    rows: Iterable[Progress], has_progress: Mapping[ProgressKey, bool]
) -> list[tuple[object, ...]]:
    ordered = sorted(
        rows, key=lambda p: (p.club, p.subject_kind, p.subject_id, p.code, p.occurrence)
    )
    return [
        (
            p.club,
            p.subject_kind,
            p.subject_id,
            p.code,
            p.occurrence,
            p.starts_at,
            p.ends_at,
            p.completed.occurred_at if p.completed else None,
            p.winner,
            p.expired_at,
            has_progress[p.key],
            progress_body(p),
        )
        for p in ordered
    ]


def save_params(
    outcome: ChallengeOutcome, has_progress: Mapping[ProgressKey, bool]
) -> dict[str, object] | None:
    """The parameters of the save statement for `outcome`; None when it changed nothing.
    `has_progress`: per changed progress row, whether any counter is above zero (the
    expiry scan's filter), from `engine.challenges.progress_flags`."""
    # A later ledger line for the same key replaces an earlier one (one upsert per row and
    # statement is all PostgreSQL allows).
    ledger = {(e.club, e.member_id, e.code, e.entry.event_id): e for e in outcome.ledger}
    finished = sorted((k, n) for k, n in outcome.completions.items() if n)
    params: dict[str, object] = {
        "members": state_rows_param((*k, outcome.members[k]) for k in sorted(outcome.members)),
        "groups": state_rows_param((*k, outcome.groups[k]) for k in sorted(outcome.groups)),
        "progress": state_rows_param(_progress_rows(outcome.progress.values(), has_progress)),
        "ledger": state_rows_param(
            (
                e.club,
                e.member_id,
                e.code,
                e.entry.event_id,
                e.occurrence,
                e.entry.occurred_at,
                e.entry.source,
                e.entry.reason,
                e.entry.counts_now,
                entry_body(e.entry),
                e.recorded_at,
                e.starts_at,
                e.ends_at,
                e.tracked,
            )
            for e in (ledger[k] for k in sorted(ledger))
        ),
        "winners": rows_param((*k, outcome.winners[k]) for k in sorted(outcome.winners)),
        "finishers": rows_param((*k, n) for k, n in finished),
    }
    if all(value == "[]" for value in params.values()):
        return None
    params["shard"] = random.randrange(FINISHER_SHARDS)
    return params


async def save_outcome(
    conn: AsyncConnection,
    outcome: ChallengeOutcome,
    has_progress: Mapping[ProgressKey, bool],
) -> None:
    """Write back what the engine changed (whole rows), the ledger and the counters, in one
    statement (`save_params`)."""
    params = save_params(outcome, has_progress)
    if params is not None:
        await conn.execute(_SAVE, params)
