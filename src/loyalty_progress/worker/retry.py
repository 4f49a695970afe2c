"""Telling a passing outage (retry with backoff) from a failure of the work itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import asyncpg
import redis.exceptions
import sqlalchemy.exc

log = logging.getLogger(__name__)
T = TypeVar("T")

# Connection loss, server shutting down or starting, too many connections, and the two
# concurrency aborts that a retry resolves (serialization failure, deadlock).
_TRANSIENT_SQLSTATES: Final = ("08", "40001", "40P01", "57P01", "57P02", "57P03", "53300")
_TRANSIENT_TYPES: Final = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend((current.__cause__, current.__context__, getattr(current, "orig", None)))
    return seen


def is_transient(exc: BaseException) -> bool:
    for link in _chain(exc):
        if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
            return True
        if isinstance(link, _TRANSIENT_TYPES):
            return True
        sqlstate = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return True
    return False


class ShuttingDown(Exception):
    """Raised instead of retrying further when the process is asked to stop."""


class Backoff:
    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap, self.delay = first, cap, first

    def reset(self) -> None:
        self.delay = self.first

    async def wait(self, stopping: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(stopping.wait(), timeout=self.delay)
        except TimeoutError:
            self.delay = min(self.cap, self.delay * 2)
            return
        raise ShuttingDown


async def retry_transient(
    action: Callable[[], Awaitable[T]],
    stopping: asyncio.Event,
    on_failure: Callable[[BaseException], None],
    on_success: Callable[[], None],
    what: str,
) -> T:
    """Run `action` until it succeeds; wait with backoff on outages, re-raise anything else.

    A stop request ends only the *waiting* (`ShuttingDown` from the backoff): an attempt is
    always made, so a batch in hand when SIGTERM arrives still commits and acks instead of
    being left committed-but-pending."""
    backoff = Backoff()
    while True:
        try:
            result = await action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            on_failure(exc)
            log.warning(
                "%s: dependency unavailable, retrying in %.1fs: %s", what, backoff.delay, exc
            )
            await backoff.wait(stopping)
            continue
        on_success()
        return result
