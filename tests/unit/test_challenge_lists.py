"""The read side's list rules without services: a member without any record is listed as
a new member, a child challenge says it is locked, and the detail always has a status."""

from __future__ import annotations

from datetime import timedelta

from loyalty_progress.engine.challenges import occurrence
from loyalty_progress.engine.challenges.lists import (
    detail_status,
    listed,
    member_occurrences,
)
from loyalty_progress.engine.challenges.status import member_status
from loyalty_progress.engine.challenges.views import paytronix_out
from tests.support.challenge_engine import END, at, challenge

PARENT = challenge()
CHILD = challenge(code="bonus", requires="earn-1000")
RAFFLE = challenge(code="raffle", enrollment="opt_in")


def test_a_member_without_a_record_sees_auto_challenges_active_and_opt_in_ones_eligible() -> None:
    shown = member_occurrences([PARENT, CHILD, RAFFLE], "newbie", None, {}, at(5))
    assert [(s.definition.code, s.status, s.locked) for s in shown] == [
        ("earn-1000", "ACTIVE", False),
        ("bonus", "ACTIVE", True),
        ("raffle", "ELIGIBLE", False),
    ]
    active = [paytronix_out(s) for s in listed("active", shown, None, at(5))]
    assert [(c.code, c.is_locked, c.counters[0].value) for c in active] == [
        ("earn-1000", False, 0),
        ("bonus", True, 0),
    ]


def test_the_detail_of_an_occurrence_nobody_attempted_reads_expired_once_over() -> None:
    after = END + timedelta(days=1)
    never = member_status(RAFFLE, occurrence(RAFFLE, 0), None, None, after)
    assert never is None  # the lists leave it out of `historical`
    assert detail_status(never) == "EXPIRED"
    assert detail_status("ELIGIBLE") == "ELIGIBLE"
