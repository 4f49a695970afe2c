"""Counter challenges: member and group records, participations, progress, ledger,
winners of limited occurrences, people finished.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Engine rows as JSONB; a NULL state is a lock placeholder (the batch locks members and
    # groups with an upsert, which also works for rows that do not exist yet).
    op.execute(
        """
        CREATE TABLE challenge_members (
            club text NOT NULL,
            member_id text NOT NULL,
            state jsonb,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (club, member_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE challenge_groups (
            club text NOT NULL,
            group_code text NOT NULL,
            state jsonb,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (club, group_code)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE challenge_participations (
            club text NOT NULL,
            member_id text NOT NULL,
            code text NOT NULL,
            occurrence integer NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            participation jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (club, member_id, code, occurrence)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE challenge_progress (
            club text NOT NULL,
            subject_kind text NOT NULL,
            subject_id text NOT NULL,
            code text NOT NULL,
            occurrence integer NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            completed_at timestamptz,
            winner boolean,
            expired_at timestamptz,
            has_progress boolean NOT NULL DEFAULT false,
            progress jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (club, subject_kind, subject_id, code, occurrence)
        )
        """
    )
    # The expiry scheduler: `WHERE <this predicate> AND ends_at <= now ... SKIP LOCKED`.
    op.execute(
        "CREATE INDEX challenge_progress_due ON challenge_progress (ends_at) "
        "WHERE completed_at IS NULL AND expired_at IS NULL AND has_progress"
    )
    op.execute(
        """
        CREATE TABLE challenge_ledger (
            club text NOT NULL,
            member_id text NOT NULL,
            code text NOT NULL,
            event_id text NOT NULL,
            occurrence integer,
            occurred_at timestamptz NOT NULL,
            source text NOT NULL,
            reason text NOT NULL,
            counted boolean NOT NULL,
            entry jsonb NOT NULL,
            recorded_at timestamptz NOT NULL,
            PRIMARY KEY (club, member_id, code, event_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE challenge_winners (
            club text NOT NULL,
            code text NOT NULL,
            occurrence integer NOT NULL,
            winners integer NOT NULL DEFAULT 0,
            PRIMARY KEY (club, code, occurrence)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE challenge_finishers (
            club text NOT NULL,
            code text NOT NULL,
            occurrence integer NOT NULL,
            people_finished integer NOT NULL DEFAULT 0,
            PRIMARY KEY (club, code, occurrence)
        )
        """
    )


def downgrade() -> None:
    for table in (
        "challenge_finishers",
        "challenge_winners",
        "challenge_ledger",
        "challenge_progress",
        "challenge_participations",
        "challenge_groups",
        "challenge_members",
    ):
        op.execute(f"DROP TABLE {table}")
