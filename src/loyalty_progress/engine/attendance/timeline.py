"""The former name of `engine.attendance.time_facts`, kept only until
`engine.attendance.apply` imports `next_due_at` and `settle` from there."""

from loyalty_progress.engine.attendance.time_facts import next_due_at, settle

__all__ = ["next_due_at", "settle"]
