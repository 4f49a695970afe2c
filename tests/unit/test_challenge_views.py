"""What the read side shows of a subject's progress: when a completion happened, each
trigger's status, and how limited challenges appear once their prizes are all won."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty_progress.engine.challenges import occurrence
from loyalty_progress.engine.challenges.lists import Shown
from loyalty_progress.engine.challenges.views import challenge_out, paytronix_out
from tests.support.challenge_engine import (
    CLUB,
    Driver,
    at,
    challenge,
    member_event,
    points,
    triggers,
)

GAUGES = challenge(
    code="gold-and-rich",
    groups=[
        triggers(
            {"type": "points_balance", "target": 1000},
            {"type": "tier", "target": 3, "operator": "AND"},
        )
    ],
)


@dataclass(frozen=True)
class Counts:
    people_finished: int
    winners: int


def _shown(driver: Driver, member: str = "m1") -> Shown:
    definition = driver.definitions[0]
    return Shown(
        definition, occurrence(definition, 0), driver.row(member, definition.code), "COMPLETED"
    )


def test_completed_at_of_an_and_over_gauges_is_the_reading_that_made_it_true() -> None:
    driver = Driver([GAUGES])
    # The tier reading (Nov 5) is processed first; the balance reading dated earlier
    # (Nov 3) arrives later and completes the challenge, but the condition only held
    # from the tier reading on.
    driver.feed(member_event("tier_changed", at(5), tier=3))
    driver.feed(points(10, at(3), balance=1200, event_id="balance"))
    row = driver.row(code="gold-and-rich")
    assert row is not None
    assert row.completed is not None
    assert row.completed.event_id == "balance"
    assert paytronix_out(_shown(driver)).completed_at == at(5)


def test_completed_at_is_the_completing_event_when_events_come_in_order() -> None:
    driver = Driver([GAUGES])
    driver.feed(points(10, at(3), balance=1200), member_event("tier_changed", at(5), tier=3))
    assert paytronix_out(_shown(driver)).completed_at == at(5)


def test_each_trigger_says_whether_it_is_completed() -> None:
    driver = Driver([GAUGES])
    driver.feed(points(10, at(3), balance=1200))
    item = challenge_out(_shown(driver), "m1", None, None, at(10))
    statuses = [t.trigger_status for g in item.group_progress for t in g.triggers_progress]
    assert statuses == ["Completed", "InProgress"]


def test_a_member_who_completed_a_full_limited_challenge_without_winning_keeps_seeing_it() -> None:
    limited = challenge(max_winners=1)
    driver = Driver([limited])
    driver.feed(points(1000, at(2), member="a"), points(1000, at(3), member="b"))
    driver.feed(points(100, at(4), member="c"))
    counts = Counts(people_finished=2, winners=1)
    shown = {m: _shown(driver, m) for m in ("a", "b", "c")}
    assert [m for m, s in shown.items() if s.all_claimed(counts)] == ["c"]
    loser = challenge_out(shown["b"], "b", None, counts, at(10))
    assert (loser.completed, loser.people_finished) == (True, 1)
    assert loser.prizes[0].prizes == []  # nothing left to win
    row = driver.row("b")
    assert row is not None
    assert row.winner is False
    assert driver.completions == {(CLUB, "earn-1000", 0): 2}


def test_people_finished_of_an_unlimited_challenge_counts_every_completion() -> None:
    driver = Driver([challenge()])
    driver.feed(points(1000, at(2)))
    item = challenge_out(_shown(driver), "m1", None, Counts(3, 0), at(10))
    assert item.people_finished == 3
