"""`loyalty-progress replay`: historical events through the worker's own batch transaction,
with a seed-004-shaped report stored in PostgreSQL (readable while the job runs)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream
from loyalty_progress.replay.job import ReplayJob
from loyalty_progress.replay.source import JsonlFile, StreamRange
from loyalty_progress.store.database import create_engine
from loyalty_progress.store.replay_jobs import read_report
from tests.support.challenge_service import CLUB
from tests.support.replay import NOW, define, dump, earn_challenge, line, replay_file, write_jsonl
from tests.support.rows import query, totals
from tests.support.streams import publish, read_stream

AT = NOW.replace(day=10)


def _points(n: int, member: str = "m1", amount: int = 100) -> list[dict[str, Any]]:
    return [line("points", f"p{i}", member, AT, kind="earned", amount=amount) for i in range(n)]


async def test_replay_applies_events_in_bulks_and_reports_like_an_import_status(
    settings: Settings, tmp_path: Path
) -> None:
    await define(settings, tmp_path, earn_challenge(1000))
    rows: list[dict[str, Any] | str] = [*_points(9)]
    rows.insert(3, rows[1])  # a duplicate inside the first bulk
    rows.insert(4, '{"stream": "points", "event_id": "bad"')  # not JSON
    rows.append(line("points", "neg", "m1", AT, kind="earned", amount=-5))
    rows.append(line("coupons", "c1", "m1", AT))
    rows.append("")  # blank lines are not events
    rows.append(rows[0])  # a duplicate in the last bulk
    path = write_jsonl(tmp_path / "history.jsonl", rows)

    report = await replay_file(settings, path, bulk_size=5)

    assert report["status"] == "finished"
    assert report["events_in_payload_number"] == 14
    assert report["events_applied_number"] == 9
    assert report["events_duplicate_number"] == 2
    assert report["events_with_validation_errors_number"] == 3
    assert report["events_failed_number"] == 0
    assert [b["request_number"] for b in report["bulks"]] == [1, 2, 3]
    assert [b["status"] for b in report["bulks"]] == ["finished"] * 3
    assert [b["size"] for b in report["bulks"]] == [5, 5, 4]
    assert len({b["id"] for b in report["bulks"]}) == 3
    errors = {e["line"]: e["reason"] for e in report["errors"]}
    assert sorted(errors) == [5, 12, 13]
    assert "not valid JSON" in errors[5]
    assert "amount" in errors[12]
    assert "unknown stream 'coupons'" in errors[13]
    assert report["created_at"].endswith("Z")
    # The same transaction as the worker: totals, challenge progress, the outbox.
    engine = create_engine(settings.database_url or "", pool_size=1)
    try:
        assert (await totals(engine, "m1")).points_earned == 900
    finally:
        await engine.dispose()
    progress = await dump(settings, "challenge_progress")
    assert [(r[2], r[7]) for r in progress] == [("m1", None)]
    stored = await query(settings, "SELECT count(*) FROM processed_events")
    assert stored[0][0] == 9


async def test_replaying_the_same_file_again_applies_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    await define(settings, tmp_path, earn_challenge(500))
    path = write_jsonl(tmp_path / "history.jsonl", _points(8))
    first = await replay_file(settings, path, bulk_size=3)
    outbox = await query(settings, "SELECT count(*) FROM outbox")
    second = await replay_file(settings, path, bulk_size=3)

    assert (first["events_applied_number"], first["events_duplicate_number"]) == (8, 0)
    assert (second["events_applied_number"], second["events_duplicate_number"]) == (0, 8)
    assert second["id"] != first["id"]
    assert await query(settings, "SELECT count(*) FROM outbox") == outbox
    completed = await query(
        settings, "SELECT count(*) FROM challenge_progress WHERE completed_at IS NOT NULL"
    )
    assert completed[0][0] == 1


async def test_the_report_is_readable_while_the_job_runs(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "history.jsonl", _points(10))
    engine = create_engine(settings.database_url or "", pool_size=3)
    seen: list[dict[str, Any]] = []

    async def look(number: int) -> None:
        async with engine.connect() as conn:  # another connection, as `replay status` is
            report = await read_report(conn, job_id=await _latest_job(engine))
        assert report is not None
        seen.append(report)

    try:
        job = ReplayJob(engine, settings, clock=Clock(NOW), after_bulk=look)
        final = await job.run(JsonlFile(path), bulk_size=4)
    finally:
        await engine.dispose()

    assert [r["status"] for r in seen] == ["working"] * 3
    assert [[b["status"] for b in r["bulks"]] for r in seen] == [
        ["finished", "waiting", "waiting"],
        ["finished", "finished", "waiting"],
        ["finished", "finished", "finished"],
    ]
    assert [r["events_applied_number"] for r in seen] == [4, 8, 10]
    assert seen[0]["events_in_payload_number"] == 10  # known up front for a file
    assert final["status"] == "finished"
    assert final["finished_at"] is not None


async def _latest_job(engine: Any) -> int:
    from sqlalchemy import text

    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT max(id) FROM replay_jobs"))).scalar_one())


async def test_a_stream_range_is_read_with_xrange_outside_the_consumer_group(
    settings: Settings, redis: Redis
) -> None:
    bodies = [json.dumps({k: v for k, v in p.items() if k != "stream"}) for p in _points(7)]
    ids = await publish(redis, settings, "points", *bodies[:6], b"{not json")
    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        source = StreamRange(
            redis, InputStream.POINTS, settings.stream("points"), ids[1].decode(), ids[6].decode()
        )
        job = ReplayJob(engine, settings, redis=redis, clock=Clock(NOW))
        report = await job.run(source, bulk_size=2)
        assert (await totals(engine, "m1")).points_earned == 500
    finally:
        await engine.dispose()

    assert report["events_in_payload_number"] == 6  # ids[1]..ids[6], both ends included
    assert report["events_applied_number"] == 5
    assert report["events_with_validation_errors_number"] == 1
    assert report["errors"][0]["entry_id"] == ids[6].decode()
    assert [b["size"] for b in report["bulks"]] == [2, 2, 2]
    assert await redis.xinfo_groups(settings.stream("points")) == []


def _cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(
        LOYALTY_DATABASE_URL=settings.database_url or "",
        LOYALTY_REDIS_URL=settings.redis_url or "",
        LOYALTY_STREAM_PREFIX=settings.stream_prefix,
        LOYALTY_NOW=NOW.isoformat(),
        LOYALTY_LOG_LEVEL="WARNING",
    )
    return env


def _cli(
    settings: Settings, *args: str, stderr: int = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """`python -m loyalty_progress replay ARGS` in a child process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "loyalty_progress", "replay", *args],
        env=_cli_env(settings),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_replays_a_file_end_to_end_and_publishes_what_it_caused(
    settings: Settings, redis: Redis, tmp_path: Path
) -> None:
    await define(settings, tmp_path, earn_challenge(300))
    rows: list[dict[str, Any] | str] = [*_points(5), "[1, 2]"]
    path = write_jsonl(tmp_path / "history.jsonl", rows)

    done = await asyncio.to_thread(_cli, settings, str(path), "--bulk-size", "2")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["events_in_payload_number"] == 6
    assert report["events_applied_number"] == 5
    assert report["errors"] == [
        {"line": 6, "reason": report["errors"][0]["reason"]},
    ]
    # Not a terminal (a pipe, as in CI logs): one plain line per bulk, no control characters.
    progress = done.stderr.splitlines()
    assert f"replay job {report['id']}: 6 events in 3 bulks from file {path}" in progress
    assert any(p.startswith(f"replay job {report['id']}: bulk 3/3 finished;") for p in progress)
    assert "\r" not in done.stderr
    # Published by the job itself: the completion and its reward.
    notes = await read_stream(redis, settings, "notifications")
    assert "challenge_completed" in {n["type"] for n in notes}
    assert len(await read_stream(redis, settings, "rewards")) == 1

    status = await asyncio.to_thread(_cli, settings, "status", str(report["id"]))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == report
    missing = await asyncio.to_thread(_cli, settings, "status", "999999")
    assert missing.returncode == 3
    assert "not found" in missing.stderr


async def test_cli_draws_a_progress_bar_in_place_on_a_terminal(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "history.jsonl", _points(6))
    master, slave = pty.openpty()
    try:
        done = await asyncio.to_thread(_cli, settings, str(path), "--bulk-size", "2", stderr=slave)
        os.close(slave)
        slave = -1
        screen = _read_all(master)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)

    assert done.returncode == 0
    assert json.loads(done.stdout)["events_applied_number"] == 6
    assert "\r[" in screen  # redrawn in place: carriage return, then the bar
    assert "100%" in screen
    assert "6/6 events" in screen
    assert "bulk 1/3" not in screen  # no line per bulk on a terminal


def _read_all(fd: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


async def test_cli_refuses_unclear_requests_without_touching_anything(
    settings: Settings, tmp_path: Path
) -> None:
    cases = [
        (["--from-stream", "points"], "--since"),
        (["status"], "JOB_ID"),
        (["recompute"], "exactly one of"),
        ([str(tmp_path / "missing.jsonl")], "no such file"),
        (["a.jsonl", "--challenge", "x"], "recompute"),
    ]
    for args, message in cases:
        done = await asyncio.to_thread(_cli, settings, *args)
        assert done.returncode == 2, args
        assert message in done.stderr, (args, done.stderr)
    assert await query(settings, "SELECT count(*) FROM replay_jobs") == [(0,)]


async def test_same_member_events_of_several_streams_go_through_the_same_rules(
    settings: Settings, tmp_path: Path
) -> None:
    rows = [
        line("receipts", "r1-p", "m1", AT, receipt_id="r1", status="pending", amount="80"),
        line("points", "p1", "m1", AT, kind="earned", amount=40),
        line("receipts", "r1-a", "m1", AT, receipt_id="r1", status="approved", amount="80"),
        line("vouchers", "v1", "m1", AT, kind="subscribed", voucher_id="V1"),
        line("members", "t1", "m1", AT, kind="tier_changed", tier=2),
    ]
    report = await replay_file(settings, write_jsonl(tmp_path / "h.jsonl", rows), bulk_size=10)
    assert report["events_applied_number"] == 5
    receipts = await query(
        settings, "SELECT receipt_id, status FROM receipts WHERE club = :c", c=CLUB
    )
    assert [tuple(r) for r in receipts] == [("r1", "approved")]
    engine = create_engine(settings.database_url or "", pool_size=1)
    try:
        member = await totals(engine, "m1")
    finally:
        await engine.dispose()
    assert (member.points_earned, member.receipts_approved, member.vouchers_subscribed) == (
        40,
        1,
        1,
    )
