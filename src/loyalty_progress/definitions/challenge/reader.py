"""Reading one definition mapping field by field: every check names the file, the
challenge code and the dotted field path (`groups[0].triggers[1].target`), and fails
with `DefinitionError`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn, TypeVar

from loyalty_progress.definitions.errors import DefinitionError

T = TypeVar("T")


class FieldReader:
    """Knows where it is (file, challenge code) so every check can name the field."""

    def __init__(self, source: str, code: str | None) -> None:
        self.source, self.code = source, code

    def fail(self, path: str, problem: str) -> NoReturn:
        raise DefinitionError(self.source, self.code, path or None, problem)

    def mapping(self, value: object, path: str, allowed: frozenset[str]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, f"must be a mapping, got {shown(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.fail(
                    join_path(path, str(key)),
                    f"unknown field (known: {', '.join(sorted(allowed))})",
                )
        return dict(value)

    def sequence(self, value: object, path: str, *, non_empty: bool = False) -> list[Any]:
        if not isinstance(value, list | tuple):
            self.fail(path, f"must be a list, got {shown(value)}")
        if non_empty and not value:
            self.fail(path, "must not be empty")
        return list(value)

    def required(self, raw: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in raw or raw[key] is None:
            self.fail(join_path(path, key), "is required")
        return raw[key]

    def text(self, value: object, path: str, *, max_length: int | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {shown(value)}")
        if max_length is not None and len(value) > max_length:
            self.fail(path, f"must be at most {max_length} characters")
        if "\x00" in value:
            self.fail(path, "must not contain NUL characters")
        return value

    def integer(self, value: object, path: str, *, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be an integer, got {shown(value)}")
        if minimum is not None and value < minimum:
            self.fail(path, f"must be >= {minimum}, got {value}")
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, got {shown(value)}")
        return value

    def decimal(self, value: object, path: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            self.fail(path, f"must be a number, got {shown(value)}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(path, f"must be a number, got {shown(value)}")
        if not number.is_finite():
            self.fail(path, f"must be a finite number, got {shown(value)}")
        return number

    def timestamp(self, value: object, path: str) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                self.fail(path, f"must be an RFC 3339 timestamp with offset, got {shown(value)}")
        if not isinstance(value, datetime):
            kind = "a date without time" if isinstance(value, date) else shown(value)
            self.fail(path, f"must be an RFC 3339 timestamp with offset, got {kind}")
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail(path, f"must have a UTC offset (e.g. +01:00 or Z), got {value.isoformat()}")
        return value

    def choice(self, value: object, path: str, options: tuple[T, ...]) -> T:
        if value not in options:
            known = ", ".join(str(o) for o in options)
            self.fail(path, f"must be one of {known}, got {shown(value)}")
        return value

    def optional(
        self, raw: Mapping[str, Any], key: str, path: str, read: Callable[[object, str], T]
    ) -> T | None:
        value = raw.get(key)
        return None if value is None else read(value, join_path(path, key))


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
