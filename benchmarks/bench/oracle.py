"""What the backbone must leave behind, computed here from the published events.

Per member: the sums over `member_daily_totals`, distinct stores, the balance and tier
gauges (latest by `occurred_at`, then event id); per receipt: the final state (the
highest-ranked status it received); the receipt notifications (one `receipt_approved` per
receipt that reached approved, one `receipt_rejected` per receipt rejected from pending or
first seen rejected), each caused by the event that made the transition, assuming each
stream is applied in entry order. Written from the documented rules, without the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from bench.workload import Workload

RANK: Final = {"pending": 0, "approved": 1, "rejected": 2, "refunded": 3}
TOTAL_COLUMNS: Final = (
    "points_earned",
    "points_redeemed",
    "points_expired",
    "points_adjusted",
    "receipts_approved",
    "receipt_value",
    "receipts_pending",
    "pending_value",
    "vouchers_subscribed",
    "vouchers_redeemed",
)
COMPARED: Final = (*TOTAL_COLUMNS, "distinct_stores", "balance", "tier")

MemberKey = tuple[str, str]  # (club, member_id)
ReceiptKey = tuple[str, str]  # (club, receipt_id)


@dataclass(slots=True)
class MemberTotals:
    points_earned: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    points_adjusted: int = 0
    receipts_approved: int = 0
    receipt_value: Decimal = Decimal(0)
    receipts_pending: int = 0
    pending_value: Decimal = Decimal(0)
    vouchers_subscribed: int = 0
    vouchers_redeemed: int = 0
    distinct_stores: int = 0
    balance: int | None = None
    tier: int | None = None


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One status event of a receipt, as published."""

    event_id: str
    status: str
    amount: Decimal
    store_id: str | None
    items: tuple[str, ...]
    occurred_at: datetime


@dataclass(slots=True)
class Receipt:
    """A receipt's member, its final state (the event that made it, in publish order), and
    every status event it received (for bounds that hold in any order of application)."""

    club: str
    member_id: str
    final: StatusEvent
    events: list[StatusEvent] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.final.status

    def first_with(self, status: str) -> StatusEvent | None:
        return next((e for e in self.events if e.status == status), None)


@dataclass(slots=True)
class Expected:
    members: dict[MemberKey, MemberTotals]
    receipts: dict[ReceiptKey, Receipt]
    # (type, club, receipt_id) -> event id that caused it
    notifications: dict[tuple[str, str, str], str]
    distinct_events: int
    event_ids: frozenset[str]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def status_event(event_id: str, body: Mapping[str, Any]) -> StatusEvent:
    return StatusEvent(
        event_id=event_id,
        status=body["status"],
        amount=Decimal(str(body["amount"])),
        store_id=body.get("store_id"),
        items=tuple(body.get("items") or ()),
        occurred_at=instant(body["occurred_at"]),
    )


def expected_outcome(workload: Workload) -> Expected:
    """The backbone's rules, applied in publish order (each stream is consumed in order)."""
    totals: dict[MemberKey, MemberTotals] = {}
    receipts: dict[ReceiptKey, Receipt] = {}
    notifications: dict[tuple[str, str, str], str] = {}
    gauges: dict[tuple[str, MemberKey], tuple[datetime, str, int]] = {}
    distinct = workload.distinct_entries()
    for entry in distinct:
        body = entry.body
        member: MemberKey = (body["club"], body["member_id"])
        mine = totals.setdefault(member, MemberTotals())
        if entry.stream == "receipts":
            key = (body["club"], body["receipt_id"])
            event = status_event(entry.event_id, body)
            before = receipts.get(key)
            if before is None:
                before = receipts[key] = Receipt(body["club"], body["member_id"], event, [event])
                after_status, previous = event.status, None
            else:
                before.events.append(event)
                if RANK[event.status] <= RANK[before.status]:
                    continue  # stale or repeated status: no transition
                previous = before.status
                before.final = event
                after_status = event.status
            if after_status == "approved":
                notifications[("receipt_approved", *key)] = entry.event_id
            elif after_status == "rejected" and previous in (None, "pending"):
                notifications[("receipt_rejected", *key)] = entry.event_id
        elif entry.stream == "points":
            column = f"points_{body['kind']}"
            setattr(mine, column, getattr(mine, column) + body["amount"])
            if "balance" in body:
                _gauge(gauges, "balance", member, body, entry.event_id, body["balance"])
        elif entry.stream == "vouchers":
            if body["kind"] == "subscribed":
                mine.vouchers_subscribed += 1
            else:
                mine.vouchers_redeemed += 1
        elif body["kind"] == "tier_changed":
            _gauge(gauges, "tier", member, body, entry.event_id, body["tier"])
    stores: dict[MemberKey, set[str]] = {}
    for receipt in receipts.values():
        owner_key = (receipt.club, receipt.member_id)
        owner = totals.setdefault(owner_key, MemberTotals())
        if receipt.status == "approved":
            owner.receipts_approved += 1
            owner.receipt_value += receipt.final.amount
            if receipt.final.store_id is not None:
                stores.setdefault(owner_key, set()).add(receipt.final.store_id)
        elif receipt.status == "pending":
            owner.receipts_pending += 1
            owner.pending_value += receipt.final.amount
    for member, names in stores.items():
        totals[member].distinct_stores = len(names)
    for (name, member), (_, _, value) in gauges.items():
        setattr(totals[member], name, value)
    return Expected(
        members=totals,
        receipts=receipts,
        notifications=notifications,
        distinct_events=len(distinct),
        event_ids=frozenset(e.event_id for e in distinct),
    )


def _gauge(
    gauges: dict[tuple[str, MemberKey], tuple[datetime, str, int]],
    name: str,
    member: MemberKey,
    body: Mapping[str, Any],
    event_id: str,
    value: int,
) -> None:
    """Latest by occurred_at (the instant), then by event id."""
    candidate = (instant(body["occurred_at"]), event_id, value)
    current = gauges.get((name, member))
    if current is None or candidate[:2] > current[:2]:
        gauges[(name, member)] = candidate
