"""Query parameter names match whatever their case, values stay as sent, and the table of
names covers every query parameter the read side documents."""

from __future__ import annotations

import json
from pathlib import Path

from loyalty_progress.api.query_names import CANONICAL, QUERY_NAMES, canonical_query

ROOT = Path(__file__).resolve().parents[2]


def test_known_names_take_their_declared_spelling_whatever_the_case() -> None:
    assert canonical_query(b"categoryid=3&SEARCHQUERY=Burger&orderBy=name") == (
        b"CategoryId=3&SearchQuery=Burger&OrderBy=name"
    )
    assert canonical_query(b"sincedate=2026-11-01+00%3A00%3A00+%2B0100") == (
        b"sinceDate=2026-11-01+00%3A00%3A00+%2B0100"
    )
    assert canonical_query(b"MEMBERID=m1&GroupCode=g&OCCURRENCE=2") == (
        b"memberId=m1&groupCode=g&occurrence=2"
    )


def test_values_and_unknown_names_are_left_byte_for_byte() -> None:
    assert canonical_query(b"") == b""
    assert canonical_query(b"Bogus=1&page=%50age&flag") == b"Bogus=1&Page=%50age&flag"
    assert canonical_query(b"Pag%65=2") == b"Page=2"  # a percent-encoded name
    assert canonical_query(b"page=1&&page") == b"Page=1&&Page"


def test_every_documented_query_parameter_is_in_the_table_and_none_differ_by_case() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    documented = {
        parameter["name"]
        for item in document["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    }
    assert documented <= set(QUERY_NAMES.values())
    assert len(CANONICAL) == len(set(QUERY_NAMES.values()))
