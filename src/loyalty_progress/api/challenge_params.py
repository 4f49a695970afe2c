"""The challenge routes' own query parameters and their 422 answers: the Paytronix
`sinceDate`, the member-app `OrderBy`, and the subject of an occurrence's detail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from loyalty_progress.api.params import MAX_ID_LENGTH
from loyalty_progress.engine.challenges.lists import ORDER_FIELDS

SinceDate = Annotated[str | None, QueryParameter(name="sinceDate", max_length=64)]
# How a list route asks for its `sinceDate` as sent (`since_query` or `no_since`).
SinceRaw = NamedDependency[str | None]
# Ids in the query string, as bounded as the path ids.
MemberIdQuery = Annotated[
    str | None, QueryParameter(name="memberId", min_length=1, max_length=MAX_ID_LENGTH)
]
GroupCodeQuery = Annotated[
    str | None, QueryParameter(name="groupCode", min_length=1, max_length=MAX_ID_LENGTH)
]


def invalid(parameter: str, problem: str) -> ValidationException:
    detail = f"Validation failed: query parameter `{parameter}` {problem}"
    return ValidationException(detail=detail, extra=[{"key": parameter, "message": problem}])


def order_field(raw: str) -> str:
    for name in ORDER_FIELDS:
        if raw.lower() == name.lower():
            return name
    raise invalid("OrderBy", f"must be one of {', '.join(ORDER_FIELDS)}, got {raw!r}")


def parse_since(raw: str | None) -> datetime | None:
    """Paytronix `sinceDate`: `yyyy-MM-dd HH:mm:ss [+-ZZZZ]` (UTC without an offset), an
    RFC 3339 timestamp, or a date (midnight UTC)."""
    if raw is None:
        return None
    candidate = raw.strip().replace(" +", "+").replace(" -", "-").replace("Z", "+00:00")
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise invalid(
            "sinceDate", f"must look like `2026-11-01 00:00:00 +0100` or RFC 3339, got {raw!r}"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def since_query(since_date: SinceDate = None) -> str | None:
    """The historical lists' `sinceDate`, as sent (parsed once access is checked)."""
    return since_date


def no_since() -> None:
    """The active and eligible lists take no `sinceDate`."""
    return
