"""Fault-test fixtures shared by several files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from loyalty_progress.store import migrate
from loyalty_progress.store.database import create_engine
from tests.faults.private_postgres import PrivatePostgres


@pytest_asyncio.fixture(loop_scope="session")
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A migrated PostgreSQL of the test's own, which the test may stop and restart."""
    server = PrivatePostgres()
    try:
        await asyncio.wait_for(asyncio.to_thread(server.init), timeout=60)
        await asyncio.wait_for(asyncio.to_thread(server.start), timeout=45)
        engine = create_engine(server.url, pool_size=1)
        try:
            await asyncio.wait_for(migrate.upgrade(engine), timeout=30)
        finally:
            await engine.dispose()
        yield server
    finally:
        await asyncio.to_thread(server.cleanup)
