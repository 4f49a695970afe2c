"""Group challenges: counters sum members' contributions made while they belong."""

from __future__ import annotations

from decimal import Decimal

from loyalty_progress.contract.events import MemberEvent
from loyalty_progress.engine.challenges import progress_view
from tests.support.challenge_engine import (
    CLUB,
    Driver,
    at,
    challenge,
    member_event,
    points,
    receipt,
    triggers,
)

TEAM = challenge(
    code="team",
    scope="group",
    groups=[
        triggers(
            {"type": "earned_points", "target": 1000},
            {"type": "distinct_stores", "target": 3, "operator": "AND"},
        )
    ],
    milestones=[
        {
            "code": "done",
            "reached_when": "challenge",
            "prizes": [{"type": "points", "value": 150}],
        }
    ],
)


def join(member: str, day: int = 1, group: str = "g1") -> MemberEvent:
    return member_event("joined_group", at(day, 0), member=member, group=group)


def test_a_group_counter_sums_three_members_and_shows_each_contribution() -> None:
    driver = Driver([TEAM])
    driver.feed(join("a"), join("b"), join("c"))
    driver.feed(
        points(100, at(2), member="a"),
        points(200, at(3), member="b"),
        points(300, at(4), member="c"),
        receipt("r1", member="a", store="s1"),
        receipt("r2", member="b", store="s1"),
        receipt("r3", member="c", store="s2"),
    )
    row = driver.row("g1", code="team")
    assert row is not None
    assert row.completed is None
    view = progress_view(TEAM, row)
    earned, stores = view.groups[0].triggers
    assert earned.value == 600
    assert [(d.member_id, d.numeric_value) for d in earned.details] == [
        ("a", Decimal(100)),
        ("b", Decimal(200)),
        ("c", Decimal(300)),
    ]
    assert stores.value == 2
    assert [(d.member_id, d.string_value) for d in stores.details] == [
        ("a", "s1"),
        ("b", "s1"),
        ("c", "s2"),
    ]


def test_group_completion_rewards_every_member_of_the_group() -> None:
    driver = Driver([TEAM])
    driver.feed(join("a"), join("b"), join("c"))
    driver.feed(
        points(500, at(2), member="a"),
        points(500, at(3), member="b"),
        receipt("r1", member="a", store="s1"),
        receipt("r2", member="b", store="s2"),
    )
    assert driver.rewards == []
    driver.feed(receipt("r3", member="c", store="s3", event_id="deciding"))
    assert sorted(r.member_id for r in driver.rewards) == ["a", "b", "c"]
    assert len({r.reward_id for r in driver.rewards}) == 3
    assert driver.types().count("challenge_completed") == 3
    assert all(n.properties["group_code"] == "g1" for n in driver.notifications)
    assert driver.completions == {(CLUB, "team", 0): 1}


def test_contributions_count_only_while_the_member_belongs_to_the_group() -> None:
    driver = Driver([TEAM])
    driver.feed(
        points(100, at(2), member="a", event_id="before-join"),
        join("a", day=3),
        points(200, at(4), member="a"),
        member_event("left_group", at(5), member="a", group="g1"),
        points(400, at(6), member="a", event_id="after-leave"),
    )
    row = driver.row("g1", code="team")
    assert row is not None
    assert progress_view(TEAM, row).groups[0].triggers[0].value == 200
    reasons = {
        k[-1]: e.entry.reason
        for k, e in driver.ledger.items()
        if k[-1] in ("before-join", "after-leave")
    }
    assert reasons == {"before-join": "not_in_group", "after-leave": "not_in_group"}


def test_a_join_that_arrives_late_brings_the_earlier_contributions_in() -> None:
    driver = Driver([TEAM])
    driver.feed(points(300, at(4), member="a"))
    assert driver.row("g1", code="team") is None
    driver.feed(join("a", day=3))
    row = driver.row("g1", code="team")
    assert row is not None
    assert progress_view(TEAM, row).groups[0].triggers[0].value == 300


def test_a_member_in_two_groups_counts_for_both() -> None:
    driver = Driver([TEAM])
    driver.feed(join("a"), join("a", group="g2"))
    driver.feed(points(300, at(4), member="a"))
    for group in ("g1", "g2"):
        row = driver.row(group, code="team")
        assert row is not None
        assert progress_view(TEAM, row).groups[0].triggers[0].value == 300


def test_group_opt_in_counts_only_the_members_who_opted_in() -> None:
    definition = challenge(code="team", scope="group", enrollment="opt_in")
    driver = Driver([definition])
    driver.feed(join("a"), join("b"))
    driver.feed(member_event("opted_in", at(1, 1), member="a", challenge="team"))
    driver.feed(points(600, at(2), member="a"), points(600, at(2), member="b"))
    row = driver.row("g1", code="team")
    assert row is not None
    assert set(row.tallies) == {"a"}
    assert row.completed is None
