"""An opt-in challenge over its life: ELIGIBLE -> OPTED_IN -> ACTIVE -> COMPLETED, or EXPIRED
via `loyalty-progress tick --at` after `ends_at`; events before opt-in and after opt-out
do not count. Each phase runs a worker whose `LOYALTY_NOW` is that moment."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.worker.app import Worker
from tests.support.challenge_service import (
    END,
    apply,
    at,
    challenge,
    earned,
    group,
    member_fact,
    messages,
    paytronix,
    published,
    settle,
    trigger,
)
from tests.support.http import http_get
from tests.support.streams import publish
from tests.support.worker import worker_at

pytestmark = pytest.mark.timeout(90)

OPT_IN = challenge("opt-in-1000", group(trigger(1, "earned_points", 1000)), enrollment="opt_in")


async def _status(worker: Worker, member: str, kind: str) -> list[tuple[str, str | None, Any]]:
    """(code, status, counter value) of the member's Paytronix list `kind`."""
    found = await paytronix(worker, f"/v1/members/{member}/challenges/{kind}")
    return [(c["code"], c["status"], c["counters"][0]["value"]) for c in found]


async def _tick(settings: Settings, when: datetime) -> str:
    assert settings.database_url
    assert settings.redis_url
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": settings.database_url,
        "LOYALTY_REDIS_URL": settings.redis_url,
        "LOYALTY_STREAM_PREFIX": settings.stream_prefix,
        "LOYALTY_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loyalty_progress",
        "tick",
        "--at",
        when.isoformat(),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def test_opt_in_statuses_run_eligible_opted_in_active_completed_or_expired_after_tick(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, OPT_IN)
    code = "opt-in-1000"
    # Before the start: both members are known (a purchase just before the window).
    async with worker_at(settings, at(30, month=10)) as worker:
        await publish(
            redis,
            settings,
            "points",
            earned("a", 100, at(29, month=10)),
            earned("b", 100, at(29, month=10)),
        )
        await settle(redis, settings)
        assert await _status(worker, "a", "eligible") == [(code, "ELIGIBLE", 0)]
        await publish(
            redis,
            settings,
            "members",
            member_fact("a", "opted_in", at(30, 9, 10), challenge_code=code),
        )
        await settle(redis, settings)
        assert await _status(worker, "a", "active") == [(code, "OPTED_IN", 0)]
        assert await _status(worker, "a", "eligible") == []

    # During: a is active; b's purchase before its opt-in does not count; a's purchase
    # after its opt-out does not count, and a opts in again and completes.
    async with worker_at(settings, at(10, 12)) as worker:
        assert await _status(worker, "a", "active") == [(code, "ACTIVE", 0)]
        await publish(redis, settings, "points", earned("b", 400, at(3)), earned("a", 600, at(5)))
        await publish(
            redis, settings, "members", member_fact("b", "opted_in", at(4), challenge_code=code)
        )
        await publish(
            redis, settings, "members", member_fact("a", "opted_out", at(6), challenge_code=code)
        )
        await settle(redis, settings)
        await publish(redis, settings, "points", earned("b", 250, at(5)), earned("a", 500, at(7)))
        await settle(redis, settings)
        assert await _status(worker, "a", "eligible") == [(code, "OPTED_OUT", 600)]
        assert await _status(worker, "b", "active") == [(code, "ACTIVE", 250)]
        await publish(
            redis, settings, "members", member_fact("a", "opted_in", at(8), challenge_code=code)
        )
        await settle(redis, settings)
        assert await _status(worker, "a", "active") == [(code, "ACTIVE", 600)]
        await publish(redis, settings, "points", earned("a", 400, at(9)))
        await settle(redis, settings)
        assert await _status(worker, "a", "historical") == [(code, "COMPLETED", 1000)]
        assert await _status(worker, "a", "active") == []
        status, ledger = await http_get(worker, f"/v1/members/b/challenges/{code}/contributions")
    assert status == 200
    assert [(c["occurred_at"][:10], c["reason"], c["counts"]) for c in ledger["data"]] == [
        ("2026-10-29", "outside_window", False),
        ("2026-11-03", "before_opt_in", False),
        ("2026-11-05", "counted", True),
    ]

    # After the end: a tick expires b (progress, unfinished), not a (completed); again: nothing.
    first = await _tick(settings, END)
    second = await _tick(settings, END)
    assert "1 messages written, 1 published" in first
    assert "0 messages written" in second
    expired = await messages(redis, settings, "challenge_expired")
    assert [(n["member_id"], n["caused_by"]) for n in expired] == [("b", [])]
    async with worker_at(settings, at(2, month=12)) as worker:
        assert await _status(worker, "b", "historical") == [(code, "EXPIRED", 250)]
        assert await _status(worker, "a", "historical") == [(code, "COMPLETED", 1000)]
    await published(redis, settings, "rewards", 1)
