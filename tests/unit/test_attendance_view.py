"""The read view in seed 000's shape, reconstructed from the seed's own example.

`SEED_000` is the example response of seed 000 verbatim. `corrected_seed()` applies the
deliberate differences listed in docs/attendance-challenges.md, one statement each; the
view must equal the result exactly.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from loyalty_progress.engine.attendance import attendance_view
from tests.unit.test_attendance_support import EDITION, Store, at

SEED_000 = """
{
 "edition": {
  "start_date": "2026-02",
  "end_date": "2026-08",
  "stages": [
   "2026-02",
   "2026-03",
   "2026-04",
   "2026-05",
   "2026-06",
   "2026-07",
   "2026-08"
  ],
  "starts_at": "2026-02-01T09:00:00.000000+02:00",
  "ends_at": "2026-08-01T08:59:59.999999+01:00",
  "stages_streak_goal": 3,
  "monthly_attendances_goal": 4,
  "daily_value_goal": 100,
  "entries_limit": 2,
  "first_stage_reward_id": 1442920,
  "streak_reward_value": 150,
  "title": "Win in 2026",
  "rules": "string",
  "goals_description": "string",
  "rewards_description": "string",
  "membership": {
   "status": "active",
   "entries": 1,
   "first_stage_reward_granted": true,
   "notifications": [
    {
     "type": "extra_period_ending",
     "properties": {
      "days": 3
     },
     "severity": "info"
    }
   ],
   "stages_completed": 1,
   "stages_left": 2,
   "stages_pending": 1,
   "stages": {
    "current": {
     "name": "2026-05",
     "starts_at": "2026-05-01T09:00:00.000000+02:00",
     "ends_at": "2026-06-01T08:59:59.999999+02:00",
     "extra_period_ends_at": "2026-06-11T08:59:59.999999+01:00",
     "attendances_completed": 2,
     "attendances_left": 2,
     "attendances_pending": 1,
     "attendances": [
      {
       "date": "2026-05-11",
       "complete": true,
       "value": 100.0,
       "value_missing": 0.0,
       "value_pending": 0.0
      },
      {
       "date": "2026-05-12",
       "complete": true,
       "value": 15.0,
       "value_missing": 85.0,
       "value_pending": 0.0
      },
      {
       "date": "2026-05-15",
       "complete": false,
       "value": 95.21,
       "value_missing": 4.79,
       "value_pending": 4.79
      },
      {
       "date": "2026-05-21",
       "complete": false,
       "value": 83.11,
       "value_missing": 16.89,
       "value_pending": 0.0
      }
     ],
     "completed": false,
     "pending": true,
     "extended_period": true
    },
    "past": [
     {
      "name": "2026-04",
      "starts_at": "2026-04-01T09:00:00.000000+02:00",
      "ends_at": "2026-05-02T08:59:59.999999+01:00",
      "extra_period_ends_at": "2026-05-11T08:59:59.999999+01:00",
      "attendances_completed": 4,
      "attendances_pending": 0,
      "attendances_left": 0,
      "attendances": [
       {
        "date": "2026-04-11",
        "complete": true,
        "value": 100.0,
        "value_missing": 0.0,
        "value_pending": 0.0
       },
       {
        "date": "2026-04-13",
        "complete": true,
        "value": 100.0,
        "value_missing": 0.0,
        "value_pending": 0.0
       },
       {
        "date": "2026-04-15",
        "complete": true,
        "value": 100.0,
        "value_missing": 0.0,
        "value_pending": 0.0
       },
       {
        "date": "2026-04-23",
        "complete": true,
        "value": 100.0,
        "value_missing": 0.0,
        "value_pending": 0.0
       }
      ]
     }
    ],
    "future": [
     {
      "name": "2026-06",
      "starts_at": "2026-06-01T09:00:00.000000+02:00",
      "ends_at": "2026-07-01T23:59:59.999999+01:00",
      "extra_period_ends_at": "2026-07-11T08:59:59.999999+01:00",
      "attendances_completed": 0,
      "attendances_pending": 0,
      "attendances_left": 4,
      "attendances": []
     }
    ]
   }
  }
 }
}
"""


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


def stage(name: str, **fields: Any) -> dict[str, Any]:
    starts, ends, extra = {
        "2026-06": ("2026-06-01", "2026-07-01", "2026-07-11"),
        "2026-07": ("2026-07-01", "2026-08-01", "2026-08-11"),
        "2026-08": ("2026-08-01", "2026-09-01", "2026-09-11"),
    }[name]
    return {
        "name": name,
        "starts_at": f"{starts}T09:00:00.000000+02:00",
        "ends_at": f"{ends}T08:59:59.999999+02:00",
        "extra_period_ends_at": f"{extra}T08:59:59.999999+02:00",
        "attendances_completed": 0,
        "attendances_left": 4,
        "attendances_pending": 0,
        "attendances": [],
        "completed": False,
        "pending": False,
        "extended_period": False,
        **fields,
    }


def corrected_seed() -> dict[str, Any]:
    """Seed 000's example with every deliberate difference applied (numbered as in
    docs/attendance-challenges.md)."""
    seed: dict[str, Any] = json.loads(SEED_000)
    edition = seed["edition"]
    stages = edition["membership"]["stages"]
    current, (april,), (june,) = stages["current"], stages["past"], stages["future"]
    # 1. February 1st is winter time in Oslo
    edition["starts_at"] = "2026-02-01T09:00:00.000000+01:00"
    # 2. the edition ends with its last stage, August
    edition["ends_at"] = "2026-09-01T08:59:59.999999+02:00"
    # 3. June 11th is summer time
    current["extra_period_ends_at"] = "2026-06-11T08:59:59.999999+02:00"
    # 4. a complete attendance has reached the daily goal
    current["attendances"][1].update(value=100.0, value_missing=0.0)
    # 5. April ends on May 1st at the day boundary, in summer time
    april["ends_at"] = "2026-05-01T08:59:59.999999+02:00"
    april["extra_period_ends_at"] = "2026-05-11T08:59:59.999999+02:00"
    # 6. June ends on July 1st at the day boundary (09:00), in summer time
    june["ends_at"] = "2026-07-01T08:59:59.999999+02:00"
    june["extra_period_ends_at"] = "2026-07-11T08:59:59.999999+02:00"
    # 7. every stage object has the same keys
    april.update(completed=True, pending=False, extended_period=False)
    june.update(completed=False, pending=False, extended_period=False)
    # 8. `future` lists every remaining stage of the edition
    stages["future"] = [stage("2026-06"), stage("2026-07"), stage("2026-08")]
    assert stages["future"][0] == june
    return seed


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
