"""Consumer lag, pending entries and outbox backlog, for `/metrics` and autoscaling."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.store.outbox import backlog_size
from loyalty_progress.worker.groups import group_info

LAG_COUNT_CAP = 100_000


async def group_lag(redis: Redis, stream: str, group: dict[str, Any]) -> int:
    """Entries not yet delivered to the group. Redis 7 reports it; older servers (the
    embedded one is 6.2) do not, so count the entries after the group's position, capped."""
    lag = group.get("lag")
    if lag is not None:
        return int(lag)
    position = group.get("last-delivered-id") or b"0-0"
    if isinstance(position, str):
        position = position.encode()
    entries = await redis.xrange(stream, min=b"(" + position, count=LAG_COUNT_CAP)
    return len(entries or ())


async def collect_stream_gauges(
    redis: Redis, engine: AsyncEngine, settings: Settings, metrics: Metrics
) -> None:
    for stream in InputStream:
        name = settings.stream(stream.value)
        group = await group_info(redis, name, settings.consumer_group)
        if group is None:
            # No group: nothing is being delivered, and a group created again starts at the
            # stream's first entry, so all of it is what the consumers have to read.
            metrics.consumer_lag.labels(name).set(await redis.xlen(name))
            metrics.pending.labels(name).set(0)
            continue
        metrics.consumer_lag.labels(name).set(await group_lag(redis, name, group))
        metrics.pending.labels(name).set(group.get("pending") or 0)
    async with engine.connect() as conn:
        metrics.outbox_backlog.set(await backlog_size(conn))
