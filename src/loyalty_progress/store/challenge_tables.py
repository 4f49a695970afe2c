"""Counter challenge tables (docs/counter-challenges.md, "Storage and the batch pipeline"),
registered on the shared `metadata`.

Migration `0004_challenges` creates exactly these; `tests/integration/test_store.py`
compares the two. Engine rows (msgspec Structs) are stored as JSONB; what SQL selects or
filters on is a real column beside them, and a progress row's or ledger line's JSON does
not repeat its columns (`store.challenge_bodies`, migration 0013).

Lock order of a batch (docs/counter-challenges.md): challenge_members -> challenge_groups
-> challenge_progress -> challenge_winners, each table's keys sorted; challenge_ledger
(which also holds the participations: its tracked lines) is read and written under the
member locks, and challenge_finishers is additive.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_progress.store.schema import metadata

# The engine's `MemberRecord` (opt-in/out and group facts, unlock instants). A NULL state
# is a lock placeholder: every batch locks its members here first (upsert RETURNING),
# which also serialises the member's ledger (participations) and member-scope progress rows.
challenge_members = Table(
    "challenge_members",
    metadata,
    Column("club", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("state", JSONB),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("club", "member_id"),
)

# The engine's `GroupRecord` (the roster). Locked second; it serialises group progress rows.
challenge_groups = Table(
    "challenge_groups",
    metadata,
    Column("club", Text, nullable=False),
    Column("group_code", Text, nullable=False),
    Column("state", JSONB),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("club", "group_code"),
)

# The engine's `Progress` of a member or a group in one occurrence. The key leads with the
# subject, so the batch's selectors and the read side's lists are index range scans.
challenge_progress = Table(
    "challenge_progress",
    metadata,
    Column("club", Text, nullable=False),
    Column("subject_kind", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("occurrence", Integer, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Column("winner", Boolean),
    Column("expired_at", DateTime(timezone=True)),
    Column("has_progress", Boolean, nullable=False, server_default=text("false")),
    Column("progress", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("club", "subject_kind", "subject_id", "code", "occurrence"),
)
# The expiry scheduler's candidates: ended, unfinished, not yet expired, with progress.
Index(
    "challenge_progress_due",
    challenge_progress.c.ends_at,
    postgresql_where=text("completed_at IS NULL AND expired_at IS NULL AND has_progress"),
)

# The contributions ledger (docs/counter-challenges.md, "The contributions ledger"): one line
# per (event, challenge) for the member, with
# why it counted or not. `occurrence` and its bounds are NULL for events just outside the
# window. An event falls in one occurrence of a challenge, so the event id identifies the
# line. The `tracked` lines of an occurrence are the engine's `Participation` (migration
# 0009): the entries the member's counters are computed from; the others are notes.
challenge_ledger = Table(
    "challenge_ledger",
    metadata,
    Column("club", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("occurrence", Integer),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("counted", Boolean, nullable=False),
    Column("entry", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("starts_at", DateTime(timezone=True)),
    Column("ends_at", DateTime(timezone=True)),
    Column("tracked", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("club", "member_id", "code", "event_id"),
)

# Winners of limited challenge occurrences: the row is locked (upsert RETURNING) before the
# engine decides, so exactly the first `max_winners` completers win across replicas.
challenge_winners = Table(
    "challenge_winners",
    metadata,
    Column("club", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("occurrence", Integer, nullable=False),
    Column("winners", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("club", "code", "occurrence"),
)

# `PeopleFinished` per occurrence: additive upserts into one of a few shards per
# occurrence (picked at random by each batch), summed on read, so batches completing the
# same challenge do not queue on one row lock (migration 0007).
challenge_finishers = Table(
    "challenge_finishers",
    metadata,
    Column("club", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("occurrence", Integer, nullable=False),
    Column("shard", SmallInteger, nullable=False, server_default=text("0")),
    Column("people_finished", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("club", "code", "occurrence", "shard"),
)
