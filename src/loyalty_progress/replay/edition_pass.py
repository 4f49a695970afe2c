"""Recomputing one attendance edition (steps 3 and 4 of `replay.recompute`): each member's
transitions run again as of the instant their batch originally processed them (the
edition's ledger keeps that instant; events the edition never saw use the job's `now`),
merged with the stored memberships, saved, and the fresh messages written to the outbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.contract.events import InputStream
from loyalty_progress.contract.outputs import OutputMessage, message_id
from loyalty_progress.definitions.attendance import AttendanceEdition
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
from loyalty_progress.engine.receipts import ReceiptTransition
from loyalty_progress.replay import merge
from loyalty_progress.replay.horizon import beyond_horizon
from loyalty_progress.replay.pass_result import PassResult, RecomputeError
from loyalty_progress.replay.stored_events import decode_stored, lifecycle
from loyalty_progress.store import recompute as store
from loyalty_progress.store.attendance import MembershipWrite, lock_memberships, save
from loyalty_progress.store.outbox import add_messages


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


async def edition_pass(
    conn: AsyncConnection, edition: AttendanceEdition, now: datetime
) -> PassResult:
    out = PassResult()
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
