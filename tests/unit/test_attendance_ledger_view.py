"""The attendance ledger's view: lines in the order their events occurred, a receipt's
statuses of one instant in lifecycle order, numbers and dates as the read side shows them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from loyalty_progress.engine.attendance import Contribution
from loyalty_progress.engine.attendance.ledger import LedgerLine, contributions_view

STORED = datetime(2026, 5, 22, 10, tzinfo=UTC)


def _line(event_id: str, status: str, occurred: datetime | None, delta: str = "0") -> LedgerLine:
    contribution = Contribution(
        event_id=event_id,
        club="c",
        edition="e",
        member_id="m",
        receipt_id="r",
        status=status,
        day=date(2026, 5, 11),
        stage="2026-05",
        approved_delta=Decimal(delta),
        pending_delta=Decimal(0),
        counted=True,
        reason="",
    )
    return LedgerLine(contribution, occurred, STORED)


def test_lines_follow_the_events_and_a_receipts_statuses_of_one_instant_follow_its_lifecycle() -> (
    None
):
    noon = datetime(2026, 5, 11, 10, tzinfo=UTC)
    lines = [
        _line("z-refund", "refunded", noon),
        _line("a-approve", "approved", noon, "12.50"),
        _line("pruned", "approved", None),
        _line("m-pending", "pending", noon),
        _line("earlier", "approved", datetime(2026, 5, 1, tzinfo=UTC), "3"),
    ]
    view = contributions_view("e", "m", lines)
    assert [d.event_id for d in view.data] == [
        "pruned",
        "earlier",
        "m-pending",
        "a-approve",
        "z-refund",
    ]
    assert (view.count, view.data[3].approved_delta, view.data[1].approved_delta) == (5, 12.5, 3)
    assert view.data[0].date == "2026-05-11"
