"""Backbone: processed events, receipts, member totals and gauges, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE processed_events (
            stream text NOT NULL,
            event_id text NOT NULL,
            club text NOT NULL,
            member_id text NOT NULL,
            occurred_at timestamptz NOT NULL,
            body bytea NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (stream, event_id)
        )
        """
    )
    op.execute("CREATE INDEX processed_events_member ON processed_events (club, member_id)")
    op.execute(
        """
        CREATE TABLE receipts (
            club text NOT NULL,
            receipt_id text NOT NULL,
            member_id text,
            status text,
            amount numeric,
            store_id text,
            items text[],
            occurred_at timestamptz,
            event_id text,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (club, receipt_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE member_daily_totals (
            club text NOT NULL,
            member_id text NOT NULL,
            day date NOT NULL,
            points_earned bigint NOT NULL DEFAULT 0,
            points_redeemed bigint NOT NULL DEFAULT 0,
            points_expired bigint NOT NULL DEFAULT 0,
            points_adjusted bigint NOT NULL DEFAULT 0,
            receipts_approved integer NOT NULL DEFAULT 0,
            receipt_value numeric NOT NULL DEFAULT 0,
            receipts_pending integer NOT NULL DEFAULT 0,
            pending_value numeric NOT NULL DEFAULT 0,
            vouchers_subscribed integer NOT NULL DEFAULT 0,
            vouchers_redeemed integer NOT NULL DEFAULT 0,
            PRIMARY KEY (club, member_id, day)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE member_store_days (
            club text NOT NULL,
            member_id text NOT NULL,
            day date NOT NULL,
            store_id text NOT NULL,
            receipts_approved integer NOT NULL DEFAULT 0,
            PRIMARY KEY (club, member_id, day, store_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE member_gauges (
            club text NOT NULL,
            member_id text NOT NULL,
            balance bigint,
            balance_at timestamptz,
            balance_event text,
            tier integer,
            tier_at timestamptz,
            tier_event text,
            PRIMARY KEY (club, member_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            message_id text NOT NULL UNIQUE,
            stream text NOT NULL,
            payload bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL")


def downgrade() -> None:
    for table in (
        "outbox",
        "member_gauges",
        "member_store_days",
        "member_daily_totals",
        "receipts",
        "processed_events",
    ):
        op.execute(f"DROP TABLE {table}")
