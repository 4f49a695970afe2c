"""Embedded PostgreSQL and Redis: reachable over TCP, kept across restarts, gone after stop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from redis import Redis

from loyalty_progress.embedded import EmbeddedServices

STREAM = "embedded-test.events"
GROUP = "embedded-test-group"


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def _pg(url: str, *statements: str) -> list[object]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        results: list[object] = []
        for statement in statements:
            results.append(await asyncio.wait_for(conn.fetchval(statement), timeout=10))
        return results
    finally:
        await conn.close(timeout=10)


def _redis(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


@pytest.mark.timeout(60)
def test_embedded_services_persist_across_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "embedded"

    with EmbeddedServices(data_dir) as services:
        database_url, redis_url = services.database_url, services.redis_url
        assert database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert redis_url.startswith("redis://127.0.0.1:")
        assert asyncio.run(
            _pg(
                database_url,
                "SELECT 1",
                "CREATE TABLE kept (v int)",
                "INSERT INTO kept VALUES (42)",
            )
        ) == [1, None, None]
        client = _redis(redis_url)
        try:
            entry_id = client.xadd(STREAM, {"member": "m-1"})
            client.xgroup_create(STREAM, GROUP, id="0")
            assert client.xrange(STREAM) == [(entry_id, {b"member": b"m-1"})]
        finally:
            client.close()
    services.stop()  # a second stop is harmless

    services = EmbeddedServices(data_dir)
    try:
        again = services.start()
        # Last run's ports are reused when free, so producer scripts keep working.
        assert again == (database_url, redis_url)
        assert asyncio.run(_pg(database_url, "SELECT v FROM kept")) == [42]
        client = _redis(redis_url)
        try:
            assert client.xrange(STREAM) == [(entry_id, {b"member": b"m-1"})]
            assert [g["name"] for g in client.xinfo_groups(STREAM)] == [GROUP.encode()]
        finally:
            client.close()
    finally:
        services.stop()

    assert not _accepts_connections(_port(database_url))
    assert not _accepts_connections(_port(redis_url))


@pytest.mark.timeout(60)
def test_failed_start_stops_what_was_started(tmp_path: Path) -> None:
    # Hold the Redis port so start fails after PostgreSQL is already up.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        services = EmbeddedServices(tmp_path / "embedded", redis_port=taken)
        with pytest.raises(RuntimeError, match="in use"):
            services.start()
    assert services.postgres_port is not None
    assert not _accepts_connections(services.postgres_port)
    # The data dir is released: a fresh instance can use it.
    with EmbeddedServices(tmp_path / "embedded") as again:
        assert asyncio.run(_pg(again.database_url, "SELECT 1")) == [1]


@pytest.mark.timeout(60)
def test_data_dir_has_one_owner(tmp_path: Path) -> None:
    second = EmbeddedServices(tmp_path / "embedded")
    with EmbeddedServices(tmp_path / "embedded"), pytest.raises(RuntimeError, match="in use by"):
        second.start()
