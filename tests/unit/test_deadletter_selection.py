"""Picking dead letters: decoding entries, the filters, and the ids `--since` accepts."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from loyalty_progress.contract.outputs import DeadLetter, encode
from loyalty_progress.deadletter_tools.entries import (
    Filters,
    LetterEntry,
    decode,
    entry_id,
    since_id,
)


def _letter(stream: str = "loyalty.points", reason: str = "body is not valid JSON") -> DeadLetter:
    return DeadLetter(
        stream=stream,
        entry_id="1763902000000-0",
        body="{oops",
        reason=reason,
        delivery_count=1,
        dead_lettered_at=datetime(2026, 11, 23, 12, tzinfo=UTC),
    )


def _entry(letter: DeadLetter) -> LetterEntry:
    return decode(b"1763902000001-0", {b"data": encode(letter)})


def test_an_entry_decodes_to_its_dead_letter_and_back_to_json() -> None:
    letter = _letter()
    entry = _entry(letter)
    assert entry.letter == letter
    assert entry.problem is None
    assert entry.as_json() == {
        "id": "1763902000001-0",
        "stream": "loyalty.points",
        "entry_id": "1763902000000-0",
        "body": "{oops",
        "reason": "body is not valid JSON",
        "delivery_count": 1,
        "dead_lettered_at": "2026-11-23T12:00:00Z",
        # A letter written before these fields existed decodes with them unset.
        "body_size": None,
        "body_sha256": None,
        "body_truncated": False,
        "body_base64": None,
    }


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({b"payload": b"{}"}, "no `data` field"),
        ({b"data": b"[1]"}, "not a dead letter"),
        ({b"data": b'{"stream": "x"}'}, "not a dead letter"),
    ],
)
def test_an_entry_that_is_no_dead_letter_says_why(fields: dict[bytes, bytes], problem: str) -> None:
    entry = decode("1-0", fields)
    assert entry.letter is None
    assert entry.problem is not None
    assert problem in entry.problem


def test_reason_filter_is_a_substring_in_any_case_and_stream_filter_is_exact() -> None:
    json_points = _entry(_letter())
    trigger_receipts = _entry(_letter("loyalty.receipts", "failed 5 deliveries; last error: X"))
    entries = [json_points, trigger_receipts]
    assert [e for e in entries if Filters(reason="NOT VALID json").matches(e)] == [json_points]
    assert [e for e in entries if Filters(stream="loyalty.receipts").matches(e)] == [
        trigger_receipts
    ]
    assert [e for e in entries if Filters(stream="loyalty.receipt").matches(e)] == []
    both = Filters(reason="failed", stream="loyalty.points")
    assert [e for e in entries if both.matches(e)] == []


def test_unreadable_entries_match_only_without_content_filters() -> None:
    unreadable = decode("1-0", {b"data": b"garbage"})
    assert Filters().matches(unreadable)
    assert Filters(since="1-0", limit=3).matches(unreadable)
    assert not Filters(reason="garbage").matches(unreadable)
    assert not Filters(stream="loyalty.points").matches(unreadable)


def test_only_reason_stream_and_since_narrow_a_selection() -> None:
    assert not Filters().narrowing
    assert not Filters(limit=5).narrowing
    assert Filters(reason="x").narrowing
    assert Filters(stream="loyalty.points").narrowing
    assert Filters(since="1-0").narrowing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1763902000000-0", "1763902000000-0"),
        ("1763902000000", "1763902000000"),
        ("(1763902000000-3", "(1763902000000-3"),
        ("2026-11-23T12:00:00Z", "1795435200000-0"),
        ("2026-11-23T13:00:00.123+01:00", "1795435200123-0"),
    ],
)
def test_since_takes_stream_ids_and_rfc3339_instants(raw: str, expected: str) -> None:
    assert since_id(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2026-11-23T12:00:00", "12-ab", "-"])
def test_since_refuses_anything_else(raw: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        since_id(raw)


def test_entry_ids_are_plain_stream_ids() -> None:
    assert entry_id("1763902000000-7") == "1763902000000-7"
    for raw in ("(1763902000000-7", "latest", "1763902000000-"):
        with pytest.raises(argparse.ArgumentTypeError):
            entry_id(raw)
