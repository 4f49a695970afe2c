"""Every way a command can fail to use PostgreSQL or Redis is one line on stderr and a
non-zero exit, never a traceback: the real program in a subprocess, against real servers
(or a loopback port nothing listens on)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loyalty_progress", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (asserts there is exactly one)."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _env(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(LOYALTY_DATA_DIR=str(tmp_path / "data"), **variables)
    return env


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest_asyncio.fixture(loop_scope="session")
async def empty_database_url(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A database that was never migrated."""
    admin_url = make_url(service_urls[0])
    name = f"lp_unmigrated_{uuid.uuid4().hex[:8]}"
    dsn = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.mark.parametrize(
    "argv",
    [
        ("definitions", "list"),
        ("definitions", "apply", "examples/definitions.yaml"),
        ("tick",),
        ("replay", "status", "1"),
        ("replay", "recompute", "--challenge", "earn-500-points"),
    ],
    ids=lambda argv: " ".join(argv),
)
def test_a_database_without_the_schema_is_told_to_migrate(
    argv: tuple[str, ...], empty_database_url: str, service_urls: tuple[str, str], tmp_path: Path
) -> None:
    env = _env(tmp_path, LOYALTY_DATABASE_URL=empty_database_url, LOYALTY_REDIS_URL=service_urls[1])
    line = _one_line_failure(_cli(env, *argv))
    assert "has no loyalty-progress schema" in line
    assert "`loyalty-progress migrate`" in line


def test_migrate_then_gives_the_commands_their_schema(
    empty_database_url: str, service_urls: tuple[str, str], tmp_path: Path
) -> None:
    env = _env(tmp_path, LOYALTY_DATABASE_URL=empty_database_url, LOYALTY_REDIS_URL=service_urls[1])
    migrated = _cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    listed = _cli(env, "definitions", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("kind")


@pytest.mark.parametrize(
    "argv",
    [
        ("migrate",),
        ("definitions", "list"),
        ("definitions", "apply", "examples/definitions.yaml"),
        ("tick",),
        ("replay", "status", "1"),
        ("demo", "--no-wait"),
    ],
    ids=lambda argv: " ".join(argv),
)
def test_an_unreachable_database_is_one_line(
    argv: tuple[str, ...], closed_port: int, service_urls: tuple[str, str], tmp_path: Path
) -> None:
    env = _env(
        tmp_path,
        LOYALTY_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port}/loyalty",
        LOYALTY_REDIS_URL=service_urls[1],
    )
    line = _one_line_failure(_cli(env, *argv))
    assert f"cannot reach PostgreSQL at 127.0.0.1:{closed_port}/loyalty" in line


def test_an_unknown_database_is_one_line(service_urls: tuple[str, str], tmp_path: Path) -> None:
    missing = make_url(service_urls[0]).set(database=f"lp_missing_{uuid.uuid4().hex[:8]}")
    env = _env(tmp_path, LOYALTY_DATABASE_URL=missing.render_as_string(hide_password=False))
    line = _one_line_failure(_cli(env, "definitions", "list"))
    assert "cannot reach PostgreSQL" in line
    assert "does not exist" in line


def test_an_unreachable_redis_is_one_line(closed_port: int, tmp_path: Path) -> None:
    env = _env(tmp_path, LOYALTY_REDIS_URL=f"redis://127.0.0.1:{closed_port}/0")
    line = _one_line_failure(_cli(env, "deadletter", "list"))
    assert f"127.0.0.1:{closed_port}" in line


@pytest.mark.parametrize(
    "argv",
    [("definitions", "list"), ("migrate",), ("tick",), ("replay", "status", "1"), ("env",)],
    ids=lambda argv: " ".join(argv),
)
def test_without_urls_and_without_a_running_worker_it_says_to_start_one(
    argv: tuple[str, ...], tmp_path: Path
) -> None:
    line = _one_line_failure(_cli(_env(tmp_path), *argv))
    assert "`loyalty-progress run`" in line


def test_a_busy_http_port_is_one_line(
    busy_port: int, service_urls: tuple[str, str], tmp_path: Path
) -> None:
    env = _env(
        tmp_path,
        LOYALTY_DATABASE_URL=service_urls[0],
        LOYALTY_REDIS_URL=service_urls[1],
        LOYALTY_HTTP_HOST="127.0.0.1",
        LOYALTY_HTTP_PORT=str(busy_port),
        # A key, so that the read side has no open-on-loopback warning to log first.
        LOYALTY_AUTH_HS256_SECRET="a-test-secret-of-at-least-32-bytes!",
        LOYALTY_MIGRATE_ON_START="false",
        LOYALTY_STREAM_PREFIX=f"busy{uuid.uuid4().hex[:6]}",
    )
    line = _one_line_failure(_cli(env, "run"))
    assert f"cannot listen on 127.0.0.1:{busy_port}" in line
    assert "already in use" in line
    assert "LOYALTY_HTTP_PORT" in line
