"""`alembic -c alembic.ini ...` works on the project's migrations as on any Alembic
project: history, offline SQL, upgrade and downgrade on LOYALTY_DATABASE_URL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest_asyncio
from sqlalchemy.engine import make_url

from loyalty_progress.engine.challenges import Delta, Entry, Participation, Progress, Tally
from loyalty_progress.store import migrate
from loyalty_progress.store.challenge_bodies import (
    entry_body,
    entry_of,
    progress_body,
    progress_of,
)
from loyalty_progress.store.database import create_engine

ROOT = Path(__file__).resolve().parents[2]


def _alembic(*argv: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    if database_url is not None:
        env["LOYALTY_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", "alembic.ini", *argv],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def empty_database_url(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    admin_url = make_url(service_urls[0])
    name = f"lp_alembic_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(
        admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _current(database_url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(database_url, pool_size=1)
    try:
        return await migrate.revisions(engine)
    finally:
        await engine.dispose()


def test_history_lists_every_revision() -> None:
    result = _alembic("history")
    assert result.returncode == 0, result.stderr
    for revision in ("0001", "0002", "0003", "0004", "0005", "0006"):
        assert revision in result.stdout
    assert "(head)" in result.stdout


def test_offline_sql_needs_no_database() -> None:
    result = _alembic("upgrade", "heads", "--sql")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE alembic_version" in result.stdout
    assert "CREATE TABLE processed_events" in result.stdout
    assert result.stdout.rstrip().endswith("COMMIT;")


async def test_upgrade_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    up = _alembic("upgrade", "heads", database_url=empty_database_url)
    assert up.returncode == 0, up.stderr
    current, heads = await _current(empty_database_url)
    assert current == heads

    back = _alembic("downgrade", "-1", database_url=empty_database_url)
    assert back.returncode == 0, back.stderr
    current, heads = await _current(empty_database_url)
    assert current  # one step below the head
    assert not current & heads

    shown = _alembic("current", database_url=empty_database_url)
    assert shown.returncode == 0, shown.stderr
    assert sorted(current)[0] in shown.stdout

    gone = _alembic("downgrade", "base", database_url=empty_database_url)
    assert gone.returncode == 0, gone.stderr
    assert (await _current(empty_database_url))[0] == set()

    again = _alembic("upgrade", "heads", database_url=empty_database_url)
    assert again.returncode == 0, again.stderr
    current, heads = await _current(empty_database_url)
    assert current == heads


def test_without_a_database_it_says_what_to_set(tmp_path: Path) -> None:
    env_dir = tmp_path / "never-used"
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", "alembic.ini", "current"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")},
            "LOYALTY_DATA_DIR": str(env_dir),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "LOYALTY_DATABASE_URL" in result.stderr


_PARTICIPATION_0008 = """
INSERT INTO challenge_participations
    (club, member_id, code, occurrence, starts_at, ends_at, participation)
VALUES ('c1', 'm1', 'earn', 0, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', $1::jsonb)
"""
_LEDGER_0008 = """
INSERT INTO challenge_ledger (club, member_id, code, event_id, occurrence, occurred_at, source,
                              reason, counted, entry, recorded_at)
VALUES ('c1', 'm1', 'earn', $1, $2, '2026-03-01T00:00:00Z', 'points', $3, $4, $5::jsonb,
        '2026-03-01T00:00:01Z')
"""


def _entry(event_id: str, reason: str) -> Entry:
    return Entry(
        event_id=event_id,
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        source="points",
        deltas=(Delta(trigger=1, amount=Decimal(5)),),
        reason=reason,  # type: ignore[arg-type]
        counted_for=("m1",) if reason == "counted" else (),
    )


async def test_0009_moves_participations_into_the_ledger_and_back(
    empty_database_url: str,
) -> None:
    """Upgrading marks exactly the ledger lines a participation held (not the notes beside
    them) and gives them the occurrence's bounds; downgrading rebuilds the rows."""
    assert _alembic("upgrade", "0008", database_url=empty_database_url).returncode == 0
    counted, locked, pending = (
        _entry("e1", "counted"),
        _entry("e2", "before_opt_in"),
        _entry("e3", "pending"),
    )
    part = Participation(
        club="c1",
        code="earn",
        occurrence=0,
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, tzinfo=UTC),
        member_id="m1",
        entries={"e1": counted, "e2": locked},
    )
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute(_PARTICIPATION_0008, msgspec.json.encode(part).decode())
        for entry, occurrence in ((counted, 0), (locked, 0), (pending, 0)):
            await conn.execute(
                _LEDGER_0008,
                entry.event_id,
                occurrence,
                entry.reason,
                entry.counts_now,
                msgspec.json.encode(entry).decode(),
            )
    finally:
        await conn.close()

    assert _alembic("upgrade", "heads", database_url=empty_database_url).returncode == 0
    conn = await asyncpg.connect(empty_database_url)
    try:
        rows = await conn.fetch(
            "SELECT event_id, tracked, starts_at, ends_at FROM challenge_ledger ORDER BY 1"
        )
        assert [(r["event_id"], r["tracked"]) for r in rows] == [
            ("e1", True),
            ("e2", True),
            ("e3", False),
        ]
        assert {(r["starts_at"], r["ends_at"]) for r in rows} == {(part.starts_at, part.ends_at)}
    finally:
        await conn.close()

    assert _alembic("downgrade", "0008", database_url=empty_database_url).returncode == 0
    conn = await asyncpg.connect(empty_database_url)
    try:
        body = await conn.fetchval("SELECT participation::text FROM challenge_participations")
    finally:
        await conn.close()
    assert msgspec.json.decode(body, type=Participation) == part


_PROGRESS_ROW = """
INSERT INTO challenge_progress (club, subject_kind, subject_id, code, occurrence, starts_at,
                                ends_at, progress)
VALUES ('c1', 'member', 'm1', 'earn', 0, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z',
        $1::jsonb)
"""
_LEDGER_ROW = """
INSERT INTO challenge_ledger (club, member_id, code, event_id, occurrence, occurred_at, source,
                              reason, counted, entry, recorded_at, tracked)
VALUES ('c1', 'm1', 'earn', $1, 0, '2026-03-01T00:00:00Z', 'points', $2, $3, $4::jsonb,
        '2026-03-01T00:00:01Z', true)
"""


async def test_0013_downgrade_puts_the_column_keys_back_into_the_json(
    empty_database_url: str,
) -> None:
    """Rows written in the lean layout read whole by an earlier release after the downgrade,
    and the same after upgrading again."""
    assert _alembic("upgrade", "heads", database_url=empty_database_url).returncode == 0
    entry = _entry("e1", "counted")
    progress = Progress(
        club="c1",
        code="earn",
        occurrence=0,
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, tzinfo=UTC),
        subject_kind="member",
        subject_id="m1",
        tallies={"m1": Tally(sums={1: Decimal(5)})},
    )
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute(_PROGRESS_ROW, msgspec.json.encode(progress_body(progress)).decode())
        await conn.execute(
            _LEDGER_ROW,
            entry.event_id,
            entry.reason,
            entry.counts_now,
            msgspec.json.encode(entry_body(entry)).decode(),
        )
    finally:
        await conn.close()

    assert _alembic("downgrade", "0012", database_url=empty_database_url).returncode == 0
    conn = await asyncpg.connect(empty_database_url)
    try:
        stored_progress = await conn.fetchval("SELECT progress::text FROM challenge_progress")
        stored_entry = await conn.fetchval("SELECT entry::text FROM challenge_ledger")
    finally:
        await conn.close()
    assert msgspec.json.decode(stored_progress, type=Progress) == progress
    assert msgspec.json.decode(stored_entry, type=Entry) == entry

    assert _alembic("upgrade", "heads", database_url=empty_database_url).returncode == 0
    assert progress_of("c1", "earn", 0, "member", "m1", stored_progress) == progress
    assert entry_of("e1", "points", "counted", stored_entry) == entry
