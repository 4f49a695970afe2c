"""Real PostgreSQL and Redis for the tests: URLs from the environment when set
(`LOYALTY_TEST_DATABASE_URL`, `LOYALTY_TEST_REDIS_URL`), else testcontainers when Docker
is reachable, else the embedded servers."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def _docker_reachable() -> bool:
    if shutil.which("docker") is None and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def _containers() -> Iterator[tuple[str, str]]:
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    with (
        PostgresContainer("postgres:16-alpine", driver=None) as pg,
        RedisContainer("redis:7-alpine") as rd,
    ):
        redis_url = f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0"
        yield pg.get_connection_url(), redis_url


@contextlib.contextmanager
def _embedded() -> Iterator[tuple[str, str]]:
    from loyalty_progress.embedded import EmbeddedServices

    data_dir = Path(tempfile.mkdtemp(prefix="loyalty-progress-tests-"))
    services = EmbeddedServices(data_dir)
    try:
        yield services.start()
    finally:
        services.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def session_servers() -> Iterator[tuple[str, str]]:
    """(admin PostgreSQL URL, Redis URL) for this test session."""
    database_url = os.environ.get("LOYALTY_TEST_DATABASE_URL")
    redis_url = os.environ.get("LOYALTY_TEST_REDIS_URL")
    if database_url and redis_url:
        yield database_url, redis_url
    elif _docker_reachable():
        log.info("test services: testcontainers")
        with _containers() as urls:
            yield urls
    else:
        log.info("test services: embedded PostgreSQL and Redis")
        with _embedded() as urls:
            yield urls
