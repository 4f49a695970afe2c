"""What the JSON of a challenge row holds: the engine's row less what the row's columns
already say (docs/counter-challenges.md, "Storage and the batch pipeline").

A progress row's subject, challenge and occurrence number are its key columns, and a
ledger line's event id, source and reason are columns the read side filters and sorts on;
repeating them in the JSON about doubled a typical row's, and every batch writes and
reads those rows by the thousand. So the JSON keeps the rest and the store rebuilds the engine's
row from both. Instants stay in the JSON: the columns hold them in UTC, the engine's rows
with the offset they were made with, which notifications and contributions show.

Rows written whole (before this layout) decode the same: the keys they repeat are ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy import Row

from loyalty_progress.engine.challenges import Delta, Entry, Progress, Reached, Tally
from loyalty_progress.engine.challenges.state import Reason, SubjectKind


class ProgressBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`Progress` without its key columns (club, code, occurrence, subject)."""

    starts_at: datetime
    ends_at: datetime
    tallies: dict[str, Tally] = {}
    milestones: dict[str, Reached] = {}
    completed: Reached | None = None
    winner: bool | None = None
    expired_at: datetime | None = None


class EntryBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`Entry` without the ledger line's `event_id`, `source` and `reason` columns."""

    occurred_at: datetime
    deltas: tuple[Delta, ...]
    counted_for: tuple[str, ...] = ()
    receipt_id: str | None = None
    reverses: str | None = None
    reversed_by: str | None = None


_PROGRESS_BODY: Final = msgspec.json.Decoder(ProgressBody)
_ENTRY_BODY: Final = msgspec.json.Decoder(EntryBody)


def progress_body(p: Progress) -> ProgressBody:
    return ProgressBody(
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        tallies=p.tallies,
        milestones=p.milestones,
        completed=p.completed,
        winner=p.winner,
        expired_at=p.expired_at,
    )


def progress_of(
    club: str,
    code: str,
    occurrence: int,
    subject_kind: SubjectKind,
    subject_id: str,
    body: str | bytes,
) -> Progress:
    """The engine's row from a progress row's key columns and its JSON (as text)."""
    b = _PROGRESS_BODY.decode(body)
    return Progress(
        club=club,
        code=code,
        occurrence=occurrence,
        starts_at=b.starts_at,
        ends_at=b.ends_at,
        subject_kind=subject_kind,
        subject_id=subject_id,
        tallies=b.tallies,
        milestones=b.milestones,
        completed=b.completed,
        winner=b.winner,
        expired_at=b.expired_at,
    )


# What a query selects of a progress row for `progress_row` (prefix with the table's alias
# as `PROGRESS_COLUMNS.format(t="p.")`, or with nothing).
PROGRESS_COLUMNS: Final = (
    "{t}club, {t}code, {t}occurrence, {t}subject_kind, {t}subject_id, "
    "CAST({t}progress AS text) AS progress"
)


def progress_row(row: Row[Any]) -> Progress:
    """`progress_of` for a row selected with `PROGRESS_COLUMNS`."""
    return progress_of(
        row.club, row.code, row.occurrence, row.subject_kind, row.subject_id, row.progress
    )


def entry_body(e: Entry) -> EntryBody:
    return EntryBody(
        occurred_at=e.occurred_at,
        deltas=e.deltas,
        counted_for=e.counted_for,
        receipt_id=e.receipt_id,
        reverses=e.reverses,
        reversed_by=e.reversed_by,
    )


def entry_of(event_id: str, source: str, reason: Reason, body: str | bytes) -> Entry:
    """The engine's entry from a ledger line's columns and its JSON (as text)."""
    b = _ENTRY_BODY.decode(body)
    return Entry(
        event_id=event_id,
        occurred_at=b.occurred_at,
        source=source,
        deltas=b.deltas,
        reason=reason,
        counted_for=b.counted_for,
        receipt_id=b.receipt_id,
        reverses=b.reverses,
        reversed_by=b.reversed_by,
    )
