"""A member's notifications do not depend on how their receipts were cut into batches:
each describes the state right after its own fact, and they come in the order of
their facts."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_progress.contract.events import ReceiptEvent
from loyalty_progress.contract.outputs import Notification
from tests.support.attendance_engine import Store, receipt_event

NOW = "2026-04-28 12:00"
LIFECYCLES = [("approved",), ("pending", "approved"), ("approved", "refunded"), ("pending",)]


def approved_on(*days: int) -> list[ReceiptEvent]:
    return [receipt_event(f"2026-04-{d}", "approved", 100, f"2026-04-{d:02d} 12:00") for d in days]


def summary(notes: list[Notification]) -> list[tuple[str, dict[str, Any]]]:
    return [(n.type, n.properties) for n in notes]


def test_receipts_of_one_batch_give_the_notifications_they_give_one_by_one() -> None:
    together, one_by_one = Store(), Store()
    for store in (together, one_by_one):
        store.batch(approved_on(11), NOW)
    together.batch(approved_on(13, 15, 23), NOW)
    for event in approved_on(13, 15, 23):
        one_by_one.batch([event], NOW)

    assert together.notifications == one_by_one.notifications
    assert together.rewards == one_by_one.rewards
    edition = {"edition": "win-in-2026", "stage": "2026-04"}
    assert [
        (kind, properties)
        for kind, properties in summary(together.notifications)
        if kind != "reward_issued"
    ] == [
        (
            "attendance_completed",
            {
                **edition,
                "date": f"2026-04-{d}",
                "attendances_completed": n,
                "attendances_left": 4 - n,
            },
        )
        for n, d in ((1, 11), (2, 13), (3, 15), (4, 23))
    ] + [("stage_completed", {**edition, "attendances_completed": 4})]
    # The stage completes on the receipt of 04-23 and is announced after it, with it as
    # its cause; the first-stage reward it grants follows.
    types = together.types()
    assert types[-3:] == ["attendance_completed", "stage_completed", "reward_issued"]
    assert together.notifications[-2].caused_by == ("2026-04-23:approved",)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_cut_into_batches_gives_the_same_notifications_in_the_same_order(
    data: st.DataObject,
) -> None:
    days = data.draw(st.lists(st.integers(1, 28), min_size=1, max_size=8))
    events = [
        receipt_event(f"r{i}", status, amount, f"2026-04-{day:02d} 12:00")
        for i, day in enumerate(days)
        for amount in [data.draw(st.sampled_from([40, 100, 150]))]
        for status in data.draw(st.sampled_from(LIFECYCLES))
    ]
    cuts = data.draw(st.lists(st.integers(1, len(events)), max_size=4))
    batches, start = [], 0
    for end in sorted({*cuts, len(events)}):
        batches.append(events[start:end])
        start = end
    cut, one_by_one = Store(), Store()
    if data.draw(st.booleans()):  # a member since March: its failure is settled on the way
        for store in (cut, one_by_one):
            store.batch(
                [receipt_event("march", "approved", 100, "2026-03-05 12:00")], "2026-03-05 13:00"
            )
    for batch in batches:
        cut.batch(batch, NOW)
    for event in events:
        one_by_one.batch([event], NOW)
    assert cut.notifications == one_by_one.notifications
    assert cut.rewards == one_by_one.rewards
