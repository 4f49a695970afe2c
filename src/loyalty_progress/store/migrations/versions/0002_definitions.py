"""Versioned definitions (challenges, attendance editions).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every applied change is a new version; the newest version of a definition is the
    # one in force. `body` is the validated definition as JSON.
    op.execute(
        """
        CREATE TABLE definitions (
            kind text NOT NULL,
            club text NOT NULL,
            code text NOT NULL,
            version integer NOT NULL,
            body jsonb NOT NULL,
            checksum text NOT NULL,
            source text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (kind, club, code, version)
        )
        """
    )
    # One global counter bumped by every apply: replicas poll it to notice changes cheaply.
    op.execute("CREATE SEQUENCE definitions_revision")


def downgrade() -> None:
    op.execute("DROP SEQUENCE definitions_revision")
    op.execute("DROP TABLE definitions")
