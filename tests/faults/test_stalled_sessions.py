"""A worker session stalled mid-statement inside a transaction (its client frozen after
sending Bind/Execute but before Sync) is out of reach of every PostgreSQL timeout; the
other replicas end it once it has stalled longer than the idle-in-transaction bound,
and its row locks are released. Sessions that are not the worker's, or not stalled that
long, are left alone.

The stalled client speaks the PostgreSQL wire protocol by hand, so the test controls to
the byte where it stops."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.store.database import SessionTimeouts, create_engine
from loyalty_progress.worker.stalled import SESSION_PREFIX, end_stalled_sessions
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def _cstr(value: str) -> bytes:
    return value.encode() + b"\0"


class RawSession:
    """A PostgreSQL connection driven message by message (trust authentication)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str, application_name: str) -> RawSession:
        parsed = make_url(url)
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port or 5432)
        session = cls(reader, writer)
        params = b"".join(
            _cstr(k) + _cstr(v)
            for k, v in (
                ("user", parsed.username or "postgres"),
                ("database", parsed.database or "postgres"),
                ("application_name", application_name),
            )
        )
        body = struct.pack("!I", 196608) + params + b"\0"
        writer.write(struct.pack("!I", len(body) + 4) + body)
        await session.until(b"Z")
        return session

    async def until(self, kind: bytes) -> list[bytes]:
        """Read messages up to and including the first of `kind`; fail on an error."""
        seen = []
        while True:
            header = await self.reader.readexactly(5)
            length = struct.unpack("!I", header[1:])[0]
            body = await self.reader.readexactly(length - 4)
            if header[:1] == b"E":
                raise AssertionError(f"server error: {body!r}")
            seen.append(header[:1])
            if header[:1] == kind:
                return seen

    async def query(self, sql: str) -> None:
        self.writer.write(_message(b"Q", _cstr(sql)))
        await self.until(b"Z")

    async def execute_without_sync(self, sql: str) -> None:
        """Parse, Bind, Execute and Flush, then nothing: the statement has run and the
        server waits for the rest of the exchange (the Sync a frozen client never sends)."""
        self.writer.write(
            _message(b"P", _cstr("") + _cstr(sql) + struct.pack("!H", 0))
            + _message(b"B", _cstr("") + _cstr("") + struct.pack("!HHH", 0, 0, 0))
            + _message(b"E", _cstr("") + struct.pack("!I", 0))
            + _message(b"H", b"")
        )
        await self.until(b"C")

    def close(self) -> None:
        self.writer.close()


@contextlib.asynccontextmanager
async def raw_session(url: str, application_name: str) -> AsyncIterator[RawSession]:
    session = await RawSession.open(url, application_name)
    try:
        yield session
    finally:
        session.close()


async def _states(engine: AsyncEngine, name: str) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT state, wait_event FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": name},
        )
        return [(row[0], row[1]) for row in result]


async def test_a_worker_session_stalled_mid_statement_is_ended_and_its_locks_released(
    settings: Settings,
) -> None:
    url = settings.database_url or ""
    engine = create_engine(url, pool_size=2)
    waiter_engine = create_engine(url, pool_size=1, timeouts=SessionTimeouts(lock_ms=300))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE stall_probe (id int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO stall_probe VALUES (1), (2)"))
        stalled_name = f"{SESSION_PREFIX}frozen-replica"
        other_name = "some-other-application"
        async with (
            raw_session(url, stalled_name) as stalled,
            raw_session(url, other_name) as other,
        ):
            await stalled.query("BEGIN")
            await stalled.execute_without_sync("UPDATE stall_probe SET id = id WHERE id = 1")
            # Not the worker's: stuck the same way, but its owner is nobody we know.
            await other.query("BEGIN")
            await other.execute_without_sync("UPDATE stall_probe SET id = id WHERE id = 2")
            assert await _states(engine, stalled_name) == [("active", "ClientRead")]

            # Younger than the bound: left alone.
            assert await end_stalled_sessions(engine, stalled_ms=60_000) == []
            await asyncio.sleep(0.5)
            ended = await end_stalled_sessions(engine, stalled_ms=300)

            assert [name for _, name in ended] == [stalled_name]

            async def gone() -> bool:
                return await _states(engine, stalled_name) == []

            await wait_until(gone, timeout=10, what="the stalled session gone")
            assert await _states(engine, other_name) == [("active", "ClientRead")]
            # Its row lock went with it: another session updates the row at once.
            async with waiter_engine.begin() as conn:
                await conn.execute(text("UPDATE stall_probe SET id = id WHERE id = 1"))
    finally:
        await waiter_engine.dispose()
        await engine.dispose()
