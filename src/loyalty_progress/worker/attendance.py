"""Attendance challenges in the pipeline: the batch rule and the scheduler's time rule.

`AttendanceRule` (a `BatchRule`) runs inside the batch transaction after receipts and
totals, in the four steps every rule takes. Only receipt transitions of clubs that have
an edition cost anything; for those:

1. plan (pure, `engine.attendance.plan`): each edition's transitions by member, and the
   day ranges to load;
2. lock + load: the memberships of all (club, edition, member) keys, sorted, in one
   statement (placeholders for new members), then the day rows of every stage the
   transitions touch (a second statement: it must see what the previous holder of a
   membership lock committed);
3. apply (pure): `apply_receipts` per member;
4. save: memberships (+ `due_at`), days and the ledger in one statement.

Editions whose last extra period is over take no receipts: their transitions are only
written to the ledger, refused with the engine's reason, without locking anything.

`AttendanceTimeRule` (a `TimeRule`) claims memberships with `due_at <= now` in chunks
(`FOR UPDATE SKIP LOCKED`, so any number of replicas share the work without waiting),
calls `advance`, and saves the rows and their outbox messages in the same transaction.
Facts are recorded in the row and their ids are deterministic, so a second tick, on any
replica, records nothing and the outbox drops a repeat anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_progress.contract.outputs import OutputMessage
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.engine.attendance import (
    AttendanceDay,
    AttendanceMembership,
    AttendanceOutcome,
    Contribution,
    MemberAttendance,
    advance,
    apply_receipts,
)
from loyalty_progress.engine.attendance.plan import MembershipKey, edition_hash, plan
from loyalty_progress.engine.receipts import ReceiptTransition
from loyalty_progress.store import attendance as store
from loyalty_progress.store.attendance import MembershipWrite
from loyalty_progress.store.outbox import add_messages
from loyalty_progress.worker.rule_protocols import BatchContext

log = logging.getLogger(__name__)

TICK_CHUNK: Final = 500


def _editions_by_club(definitions: DefinitionSet) -> dict[str, tuple[AttendanceEdition, ...]]:
    by_club: dict[str, list[AttendanceEdition]] = {}
    for edition in sorted(definitions.editions, key=lambda e: (e.club, e.code)):
        by_club.setdefault(edition.club, []).append(edition)
    return {club: tuple(editions) for club, editions in by_club.items()}


def _log_refusals(lines: Sequence[Contribution]) -> None:
    for line in lines:
        if not line.counted:
            log.info(
                "receipt event does not count for attendance edition %s: %s",
                line.edition,
                line.reason,
                extra={
                    "club": line.club,
                    "edition": line.edition,
                    "member_id": line.member_id,
                    "event_id": line.event_id,
                    "receipt_id": line.receipt_id,
                    "reason": line.reason,
                },
            )


class AttendanceRule:
    """The attendance step of a batch (see the module docstring)."""

    name = "attendance"

    def __init__(self) -> None:
        self._by_club: dict[str, tuple[AttendanceEdition, ...]] = {}
        self._revision: int | None = None

    def _editions_for(
        self, definitions: DefinitionSet, transitions: Sequence[ReceiptTransition]
    ) -> list[AttendanceEdition]:
        if definitions.revision != self._revision:
            self._by_club = _editions_by_club(definitions)
            self._revision = definitions.revision
        clubs = sorted({t.after.club for t in transitions})
        return [e for club in clubs for e in self._by_club.get(club, ())]

    async def apply(self, conn: AsyncConnection, batch: BatchContext) -> list[OutputMessage]:
        if not batch.transitions or not batch.definitions.editions:
            return []
        editions = self._editions_for(batch.definitions, batch.transitions)
        if not editions:
            return []
        now = batch.now
        work = plan(editions, batch.transitions, now)
        lines: list[Contribution] = list(work.refused)
        messages: list[OutputMessage] = []
        writes: list[MembershipWrite] = []
        changed_days: list[AttendanceDay] = []
        if work.members:
            locked = await store.lock_memberships(conn, work.members)
            days = await store.load_days(conn, work.ranges)
            for key in sorted(work.members):
                edition = work.editions[(key[0], key[1])]
                row = locked[key]
                state = MemberAttendance(key[2], row.membership, tuple(days.get(key, ())))
                outcome = apply_receipts(edition, state, work.members[key], now)
                write = _write(key, edition, row, outcome)
                if write is not None:
                    writes.append(write)
                changed_days.extend(outcome.days)
                lines.extend(outcome.contributions)
                messages.extend(outcome.notifications)
                messages.extend(outcome.rewards)
        await store.save(conn, writes, changed_days, lines, now)
        _log_refusals(lines)
        return messages


def _write(
    key: MembershipKey,
    edition: AttendanceEdition,
    row: store.LockedMembership,
    outcome: AttendanceOutcome,
) -> MembershipWrite | None:
    """The row to write back, or None when nothing about it changed."""
    if outcome.membership is None:
        return None
    digest = edition_hash(edition)
    unchanged = (
        outcome.membership == row.membership
        and outcome.due_at == row.due_at
        and digest == row.edition_hash
    )
    return None if unchanged else MembershipWrite(key, outcome.membership, outcome.due_at, digest)


class AttendanceTimeRule:
    """Stage closes, extra-period notices and ends, streaks: the scheduler's part."""

    name = "attendance"

    def __init__(self, chunk: int = TICK_CHUNK) -> None:
        self.chunk = chunk
        # Per edition, the version whose stored due_at values this process has
        # reconciled (see `_reconcile`).
        self._reconciled: dict[tuple[str, str], str] = {}

    async def tick(
        self, engine: AsyncEngine, definitions: DefinitionSet, now: datetime
    ) -> list[int]:
        editions = {(e.club, e.code): e for e in definitions.editions}
        if not editions:
            return []
        written = await self._reconcile(engine, editions, now)
        keys = sorted(editions)
        seen: set[MembershipKey] = set()
        while True:
            async with engine.begin() as conn:
                claimed = await store.claim_due(conn, keys, now, self.chunk)
                written += await self._advance(conn, editions, claimed, now)
            # A row still due after `advance` (it should not be) is left for the next
            # tick instead of being picked again and again in this one.
            if len(claimed) < self.chunk or claimed.keys() <= seen:
                break
            seen.update(claimed)
        return written

    async def _reconcile(
        self,
        engine: AsyncEngine,
        editions: Mapping[tuple[str, str], AttendanceEdition],
        now: datetime,
    ) -> list[int]:
        """After an edition changed, recompute `due_at` (and record what became due) for
        its rows computed with another version: a stale, later `due_at` would delay facts.
        Runs once per edition version and process; rows other replicas already fixed
        carry the new hash and are skipped."""
        written: list[int] = []
        for key, edition in sorted(editions.items()):
            digest = edition_hash(edition)
            if self._reconciled.get(key) == digest:
                continue
            while True:
                async with engine.begin() as conn:
                    claimed = await store.claim_stale(conn, key[0], key[1], digest, self.chunk)
                    written += await self._advance(conn, editions, claimed, now)
                if len(claimed) < self.chunk:
                    break
            self._reconciled[key] = digest
        return written

    async def _advance(
        self,
        conn: AsyncConnection,
        editions: Mapping[tuple[str, str], AttendanceEdition],
        claimed: Mapping[MembershipKey, AttendanceMembership],
        now: datetime,
    ) -> list[int]:
        writes: list[MembershipWrite] = []
        messages: list[OutputMessage] = []
        for key, membership in sorted(claimed.items()):
            edition = editions[(key[0], key[1])]
            outcome = advance(edition, membership, now)
            assert outcome.membership is not None
            writes.append(
                MembershipWrite(key, outcome.membership, outcome.due_at, edition_hash(edition))
            )
            messages.extend(outcome.notifications)
            messages.extend(outcome.rewards)
        await store.save_memberships(conn, writes)
        ids = await add_messages(conn, messages)
        if claimed:
            log.info(
                "attendance scheduler advanced %d memberships: %d messages",
                len(claimed),
                len(ids),
                extra={"now": now.isoformat()},
            )
        return ids
