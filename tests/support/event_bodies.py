"""Input events as a producer publishes them (JSON bodies), with the common fields filled
in."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


def event(stream: str, **fields: Any) -> dict[str, Any]:
    """An input event with the common fields filled in."""
    body: dict[str, Any] = {
        "event_id": f"{stream}-{next(_ids)}",
        "club": "infinity-mall",
        "member_id": "m1",
        "occurred_at": "2026-11-10T12:00:00+01:00",
    }
    body.update(fields)
    return body


def points(**fields: Any) -> dict[str, Any]:
    return event("points", **{"kind": "earned", "amount": 100, **fields})


def receipt(**fields: Any) -> dict[str, Any]:
    return event(
        "receipts",
        **{
            "receipt_id": "r1",
            "status": "approved",
            "amount": "100.00",
            "store_id": "s1",
            **fields,
        },
    )
