"""What a batch must lock and load, and that every row survives a JSON round trip."""

from __future__ import annotations

import msgspec

from loyalty_progress.engine.challenges import (
    GroupRecord,
    LineSelector,
    MemberFact,
    MemberRecord,
    Participation,
    Progress,
    RowSelector,
    load_plan,
    member_keys,
    winner_keys,
)
from loyalty_progress.engine.receipts import ReceiptTransition
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

SOLO = challenge(code="solo", max_winners=5)
TEAM = challenge(code="team", scope="group")
CHILD = challenge(code="child", requires="solo")
STORES = challenge(code="stores", groups=[triggers({"type": "distinct_stores", "target": 2})])


def test_member_keys_are_the_sorted_distinct_members_of_the_batch() -> None:
    driver = Driver([SOLO])
    inputs = driver.inputs([points(1, member="b"), points(2, member="a"), points(3, member="b")])
    assert member_keys(inputs) == [(CLUB, "a"), (CLUB, "b")]


def test_the_plan_asks_for_the_member_rows_their_groups_and_locked_children() -> None:
    record = MemberRecord(
        club=CLUB,
        member_id="m1",
        facts=(
            MemberFact(
                kind="joined_group", target="g1", occurred_at=at(1), event_id="j", member_id="m1"
            ),
        ),
    )
    early, late = points(5, at(9)), points(5, at(3))
    plan = load_plan([early, late], [SOLO, TEAM, CHILD, STORES], {(CLUB, "m1"): record})
    assert plan.groups == ((CLUB, "g1"),)
    # Earlier entries only where the batch may change them: `solo` unlocks `child`.
    assert plan.participations == tuple(
        RowSelector(CLUB, code, "member", "m1", at(3)) for code in ("child", "solo")
    )
    assert plan.progress == (
        RowSelector(CLUB, "child", "member", "m1", at(3)),
        RowSelector(CLUB, "solo", "member", "m1", at(3)),
        RowSelector(CLUB, "team", "group", "g1", at(3)),
    )


def test_a_join_asks_for_the_group_and_every_group_challenge() -> None:
    join = member_event("joined_group", at(4), group="g9")
    plan = load_plan([join], [SOLO, TEAM], {})
    assert plan.groups == ((CLUB, "g9"),)
    assert plan.progress == (RowSelector(CLUB, "team", "group", "g9", at(4)),)


def test_a_refund_asks_for_the_approval_it_undoes_not_the_whole_participation() -> None:
    driver = Driver([STORES])
    driver.feed(receipt("r1", when=at(2)))
    inputs = driver.inputs([receipt("r1", status="refunded", when=at(20))])
    plan = load_plan(inputs, [STORES], {})
    transition = inputs[0]
    assert isinstance(transition, ReceiptTransition)
    assert transition.before is not None
    assert plan.lines == (LineSelector(CLUB, "stores", "m1", transition.before.event_id),)
    assert plan.participations == ()
    assert plan.progress == (RowSelector(CLUB, "stores", "member", "m1", at(2)),)


def test_winner_keys_cover_the_limited_occurrences_the_batch_can_complete() -> None:
    inputs = [points(5, at(9))]
    assert winner_keys(inputs, [SOLO, TEAM], [], []) == [(CLUB, "solo", 0)]
    assert winner_keys([], [SOLO], [(CLUB, "solo", 0, "x")], []) == [(CLUB, "solo", 0)]
    assert winner_keys(inputs, [TEAM], [], []) == []


def test_every_row_type_round_trips_through_json() -> None:
    driver = Driver([SOLO, TEAM, STORES])
    driver.feed(
        member_event("joined_group", at(1), group="g1"),
        points(1000, at(2), balance=10),
        receipt("r1", store="s1"),
        receipt("r2", store="s2", items=["a"]),
        receipt("r2", status="refunded", store="s2"),
    )
    for rows, kind in (
        (driver.members, MemberRecord),
        (driver.groups, GroupRecord),
        (driver.participations, Participation),
        (driver.progress, Progress),
    ):
        assert rows
        for row in rows.values():
            assert msgspec.json.decode(msgspec.json.encode(row), type=kind) == row
