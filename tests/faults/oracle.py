"""An oracle for members' totals, written without the engine's code: what every member's
totals must be after the events a test published, however they were delivered, and the
members whose stored totals say otherwise."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.store.totals import MemberTotals, member_totals
from tests.faults.workloads import CLUB

_RANK = {"pending": 0, "approved": 1, "rejected": 2, "refunded": 3}


@dataclass
class Expected:
    """What a member's totals must be after a set of events, however they were delivered."""

    points: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, stream: str, body: dict[str, Any]) -> None:
        if stream == "points":
            self.points[body["kind"]] += int(body["amount"])
        elif stream == "receipts":
            current = self.receipts.get(body["receipt_id"])
            if current is None or _RANK[body["status"]] > _RANK[current["status"]]:
                self.receipts[body["receipt_id"]] = body

    def totals(self) -> dict[str, Any]:
        finals = list(self.receipts.values())
        approved = [r for r in finals if r["status"] == "approved"]
        pending = [r for r in finals if r["status"] == "pending"]
        return {
            "points_earned": self.points["earned"],
            "points_redeemed": self.points["redeemed"],
            "receipts_approved": len(approved),
            "receipt_value": sum((Decimal(r["amount"]) for r in approved), Decimal(0)),
            "receipts_pending": len(pending),
            "pending_value": sum((Decimal(r["amount"]) for r in pending), Decimal(0)),
            "distinct_stores": len({r["store_id"] for r in approved if r.get("store_id")}),
        }


class Oracle:
    """Expected totals per member for every event published in a test."""

    def __init__(self) -> None:
        self.members: dict[str, Expected] = defaultdict(Expected)
        self.event_ids: set[str] = set()

    def add(self, stream: str, body: dict[str, Any]) -> None:
        self.members[body["member_id"]].add(stream, body)
        self.event_ids.add(body["event_id"])

    def add_all(self, stream: str, bodies: Iterable[dict[str, Any]]) -> None:
        for body in bodies:
            self.add(stream, body)


def observed(result: MemberTotals) -> dict[str, Any]:
    return {
        "points_earned": result.points_earned,
        "points_redeemed": result.points_redeemed,
        "receipts_approved": result.receipts_approved,
        "receipt_value": result.receipt_value,
        "receipts_pending": result.receipts_pending,
        "pending_value": result.pending_value,
        "distinct_stores": result.distinct_stores,
    }


async def mismatches(engine: AsyncEngine, oracle: Oracle) -> dict[str, tuple[Any, Any]]:
    """Members whose stored totals differ from the oracle's: {member: (expected, got)}."""
    wrong: dict[str, tuple[Any, Any]] = {}
    async with engine.connect() as conn:
        for member, expected in sorted(oracle.members.items()):
            got = observed(await member_totals(conn, CLUB, member))
            if got != expected.totals():
                wrong[member] = (expected.totals(), got)
    return wrong
