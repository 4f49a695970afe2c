"""Many rows as one JSON parameter.

asyncpg encodes an array parameter element by element, and for `numeric`, `timestamptz`
and `bytea` that costs microseconds per element on each side; with a dozen arrays per
statement it was the largest CPU cost of a batch. One JSON text of positional rows is
encoded by msgspec in C and taken apart by PostgreSQL in C, at a fraction of the cost
(`benchmarks/README.md`, "Parameter encoding"). Rows are lists, not objects: no key
lookups on the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

# Decimals as JSON numbers: PostgreSQL reads them back exactly with `::numeric`.
_encoder: Final = msgspec.json.Encoder(decimal_format="number")
# State as it is stored: decimals as strings, which msgspec decodes back exactly (and
# `CAST(r->>i AS numeric)` reads as well as a number).
_state_encoder: Final = msgspec.json.Encoder()


def rows_param(rows: Iterable[Sequence[object]]) -> str:
    """The rows as one JSON array of arrays (dates, datetimes as ISO 8601, bytes base64)."""
    return _encoder.encode(list(rows)).decode()


def state_rows_param(rows: Iterable[Sequence[object]]) -> str:
    """`rows_param` for rows that nest engine state (msgspec Structs, read back whole with
    `jsonb` columns): the state is encoded in the same pass as its row, as it is stored,
    rather than one Struct at a time."""
    return _state_encoder.encode(list(rows)).decode()


def rows_source(param: str, columns: Sequence[tuple[str, str]]) -> str:
    """SQL for a derived table of the rows in JSON parameter `:param`, one typed column
    per `(name, sql_type)`, in the order the rows list their values."""
    cells = ", ".join(
        f"{_cell(index, sql_type)} AS {name}" for index, (name, sql_type) in enumerate(columns)
    )
    return f"(SELECT {cells} FROM jsonb_array_elements(CAST(:{param} AS jsonb)) AS e(r))"


def _cell(index: int, sql_type: str) -> str:
    if sql_type == "jsonb":
        return f"(r->{index})"  # a nested JSON value (state, or `msgspec.Raw`), taken as is
    if sql_type == "bytea":
        return f"decode(r->>{index}, 'base64')"
    return f"CAST(r->>{index} AS {sql_type})"
