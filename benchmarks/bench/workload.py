"""The workload: seeded events for three clubs over October 2026.

About half are receipts (pending then approved; some approved directly, rejected, refunded
after approval, left pending, re-sent with a new event id, or with two statuses published
in the wrong order; a few with the amount corrected on approval; stores and items), a third
points (earned, redeemed, expired, adjusted; 90 % carry the balance; 3 % at the same
instant as the member's previous points event, so the event-id tie-break decides), a tenth
voucher subscriptions and redemptions, the rest member events (tier changes, opt-in/out of
challenges with a charity now and then, group joins and leaves). Activity is skewed: a few
members are much more active than most. Timestamps use several UTC offsets. The same
arguments always give the same events, whatever definitions a run applies, so variants of
one invocation see identical input.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

import msgspec

INPUT_STREAMS: Final = ("receipts", "points", "vouchers", "members")
CLUBS: Final = ("infinity-mall", "harbor-plaza", "north-gate")
# The club of member 0, the most active one: the default program's busiest club.
BUSIEST_CLUB: Final = CLUBS[0]
OFFSETS: Final = (
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
)
BASE_TIME: Final = datetime(2026, 10, 1, tzinfo=UTC)
SPAN: Final = timedelta(days=30)
# The instant the worker is told it is (`LOYALTY_NOW`): the end of the workload's month,
# so every receipt is judged inside its attendance stage and challenge windows.
NOW: Final = BASE_TIME + SPAN
RECEIPT_FATES: Final = (
    (("pending", "approved"), 0.70),
    (("approved",), 0.09),
    (("pending", "approved", "refunded"), 0.05),
    (("pending", "rejected"), 0.09),
    (("pending",), 0.07),
)
# Challenge codes of opt-in/out facts, weighted: mostly the default program's opt-in
# challenge, some an automatic one (a member may opt out of it), some codes that no
# definition has (facts kept for a challenge applied later).
OPT_CODES: Final = (
    ("bench-charity-spend", 6),
    ("bench-earn-2000", 1),
    ("autumn-raffle", 2),
    ("member-survey", 1),
)
CHARITIES: Final = ("red-cross", "wwf", "unicef", "msf", "oxfam")
GROUPS: Final = 150
STORES_PER_CLUB: Final = 150
SKUS: Final = 2000


def store_id(club: str, index: int) -> str:
    return f"{club[:5]}-store-{index:03d}"


def sku(index: int) -> str:
    return f"sku-{index:04d}"


@dataclass(slots=True)
class Planned:
    """One entry to publish. Duplicates share `event_id` and `body` with their original."""

    slot: float
    seq: int
    stream: str
    event_id: str
    body: dict[str, Any]
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Workload:
    entries: list[Planned]  # in publish order
    members: int
    duplicates: int

    @property
    def distinct(self) -> int:
        return len(self.entries) - self.duplicates

    def distinct_entries(self) -> list[Planned]:
        """Each event once (its first publication), in publish order."""
        seen: set[str] = set()
        result: list[Planned] = []
        for entry in self.entries:
            if entry.event_id not in seen:
                seen.add(entry.event_id)
                result.append(entry)
        return result


class Generator:
    """Builds the workload with one seeded `random.Random`: same arguments, same events."""

    def __init__(self, seed: int, members: int) -> None:
        self.rng = random.Random(seed)
        self.member_count = members
        self.planned: list[Planned] = []
        self.stores = {c: [store_id(c, i) for i in range(STORES_PER_CLUB)] for c in CLUBS}
        self.offers = [f"offer-{i:02d}" for i in range(50)]
        self.skus = [sku(i) for i in range(SKUS)]
        self.favourites: dict[int, list[str]] = {}
        self.balances: dict[int, int] = {}
        self.last_points_at: dict[int, datetime] = {}
        self.last_tier_at: dict[int, datetime] = {}

    # helpers
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _member(self) -> int:
        # Skewed: a few members are much more active than most (hot rows, like real life).
        return int(self.member_count * self.rng.random() ** 1.6)

    def _member_fields(self, member: int, at: datetime) -> dict[str, Any]:
        return {
            "club": CLUBS[member % len(CLUBS)],
            "member_id": f"m{member:07d}",
            "occurred_at": at.astimezone(self.rng.choice(OFFSETS)).isoformat(),
        }

    def _occurred(self, slot: float) -> datetime:
        # Events arrive up to 3 h after they happen; whole seconds.
        at = BASE_TIME + SPAN * min(slot, 1.0) - timedelta(seconds=self.rng.randint(0, 3 * 3600))
        return at.replace(microsecond=0)

    def _later(self, slot: float, mean: float = 0.002) -> float:
        return slot + self.rng.expovariate(1 / mean)

    def _add(self, slot: float, stream: str, member: int, at: datetime, **fields: Any) -> None:
        event_id = self._uuid()
        body = {"event_id": event_id, **self._member_fields(member, at), **fields}
        self.planned.append(Planned(slot, len(self.planned), stream, event_id, body))

    # episodes
    def receipt(self, slot: float) -> None:
        rng = self.rng
        member = self._member()
        club = CLUBS[member % len(CLUBS)]
        if member not in self.favourites:
            self.favourites[member] = rng.sample(self.stores[club], rng.randint(1, 4))
        fate = rng.choices([f[0] for f in RECEIPT_FATES], [f[1] for f in RECEIPT_FATES])[0]
        cents = rng.randint(100, 25_000)
        amount: str | int = f"{Decimal(cents) / 100:.2f}"
        if rng.random() < 0.15:
            amount = cents // 100  # a JSON number, whole currency units
        # The amount validated on approval: corrected now and then, the same on every
        # `approved` event of the receipt (so which one is applied first cannot matter).
        approved: str | int = amount
        if isinstance(amount, str) and rng.random() < 0.03:
            approved = f"{Decimal(rng.randint(100, 25_000)) / 100:.2f}"
        store = rng.choice(self.favourites[member]) if rng.random() < 0.9 else None
        items = rng.sample(self.skus, rng.randint(0, 4))
        receipt_id = f"rcpt-{self._uuid()}"
        at = self._occurred(slot)
        slots = [slot]
        for _ in fate[1:]:
            slots.append(self._later(slots[-1]))
        if len(slots) > 1 and rng.random() < 0.05:  # a later status published first
            i = rng.randrange(len(slots) - 1)
            slots[i], slots[i + 1] = slots[i + 1], slots[i]
        statuses = list(fate)
        if rng.random() < 0.02:  # the same status sent again (new event id: a no-op)
            statuses.append(rng.choice(fate))
            slots.append(self._later(max(slots)))
        for status, when in zip(statuses, slots, strict=True):
            value = approved if status == "approved" else amount
            fields: dict[str, Any] = {"receipt_id": receipt_id, "status": status, "amount": value}
            if store is not None:
                fields["store_id"] = store
            if items:
                fields["items"] = items
            self._add(when, "receipts", member, at, **fields)

    def points(self, slot: float) -> None:
        rng = self.rng
        member = self._member()
        balance = self.balances.get(member, 0)
        kind = rng.choices(("earned", "redeemed", "expired", "adjusted"), (70, 18, 7, 5))[0]
        if kind == "earned":
            amount = rng.randint(1, 500)
        elif kind == "redeemed":
            amount = rng.randint(50, 1000)
        elif kind == "expired":
            amount = rng.randint(1, 200)
        else:
            amount = rng.randint(1, 100)
        if kind in ("redeemed", "expired") and amount > balance:
            kind = "earned"
        balance += -amount if kind in ("redeemed", "expired") else amount
        self.balances[member] = balance
        at = self._occurred(slot)
        previous = self.last_points_at.get(member)
        if previous is not None and rng.random() < 0.03:
            at = previous  # same instant as the member's previous points event: a tie
        self.last_points_at[member] = at
        fields: dict[str, Any] = {"kind": kind, "amount": amount}
        if rng.random() < 0.9:
            fields["balance"] = balance
        self._add(slot, "points", member, at, **fields)

    def voucher(self, slot: float) -> None:
        member = self._member()
        voucher_id = f"v-{self._uuid()}"
        offer = self.rng.choice(self.offers) if self.rng.random() < 0.8 else None
        extra = {"offer_id": offer} if offer else {}
        self._add(
            slot,
            "vouchers",
            member,
            self._occurred(slot),
            kind="subscribed",
            voucher_id=voucher_id,
            **extra,
        )
        if self.rng.random() < 0.5:
            later = self._later(slot, 0.01)
            self._add(
                later,
                "vouchers",
                member,
                self._occurred(later),
                kind="redeemed",
                voucher_id=voucher_id,
                **extra,
            )

    def member_event(self, slot: float) -> None:
        rng = self.rng
        member = self._member()
        kind = rng.choices(
            ("tier_changed", "opted_in", "opted_out", "joined_group", "left_group"),
            (45, 25, 8, 14, 8),
        )[0]
        at = self._occurred(slot)
        fields: dict[str, Any] = {"kind": kind}
        if kind == "tier_changed":
            previous = self.last_tier_at.get(member)
            if previous is not None and rng.random() < 0.03:
                at = previous
            self.last_tier_at[member] = at
            fields["tier"] = rng.randint(0, 5)
        elif kind in ("opted_in", "opted_out"):
            codes = [c for c, _ in OPT_CODES]
            fields["challenge_code"] = rng.choices(codes, [w for _, w in OPT_CODES])[0]
            if kind == "opted_in" and rng.random() < 0.5:
                fields["charity_code"] = rng.choice(CHARITIES)
        else:
            fields["group_code"] = f"group-{rng.randint(1, GROUPS)}"
        self._add(slot, "members", member, at, **fields)

    def build(self, events: int, duplicate_share: float) -> Workload:
        duplicates = round(events * duplicate_share)
        distinct = events - duplicates
        episodes = (self.receipt, self.points, self.voucher, self.member_event)
        weights = (25, 30, 8, 8)
        while len(self.planned) < distinct:
            self.rng.choices(episodes, weights)[0](self.rng.random())
        del self.planned[distinct:]
        for original in self.rng.sample(self.planned, duplicates):
            # Half land right after the original (often in its batch), half much later.
            near = self.rng.random() < 0.5
            delay = self.rng.uniform(0, 0.0001) if near else self.rng.uniform(0, 0.2)
            self.planned.append(
                Planned(
                    original.slot + delay,
                    len(self.planned),
                    original.stream,
                    original.event_id,
                    original.body,
                )
            )
        encoder = msgspec.json.Encoder()
        encoded: dict[str, bytes] = {}
        for entry in self.planned:
            data = encoded.get(entry.event_id)
            if data is None:
                data = encoded[entry.event_id] = encoder.encode(entry.body)
            entry.data = data
        entries = sorted(self.planned, key=lambda p: (p.slot, p.seq))
        return Workload(entries=entries, members=self.member_count, duplicates=duplicates)
