"""Both embedded servers under one data directory: one owner at a time (a lock file), and
ports remembered across restarts (`ports.json`, which `local_services` reads to find them)."""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import pathlib
import time
from types import TracebackType
from typing import IO, Self

from loyalty_progress.embedded.files import HOST, free_port, log, port_is_free
from loyalty_progress.embedded.postgres import EmbeddedPostgres
from loyalty_progress.embedded.redis_server import EmbeddedRedis


class EmbeddedServices:
    """Start/stop a private PostgreSQL and Redis whose data lives in ``data_dir``."""

    def __init__(
        self,
        data_dir: pathlib.Path,
        *,
        postgres_port: int | None = None,
        redis_port: int | None = None,
    ) -> None:
        # Absolute: the path is handed to servers that run with another working directory.
        self.data_dir = pathlib.Path(data_dir).expanduser().resolve()
        self._requested = {"postgres": postgres_port, "redis": redis_port}
        self._postgres = EmbeddedPostgres(self.data_dir)
        self._postgres.port = postgres_port
        self._redis = EmbeddedRedis(self.data_dir)
        self._redis.port = redis_port
        self._lock: IO[bytes] | None = None

    @property
    def postgres_port(self) -> int | None:
        return self._postgres.port

    @property
    def redis_port(self) -> int | None:
        return self._redis.port

    @property
    def database_url(self) -> str:
        return self._postgres.url

    @property
    def redis_url(self) -> str:
        return self._redis.url

    def start(self) -> tuple[str, str]:
        """Start both servers; return ``(database_url, redis_url)``."""
        if self._lock is not None:
            raise RuntimeError("EmbeddedServices already started")
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = self._acquire_lock()
        # Safety net for callers that forget stop(): servers must not outlive the process.
        atexit.register(self.stop)
        try:
            remembered = self._read_ports()
            self._postgres.start(lambda: self._choose_port("postgres", remembered.get("postgres")))
            self._redis.start(lambda: self._choose_port("redis", remembered.get("redis")))
            self._write_ports()
        except BaseException:
            try:
                self.stop()
            except Exception:
                log.exception("cleanup after failed start also failed")
            raise
        log.info(
            "embedded services ready in %.1fs: %s %s",
            time.monotonic() - began,
            self.database_url,
            self.redis_url,
        )
        return self.database_url, self.redis_url

    def stop(self) -> None:
        """Stop whatever is running; safe to call repeatedly."""
        errors: list[Exception] = []
        if self._redis.running:
            try:
                self._redis.stop()
            except Exception as exc:
                log.exception("stopping Redis failed")
                errors.append(exc)
        if self._postgres.started:
            try:
                self._postgres.stop()
            except Exception as exc:
                log.exception("stopping PostgreSQL failed")
                errors.append(exc)
            self._postgres.started = False
        atexit.unregister(self.stop)
        if self._lock is not None:
            self._lock.close()  # closing releases the flock
            self._lock = None
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _acquire_lock(self) -> IO[bytes]:
        # Two owners of one data dir would run two servers on the same files. flock is
        # released by the kernel when its holder dies, so a crashed owner never blocks us.
        path = self.data_dir / "embedded.lock"
        lock = path.open("a+b")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            owner = path.read_text().strip() or "?"
            raise RuntimeError(f"{self.data_dir} is in use by process {owner}") from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n".encode())
        lock.flush()
        return lock

    def _read_ports(self) -> dict[str, int]:
        # Reusing last run's ports keeps `redis-cli -p`/`psql -p` commands working across
        # restarts; they are only a preference and are dropped if something else took them.
        try:
            data = json.loads((self.data_dir / "ports.json").read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int)}

    def _write_ports(self) -> None:
        ports = {"postgres": self.postgres_port, "redis": self.redis_port}
        (self.data_dir / "ports.json").write_text(json.dumps(ports) + "\n")

    def _choose_port(self, name: str, remembered: int | None) -> int:
        requested = self._requested[name]
        if requested is not None:
            if not port_is_free(requested):
                raise RuntimeError(f"{name} port {HOST}:{requested} is already in use")
            return requested
        if remembered is not None and port_is_free(remembered):
            return remembered
        return free_port()
