"""Table metadata (SQLAlchemy Core). Migrations in `migrations/` create exactly this."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# Idempotency: one row per consumed event, written in the same transaction as its effects.
# The raw body is kept so progress can be recomputed from the events after a definition fix.
processed_events = Table(
    "processed_events",
    metadata,
    Column("stream", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("club", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("stream", "event_id"),
)
Index("processed_events_member", processed_events.c.club, processed_events.c.member_id)

# Receipt lifecycle: one state per receipt; the fields are those of the event that set it.
receipts = Table(
    "receipts",
    metadata,
    Column("club", Text, nullable=False),
    Column("receipt_id", Text, nullable=False),
    Column("member_id", Text),
    Column("status", Text),
    Column("amount", Numeric),
    Column("store_id", Text),
    Column("items", ARRAY(Text)),
    Column("occurred_at", DateTime(timezone=True)),
    Column("event_id", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("club", "receipt_id"),
)

# Per-member totals in UTC day windows; additive columns only.
member_daily_totals = Table(
    "member_daily_totals",
    metadata,
    Column("club", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("points_earned", BigInteger, nullable=False, server_default=text("0")),
    Column("points_redeemed", BigInteger, nullable=False, server_default=text("0")),
    Column("points_expired", BigInteger, nullable=False, server_default=text("0")),
    Column("points_adjusted", BigInteger, nullable=False, server_default=text("0")),
    Column("receipts_approved", Integer, nullable=False, server_default=text("0")),
    Column("receipt_value", Numeric, nullable=False, server_default=text("0")),
    Column("receipts_pending", Integer, nullable=False, server_default=text("0")),
    Column("pending_value", Numeric, nullable=False, server_default=text("0")),
    Column("vouchers_subscribed", Integer, nullable=False, server_default=text("0")),
    Column("vouchers_redeemed", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("club", "member_id", "day"),
)

# Approved receipts per store and day: distinct stores in a window = stores with count > 0.
member_store_days = Table(
    "member_store_days",
    metadata,
    Column("club", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("receipts_approved", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("club", "member_id", "day", "store_id"),
)

# Gauges: the value of the latest event by occurred_at (event id breaks ties).
member_gauges = Table(
    "member_gauges",
    metadata,
    Column("club", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("balance", BigInteger),
    Column("balance_at", DateTime(timezone=True)),
    Column("balance_event", Text),
    Column("tier", Integer),
    Column("tier_at", DateTime(timezone=True)),
    Column("tier_event", Text),
    PrimaryKeyConstraint("club", "member_id"),
)

# Versioned definitions: the newest version of (kind, club, code) is in force.
definitions = Table(
    "definitions",
    metadata,
    Column("kind", Text, nullable=False),
    Column("club", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", JSONB, nullable=False),
    Column("checksum", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("kind", "club", "code", "version"),
)
definitions_revision = Sequence("definitions_revision", metadata=metadata)

# Transactional outbox: written with the progress change that caused it, published after.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("message_id", Text, nullable=False, unique=True),
    Column("stream", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# The ids of the rows not yet published: inserted with them, deleted by the publish that
# claims them. An outbox row is never updated, so publishing writes no new version of it.
outbox_pending = Table(
    "outbox_pending",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
)
