"""Bounded request parameters shared by the read routes, and their 422 answer.

Ids, member ids, codes and the club header are at most `MAX_ID_LENGTH` characters, the
wire contract's bound on the same ids (docs/wire-contract.md): nothing longer can exist.
Integers that reach SQL stop at the column's range (`MAX_INT4` for occurrence indexes,
`MAX_INT8` for job ids), so an out-of-range value is a 422 instead of a database error.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.params import HeaderParameter, PathParameter
from litestar.types import ExceptionHandlersMap

from loyalty_progress.api.context import CLUB_HEADER
from loyalty_progress.api.query_names import QUERY_NAMES

MAX_ID_LENGTH: Final = 128
MAX_INT4: Final = 2**31 - 1
MAX_INT8: Final = 2**63 - 1  # PostgreSQL `bigint` ids (replay jobs)

Club = Annotated[str, HeaderParameter(name=CLUB_HEADER, min_length=1, max_length=MAX_ID_LENGTH)]
SubjectId = Annotated[str, PathParameter(min_length=1, max_length=MAX_ID_LENGTH)]


def unprocessable(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """422 with the reason, naming each parameter as the client sent it."""
    problems = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key", ""))
        problem = {**item}
        source = item.get("source")
        if source is not None:  # Litestar's ParamType enum: its value reads better
            source = problem["source"] = str(getattr(source, "value", source))
        if source == "query":
            key = QUERY_NAMES.get(key, key)
        elif source == "header" and key == "club":
            key = CLUB_HEADER
        problems.append({**problem, "key": key})
    if problems and all("source" in p for p in problems):
        reasons = "; ".join(
            f"{p['source']} parameter `{p['key']}`: {p['message']}" for p in problems
        )
        detail = f"Validation failed: {reasons}"
    else:
        detail = exc.detail
    body = {"status_code": 422, "detail": detail, "extra": problems or exc.extra}
    return Response(body, status_code=422)


# Litestar answers a ValidationException with 400; the read routes answer 422.
VALIDATION_HANDLERS: Final[ExceptionHandlersMap] = {ValidationException: unprocessable}
