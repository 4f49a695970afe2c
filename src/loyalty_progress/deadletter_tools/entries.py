"""Entries of `<prefix>.deadletter` and how they are picked: each one's id in the
dead-letter stream with its decoded `DeadLetter` (original stream, entry id, body,
reason, delivery count), filtered by reason, original stream and position."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import msgspec

from loyalty_progress.contract.outputs import DeadLetter

if TYPE_CHECKING:
    from redis import Redis

PAGE: Final = 500
_DECODER: Final = msgspec.json.Decoder(DeadLetter)
_STREAM_ID: Final = re.compile(r"^\(?\d+(-\d+)?$")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LetterEntry:
    """One entry of the dead-letter stream. `letter` is None when the entry is not a
    dead letter of this contract (then `problem` says why and `raw` holds it)."""

    id: str
    letter: DeadLetter | None
    raw: str
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.letter is None:
            return {"id": self.id, "problem": self.problem, "raw": self.raw}
        letter: dict[str, Any] = msgspec.to_builtins(self.letter)
        return {"id": self.id, **letter}


def decode(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> LetterEntry:
    key = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    data = fields.get(b"data")
    if data is None:
        return LetterEntry(key, None, repr(fields), "the entry has no `data` field")
    raw = data.decode("utf-8", errors="replace")
    try:
        return LetterEntry(key, _DECODER.decode(data), raw)
    except msgspec.DecodeError as exc:
        return LetterEntry(key, None, raw, f"not a dead letter: {exc}")


@dataclass(frozen=True, slots=True)
class Filters:
    reason: str | None = None  # substring, any case
    stream: str | None = None  # full original stream name
    since: str = "-"  # first dead-letter id (or "(id": after it)
    limit: int | None = None

    @property
    def narrowing(self) -> bool:
        """Whether anything but the limit picks entries (`purge` insists on it or --yes)."""
        return self.reason is not None or self.stream is not None or self.since != "-"

    def matches(self, entry: LetterEntry) -> bool:
        letter = entry.letter
        if letter is None:
            # Content filters cannot judge what cannot be read: only unfiltered lists show it.
            return self.reason is None and self.stream is None
        if self.reason is not None and self.reason.lower() not in letter.reason.lower():
            return False
        return self.stream is None or letter.stream == self.stream


def scan(
    redis: Redis, key: str, filters: Filters, limit: int | None = None
) -> Iterator[LetterEntry]:
    """Matching entries, oldest first, at most `limit` (default: the filters' limit)."""
    limit = filters.limit if limit is None else limit
    if limit is not None and limit <= 0:
        return
    found = 0
    start = filters.since
    while True:
        page: Any = redis.xrange(key, min=start, max="+", count=PAGE)
        for entry_id, fields in page:
            entry = decode(entry_id, fields)
            if filters.matches(entry):
                yield entry
                found += 1
                if limit is not None and found >= limit:
                    return
        if len(page) < PAGE:
            return
        start = "(" + page[-1][0].decode()


def fetch(redis: Redis, key: str, ids: Sequence[str]) -> tuple[list[LetterEntry], list[str]]:
    """The entries with these dead-letter ids, and the ids not found."""
    found: list[LetterEntry] = []
    missing: list[str] = []
    for entry_id in ids:
        page: Any = redis.xrange(key, min=entry_id, max=entry_id, count=1)
        if page:
            found.append(decode(page[0][0], page[0][1]))
        else:
            missing.append(entry_id)
    return found, missing


def entry_id(raw: str) -> str:
    """An argparse type: a stream entry id such as `1763902000000-0`."""
    if not _STREAM_ID.match(raw) or raw.startswith("("):
        raise argparse.ArgumentTypeError(f"not a stream entry id (like 1763902000000-0): {raw!r}")
    return raw


def since_id(raw: str) -> str:
    """An argparse type: a stream id (`(` before it: after that id) or an RFC 3339
    timestamp, which becomes the first id of that millisecond."""
    if _STREAM_ID.match(raw):
        return raw
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a stream id or an RFC 3339 timestamp: {raw!r}"
        ) from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{raw!r} needs a UTC offset (e.g. Z or +01:00)")
    return f"{(at - _EPOCH) // timedelta(milliseconds=1)}-0"
