"""Publishing without rewriting the outbox row: the ids of unpublished rows get a table of
their own, `outbox_pending`, and `published_at` goes.

Marking a row published used to set `published_at`, a column two partial indexes
depended on, so every publish wrote a whole new version of the row (payload included) and
three index entries. Now the row is written once; its id is inserted into
`outbox_pending` in the same statement and deleted by the publish that claims it. The
retention prune walks `created_at` instead of `published_at` and skips pending rows.
(docs/scaling.md, "Publishing without rewriting the outbox row".)

On a large outbox, create `outbox_created_at` with `CREATE INDEX CONCURRENTLY` before
upgrading (docs/runbook.md): this migration then finds it and skips it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE outbox_pending (id bigint PRIMARY KEY)")
    op.execute(
        "INSERT INTO outbox_pending (id) "
        "SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id"
    )
    op.execute("CREATE INDEX IF NOT EXISTS outbox_created_at ON outbox (created_at)")
    op.execute("DROP INDEX outbox_published")
    op.execute("DROP INDEX outbox_unpublished")
    op.execute("ALTER TABLE outbox DROP COLUMN published_at")


def downgrade() -> None:
    op.execute("ALTER TABLE outbox ADD COLUMN published_at timestamptz")
    # The instant of publishing is not kept any more; creation is the closest known.
    op.execute(
        "UPDATE outbox AS o SET published_at = o.created_at "
        "WHERE NOT EXISTS (SELECT 1 FROM outbox_pending AS p WHERE p.id = o.id)"
    )
    op.execute("CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL")
    op.execute(
        "CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL"
    )
    op.execute("DROP INDEX outbox_created_at")
    op.execute("DROP TABLE outbox_pending")
