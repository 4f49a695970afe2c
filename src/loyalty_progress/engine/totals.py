"""Per-member running totals in daily (UTC) windows, plus the latest balance and tier.

Totals are additive deltas per (club, member, day): any window made of whole days is a
sum of rows, and adding deltas commutes, so replicas can apply them with atomic upserts
in any order. Gauges (balance, tier) keep the value of the latest event by `occurred_at`
(event id breaks ties), which is also order-independent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final

from loyalty_progress.contract.events import MemberEvent, PointsEvent, VoucherEvent
from loyalty_progress.engine.receipts import ReceiptState, ReceiptTransition

MemberKey = tuple[str, str]
DayKey = tuple[str, str, date]
StoreDayKey = tuple[str, str, date, str]


@dataclass(slots=True)
class DayDelta:
    points_earned: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    points_adjusted: int = 0
    receipts_approved: int = 0
    receipt_value: Decimal = field(default_factory=Decimal)
    receipts_pending: int = 0
    pending_value: Decimal = field(default_factory=Decimal)
    vouchers_subscribed: int = 0
    vouchers_redeemed: int = 0


TOTAL_COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in fields(DayDelta))


@dataclass(frozen=True, slots=True)
class Gauge:
    value: int
    at: datetime
    event_id: str

    def newer_than(self, other: Gauge | None) -> bool:
        return other is None or (self.at, self.event_id) > (other.at, other.event_id)


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


@dataclass(slots=True)
class TotalsDelta:
    days: dict[DayKey, DayDelta] = field(default_factory=dict)
    store_receipts: dict[StoreDayKey, int] = field(default_factory=dict)
    balances: dict[MemberKey, Gauge] = field(default_factory=dict)
    tiers: dict[MemberKey, Gauge] = field(default_factory=dict)

    def _day(self, club: str, member_id: str, at: datetime) -> DayDelta:
        key = (club, member_id, utc_day(at))
        delta = self.days.get(key)
        if delta is None:
            delta = self.days[key] = DayDelta()
        return delta

    def add_points(self, event: PointsEvent) -> None:
        day = self._day(event.club, event.member_id, event.occurred_at)
        if event.kind == "earned":
            day.points_earned += event.amount
        elif event.kind == "redeemed":
            day.points_redeemed += event.amount
        elif event.kind == "expired":
            day.points_expired += event.amount
        else:
            day.points_adjusted += event.amount
        if event.balance is not None:
            self._set_gauge(self.balances, event, event.balance)

    def add_voucher(self, event: VoucherEvent) -> None:
        day = self._day(event.club, event.member_id, event.occurred_at)
        if event.kind == "subscribed":
            day.vouchers_subscribed += 1
        else:
            day.vouchers_redeemed += 1

    def add_member(self, event: MemberEvent) -> None:
        if event.kind == "tier_changed" and event.tier is not None:
            self._set_gauge(self.tiers, event, event.tier)

    def add_receipt(self, transition: ReceiptTransition) -> None:
        """Subtract exactly what the old state counted, add what the new state counts."""
        if transition.before is not None:
            self._count_receipt(transition.before, -1)
        self._count_receipt(transition.after, +1)

    def _count_receipt(self, state: ReceiptState, sign: int) -> None:
        if state.status not in ("approved", "pending"):
            return
        day = self._day(state.club, state.member_id, state.occurred_at)
        if state.status == "pending":
            day.receipts_pending += sign
            day.pending_value += sign * state.amount
            return
        day.receipts_approved += sign
        day.receipt_value += sign * state.amount
        if state.store_id is not None:
            key = (state.club, state.member_id, utc_day(state.occurred_at), state.store_id)
            self.store_receipts[key] = self.store_receipts.get(key, 0) + sign

    @staticmethod
    def _set_gauge(
        gauges: dict[MemberKey, Gauge], event: PointsEvent | MemberEvent, value: int
    ) -> None:
        key = (event.club, event.member_id)
        gauge = Gauge(value=value, at=event.occurred_at, event_id=event.event_id)
        if gauge.newer_than(gauges.get(key)):
            gauges[key] = gauge
