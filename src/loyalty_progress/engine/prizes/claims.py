"""`prize_claimed` member events -> claimed prizes, or why an event claims nothing.

The rule's four steps (docs/architecture.md): `plan` picks the batch's claims (nothing to
do for a batch without one), the store locks and loads the prizes they name, `apply`
decides, the store writes the claimed rows back.

A prize is claimed once: its claim is the earliest `prize_claimed` event for it by
`occurred_at` (then event id), whatever order the claims arrive in, so a repeated claim
(the rewards system retrying with a new event id) changes nothing and a late-arriving
earlier one moves the claim to its instant. The exact same event again is dropped
before this by the event-id dedupe. A claim of a reward id the product never issued in
the club, or that it issued to another member, is refused with the reason, for the
dead-letter stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec

from loyalty_progress.contract.events import InputEvent, MemberEvent
from loyalty_progress.contract.outputs import Prize

PrizeKey = tuple[str, str]  # (club, reward_id)


@dataclass(frozen=True, slots=True)
class PrizeClaim:
    event_id: str
    club: str
    member_id: str
    reward_id: str
    claimed_at: datetime

    @property
    def key(self) -> PrizeKey:
        return (self.club, self.reward_id)


class IssuedPrize(msgspec.Struct, frozen=True, kw_only=True):
    """A prize as issued (the `loyalty.rewards` message) and its claim, if any."""

    club: str
    reward_id: str
    member_id: str
    prize: Prize
    reason: str
    issued_at: datetime
    expires_at: datetime | None = None
    claimed_at: datetime | None = None
    claim_event_id: str | None = None

    @property
    def key(self) -> PrizeKey:
        return (self.club, self.reward_id)


@dataclass(frozen=True, slots=True)
class Refusal:
    event_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    claimed: tuple[IssuedPrize, ...]  # rows whose claim changed, in key order
    refused: tuple[Refusal, ...]


def plan(events: Sequence[InputEvent]) -> list[PrizeClaim]:
    """The batch's claims, in entry order. Other streams' batches are not looked at."""
    if not events or not isinstance(events[0], MemberEvent):
        return []
    return [
        PrizeClaim(e.event_id, e.club, e.member_id, e.reward_id, e.occurred_at)
        for e in events
        if isinstance(e, MemberEvent) and e.kind == "prize_claimed" and e.reward_id is not None
    ]


def _earlier(claim: PrizeClaim, prize: IssuedPrize) -> bool:
    if prize.claimed_at is None or prize.claim_event_id is None:
        return True
    return (claim.claimed_at, claim.event_id) < (prize.claimed_at, prize.claim_event_id)


def _refusal(claim: PrizeClaim, prize: IssuedPrize | None) -> str | None:
    if prize is None:
        return (
            f"unknown reward_id {claim.reward_id!r}: no prize with this id was issued in club "
            f"{claim.club!r} - at `$.reward_id`"
        )
    if prize.member_id != claim.member_id:
        return (
            f"reward_id {claim.reward_id!r} was issued to another member than "
            f"{claim.member_id!r} - at `$.member_id`"
        )
    return None


def apply_claims(
    prizes: Mapping[PrizeKey, IssuedPrize], claims: Sequence[PrizeClaim]
) -> ClaimOutcome:
    """Claim the loaded `prizes` (those that exist among the claims' keys)."""
    current = dict(prizes)
    changed: set[PrizeKey] = set()
    refused: list[Refusal] = []
    for claim in claims:
        prize = current.get(claim.key)
        reason = _refusal(claim, prize)
        if reason is not None or prize is None:
            refused.append(Refusal(claim.event_id, reason or ""))
            continue
        if _earlier(claim, prize):
            current[claim.key] = msgspec.structs.replace(
                prize, claimed_at=claim.claimed_at, claim_event_id=claim.event_id
            )
            changed.add(claim.key)
    return ClaimOutcome(
        claimed=tuple(current[key] for key in sorted(changed)), refused=tuple(refused)
    )
