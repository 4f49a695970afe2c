"""`challenge_finishers` in shards summed on read: every batch that completes an occurrence
added to one row per occurrence, and held that row's lock until it committed, so
concurrent batches (lanes, replicas) completing the same challenge ran one after another.
A batch now adds to one of `FINISHER_SHARDS` rows, picked at random; readers sum them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE challenge_finishers ADD COLUMN shard smallint NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE challenge_finishers DROP CONSTRAINT challenge_finishers_pkey")
    op.execute("ALTER TABLE challenge_finishers ADD PRIMARY KEY (club, code, occurrence, shard)")


def downgrade() -> None:
    op.execute(
        """
        CREATE TEMPORARY TABLE finisher_totals ON COMMIT DROP AS
        SELECT club, code, occurrence, sum(people_finished)::integer AS people_finished
        FROM challenge_finishers GROUP BY club, code, occurrence
        """
    )
    op.execute("DELETE FROM challenge_finishers")
    op.execute("ALTER TABLE challenge_finishers DROP CONSTRAINT challenge_finishers_pkey")
    op.execute("ALTER TABLE challenge_finishers DROP COLUMN shard")
    op.execute("ALTER TABLE challenge_finishers ADD PRIMARY KEY (club, code, occurrence)")
    op.execute(
        "INSERT INTO challenge_finishers (club, code, occurrence, people_finished) "
        "SELECT club, code, occurrence, people_finished FROM finisher_totals"
    )
