"""Publishing input events from Python, typed with the contract's own msgspec structs.

    from loyalty_progress.contract import PointsEvent
    from loyalty_progress.producer import Producer

    with Producer.from_url("redis://127.0.0.1:6379/0") as producer:
        producer.publish(PointsEvent(event_id="p-2", club="infinity-mall", member_id="m1",
                                     occurred_at=datetime.now(UTC), kind="earned", amount=300))

Each event goes to its stream (`<prefix>.points` for a `PointsEvent`, ...) as one entry
with the field `data` holding its JSON. Before publishing, the body is decoded with the
worker's own decoder: what the worker would dead-letter (a constraint a struct built in
Python does not check, such as a negative amount) raises `RejectedEvent` instead."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Final, Self

import msgspec
from redis import Redis

from loyalty_progress.contract.events import (
    DATA_FIELD,
    EVENT_TYPES,
    BadInput,
    InputEvent,
    InputStream,
    decode_body,
)

_STREAMS: Final = {event_type: stream for stream, event_type in EVENT_TYPES.items()}


class RejectedEvent(ValueError):
    """The event breaks the wire contract; the message is the worker's reason."""


def stream_of(event: InputEvent) -> InputStream:
    return _STREAMS[type(event)]


def encode_event(event: InputEvent) -> bytes:
    """The `data` field of the event's entry, checked as the worker will check it."""
    body = msgspec.json.encode(event)
    decoded = decode_body(stream_of(event), body)
    if isinstance(decoded, BadInput):
        raise RejectedEvent(decoded.reason)
    return body


class Producer:
    """A synchronous publisher onto one stream prefix (the worker's `LOYALTY_STREAM_PREFIX`)."""

    def __init__(self, redis: Redis, prefix: str = "loyalty") -> None:
        self.redis = redis
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "loyalty") -> Producer:
        return cls(Redis.from_url(url), prefix)

    def stream(self, event: InputEvent) -> str:
        return f"{self.prefix}.{stream_of(event).value}"

    def publish(self, event: InputEvent) -> str:
        """XADD one event; returns the entry id."""
        entry_id = self.redis.xadd(self.stream(event), {DATA_FIELD: encode_event(event)})
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def publish_all(self, events: Iterable[InputEvent]) -> list[str]:
        """XADD several events in one round trip (all are checked before any is sent)."""
        entries = [(self.stream(e), encode_event(e)) for e in events]
        with self.redis.pipeline(transaction=False) as pipe:
            for stream, body in entries:
                pipe.xadd(stream, {DATA_FIELD: body})
            ids = pipe.execute()
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
