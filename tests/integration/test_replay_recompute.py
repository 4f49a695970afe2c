"""`replay recompute`: after a definition fix, one challenge's or edition's progress is
rebuilt from the stored events; the result is the state a fresh replay of the same events
under the fixed definition gives, and nothing already issued is issued again or revoked.
Also: a replay running beside a live worker."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.databases import another_database
from tests.support.replay import (
    NOW,
    define,
    dump,
    earn_challenge,
    edition,
    history,
    recompute,
    replay_file,
    write_jsonl,
)
from tests.support.rows import query
from tests.support.streams import drained, publish
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

CHALLENGE_TABLES = (
    "challenge_progress",
    "challenge_ledger",
    "challenge_finishers",
)
ATTENDANCE_TABLES = ("attendance_memberships", "attendance_days", "attendance_contributions")


async def _outbox(settings: Settings) -> list[tuple[str, str]]:
    rows = await query(settings, "SELECT message_id, stream FROM outbox ORDER BY message_id")
    return [(r.message_id, r.stream) for r in rows]


async def _completed(settings: Settings) -> set[str]:
    rows = await query(
        settings,
        "SELECT subject_id FROM challenge_progress "
        "WHERE code = 'earn' AND completed_at IS NOT NULL",
    )
    return {r.subject_id for r in rows}


async def test_recompute_after_a_lower_target_equals_a_fresh_replay_under_the_fix(
    settings: Settings,
    tmp_path: Path,
    service_urls: tuple[str, str],
    template_database: str,
) -> None:
    path = write_jsonl(tmp_path / "history.jsonl", history(members=16))
    await define(settings, tmp_path, earn_challenge(1000), edition(150))
    await replay_file(settings, path, bulk_size=40)
    completed_before = await _completed(settings)
    issued_before = await _outbox(settings)
    await define(settings, tmp_path, earn_challenge(500))  # the fix: 500 was meant

    report = await recompute(settings, challenge="earn")

    async with another_database(settings, service_urls[0], template_database) as fresh:
        await define(fresh, tmp_path, earn_challenge(500), edition(150))
        await replay_file(fresh, path, bulk_size=40)
        for table in CHALLENGE_TABLES:
            assert await dump(settings, table) == await dump(fresh, table), table
        fresh_outbox = await _outbox(fresh)
    completed_after = await _completed(settings)
    assert completed_before < completed_after  # the scenario does change something
    newly = completed_after - completed_before
    assert sorted(c["member_id"] for c in report["changed"]) == sorted(
        {c["member_id"] for c in report["changed"]}
    )
    changed = {c["member_id"]: c for c in report["changed"]}
    assert newly <= changed.keys()
    for member in newly:
        assert changed[member]["before"]["completed"] is False
        assert changed[member]["after"]["completed"] is True
    # What was already issued is not issued again; what the fix owes is issued once.
    issued_after = await _outbox(settings)
    assert set(issued_before) <= set(issued_after)
    assert len(issued_after) == len(set(issued_after))
    assert report["messages_issued_number"] == len(issued_after) - len(issued_before)
    assert report["messages_issued_number"] > 0
    assert {m for m, _ in issued_after} >= {m for m, s in fresh_outbox if s == "rewards"}
    # One prize per member who completed. (The edition's prizes share the stream: m13's
    # November completes on a receipt approved and refunded within one bulk, and a
    # completion stands, in one bulk as in one batch per event.)
    rewards = await query(
        settings,
        "SELECT message_id FROM outbox WHERE stream = 'rewards' "
        "AND convert_from(payload, 'UTF8')::jsonb->>'reason' LIKE 'earn/%'",
    )
    assert len(rewards) == len(completed_after)

    again = await recompute(settings, challenge="earn")
    assert again["changed"] == []
    assert again["messages_issued_number"] == 0
    assert await _outbox(settings) == issued_after


async def test_recompute_after_a_higher_target_keeps_completions_and_rewards(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "history.jsonl", history(members=16, seed=11))
    await define(settings, tmp_path, earn_challenge(400))
    await replay_file(settings, path, bulk_size=25)
    before = {table: await dump(settings, table) for table in CHALLENGE_TABLES}
    issued = await _outbox(settings)
    assert await _completed(settings)
    await define(settings, tmp_path, earn_challenge(5000))  # nobody reaches this

    report = await recompute(settings, challenge="earn")

    # The counters are the same events' counters; every completion and milestone reached
    # under the old target stands (rewards stand), so the rows are exactly as they were.
    for table in CHALLENGE_TABLES:
        assert await dump(settings, table) == before[table], table
    assert await _outbox(settings) == issued  # nothing new, nothing twice
    assert report["messages_issued_number"] == 0
    assert report["messages_computed_number"] == 0  # the fresh pass reaches nothing
    assert report["changed"] == []


async def test_recompute_an_edition_after_a_lower_daily_goal_equals_a_fresh_replay(
    settings: Settings,
    tmp_path: Path,
    service_urls: tuple[str, str],
    template_database: str,
) -> None:
    path = write_jsonl(tmp_path / "history.jsonl", history(members=14, seed=3))
    await define(settings, tmp_path, earn_challenge(800), edition(150))
    await replay_file(settings, path, bulk_size=30)
    memberships = await dump(settings, "attendance_memberships")
    issued = await _outbox(settings)
    await define(settings, tmp_path, edition(100))  # the fix: 100 a day was meant

    report = await recompute(settings, edition="win-in-nov")

    async with another_database(settings, service_urls[0], template_database) as fresh:
        await define(fresh, tmp_path, earn_challenge(800), edition(100))
        await replay_file(fresh, path, bulk_size=30)
        for table in ATTENDANCE_TABLES:
            assert await dump(settings, table) == await dump(fresh, table), table
        for table in CHALLENGE_TABLES:  # the other feature is left alone
            assert await dump(settings, table) == await dump(fresh, table), table
    assert await dump(settings, "attendance_memberships") != memberships
    assert report["changed"]
    for change in report["changed"]:
        assert change["before"] != change["after"]
    assert set(issued) <= set(await _outbox(settings))
    assert report["messages_issued_number"] == len(await _outbox(settings)) - len(issued)
    again = await recompute(settings, edition="win-in-nov")
    assert (again["changed"], again["messages_issued_number"]) == ([], 0)


async def test_recompute_an_edition_after_a_higher_goal_keeps_completed_stages(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "history.jsonl", history(members=14, seed=3))
    await define(settings, tmp_path, edition(60))
    await replay_file(settings, path, bulk_size=30)
    stages = await query(
        settings,
        "SELECT member_id, membership -> 'completed' AS completed FROM attendance_memberships "
        "WHERE membership IS NOT NULL ORDER BY member_id",
    )
    assert any(row.completed for row in stages)
    issued = await _outbox(settings)
    await define(settings, tmp_path, edition(10_000))

    report = await recompute(settings, edition="win-in-nov")

    after = await query(
        settings,
        "SELECT member_id, membership -> 'completed' AS completed FROM attendance_memberships "
        "WHERE membership IS NOT NULL ORDER BY member_id",
    )
    assert [(r.member_id, r.completed) for r in after] == [
        (r.member_id, r.completed) for r in stages
    ]
    assert await _outbox(settings) == issued
    assert report["messages_issued_number"] == 0
    for change in report["changed"]:  # only the days counted against the new goal moved
        assert change["before"]["completed_stages"] == change["after"]["completed_stages"]


async def test_recompute_backfills_a_challenge_launched_after_its_events(
    settings: Settings,
    tmp_path: Path,
    service_urls: tuple[str, str],
    template_database: str,
) -> None:
    path = write_jsonl(tmp_path / "history.jsonl", history(members=10, seed=5))
    await replay_file(settings, path, bulk_size=40)  # no challenge yet: nothing to count
    assert await dump(settings, "challenge_progress") == []
    await define(settings, tmp_path, earn_challenge(600))
    again = await replay_file(settings, path, bulk_size=40)
    assert again["events_applied_number"] == 0  # a replay cannot backfill: all duplicates

    report = await recompute(settings, challenge="earn")

    async with another_database(settings, service_urls[0], template_database) as fresh:
        await define(fresh, tmp_path, earn_challenge(600))
        await replay_file(fresh, path, bulk_size=40)
        for table in CHALLENGE_TABLES:
            assert await dump(settings, table) == await dump(fresh, table), table
        assert await _outbox(settings) == await _outbox(fresh)
    assert report["changed_number"] == len(await dump(settings, "challenge_progress"))
    assert report["messages_issued_number"] > 0


async def test_recompute_refuses_an_unknown_code(settings: Settings) -> None:
    from loyalty_progress.replay.recompute import RecomputeError

    with pytest.raises(RecomputeError, match="no challenge `nope`"):
        await recompute(settings, challenge="nope")


async def test_a_replay_beside_a_live_worker_applies_each_event_once(
    settings: Settings,
    redis: Redis,
    tmp_path: Path,
    service_urls: tuple[str, str],
    template_database: str,
) -> None:
    """The same events reach a live worker (its streams) and a replay (a file) at the same
    time: the shared dedupe and lock order apply each one once, without deadlocks, and the
    counters and days end as a single clean pass leaves them."""
    events = history(members=20, seed=9)
    path = write_jsonl(tmp_path / "history.jsonl", events)
    await define(settings, tmp_path, earn_challenge(700), edition(120))
    live = replace(settings, now=NOW)
    async with running_worker(live):
        # The worker gets them newest first, in small chunks, while the replay reads the
        # file oldest first: the two meet in the middle.
        async def feed() -> None:
            for start in range(len(events) - 1, -1, -20):
                for event in reversed(events[max(0, start - 19) : start + 1]):
                    body = {k: v for k, v in event.items() if k != "stream"}
                    await publish(redis, settings, event["stream"], json.dumps(body))
                await asyncio.sleep(0.01)

        replayed, _ = await asyncio.gather(replay_file(settings, path, bulk_size=15), feed())
        await wait_until(lambda: drained(redis, live), timeout=60, what="streams drained")

    stored = await query(settings, "SELECT count(*) AS n FROM processed_events")
    assert stored[0].n == len(events)
    assert replayed["events_applied_number"] + replayed["events_duplicate_number"] == len(events)
    assert replayed["events_failed_number"] == 0
    async with another_database(settings, service_urls[0], template_database) as fresh:
        await define(fresh, tmp_path, earn_challenge(700), edition(120))
        await replay_file(fresh, path, bulk_size=15)
        assert await _tallies(settings) == await _tallies(fresh)
        assert await _completed(settings) == await _completed(fresh)
        assert await dump(settings, "attendance_days") == await dump(fresh, "attendance_days")


async def _tallies(settings: Settings) -> list[tuple[str, str]]:
    rows = await query(
        settings,
        "SELECT subject_id, CAST(progress -> 'tallies' AS text) AS tallies "
        "FROM challenge_progress ORDER BY subject_id",
    )
    return [(r.subject_id, r.tallies) for r in rows]
