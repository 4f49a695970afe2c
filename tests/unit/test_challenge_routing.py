"""The router of counter challenges (`Catalog.feeding`): an event reaches only the
challenges with a trigger of a type it can feed, so its cost does not grow with the
challenges of its club that do not take it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.engine.challenges import Catalog
from loyalty_progress.engine.challenges.catalog import near_window
from loyalty_progress.engine.challenges.inputs import challenge_inputs
from loyalty_progress.engine.challenges.occurrences import occurrence_at, occurrences
from loyalty_progress.engine.challenges.routes import utc
from loyalty_progress.engine.challenges.triggers import Source, deltas, trigger_types
from loyalty_progress.engine.receipts import apply_receipt_event
from tests.support.challenge_engine import (
    CLUB,
    challenge,
    member_event,
    points,
    receipt,
    triggers,
    voucher,
)


def _single(code: str, kind: str, target: int = 2) -> ChallengeDefinition:
    return challenge(code=code, groups=[triggers({"type": kind, "target": target})])


def test_each_source_names_the_trigger_types_it_can_feed() -> None:
    assert trigger_types(points(10)) == ("earned_points",)
    assert trigger_types(points(10, balance=300)) == ("earned_points", "points_balance")
    assert trigger_types(points(10, kind="redeemed")) == ("redeemed_points",)
    assert trigger_types(points(10, kind="expired")) == ()
    assert trigger_types(voucher("redeemed")) == ("redeemed_vouchers",)
    assert trigger_types(member_event("tier_changed", tier=2)) == ("tier",)
    assert trigger_types(member_event("opted_in", challenge="x")) == ()
    transition = apply_receipt_event(None, receipt("r1"))
    assert transition is not None
    assert set(trigger_types(transition.after)) == {
        "receipt_count",
        "receipt_amount",
        "distinct_stores",
        "distinct_items",
    }


def test_an_event_reaches_only_the_challenges_that_take_it_in_catalog_order() -> None:
    unrelated = [_single(f"vouchers-{i}", "redeemed_vouchers") for i in range(50)]
    earn = _single("earn", "earned_points", 100)
    balance = _single("balance", "points_balance", 500)
    catalog = Catalog([earn, *unrelated, balance])
    fed = catalog.feeding("infinity-mall", points(10, balance=300))
    assert [r.definition.code for r in fed] == ["earn", "balance"]
    assert [r.definition.code for r in catalog.feeding("infinity-mall", points(10))] == ["earn"]
    assert len(catalog.feeding("infinity-mall", voucher("redeemed"))) == 50
    assert catalog.feeding("infinity-mall", voucher("subscribed")) == ()
    assert catalog.feeding("other-club", points(10)) == ()


def test_inputs_no_challenge_takes_drop_out_and_facts_stay() -> None:
    catalog = Catalog([_single("vouchers", "redeemed_vouchers")])
    earned = points(10)
    opt_in = member_event("opted_in", challenge="vouchers")
    redeemed = voucher("redeemed")
    assert challenge_inputs([earned, opt_in, redeemed], [], catalog) == [opt_in, redeemed]


def test_a_receipt_reaches_only_the_challenges_whose_store_filter_admits_it() -> None:
    per_store = [
        challenge(
            code=f"store-{i}",
            groups=[triggers({"type": "receipt_count", "target": 2, "store_ids": [f"s{i}"]})],
        )
        for i in range(40)
    ]
    anywhere = _single("anywhere", "receipt_amount", 300)
    catalog = Catalog([*per_store, anywhere])
    at_s7 = apply_receipt_event(None, receipt("r1", store="s7"))
    no_store = apply_receipt_event(None, receipt("r2", store=None))
    assert at_s7 is not None
    assert no_store is not None
    fed = catalog.feeding("infinity-mall", at_s7.after)
    assert [r.definition.code for r in fed] == ["store-7", "anywhere"]
    assert [r.definition.code for r in catalog.feeding("infinity-mall", no_store.after)] == [
        "anywhere"
    ]


def test_a_route_gives_what_the_definition_gives_for_the_sources_of_its_key() -> None:
    """`Route` keeps only the triggers a routing key can feed, their item filters as sets
    and the window bounds; its deltas, occurrence and nearness are the definition's own."""
    definitions = [
        challenge(
            code="mixed",
            groups=[
                triggers(
                    {"type": "receipt_count", "target": 2, "store_ids": ["s1", "s2"]},
                    {"type": "distinct_items", "target": 3, "items": ["a", "b", "c"]},
                    {"type": "receipt_amount", "target": 500, "items": ["z"]},
                    {"type": "earned_points", "target": 100},
                    {"type": "points_balance", "target": 900},
                    {"type": "tier", "target": 3},
                )
            ],
        ),
        challenge(
            code="weekly",
            recurrence="weekly",
            groups=[triggers({"type": "earned_points", "target": 50})],
        ),
        challenge(
            code="monthly",
            recurrence="monthly",
            groups=[triggers({"type": "distinct_stores", "target": 2})],
        ),
    ]
    catalog = Catalog(definitions)
    start = definitions[0].starts_at
    moments = [start - timedelta(days=8), start - timedelta(days=1), start]
    moments += [start + timedelta(days=d, hours=5) for d in (6, 7, 30, 31, 45, 100)]
    moments += [definitions[0].ends_at, definitions[0].ends_at + timedelta(days=3)]
    sources: list[Source] = []
    for at in moments:
        sources += [points(10, at), points(10, at, balance=950), voucher("redeemed", at)]
        sources.append(member_event("tier_changed", tier=3, when=at))
        for store, items in (("s1", ["a", "q"]), ("s9", ["z"]), (None, []), ("s2", ["c", "b"])):
            state = apply_receipt_event(None, receipt("r", when=at, store=store, items=items))
            assert state is not None
            sources.append(state.after)
    for source in sources:
        for route in catalog.feeding(CLUB, source):
            at = source.occurred_at
            assert route.deltas(source) == deltas(route.definition, source)
            assert route.occurrence(at) == occurrence_at(route.definition, at)
            assert route.near(at) == near_window(route.definition, at)


def test_a_route_finds_the_occurrence_of_every_boundary_instant_in_any_offset() -> None:
    """Routes look occurrences up in a table by bisection: at every occurrence boundary
    and one microsecond either side, written in other offsets than the definition's, the
    occurrence is the one `occurrence_at` computes (monthly periods clamp the 31st)."""
    start = datetime(2026, 1, 31, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    definitions = [
        challenge(
            code=recurrence,
            recurrence=recurrence,
            starts_at=start,
            ends_at=start + timedelta(days=200, hours=3),
            groups=[triggers({"type": "earned_points", "target": 50})],
        )
        for recurrence in ("weekly", "monthly")
    ]
    catalog = Catalog(definitions)
    offsets = [timezone(timedelta(hours=h)) for h in (-11, 0, 14)]
    for definition in definitions:
        bounds = [o.starts_at for o in occurrences(definition)] + [definition.ends_at]
        assert len(bounds) > 7
        for bound in bounds:
            for step in (-1, 0, 1):
                for offset in offsets:
                    at = (bound + timedelta(microseconds=step)).astimezone(offset)
                    (route,) = [
                        r
                        for r in catalog.feeding(CLUB, points(10, at))
                        if r.definition.code == definition.code
                    ]
                    assert route.occurrence(at) == occurrence_at(definition, at)
                    # `Routes` asks in UTC (the bounds' own offset): the same answer.
                    assert route.occurrence(utc(at)) == occurrence_at(definition, at)
                    assert route.near(utc(at)) == near_window(definition, at)
