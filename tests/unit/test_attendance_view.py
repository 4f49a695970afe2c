"""The read view in seed 000's shape, reconstructed from the seed's own example.

`SEED_000` (tests/support/attendance_seed.py) is the example response of seed 000 verbatim.
`corrected_seed()` applies the deliberate differences listed in
docs/attendance-challenges.md, one statement each; the view must equal the result exactly.
"""

from __future__ import annotations

import json

import msgspec

from loyalty_progress.engine.attendance import attendance_view
from tests.support.attendance_engine import EDITION, Store
from tests.support.attendance_seed import at, corrected_seed


def seed_member() -> Store:
    """The member of seed 000: four complete days in April; in May days 11 and 12
    complete, 95.21 approved + 4.79 pending on the 15th, 83.11 on the 21st."""
    store = Store()
    for day in (11, 13, 15, 23):
        store.receipt(f"apr-{day}", "approved", 100, f"2026-04-{day} 12:00")
    store.receipt("may-11", "approved", 100, "2026-05-11 12:00")
    store.receipt("may-12a", "approved", 15, "2026-05-12 10:00")
    store.receipt("may-12b", "approved", 85, "2026-05-12 17:00")
    store.receipt("may-15a", "approved", "95.21", "2026-05-15 12:00")
    store.receipt("may-15b", "pending", "4.79", "2026-05-15 18:00")
    store.receipt("may-21", "approved", "83.11", "2026-05-21 12:00")
    return store


def test_seed_000_reconstructed_in_mays_extra_period_equals_the_corrected_seed() -> None:
    """The seed shows May pending in its extended period with a 3-day notice: that is
    the state between June 8 09:00 and June 9 08:59, Oslo time."""
    assert seed_member().view("2026-06-08 12:00") == corrected_seed()


def test_seed_000_member_viewed_inside_may() -> None:
    membership = seed_member().view("2026-05-25 12:00")["edition"]["membership"]
    current = membership["stages"]["current"]
    assert current["name"] == "2026-05"
    assert [
        (a["date"], a["complete"], a["value"], a["value_missing"], a["value_pending"])
        for a in current["attendances"]
    ] == [
        ("2026-05-11", True, 100.0, 0.0, 0.0),
        ("2026-05-12", True, 100.0, 0.0, 0.0),
        ("2026-05-15", False, 95.21, 4.79, 4.79),
        ("2026-05-21", False, 83.11, 16.89, 0.0),
    ]
    assert (
        current["attendances_completed"],
        current["attendances_pending"],
        current["attendances_left"],
    ) == (2, 1, 2)
    assert (current["completed"], current["pending"], current["extended_period"]) == (
        False,
        False,
        False,
    )
    (april,) = membership["stages"]["past"]
    assert (april["name"], april["completed"], april["attendances_completed"]) == (
        "2026-04",
        True,
        4,
    )
    assert [s["name"] for s in membership["stages"]["future"]] == ["2026-06", "2026-07", "2026-08"]
    assert {k: v for k, v in membership.items() if k != "stages"} == {
        "status": "active",
        "entries": 1,
        "first_stage_reward_granted": True,
        "notifications": [],
        "stages_completed": 1,
        "stages_left": 2,
        "stages_pending": 0,
    }


def test_a_member_who_never_attended_has_no_membership() -> None:
    view = Store().view("2026-05-25 12:00")
    assert view["edition"]["membership"] is None
    assert view["edition"]["stages"] == corrected_seed()["edition"]["stages"]


def test_the_notice_counts_the_days_left_down() -> None:
    store = seed_member()
    days = [
        store.view(f"2026-06-{day} 12:00")["edition"]["membership"]["notifications"]
        for day in ("07", "08", "09", "10")
    ]
    assert [[n["properties"]["days"] for n in note] for note in days] == [[], [3], [2], [1]]


def test_a_stage_completed_in_its_extra_period_leaves_current_to_the_running_stage() -> None:
    store = seed_member()
    store.receipt("may-15b", "approved", "4.79", "2026-05-15 18:00", now="2026-06-09 12:00")
    store.receipt("may-21b", "approved", "16.89", "2026-05-21 19:00", now="2026-06-09 12:00")
    membership = store.view("2026-06-09 12:05")["edition"]["membership"]
    assert membership["stages"]["current"]["name"] == "2026-06"
    assert [s["name"] for s in membership["stages"]["past"]] == ["2026-04", "2026-05"]
    assert membership["stages"]["past"][1]["completed"] is True
    assert (membership["stages_completed"], membership["stages_left"]) == (2, 1)
    assert (membership["stages_pending"], membership["notifications"]) == (0, [])


def test_pending_value_is_no_longer_shown_once_the_stage_is_closed() -> None:
    store = seed_member()
    membership = store.view("2026-06-11 09:00")["edition"]["membership"]
    (_april, may) = membership["stages"]["past"]
    assert may["name"] == "2026-05"
    assert (may["completed"], may["pending"], may["attendances_pending"]) == (False, False, 0)
    assert [a["value_pending"] for a in may["attendances"]] == [0.0, 0.0, 0.0, 0.0]
    assert membership["stages"]["current"]["name"] == "2026-06"
    assert (membership["entries"], membership["stages_completed"]) == (2, 0)


def test_a_day_with_only_pending_value_is_shown_while_it_can_still_count() -> None:
    store = Store()
    store.receipt("p", "pending", 30, "2026-05-11 12:00")
    current = store.view("2026-05-12 12:00")["edition"]["membership"]["stages"]["current"]
    assert current["attendances"] == [
        {
            "date": "2026-05-11",
            "complete": False,
            "value": 0.0,
            "value_missing": 100.0,
            "value_pending": 30.0,
        }
    ]
    closed = store.view("2026-06-11 09:00")["edition"]["membership"]["stages"]["past"][0]
    assert closed["attendances"] == []


def test_value_is_shown_capped_at_the_daily_goal() -> None:
    store = Store()
    store.receipt("big", "approved", "250.50", "2026-05-11 12:00")
    store.receipt("more", "pending", 10, "2026-05-11 13:00")
    (day,) = store.view("2026-05-12 12:00")["edition"]["membership"]["stages"]["current"][
        "attendances"
    ]
    assert (day["value"], day["value_missing"], day["value_pending"]) == (100.0, 0.0, 0.0)


def test_an_ended_membership_says_so() -> None:
    store = Store()
    store.receipt("x", "approved", 10, "2026-03-10 12:00")
    membership = store.view("2026-05-20 12:00")["edition"]["membership"]
    assert (membership["status"], membership["entries"]) == ("ended", 2)
    assert [s["name"] for s in membership["stages"]["past"]] == ["2026-03", "2026-04"]


def test_the_view_encodes_to_the_same_json_as_its_rendering() -> None:
    store, now = seed_member(), at("2026-06-08 12:00")
    view = attendance_view(EDITION, store.membership, store.days.values(), now)
    assert json.loads(msgspec.json.encode(view)) == store.view(now)
