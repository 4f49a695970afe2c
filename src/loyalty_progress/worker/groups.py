"""Consumer groups are created at `0` before FastStream starts: FastStream would create
them at `$` and skip every entry published before the first worker ran."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream


async def ensure_groups(redis: Redis, settings: Settings) -> None:
    for stream in InputStream:
        try:
            await redis.xgroup_create(
                settings.stream(stream.value), settings.consumer_group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
