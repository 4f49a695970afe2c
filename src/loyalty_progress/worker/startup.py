"""Start-up steps that wait out an outage and give way to a stop request at once.

Each step that talks to PostgreSQL or Redis is retried with backoff while its dependency
is unreachable, and `/readyz` says which step waits and on what. Unlike a batch (whose
attempt always finishes, see `retry_transient`), a start-up attempt holds nothing worth
finishing: SIGTERM cancels it mid-attempt (a connect to an address that never answers
included), so `run` ends within moments in every phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from loyalty_progress.observability.health import Health
from loyalty_progress.worker.retry import ShuttingDown, retry_transient

log = logging.getLogger(__name__)
T = TypeVar("T")


async def unless_stopped(action: Callable[[], Awaitable[T]], stopping: asyncio.Event) -> T:
    """Run `action`; cancel it and raise `ShuttingDown` if `stopping` is set meanwhile."""
    if stopping.is_set():
        raise ShuttingDown
    work = asyncio.ensure_future(action())
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
    if work.cancelled():
        raise ShuttingDown
    return work.result()


async def start_step(
    action: Callable[[], Awaitable[T]],
    stopping: asyncio.Event,
    health: Health,
    what: str,
    dependency: str,
    mark_down: Callable[[BaseException], None],
) -> T:
    """One start-up step: retried through outages of `dependency`, interrupted by a stop."""
    health.starting = what

    def waiting(exc: BaseException) -> None:
        mark_down(exc)
        health.starting = f"{what}: waiting for {dependency} ({type(exc).__name__}: {exc})"

    return await retry_transient(
        lambda: unless_stopped(action, stopping), stopping, waiting, lambda: None, what
    )
