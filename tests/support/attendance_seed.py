"""Seed 000 of the attendance challenge: its edition as written in a definitions file,
and its example response, verbatim and with the deliberate differences listed in
docs/attendance-challenges.md applied. The seed lives in Oslo time, as does `at`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

# The edition of seed 000 as a definitions file holds it.
RAW_EDITION: dict[str, Any] = {
    "kind": "attendance_edition",
    "code": "win-in-2026",
    "club": "infinity-mall",
    "title": "Win in 2026",
    "rules": "string",
    "goals_description": "string",
    "rewards_description": "string",
    "timezone": "Europe/Oslo",
    "day_starts_at": "09:00",
    "start_date": "2026-02",
    "end_date": "2026-08",
    "monthly_attendances_goal": 4,
    "daily_value_goal": 100,
    "stages_streak_goal": 3,
    "entries_limit": 2,
    "extra_period_days": 10,
    "extra_period_notice_days": 3,
    "first_stage_reward_id": 1442920,
    "streak_reward_value": 150,
}

OSLO = ZoneInfo("Europe/Oslo")


def at(text: str) -> datetime:
    """An aware instant; `2026-05-11 12:00` without an offset is Oslo local time."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=OSLO)


# The example response of seed 000, verbatim (mistakes included: see corrected_seed).
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


def stage(name: str, **fields: Any) -> dict[str, Any]:
    """A stage of the corrected seed with nothing attended yet (June to August 2026)."""
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
