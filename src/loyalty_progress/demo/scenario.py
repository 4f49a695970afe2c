"""The demo's story as data: its definitions and a timeline of input events and scheduler
ticks. Pure: the same run tag, member count and "now" always give the same story.

A running worker judges receipts by its own clock: a receipt counts for an attendance
stage only while that stage's extra period is still open *when the worker processes it*.
So the story is anchored to the real clock: the shopping happens on days 1-8 of a stage
month whose extra period is still open now (this month from the 9th on, else last
month, whose extra period runs until the 12th of this one), and every event is dated
before now. Only the two scheduler ticks (the extra-period notice and the stage close)
may lie ahead of the real clock; the demo runs them itself, for its own definitions.

Three roles, repeated over the members:

- `regular`: four days of 100+ in the stage month at three stores (receipts pending, then
  approved; one approved then refunded) -> the stage, the first-stage reward, the streak
  reward and the three-stores challenge;
- `collector`: points earned over the weeks (and some redeemed) -> the earn-1000
  challenge and its voucher;
- `late`: two days of 100+, one receipt rejected and one left pending -> the extra
  period notice, then the stage fails; the two challenges it opted in to expire.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from loyalty_progress.definitions.attendance import AttendanceEdition, parse_edition
from loyalty_progress.engine.attendance import calendar_of

CLUB: Final = "demo-mall"
ZONE: Final = ZoneInfo("Europe/Oslo")
SHOPPING_DAYS: Final = 8  # attendances fall on days 1-8 of the stage month
# Long enough that last month's extra-period notice (NOTICE_DAYS before its end) is due only
# after the shopping days: on the 7th or 8th, a shorter period would already have sent it,
# at the first receipt of every member still short of the stage.
EXTRA_PERIOD_DAYS: Final = 12
NOTICE_DAYS: Final = 3
DAILY_GOAL: Final = 100
MONTHLY_GOAL: Final = 4
FIRST_STAGE_REWARD_ID: Final = 1442920
STREAK_POINTS: Final = 150
SOURCE: Final = "loyalty-progress demo"

Role = Literal["regular", "collector", "late"]
ROLES: Final[tuple[Role, ...]] = ("regular", "collector", "late")
# What each role must make the worker say, at least: the demo waits for all of it.
EXPECTED: Final[dict[Role, tuple[str, ...]]] = {
    "regular": ("stage_completed", "reward_issued", "streak_completed", "challenge_completed"),
    "collector": ("challenge_completed", "reward_issued"),
    "late": ("attendance_completed", "extra_period_ending", "stage_failed", "challenge_expired"),
}


@dataclass(frozen=True, slots=True)
class Publish:
    """One input event, published when the simulated clock reaches `at`."""

    at: datetime
    stream: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tick:
    """The scheduler's time-driven transitions, run as of `at`."""

    at: datetime
    why: str


Step = Publish | Tick


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class Scenario:
    run: str
    stage: str  # the stage month, "YYYY-MM"
    members: tuple[Member, ...]
    definitions: tuple[dict[str, Any], ...]
    edition: AttendanceEdition
    challenge_codes: tuple[str, ...]
    steps: tuple[Step, ...]
    ends_at: datetime

    @property
    def member_ids(self) -> frozenset[str]:
        return frozenset(m.member_id for m in self.members)

    @property
    def events(self) -> list[Publish]:
        return [s for s in self.steps if isinstance(s, Publish)]

    @property
    def ticks(self) -> list[Tick]:
        return [s for s in self.steps if isinstance(s, Tick)]

    def expected(self) -> frozenset[tuple[str, str]]:
        """(member, notification type) pairs the worker must produce."""
        return frozenset((m.member_id, kind) for m in self.members for kind in EXPECTED[m.role])


def stage_month(now: datetime) -> date:
    """The first day of the month the story shops in (see the module docstring)."""
    today = now.astimezone(ZONE).date()
    first = today.replace(day=1)
    if today.day > SHOPPING_DAYS:
        return first
    return (first - timedelta(days=1)).replace(day=1)


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _edition(stage: date) -> dict[str, Any]:
    month = f"{calendar.month_name[stage.month]} {stage.year}"
    return {
        "kind": "attendance_edition",
        "code": f"demo-{_month(stage)}",
        "club": CLUB,
        "title": f"Shop in {month}",
        "rules": f"Shop for at least {DAILY_GOAL} on {MONTHLY_GOAL} different days in {month}.",
        "goals_description": f"Complete {month}: {MONTHLY_GOAL} days of {DAILY_GOAL} or more.",
        "rewards_description": "A reward when you complete the month, plus "
        f"{STREAK_POINTS} points.",
        "timezone": ZONE.key,
        "day_starts_at": "00:00",
        "start_date": _month(stage),
        "end_date": _month(stage),
        "monthly_attendances_goal": MONTHLY_GOAL,
        "daily_value_goal": DAILY_GOAL,
        "stages_streak_goal": 1,
        "entries_limit": 1,
        "extra_period_days": EXTRA_PERIOD_DAYS,
        "extra_period_notice_days": NOTICE_DAYS,
        "first_stage_reward_id": FIRST_STAGE_REWARD_ID,
        "streak_reward_value": STREAK_POINTS,
    }


def _challenge(
    code: str,
    name: str,
    description: str,
    window: tuple[datetime, datetime],
    trigger: dict[str, Any],
    prize: dict[str, Any],
) -> dict[str, Any]:
    return {
        "kind": "challenge",
        "code": code,
        "club": CLUB,
        "name": name,
        "description": description,
        "category": {"id": 3, "name": "Shopping"},
        "starts_at": window[0].isoformat(),
        "ends_at": window[1].isoformat(),
        # Opt-in only: earlier demo runs' challenges share the club, and opting in to this
        # run's codes keeps each run's events out of the others' counters.
        "enrollment": "opt_in",
        "visible": True,
        "scope": "member",
        "groups": [{"operator": "AND", "triggers": [{"id": 1, "name": name, **trigger}]}],
        "milestones": [{"code": "completed", "reached_when": "challenge", "prizes": [prize]}],
    }


@dataclass(slots=True)
class _Timeline:
    """Builds the events of the story with unique ids, times relative to the stage."""

    run: str
    stage: date
    steps: list[Step] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        """Local time on day `day` of the stage month (0 and below: the month before)."""
        local = datetime.combine(self.stage + timedelta(days=day - 1), time(hour, minute))
        return local.replace(tzinfo=ZONE)

    def publish(
        self, when: datetime, stream: str, member: str, occurred_at: datetime, **fields: Any
    ) -> None:
        body = {
            "event_id": f"demo-{self.run}-{next(self._ids):04d}",
            "club": CLUB,
            "member_id": member,
            "occurred_at": occurred_at.isoformat(),
            **fields,
        }
        self.steps.append(Publish(when, stream, body))

    def event(self, when: datetime, stream: str, member: str, **fields: Any) -> None:
        self.publish(when, stream, member, when, **fields)

    def receipt(
        self,
        member: str,
        number: int,
        bought: datetime,
        amount: str,
        store: str,
        first: str = "approved",
        then: tuple[tuple[datetime, str], ...] = (),
    ) -> None:
        """A receipt sent on each status change, always dated at its purchase time."""
        fields = {
            "receipt_id": f"r-{self.run}-{member.rsplit('-', 1)[-1]}-{number}",
            "amount": amount,
            "store_id": store,
            "items": [f"sku-{store}-{number}"],
        }
        self.publish(bought, "receipts", member, bought, status=first, **fields)
        for when, status in then:
            self.publish(when, "receipts", member, bought, status=status, **fields)


def _regular(t: _Timeline, member: str, codes: dict[str, str], extra: int) -> None:
    t.event(t.at(-6, 9), "members", member, kind="opted_in", challenge_code=codes["stores"])
    t.event(t.at(-4, 10), "points", member, kind="earned", amount=120, balance=120)
    approved_next_day = ((t.at(2, 9), "approved"),)
    t.receipt(member, 1, t.at(1, 11), f"{120 + extra}.00", "s-north", "pending", approved_next_day)
    t.receipt(member, 2, t.at(2, 17, 30), "80.00", "s-north")
    t.receipt(member, 3, t.at(3, 12, 15), "150.00", "s-east")
    t.event(t.at(4, 8), "vouchers", member, kind="subscribed", voucher_id=f"v-{member}")
    t.event(t.at(4, 16), "points", member, kind="earned", amount=80, balance=200)
    approved_two_days_later = ((t.at(7, 10), "approved"),)
    t.receipt(member, 4, t.at(5, 18), "210.00", "s-south", "pending", approved_two_days_later)
    t.receipt(member, 5, t.at(6, 13), "99.00", "s-east")
    t.receipt(member, 6, t.at(6, 13, 40), "30.00", "s-east")
    t.event(t.at(7, 11), "members", member, kind="tier_changed", tier=2)
    t.receipt(member, 7, t.at(8, 16), "60.00", "s-west", then=((t.at(8, 19), "refunded"),))


def _collector(t: _Timeline, member: str, codes: dict[str, str], extra: int) -> None:
    t.event(t.at(-6, 9, 30), "members", member, kind="opted_in", challenge_code=codes["points"])
    t.event(t.at(-5, 12), "points", member, kind="earned", amount=300, balance=300)
    t.event(t.at(-3, 18), "vouchers", member, kind="subscribed", voucher_id=f"v-{member}")
    t.event(t.at(-2, 15), "points", member, kind="earned", amount=250, balance=550)
    t.event(t.at(0, 19), "points", member, kind="redeemed", amount=200, balance=350)
    t.receipt(member, 1, t.at(3, 14), f"{140 + extra}.00", "s-north")
    t.event(t.at(3, 14, 5), "points", member, kind="earned", amount=200, balance=550)
    t.event(t.at(4, 10), "vouchers", member, kind="redeemed", voucher_id=f"v-{member}")
    t.event(t.at(5, 17), "points", member, kind="earned", amount=250, balance=800)


def _late(t: _Timeline, member: str, codes: dict[str, str], extra: int) -> None:
    for key in ("points", "stores"):
        t.event(t.at(-6, 10), "members", member, kind="opted_in", challenge_code=codes[key])
    t.event(t.at(-3, 11), "points", member, kind="earned", amount=150, balance=150)
    t.receipt(member, 1, t.at(2, 15), f"{110 + extra}.00", "s-west")
    t.receipt(member, 2, t.at(4, 19), "105.00", "s-west", "pending", ((t.at(5, 9), "approved"),))
    t.receipt(member, 3, t.at(5, 12), "140.00", "s-north", "pending", ((t.at(7, 9), "rejected"),))
    t.receipt(member, 4, t.at(7, 11), "130.00", "s-south", "pending")


_STORIES: Final = {"regular": _regular, "collector": _collector, "late": _late}


def build(run: str, members: int, now: datetime) -> Scenario:
    """The story of `members` members (at least one per role) for run tag `run`."""
    if members < len(ROLES):
        raise ValueError(f"the demo needs at least {len(ROLES)} members, got {members}")
    stage = stage_month(now)
    edition = parse_edition(_edition(stage), SOURCE)
    stage_calendar = calendar_of(edition)
    (month,) = stage_calendar.stages
    assert month.notice_at is not None
    window = (
        datetime.combine(stage - timedelta(days=7), time(0)).replace(tzinfo=ZONE),
        month.closes_at.astimezone(ZONE),
    )
    codes = {"points": f"{edition.code}-earn-1000", "stores": f"{edition.code}-three-stores"}
    definitions = (
        _edition(stage),
        _challenge(
            codes["points"],
            "Earn 1000 Points",
            "Earn 1000 points and win 40% off a Buffalo Burger.",
            window,
            {"type": "earned_points", "target": 1000},
            {
                "type": "voucher",
                "value": "BURGER40",
                "description": "40% off Buffalo Burger",
                "expires_in_days": 30,
            },
        ),
        _challenge(
            codes["stores"],
            "Shop at Three Stores",
            "Shop at three different stores of the mall and get 200 points.",
            window,
            {"type": "distinct_stores", "target": 3},
            {"type": "points", "value": 200, "description": "200 points"},
        ),
    )
    timeline = _Timeline(run, stage)
    cast = tuple(
        Member(f"m-{run}-{index:02d}", ROLES[(index - 1) % len(ROLES)])
        for index in range(1, members + 1)
    )
    for index, member in enumerate(cast):
        # Later members of a role spend a little more, so the lines are not all alike.
        _STORIES[member.role](timeline, member.member_id, codes, 5 * (index // len(ROLES)))
    notice = month.notice_at.astimezone(ZONE)
    close = month.closes_at.astimezone(ZONE)
    ticks = [
        Tick(notice, f"{NOTICE_DAYS} days before the extra period of {month.name} ends"),
        Tick(close, f"the extra period of {month.name} is over"),
    ]
    steps = sorted(timeline.steps, key=lambda s: s.at) + ticks
    return Scenario(
        run=run,
        stage=month.name,
        members=cast,
        definitions=definitions,
        edition=edition,
        challenge_codes=(codes["points"], codes["stores"]),
        steps=tuple(steps),
        ends_at=close,
    )
