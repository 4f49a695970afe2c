"""Participations are stored as the ledger's lines, not as a second copy of them.

Every entry of a member's participation was written twice per batch: as its ledger line,
and inside the participation row, which was rewritten whole (every earlier entry of the
occurrence again) each time the member had a new event. The ledger now marks the lines
that make up a participation (`tracked`) and carries their occurrence's bounds, and a
batch loads a participation by reading those lines. Upgrading marks the lines from the
participation rows (an exact copy of what was there), then drops the table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE challenge_ledger
            ADD COLUMN starts_at timestamptz,
            ADD COLUMN ends_at timestamptz,
            ADD COLUMN tracked boolean NOT NULL DEFAULT false
        """
    )
    # The bounds of every line inside an occurrence, and which lines are a participation's
    # entries (the participation's copy of a line equals the line: both were written from
    # the same entry in the same batch).
    op.execute(
        """
        UPDATE challenge_ledger AS l
        SET starts_at = p.starts_at, ends_at = p.ends_at,
            tracked = p.participation -> 'entries' ? l.event_id
        FROM challenge_participations AS p
        WHERE p.club = l.club AND p.member_id = l.member_id AND p.code = l.code
          AND p.occurrence = l.occurrence
        """
    )
    op.execute(
        """
        UPDATE challenge_ledger AS l
        SET starts_at = p.starts_at, ends_at = p.ends_at
        FROM challenge_progress AS p
        WHERE l.ends_at IS NULL AND l.occurrence IS NOT NULL
          AND p.club = l.club AND p.subject_kind = 'member' AND p.subject_id = l.member_id
          AND p.code = l.code AND p.occurrence = l.occurrence
        """
    )
    op.execute("DROP TABLE challenge_participations")


def downgrade() -> None:
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
        INSERT INTO challenge_participations
            (club, member_id, code, occurrence, starts_at, ends_at, participation)
        SELECT club, member_id, code, occurrence, min(starts_at), min(ends_at),
               jsonb_build_object(
                   'club', club, 'code', code, 'occurrence', occurrence,
                   'starts_at', min(starts_at), 'ends_at', min(ends_at),
                   'member_id', member_id, 'entries', jsonb_object_agg(event_id, entry))
        FROM challenge_ledger WHERE tracked
        GROUP BY club, member_id, code, occurrence
        """
    )
    op.execute(
        """
        ALTER TABLE challenge_ledger
            DROP COLUMN starts_at, DROP COLUMN ends_at, DROP COLUMN tracked
        """
    )
