"""Decoding input entries: typed events, or a reason that names the problem and field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loyalty_progress.contract.events import (
    BadInput,
    InputStream,
    MemberEvent,
    PointsEvent,
    ReceiptEvent,
    decode_body,
    decode_entry,
)

COMMON = {
    "event_id": "e1",
    "club": "infinity-mall",
    "member_id": "m1",
    "occurred_at": "2026-11-10T12:00:00+01:00",
}


def body(**fields: Any) -> bytes:
    return json.dumps({**COMMON, **fields}).encode()


def reason(stream: InputStream, raw: bytes) -> str:
    result = decode_body(stream, raw)
    assert isinstance(result, BadInput), result
    return result.reason


def test_receipt_amount_accepts_json_string_and_number() -> None:
    for amount in ("12.50", 12.5):
        event = decode_body(
            InputStream.RECEIPTS, body(receipt_id="r1", status="approved", amount=amount)
        )
        assert isinstance(event, ReceiptEvent)
        assert str(event.amount) == "12.5" or str(event.amount) == "12.50"


def test_unknown_extra_fields_are_ignored() -> None:
    event = decode_body(InputStream.POINTS, body(kind="earned", amount=5, future_field=[1]))
    assert isinstance(event, PointsEvent)


@pytest.mark.parametrize(
    ("stream", "raw", "expected"),
    [
        (InputStream.POINTS, b"{not json", "not valid JSON"),
        (InputStream.POINTS, json.dumps({**COMMON, "kind": "earned"}).encode(), "`amount`"),
        (InputStream.POINTS, body(kind="earned", amount="ten"), "$.amount"),
        (InputStream.POINTS, body(kind="stolen", amount=5), "$.kind"),
        (InputStream.POINTS, body(kind="earned", amount=0), "$.amount"),
        (
            InputStream.POINTS,
            json.dumps(
                {**COMMON, "occurred_at": "2026-11-10T12:00:00", "kind": "earned", "amount": 1}
            ).encode(),
            "$.occurred_at",
        ),
        (InputStream.RECEIPTS, body(receipt_id="r", status="approved", amount="-1"), "$.amount"),
        (InputStream.RECEIPTS, body(receipt_id="r", status="approved", amount="NaN"), "$.amount"),
        (InputStream.RECEIPTS, body(receipt_id="r", status="lost", amount="1"), "$.status"),
        (InputStream.MEMBERS, body(kind="opted_in"), "challenge_code"),
        (InputStream.MEMBERS, body(kind="tier_changed"), "`tier`"),
        (InputStream.VOUCHERS, body(kind="subscribed", voucher_id="v\u0000"), "$.voucher_id"),
        (InputStream.POINTS, json.dumps({**COMMON, "event_id": ""}).encode(), "$.event_id"),
        (InputStream.POINTS, b"[1, 2]", "Expected `object`"),
    ],
)
def test_bad_input_reason_names_the_problem(stream: InputStream, raw: bytes, expected: str) -> None:
    assert expected in reason(stream, raw)


def test_body_over_64_kib_is_bad_input_without_parsing() -> None:
    raw = body(kind="earned", amount=1, padding="x" * (1024 * 1024))
    assert "over the 65536 byte limit" in reason(InputStream.POINTS, raw)


def test_entry_without_data_field_is_bad_input() -> None:
    result = decode_entry(InputStream.POINTS, {b"payload": b"{}"})
    assert isinstance(result, BadInput)
    assert "no `data` field" in result.reason


def test_member_event_with_required_field_decodes() -> None:
    event = decode_body(
        InputStream.MEMBERS, body(kind="opted_in", challenge_code="earn-1000", charity_code="c1")
    )
    assert isinstance(event, MemberEvent)
    assert event.charity_code == "c1"
