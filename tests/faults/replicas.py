"""Replicas in processes of their own, as the fault tests run them: started against the
test's database, Redis and stream prefix, watched until they have committed enough, and
killed at a moment they hold entries."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.testing.worker_process import WorkerProcess
from tests.faults.delivery_state import consumer_pending, processed_count


def worker_process(
    settings: Settings, consumer: str, log_dir: Path, **extra_env: str
) -> WorkerProcess:
    """`python -m loyalty_progress run` against the test's database, Redis and prefix, as
    consumer `consumer`, its log in `log_dir`; use it with `with`, which kills it on the
    way out. The schema is the test's: the replica does not migrate. It serves HTTP (and
    `/readyz`) on `LOYALTY_HTTP_PORT` of `extra_env`, else on a port the kernel picks."""
    assert settings.database_url
    assert settings.redis_url
    http_port = int(extra_env.pop("LOYALTY_HTTP_PORT", "0"))
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": settings.database_url,
        "LOYALTY_REDIS_URL": settings.redis_url,
        "LOYALTY_STREAM_PREFIX": settings.stream_prefix,
        "LOYALTY_CONSUMER_GROUP": settings.consumer_group,
        "LOYALTY_CONSUMER_NAME": consumer,
        "LOYALTY_MIGRATE_ON_START": "false",
        "LOYALTY_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    return WorkerProcess.start(env, log_dir / f"{consumer}.log", http_port=http_port)


async def wait_for_progress(
    engine: AsyncEngine, handle: WorkerProcess, at_least: int, timeout: float
) -> int:
    """Wait until the worker process has committed at least `at_least` events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not handle.alive():
            raise AssertionError(f"worker process exited early:\n{handle.log_tail()}")
        count = await processed_count(engine)
        if count >= at_least:
            return count
        await asyncio.sleep(0.02)
    raise AssertionError(f"worker made no progress in {timeout}s:\n{handle.log_tail()}")


async def kill_while_holding_entries(
    victim: WorkerProcess, redis: Redis, settings: Settings, consumer: str, attempts: int = 50
) -> int:
    """SIGKILL the victim at a moment it holds delivered-but-unacked entries: freeze it
    (SIGSTOP) so it cannot ack while we look, kill it if it holds some, else let it run a
    little and look again. Returns how many entries it held."""
    for _ in range(attempts):
        victim.signal(signal.SIGSTOP)
        held = await consumer_pending(redis, settings, consumer)
        if held > 0:
            victim.signal(signal.SIGKILL)
            return held
        victim.signal(signal.SIGCONT)
        await asyncio.sleep(0.02)
    victim.signal(signal.SIGKILL)
    return await consumer_pending(redis, settings, consumer)
