"""Refunds and rejections subtract exactly what the receipt contributed; nothing reached is
taken back."""

from __future__ import annotations

from loyalty_progress.engine.challenges import progress_view
from tests.support.challenge_engine import Driver, at, challenge, receipt, triggers

SPEND = challenge(
    code="spend",
    groups=[
        triggers(
            {"type": "receipt_amount", "target": 300},
            {"type": "receipt_count", "target": 10, "operator": "OR"},
        )
    ],
)
STORES = challenge(
    code="stores",
    groups=[triggers({"type": "distinct_stores", "target": 3})],
    milestones=[],
)


def values(driver: Driver, code: str) -> list[int]:
    definition = next(d for d in driver.definitions if d.code == code)
    view = progress_view(definition, driver.row(code=code))
    return [int(t.value) for t in view.groups[0].triggers]


def test_a_refund_before_completion_lowers_the_progress_by_exactly_that_receipt() -> None:
    driver = Driver([SPEND])
    driver.feed(receipt("r1", amount=100), receipt("r2", amount=150))
    assert values(driver, "spend") == [250, 2]
    driver.feed(receipt("r2", status="refunded", amount=150, event_id="refund"))
    assert values(driver, "spend") == [100, 1]
    ledger = {k[-1]: e.entry for k, e in driver.ledger.items()}
    assert ledger["refund"].reason == "reversal"
    assert ledger["refund"].deltas[0].amount == -150
    assert [e.reversed_by for e in ledger.values() if e.receipt_id == "r2"] == ["refund", None]


def test_a_refund_after_completion_keeps_completion_and_reward() -> None:
    driver = Driver([SPEND])
    driver.feed(receipt("r1", amount=100), receipt("r2", amount=250))
    row = driver.row(code="spend")
    assert row is not None
    assert row.completed is not None
    driver.feed(receipt("r2", status="refunded", amount=250))
    row = driver.row(code="spend")
    assert row is not None
    assert row.completed is not None
    assert values(driver, "spend") == [100, 1]  # the counters tell the truth
    assert len(driver.rewards) == 1
    driver.feed(receipt("r3", amount=300))  # and it does not complete (or reward) twice
    assert len(driver.rewards) == 1


def test_a_rejection_after_approval_reverses_like_a_refund() -> None:
    driver = Driver([SPEND])
    driver.feed(receipt("r1", amount=100), receipt("r1", status="rejected", amount=100))
    assert values(driver, "spend") == [0, 0]


def test_pending_and_rejected_receipts_never_count_and_say_why() -> None:
    driver = Driver([SPEND])
    driver.feed(
        receipt("r1", status="pending", amount=100, event_id="pending"),
        receipt("r1", status="rejected", amount=100, event_id="rejected"),
        receipt("r2", status="refunded", amount=100, event_id="refund-first"),
    )
    assert values(driver, "spend") == [0, 0]
    reasons = {k[-1]: e.entry.reason for k, e in driver.ledger.items()}
    assert reasons == {"pending": "pending", "rejected": "rejected", "refund-first": "refunded"}


def test_pending_then_approved_counts_once_at_the_approved_amount() -> None:
    driver = Driver([SPEND])
    driver.feed(receipt("r1", status="pending", amount=90), receipt("r1", amount=120))
    assert values(driver, "spend") == [120, 1]


def test_distinct_stores_survive_a_reversal_of_one_of_two_receipts_from_a_store() -> None:
    driver = Driver([STORES])
    driver.feed(
        receipt("r1", store="s1"),
        receipt("r2", store="s1"),
        receipt("r3", store="s2"),
    )
    assert values(driver, "stores") == [2]
    driver.feed(receipt("r1", status="refunded"))
    assert values(driver, "stores") == [2]  # s1 still has r2
    driver.feed(receipt("r2", status="refunded"))
    assert values(driver, "stores") == [1]


def test_a_refund_arriving_before_its_approval_leaves_the_receipt_out_for_good() -> None:
    driver = Driver([SPEND])
    driver.feed(receipt("r1", status="refunded", amount=500, when=at(3)))
    driver.feed(receipt("r1", amount=500, when=at(3)))  # stale: the lifecycle drops it
    assert values(driver, "spend") == [0, 0]
    assert driver.rewards == []


def test_a_refund_in_a_later_batch_reads_only_the_approval_it_undoes() -> None:
    """The member's other receipts stay unread: the tally loses exactly the approval."""
    driver = Driver([SPEND, STORES])
    driver.feed(*(receipt(f"r{i}", amount=10 + i, store=f"s{i % 2}") for i in range(1, 6)))
    driver.feed(receipt("r4", status="refunded", amount=14, store="s0", event_id="refund"))
    assert driver.last is not None
    # Each challenge's participation holds the approval and its reversal, nothing more.
    held = [sorted(p.entries) for p in driver.last.participations.values()]
    assert len(held) == 2
    assert all(len(ids) == 2 and "refund" in ids for ids in held)
    assert driver.entry_retries == 0
    assert values(driver, "spend") == [11 + 12 + 13 + 15, 4]
    assert values(driver, "stores") == [2]  # s0 still has r2


def test_a_refund_that_takes_a_sum_to_zero_leaves_what_the_other_receipts_add_up_to() -> None:
    """A zero-amount receipt adds nothing to a sum, so the sum a refund leaves at zero is
    gone, as when the other receipts are added up afresh."""
    driver = Driver([SPEND])
    driver.feed(receipt("free", amount=0), receipt("r1", amount=40))
    driver.feed(receipt("r1", status="refunded", amount=40))
    assert driver.entry_retries == 0
    assert values(driver, "spend") == [0, 1]
    clean = Driver([SPEND])
    clean.feed(receipt("free", amount=0))
    assert driver.counters() == clean.counters()
