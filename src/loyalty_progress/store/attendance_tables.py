"""Attendance challenge tables (docs/attendance-challenges.md, "Wiring"), registered on the
shared `metadata`.

Migration `0003_attendance` creates exactly these; `tests/integration/test_store.py`
compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_progress.store.schema import metadata

# One row per (club, edition, member): the engine's `AttendanceMembership` (JSONB, msgspec)
# and when the scheduler must next look at it. A NULL membership is a lock placeholder for
# a member whose receipts did not (yet) make them join. `edition_hash` is the edition
# definition `due_at` was computed with: after a definition change the scheduler
# recomputes the rows whose hash differs.
attendance_memberships = Table(
    "attendance_memberships",
    metadata,
    Column("club", Text, nullable=False),
    Column("edition", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("membership", JSONB),
    Column("due_at", DateTime(timezone=True)),
    Column("edition_hash", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("club", "edition", "member_id"),
)
Index(
    "attendance_memberships_due",
    attendance_memberships.c.due_at,
    postgresql_where=attendance_memberships.c.due_at.isnot(None),
)

# One row per member and business date: what each receipt contributes (JSONB list of
# `ReceiptContribution`), with the sums beside it for reporting. Written only under the
# membership row's lock, so it needs no lock of its own.
attendance_days = Table(
    "attendance_days",
    metadata,
    Column("club", Text, nullable=False),
    Column("edition", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("receipts", JSONB, nullable=False),
    Column("approved", Numeric, nullable=False),
    Column("pending", Numeric, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("club", "edition", "member_id", "day"),
)

# The contributions ledger (docs/counter-challenges.md, "The contributions ledger"): every
# receipt event routed to an
# edition, whether it counted (signed deltas) or not (and why). Append-only.
attendance_contributions = Table(
    "attendance_contributions",
    metadata,
    Column("club", Text, nullable=False),
    Column("edition", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("receipt_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("day", Date),
    Column("stage", Text),
    Column("approved_delta", Numeric, nullable=False),
    Column("pending_delta", Numeric, nullable=False),
    Column("counted", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("club", "edition", "event_id"),
)
Index(
    "attendance_contributions_member",
    attendance_contributions.c.club,
    attendance_contributions.c.edition,
    attendance_contributions.c.member_id,
)
