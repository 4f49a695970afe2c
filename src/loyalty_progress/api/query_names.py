"""The read side's query parameter names, matched whatever their case.

The vendor APIs whose shapes the read side serves treat query parameter names
case-insensitively (`categoryid=3` is `CategoryId=3`), and their clients rely on it. Litestar
matches names exactly, so a middleware on the `/v1` router rewrites each name of the query
string into the spelling a route declares (`QUERY_NAMES`) before anything parses it; values
are left byte for byte as sent. A name no route declares is left alone (and ignored, as
before). tests/unit/test_query_names.py checks that every query parameter in the OpenAPI
document is in the table, and that no two differ only by case.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote_to_bytes

from litestar.types import ASGIApp, Receive, Scope, Send

# Python parameter names -> the query names clients send (Litestar reports the former in
# its validation errors; `params.unprocessable` turns them back).
QUERY_NAMES: Final = {
    "category_id": "CategoryId",
    "search_query": "SearchQuery",
    "page": "Page",
    "items_per_page": "ItemsPerPage",
    "order_by": "OrderBy",
    "is_ascending": "IsAscending",
    "since_date": "sinceDate",
    "member_id": "memberId",
    "group_code": "groupCode",
    "occurrence_index": "occurrence",
    "edition": "edition",
    "since": "since",
    "until": "until",
}

# Case-folded name -> the declared spelling.
CANONICAL: Final = {name.casefold(): name for name in QUERY_NAMES.values()}


def _decoded(name: bytes) -> str:
    return unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")


def canonical_query(raw: bytes, names: dict[str, str] = CANONICAL) -> bytes:
    """`raw` (a URL query string) with every known name in its declared spelling."""
    if not raw:
        return raw
    parts = []
    for part in raw.split(b"&"):
        name, equals, value = part.partition(b"=")
        known = names.get(_decoded(name).casefold())
        parts.append((known.encode() if known is not None else name) + equals + value)
    return b"&".join(parts)


def case_insensitive_query(app: ASGIApp) -> ASGIApp:
    """Middleware: the request's query names in their declared spelling."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        scope["query_string"] = canonical_query(scope["query_string"])
        await app(scope, receive, send)

    return middleware
