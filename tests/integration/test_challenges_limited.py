"""A limited challenge (`max_winners: 10`) raced by two worker processes: exactly the first
ten completers win, however the batches are split between the replicas."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.testing.worker_process import WorkerProcess
from tests.faults.replicas import worker_process
from tests.support.challenge_service import (
    CLUB,
    apply,
    at,
    challenge,
    earned,
    group,
    member_challenge,
    messages,
    published,
    settle,
    trigger,
)
from tests.support.http import http_get
from tests.support.rows import query
from tests.support.streams import publish, read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(90)

LIMITED = challenge(
    "first-ten", group(trigger(1, "earned_points", 1000)), max_winners=10, name="First Ten"
)


async def _started(process: WorkerProcess) -> bool:
    """The replica logged that its subscribers run (at INFO, which its env asks for)."""
    assert process.alive(), process.log_tail()
    return "worker replica-b consuming" in process.log_path.read_text(errors="replace")


async def test_max_winners_10_with_50_simultaneous_finishers_on_two_processes_has_10_winners(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, LIMITED)
    finishers = [earned(f"m{i:02}", 1000, at(10), event_id=f"finish-{i}") for i in range(50)]
    here = dataclasses.replace(settings, consumer_name="replica-a", batch_size=5, now=at(20))
    env = {
        "LOYALTY_BATCH_SIZE": "5",
        "LOYALTY_POLL_MS": "20",
        "LOYALTY_NOW": at(20).isoformat(),
        "LOYALTY_LOG_LEVEL": "INFO",
    }
    with worker_process(settings, "replica-b", tmp_path, **env) as other:
        async with running_worker(here, serve_http=True) as worker:
            await wait_until(lambda: _started(other), timeout=30, what="replica-b started")
            await publish(redis, settings, "points", *finishers)
            await settle(redis, settings)
            await published(redis, settings, "rewards", 10)
            applied_here = worker.pipeline.stats.applied
            finisher_view = await member_challenge(worker, "m00", "first-ten")
            finisher_lists = {
                m: (await http_get(worker, f"/v1/members/{m}/challenges"))[1]["count"]
                for m in (f"m{i:02}" for i in range(50))
            }
        assert other.alive(), other.log_tail()
    completed = await messages(redis, settings, "challenge_completed")
    rewards = await read_stream(redis, settings, "rewards")
    winners = [n["member_id"] for n in completed if n["properties"]["winner"]]
    assert 0 < applied_here < 50, "one replica took every batch: no race happened"
    assert len(completed) == 50  # every finisher completed ...
    assert len(winners) == 10  # ... and exactly ten won
    assert sorted(r["member_id"] for r in rewards) == sorted(winners)
    [(won, finished)] = await query(
        settings,
        "SELECT w.winners, sum(f.people_finished) FROM challenge_winners w "
        "JOIN challenge_finishers f USING (club, code, occurrence) WHERE club = :club "
        "GROUP BY w.winners",
        club=CLUB,
    )
    assert (won, finished) == (10, 50)
    # All prizes claimed: every finisher, winner or not, keeps the challenge as COMPLETED,
    # and `PeopleFinished` counts the winners.
    assert all(count == 1 for count in finisher_lists.values())
    assert finisher_view is not None
    assert (finisher_view["Status"], finisher_view["PeopleFinished"]) == ("COMPLETED", 10)
