"""Exactness (docs/counter-challenges.md): any order and batching of the distinct events gives
the counters of
one clean pass in `occurred_at` order."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_progress.contract.events import InputEvent
from tests.support.challenge_engine import (
    CET,
    Driver,
    challenge,
    member_event,
    points,
    receipt,
    triggers,
    voucher,
)

MEMBER_OPT_IN = challenge(
    code="weekly-opt-in",
    enrollment="opt_in",
    recurrence="weekly",
    groups=[
        triggers(
            {"type": "earned_points", "target": 700},
            {"type": "subscribed_vouchers", "target": 2, "operator": "AND"},
            {"type": "redeemed_points", "target": 300, "operator": "OR"},
            {"type": "redeemed_vouchers", "target": 2, "operator": "AND"},
        ),
        {
            "operator": "OR",
            "triggers": [
                {"id": 5, "type": "points_balance", "target": 900},
                {"id": 6, "type": "tier", "target": 3, "operator": "AND"},
                {"id": 7, "type": "receipt_count", "target": 3, "operator": "OR"},
                {"id": 8, "type": "receipt_amount", "target": 250, "store_ids": ["s0", "s1"]},
            ],
        },
    ],
    milestones=[
        {"code": "half", "reached_when": {"group": 2}, "prizes": [{"type": "points", "value": 5}]},
        {"code": "done", "reached_when": "challenge", "prizes": [{"type": "points", "value": 9}]},
    ],
)
GROUP_AUTO = challenge(
    code="group-auto",
    scope="group",
    groups=[
        triggers(
            {"type": "earned_points", "target": 900},
            {"type": "distinct_stores", "target": 3, "operator": "OR"},
            {"type": "points_balance", "target": 2000, "operator": "OR"},
            {"type": "tier", "target": 4, "operator": "OR"},
        )
    ],
    max_winners=1,
)
MONTHLY_ITEMS = challenge(
    code="monthly-items",
    recurrence="monthly",
    starts_at=datetime(2026, 10, 15, tzinfo=CET),
    ends_at=datetime(2026, 12, 15, tzinfo=CET),
    groups=[
        triggers(
            {"type": "distinct_items", "target": 3},
            {"type": "distinct_items", "target": 2, "items": ["a", "b"], "operator": "AND"},
            {"type": "receipt_count", "target": 2, "items": ["c"], "operator": "OR"},
        )
    ],
)
DEFINITIONS = [MEMBER_OPT_IN, GROUP_AUTO, MONTHLY_ITEMS]

BASE = datetime(2026, 10, 28, tzinfo=CET)
MEMBERS = ("m1", "m2", "m3")
when = st.integers(0, 40 * 24).map(lambda h: BASE + timedelta(hours=h))
member = st.sampled_from(MEMBERS)


@st.composite
def point_events(draw: st.DrawFn) -> InputEvent:
    return points(
        draw(st.integers(1, 400)),
        draw(when),
        member=draw(member),
        kind=draw(st.sampled_from(["earned", "redeemed", "expired"])),
        balance=draw(st.none() | st.integers(-50, 1500)),
    )


@st.composite
def other_events(draw: st.DrawFn) -> InputEvent:
    kind = draw(st.sampled_from(["voucher", "tier", "opt", "group"]))
    who, at = draw(member), draw(when)
    if kind == "voucher":
        return voucher(draw(st.sampled_from(["subscribed", "redeemed"])), at, member=who)
    if kind == "tier":
        return member_event("tier_changed", at, member=who, tier=draw(st.integers(0, 5)))
    if kind == "opt":
        opt = draw(st.sampled_from(["opted_in", "opted_out"]))
        return member_event(opt, at, member=who, challenge=MEMBER_OPT_IN.code)
    move = draw(st.sampled_from(["joined_group", "left_group"]))
    return member_event(move, at, member=who, group=draw(st.sampled_from(["g1", "g2"])))


@st.composite
def receipt_lifecycles(draw: st.DrawFn, index: int) -> list[InputEvent]:
    """Status events of one receipt: one member, one event per status, any times."""
    statuses = draw(
        st.lists(
            st.sampled_from(["pending", "approved", "rejected", "refunded"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    who = draw(member)
    store = draw(st.sampled_from(["s0", "s1", "s2", "s3", None]))
    items = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=3))
    return [
        receipt(
            f"r{index}",
            status,
            draw(st.integers(0, 200)),
            draw(when),
            member=who,
            store=store,
            items=items,
        )
        for status in statuses
    ]


@st.composite
def histories(draw: st.DrawFn) -> list[InputEvent]:
    events: list[InputEvent] = draw(st.lists(point_events(), max_size=12))
    events += draw(st.lists(other_events(), max_size=14))
    for index in range(draw(st.integers(0, 5))):
        events += draw(receipt_lifecycles(index))
    return events


def clean_pass(events: list[InputEvent]) -> Driver:
    driver = Driver(DEFINITIONS)
    for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
        driver.feed(event)
    return driver


def shuffled_pass(events: list[InputEvent], cuts: list[int], load_everything: bool) -> Driver:
    driver = Driver(DEFINITIONS, load_everything=load_everything)
    seen: set[str] = set()
    fresh = []
    for event in events:  # the dedupe layer: only the first copy of an event id gets through
        if event.event_id not in seen:
            seen.add(event.event_id)
            fresh.append(event)
    bounds = sorted({0, len(fresh), *(c % (len(fresh) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        driver.feed(*fresh[start:end])
    return driver


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_order_and_batching_of_distinct_events_gives_the_clean_pass_counters(
    data: st.DataObject,
) -> None:
    events = data.draw(histories())
    order = data.draw(st.permutations(events))
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=5)) if events else []
    cuts = data.draw(st.lists(st.integers(0, 100), max_size=4))
    expected = clean_pass(events).counters()
    arrived = [*order, *duplicates]
    assert shuffled_pass(arrived, cuts, load_everything=False).counters() == expected
    assert shuffled_pass(arrived, cuts, load_everything=True).counters() == expected


@settings(max_examples=100, deadline=None)
@given(
    amounts=st.lists(st.integers(1, 600), min_size=1, max_size=8),
    data=st.data(),
)
def test_completion_and_prizes_happen_exactly_once_in_any_order(
    amounts: list[int], data: st.DataObject
) -> None:
    events: list[Any] = [
        points(a, BASE + timedelta(days=5, hours=i)) for i, a in enumerate(amounts)
    ]
    driver = Driver([challenge()])
    driver.feed_each(*data.draw(st.permutations(events)))
    completed = sum(amounts) >= 1000
    assert driver.types().count("challenge_completed") == int(completed)
    assert len(driver.rewards) == int(completed)


EARN_300 = challenge(code="earn-300", groups=[triggers({"type": "earned_points", "target": 300})])
UNLOCKED_BY_EARN_300 = challenge(
    code="after-earn-300",
    requires=EARN_300.code,
    groups=[triggers({"type": "earned_points", "target": 600})],
)
READ_AS_NEEDED = [*DEFINITIONS, EARN_300, UNLOCKED_BY_EARN_300]


def _batched(events: list[InputEvent], cuts: list[int], load_everything: bool) -> Driver:
    driver = Driver(READ_AS_NEEDED, load_everything=load_everything)
    distinct = list({e.event_id: e for e in events}.values())
    bounds = sorted({0, len(distinct), *(c % (len(distinct) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        driver.feed(*distinct[start:end])
    return driver


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reading_earlier_entries_only_where_needed_changes_nothing(data: st.DataObject) -> None:
    """A batch reads a participation's earlier entries only to change them; completions made
    without them are settled afterwards. Every row, ledger line and message is the same as
    with every participation loaded, unlocks and `satisfied_at` included."""
    events = data.draw(st.permutations(data.draw(histories())))
    cuts = data.draw(st.lists(st.integers(0, 100), max_size=4))
    lazy, full = _batched(events, cuts, False), _batched(events, cuts, True)
    assert lazy.progress == full.progress
    assert lazy.members == full.members
    assert lazy.participations == full.participations
    assert lazy.ledger == full.ledger
    assert lazy.notifications == full.notifications
    assert lazy.rewards == full.rewards
    assert lazy.completions == full.completions
