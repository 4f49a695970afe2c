"""Retention: indexes for pruning processed events and published outbox rows oldest
first, and the marks of how far each has been pruned.

`IF NOT EXISTS`: on a large database, build the two indexes beforehand with
`CREATE INDEX CONCURRENTLY` (docs/runbook.md, "Retention"), and this migration only
records them instead of blocking writes while it builds them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE retention_marks (
            table_name text NOT NULL,
            club text NOT NULL,
            stream text NOT NULL,
            pruned_through timestamptz NOT NULL,
            PRIMARY KEY (table_name, club, stream)
        )
        """
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS processed_events_processed_at "
        "ON processed_events (processed_at)"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS outbox_published ON outbox (published_at) "
        "WHERE published_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX outbox_published")
    op.execute("DROP INDEX processed_events_processed_at")
    op.execute("DROP TABLE retention_marks")
