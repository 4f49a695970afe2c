# Over 400 lines: the five steps below, both passes (challenge, edition), read in order.
"""`replay recompute`: rebuild one challenge's or one edition's progress from the events
stored in `processed_events`, under the definitions now in force (after a definition fix).

How (one REPEATABLE READ transaction, retried when a live batch got in the way):

1. read the club's processed events in processing order (the batch each was committed in,
   then time order; a receipt's statuses in lifecycle order) and decode the stored bodies;
2. run the receipt lifecycle again from nothing, which gives the receipt transitions the
   engines take (receipts, totals and the receipts table are not touched: they do not
   depend on definitions);
3. run the engine on a blank slate for just this challenge (member facts and group
   rosters rebuilt from the member events; other challenges' unlock instants as stored)
   or, for an edition, each member's transitions as of the instant their batch originally
   processed them (the edition's ledger keeps that instant; events the edition never saw
   use the job's `now`);
4. lock the rows in the worker's lock order, merge with what is stored (`merge`: what was
   reached and published stands), replace the rows, and write the fresh notifications and
   rewards to the outbox, where the deterministic ids drop every one already issued;
5. report the members (or groups) whose summary changed, before and after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from typing import Any, Final, TypeVar

import msgspec
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import (
    BadInput,
    InputEvent,
    InputStream,
    ReceiptEvent,
    decode_body,
)
from loyalty_progress.contract.outputs import OutputMessage, message_id
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.engine.attendance import (
    AttendanceDay,
    Contribution,
    MemberAttendance,
    apply_receipts,
    calendar_of,
    next_due_at,
    route,
)
from loyalty_progress.engine.attendance.plan import edition_hash
from loyalty_progress.engine.challenges import (
    Catalog,
    ChallengeState,
    MemberKey,
    MemberRecord,
    OccurrenceKey,
    Progress,
    ProgressKey,
    apply_challenges,
    occurrences,
    progress_flags,
)
from loyalty_progress.engine.challenges.inputs import challenge_inputs
from loyalty_progress.engine.receipts import (
    RANK,
    ReceiptState,
    ReceiptTransition,
    apply_receipt_event,
    receipt_key,
)
from loyalty_progress.replay import merge
from loyalty_progress.replay.horizon import beyond_horizon
from loyalty_progress.store import recompute as store
from loyalty_progress.store.attendance import (
    MembershipWrite,
    lock_memberships,
    save,
)
from loyalty_progress.store.challenge_writes import save_outcome
from loyalty_progress.store.outbox import add_messages
from loyalty_progress.store.replay_jobs import iso
from loyalty_progress.worker.relay import OutboxRelay
from loyalty_progress.worker.retry import is_transient

log = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 8
# A unique violation means a live batch created a row this snapshot could not see: retry.
_RETRY_SQLSTATES: Final = ("23505",)
_CHALLENGE_STREAMS: Final = tuple(s.value for s in InputStream)
T = TypeVar("T")


class RecomputeError(Exception):
    """The recompute cannot run as asked (unknown code, ambiguous club); nothing changed."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A decoded stored event with the instant its batch was committed."""

    event: InputEvent
    processed_at: datetime


@dataclass(slots=True)
class _Pass:
    """What one recompute computed and wrote, for the report."""

    events: int = 0
    undecodable: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    outbox_ids: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- events


def _order(item: Stored) -> tuple[datetime, datetime, int, str]:
    event = item.event
    rank = RANK[event.status] if isinstance(event, ReceiptEvent) else 0
    return (item.processed_at, event.occurred_at, rank, event.event_id)


def decode_stored(rows: Sequence[store.StoredEvent], out: _Pass) -> list[Stored]:
    """Decode the stored bodies (they were valid when consumed) in processing order."""
    decoded: list[Stored] = []
    for row in rows:
        event = decode_body(InputStream(row.stream), row.body)
        if isinstance(event, BadInput):
            out.undecodable.append(f"{row.stream}/{row.event_id}: {event.reason}")
            continue
        decoded.append(Stored(event, row.processed_at))
    decoded.sort(key=_order)
    out.events = len(decoded)
    return decoded


def lifecycle(events: Sequence[InputEvent]) -> list[ReceiptTransition]:
    """The receipt transitions of these events, from no receipt state at all."""
    current: dict[tuple[str, str], ReceiptState] = {}
    transitions: list[ReceiptTransition] = []
    for event in events:
        if not isinstance(event, ReceiptEvent):
            continue
        key = receipt_key(event.club, event.receipt_id)
        transition = apply_receipt_event(current.get(key), event)
        if transition is not None:
            current[key] = transition.after
            transitions.append(transition)
    return transitions


# --------------------------------------------------------------------------- retry


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


# --------------------------------------------------------------------------- challenges


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


def _blank_members(
    records: dict[tuple[str, str], MemberRecord], code: str
) -> dict[tuple[str, str], MemberRecord]:
    """Stored member records without their facts (the pass re-adds them from the member
    events, in order) and without this challenge's unlock; other unlocks stay."""
    return {
        key: MemberRecord(
            club=r.club,
            member_id=r.member_id,
            unlocks={c: at for c, at in r.unlocks.items() if c != code},
        )
        for key, r in records.items()
    }


async def _challenge_pass(
    conn: AsyncConnection,
    definition: ChallengeDefinition,
    children: Sequence[str],
    now: datetime,
) -> _Pass:
    out = _Pass()
    club, code = definition.club, definition.code
    member_facts = definition.enrollment != "auto" or definition.scope == "group"
    refused = await beyond_horizon(
        conn, club, f"challenge {code}", definition.starts_at, _CHALLENGE_STREAMS, member_facts
    )
    if refused is not None:
        raise RecomputeError(refused)
    stored = decode_stored(await store.club_events(conn, club, _CHALLENGE_STREAMS), out)
    events = [s.event for s in stored]
    catalog = Catalog([definition])
    inputs = challenge_inputs(events, lifecycle(events), catalog)
    # The batch's lock order: members, groups, then the challenge's own rows.
    member_ids = {e.member_id for e in events} | await store.challenge_member_ids(conn, club, code)
    records = await store.lock_members(conn, club, member_ids)
    winners: dict[OccurrenceKey, int] = {}
    if definition.max_winners is not None:
        winners = {(club, code, o.index): 0 for o in occurrences(definition)}
    state = ChallengeState(members=_blank_members(records, code), winners=winners)
    fresh = apply_challenges(state, inputs, catalog, now)
    old = await store.lock_challenge_rows(conn, club, code, _group_keys(fresh.groups, club))
    merged = merge.merge_progress_rows(old.progress, fresh.progress.values())
    out.changes = _progress_changes(definition, old.progress, merged)
    unlocks = _moved_unlocks(definition, records, merged)
    limited = _winners(merged.values()) if definition.max_winners is not None else {}
    fresh.progress = merged
    fresh.members = unlocks
    fresh.groups = {}  # rosters do not depend on definitions: the stored ones stand
    fresh.winners = {}  # written whole below
    fresh.completions = _completions(merged.values())
    await store.clear_challenge(conn, club, code)
    await save_outcome(conn, fresh, progress_flags(fresh.progress.values(), catalog))
    await store.set_winners(conn, limited)
    over = {k[2]: n for k, n in limited.items() if n > (definition.max_winners or 0)}
    if over:
        out.extra["occurrences_over_max_winners"] = over
    out.extra["recompute_next"] = list(children) if unlocks else []
    messages: list[OutputMessage] = [*fresh.notifications, *fresh.rewards]
    out.messages = len({message_id(m) for m in messages})
    out.outbox_ids = await add_messages(conn, messages)
    return out


def _group_keys(groups: Iterable[tuple[str, str]], club: str) -> list[tuple[str, str]]:
    return sorted(k for k in groups if k[0] == club)


def _progress_changes(
    definition: ChallengeDefinition,
    old: Sequence[Progress],
    merged: Mapping[ProgressKey, Progress],
) -> list[dict[str, Any]]:
    olds = {row.key: row for row in old}
    changes: list[dict[str, Any]] = []
    for key in sorted(olds.keys() | merged.keys()):
        before = merge.progress_summary(definition, olds.get(key))
        after = merge.progress_summary(definition, merged.get(key))
        if before != after:
            changes.append(
                {f"{key[3]}_id": key[4], "occurrence": key[2], "before": before, "after": after}
            )
    return changes


def _moved_unlocks(
    definition: ChallengeDefinition,
    records: Mapping[MemberKey, MemberRecord],
    merged: Mapping[ProgressKey, Progress],
) -> dict[MemberKey, MemberRecord]:
    """The stored member records whose unlock instant of this challenge moves (only the
    unlock changes: facts stay as stored)."""
    if definition.scope != "member":
        return {}
    rows: dict[MemberKey, list[Progress]] = {}
    for row in merged.values():
        rows.setdefault((row.club, row.subject_id), []).append(row)
    keys = rows.keys() | {k for k, r in records.items() if definition.code in r.unlocks}
    moved: dict[MemberKey, MemberRecord] = {}
    for key in sorted(keys):
        record = records.get(key) or MemberRecord(club=key[0], member_id=key[1])
        unlocks = {c: at for c, at in record.unlocks.items() if c != definition.code}
        instant = merge.unlock_instant(rows.get(key, ()))
        if instant is not None:
            unlocks[definition.code] = instant
        if unlocks != record.unlocks:
            moved[key] = msgspec.structs.replace(record, unlocks=unlocks)
    return moved


def _completions(rows: Iterable[Progress]) -> dict[OccurrenceKey, int]:
    """`PeopleFinished` per occurrence: the subjects whose row holds a completion."""
    counts: dict[OccurrenceKey, int] = {}
    for row in rows:
        if row.completed is not None:
            counts[row.occurrence_key] = counts.get(row.occurrence_key, 0) + 1
    return counts


def _winners(rows: Iterable[Progress]) -> dict[OccurrenceKey, int]:
    counts: dict[OccurrenceKey, int] = {}
    for row in rows:
        counts[row.occurrence_key] = counts.get(row.occurrence_key, 0) + (1 if row.winner else 0)
    return counts


# --------------------------------------------------------------------------- attendance


def _runs(
    transitions: Sequence[ReceiptTransition], instants: Mapping[str, datetime], now: datetime
) -> list[tuple[datetime, list[ReceiptTransition]]]:
    """Consecutive transitions processed at the same instant, with that instant."""
    keyed = ((instants.get(t.event.event_id, now), t) for t in transitions)
    return [(at, [t for _, t in run]) for at, run in groupby(keyed, key=lambda p: p[0])]


@dataclass(slots=True)
class _Member:
    """One member's fresh pass through an edition."""

    attendance: MemberAttendance
    lines: list[tuple[Contribution, datetime]] = field(default_factory=list)
    messages: list[OutputMessage] = field(default_factory=list)


def replay_member(
    edition: AttendanceEdition,
    member_id: str,
    transitions: Sequence[ReceiptTransition],
    instants: Mapping[str, datetime],
    now: datetime,
) -> _Member:
    """The member's transitions, run by run, each as of the instant it was processed."""
    result = _Member(MemberAttendance(member_id, None, ()))
    days: dict[date, AttendanceDay] = {}
    for at, run in _runs(transitions, instants, now):
        outcome = apply_receipts(edition, result.attendance, run, at)
        days.update((d.day, d) for d in outcome.days)
        result.attendance = MemberAttendance(
            member_id, outcome.membership, tuple(days[d] for d in sorted(days))
        )
        result.lines.extend((line, at) for line in outcome.contributions)
        result.messages.extend(outcome.notifications)
        result.messages.extend(outcome.rewards)
    return result


async def _edition_pass(conn: AsyncConnection, edition: AttendanceEdition, now: datetime) -> _Pass:
    out = _Pass()
    club, code = edition.club, edition.code
    starts_at = calendar_of(edition).starts_at
    streams = (InputStream.RECEIPTS.value,)
    refused = await beyond_horizon(conn, club, f"edition {code}", starts_at, streams, False)
    if refused is not None:
        raise RecomputeError(refused)
    rows = await store.club_events(conn, club, streams)
    stored = decode_stored(rows, out)
    routed = route(edition, lifecycle([s.event for s in stored]))
    instants = await store.contribution_instants(conn, club, code)
    members = set(routed) | await store.edition_member_ids(conn, club, code)
    locked = await lock_memberships(conn, [(club, code, m) for m in members])
    old_days: dict[str, list[AttendanceDay]] = {}
    for day in await store.edition_days(conn, club, code):
        old_days.setdefault(day.member_id, []).append(day)
    writes: list[MembershipWrite] = []
    new_days: list[AttendanceDay] = []
    lines: list[tuple[Contribution, datetime]] = []
    messages: list[OutputMessage] = []
    digest = edition_hash(edition)
    for member_id in sorted(members):
        fresh = replay_member(edition, member_id, routed.get(member_id, ()), instants, now)
        old = locked[(club, code, member_id)].membership
        membership = merge.merge_membership(old, fresh.attendance.membership)
        if membership is not None:
            due = next_due_at(edition, membership)
            writes.append(MembershipWrite((club, code, member_id), membership, due, digest))
        new_days.extend(fresh.attendance.days)
        lines.extend(fresh.lines)
        messages.extend(fresh.messages)
        before = merge.membership_summary(edition, old, old_days.get(member_id, ()))
        after = merge.membership_summary(edition, membership, fresh.attendance.days)
        if before != after:
            out.changes.append({"member_id": member_id, "before": before, "after": after})
    await store.clear_edition(conn, club, code)
    await save(conn, writes, new_days)
    await store.add_contributions(conn, lines)
    out.messages = len({message_id(m) for m in messages})
    out.outbox_ids = await add_messages(conn, messages)
    return out


# --------------------------------------------------------------------------- entry points


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
            self._engine, lambda conn: _challenge_pass(conn, definition, children, now)
        )
        return await self._finish(done, {"challenge": code, "club": definition.club}, now)

    async def edition(self, code: str, club: str | None = None) -> dict[str, Any]:
        definitions = await self._definitions()
        edition: AttendanceEdition = _find(definitions.editions, "edition", code, club)
        now = self._clock.now()
        done = await _in_snapshot(self._engine, lambda conn: _edition_pass(conn, edition, now))
        return await self._finish(done, {"edition": code, "club": edition.club}, now)

    async def _finish(self, done: _Pass, what: dict[str, Any], now: datetime) -> dict[str, Any]:
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


__all__ = ["Recompute", "RecomputeError", "decode_stored", "lifecycle", "replay_member"]
