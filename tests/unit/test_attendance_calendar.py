"""The business calendar: business dates, monthly stages, deadlines, DST offsets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_progress.engine.attendance import business_date, calendar_of, current_edition
from tests.support.attendance_engine import EDITION, edition
from tests.support.attendance_seed import at

CALENDAR = calendar_of(EDITION)


def stage_times(name: str) -> tuple[str, str, str]:
    stage = CALENDAR.stage(name)
    assert stage is not None
    return (
        CALENDAR.iso(stage.starts_at),
        CALENDAR.iso(stage.ends_at),
        CALENDAR.iso(stage.extra_period_ends_at),
    )


def test_a_purchase_before_the_day_boundary_belongs_to_the_previous_business_date() -> None:
    assert business_date(EDITION, at("2026-05-02 08:59:59.999999")) == date(2026, 5, 1)
    assert business_date(EDITION, at("2026-05-02 09:00")) == date(2026, 5, 2)


def test_the_first_hours_of_a_month_belong_to_the_previous_stage() -> None:
    stage = CALENDAR.stage_at(at("2026-05-01 08:59"))
    assert stage is not None
    assert stage.name == "2026-04"


def test_the_default_boundary_is_midnight() -> None:
    midnight = edition(day_starts_at="00:00")
    assert business_date(midnight, at("2026-05-01 23:59:59")) == date(2026, 5, 1)
    assert business_date(midnight, at("2026-05-02 00:00")) == date(2026, 5, 2)


def test_business_dates_are_local_to_the_edition_zone_not_utc() -> None:
    # 23:30 UTC on May 1 is 01:30 on May 2 in Oslo
    midnight = edition(day_starts_at="00:00")
    assert business_date(midnight, datetime(2026, 5, 1, 23, 30, tzinfo=UTC)) == date(2026, 5, 2)


def test_stage_deadlines_have_the_seed_format_and_the_summer_offset() -> None:
    assert stage_times("2026-05") == (
        "2026-05-01T09:00:00.000000+02:00",
        "2026-06-01T08:59:59.999999+02:00",
        "2026-06-11T08:59:59.999999+02:00",
    )


def test_april_ends_on_the_last_microsecond_before_may_first_at_the_boundary() -> None:
    assert stage_times("2026-04") == (
        "2026-04-01T09:00:00.000000+02:00",
        "2026-05-01T08:59:59.999999+02:00",
        "2026-05-11T08:59:59.999999+02:00",
    )


def test_a_winter_stage_uses_the_winter_offset() -> None:
    assert stage_times("2026-02") == (
        "2026-02-01T09:00:00.000000+01:00",
        "2026-03-01T08:59:59.999999+01:00",
        "2026-03-11T08:59:59.999999+01:00",
    )


def test_the_stage_spanning_the_spring_change_starts_in_winter_and_ends_in_summer_time() -> None:
    assert stage_times("2026-03") == (
        "2026-03-01T09:00:00.000000+01:00",
        "2026-04-01T08:59:59.999999+02:00",
        "2026-04-11T08:59:59.999999+02:00",
    )


def test_the_stage_spanning_the_autumn_change_ends_in_winter_time() -> None:
    autumn = calendar_of(edition(start_date="2026-10", end_date="2026-10"))
    (stage,) = autumn.stages
    assert autumn.iso(stage.starts_at) == "2026-10-01T09:00:00.000000+02:00"
    assert autumn.iso(stage.ends_at) == "2026-11-01T08:59:59.999999+01:00"
    # 31 days of wall clock, 31 days and one hour of real time
    assert stage.ends_before - stage.starts_at == timedelta(days=31, hours=1)


def test_business_dates_keep_their_wall_clock_boundary_across_both_dst_changes() -> None:
    assert business_date(EDITION, at("2026-03-29 08:59")) == date(2026, 3, 28)
    assert business_date(EDITION, at("2026-03-29 09:00")) == date(2026, 3, 29)
    assert business_date(EDITION, at("2026-10-25 08:59")) == date(2026, 10, 24)
    assert business_date(EDITION, at("2026-10-25 09:00")) == date(2026, 10, 25)
    # the business dates holding the 02:00/03:00 changes last 23 and 25 hours
    spring, autumn = date(2026, 3, 28), date(2026, 10, 24)
    assert CALENDAR.boundary(spring + timedelta(1)) - CALENDAR.boundary(spring) == timedelta(
        hours=23
    )
    assert CALENDAR.boundary(autumn + timedelta(1)) - CALENDAR.boundary(autumn) == timedelta(
        hours=25
    )


def test_a_boundary_inside_the_spring_gap_is_the_instant_clocks_jump() -> None:
    night = calendar_of(edition(day_starts_at="02:30"))
    # 02:30 does not exist on 2026-03-29 in Oslo: clocks go from 02:00 to 03:00
    assert night.iso(night.boundary(date(2026, 3, 29))) == "2026-03-29T03:00:00.000000+02:00"
    assert night.business_date(at("2026-03-29T01:59:59+01:00")) == date(2026, 3, 28)
    assert night.business_date(at("2026-03-29T03:00:00+02:00")) == date(2026, 3, 29)


def test_a_boundary_inside_the_autumn_fold_is_its_first_occurrence() -> None:
    night = calendar_of(edition(day_starts_at="02:30"))
    assert night.iso(night.boundary(date(2026, 10, 25))) == "2026-10-25T02:30:00.000000+02:00"
    # the second 02:15 (winter time) is already inside business date October 25
    assert night.business_date(at("2026-10-25T02:15:00+01:00")) == date(2026, 10, 25)


def test_the_edition_runs_from_its_first_stage_start_to_its_last_stage_end() -> None:
    assert CALENDAR.iso(CALENDAR.starts_at) == "2026-02-01T09:00:00.000000+01:00"
    assert CALENDAR.iso(CALENDAR.ends_at) == "2026-09-01T08:59:59.999999+02:00"
    assert [s.name for s in CALENDAR.stages] == [f"2026-0{m}" for m in range(2, 9)]


def test_stages_do_not_exist_outside_the_edition() -> None:
    assert CALENDAR.stage_at(at("2026-02-01 08:59")) is None
    assert CALENDAR.stage_at(at("2026-09-01 09:00")) is None


def test_stages_cross_a_year_end() -> None:
    winter = calendar_of(edition(start_date="2026-11", end_date="2027-02"))
    assert [s.name for s in winter.stages] == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert winter.iso(winter.stages[1].ends_at) == "2027-01-01T08:59:59.999999+01:00"


def test_the_notice_instant_is_notice_days_before_the_extra_period_ends() -> None:
    stage = CALENDAR.stage("2026-05")
    assert stage is not None
    assert stage.notice_at is not None
    assert CALENDAR.iso(stage.notice_at) == "2026-06-08T09:00:00.000000+02:00"


def test_no_notice_without_notice_days_or_extra_period() -> None:
    quiet = calendar_of(edition(extra_period_notice_days=0))
    none = calendar_of(edition(extra_period_days=0, extra_period_notice_days=0))
    assert all(s.notice_at is None for s in quiet.stages + none.stages)
    assert none.stages[0].closes_at == none.stages[0].ends_before


def test_the_current_edition_of_a_club_includes_the_last_extra_period() -> None:
    editions = [EDITION, edition(code="other-club", club="elsewhere")]
    assert current_edition(editions, "infinity-mall", at("2026-05-20 12:00")) is EDITION
    assert current_edition(editions, "infinity-mall", at("2026-09-10 12:00")) is EDITION
    assert current_edition(editions, "infinity-mall", at("2026-09-11 09:00")) is None
    assert current_edition(editions, "infinity-mall", at("2026-02-01 08:59")) is None
    assert current_edition(editions, "nobody", at("2026-05-20 12:00")) is None


def test_when_editions_overlap_the_later_started_one_is_current() -> None:
    later = edition(code="win-in-2026-b", start_date="2026-09", end_date="2026-12")
    assert current_edition([EDITION, later], "infinity-mall", at("2026-09-05 12:00")) is later


ZONES = st.sampled_from(["Europe/Oslo", "America/Santiago", "Australia/Lord_Howe", "UTC"])
DAY_STARTS = st.sampled_from(["00:00", "02:30", "09:00", "23:30"])


@settings(max_examples=300, deadline=None)
@given(
    zone=ZONES,
    day_start=DAY_STARTS,
    instant=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
)
def test_every_instant_lies_between_its_business_date_boundaries(
    zone: str, day_start: str, instant: datetime
) -> None:
    calendar = calendar_of(edition(timezone=zone, day_starts_at=day_start))
    day = calendar.business_date(instant)
    assert calendar.boundary(day) <= instant < calendar.boundary(day + timedelta(days=1))


@pytest.mark.parametrize("zone", ["Europe/Oslo", "America/Santiago", "Australia/Lord_Howe"])
def test_boundaries_always_move_forward(zone: str) -> None:
    calendar = calendar_of(edition(timezone=zone, day_starts_at="00:00"))
    day = date(2026, 1, 1)
    while day < date(2027, 12, 31):
        assert calendar.boundary(day) < calendar.boundary(day + timedelta(days=1))
        day += timedelta(days=1)


@pytest.mark.parametrize("offset_hours", [-11, 0, 5.5, 14])
def test_the_last_microsecond_before_every_boundary_is_the_previous_business_date(
    offset_hours: float,
) -> None:
    """The precomputed search and the zone's rules agree at every boundary of the edition,
    whatever the offset an instant is written in."""
    zone = timezone(timedelta(hours=offset_hours))
    first = CALENDAR.stages[0].first_date - timedelta(days=1)
    last = CALENDAR.stages[-1].close_date
    for number in range((last - first).days + 1):
        day = first + timedelta(days=number)
        start = CALENDAR.boundary(day).astimezone(zone)
        assert CALENDAR.business_date(start) == day
        assert CALENDAR.business_date(start - timedelta(microseconds=1)) == day - timedelta(1)
