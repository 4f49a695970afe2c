"""Limited challenges (`max_winners`), locked challenges (`requires`) and group milestones."""

from __future__ import annotations

import pytest

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges import (
    ChallengeState,
    WinnersNotLoaded,
    apply_challenges,
    expire_occurrences,
    is_locked,
    progress_view,
)
from tests.support.challenge_engine import CLUB, Driver, at, challenge, points, receipt, triggers

LIMITED = challenge(max_winners=2)
PARENT = challenge(code="parent", groups=[triggers({"type": "receipt_count", "target": 1})])
CHILD = challenge(code="child", requires="parent", milestones=[])


def test_only_the_first_max_winners_completers_win_and_get_the_prize() -> None:
    driver = Driver([LIMITED])
    for member in ("a", "b", "c"):
        driver.feed(points(1000, at(2), member=member))
    rows = [driver.row(m) for m in ("a", "b", "c")]
    assert [r.winner for r in rows if r] == [True, True, False]
    assert all(r is not None and r.completed is not None for r in rows)
    assert sorted(r.member_id for r in driver.rewards) == ["a", "b"]
    completed = [n for n in driver.notifications if n.type == "challenge_completed"]
    assert [(n.member_id, n.properties["winner"]) for n in completed] == [
        ("a", True),
        ("b", True),
        ("c", False),
    ]
    assert driver.winners == {(CLUB, "earn-1000", 0): 2}
    assert driver.completions == {(CLUB, "earn-1000", 0): 3}


def test_the_winner_decision_uses_the_winners_so_far_given_by_the_caller() -> None:
    event = points(1000, at(2))
    state = ChallengeState(winners={(CLUB, "earn-1000", 0): 1})
    outcome = apply_challenges(state, [event], [LIMITED], at(3))
    assert outcome.winners == {(CLUB, "earn-1000", 0): 2}
    assert len(outcome.rewards) == 1
    full = ChallengeState(winners={(CLUB, "earn-1000", 0): 2})
    outcome = apply_challenges(full, [event], [LIMITED], at(3))
    assert outcome.winners == {}
    assert outcome.rewards == []
    [row] = outcome.progress.values()
    assert row.winner is False


def test_a_limited_completion_without_loaded_winners_is_refused() -> None:
    with pytest.raises(WinnersNotLoaded):
        apply_challenges(ChallengeState(), [points(1000, at(2))], [LIMITED], at(3))


def test_a_challenge_is_locked_until_its_parent_is_completed() -> None:
    driver = Driver([PARENT, CHILD])
    driver.feed(points(600, at(2), event_id="while-locked"))
    record = driver.members.get((CLUB, "m1"))
    assert is_locked(CHILD, record, at(2))
    driver.feed(receipt("r1", when=at(3)))  # completes the parent
    record = driver.members[(CLUB, "m1")]
    assert record.unlocks == {"parent": at(3)}
    assert not is_locked(CHILD, record, at(3))
    driver.feed(points(400, at(4)))
    view = progress_view(CHILD, driver.row(code="child"))
    assert view.groups[0].triggers[0].value == 400
    entry = driver.ledger[(CLUB, "child", 0, "m1", "while-locked")].entry
    assert entry.reason == "locked"


EARN_1000 = challenge()  # seed 001's "Earn 1000 Points"
EARN_MORE = challenge(code="earn-more", requires="earn-1000", milestones=[])


@pytest.mark.parametrize("order", [[EARN_1000, EARN_MORE], [EARN_MORE, EARN_1000]])
@pytest.mark.parametrize("one_batch", [False, True])
def test_the_event_that_unlocks_a_child_does_not_count_toward_it(
    order: list[ChallengeDefinition], one_batch: bool
) -> None:
    driver = Driver(order)
    first = points(500, at(2))
    unlocking = points(500, at(3), event_id="unlocking")
    if one_batch:
        driver.feed(first, unlocking)
    else:
        driver.feed_each(first, unlocking)
    assert driver.members[(CLUB, "m1")].unlocks == {"earn-1000": at(3)}
    entry = driver.ledger[(CLUB, "earn-more", 0, "m1", "unlocking")].entry
    assert (entry.reason, entry.counted_for) == ("locked", ())
    driver.feed(points(200, at(3), event_id="same-instant"), points(300, at(4)))
    assert driver.ledger[(CLUB, "earn-more", 0, "m1", "same-instant")].entry.reason == "locked"
    assert progress_view(EARN_MORE, driver.row(code="earn-more")).groups[0].triggers[0].value == 300
    assert not is_locked(EARN_MORE, driver.members[(CLUB, "m1")], at(3))


def test_events_after_the_parent_completion_count_even_when_processed_first() -> None:
    driver = Driver([PARENT, CHILD])
    driver.feed(points(1000, at(5)))  # processed while locked...
    assert driver.row(code="child") is None
    driver.feed(receipt("r1", when=at(3)))  # ...but the parent was completed before it
    row = driver.row(code="child")
    assert row is not None
    assert row.completed is not None
    completed = [
        n.properties["challenge_code"]
        for n in driver.notifications
        if n.type == "challenge_completed"
    ]
    assert completed == ["parent", "child"]


def test_a_group_milestone_is_reached_once_with_its_own_prize() -> None:
    definition = challenge(
        groups=[
            triggers({"type": "receipt_count", "target": 2}),
            {"operator": "AND", "triggers": [{"id": 2, "type": "earned_points", "target": 500}]},
        ],
        milestones=[
            {
                "code": "shopper",
                "reached_when": {"group": 1},
                "prizes": [{"type": "points", "value": 50}],
            },
            {
                "code": "done",
                "reached_when": "challenge",
                "prizes": [{"type": "reward", "reward_id": 7}],
            },
        ],
    )
    driver = Driver([definition])
    driver.feed(receipt("r1"), receipt("r2", event_id="second"), receipt("r3"))
    assert driver.types() == ["milestone_reached", "reward_issued"]
    assert driver.notifications[0].caused_by == ("second",)
    assert driver.rewards[0].prize.value == 50
    driver.feed(points(500, at(3)))
    assert driver.types()[2:] == ["challenge_completed", "reward_issued"]
    assert driver.rewards[1].prize.reward_id == 7


def test_a_hidden_challenge_issues_its_prize_and_tells_only_of_the_reward() -> None:
    hidden = challenge(visible=False)
    driver = Driver([hidden])
    driver.feed(points(1000, at(2)))
    assert driver.types() == ["reward_issued"]
    assert len(driver.rewards) == 1


def test_notify_names_the_notifications_a_challenge_sends() -> None:
    silent = challenge(code="silent", visible=False, notify=[])
    told = challenge(code="told", visible=False, notify=["challenge_completed"])
    driver = Driver([silent, told])
    driver.feed(points(1000, at(2)))
    assert [(n.type, n.properties["challenge_code"]) for n in driver.notifications] == [
        ("challenge_completed", "told")
    ]
    assert sorted(r.reason for r in driver.rewards) == ["silent/completed", "told/completed"]


def test_a_hidden_challenge_sends_no_expiry_notice() -> None:
    hidden = challenge(visible=False)
    driver = Driver([hidden])
    driver.feed(points(10, at(2)))
    row = driver.row()
    assert row is not None
    outcome = expire_occurrences([row], [hidden], driver.now)
    assert outcome.progress[row.key].expired_at == driver.now
    assert outcome.notifications == []
