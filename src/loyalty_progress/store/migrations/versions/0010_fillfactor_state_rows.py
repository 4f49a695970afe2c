"""Room on each page for updated row versions of the challenge and attendance state rows,
as 0006 gave the backbone's tables: a member's challenge record (locked by an upsert in
every batch of theirs), progress rows and attendance memberships are rewritten by later
batches, and with free space on their page those updates can be HOT (no new index
entries, no page split). New pages get it at once; existing pages as they are rewritten.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPDATED_IN_PLACE = (
    "challenge_members",
    "challenge_groups",
    "challenge_progress",
    "attendance_memberships",
    "attendance_days",
)
FILLFACTOR = 80


def upgrade() -> None:
    for table in UPDATED_IN_PLACE:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    for table in UPDATED_IN_PLACE:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
