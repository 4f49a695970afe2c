"""The demo's story is consistent with the clock of the worker that will apply it: every
event is valid input, dated before now, and lands in a stage whose extra period is still
open now, whatever the day the demo runs on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest

from loyalty_progress.contract.events import BadInput, InputStream, decode_body
from loyalty_progress.definitions.loader import parse_definition
from loyalty_progress.demo.scenario import (
    CLUB,
    EXPECTED,
    ROLES,
    SOURCE,
    ZONE,
    Publish,
    build,
    stage_month,
)
from loyalty_progress.engine.attendance import calendar_of


def _oslo(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)


@pytest.mark.parametrize(
    ("today", "stage"),
    [
        (date(2026, 11, 9), date(2026, 11, 1)),
        (date(2026, 11, 30), date(2026, 11, 1)),
        (date(2026, 11, 8), date(2026, 10, 1)),
        (date(2026, 11, 1), date(2026, 10, 1)),
        (date(2027, 1, 3), date(2026, 12, 1)),
    ],
)
def test_the_story_shops_in_this_month_from_the_9th_else_in_the_last(
    today: date, stage: date
) -> None:
    assert stage_month(_oslo(today)) == stage


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


# Every day of a year, at both ends of the day: month ends, a leap day, DST changes.
INSTANTS = [
    _oslo(day, hour) for day in _days(date(2027, 12, 1), date(2028, 12, 1)) for hour in (0, 23)
]


def test_every_event_is_valid_dated_before_now_and_counts_when_applied_now() -> None:
    for now in INSTANTS:
        scenario = build("abc123", 3, now.astimezone(UTC))
        (stage,) = calendar_of(scenario.edition).stages
        assert stage.is_open(now), now
        # Not yet due: due now, it would reach every member still short of the stage.
        assert stage.notice_at is not None
        assert now < stage.notice_at, now
        for step in scenario.events:
            decoded = decode_body(InputStream(step.stream), msgspec.json.encode(step.body))
            assert not isinstance(decoded, BadInput), (now, step.body, decoded)
            assert decoded.occurred_at < now, (now, step.body)
            assert step.at < now, (now, step.body)
        receipts = [s for s in scenario.events if s.stream == "receipts"]
        for step in receipts:
            bought = datetime.fromisoformat(step.body["occurred_at"])
            assert stage.starts_at <= bought < stage.ends_before, (now, step.body)


def test_the_definitions_are_valid_and_the_ticks_are_the_notice_and_the_close() -> None:
    scenario = build("abc123", 3, datetime(2026, 11, 23, 12, tzinfo=UTC))
    kinds = Counter(
        parse_definition(raw, SOURCE).__class__.__name__ for raw in scenario.definitions
    )
    assert kinds == {"AttendanceEdition": 1, "ChallengeDefinition": 2}
    assert {raw["club"] for raw in scenario.definitions} == {CLUB}
    (stage,) = calendar_of(scenario.edition).stages
    assert stage.name == scenario.stage == "2026-11"
    assert [t.at for t in scenario.ticks] == [stage.notice_at, stage.closes_at]
    assert scenario.ends_at == stage.closes_at
    assert all(isinstance(s, Publish) for s in scenario.steps[: len(scenario.events)])
    times = [s.at for s in scenario.steps]
    assert times == sorted(times)


def test_members_cycle_through_the_roles_with_unique_ids_and_event_ids() -> None:
    scenario = build("abc123", 7, datetime(2026, 11, 23, 12, tzinfo=UTC))
    assert [m.role for m in scenario.members] == [*ROLES, *ROLES, ROLES[0]]
    assert len(scenario.member_ids) == 7
    event_ids = [s.body["event_id"] for s in scenario.events]
    assert len(event_ids) == len(set(event_ids))
    assert all(e.startswith("demo-abc123-") for e in event_ids)
    assert {s.body["member_id"] for s in scenario.events} == scenario.member_ids
    assert len(scenario.expected()) == sum(len(EXPECTED[m.role]) for m in scenario.members)


def test_two_runs_share_nothing_but_the_definitions() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    first, second = build("aaaaaa", 3, now), build("bbbbbb", 3, now)
    assert first.definitions == second.definitions
    assert not first.member_ids & second.member_ids
    ids = {s.body["event_id"] for s in first.events}
    assert not ids & {s.body["event_id"] for s in second.events}


def test_fewer_members_than_roles_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 3 members"):
        build("abc123", 2, datetime(2026, 11, 23, 12, tzinfo=UTC))
