"""Fixtures: real services once per session; each test gets its own database (cloned from
a migrated template) and its own stream prefix, so tests never see each other's data.
What the fixtures build on, and everything else tests share, lives in tests/support/."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.store import migrate
from loyalty_progress.store.database import create_engine
from tests.support.databases import RUN_ID, create_database, drop_database, with_database
from tests.support.servers import session_servers
from tests.support.tokens import TEST_SECRET

_counter = itertools.count()


@pytest.fixture(scope="session")
def service_urls() -> Iterator[tuple[str, str]]:
    with session_servers() as urls:
        yield urls


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_database(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    admin_url = service_urls[0]
    name = f"lp_{RUN_ID}_template"
    await create_database(admin_url, name)
    engine = create_engine(with_database(admin_url, name), pool_size=1)
    await migrate.upgrade(engine)
    await engine.dispose()
    yield name
    await drop_database(admin_url, name)


@pytest_asyncio.fixture(loop_scope="session")
async def database_url(service_urls: tuple[str, str], template_database: str) -> AsyncIterator[str]:
    admin_url = service_urls[0]
    name = f"lp_{RUN_ID}_{next(_counter)}"
    await create_database(admin_url, name, template_database)
    yield with_database(admin_url, name)
    await drop_database(admin_url, name)


@pytest.fixture
def stream_prefix() -> str:
    return f"t{RUN_ID}{next(_counter)}"


@pytest_asyncio.fixture(loop_scope="session")
async def redis(service_urls: tuple[str, str], stream_prefix: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(service_urls[1])
    yield client
    keys = [k async for k in client.scan_iter(match=f"{stream_prefix}.*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def settings(database_url: str, service_urls: tuple[str, str], stream_prefix: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=service_urls[1],
        stream_prefix=stream_prefix,
        consumer_name=f"test-{uuid.uuid4().hex[:6]}",
        batch_size=100,
        poll_ms=20,
        claim_idle_ms=1000,
        max_deliveries=3,
        outbox_sweep_ms=200,
        http_host="127.0.0.1",
        http_port=0,
        metrics_port=0,
        auth_hs256_secret=TEST_SECRET,
        migrate_on_start=False,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database (a test file that needs another pool overrides it)."""
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=2)
    yield engine
    await engine.dispose()
