"""Keeps `Health` true to the moment: an idle worker must still notice an outage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.observability.health import Health

PROBE_TIMEOUT = 2.0


async def _check(probe: asyncio.Future[object] | asyncio.Task[object]) -> str | None:
    try:
        await asyncio.wait_for(probe, timeout=PROBE_TIMEOUT)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def probe_once(engine: AsyncEngine, redis: Redis, health: Health) -> None:
    async def database() -> object:
        async with engine.connect() as conn:
            return await conn.execute(text("SELECT 1"))

    db_error = await _check(asyncio.ensure_future(database()))
    redis_error = await _check(asyncio.ensure_future(redis.ping()))
    health.database = db_error is None
    health.redis = redis_error is None
    if db_error or redis_error:
        health.last_error = db_error or redis_error


async def run_probe(
    engine: AsyncEngine,
    redis: Redis,
    health: Health,
    stopping: asyncio.Event,
    interval: float,
    collect: Callable[[], Awaitable[None]] | None = None,
) -> None:
    while not stopping.is_set():
        await probe_once(engine, redis, health)
        if collect is not None and health.database and health.redis:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(collect(), timeout=PROBE_TIMEOUT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
