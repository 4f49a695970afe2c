"""`challenge_expired`: once, for subjects with progress, when an occurrence ends unfinished."""

from __future__ import annotations

from datetime import timedelta

from loyalty_progress.engine.challenges import expire_occurrences
from tests.support.challenge_engine import END, Driver, at, challenge, member_event, points

DEFINITION = challenge()


def test_an_unfinished_occurrence_expires_once_for_members_with_progress() -> None:
    driver = Driver([DEFINITION])
    driver.feed(points(300, at(2), member="a"), points(1000, at(3), member="b"))
    rows = list(driver.progress.values())
    assert expire_occurrences(rows, [DEFINITION], END - timedelta(seconds=1)).notifications == []

    outcome = expire_occurrences(rows, [DEFINITION], END)
    [note] = outcome.notifications
    assert (note.type, note.member_id, note.severity, note.caused_by) == (
        "challenge_expired",
        "a",
        "info",
        (),
    )
    [row] = outcome.progress.values()
    assert row.expired_at == END
    again = expire_occurrences(outcome.progress.values(), [DEFINITION], END + timedelta(days=1))
    assert again.notifications == []
    replay = expire_occurrences(rows, [DEFINITION], END + timedelta(hours=1))
    assert replay.notifications[0].notification_id == note.notification_id


def test_members_without_progress_get_no_expiry_notice() -> None:
    driver = Driver([DEFINITION])
    driver.feed(points(300, at(2), member="a", kind="redeemed"))  # nothing this trigger counts
    assert expire_occurrences(driver.progress.values(), [DEFINITION], END).notifications == []


def test_grace_delays_the_notice() -> None:
    driver = Driver([DEFINITION])
    driver.feed(points(300, at(2)))
    rows = list(driver.progress.values())
    day = timedelta(days=1)
    assert expire_occurrences(rows, [DEFINITION], END, grace=day).notifications == []
    assert len(expire_occurrences(rows, [DEFINITION], END + day, grace=day).notifications) == 1


def test_a_group_expiry_tells_the_members_of_the_group_at_the_end() -> None:
    definition = challenge(scope="group")
    driver = Driver([definition])
    driver.feed(
        member_event("joined_group", at(1), member="a", group="g"),
        member_event("joined_group", at(1), member="b", group="g"),
        points(10, at(2), member="a"),
        member_event("left_group", at(20), member="b", group="g"),
    )
    outcome = expire_occurrences(driver.progress.values(), [definition], END, groups=driver.groups)
    assert [n.member_id for n in outcome.notifications] == ["a"]
