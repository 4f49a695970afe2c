"""Ending the sessions of frozen replicas that PostgreSQL's own timeouts cannot reach.

PostgreSQL ends a session left idle inside a transaction (`idle_in_transaction_session_
timeout`). But a replica frozen (SIGSTOP, a paused VM) or cut off *while sending a
statement* leaves its session active and waiting for the rest of the message (wait event
`ClientRead`; `ClientWrite` when it stopped reading a result): no statement, lock or idle
timeout fires there, and the session keeps its row locks until the client comes back or
the kernel gives up on the connection, hours later for a frozen process whose kernel
still answers. So every replica looks, each second, for worker sessions stuck like that
inside a transaction for longer than `LOYALTY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS`, and
ends them (`pg_terminate_backend`; the worker's role may end its own sessions). Their
transactions roll back; a frozen replica finds its connection gone when it resumes and
runs the batch again, then a batch of duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.worker.retry import is_transient

log = logging.getLogger(__name__)

# The worker's sessions carry this `application_name` prefix (see `worker.app`).
SESSION_PREFIX: Final = "loyalty-progress worker "
CHECK_INTERVAL_S: Final = 1.0

_END_STALLED = text(
    """
    SELECT pid, application_name, pg_terminate_backend(pid)
    FROM pg_stat_activity
    WHERE datname = current_database()
      AND pid <> pg_backend_pid()
      AND starts_with(application_name, :prefix)
      AND xact_start IS NOT NULL
      AND state = 'active'
      AND wait_event_type = 'Client' AND wait_event IN ('ClientRead', 'ClientWrite')
      AND state_change < now() - make_interval(secs => :seconds)
    """
)


async def end_stalled_sessions(engine: AsyncEngine, stalled_ms: int) -> list[tuple[int, str]]:
    """End every worker session stalled on its client inside a transaction for longer than
    `stalled_ms`; returns (pid, application_name) of those ended."""
    async with engine.connect() as conn:
        result = await conn.execute(
            _END_STALLED, {"prefix": SESSION_PREFIX, "seconds": stalled_ms / 1000}
        )
        return [(int(pid), str(name)) for pid, name, ended in result if ended]


async def run_stalled_session_check(
    engine: AsyncEngine, stalled_ms: int, stopping: asyncio.Event
) -> None:
    if stalled_ms <= 0:
        return  # the idle-in-transaction bound is off, and so is this one
    refused = False
    while not stopping.is_set():
        try:
            for pid, name in await end_stalled_sessions(engine, stalled_ms):
                log.error(
                    "ended PostgreSQL session %d (%s): stalled mid-statement inside a "
                    "transaction for over %d ms, its process frozen or cut off",
                    pid,
                    name,
                    stalled_ms,
                )
        except Exception as exc:
            if not is_transient(exc) and not refused:
                refused = True  # e.g. a role not allowed to end the others' sessions
                log.warning("cannot end stalled sessions of other replicas: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=CHECK_INTERVAL_S)
