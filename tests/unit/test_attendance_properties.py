"""Order independence: receipts in any order, repeated, in any batches, give the same
attendances, stages, streaks and rewards as one clean ordered pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_progress.contract.events import ReceiptEvent
from loyalty_progress.engine.attendance import calendar_of, progress
from tests.support.attendance_engine import EDITION, Store, edition, receipt_event
from tests.support.attendance_seed import at

APPROVED = [("approved",), ("pending", "approved")] * 4
SIMPLE = [*APPROVED, ("pending",), ("pending", "rejected"), ("rejected",)]
WITH_REFUNDS = [*SIMPLE, ("approved", "refunded"), ("pending", "approved", "refunded")]
AMOUNTS = [Decimal(v) for v in ("150", "100", "50", "100", "99.99", "150")]
START, END = at("2026-02-01 09:00"), at("2026-09-30 12:00")


@dataclass(frozen=True)
class Receipt:
    receipt_id: str
    occurred_at: datetime
    amount: Decimal
    lifecycle: tuple[str, ...]

    def events(self) -> list[ReceiptEvent]:
        return [
            receipt_event(self.receipt_id, status, str(self.amount), self.occurred_at)
            for status in self.lifecycle
        ]


@st.composite
def receipts(draw: st.DrawFn, lifecycles: list[tuple[str, ...]]) -> list[Receipt]:
    """Per month, a handful of shopping days with one or two receipts each: enough for
    stages to complete, fail, pend and form streaks."""
    found: list[Receipt] = []
    for month in range(2, 9):
        for day in range(2, 2 + draw(st.sampled_from([6, 0, 4, 5, 6]))):
            for _ in range(draw(st.integers(min_value=1, max_value=2))):
                minute = draw(st.integers(min_value=0, max_value=24 * 60 - 1))
                local = at(f"2026-{month:02d}-{day:02d} 00:00") + timedelta(minutes=minute)
                found.append(
                    Receipt(
                        receipt_id=f"r{len(found)}",
                        occurred_at=local,
                        amount=draw(st.sampled_from(AMOUNTS)),
                        lifecycle=draw(st.sampled_from(lifecycles)),
                    )
                )
    if not found:
        found.append(Receipt("r0", at("2026-05-10 12:00"), Decimal(100), ("approved",)))
    return found


def shuffled_deliveries(data: st.DataObject, items: list[Receipt]) -> list[list[ReceiptEvent]]:
    """Every event at least once, some twice, in any order, cut into batches."""
    events = [e for r in items for e in r.events()]
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=10))
    order = data.draw(st.permutations([*events, *repeats]))
    batches, rest = [], list(order)
    while rest:
        size = data.draw(st.integers(min_value=1, max_value=8))
        batches.append(rest[:size])
        rest = rest[size:]
    return batches


def clean_pass(items: list[Receipt], store: Store) -> Store:
    for item in sorted(items, key=lambda r: (r.occurred_at, r.receipt_id)):
        store.batch(item.events(), START)
    store.tick(END)
    return store


def days_of(store: Store) -> dict[date, tuple[Decimal, Decimal]]:
    return {d: (r.approved, r.pending) for d, r in store.days.items() if not r.is_empty}


def outcome_of(store: Store) -> dict[str, Any]:
    membership = store.membership
    assert membership is not None
    state = progress(store.edition, membership, END)
    return {
        "days": days_of(store),
        "joined": membership.joined_stage,
        "completed": membership.completed_stages,
        "failed": sorted(membership.failed),
        "streaks": membership.streak_rewards,
        "first_reward": membership.first_stage_reward_granted,
        "status": (state.status, state.entries),
        "rewards": sorted((r.reward_id, str(r.prize)) for r in store.rewards),
        "notifications": {
            n.notification_id for n in store.notifications if n.type != "extra_period_ending"
        },
    }


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_receipts_in_any_order_with_duplicates_give_the_same_days(data: st.DataObject) -> None:
    items = data.draw(receipts(WITH_REFUNDS))
    reference = clean_pass(items, Store())
    shuffled = Store()
    for batch in shuffled_deliveries(data, items):
        shuffled.batch(batch, START)
    shuffled.tick(END)
    assert days_of(shuffled) == days_of(reference)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_receipts_in_any_order_with_duplicates_give_the_same_stages_and_streaks(
    data: st.DataObject,
) -> None:
    """Without refunds approved value only grows, so completions cannot depend on the
    order (with refunds a stage completed in between stays completed, by design)."""
    items = data.draw(receipts(SIMPLE))
    reference = clean_pass(items, Store())
    shuffled = Store()
    for batch in shuffled_deliveries(data, items):
        shuffled.batch(batch, START)
    shuffled.tick(END)
    assert outcome_of(shuffled) == outcome_of(reference)


PATIENT = edition(entries_limit=7)  # never runs out of entries: nothing is refused


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_arrivals_spread_over_the_extra_periods_with_a_scheduler_give_the_same_result(
    data: st.DataObject,
) -> None:
    """Each event arrives at its own instant before its stage's deadline; batches and
    scheduler ticks interleave by time, as in production."""
    items = data.draw(receipts(SIMPLE))
    calendar = calendar_of(PATIENT)
    arrivals: list[tuple[datetime, int, ReceiptEvent]] = []
    for item in items:
        stage = calendar.stage_at(item.occurred_at)
        assert stage is not None
        window = int((stage.closes_at - item.occurred_at).total_seconds()) - 1
        for event in item.events() * data.draw(st.integers(min_value=1, max_value=2)):
            delay = timedelta(seconds=data.draw(st.integers(min_value=0, max_value=window)))
            arrivals.append((item.occurred_at + delay, len(arrivals), event))
    live = Store(edition=PATIENT)
    for arrived, _, event in sorted(arrivals, key=lambda a: (a[0], a[1])):
        while live.due_at is not None and live.due_at <= arrived:
            live.tick(live.due_at)
        live.batch([event], arrived)
    live.tick(END)
    reference = clean_pass(items, Store(edition=PATIENT))
    assert outcome_of(live) == outcome_of(reference)


def test_the_seed_edition_is_the_default_for_these_properties() -> None:
    assert Store().edition is EDITION
