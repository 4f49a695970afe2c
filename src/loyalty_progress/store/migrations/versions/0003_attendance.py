"""Attendance challenges: memberships (with the scheduler's due_at), days, ledger.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE attendance_memberships (
            club text NOT NULL,
            edition text NOT NULL,
            member_id text NOT NULL,
            membership jsonb,
            due_at timestamptz,
            edition_hash text,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (club, edition, member_id)
        )
        """
    )
    # The scheduler's query: `WHERE due_at <= now ORDER BY due_at ... SKIP LOCKED`.
    op.execute(
        "CREATE INDEX attendance_memberships_due ON attendance_memberships (due_at) "
        "WHERE due_at IS NOT NULL"
    )
    op.execute(
        """
        CREATE TABLE attendance_days (
            club text NOT NULL,
            edition text NOT NULL,
            member_id text NOT NULL,
            day date NOT NULL,
            receipts jsonb NOT NULL,
            approved numeric NOT NULL,
            pending numeric NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (club, edition, member_id, day)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE attendance_contributions (
            club text NOT NULL,
            edition text NOT NULL,
            event_id text NOT NULL,
            member_id text NOT NULL,
            receipt_id text NOT NULL,
            status text NOT NULL,
            day date,
            stage text,
            approved_delta numeric NOT NULL,
            pending_delta numeric NOT NULL,
            counted boolean NOT NULL,
            reason text NOT NULL,
            processed_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (club, edition, event_id)
        )
        """
    )
    op.execute(
        "CREATE INDEX attendance_contributions_member "
        "ON attendance_contributions (club, edition, member_id)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE attendance_contributions")
    op.execute("DROP TABLE attendance_days")
    op.execute("DROP TABLE attendance_memberships")
