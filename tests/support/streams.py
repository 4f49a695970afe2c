"""The Redis streams of a test: publishing input entries, reading entries back, and
whether the consumer group has taken everything in."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.typing import StreamRangeResponse

from loyalty_progress.config import Settings

# (entry id, fields) of one stream entry, as the tests' clients (bytes replies) read it.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


async def publish(redis: Redis, settings: Settings, stream: str, *bodies: Any) -> list[bytes]:
    """XADD each body as field `data` (dicts are JSON-encoded; bytes go as they are)."""
    async with redis.pipeline(transaction=False) as pipe:
        for body in bodies:
            data = body if isinstance(body, bytes | str) else json.dumps(body)
            pipe.xadd(settings.stream(stream), {"data": data})
        return list(await pipe.execute())


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def as_entries(reply: StreamRangeResponse | None) -> list[StreamEntry]:
    """An XRANGE reply narrowed to what the tests' clients return: bytes. redis-py types
    the reply for either response decoding (bytes | str | None), so it is checked here,
    once, instead of at every use."""
    entries: list[StreamEntry] = []
    for entry_id, fields in reply or ():
        assert isinstance(entry_id, bytes), f"entry id {entry_id!r} is not bytes"
        entries.append((entry_id, {_as_bytes(k): _as_bytes(v) for k, v in (fields or {}).items()}))
    return entries


async def stream_entries(redis: Redis, key: str) -> list[StreamEntry]:
    """Every entry of the stream `key` (a full key: `settings.stream(name)`), oldest first."""
    return as_entries(await redis.xrange(key))


async def read_stream(redis: Redis, settings: Settings, name: str) -> list[dict[str, Any]]:
    """The JSON bodies (field `data`) of every entry of `<prefix>.<name>`, oldest first."""
    return [
        json.loads(fields[b"data"])
        for _, fields in await stream_entries(redis, settings.stream(name))
    ]


async def drained(redis: Redis, settings: Settings) -> bool:
    """Every entry of every input stream delivered and acknowledged."""
    for stream in ("receipts", "points", "vouchers", "members"):
        name = settings.stream(stream)
        if not await redis.exists(name):
            continue
        groups = {g["name"].decode(): g for g in await redis.xinfo_groups(name)}
        group = groups.get(settings.consumer_group)
        if group is None or group["pending"]:
            return False
        if "lag" in group:
            if group["lag"]:
                return False
        # Redis < 7 has no `lag`: compare the group's position with the stream's end.
        elif group["last-delivered-id"] != (await redis.xinfo_stream(name))["last-generated-id"]:
            return False
    return True
