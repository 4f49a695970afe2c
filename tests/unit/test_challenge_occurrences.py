"""Recurring challenges: each week or month is an occurrence with fresh counters."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from loyalty_progress.engine.challenges import occurrence_at, occurrences, progress_view
from tests.support.challenge_engine import CET, CLUB, Driver, at, challenge, points

MONTHLY = challenge(
    recurrence="monthly",
    starts_at=datetime(2026, 1, 31, 10, 0, tzinfo=CET),
    ends_at=datetime(2026, 6, 15, tzinfo=CET),
)


def test_monthly_periods_start_on_the_same_day_and_time_clamped_to_short_months() -> None:
    starts = [(o.index, o.starts_at, o.ends_at) for o in occurrences(MONTHLY)]
    assert [s[1].date().isoformat() for s in starts] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]
    assert all(s[1].hour == 10 and s[1].utcoffset() == timedelta(hours=1) for s in starts)
    assert [s[0] for s in starts] == [0, 1, 2, 3, 4]
    assert all(a[2] == b[1] for a, b in itertools.pairwise(starts))
    assert starts[-1][2] == MONTHLY.ends_at  # the last period is cut at ends_at


def test_periods_use_the_starts_at_offset_not_the_event_offset() -> None:
    # 09:30 UTC on Feb 28 is 10:30 in +01:00: already the second period.
    event = datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    found = occurrence_at(MONTHLY, event)
    assert found is not None
    assert found.index == 1
    just_before = datetime(2026, 2, 28, 8, 59, tzinfo=UTC)
    found = occurrence_at(MONTHLY, just_before)
    assert found is not None
    assert found.index == 0


def test_weekly_periods_are_seven_days_from_starts_at() -> None:
    weekly = challenge(recurrence="weekly")  # Sun Nov 1 - Tue Dec 1
    found = [(o.starts_at.day, o.ends_at.day) for o in occurrences(weekly)]
    assert found == [(1, 8), (8, 15), (15, 22), (22, 29), (29, 1)]
    hit = occurrence_at(weekly, at(8, 0))
    assert hit is not None
    assert hit.index == 1
    last_minute = occurrence_at(weekly, at(7, 23, 59))
    assert last_minute is not None
    assert last_minute.index == 0


def test_monthly_recurrence_starts_every_month_with_fresh_counters_and_prizes() -> None:
    definition = challenge(
        recurrence="monthly",
        starts_at=datetime(2026, 11, 1, tzinfo=CET),
        ends_at=datetime(2027, 2, 1, tzinfo=CET),
    )
    driver = Driver([definition])
    driver.feed(points(800, at(20)), points(300, at(28)))  # November: completed
    driver.feed(points(600, at(2, month=12)))  # December: starts from zero
    nov, dec = driver.row(occurrence=0), driver.row(occurrence=1)
    assert nov is not None
    assert nov.completed is not None
    assert dec is not None
    assert dec.completed is None
    assert progress_view(definition, dec).groups[0].triggers[0].value == 600
    driver.feed(points(400, at(3, month=12)))
    assert len(driver.rewards) == 2
    assert driver.rewards[0].reward_id != driver.rewards[1].reward_id
    assert [r.reason for r in driver.rewards] == ["earn-1000#0/completed", "earn-1000#1/completed"]
    assert driver.completions == {(CLUB, "earn-1000", 0): 1, (CLUB, "earn-1000", 1): 1}
