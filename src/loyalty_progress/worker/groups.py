"""Consumer groups are created at `0` before FastStream starts: FastStream would create
them at `$` and skip every entry published before the first worker ran.

A group lost while the worker runs (its stream deleted, FLUSHALL, a failover to a replica
that never had it) is created again at `0` too (`worker.supervisor`): the pending list and
the group's position went with it, so nothing tells which entries were applied. Starting
over at the first entry the stream still holds skips nothing published after the loss
(nor anything that was pending then); whatever is read again was recorded in
`processed_events` with its effects and is dropped there as a duplicate.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream

# Where a group starts, at first and after a loss (see above).
GROUP_START_ID = "0"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def ensure_group(redis: Redis, stream: str, group: str) -> bool:
    """Create `group` on `stream` (and the stream) at `GROUP_START_ID`; False if it existed."""
    try:
        await redis.xgroup_create(stream, group, id=GROUP_START_ID, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return False
    return True


async def ensure_groups(redis: Redis, settings: Settings) -> None:
    for stream in InputStream:
        await ensure_group(redis, settings.stream(stream.value), settings.consumer_group)


async def group_info(redis: Redis, stream: str, group: str) -> dict[str, Any] | None:
    """The group's XINFO GROUPS entry, or None when the group (or the stream) is gone."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError as exc:
        if "no such key" in str(exc).lower():
            return None
        raise
    return next((g for g in groups if _text(g["name"]) == group), None)


async def has_consumer(redis: Redis, stream: str, group: str, consumer: str) -> bool:
    """Whether `consumer` has read from the group (XREADGROUP registers it, even when it
    returns nothing)."""
    try:
        consumers = await redis.xinfo_consumers(stream, group)
    except ResponseError as exc:
        if "NOGROUP" in str(exc) or "no such key" in str(exc).lower():
            return False
        raise
    return any(_text(c["name"]) == consumer for c in consumers)


def is_no_group(exc: BaseException) -> bool:
    """Redis's answer to reading or claiming from a group that does not exist."""
    return isinstance(exc, ResponseError) and "NOGROUP" in str(exc)
