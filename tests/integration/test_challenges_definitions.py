"""Challenge definitions: a bad file changes nothing and names file, definition and field
(also for `requires`, checked against the stored set); a running worker picks up a new
challenge within seconds, without restart."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.challenge_service import (
    apply,
    apply_file,
    at,
    challenge,
    earned,
    group,
    member_challenge,
    settle,
    trigger,
    trigger_progress,
)
from tests.support.rows import query
from tests.support.streams import publish
from tests.support.worker import at_now, running_worker

GOOD = challenge("earn-1000", group(trigger(1, "earned_points", 1000)))


async def _stored(settings: Settings) -> list[tuple[str, int]]:
    rows = await query(settings, "SELECT code, version FROM definitions ORDER BY code, version")
    return [(r.code, r.version) for r in rows]


async def _cli_apply(settings: Settings, path: Path) -> tuple[int, str]:
    """`loyalty-progress definitions apply PATH` as a separate process."""
    assert settings.database_url
    env = {**os.environ, "LOYALTY_DATABASE_URL": settings.database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loyalty_progress",
        "definitions",
        "apply",
        str(path),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    return int(process.returncode or 0), err.decode()


async def test_bad_definition_file_changes_nothing_and_names_file_code_and_field(
    settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, GOOD)
    before = await _stored(settings)
    bad = challenge("bad-target", group(trigger(1, "earned_points", -5)))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([challenge("fine", group(trigger(1, "tier", 3))), bad]))
    code, err = await _cli_apply(settings, path)
    assert code == 1
    assert str(path) in err
    assert "`bad-target`" in err
    assert "groups[0].triggers[0].target" in err
    assert await _stored(settings) == before


async def test_requires_is_checked_against_stored_challenges_and_names_the_file(
    settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, GOOD)
    before = await _stored(settings)
    orphan = tmp_path / "orphan.json"
    orphan.write_text(json.dumps([challenge("child", group(trigger(1, "tier", 3)), requires="x")]))
    code, err = await apply_file(settings, orphan)
    assert code == 1
    assert f"{orphan}: definition `child`: field `requires`: no challenge `x`" in err
    assert await _stored(settings) == before
    child = tmp_path / "child.json"
    child.write_text(
        json.dumps([challenge("child", group(trigger(1, "tier", 3)), requires="earn-1000")])
    )
    assert (await apply_file(settings, child))[0] == 0  # the parent is stored, not in the file
    assert await _stored(settings) == sorted([*before, ("child", 1)])


async def test_running_worker_picks_up_a_challenge_applied_after_it_started(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    async with running_worker(at_now(settings, at(20)), serve_http=True) as worker:
        await publish(redis, settings, "points", earned("m1", 100, at(2)))
        await settle(redis, settings)
        assert await member_challenge(worker, "m1", "earn-1000") is None
        await apply(settings, tmp_path, GOOD)
        started = time.monotonic()
        while await member_challenge(worker, "m1", "earn-1000") is None:
            assert time.monotonic() - started < 5, "the worker did not reload within 5 s"
            await asyncio.sleep(0.1)
        await publish(redis, settings, "points", earned("m1", 300, at(3)))
        await settle(redis, settings)
        item = await member_challenge(worker, "m1", "earn-1000")
    assert item is not None
    assert trigger_progress(item) == [(1, 700, 30)]  # the event before the reload: not seen
