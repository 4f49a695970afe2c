"""`replay recompute`: rebuild one challenge's or one edition's progress from the events
stored in `processed_events`, under the definitions now in force (after a definition fix).

How (one REPEATABLE READ transaction, retried when a live batch got in the way):

1. read the club's processed events in processing order (the batch each was committed in,
   then time order; a receipt's statuses in lifecycle order) and decode the stored bodies
   (`stored_events`);
2. run the receipt lifecycle again from nothing, which gives the receipt transitions the
   engines take (receipts, totals and the receipts table are not touched: they do not
   depend on definitions) (`stored_events`);
3. run the engine on a blank slate for just this challenge (`challenge_pass`: member facts
   and group rosters rebuilt from the member events; other challenges' unlock instants as
   stored) or, for an edition (`edition_pass`), each member's transitions as of the
   instant their batch originally processed them (the edition's ledger keeps that
   instant; events the edition never saw use the job's `now`);
4. lock the rows in the worker's lock order, merge with what is stored (`merge`: what was
   reached and published stands), replace the rows, and write the fresh notifications and
   rewards to the outbox, where the deterministic ids drop every one already issued;
5. report the members (or groups) whose summary changed, before and after (here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.engine.challenges import Catalog
from loyalty_progress.replay.challenge_pass import challenge_pass
from loyalty_progress.replay.edition_pass import edition_pass, replay_member
from loyalty_progress.replay.pass_result import PassResult, RecomputeError
from loyalty_progress.replay.stored_events import decode_stored, lifecycle
from loyalty_progress.store.replay_jobs import iso
from loyalty_progress.worker.relay import OutboxRelay
from loyalty_progress.worker.retry import is_transient

log = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 8
# A unique violation means a live batch created a row this snapshot could not see: retry.
_RETRY_SQLSTATES: Final = ("23505",)
T = TypeVar("T")

# The pass record's name before the split, which tests/unit/test_replay_merge.py imports.
_Pass = PassResult


def _retryable(exc: BaseException) -> bool:
    if is_transient(exc):  # serialization failures and deadlocks included
        return True
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
    return isinstance(sqlstate, str) and sqlstate in _RETRY_SQLSTATES


async def _in_snapshot(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in one REPEATABLE READ transaction, again while a live batch interferes."""
    snapshot = engine.execution_options(isolation_level="REPEATABLE READ")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with snapshot.begin() as conn:
                return await work(conn)
        except Exception as exc:
            if attempt == MAX_ATTEMPTS or not _retryable(exc):
                raise
            log.warning("recompute attempt %d interrupted, retrying: %s", attempt, exc)
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
    raise AssertionError("unreachable")


def _find(
    found: Sequence[ChallengeDefinition] | Sequence[AttendanceEdition],
    kind: str,
    code: str,
    club: str | None,
) -> Any:
    matches = [d for d in found if d.code == code and (club is None or d.club == club)]
    if not matches:
        where = f" in club {club}" if club else ""
        raise RecomputeError(f"no {kind} `{code}`{where} among the definitions in force")
    if len(matches) > 1:
        clubs = ", ".join(sorted(d.club for d in matches))
        raise RecomputeError(f"{kind} `{code}` exists in several clubs ({clubs}): pass --club")
    return matches[0]


class Recompute:
    """Recompute jobs against one database (and Redis, to publish what they issue)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        redis: Redis | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock or Clock(settings.now)
        self._relay = OutboxRelay(engine, redis, settings) if redis is not None else None

    async def _definitions(self) -> DefinitionSet:
        cache = DefinitionsCache(self._engine)
        await cache.refresh()
        return cache.current

    async def challenge(self, code: str, club: str | None = None) -> dict[str, Any]:
        definitions = await self._definitions()
        definition: ChallengeDefinition = _find(definitions.challenges, "challenge", code, club)
        children = sorted(
            d.code
            for d in Catalog(definitions.challenges).descendants(definition.club, definition.code)
        )
        now = self._clock.now()
        done = await _in_snapshot(
            self._engine, lambda conn: challenge_pass(conn, definition, children, now)
        )
        return await self._finish(done, {"challenge": code, "club": definition.club}, now)

    async def edition(self, code: str, club: str | None = None) -> dict[str, Any]:
        definitions = await self._definitions()
        edition: AttendanceEdition = _find(definitions.editions, "edition", code, club)
        now = self._clock.now()
        done = await _in_snapshot(self._engine, lambda conn: edition_pass(conn, edition, now))
        return await self._finish(done, {"edition": code, "club": edition.club}, now)

    async def _finish(
        self, done: PassResult, what: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        published = 0
        if self._relay is not None and done.outbox_ids:
            try:
                published = await self._relay.publish(done.outbox_ids)
            except Exception as exc:
                # Committed rows: the workers' outbox sweep publishes them later.
                log.warning("recompute outbox publish deferred to the sweep: %s", exc)
        report: dict[str, Any] = {
            **what,
            "as_of": iso(now),
            "events_read_number": done.events,
            "events_undecodable": done.undecodable,
            "changed_number": len(done.changes),
            "changed": done.changes,
            "messages_computed_number": done.messages,
            "messages_issued_number": len(done.outbox_ids),
            "messages_already_issued_number": done.messages - len(done.outbox_ids),
            "messages_published_number": published,
            **done.extra,
        }
        log.info(
            "recompute of %s done: %d changed, %d messages issued",
            what,
            len(done.changes),
            len(done.outbox_ids),
        )
        return report


__all__ = [
    "PassResult",
    "Recompute",
    "RecomputeError",
    "_Pass",
    "decode_stored",
    "lifecycle",
    "replay_member",
]
