"""Keeping each replica's definitions current: poll the revision every `RELOAD_SECONDS`
and reload on change (`definitions.cache`), riding out outages."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from loyalty_progress.definitions.cache import RELOAD_SECONDS, DefinitionsCache
from loyalty_progress.worker.retry import is_transient

log = logging.getLogger(__name__)


async def keep_current(
    cache: DefinitionsCache, stopping: asyncio.Event, interval: float = RELOAD_SECONDS
) -> None:
    while not stopping.is_set():
        try:
            await cache.refresh()
        except Exception as exc:
            if not is_transient(exc):
                log.exception("reloading definitions failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
