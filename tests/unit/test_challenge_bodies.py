"""A progress row's and a ledger line's JSON leave out what their columns hold, and the
engine's rows come back whole from both, including rows stored whole before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import msgspec

from loyalty_progress.engine.challenges import Delta, Entry, Progress, Reached, Tally
from loyalty_progress.engine.challenges.state import Reading
from loyalty_progress.store.challenge_bodies import (
    entry_body,
    entry_of,
    progress_body,
    progress_of,
)

OSLO_WINTER = timezone(timedelta(hours=1))
AT = datetime(2026, 3, 2, 10, 30, tzinfo=OSLO_WINTER)

PROGRESS = Progress(
    club="mall",
    code="earn",
    occurrence=2,
    starts_at=datetime(2026, 3, 1, tzinfo=OSLO_WINTER),
    ends_at=datetime(2026, 4, 1, tzinfo=OSLO_WINTER),
    subject_kind="group",
    subject_id="team-a",
    tallies={
        "m1": Tally(sums={1: Decimal("12.50")}, keys={2: {"s1": 2}}),
        "m2": Tally(gauges={3: Reading(value=900, at=AT, event_id="e9")}),
    },
    milestones={"half": Reached(event_id="e3", occurred_at=AT, at=AT)},
    completed=Reached(event_id="e4", occurred_at=AT, at=AT, satisfied_at=AT),
    winner=True,
    expired_at=datetime(2026, 4, 2, tzinfo=UTC),
)

ENTRY = Entry(
    event_id="e4",
    occurred_at=AT,
    source="receipts.approved",
    deltas=(Delta(trigger=1, amount=Decimal("12.50")), Delta(trigger=2, keys=("s1",))),
    reason="counted",
    counted_for=("m1", "team-a"),
    receipt_id="r4",
    reversed_by="e5",
)


def _keys(body: object) -> set[str]:
    decoded = msgspec.json.decode(msgspec.json.encode(body))
    assert isinstance(decoded, dict)
    return set(decoded)


def test_a_progress_body_leaves_out_the_key_columns_and_comes_back_whole() -> None:
    body = progress_body(PROGRESS)
    assert not _keys(body) & {"club", "code", "occurrence", "subject_kind", "subject_id"}
    back = progress_of("mall", "earn", 2, "group", "team-a", msgspec.json.encode(body))
    assert back == PROGRESS
    # The occurrence's bounds keep their offset: notifications show them as made.
    assert back.starts_at.utcoffset() == timedelta(hours=1)


def test_an_entry_body_leaves_out_the_line_columns_and_comes_back_whole() -> None:
    body = entry_body(ENTRY)
    assert not _keys(body) & {"event_id", "source", "reason"}
    back = entry_of("e4", "receipts.approved", "counted", msgspec.json.encode(body))
    assert back == ENTRY
    assert back.occurred_at.utcoffset() == timedelta(hours=1)


def test_rows_stored_whole_before_decode_the_same() -> None:
    whole_progress = msgspec.json.encode(PROGRESS)
    assert progress_of("mall", "earn", 2, "group", "team-a", whole_progress) == PROGRESS
    whole_entry = msgspec.json.encode(ENTRY)
    assert entry_of("e4", "receipts.approved", "counted", whole_entry) == ENTRY
