"""Challenge rows' JSON no longer repeats their columns: a progress row's JSON leaves out
its club, code, occurrence and subject, a ledger line's entry its event id, source and
reason (`store.challenge_bodies`; docs/counter-challenges.md, "Storage and the batch
pipeline"). The store rebuilds the engine's rows from both.

The upgrade rewrites nothing: rows written before decode the same (the keys they repeat
are ignored) and lose the repeated keys when they are next written. The downgrade puts
the keys back into every row, from the columns, because earlier releases read the JSON
alone.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # the layout of the JSON changes, not the schema: see the module docstring


def downgrade() -> None:
    op.execute(
        """
        UPDATE challenge_progress SET progress = progress || jsonb_build_object(
            'club', club, 'code', code, 'occurrence', occurrence,
            'subject_kind', subject_kind, 'subject_id', subject_id)
        """
    )
    op.execute(
        """
        UPDATE challenge_ledger SET entry = entry || jsonb_build_object(
            'event_id', event_id, 'source', source, 'reason', reason)
        """
    )
