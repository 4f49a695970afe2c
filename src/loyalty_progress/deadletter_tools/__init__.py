"""`loyalty-progress deadletter`: list, show, requeue and purge the entries of
`<prefix>.deadletter` (see docs/runbook.md, "Dead letters")."""

from loyalty_progress.deadletter_tools.command import register

__all__ = ["register"]
