"""The prizes' share of the schema (migration `0011_prizes` creates exactly this): one row
per reward issuance published on `loyalty.rewards`, written with its outbox row, and the
claim the rewards system reported for it (docs/prizes.md)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, PrimaryKeyConstraint, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_progress.store.schema import metadata

prizes = Table(
    "prizes",
    metadata,
    Column("club", Text, nullable=False),
    Column("reward_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("prize", JSONB, nullable=False),
    Column("reason", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("claim_event_id", Text),
    PrimaryKeyConstraint("club", "reward_id"),
)
Index("prizes_member", prizes.c.club, prizes.c.member_id)
