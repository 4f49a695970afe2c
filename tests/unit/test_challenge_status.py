"""Paytronix statuses, opt-in/opt-out and `auto` enrollment."""

from __future__ import annotations

from datetime import datetime, timedelta

from loyalty_progress.engine.challenges import (
    member_status,
    occurrence,
    progress_view,
)
from tests.support.challenge_engine import END, START, Driver, at, challenge, member_event, points

OPT_IN = challenge(enrollment="opt_in", charities=["red-cross", {"code": "unicef", "name": "U"}])


def status(driver: Driver, now: datetime) -> str | None:
    definition = driver.definitions[0]
    record = driver.members.get(("infinity-mall", "m1"))
    return member_status(definition, occurrence(definition, 0), record, driver.row(), now)


def value(driver: Driver) -> int:
    return int(progress_view(driver.definitions[0], driver.row()).groups[0].triggers[0].value)


def test_opt_in_challenge_goes_eligible_opted_in_active_completed() -> None:
    driver = Driver([OPT_IN])
    before_start = START - timedelta(days=2)
    assert status(driver, before_start) == "ELIGIBLE"
    driver.feed(member_event("opted_in", START - timedelta(days=3), challenge="earn-1000"))
    assert status(driver, before_start) == "OPTED_IN"
    assert status(driver, at(2)) == "ACTIVE"
    driver.feed(points(1000, at(3)))
    assert status(driver, at(4)) == "COMPLETED"
    assert status(driver, END + timedelta(days=1)) == "COMPLETED"


def test_an_opted_in_member_who_does_not_finish_is_expired_after_the_end() -> None:
    driver = Driver([OPT_IN])
    driver.feed(member_event("opted_in", at(2), challenge="earn-1000"), points(10, at(3)))
    assert status(driver, at(20)) == "ACTIVE"
    assert status(driver, END) == "EXPIRED"


def test_a_member_who_never_opted_in_has_no_status_after_the_end() -> None:
    driver = Driver([OPT_IN])
    assert status(driver, at(20)) == "ELIGIBLE"
    assert status(driver, END) is None


def test_events_before_opt_in_do_not_count_and_say_why() -> None:
    driver = Driver([OPT_IN])
    driver.feed(points(400, at(2), event_id="early"))
    driver.feed(member_event("opted_in", at(3), challenge="earn-1000"), points(100, at(4)))
    assert value(driver) == 100
    early = driver.ledger[("infinity-mall", "earn-1000", 0, "m1", "early")]
    assert early.entry.reason == "before_opt_in"
    assert early.entry.counted_for == ()


def test_an_opt_in_that_arrives_late_counts_the_events_after_its_instant() -> None:
    driver = Driver([OPT_IN])
    driver.feed(points(300, at(2)), points(700, at(5), event_id="after"))
    assert value(driver) == 0
    driver.feed(member_event("opted_in", at(4), challenge="earn-1000", event_id="late-opt-in"))
    assert value(driver) == 700
    assert driver.ledger[("infinity-mall", "earn-1000", 0, "m1", "after")].entry.reason == (
        "counted"
    )


def test_a_late_opt_in_that_completes_is_caused_by_the_opt_in() -> None:
    driver = Driver([OPT_IN])
    driver.feed(points(1000, at(5)))
    driver.feed(member_event("opted_in", at(4), challenge="earn-1000", event_id="late-opt-in"))
    assert driver.types() == ["challenge_completed", "reward_issued"]
    assert driver.notifications[0].caused_by == ("late-opt-in",)


def test_events_after_opt_out_do_not_count_and_the_status_is_opted_out() -> None:
    driver = Driver([OPT_IN])
    driver.feed(
        member_event("opted_in", at(2), challenge="earn-1000"),
        points(100, at(3)),
        member_event("opted_out", at(4), challenge="earn-1000"),
        points(900, at(5), event_id="after-out"),
    )
    assert value(driver) == 100
    assert driver.ledger[("infinity-mall", "earn-1000", 0, "m1", "after-out")].entry.reason == (
        "after_opt_out"
    )
    assert status(driver, at(6)) == "OPTED_OUT"
    assert driver.rewards == []


def test_an_opt_in_at_the_same_instant_counts_an_opt_out_at_the_same_instant_does_not() -> None:
    driver = Driver([OPT_IN])
    driver.feed(
        member_event("opted_in", at(2), challenge="earn-1000"),
        points(100, at(2)),
        member_event("opted_out", at(3), challenge="earn-1000"),
        points(200, at(3)),
    )
    assert value(driver) == 100


def test_auto_challenges_count_for_every_member_without_opt_in() -> None:
    driver = Driver([challenge()])
    driver.feed(points(100, at(2), member="m7"))
    assert driver.row("m7") is not None
    definition = driver.definitions[0]
    assert member_status(definition, occurrence(definition, 0), None, None, at(3)) == "ACTIVE"
    assert member_status(definition, occurrence(definition, 0), None, None, END) is None


def test_the_charity_named_on_opt_in_is_kept_and_reported_on_completion() -> None:
    driver = Driver([OPT_IN])
    driver.feed(
        member_event("opted_in", at(2), challenge="earn-1000", charity="unicef"),
        points(1000, at(3)),
    )
    [fact] = driver.members[("infinity-mall", "m1")].facts
    assert fact.charity_code == "unicef"
    assert driver.notifications[0].properties["charity_code"] == "unicef"


def test_an_opt_in_naming_a_charity_the_challenge_does_not_list_stands_without_it() -> None:
    driver = Driver([OPT_IN])
    driver.feed(
        member_event("opted_in", at(2), challenge="earn-1000", charity="no-such-charity"),
        points(1000, at(3)),
    )
    [completed] = [n for n in driver.notifications if n.type == "challenge_completed"]
    assert "charity_code" not in completed.properties
    assert value(driver) == 1000  # the opt-in itself counts


def test_a_charity_code_on_a_challenge_without_charities_is_not_passed_on() -> None:
    driver = Driver([challenge(enrollment="opt_in")])
    driver.feed(
        member_event("opted_in", at(2), challenge="earn-1000", charity="red-cross"),
        points(1000, at(3)),
    )
    [completed] = [n for n in driver.notifications if n.type == "challenge_completed"]
    assert "charity_code" not in completed.properties


def test_group_statuses_follow_progress_and_the_occurrence() -> None:
    from loyalty_progress.engine.challenges import group_status

    auto = challenge(scope="group")
    opt_in = challenge(scope="group", enrollment="opt_in")
    occ = occurrence(auto, 0)
    assert group_status(auto, occ, None, START - timedelta(days=1)) == "OPTED_IN"
    assert group_status(opt_in, occ, None, START - timedelta(days=1)) == "ELIGIBLE"
    assert group_status(auto, occ, None, at(2)) == "ACTIVE"
    assert group_status(opt_in, occ, None, at(2)) == "ELIGIBLE"
    assert group_status(auto, occ, None, END) is None
    driver = Driver([auto])
    driver.feed(
        member_event("joined_group", at(1), member="a", group="g"),
        points(10, at(2), member="a"),
    )
    row = driver.row("g")
    assert group_status(auto, occ, row, END) == "EXPIRED"
    driver.feed(points(990, at(3), member="a"))
    assert group_status(auto, occ, driver.row("g"), END) == "COMPLETED"
