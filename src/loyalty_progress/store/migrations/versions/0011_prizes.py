"""Prizes: every reward issuance the product published, and whether the member claimed it
(docs/prizes.md). The rewards system tells us about a claim with a `prize_claimed` member
event naming the issuance's `reward_id`; the member-app list then stops listing the prize
and the member's prize history lists it.

Issuances still in the outbox are copied in, so that a claim of a prize issued before
this migration is recognised (older ones, pruned from the outbox, are not known).

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE prizes (
            club text NOT NULL,
            reward_id text NOT NULL,
            member_id text NOT NULL,
            prize jsonb NOT NULL,
            reason text NOT NULL,
            issued_at timestamptz NOT NULL,
            expires_at timestamptz,
            claimed_at timestamptz,
            claim_event_id text,
            PRIMARY KEY (club, reward_id)
        )
        """
    )
    op.execute("CREATE INDEX prizes_member ON prizes (club, member_id)")
    op.execute(
        """
        INSERT INTO prizes (club, reward_id, member_id, prize, reason, issued_at, expires_at)
        SELECT r->>'club', r->>'reward_id', r->>'member_id', r->'prize', r->>'reason',
               CAST(r->>'created_at' AS timestamptz), CAST(r->>'expires_at' AS timestamptz)
        FROM (
            SELECT CAST(convert_from(payload, 'UTF8') AS jsonb) AS r
            FROM outbox WHERE stream = 'rewards'
        ) AS issued
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE prizes")
