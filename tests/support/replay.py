"""Replay and recompute in tests: JSONL files of historical events, definitions to replay
them under, the jobs run in process, and row dumps of the progress tables to compare."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.replay.job import ReplayJob
from loyalty_progress.replay.recompute import Recompute
from loyalty_progress.replay.source import JsonlFile
from loyalty_progress.store.database import create_engine
from tests.support.challenge_service import CLUB, apply, challenge, group, trigger
from tests.support.rows import query

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # inside the challenge and the edition


def line(stream: str, event_id: str, member: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "stream": stream,
        "event_id": event_id,
        "club": CLUB,
        "member_id": member,
        "occurred_at": at.isoformat(),
        **fields,
    }


def write_jsonl(path: Path, lines: Iterable[dict[str, Any] | str]) -> Path:
    with path.open("w") as handle:
        for item in lines:
            handle.write((item if isinstance(item, str) else json.dumps(item)) + "\n")
    return path


def history(members: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """November 2026, time-ordered: earned points and receipts (pending, then approved or
    rejected, some refunded later) for `members` members. Amounts vary per member so that
    some members complete each goal and some do not, whatever the target."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    items: list[tuple[datetime, int, dict[str, Any]]] = []
    order = itertools.count()
    for m in range(members):
        member = f"m{m:02d}"
        for k in range(rng.randint(2, 8)):
            at = start + timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 8))
            amount = rng.choice([50, 100, 150, 200, 250])
            event = line("points", f"p-{member}-{k}", member, at, kind="earned", amount=amount)
            items.append((at, next(order), event))
        for k in range(rng.randint(2, 10)):
            at = start + timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 8))
            value = str(rng.choice([40, 60, 80, 120, 160]))
            receipt = f"r-{member}-{k}"
            base = {"receipt_id": receipt, "amount": value, "store_id": f"s{k % 3}"}
            final = rng.choice(["approved", "approved", "approved", "rejected"])
            for status in ("pending", final):
                event_id = f"{receipt}-{status}"
                event = line("receipts", event_id, member, at, status=status, **base)
                items.append((at, next(order), event))
            if final == "approved" and rng.random() < 0.15:
                event = line("receipts", f"{receipt}-refunded", member, at, status="refunded")
                event.update(base)
                items.append((at, next(order), event))
    items.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in items]


def earn_challenge(target: int) -> dict[str, Any]:
    return challenge("earn", group(trigger(1, "earned_points", target)))


def edition(daily_value_goal: int, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "attendance_edition",
        "code": "win-in-nov",
        "club": CLUB,
        "title": "Win in November",
        "timezone": "Europe/Oslo",
        "start_date": "2026-11",
        "end_date": "2027-01",
        "monthly_attendances_goal": 3,
        "daily_value_goal": daily_value_goal,
        "stages_streak_goal": 2,
        "entries_limit": 2,
        "extra_period_days": 10,
        "first_stage_reward_id": 1442920,
        "streak_reward_value": 150,
        **changes,
    }


async def define(settings: Settings, tmp_path: Path, *definitions: dict[str, Any]) -> None:
    await apply(settings, tmp_path, *definitions)


async def replay_file(
    settings: Settings, path: Path, bulk_size: int = 50, now: datetime = NOW
) -> dict[str, Any]:
    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        job = ReplayJob(engine, settings, clock=Clock(now))
        return await job.run(JsonlFile(path), bulk_size)
    finally:
        await engine.dispose()


async def recompute(
    settings: Settings, *, challenge: str | None = None, edition: str | None = None
) -> dict[str, Any]:
    engine = create_engine(settings.database_url or "", pool_size=2)
    try:
        job = Recompute(engine, settings, clock=Clock(NOW))
        if challenge is not None:
            return await job.challenge(challenge)
        assert edition is not None
        return await job.edition(edition)
    finally:
        await engine.dispose()


# Every column but the bookkeeping instants of the row itself (`updated_at`, `recorded_at`
# of attendance lines): what a member, a support agent or the read side can see.
PROGRESS_TABLES = {
    "challenge_progress": (
        "club, subject_kind, subject_id, code, occurrence, starts_at, ends_at, completed_at, "
        "winner, expired_at, has_progress, progress",
        "club, subject_kind, subject_id, code, occurrence",
    ),
    "challenge_ledger": (
        "club, member_id, code, event_id, occurrence, occurred_at, source, reason, counted, "
        "entry, recorded_at, starts_at, ends_at, tracked",
        "club, member_id, code, event_id",
    ),
    # Shards are picked at random per batch: compare the sums readers see.
    "challenge_finishers": (
        "club, code, occurrence, sum(people_finished)",
        "club, code, occurrence",
    ),
    "attendance_memberships": (
        "club, edition, member_id, membership, due_at, edition_hash",
        "club, edition, member_id",
    ),
    "attendance_days": (
        "club, edition, member_id, day, receipts, approved, pending",
        "club, edition, member_id, day",
    ),
    "attendance_contributions": (
        "club, edition, event_id, member_id, receipt_id, status, day, stage, approved_delta, "
        "pending_delta, counted, reason, processed_at",
        "club, edition, event_id",
    ),
}


async def dump(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    columns, order = PROGRESS_TABLES[table]
    grouped = f" GROUP BY {order}" if "sum(" in columns else ""
    rows = await query(settings, f"SELECT {columns} FROM {table}{grouped} ORDER BY {order}")
    return [tuple(row) for row in rows]
