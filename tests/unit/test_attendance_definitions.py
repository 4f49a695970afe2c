"""Attendance edition definitions: every field of docs/attendance-challenges.md, validated with
clear errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from loyalty_progress.definitions.attendance import AttendanceEdition, parse_edition
from loyalty_progress.definitions.errors import DefinitionError
from tests.support.attendance_seed import RAW_EDITION

EXAMPLE_YAML = """
- kind: attendance_edition
  code: win-in-2026
  club: infinity-mall
  title: Win in 2026
  rules: Shop for at least 100 on 4 different days each month.
  goals_description: Complete 3 months in a row.
  rewards_description: A reward after your first month, 150 points for a 3-month streak.
  timezone: Europe/Oslo
  day_starts_at: "00:00"
  start_date: 2026-02
  end_date: 2026-08
  monthly_attendances_goal: 4
  daily_value_goal: 100
  stages_streak_goal: 3
  entries_limit: 2
  extra_period_days: 10
  extra_period_notice_days: 3
  first_stage_reward_id: 1442920
  streak_reward_value: 150
"""


def error(**changes: Any) -> DefinitionError:
    raw = {**RAW_EDITION, **changes}
    raw = {k: v for k, v in raw.items() if v is not ...}
    with pytest.raises(DefinitionError) as caught:
        parse_edition(raw, "defs/editions.yaml")
    return caught.value


def test_the_example_definition_file_parses_to_every_field() -> None:
    (raw,) = yaml.safe_load(EXAMPLE_YAML)
    edition = parse_edition(raw, "examples/definitions.yaml")
    assert edition == AttendanceEdition(
        code="win-in-2026",
        club="infinity-mall",
        title="Win in 2026",
        rules="Shop for at least 100 on 4 different days each month.",
        goals_description="Complete 3 months in a row.",
        rewards_description="A reward after your first month, 150 points for a 3-month streak.",
        timezone="Europe/Oslo",
        day_starts_at="00:00",
        start_date="2026-02",
        end_date="2026-08",
        monthly_attendances_goal=4,
        daily_value_goal=Decimal(100),
        stages_streak_goal=3,
        entries_limit=2,
        extra_period_days=10,
        extra_period_notice_days=3,
        first_stage_reward_id=1442920,
        streak_reward_value=150,
    )


def test_shared_example_file_matches_the_copy_in_this_test() -> None:
    shared = Path("/work/shared/examples/definitions.yaml")
    if not shared.exists():
        pytest.skip("the shared example file is not on this machine")
    raws = [d for d in yaml.safe_load(shared.read_text()) if d["kind"] == "attendance_edition"]
    assert [parse_edition(r, str(shared)) for r in raws] == [
        parse_edition(yaml.safe_load(EXAMPLE_YAML)[0], "copy")
    ]


def test_optional_fields_default_to_midnight_three_notice_days_and_empty_texts() -> None:
    raw = {k: v for k, v in RAW_EDITION.items() if k not in ("day_starts_at", "rules")}
    del raw["extra_period_notice_days"]
    edition = parse_edition(raw, "x.yaml")
    assert (edition.day_starts_at, edition.extra_period_notice_days, edition.rules) == (
        "00:00",
        3,
        "",
    )


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [("10:00", "10:00"), ("9:30", "09:30"), ("19:00", "19:00"), ("23:59", "23:59")],
)
def test_unquoted_day_starts_at_that_yaml_reads_as_base_60_is_accepted(
    yaml_text: str, expected: str
) -> None:
    value = yaml.safe_load(f"day_starts_at: {yaml_text}")["day_starts_at"]
    assert isinstance(value, int)  # PyYAML (YAML 1.1) sexagesimal: 19:00 -> 1140
    assert parse_edition({**RAW_EDITION, "day_starts_at": value}, "x").day_starts_at == expected


def test_unquoted_day_starts_at_with_a_leading_zero_stays_a_string_in_yaml() -> None:
    value = yaml.safe_load("day_starts_at: 09:00")["day_starts_at"]
    assert parse_edition({**RAW_EDITION, "day_starts_at": value}, "x").day_starts_at == "09:00"


def test_quoted_day_starts_at_is_normalized_to_hh_mm() -> None:
    assert parse_edition({**RAW_EDITION, "day_starts_at": "9:05"}, "x").day_starts_at == "09:05"


def test_day_starts_at_with_seconds_is_rejected_with_a_hint_to_quote_it() -> None:
    value = yaml.safe_load("day_starts_at: 10:00:00")["day_starts_at"]  # 36000
    problem = error(day_starts_at=value)
    assert problem.field == "day_starts_at"
    assert 'quote it: day_starts_at: "09:00"' in str(problem)


@pytest.mark.parametrize("value", ["24:00", "12:60", "09:00:00", "noon", "", True, 1.5, -1])
def test_day_starts_at_must_be_a_local_time(value: object) -> None:
    assert error(day_starts_at=value).field == "day_starts_at"


@pytest.mark.parametrize("value", ["Europe/Atlantis", "", "+02:00", 2])
def test_time_zone_must_be_an_iana_name(value: object) -> None:
    problem = error(timezone=value)
    assert problem.field == "timezone"


def test_error_names_the_file_the_edition_and_the_field() -> None:
    assert str(error(timezone="Mars/Olympus")) == (
        "defs/editions.yaml: definition `win-in-2026`: field `timezone`: "
        "must be an IANA time zone such as Europe/Oslo, got 'Mars/Olympus'"
    )


@pytest.mark.parametrize("field", ["start_date", "end_date"])
@pytest.mark.parametrize("value", ["2026-13", "2026-2", "2026/02", "2026-02-01", 2026])
def test_months_must_be_yyyy_mm(field: str, value: object) -> None:
    assert error(**{field: value}).field == field


def test_a_full_date_read_by_yaml_is_rejected_as_not_a_month() -> None:
    value = yaml.safe_load("start_date: 2026-02-01")["start_date"]
    assert "YYYY-MM" in str(error(start_date=value))


def test_yaml_keeps_an_unquoted_month_as_a_string() -> None:
    assert yaml.safe_load("start_date: 2026-02")["start_date"] == "2026-02"


def test_end_month_must_not_come_before_start_month() -> None:
    problem = error(start_date="2026-08", end_date="2026-02")
    assert problem.field == "end_date"


def test_a_single_month_edition_is_valid() -> None:
    edition = parse_edition({**RAW_EDITION, "start_date": "2026-05", "end_date": "2026-05"}, "x")
    assert edition.start_date == edition.end_date == "2026-05"


@pytest.mark.parametrize(
    "field",
    [
        "monthly_attendances_goal",
        "daily_value_goal",
        "stages_streak_goal",
        "entries_limit",
        "first_stage_reward_id",
        "streak_reward_value",
    ],
)
@pytest.mark.parametrize("value", [0, -1, True, "many", None])
def test_goals_limits_and_rewards_must_be_positive(field: str, value: object) -> None:
    assert error(**{field: value}).field == field


def test_daily_value_goal_accepts_decimals_as_numbers_or_strings() -> None:
    assert parse_edition({**RAW_EDITION, "daily_value_goal": "99.5"}, "x").daily_value_goal == (
        Decimal("99.5")
    )
    assert parse_edition({**RAW_EDITION, "daily_value_goal": 99.5}, "x").daily_value_goal == (
        Decimal("99.5")
    )


def test_monthly_goal_beyond_the_days_of_february_is_rejected() -> None:
    assert error(monthly_attendances_goal=29).field == "monthly_attendances_goal"


def test_extra_period_may_be_zero_but_not_longer_than_28_days() -> None:
    edition = parse_edition(
        {**RAW_EDITION, "extra_period_days": 0, "extra_period_notice_days": 0}, "x"
    )
    assert edition.extra_period_days == 0
    assert error(extra_period_days=29).field == "extra_period_days"
    assert error(extra_period_days=-1).field == "extra_period_days"


def test_notice_days_cannot_exceed_the_extra_period() -> None:
    problem = error(extra_period_days=2, extra_period_notice_days=3)
    assert problem.field == "extra_period_notice_days"


@pytest.mark.parametrize("field", ["code", "club", "title", "timezone", "start_date"])
def test_required_fields_are_named_when_missing(field: str) -> None:
    problem = error(**{field: ...})
    assert (problem.field, problem.problem) == (field, "is required")


def test_a_misspelled_field_is_rejected_rather_than_ignored() -> None:
    problem = error(daily_value_gaol=100)
    assert (problem.field, problem.problem) == (
        "daily_value_gaol",
        "is not a field of attendance_edition",
    )


def test_an_edition_without_a_code_is_named_by_position_in_the_error() -> None:
    problem = error(code=...)
    assert problem.code is None
    assert problem.field == "code"
