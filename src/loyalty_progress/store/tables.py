"""Every table the migrations create, on one `MetaData`: importing a feature's table module
registers its tables. Alembic's comparison test and `env.py` import this module."""

from __future__ import annotations

from loyalty_progress.store import (
    attendance_tables,
    challenge_tables,
    prize_tables,
    replay_jobs,
    retention_tables,
)
from loyalty_progress.store.schema import metadata

# Imported for their side effect: each module defines its tables on `metadata`.
FEATURE_TABLE_MODULES = (
    attendance_tables,
    challenge_tables,
    prize_tables,
    replay_jobs,
    retention_tables,
)

__all__ = ["FEATURE_TABLE_MODULES", "metadata"]
