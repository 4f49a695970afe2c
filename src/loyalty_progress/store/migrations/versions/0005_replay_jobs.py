"""Replay jobs and their bulks (an import-style status report); merges the attendance and
counter-challenge heads.

Revision ID: 0005
Revises: 0003, 0004
Create Date: 2026-11-25
"""

from alembic import op

revision = "0005"
down_revision = ("0003", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE replay_jobs (
            id bigserial PRIMARY KEY,
            source text NOT NULL,
            bulk_size integer NOT NULL,
            status text NOT NULL,
            events_in_payload_number bigint NOT NULL DEFAULT 0,
            events_applied_number bigint NOT NULL DEFAULT 0,
            events_duplicate_number bigint NOT NULL DEFAULT 0,
            events_with_validation_errors_number bigint NOT NULL DEFAULT 0,
            events_failed_number bigint NOT NULL DEFAULT 0,
            errors jsonb NOT NULL DEFAULT '[]'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE replay_bulks (
            id bigserial PRIMARY KEY,
            job_id bigint NOT NULL REFERENCES replay_jobs (id) ON DELETE CASCADE,
            request_number integer NOT NULL,
            status text NOT NULL,
            size integer NOT NULL DEFAULT 0,
            applied integer NOT NULL DEFAULT 0,
            duplicates integer NOT NULL DEFAULT 0,
            invalid integer NOT NULL DEFAULT 0,
            failed integer NOT NULL DEFAULT 0,
            started_at timestamptz,
            finished_at timestamptz,
            CONSTRAINT replay_bulks_job_request UNIQUE (job_id, request_number)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE replay_bulks")
    op.execute("DROP TABLE replay_jobs")
