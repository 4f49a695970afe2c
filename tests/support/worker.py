"""A worker running in the test's own process and event loop, with the test's settings."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime

from loyalty_progress.config import Settings
from loyalty_progress.worker.app import Worker


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, serve_http: bool = False) -> AsyncIterator[Worker]:
    """A started worker (with its read side and ops port when `serve_http`), stopped on
    exit; start and stop each fail the test after 30 s."""
    worker = Worker(settings, serve_http=serve_http)
    await asyncio.wait_for(worker.start(), timeout=30)
    try:
        yield worker
    finally:
        await asyncio.wait_for(worker.stop(), timeout=30)


def at_now(settings: Settings, now: datetime) -> Settings:
    """The same test services with `LOYALTY_NOW` fixed at `now`."""
    return dataclasses.replace(settings, now=now)


@contextlib.asynccontextmanager
async def worker_at(settings: Settings, now: datetime) -> AsyncIterator[Worker]:
    """A worker serving HTTP whose clock reads `now`."""
    async with running_worker(at_now(settings, now), serve_http=True) as worker:
        yield worker
