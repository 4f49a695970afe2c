"""Claims of issued prizes (pure): a prize is claimed once, at its earliest claim,
whatever order the claims arrive in; a claim of an unknown prize or of another member's
prize is refused with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from loyalty_progress.contract.events import BadInput, InputStream, MemberEvent, decode_body
from loyalty_progress.contract.outputs import Prize
from loyalty_progress.engine.prizes.claims import IssuedPrize, PrizeClaim, apply_claims, plan

ISSUED = IssuedPrize(
    club="c",
    reward_id="rw-1",
    member_id="m1",
    prize=Prize(type="voucher", value="BURGER40"),
    reason="earn-1000/completed",
    issued_at=datetime(2026, 11, 20, tzinfo=UTC),
)
PRIZES = {ISSUED.key: ISSUED}


def claim(event_id: str, day: int, reward_id: str = "rw-1", member: str = "m1") -> PrizeClaim:
    return PrizeClaim(event_id, "c", member, reward_id, datetime(2026, 11, day, tzinfo=UTC))


def claimed_by(*claims: PrizeClaim) -> tuple[str | None, datetime | None]:
    (prize,) = apply_claims(PRIZES, claims).claimed
    return prize.claim_event_id, prize.claimed_at


def test_a_claim_marks_the_prize_claimed_at_the_claim_instant() -> None:
    assert claimed_by(claim("e1", 21)) == ("e1", datetime(2026, 11, 21, tzinfo=UTC))


def test_the_earliest_claim_wins_in_any_arrival_order() -> None:
    first, later = claim("e1", 21), claim("e2", 25)
    assert claimed_by(first, later) == claimed_by(later, first) == ("e1", first.claimed_at)
    already = {ISSUED.key: apply_claims(PRIZES, [first]).claimed[0]}
    assert apply_claims(already, [later]).claimed == ()  # a repeated claim changes nothing


def test_unknown_and_foreign_prizes_are_refused_with_the_reason() -> None:
    outcome = apply_claims(
        PRIZES, [claim("e1", 21, reward_id="nope"), claim("e2", 21, member="m2")]
    )
    assert outcome.claimed == ()
    reasons = {r.event_id: r.reason for r in outcome.refused}
    assert reasons["e1"] == (
        "unknown reward_id 'nope': no prize with this id was issued in club 'c' - at `$.reward_id`"
    )
    assert reasons["e2"] == (
        "reward_id 'rw-1' was issued to another member than 'm2' - at `$.member_id`"
    )


def test_only_prize_claimed_member_events_are_claims() -> None:
    common = {"club": "c", "member_id": "m1", "occurred_at": "2026-11-21T12:00:00Z"}
    bodies = [
        {**common, "event_id": "a", "kind": "prize_claimed", "reward_id": "rw-1"},
        {**common, "event_id": "b", "kind": "opted_in", "challenge_code": "x"},
    ]
    events = [decode_body(InputStream.MEMBERS, json.dumps(b).encode()) for b in bodies]
    assert all(isinstance(e, MemberEvent) for e in events)
    claims = plan([e for e in events if isinstance(e, MemberEvent)])
    assert [(c.event_id, c.reward_id) for c in claims] == [("a", "rw-1")]
    assert plan([]) == []


def test_a_claim_without_reward_id_is_bad_input() -> None:
    body = (
        b'{"event_id": "e", "club": "c", "member_id": "m1", '
        b'"occurred_at": "2026-11-21T12:00:00Z", "kind": "prize_claimed"}'
    )
    decoded = decode_body(InputStream.MEMBERS, body)
    assert decoded == BadInput(
        "invalid members event: kind `prize_claimed` requires `reward_id` - at `$.reward_id`"
    )
