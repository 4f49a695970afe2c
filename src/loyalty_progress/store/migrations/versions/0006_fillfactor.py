"""Room on each page for updated row versions of the tables every batch updates in place,
so those updates can be HOT (no new index entries) and stay on their page.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Tables whose rows are rewritten by later batches: a receipt at each status, a member's
# day totals and gauges at each event.
UPDATED_IN_PLACE = ("receipts", "member_daily_totals", "member_store_days", "member_gauges")
FILLFACTOR = 80


def upgrade() -> None:
    for table in UPDATED_IN_PLACE:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    for table in UPDATED_IN_PLACE:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
