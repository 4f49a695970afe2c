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


# --- decode-time limits: what decodes must also commit (docs/wire-contract.md, "Limits") --


def _receipt(**fields: Any) -> bytes:
    return body(**{"receipt_id": "r", "status": "approved", "amount": "1", **fields})


@pytest.mark.parametrize(
    "occurred_at",
    [
        "2000-01-01T00:00:00Z",
        "2000-01-01T14:00:00+14:00",
        "1999-12-31T10:00:00-14:00",
        "2099-12-31T23:59:59.999999Z",
        "2099-12-31T09:59:59-14:00",
        "2100-01-01T13:59:59+14:00",
        "2050-06-15T12:00:00+05:45",
    ],
)
def test_instants_of_the_window_with_any_allowed_offset_decode(occurred_at: str) -> None:
    assert isinstance(
        decode_body(InputStream.RECEIPTS, _receipt(occurred_at=occurred_at)), ReceiptEvent
    )


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("0001-01-01T00:00:00+14:00", "from 2000-01-01 to before 2100-01-01"),
        ("9999-12-31T23:59:59-14:00", "from 2000-01-01 to before 2100-01-01"),
        ("1999-12-31T23:59:59.999999Z", "from 2000-01-01"),
        ("2000-01-01T13:59:59+14:00", "from 2000-01-01"),
        ("2100-01-01T00:00:00Z", "before 2100-01-01"),
        ("2099-12-31T14:00:00-10:00", "before 2100-01-01"),
        ("2026-11-10T12:00:00+14:01", "UTC offset from -14:00 to +14:00"),
        ("2026-11-10T12:00:00-23:59", "UTC offset from -14:00 to +14:00"),
    ],
)
def test_instants_outside_the_window_or_offsets_beyond_14_hours_are_bad_input(
    occurred_at: str, expected: str
) -> None:
    for stream, raw in (
        (InputStream.RECEIPTS, _receipt(occurred_at=occurred_at)),
        (InputStream.POINTS, body(kind="earned", amount=1, occurred_at=occurred_at)),
        (InputStream.MEMBERS, body(kind="tier_changed", tier=1, occurred_at=occurred_at)),
        (InputStream.VOUCHERS, body(kind="redeemed", voucher_id="v", occurred_at=occurred_at)),
    ):
        why = reason(stream, raw)
        assert expected in why, why
        assert why.endswith("- at `$.occurred_at`"), why


@pytest.mark.parametrize(
    "amount", ["1000000000", "999999999.9999", "0.0001", "1E+9", "0", "12.5", 12.5, 1000000000]
)
def test_amounts_at_full_precision_and_scale_decode(amount: str | float) -> None:
    assert isinstance(decode_body(InputStream.RECEIPTS, _receipt(amount=amount)), ReceiptEvent)


@pytest.mark.parametrize(
    ("raw_amount", "expected"),
    [
        (b'"1e-20000"', "at most 4 digits after the decimal point, got 20000"),
        (b"1e-20000", "at most 4 digits after the decimal point, got 20000"),
        (b'"0.' + b"1" * 10_000 + b'"', "at most 4 digits after the decimal point, got 10000"),
        (b'"12.50000"', "at most 4 digits after the decimal point, got 5"),
        (b'"1000000000.0001"', "<= 1000000000"),
        (b"1e400", "<= 1000000000"),
        (b'"' + b"9" * 5000 + b'"', "(5000 characters)"),
    ],
)
def test_amounts_beyond_precision_or_scale_are_bad_input(raw_amount: bytes, expected: str) -> None:
    raw = _receipt().replace(b'"amount": "1"', b'"amount": ' + raw_amount)
    why = reason(InputStream.RECEIPTS, raw)
    assert expected in why, why
    assert why.endswith("- at `$.amount`"), why
    assert len(why) < 200  # the value is never quoted whole


def test_ids_codes_and_lists_are_bounded_in_length() -> None:
    long = "x" * 129
    wide = "𝔪" * 128  # 128 characters, 512 bytes: the limit counts characters
    assert isinstance(
        decode_body(InputStream.POINTS, body(kind="earned", amount=1, member_id=wide)), PointsEvent
    )
    cases = [
        (InputStream.POINTS, body(kind="earned", amount=1, event_id=long), "$.event_id"),
        (InputStream.POINTS, body(kind="earned", amount=1, club=long), "$.club"),
        (InputStream.POINTS, body(kind="earned", amount=1, member_id=long), "$.member_id"),
        (InputStream.RECEIPTS, _receipt(receipt_id=long), "$.receipt_id"),
        (InputStream.RECEIPTS, _receipt(store_id=long), "$.store_id"),
        (InputStream.RECEIPTS, _receipt(items=["a", long]), "$.items[1]"),
        (InputStream.RECEIPTS, _receipt(items=["a"] * 1001), "$.items"),
        (InputStream.VOUCHERS, body(kind="redeemed", voucher_id=long), "$.voucher_id"),
        (InputStream.VOUCHERS, body(kind="redeemed", voucher_id="v", offer_id=long), "$.offer_id"),
        (InputStream.MEMBERS, body(kind="opted_in", challenge_code=long), "$.challenge_code"),
        (
            InputStream.MEMBERS,
            body(kind="opted_in", challenge_code="c", charity_code=long),
            "$.charity_code",
        ),
        (InputStream.MEMBERS, body(kind="joined_group", group_code=long), "$.group_code"),
        (InputStream.POINTS, body(kind="earned", amount=10**9 + 1), "$.amount"),
        (InputStream.POINTS, body(kind="earned", amount=1, balance=2**53 + 1), "$.balance"),
    ]
    for stream, raw, field in cases:
        assert field in reason(stream, raw), field


def test_a_reason_quoting_a_huge_value_is_cut_but_still_names_the_field() -> None:
    why = reason(InputStream.POINTS, body(kind="k" * 60_000, amount=1))
    assert len(why) <= 400
    assert "characters cut" in why
    assert why.endswith("- at `$.kind`")
