"""Where replayed events come from: a JSONL file, or a range of an input stream.

Both sources hand out bulks of decoded items. An item is either a good event (with the raw
body kept for `processed_events`, exactly as the pipeline keeps it) or an invalid one with
where it was and why; an invalid item never stops the job.

File lines are input events with one more field, `stream`, naming the input stream
(`receipts`, `points`, `vouchers`, `members`). The typed decoders ignore unknown fields, so
the line is decoded as it is and stored as it is; blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec
from redis.asyncio import Redis

from loyalty_progress.contract.events import (
    DATA_FIELD,
    BadInput,
    InputEvent,
    InputStream,
    decode_body,
    decode_entry,
)
from loyalty_progress.safe_text import shortened

STREAM_NAMES: Final = ", ".join(s.value for s in InputStream)


@dataclass(frozen=True, slots=True)
class Good:
    stream: InputStream
    entry_id: str  # `line:N` for files, the stream entry id for stream ranges
    event: InputEvent
    body: bytes

    @property
    def where(self) -> dict[str, Any]:
        if self.entry_id.startswith("line:"):
            return {"line": int(self.entry_id[5:])}
        return {"entry_id": self.entry_id}


@dataclass(frozen=True, slots=True)
class Invalid:
    where: dict[str, Any]  # {"line": N} or {"entry_id": ID}
    reason: str


Item = Good | Invalid


class Source(Protocol):
    """A finite sequence of events, read in bulks."""

    description: str

    def count(self) -> int | None:
        """The number of events, when it can be known before reading them."""
        ...

    def bulks(self, size: int) -> AsyncIterator[list[Item]]: ...


class _Envelope(msgspec.Struct):
    stream: str | None = None


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)


def _decoded(stream: InputStream, body: bytes) -> InputEvent | BadInput:
    # As in the pipeline: whatever the decoder raises is this one body's fault.
    try:
        return decode_body(stream, body)
    except Exception as exc:
        return BadInput(f"body cannot be decoded: {type(exc).__name__}: {exc}")


def decode_line(line: bytes, number: int) -> Item:
    """One JSONL line (without its line break) -> a good event or why it is not one."""
    where = {"line": number}
    try:
        envelope = _ENVELOPE.decode(line)
    except msgspec.ValidationError as exc:
        return Invalid(where, f"line is not an event object: {exc}")
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return Invalid(where, f"line is not valid JSON: {exc}")
    if envelope.stream is None:
        return Invalid(where, f"line has no `stream` field (one of {STREAM_NAMES})")
    try:
        stream = InputStream(envelope.stream)
    except ValueError:
        return Invalid(
            where,
            f"unknown stream {shortened(repr(envelope.stream), 60)} (one of {STREAM_NAMES})"
            " - at `$.stream`",
        )
    decoded = _decoded(stream, line)
    if isinstance(decoded, BadInput):
        return Invalid(where, decoded.reason)
    return Good(stream, f"line:{number}", decoded, line)


class JsonlFile:
    """Events from a JSONL file, one a line. The file is read twice: once to count the
    events (so every bulk is listed, waiting, from the start), once to apply them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path}"

    def count(self) -> int:
        with self.path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())

    async def bulks(self, size: int) -> AsyncIterator[list[Item]]:
        bulk: list[Item] = []
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if not line:
                    continue
                bulk.append(decode_line(line, number))
                if len(bulk) >= size:
                    yield bulk
                    bulk = []
        if bulk:
            yield bulk


def _decoded_entry(stream: InputStream, fields: Mapping[bytes, bytes]) -> InputEvent | BadInput:
    try:
        return decode_entry(stream, fields)
    except Exception as exc:
        return BadInput(f"body cannot be decoded: {type(exc).__name__}: {exc}")


StreamPage = list[tuple[bytes, dict[bytes, bytes]]]


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


async def read_page(redis: Redis, key: str, start: str, end: str, count: int) -> StreamPage:
    """One XRANGE page as redis-py returns it without `decode_responses`: (id, fields)
    pairs of bytes. redis-py types the reply loosely (bytes | str | None), so the page is
    checked and narrowed here, once, instead of at every use."""
    reply = await redis.xrange(key, min=start, max=end, count=count)
    page: StreamPage = []
    for raw_id, fields in reply or ():
        if not isinstance(raw_id, bytes):
            raise TypeError(
                f"XRANGE on {key}: entry id {raw_id!r} is not bytes (decode_responses?)"
            )
        # A trimmed entry can come back without fields (XAUTOCLAIM does this; XRANGE
        # should not, but an empty mapping is the honest reading of it).
        page.append((raw_id, {_as_bytes(k): _as_bytes(v) for k, v in (fields or {}).items()}))
    return page


class StreamRange:
    """Entries `since`..`until` (inclusive, XRANGE ids; `until` None: to the end) of the
    input stream `<prefix>.<name>`, read page by page (one page is one bulk). The range is
    read with XRANGE, outside the consumer group: nothing is claimed or acknowledged."""

    def __init__(
        self, redis: Redis, stream: InputStream, key: str, since: str, until: str | None
    ) -> None:
        self.redis, self.stream, self.key = redis, stream, key
        self.since, self.until = since, until
        self.description = f"stream {key} from {since} to {until or 'the end'}"

    def count(self) -> None:
        return None  # XRANGE has no count; bulks are listed as they are read

    async def bulks(self, size: int) -> AsyncIterator[list[Item]]:
        start = self.since
        end = self.until or "+"
        while True:
            page = await read_page(self.redis, self.key, start, end, size)
            if not page:
                return
            bulk: list[Item] = []
            for raw_id, fields in page:
                entry_id = raw_id.decode()
                decoded = _decoded_entry(self.stream, fields)
                if isinstance(decoded, BadInput):
                    bulk.append(Invalid({"entry_id": entry_id}, decoded.reason))
                else:
                    bulk.append(Good(self.stream, entry_id, decoded, fields[DATA_FIELD]))
            yield bulk
            if len(page) < size:
                return
            start = "(" + page[-1][0].decode()  # exclusive: the entries after the last one


__all__ = [
    "Good",
    "Invalid",
    "Item",
    "JsonlFile",
    "Source",
    "StreamRange",
    "decode_line",
    "read_page",
]
