"""Attendance challenge editions (docs/attendance-challenges.md, "The edition"; every field
in docs/definitions-reference.md): the definition and its validation.

An edition is one `kind: attendance_edition` entry of a definition file. `parse_edition`
turns the raw mapping (from YAML or JSON) into an `AttendanceEdition` or raises a
`DefinitionError` naming the file, the edition and the field.

YAML 1.1 (PyYAML) reads an unquoted `day_starts_at: 19:00` or `9:30` as a base-60
integer (1140, 570); with a leading zero (`09:00`) it stays a string. An integer from 0
to 1439 is therefore accepted as minutes after midnight (1140 -> "19:00"); any other
value that is not "HH:MM" (`10:00:00` arrives as 36000) is rejected with a hint to
quote the time. `start_date: 2026-02` stays a
string in YAML, but `2026-02-01` becomes a date and is rejected: stages are whole months.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from loyalty_progress.definitions.errors import DefinitionError

KIND: Final = "attendance_edition"
MINUTES_PER_DAY: Final = 24 * 60
# Extra periods up to 28 days end no later than the next stage (the shortest month): at
# most one stage of a member is ever waiting in its extra period.
MAX_EXTRA_PERIOD_DAYS: Final = 28
MAX_INT: Final = 2**53

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


class AttendanceEdition(msgspec.Struct, frozen=True, kw_only=True):
    """One edition of the attendance challenge of a club; each month is a stage."""

    code: str
    club: str
    title: str
    timezone: str
    start_date: str
    end_date: str
    monthly_attendances_goal: int
    daily_value_goal: Decimal
    stages_streak_goal: int
    entries_limit: int
    extra_period_days: int
    first_stage_reward_id: int
    streak_reward_value: int
    rules: str = ""
    goals_description: str = ""
    rewards_description: str = ""
    day_starts_at: str = "00:00"
    extra_period_notice_days: int = 3


_REQUIRED: Final = (
    "code",
    "club",
    "title",
    "timezone",
    "start_date",
    "end_date",
    "monthly_attendances_goal",
    "daily_value_goal",
    "stages_streak_goal",
    "entries_limit",
    "extra_period_days",
    "first_stage_reward_id",
    "streak_reward_value",
)
_KNOWN: Final = frozenset(
    {
        "kind",
        *_REQUIRED,
        "rules",
        "goals_description",
        "rewards_description",
        "day_starts_at",
        "extra_period_notice_days",
    }
)

T = TypeVar("T")


class _Fields:
    """Reads one raw definition, raising `DefinitionError` at the first bad field."""

    def __init__(self, raw: Mapping[str, Any], source: str) -> None:
        self.raw, self.source = raw, source
        code = raw.get("code")
        self.code = code if isinstance(code, str) and code else None

    def fail(self, field: str | None, problem: str) -> DefinitionError:
        return DefinitionError(self.source, self.code, field, problem)

    def get(self, field: str, convert: Callable[[Any], T], default: T | None = None) -> T:
        if field not in self.raw or self.raw[field] is None:
            if default is None:
                raise self.fail(field, "is required")
            return default
        try:
            return convert(self.raw[field])
        except ValueError as exc:
            raise self.fail(field, str(exc)) from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _name(value: Any) -> str:
    text = _text(value).strip()
    if not text or len(text) > 128:
        raise ValueError("must be 1-128 characters")
    return text


def _int(minimum: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        if not minimum <= value <= MAX_INT:
            raise ValueError(f"must be an integer >= {minimum}, got {value}")
        return value

    return convert


def _positive_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"must be a number, got {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise ValueError(f"must be a number > 0, got {value!r}")
    return number


def _zone(value: Any) -> str:
    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"must be an IANA time zone such as Europe/Oslo, got {name!r}") from None
    return name


def _month(value: Any) -> str:
    match = _MONTH.match(value) if isinstance(value, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f'must be a month "YYYY-MM" (each month is a stage), got {value!r}')
    return str(match.group(0))


def _time_of_day(value: Any) -> str:
    """`HH:MM`, or the integer PyYAML makes of an unquoted `HH:MM` (base 60)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < MINUTES_PER_DAY:
            raise ValueError(
                f'must be a local time "HH:MM", got {value!r}; quote it: day_starts_at: "09:00"'
            )
        return "{:02d}:{:02d}".format(*divmod(value, 60))
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f'must be a local time "HH:MM" from 00:00 to 23:59, got {value!r}')
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_edition(raw: dict[str, Any], source: str) -> AttendanceEdition:
    fields = _Fields(raw, source)
    unknown = sorted(str(k) for k in raw if k not in _KNOWN)
    if unknown:
        raise fields.fail(unknown[0], f"is not a field of {KIND}")
    edition = AttendanceEdition(
        code=fields.get("code", _name),
        club=fields.get("club", _name),
        title=fields.get("title", _name),
        rules=fields.get("rules", _text, ""),
        goals_description=fields.get("goals_description", _text, ""),
        rewards_description=fields.get("rewards_description", _text, ""),
        timezone=fields.get("timezone", _zone),
        day_starts_at=fields.get("day_starts_at", _time_of_day, "00:00"),
        start_date=fields.get("start_date", _month),
        end_date=fields.get("end_date", _month),
        monthly_attendances_goal=fields.get("monthly_attendances_goal", _int(1)),
        daily_value_goal=fields.get("daily_value_goal", _positive_decimal),
        stages_streak_goal=fields.get("stages_streak_goal", _int(1)),
        entries_limit=fields.get("entries_limit", _int(1)),
        extra_period_days=fields.get("extra_period_days", _int(0)),
        extra_period_notice_days=fields.get("extra_period_notice_days", _int(0), 3),
        first_stage_reward_id=fields.get("first_stage_reward_id", _int(1)),
        streak_reward_value=fields.get("streak_reward_value", _int(1)),
    )
    _check_consistency(edition, fields)
    return edition


def _check_consistency(edition: AttendanceEdition, fields: _Fields) -> None:
    if edition.end_date < edition.start_date:
        raise fields.fail(
            "end_date",
            f"must not be before start_date {edition.start_date}, got {edition.end_date}",
        )
    if edition.monthly_attendances_goal > 28:
        raise fields.fail("monthly_attendances_goal", "must be at most 28 (days in February)")
    if edition.extra_period_days > MAX_EXTRA_PERIOD_DAYS:
        raise fields.fail(
            "extra_period_days",
            f"must be at most {MAX_EXTRA_PERIOD_DAYS}, got {edition.extra_period_days}",
        )
    notice, extra = edition.extra_period_notice_days, edition.extra_period_days
    if extra > 0 and notice > extra:
        raise fields.fail(
            "extra_period_notice_days",
            f"must not exceed extra_period_days ({extra}), got {notice}; 0 sends no notice",
        )
