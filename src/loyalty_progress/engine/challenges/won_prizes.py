"""The prizes a member won at a reached milestone and has not claimed yet, as seed 001's
`Prizes` show them: the issued prize (its value and actual expiry) with its `reward_id`.
A prize not issued to the member (lost in a limited challenge) or already claimed is not
in `unclaimed` and so not shown (docs/prizes.md)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from loyalty_progress.engine.challenges.effects import reward_id
from loyalty_progress.engine.challenges.responses import PrizeOut
from loyalty_progress.engine.challenges.state import Progress
from loyalty_progress.engine.prizes.claims import IssuedPrize

NO_PRIZES: Final[Mapping[str, IssuedPrize]] = MappingProxyType({})


def issued_prize_out(issued: IssuedPrize) -> PrizeOut:
    prize = issued.prize
    return PrizeOut(
        value=prize.reward_id if prize.type == "reward" else prize.value,
        expiration_date=issued.expires_at,
        description=prize.description,
        reward_type=prize.type,
        reward_id=issued.reward_id,
    )


def won_unclaimed(
    progress: Progress,
    milestone_code: str,
    prizes: int,
    member_id: str,
    unclaimed: Mapping[str, IssuedPrize],
) -> list[PrizeOut]:
    ids = (reward_id(progress, milestone_code, index, member_id) for index in range(prizes))
    return [issued_prize_out(unclaimed[i]) for i in ids if i in unclaimed]
