"""Telling a passing outage (retry with backoff) from a failure of the work itself."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import asyncpg
import redis.exceptions
import sqlalchemy.exc

log = logging.getLogger(__name__)
T = TypeVar("T")

# Outages: connection loss, server shutting down or starting, too many connections.
_OUTAGE_SQLSTATES: Final = ("08", "57P01", "57P02", "57P03", "53300")
# Contention: the server is up but another session (or the server's load) was in the way.
# A retry resolves it, and it says nothing about the input, so it never splits a batch:
# - 40001 serialization failure, 40P01 deadlock;
# - 55P03 lock_timeout: another session holds rows this batch needs (a frozen or
#   partitioned replica, until the server ends that session); the retry starts over with
#   this batch's own locks released, so waiters behind it do not pile up;
# - 25P03 idle_in_transaction_session_timeout: this process stalled mid-transaction (it
#   was frozen) and the server ended its session; the batch runs again on a fresh
#   connection, and the event-id dedupe drops whatever another replica applied meanwhile;
# - 57014 statement_timeout (or an operator's pg_cancel_backend): a normal-sized batch
#   took many times longer than it ever should, i.e. the server is overloaded. Splitting
#   would multiply the statements (up to twice the batch size, each waiting out the
#   timeout again), so it is waited out like an outage instead.
_CONTENTION_SQLSTATES: Final = ("40001", "40P01", "55P03", "25P03", "57014")
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


def _sqlstate(link: BaseException) -> str | None:
    sqlstate = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
    return sqlstate if isinstance(sqlstate, str) else None


def is_outage(exc: BaseException) -> bool:
    """PostgreSQL or Redis unreachable, shutting down or refusing connections."""
    for link in _chain(exc):
        if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
            return True
        if isinstance(link, _TRANSIENT_TYPES):
            return True
        sqlstate = _sqlstate(link)
        if sqlstate is not None and sqlstate.startswith(_OUTAGE_SQLSTATES):
            return True
    return False


def is_contention(exc: BaseException) -> bool:
    """The server is up but the work met other sessions or a timeout (see above)."""
    return any(_sqlstate(link) in _CONTENTION_SQLSTATES for link in _chain(exc))


def is_transient(exc: BaseException) -> bool:
    """Worth retrying in place: an outage or contention, not a failure of the work."""
    return is_outage(exc) or is_contention(exc)


class ShuttingDown(Exception):
    """Raised instead of retrying further when the process is asked to stop."""


class Backoff:
    """Exponential backoff (doubling from `first` up to `cap`) with jitter: each wait is
    drawn from [delay / 2, delay], so replicas that met the same outage at the same
    moment do not all come back to the recovering server at the same instant."""

    def __init__(
        self, first: float = 0.1, cap: float = 5.0, rng: random.Random | None = None
    ) -> None:
        self.first, self.cap, self.delay = first, cap, first
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self.delay = self.first

    def next_wait(self) -> float:
        """The next wait, in seconds; advances the schedule."""
        wait = self.delay * self._rng.uniform(0.5, 1.0)
        self.delay = min(self.cap, self.delay * 2)
        return wait

    async def wait(self, stopping: asyncio.Event) -> None:
        await sleep_unless_stopping(self.next_wait(), stopping)


async def sleep_unless_stopping(seconds: float, stopping: asyncio.Event) -> None:
    """Sleep, or raise `ShuttingDown` as soon as `stopping` is set."""
    if stopping.is_set():
        raise ShuttingDown
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        return
    raise ShuttingDown


async def retry_transient(
    action: Callable[[], Awaitable[T]],
    stopping: asyncio.Event,
    on_failure: Callable[[BaseException], None],
    on_success: Callable[[], None],
    what: str,
) -> T:
    """Run `action` until it succeeds; wait with backoff on outages and contention
    (`on_failure` is told of outages only), re-raise anything else.

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
            wait = backoff.next_wait()
            if is_outage(exc):
                # Only an outage makes the dependency "down" (readiness, claimer pause).
                on_failure(exc)
                log.warning("%s: dependency unavailable, retrying in %.1fs: %s", what, wait, exc)
            else:
                log.warning("%s: contention, retrying in %.1fs: %s", what, wait, exc)
            await sleep_unless_stopping(wait, stopping)
            continue
        on_success()
        return result
