"""Every table the migrations create, on one `MetaData`: importing a feature's table module
registers its tables. Alembic's comparison test and `env.py` import this module."""

from __future__ import annotations

import loyalty_progress.store.attendance_tables
import loyalty_progress.store.challenge_tables
from loyalty_progress.store.schema import metadata

__all__ = ["metadata"]
