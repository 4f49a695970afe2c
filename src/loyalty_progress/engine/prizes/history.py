"""A member's prize history: the prizes they claimed, the latest claim first, each as
seed 001 describes a prize (`Value`, `ExpirationDate`, `Description`, `RewardType`) with
what it was for and when it was issued and claimed (docs/prizes.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from loyalty_progress.engine.prizes.claims import IssuedPrize


class ClaimedPrizeOut(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    reward_id: str
    reason: str
    value: int | str | None
    expiration_date: datetime | None
    description: str | None
    reward_type: str
    issued_at: datetime
    claimed_at: datetime


class PrizeHistory(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    data: list[ClaimedPrizeOut]
    count: int


def prize_history(member_id: str, claimed: Sequence[IssuedPrize]) -> PrizeHistory:
    items = [
        ClaimedPrizeOut(
            reward_id=p.reward_id,
            reason=p.reason,
            value=p.prize.reward_id if p.prize.type == "reward" else p.prize.value,
            expiration_date=p.expires_at,
            description=p.prize.description,
            reward_type=p.prize.type,
            issued_at=p.issued_at,
            claimed_at=p.claimed_at,
        )
        for p in claimed
        if p.claimed_at is not None
    ]
    return PrizeHistory(member_id=member_id, data=items, count=len(items))
